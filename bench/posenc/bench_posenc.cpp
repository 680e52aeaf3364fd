// bench_posenc — how long one spectrum takes (it is computed before every model evaluation).
//
//   bench_posenc [--height PX] [--width PX] [--iterations N] [--plugin PATH]
//
// For each DyPE method: nanoseconds per call through the math API (genplug::dype::compute_spectrum into
// caller buffers) and through the plugin's C entry (dlopen + factory + compute, the host's path). t cycles
// over 28 values in (0, 1] as a sampler would. Best of 5 repetitions. Prints one JSON object.
#include <dlfcn.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
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

constexpr const char* kUsage =
    "usage: bench_posenc [--height PX] [--width PX] [--iterations N] [--plugin PATH]\n"
    "  --height, --width  target size in pixels, at least one token (16) (default 4096 each)\n"
    "  --iterations N     timed calls per repetition, >= 1 (default 20000)\n"
    "  --plugin PATH      the DyPE plugin library (default: the build's)\n";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "bench_posenc: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

// `v` as a whole decimal integer from `least` to `most`, else a usage error naming `flag`: std::stoul took "12abc"
// as 12, "-16" as 4294967280 and 99999999999 cut to 32 bits, and threw out of main on "abc".
template <class T>
T integer_option(const std::string& flag, const std::string& v, T least, T most) {
  T n{};
  const char* end = v.data() + v.size();
  const auto [stop, error] = std::from_chars(v.data(), end, n);
  if (error != std::errc() || stop != end || n < least || n > most)
    usage_error(flag + ": '" + v + "' is not an integer from " + std::to_string(least) + " to " + std::to_string(most));
  return n;
}

// Every flag takes a value; one missing, or a flag not known, is a usage error (exit 2) rather than a full run
// with the defaults.
Options parse(int argc, char** argv) {
  Options o;
  // Fewer pixels than one token make an empty grid, which the spectrum refuses.
  const uint32_t least_px = dype::Layout::flux().pixels_per_token;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (k != "--height" && k != "--width" && k != "--iterations" && k != "--plugin") usage_error("unknown option " + k);
    if (i + 1 >= argc) usage_error(k + " needs a value");
    const std::string v = argv[++i];
    if (k == "--height") o.height = integer_option(k, v, least_px, std::numeric_limits<uint32_t>::max());
    else if (k == "--width") o.width = integer_option(k, v, least_px, std::numeric_limits<uint32_t>::max());
    else if (k == "--iterations") o.iterations = integer_option(k, v, 1L, std::numeric_limits<long>::max());
    else o.plugin = v;
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

// Prints the JSON object for `o`.
void run(const Options& o) {
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
                               uint32_t(amplitude.size()), 0};
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
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {  // the spectrum's own checks throw (genplug::InvalidArgument); uncaught, they aborted
    run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_posenc: %s\n", e.what());
    return 1;
  }
  return 0;
}
