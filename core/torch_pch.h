// Precompiled header for torch-heavy targets (see plume_use_torch_pch in the root CMakeLists).
#pragma once
#include <torch/torch.h>
