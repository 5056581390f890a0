#include "core/parallel.h"

#ifndef _OPENMP
#error "core/parallel.cc must be compiled with -fopenmp (see core/CMakeLists.txt)"
#endif

#include <ATen/Parallel.h>
#include <omp.h>

namespace plume::core {

void ParallelFor(int64_t begin, int64_t end, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn) {
  at::parallel_for(begin, end, grain, fn);
}

void ReleaseThreadPool() { omp_pause_resource_all(omp_pause_soft); }

}  // namespace plume::core
