#include "core/threads.h"

#include <ATen/Parallel.h>

#include <thread>

namespace plume::core {

int ConfigureTorchThreads(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(num_threads);
  return at::get_num_threads();
}

}  // namespace plume::core
