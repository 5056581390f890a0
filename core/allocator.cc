#include "core/allocator.h"

#include <malloc.h>

#include <climits>

namespace plume::core {

void ConfigureAllocatorForLargeTensors() {
  mallopt(M_MMAP_MAX, 0);                     // never serve blocks with mmap: reuse heap memory
  mallopt(M_TRIM_THRESHOLD, INT_MAX);         // and do not hand it back to the kernel on free
  mallopt(M_TOP_PAD, 1 << 30);                // grow the heap in large steps
}

}  // namespace plume::core
