#include "plugin_facts.hpp"

#include <cstring>
#include <stdexcept>

#include <genplug/host.hpp>
#include <genplug/host/plugin_catalog.hpp>

#include "schedule_math.hpp"  // plugins/flowmatch/math: the scheduler's own mu formula

namespace genplug::dype_effect {
namespace {

using nlohmann::json;

const char* const kFlux = "org.genplug.flux";
const char* const kFlowmatch = "org.genplug.flowmatch";

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

bool same_spectra(const std::vector<Spectrum>& a, const std::vector<Spectrum>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same_bits(a[i].freqs, b[i].freqs) || !same_bits(a[i].amplitude, b[i].amplitude)) return false;
  return true;
}

// A flowmatch parameter as the plugin resolves it: the config's value, else the schema's default.
json scheduler_parameter(const host::PluginRecord& flowmatch, const json& config, const std::string& key) {
  if (config.contains(key)) return config.at(key);
  const json& property = flowmatch.schema.at("properties").at(key);
  if (!property.contains("default"))
    throw std::runtime_error(std::string(kFlowmatch) + ": its schema gives no default for " + key);
  return property.at("default");
}

}  // namespace

const json& benchmark_scheduler_config() {
  static const json config = {{"schedule", "flux"}, {"sampler", "euler"}};
  return config;
}

const std::string& rendered_config(const SizeFacts& facts, const std::string& config) {
  const auto it = facts.alias_of.find(config);
  return it == facts.alias_of.end() ? config : it->second;
}

PluginFacts read_plugin_facts(const Experiment& experiment, const json& model_config, const json& scheduler_config,
                              const std::vector<std::filesystem::path>& plugin_path) {
  if (scheduler_config.contains("mu"))
    throw std::invalid_argument("the scheduler config pins mu already; the benchmark pins it to the 128 x 128 value");
  host::PluginCatalog::Options catalog_options;
  catalog_options.search_path = host::PluginCatalog::default_search_path(plugin_path);
  host::PluginCatalog catalog(catalog_options);
  const host::PluginRecord* flowmatch = catalog.find(kFlowmatch);
  if (!catalog.find(kFlux) || !flowmatch || !catalog.find("org.genplug.dype"))
    throw std::runtime_error("the flux, flowmatch and dype plugins are needed (searched: GENPLUG_PLUGIN_PATH, "
                             "--plugin-path and ../plugins beside the program)");
  CallContext ctx;
  PluginFacts facts;
  const ModelProxy model = catalog.create_model(kFlux, model_config, ctx, "--model");
  facts.model_description = json::parse(model.describe());
  const genplug_geometry_t training = model.geometry(training_side, training_side, 0, ctx);
  facts.steps = experiment.steps.value_or(training.default_steps);
  facts.pixels_per_token = training.pixels_per_token;
  const RotaryLayout training_layout = RotaryLayout::from_geometry(training);
  facts.rotary_layout = {{"axis_dims", training_layout.axis_dims}, {"theta", training_layout.theta},
                         {"base_extent", training_layout.base_extent}, {"axis_flags", training_layout.axis_flags},
                         {"pixels_per_token", training_layout.pixels_per_token}};

  // mu at the training size, by the scheduler's formula and parameters; then the plugin must agree.
  const double base_shift = scheduler_parameter(*flowmatch, scheduler_config, "base_shift").get<double>();
  const double max_shift = scheduler_parameter(*flowmatch, scheduler_config, "max_shift").get<double>();
  const auto base_tokens = scheduler_parameter(*flowmatch, scheduler_config, "base_image_tokens").get<std::uint64_t>();
  const auto max_tokens = scheduler_parameter(*flowmatch, scheduler_config, "max_image_tokens").get<std::uint64_t>();
  facts.mu = flowmatch::mu_for_tokens(training.image_tokens, base_shift, max_shift, double(base_tokens),
                                      double(max_tokens));
  facts.scheduler_config = scheduler_config;
  facts.scheduler_config["mu"] = facts.mu;
  const SchedulerProxy unpinned = catalog.create_scheduler(kFlowmatch, scheduler_config, ctx, "scheduler");
  const SchedulerProxy pinned = catalog.create_scheduler(kFlowmatch, facts.scheduler_config, ctx, "scheduler");
  const std::vector<double> own = unpinned.sigmas(facts.steps, training.image_tokens, ctx);
  const std::vector<double> at_pin = pinned.sigmas(facts.steps, training.image_tokens, ctx);
  if (!same_bits(own, at_pin))
    throw std::runtime_error("the flowmatch plugin's schedule at " + std::to_string(training.image_tokens) +
                             " tokens differs from its schedule with mu pinned to " + std::to_string(facts.mu) +
                             ": its mu formula or parameters changed (plugins/flowmatch/math/schedule_math.cpp)");
  facts.mu_derivation = {
      {"formula", "plugins/flowmatch/math/schedule_math.cpp mu_for_tokens (BFL get_lin_function)"},
      {"image_tokens", training.image_tokens}, {"training_size", {training_side, training_side}},
      {"base_shift", base_shift}, {"max_shift", max_shift}, {"base_image_tokens", base_tokens},
      {"max_image_tokens", max_tokens},
      {"check", "the plugin's pinned and unpinned schedules at the training size are bit-identical"}};

  for (const Size& size : experiment.sizes) {
    SizeFacts& sf = facts.sizes[size.label];
    const genplug_geometry_t g = model.geometry(uint32_t(size.height), uint32_t(size.width), 0, ctx);
    sf.image_tokens = g.image_tokens;
    sf.target_extent.assign(g.target_extent, g.target_extent + g.axis_count);
    sf.sigmas = pinned.sigmas(facts.steps, g.image_tokens, ctx);
    const RotaryLayout layout = RotaryLayout::from_geometry(g);
    std::vector<std::pair<std::string, std::vector<Spectrum>>> seen;
    sf.spectra = json::object();
    for (const Config& config : experiment.configs) {
      if (!renders_at(config, size)) continue;
      const PosencProxy posenc = catalog.create_posenc(config.posenc.at("plugin").get<std::string>(),
                                                       config.posenc.value("config", json::object()), ctx,
                                                       config.name + ".posenc");
      std::vector<Spectrum> spectra;
      json listed = json::array();
      for (double sigma : sf.sigmas) {
        spectra.push_back(posenc.compute(layout, sf.target_extent, sigma, ctx));
        listed.push_back({{"sigma", sigma}, {"freqs", spectra.back().freqs}, {"amplitude", spectra.back().amplitude}});
      }
      sf.spectra[config.name] = std::move(listed);
      for (const auto& [name, other] : seen)
        if (same_spectra(spectra, other)) {
          sf.alias_of[config.name] = name;
          break;
        }
      if (!sf.alias_of.count(config.name)) seen.emplace_back(config.name, std::move(spectra));
    }
  }
  return facts;
}

}  // namespace genplug::dype_effect
