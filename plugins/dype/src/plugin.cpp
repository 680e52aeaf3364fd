// genplug DyPE — the plugin glue: registers org.genplug.dype (genplug.posenc/1) and forwards queries to the
// spectrum math after checking the C structs.
#include <memory>
#include <string>

#include <genplug/plugin.hpp>

#include "genplug/dype/config.hpp"
#include "genplug/dype/spectrum.hpp"

namespace genplug::dype {
namespace {

constexpr const char* kPluginId = "org.genplug.dype";

class DypePosenc final : public Posenc {
 public:
  explicit DypePosenc(MethodConfig config) : config_(std::move(config)) {}

  void compute(const genplug_posenc_query_t& query, genplug_spectrum_t& out, Context&) override {
    if (!GENPLUG_HAS_FIELD(&query, genplug_posenc_query_t, t))
      throw InvalidArgument("query.struct_size: " + std::to_string(query.struct_size) + " is too small");
    if (!GENPLUG_HAS_FIELD(&out, genplug_spectrum_t, amplitude_capacity))
      throw InvalidArgument("spectrum.struct_size: " + std::to_string(out.struct_size) + " is too small");
    if (!query.layout) throw InvalidArgument("query.layout: NULL");
    if (!GENPLUG_HAS_FIELD(query.layout, genplug_rotary_layout_t, pixels_per_token))
      throw InvalidArgument("layout.struct_size: " + std::to_string(query.layout->struct_size) + " is too small");
    compute_spectrum(config_, *query.layout, query.target_extent, query.t, out.freqs, out.freq_capacity,
                     out.amplitude, out.amplitude_capacity);
  }

 private:
  MethodConfig config_;
};

PluginInfo info() {
  PluginInfo i;
  i.id = kPluginId;
  i.name = "DyPE";
  i.vendor = "genplug";
  i.version = "1.0.0";
  i.description =
      "Dynamic Position Extrapolation (DyPE): RoPE, PI, NTK and YaRN spectra and their t-dependent forms, "
      "exact to the official guyyariv/DyPE code";
  i.features = {"dynamic", "tensor-free"};
  i.config_schema = config_schema();
  return i;
}

void register_plugins(Registry& registry) {
  registry.add_posenc(info(), [](const std::string& config, Context&) -> std::unique_ptr<Posenc> {
    return std::make_unique<DypePosenc>(parse_config(config));
  });
}

}  // namespace
}  // namespace genplug::dype

GENPLUG_EXPORT_ENTRY(genplug::dype::register_plugins)
