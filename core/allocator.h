// glibc malloc tuning for LibTorch's large, short-lived CPU tensors.
#pragma once

namespace plume::core {

// By default glibc serves every block above ~32 MB with a fresh mmap and unmaps it on free, so a
// training step that allocates 200 MB logits pays page faults and kernel zeroing on every use
// (measured: a 206 MB exp() takes 92 ms instead of 26 ms). This keeps freed memory in the heap
// for reuse instead. Call once at the start of main(), before threads start.
void ConfigureAllocatorForLargeTensors();

}  // namespace plume::core
