// Checkpoint tensors as torch tensors: zero-copy views of the mapping where possible, converted copies otherwise.
#include <genplug/flux/weights.hpp>

#include <torch/version.h>

#include <cstring>

namespace genplug::flux {
namespace {

namespace st = genplug::safetensors;

bool aligned(const void* p, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

// The stored bytes as a CPU tensor of the stored type: a view that keeps the File alive, or an aligned copy.
torch::Tensor stored_view(const st::TensorInfo& info) {
  const auto options = torch::TensorOptions().dtype(torch_dtype(info.dtype));
  if (aligned(info.data, st::dtype_size(info.dtype))) {
    std::shared_ptr<const st::File> owner = info.file ? info.file->shared_from_this() : nullptr;
    return torch::from_blob(const_cast<uint8_t*>(info.data), info.shape, [owner](void*) {}, options);
  }
  torch::Tensor copy = torch::empty(info.shape, options);
  if (info.nbytes) std::memcpy(copy.data_ptr(), info.data, info.nbytes);
  return copy;
}

bool is_f8(st::DType d) { return d == st::DType::F8_E4M3 || d == st::DType::F8_E5M2; }

}  // namespace

torch::ScalarType torch_dtype(st::DType dtype) {
  switch (dtype) {
    case st::DType::F64: return torch::kFloat64;
    case st::DType::F32: return torch::kFloat32;
    case st::DType::F16: return torch::kFloat16;
    case st::DType::BF16: return torch::kBFloat16;
    case st::DType::F8_E4M3:
    case st::DType::F8_E5M2: return torch::kFloat32;  // decoded at load
    case st::DType::I64: return torch::kInt64;
    case st::DType::I32: return torch::kInt32;
    case st::DType::I16: return torch::kInt16;
    case st::DType::I8: return torch::kInt8;
    case st::DType::U8: return torch::kUInt8;
    case st::DType::BOOL: return torch::kBool;
  }
  throw st::Error("torch_dtype: invalid dtype");
}

torch::Tensor load_tensor(const st::TensorInfo& info, torch::ScalarType dtype, torch::Device device) {
  const torch::ScalarType target = st::is_floating(info.dtype) ? dtype : torch_dtype(info.dtype);
  torch::Tensor t;
  if (is_f8(info.dtype)) {
    // Exact decode (libtorch 1.13 has no float8 types); float32 holds every F8 value.
    std::vector<float> values = st::to_float32(info);
    t = torch::from_blob(values.data(), info.shape, torch::TensorOptions().dtype(torch::kFloat32)).clone();
  } else {
    t = stored_view(info);
  }
  if (t.scalar_type() == target && device.is_cpu()) return t;
  return t.to(device, target);
}

double load_tensor_allocation(const st::TensorInfo& info, torch::ScalarType dtype, torch::Device device) {
  if (!device.is_cpu()) return 0;
  const torch::ScalarType target = st::is_floating(info.dtype) ? dtype : torch_dtype(info.dtype);
  const bool view = !is_f8(info.dtype) && torch_dtype(info.dtype) == target && aligned(info.data, st::dtype_size(info.dtype));
  return view ? 0.0 : double(info.numel()) * double(c10::elementSize(target));
}

double load_tensor_temporary(const st::TensorInfo& info, torch::ScalarType dtype) {
  const double n = double(info.numel());
  if (is_f8(info.dtype)) return n * 8;
  const torch::ScalarType target = st::is_floating(info.dtype) ? dtype : torch_dtype(info.dtype);
  const bool copied_then_converted = !aligned(info.data, st::dtype_size(info.dtype)) && torch_dtype(info.dtype) != target;
  return copied_then_converted ? n * double(st::dtype_size(info.dtype)) : 0.0;
}

TensorMap load_tensors(const st::Checkpoint& checkpoint, torch::ScalarType dtype, torch::Device device,
                       const std::string& prefix) {
  TensorMap out;
  for (const auto& info : checkpoint.tensors()) {
    if (info.name.compare(0, prefix.size(), prefix) != 0) continue;
    out.emplace(info.name.substr(prefix.size()), load_tensor(info, dtype, device));
  }
  return out;
}

}  // namespace genplug::flux
