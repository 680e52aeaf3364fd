// A small host on the installed genplug::host: finds its own plugin (the folder given) and the installed
// plugins, and prints the rotary spectrum of FLUX.1's layout at 2048 x 2048, t = 1, from its own posenc and
// from DyPE's YaRN, one line each: "<plugin> <amplitude of axis 1> <freq 0 of axis 1> <last freq of axis 1>".
//
//   example_host OWN_PLUGIN_DIR
#include <cstdio>

#include <genplug/host/plugin_catalog.hpp>
#include <genplug/sdk_version.h>

int main(int argc, char** argv) {
  if (argc < 2) return std::fprintf(stderr, "usage: %s OWN_PLUGIN_DIR\n", argv[0]), 2;
  try {
    genplug::host::PluginCatalog::Options options;
    options.search_path = {argv[1], GENPLUG_PLUGIN_DIR};
    options.cache_file.clear();
    genplug::host::PluginCatalog catalog(options);
    const genplug::RotaryLayout flux{{16, 56, 56}, 10000.0, {1, 64, 64}, 16, {0, GENPLUG_AXIS_SPATIAL, GENPLUG_AXIS_SPATIAL}};
    std::printf("genplug %s, ABI %d.%d\n", GENPLUG_SDK_VERSION_STRING, GENPLUG_ABI_MAJOR, GENPLUG_ABI_MINOR);
    for (const auto& [id, config] : {std::pair<const char*, nlohmann::json>{"org.example.linear-pi", {{"strength", 1.0}}},
                                     {"org.genplug.dype", {{"method", "yarn"}}}}) {
      genplug::CallContext ctx;
      const genplug::Spectrum s = catalog.create_posenc(id, config, ctx).compute(flux, {1, 128, 128}, 1.0, ctx);
      std::printf("%s %.9f %.9g %.9g\n", id, s.amplitude[1], s.freqs[8], s.freqs[8 + 27]);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "example_host: %s\n", e.what());
    return 1;
  }
}
