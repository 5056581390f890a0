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

// Ends the calling thread's idle OpenMP worker threads. libgomp keeps a pool of workers per
// thread that ever ran a parallel region, and once it manages more threads than there are CPUs
// its workers stop spinning between regions and sleep instead. The incremental forward runs
// hundreds of short regions per token, so a thread that hands the model over to another one
// (the engine's scheduler) calls this first: with the loader's pool left behind, GPT-2 124M
// decoding on 2 cores fell from 58 to 45 tokens/s. The pool is recreated if the thread runs a
// parallel region again.
void ReleaseThreadPool();

}  // namespace plume::core
