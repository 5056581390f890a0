// LibTorch's intra-op thread pool for Plume's own loops.
//
// Why not at::parallel_for directly: it is a header template whose OpenMP pragma is compiled
// in the calling translation unit, so in a file built without -fopenmp it silently runs on one
// thread. parallel.cc is built with -fopenmp (and without the torch PCH, whose headers depend
// on _OPENMP); everything else calls through here.
#pragma once

#include <cstdint>
#include <functional>

namespace plume::core {

// Calls fn(chunk_begin, chunk_end) on consecutive chunks covering [begin, end), on up to
// at::get_num_threads() threads, chunks no smaller than `grain` (except the last). Runs inline
// when the range is small or already inside a parallel region. Exceptions propagate.
void ParallelFor(int64_t begin, int64_t end, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& fn);

}  // namespace plume::core
