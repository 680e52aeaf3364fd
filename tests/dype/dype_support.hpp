// Shared helpers of the DyPE tests: the golden layout and cases, relative comparison, and loading the built
// plugin library through its C entry (dlopen) into the SDK's host proxies.
#pragma once
#include <dlfcn.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genplug/dype/method.hpp>
#include <genplug/dype/spectrum.hpp>
#include <genplug/host.hpp>

#include "golden.hpp"

namespace dype_test {

using nlohmann::json;

// The golden set's rotary layout, read from cases.json "meta": index axis never scaled (base extent 1).
inline genplug::dype::Layout golden_layout(const json& meta) {
  genplug::dype::Layout l;
  l.axis_dims = meta.at("axes_dim").get<std::vector<uint32_t>>();
  l.theta = meta.at("theta").get<double>();
  const uint32_t base = meta.at("base_patches").get<uint32_t>();
  l.base_extent.assign(l.axis_dims.size(), base);
  l.base_extent[0] = 1;
  l.pixels_per_token = meta.at("patch_px").get<uint32_t>();
  return l;
}

// Target extent in tokens of a golden case: index axis 1, rows grid_h, cols grid_w.
inline std::vector<uint32_t> golden_target(const json& c) {
  return {1u, c.at("grid_h").get<uint32_t>(), c.at("grid_w").get<uint32_t>()};
}

inline genplug::dype::Method golden_method(const json& c) {
  auto m = genplug::dype::parse_method(c.at("method").get<std::string>());
  if (!m) throw std::runtime_error("golden case with unknown method " + c.at("method").dump());
  return *m;
}

inline std::string describe(const json& c) {
  return c.at("method").get<std::string>() + " " + std::to_string(c.at("height_px").get<int>()) + "x" +
         std::to_string(c.at("width_px").get<int>()) + " t=" + c.at("t").dump();
}

// Whether the official code meets the case in the regime where genplug deviates from it on purpose (docs/dype.md,
// "Deviation from the official code: a low index past d/2"): a YaRN blend whose beta pair's fast threshold (beta_0
// for yarn, times t^2 for dy-yarn, to the power 2 t^2 for dy-yarn-legacy) is so small that find_correction_range's
// low index lies above d/2 on a scaled axis (the official ramp then turns toward PI; genplug clamps low to d/2): at
// small t for dy-yarn, and for a small theta or a long base extent at any t for yarn, below some t for
// dy-yarn-legacy; or t = 0 for dy-yarn (the official code divides by zero). A set made there may hold values genplug does not give by design. The gamma pair's threshold is
// larger, so its low index passes d/2 only after the beta pair's: the beta pair decides. From the documented
// formula C(r) = d ln(L / (2 pi r)) / (2 ln theta) with the official thresholds (YarnThresholds' defaults), not from
// the plugin's code.
inline bool in_documented_deviation(const json& c, const genplug::dype::Layout& layout) {
  using genplug::dype::Method;
  const Method method = golden_method(c);
  if (method != Method::yarn && method != Method::dy_yarn && method != Method::dy_yarn_legacy) return false;
  const double t = c.at("t").get<double>(), beta_0 = genplug::dype::YarnThresholds().beta_0;
  const double fast = method == Method::yarn      ? beta_0
                      : method == Method::dy_yarn ? beta_0 * t * t
                                                  : std::pow(beta_0, 2.0 * t * t);
  const std::vector<uint32_t> target = golden_target(c);
  for (std::size_t a = 1; a < layout.axis_dims.size(); ++a) {
    if (target[a] <= layout.base_extent[a]) continue;  // not extrapolated: no YaRN on this axis
    const double d = layout.axis_dims[a], extent = layout.base_extent[a];
    if (!(fast > 0.0)) return true;
    const double low = std::floor(d * std::log(extent / (2.0 * M_PI * fast)) / (2.0 * std::log(layout.theta)));
    if (low > std::floor(d / 2.0)) return true;
  }
  return false;
}

// |a - b| relative to the larger magnitude (0 when both are 0).
inline double relative_error(double a, double b) {
  const double scale = std::max(std::fabs(a), std::fabs(b));
  return scale == 0.0 ? 0.0 : std::fabs(a - b) / scale;
}

// The built plugin library, loaded through its exported C entry; instances keep it loaded.
class LoadedPlugin {
 public:
  explicit LoadedPlugin(const std::string& path) {
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw std::runtime_error("dlopen " + path + ": " + ::dlerror());
    entry_ = static_cast<const genplug_entry_t*>(::dlsym(handle, GENPLUG_ENTRY_SYMBOL));
    if (!entry_) {
      ::dlclose(handle);
      throw std::runtime_error(path + ": no " GENPLUG_ENTRY_SYMBOL " symbol");
    }
    genplug::CallContext ctx;
    const genplug_status s = entry_->init(path.c_str(), ctx.get());
    if (s != GENPLUG_OK) {
      ::dlclose(handle);
      throw std::runtime_error(path + ": init failed: " + ctx.error());
    }
    const genplug_entry_t* entry = entry_;
    keepalive_ = std::shared_ptr<void>(handle, [entry](void* h) {
      entry->deinit();
      ::dlclose(h);
    });
  }
  static LoadedPlugin built() { return LoadedPlugin((genplug::test::plugin_build_dir() / "libgenplug_dype.so").string()); }

  const genplug_entry_t& entry() const { return *entry_; }
  const genplug_factory_t* posenc_factory() const { return entry_->get_factory(GENPLUG_KIND_POSENC); }

  // Creates an instance; the status and message come back through `ctx` / the returned status.
  genplug_status try_create(const std::string& id, const std::string& config, genplug::CallContext& ctx,
                            genplug::PosencProxy* out) const {
    void* instance = nullptr;
    const genplug_status s = posenc_factory()->create(posenc_factory(), id.c_str(), config.c_str(), ctx.get(), &instance);
    if (s == GENPLUG_OK && out)
      *out = genplug::PosencProxy(static_cast<genplug_posenc_t*>(instance), id, keepalive_);
    else if (s == GENPLUG_OK && instance)
      static_cast<genplug_posenc_t*>(instance)->destroy(static_cast<genplug_posenc_t*>(instance));
    return s;
  }
  genplug::PosencProxy create(const std::string& config, const std::string& id = "org.genplug.dype") const {
    genplug::CallContext ctx;
    genplug::PosencProxy p;
    ctx.check(try_create(id, config, ctx, &p), id + ": create");
    return p;
  }

 private:
  const genplug_entry_t* entry_ = nullptr;
  std::shared_ptr<void> keepalive_;
};

// genplug::RotaryLayout (host side) from the plugin's Layout.
inline genplug::RotaryLayout host_layout(const genplug::dype::Layout& l) {
  return genplug::RotaryLayout{l.axis_dims, l.theta, l.base_extent, l.pixels_per_token};
}

}  // namespace dype_test
