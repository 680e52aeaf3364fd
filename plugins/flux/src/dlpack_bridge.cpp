// See dlpack_bridge.hpp.
#include "dlpack_bridge.hpp"

#include <vector>

#include <torch/cuda.h>

#include <genplug/plugin.hpp>

namespace genplug::flux {

namespace {

// Owns what the DLTensor points at: the torch tensor (data), and the shape/stride arrays.
struct DlpackHolder {
  torch::Tensor tensor;
  std::vector<int64_t> shape, strides;
  DLManagedTensor managed{};
};

void delete_holder(DLManagedTensor* self) { delete static_cast<DlpackHolder*>(self->manager_ctx); }

DLDataType dl_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return {kDLFloat, 32, 1};
    case torch::kFloat64: return {kDLFloat, 64, 1};
    case torch::kFloat16: return {kDLFloat, 16, 1};
    case torch::kBFloat16: return {kDLBfloat, 16, 1};
    case torch::kInt64: return {kDLInt, 64, 1};
    case torch::kInt32: return {kDLInt, 32, 1};
    case torch::kUInt8: return {kDLUInt, 8, 1};
    default: throw Error(GENPLUG_E_INTERNAL, std::string("to_dlpack: unsupported dtype ") + c10::toString(t));
  }
}

torch::ScalarType torch_dtype(const DLDataType& d, const std::string& what) {
  if (d.lanes == 1) {
    if (d.code == kDLFloat && d.bits == 32) return torch::kFloat32;
    if (d.code == kDLFloat && d.bits == 64) return torch::kFloat64;
    if (d.code == kDLFloat && d.bits == 16) return torch::kFloat16;
    if (d.code == kDLBfloat && d.bits == 16) return torch::kBFloat16;
    if (d.code == kDLInt && d.bits == 64) return torch::kInt64;
    if (d.code == kDLInt && d.bits == 32) return torch::kInt32;
    if (d.code == kDLUInt && d.bits == 8) return torch::kUInt8;
  }
  throw InvalidArgument(what + ": unsupported DLPack dtype (code " + std::to_string(d.code) + ", bits " +
                        std::to_string(d.bits) + ", lanes " + std::to_string(d.lanes) + ")");
}

}  // namespace

DLManagedTensor* to_dlpack(const torch::Tensor& tensor) {
  auto holder = std::make_unique<DlpackHolder>();
  holder->tensor = tensor;
  holder->shape = tensor.sizes().vec();
  holder->strides = tensor.strides().vec();
  DLTensor& d = holder->managed.dl_tensor;
  d.data = tensor.data_ptr();
  d.device = tensor.is_cuda() ? DLDevice{kDLCUDA, int32_t(tensor.get_device())} : DLDevice{kDLCPU, 0};
  d.ndim = int32_t(tensor.dim());
  d.dtype = dl_dtype(tensor.scalar_type());
  d.shape = holder->shape.data();
  d.strides = holder->strides.data();
  d.byte_offset = 0;
  holder->managed.manager_ctx = holder.get();
  holder->managed.deleter = &delete_holder;
  return &holder.release()->managed;
}

torch::Tensor from_dlpack(const DLTensor& t, const std::string& what) {
  if (!t.data) throw InvalidArgument(what + ": tensor data is NULL");
  if (t.ndim < 0 || (t.ndim > 0 && !t.shape)) throw InvalidArgument(what + ": malformed shape");
  for (int i = 0; i < t.ndim; ++i)
    if (t.shape[i] < 0)
      throw InvalidArgument(what + ": shape[" + std::to_string(i) + "] is " + std::to_string(t.shape[i]));
  torch::Device device = torch::kCPU;
  if (t.device.device_type == kDLCUDA) {
    if (!torch::cuda::is_available())  // libtorch's own error would be an internal one, with its stack
      throw Error(GENPLUG_E_UNSUPPORTED, what + ": a CUDA tensor, and this process has no CUDA device or a "
                                                "libtorch without CUDA");
    device = torch::Device(torch::kCUDA, c10::DeviceIndex(t.device.device_id));
  } else if (t.device.device_type != kDLCPU && t.device.device_type != kDLCUDAHost) {
    throw InvalidArgument(what + ": unsupported device type " + std::to_string(t.device.device_type));
  }
  std::vector<int64_t> shape(t.shape, t.shape + t.ndim);
  std::vector<int64_t> strides(t.ndim);
  if (t.strides) {
    strides.assign(t.strides, t.strides + t.ndim);
  } else {  // NULL strides: compact row-major
    int64_t s = 1;
    for (int i = t.ndim - 1; i >= 0; --i) strides[i] = s, s *= shape[i];
  }
  auto* data = static_cast<uint8_t*>(t.data) + t.byte_offset;
  auto opts = torch::TensorOptions().dtype(torch_dtype(t.dtype, what)).device(device);
  return torch::from_blob(data, shape, strides, opts);
}

}  // namespace genplug::flux
