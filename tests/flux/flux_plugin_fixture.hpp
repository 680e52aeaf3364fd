// Loads build/plugins/libgenplug_flux.so through its C entry and creates org.genplug.flux instances.
#pragma once
#include <dlfcn.h>

#include <algorithm>
#include <limits>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <genplug/host.hpp>

#include "golden.hpp"

namespace genplug::test {

class FluxPluginLibrary {
 public:
  FluxPluginLibrary() {
    const std::string path = (plugin_build_dir() / "libgenplug_flux.so").string();
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw std::runtime_error(std::string("dlopen: ") + dlerror());
    keepalive_ = std::shared_ptr<void>(handle, [](void* h) {
      auto* e = static_cast<const genplug_entry_t*>(dlsym(h, GENPLUG_ENTRY_SYMBOL));
      if (e) e->deinit();
      dlclose(h);
    });
    entry_ = static_cast<const genplug_entry_t*>(dlsym(handle, GENPLUG_ENTRY_SYMBOL));
    if (!entry_) throw std::runtime_error("no genplug_entry in " + path);
    CallContext ctx;
    ctx.check(entry_->init(path.c_str(), ctx.get()), "init");
    factory_ = entry_->get_factory(GENPLUG_KIND_MODEL);
    if (!factory_) throw std::runtime_error("no model factory in " + path);
  }

  const genplug_factory_t& factory() const { return *factory_; }

  // Creates the model; throws PluginError (code + message) on failure.
  ModelProxy create(const std::string& config_json) const {
    CallContext ctx;
    void* out = nullptr;
    ctx.check(factory_->create(factory_, "org.genplug.flux", config_json.c_str(), ctx.get(), &out), "create");
    return ModelProxy(static_cast<genplug_model_t*>(out), "org.genplug.flux", keepalive_);
  }

 private:
  std::shared_ptr<void> keepalive_;
  const genplug_entry_t* entry_ = nullptr;
  const genplug_factory_t* factory_ = nullptr;
};

// A borrowed float32 CPU DLTensor over `data`.
struct HostTensor {
  std::vector<float> data;
  std::vector<int64_t> shape, strides;
  DLTensor dl{};
  HostTensor(std::vector<float> values, std::vector<int64_t> dims) : data(std::move(values)), shape(std::move(dims)) {
    strides.assign(shape.size(), 1);
    for (int i = int(shape.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * shape[i + 1];
    dl.data = data.data();
    dl.device = {kDLCPU, 0};
    dl.ndim = int32_t(shape.size());
    dl.dtype = {kDLFloat, 32, 1};
    dl.shape = shape.data();
    dl.strides = strides.data();
  }
  HostTensor(const HostTensor&) = delete;
};

// A plugin tensor's values (float32, any strides).
inline std::vector<float> values(const DLTensor& t) {
  if (t.dtype.code != kDLFloat || t.dtype.bits != 32) throw std::runtime_error("expected float32");
  int64_t n = 1;
  for (int i = 0; i < t.ndim; ++i) n *= t.shape[i];
  std::vector<float> out(static_cast<size_t>(n));
  const float* base = reinterpret_cast<const float*>(static_cast<const char*>(t.data) + t.byte_offset);
  for (int64_t flat = 0; flat < n; ++flat) {
    int64_t rest = flat, offset = 0;
    for (int i = t.ndim - 1; i >= 0; --i) {
      offset += (rest % t.shape[i]) * t.strides[i];
      rest /= t.shape[i];
    }
    out[size_t(flat)] = base[offset];
  }
  return out;
}

inline double relative_error(const std::vector<float>& a, const std::vector<float>& ref) {
  if (a.size() != ref.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(a[i])) return std::numeric_limits<double>::infinity();  // max() would drop a NaN
    diff = std::max(diff, double(std::abs(a.at(i) - ref[i])));
    scale = std::max(scale, double(std::abs(ref[i])));
  }
  return diff / scale;
}

// Whether two outputs differ by more than `threshold` relative to b, both finite: the checks that a change has teeth,
// which relative_error's infinity for a NaN in a (and its max() dropping one in b) would pass or decide.
inline bool differ_by_more_than(const std::vector<float>& a, const std::vector<float>& b, double threshold) {
  const auto finite = [](const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
  };
  return a.size() == b.size() && finite(a) && finite(b) && relative_error(a, b) > threshold;
}

}  // namespace genplug::test
