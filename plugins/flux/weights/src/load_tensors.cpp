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

// What load_tensor does with `info`, told from its header alone (load_tensor and the byte counts below agree).
struct LoadWay {
  torch::ScalarType target;  // floating tensors become `dtype`; the others keep their type
  bool stored_view;          // its stored bytes usable in place: aligned, and no F8 to decode
  bool converted;            // its stored type is not the target
};
LoadWay load_way(const st::TensorInfo& info, torch::ScalarType dtype) {
  const torch::ScalarType target = st::is_floating(info.dtype) ? dtype : torch_dtype(info.dtype);
  return {target, !is_f8(info.dtype) && aligned(info.data, st::dtype_size(info.dtype)),
          is_f8(info.dtype) || torch_dtype(info.dtype) != target};
}

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
  const torch::ScalarType target = load_way(info, dtype).target;
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
  const LoadWay way = load_way(info, dtype);
  if (!device.is_cpu() || (way.stored_view && !way.converted)) return 0;
  return double(info.numel()) * double(c10::elementSize(way.target));
}

double load_tensor_temporary(const st::TensorInfo& info, torch::ScalarType dtype) {
  const double n = double(info.numel());
  if (is_f8(info.dtype)) return n * 8;  // the float32 decode and its clone
  const LoadWay way = load_way(info, dtype);
  return !way.stored_view && way.converted ? n * double(st::dtype_size(info.dtype)) : 0.0;  // the aligned copy
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
