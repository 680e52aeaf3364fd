// torch::Tensor <-> DLPack without ATen's DLConvertor (whose ABI differs across libtorch versions).
#pragma once
#include <string>

#include <dlpack/dlpack.h>
#include <torch/types.h>

namespace genplug::flux {

// Hands `tensor` to the host: the DLManagedTensor keeps a reference to it (manager_ctx) until the host calls
// the deleter. Always fills strides (in elements).
DLManagedTensor* to_dlpack(const torch::Tensor& tensor);

// A view of a borrowed DLTensor (no copy; valid only while the host's tensor is). Throws
// genplug::InvalidArgument naming `what` for an unsupported dtype, device or a NULL data pointer.
torch::Tensor from_dlpack(const DLTensor& tensor, const std::string& what);

}  // namespace genplug::flux
