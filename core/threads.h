// LibTorch's intra-op thread pool, set explicitly: Debian's build defaults to one thread.
#pragma once

namespace plume::core {

// Sets the intra-op threads to `num_threads`, or to the number of online CPUs when <= 0.
// Returns the count in effect.
int ConfigureTorchThreads(int num_threads);

}  // namespace plume::core
