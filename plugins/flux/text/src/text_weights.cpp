#include <genplug/flux/text/text_weights.hpp>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include <genplug/safetensors.hpp>

namespace genplug::flux::text {

namespace st = genplug::safetensors;

namespace {

std::string shape_string(c10::IntArrayRef shape) {
  std::ostringstream s;
  s << "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

// A CPU copy of the tensor's bytes (the mapping may be unaligned and must not be written through).
torch::Tensor copy_to_torch(const st::TensorInfo& info) {
  torch::ScalarType type;
  switch (info.dtype) {
    case st::DType::F64: type = torch::kFloat64; break;
    case st::DType::F32: type = torch::kFloat32; break;
    case st::DType::F16: type = torch::kFloat16; break;
    case st::DType::BF16: type = torch::kBFloat16; break;
    default: {  // float8: no torch dtype on every supported libtorch; the exact float32 values instead
      const std::vector<float> values = st::to_float32(info);
      return torch::from_blob(const_cast<float*>(values.data()), info.shape, torch::kFloat32).clone();
    }
  }
  torch::Tensor t = torch::empty(info.shape, torch::TensorOptions().dtype(type));
  if (info.nbytes) std::memcpy(t.data_ptr(), info.data, info.nbytes);
  return t;
}

}  // namespace

const torch::Tensor& TextWeights::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end() && not_floating.count(name))
    throw std::runtime_error("'" + source.string() + "': tensor '" + name + "' has dtype " + not_floating.at(name) +
                             ", expected a floating-point type");
  if (it == tensors.end())
    throw std::runtime_error("'" + source.string() + "': missing tensor '" + name + "'");
  return it->second;
}

const torch::Tensor& TextWeights::at(const std::string& name, const std::vector<int64_t>& shape) const {
  const torch::Tensor& t = at(name);
  if (t.sizes() != c10::IntArrayRef(shape))
    throw std::runtime_error("'" + source.string() + "': tensor '" + name + "' has shape " +
                             shape_string(t.sizes()) + ", expected " + shape_string(shape));
  return t;
}

TextWeights load_text_weights(const std::filesystem::path& path, const std::string& anchor, const std::string& what,
                              torch::Device device, torch::ScalarType dtype,
                              const std::vector<std::string>& keep_float32, const BeforeTextLoad& before_load) {
  if (!std::filesystem::exists(path))
    throw std::runtime_error(what + ": weights '" + path.string() + "' do not exist");
  st::Checkpoint checkpoint = [&] {
    try {
      return st::Checkpoint::open(path);
    } catch (const st::OutOfMemory& e) {  // kept as such: the caller reports it as out of memory
      throw st::OutOfMemory(what + ": cannot read weights: " + e.what(), e.beyond_reach());
    } catch (const std::exception& e) {
      throw std::runtime_error(what + ": cannot read weights: " + e.what());
    }
  }();
  std::string prefix;
  bool found = false;
  for (const auto& info : checkpoint.tensors()) {
    const std::string& n = info.name;
    if (n.size() >= anchor.size() && n.compare(n.size() - anchor.size(), anchor.size(), anchor) == 0 &&
        (n.size() == anchor.size() || n[n.size() - anchor.size() - 1] == '.')) {
      prefix = n.substr(0, n.size() - anchor.size());
      found = true;
      break;
    }
  }
  if (!found)
    throw std::runtime_error(what + ": '" + path.string() + "' has no tensor '" + anchor +
                             "' (not a " + what + " checkpoint?)");
  // The tensors to load and the dtype of each.
  std::vector<std::pair<const st::TensorInfo*, torch::ScalarType>> plan;
  std::map<std::string, std::string> not_floating;
  for (const auto& info : checkpoint.tensors()) {
    if (info.name.compare(0, prefix.size(), prefix) != 0) continue;
    if (!st::is_floating(info.dtype)) {  // a buffer (position ids), or a weight the encoder will say is no float
      not_floating.emplace(info.name.substr(prefix.size()), st::dtype_name(info.dtype));
      continue;
    }
    const std::string name = info.name.substr(prefix.size());
    const bool fp32 = std::any_of(keep_float32.begin(), keep_float32.end(), [&](const std::string& suffix) {
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    });
    plan.emplace_back(&info, fp32 ? torch::kFloat32 : dtype);
  }
  if (before_load) {
    TextLoadBytes bytes;
    for (const auto& [info, type] : plan) {
      double values = 1;
      for (int64_t d : info->shape) values *= double(d);
      bytes.held += values * double(c10::elementSize(type));
      const bool float8 = st::dtype_size(info->dtype) == 1;  // read as float32 values, then cloned
      bytes.temporary = std::max(bytes.temporary, double(info->nbytes) + (float8 ? values * 4.0 * 2 : 0.0));
    }
    before_load(bytes);
  }
  TextWeights weights;
  weights.source = path;
  weights.not_floating = std::move(not_floating);
  for (const auto& [info, type] : plan) weights.tensors[info->name.substr(prefix.size())] = copy_to_torch(*info).to(device, type);
  return weights;
}

}  // namespace genplug::flux::text
