// bench_posenc — how long one spectrum takes (it is computed before every model evaluation).
//
//   bench_posenc [--height PX] [--width PX] [--iterations N] [--plugin PATH]
//
// For each DyPE method: nanoseconds per call through the math API (genplug::dype::compute_spectrum into
// caller buffers) and through the plugin's C entry (dlopen + factory + compute, the host's path). t cycles
// over 28 values in (0, 1] as a sampler would. Best of 5 repetitions. Prints one JSON object.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <genplug/dype/config.hpp>
#include <genplug/dype/spectrum.hpp>
#include <genplug/genplug.h>

namespace {

using Clock = std::chrono::steady_clock;
namespace dype = genplug::dype;

struct Options {
  uint32_t height = 4096, width = 4096;
  long iterations = 20000;
  std::string plugin = std::string(GENPLUG_PLUGIN_BUILD_DIR) + "/libgenplug_dype.so";
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--height") o.height = uint32_t(std::stoul(v));
    else if (k == "--width") o.width = uint32_t(std::stoul(v));
    else if (k == "--iterations") o.iterations = std::stol(v);
    else if (k == "--plugin") o.plugin = v;
    else {
      std::fprintf(stderr, "bench_posenc: unknown option %s\n", k.c_str());
      std::exit(2);
    }
  }
  return o;
}

// Best-of-5 nanoseconds per call of `call(t)`.
template <class F>
double time_per_call(long iterations, F&& call) {
  std::vector<double> ts(28);
  for (std::size_t i = 0; i < ts.size(); ++i) ts[i] = 1.0 - double(i) / double(ts.size());
  for (long i = 0; i < iterations / 10; ++i) call(ts[std::size_t(i) % ts.size()]);  // warm-up
  double best = 1e300;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = Clock::now();
    for (long i = 0; i < iterations; ++i) call(ts[std::size_t(i) % ts.size()]);
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / double(iterations);
    best = std::min(best, ns);
  }
  return best;
}

struct Plugin {
  void* handle = nullptr;
  const genplug_entry_t* entry = nullptr;
  const genplug_factory_t* factory = nullptr;
};

Plugin load(const std::string& path) {
  Plugin p;
  p.handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!p.handle) return p;
  p.entry = static_cast<const genplug_entry_t*>(::dlsym(p.handle, GENPLUG_ENTRY_SYMBOL));
  if (!p.entry || p.entry->init(path.c_str(), nullptr) != GENPLUG_OK) {
    p.entry = nullptr;
    return p;
  }
  p.factory = p.entry->get_factory(GENPLUG_KIND_POSENC);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const dype::Layout layout = dype::Layout::flux();
  const genplug_rotary_layout_t view = layout.view();
  const std::vector<uint32_t> target = {1, o.height / layout.pixels_per_token, o.width / layout.pixels_per_token};
  std::vector<double> freqs(layout.freq_count()), amplitude(layout.axis_dims.size());
  double checksum = 0.0;  // keeps the calls observable

  Plugin plugin = load(o.plugin);
  if (!plugin.factory) std::fprintf(stderr, "bench_posenc: cannot load %s; C-entry timings skipped\n", o.plugin.c_str());

  std::printf("{\n  \"benchmark\": \"posenc spectrum per call\",\n  \"layout\": \"flux (16,56,56; theta 1e4; base 64x64)\",\n");
  std::printf("  \"height_px\": %u,\n  \"width_px\": %u,\n  \"iterations\": %ld,\n  \"methods\": [\n", o.height, o.width,
              o.iterations);
  const auto& methods = dype::all_methods();
  for (std::size_t m = 0; m < methods.size(); ++m) {
    const dype::MethodConfig config = dype::MethodConfig::defaults(methods[m]);
    const double api_ns = time_per_call(o.iterations, [&](double t) {
      dype::compute_spectrum(config, view, target.data(), t, freqs.data(), freqs.size(), amplitude.data(),
                             amplitude.size());
      checksum += freqs[40] + amplitude[1];
    });
    double abi_ns = -1.0;
    if (plugin.factory) {
      const std::string cfg = std::string("{\"method\":\"") + dype::method_name(methods[m]) + "\"}";
      void* instance = nullptr;
      if (plugin.factory->create(plugin.factory, "org.genplug.dype", cfg.c_str(), nullptr, &instance) == GENPLUG_OK) {
        auto* posenc = static_cast<genplug_posenc_t*>(instance);
        genplug_spectrum_t out{sizeof(genplug_spectrum_t), freqs.data(), uint32_t(freqs.size()), amplitude.data(),
                               uint32_t(amplitude.size())};
        abi_ns = time_per_call(o.iterations, [&](double t) {
          const genplug_posenc_query_t q{sizeof(genplug_posenc_query_t), &view, target.data(), t};
          posenc->compute(posenc, &q, &out, nullptr);
          checksum += freqs[40] + amplitude[1];
        });
        posenc->destroy(posenc);
      }
    }
    std::printf("    {\"method\": \"%s\", \"api_ns_per_call\": %.1f, \"c_entry_ns_per_call\": %.1f}%s\n",
                dype::method_name(methods[m]), api_ns, abi_ns, m + 1 < methods.size() ? "," : "");
  }
  std::printf("  ],\n  \"checksum\": %.6g\n}\n", checksum);
  if (plugin.entry) plugin.entry->deinit();
  if (plugin.handle) ::dlclose(plugin.handle);
  return 0;
}
