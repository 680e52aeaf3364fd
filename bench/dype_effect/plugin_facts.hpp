// What the benchmark learns from the plugins before it renders (docs/dype-effect.md sections 0-1):
//  * the pinned shift: mu = the flux schedule's value at the training size's image-token count (128 x 128: 64),
//    computed by the flowmatch plugin's own formula (plugins/flowmatch/math/schedule_math.cpp mu_for_tokens, linked
//    into this program) from the scheduler config's parameters, defaults taken from the plugin's schema; then checked
//    against the plugin itself: its schedule with mu pinned must equal, bit for bit, its unpinned schedule at 64 tokens;
//  * every size's sigmas under that pin, as the scheduler plugin gives them;
//  * every config's DyPE spectrum (from the posenc plugin, on the model's own rotary layout) at every sigma, and
//    which configs have the same spectra as an earlier one at a size: those are rendered once (at 1x every method
//    equals rope: no axis is scaled).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment.hpp"

namespace genplug::dype_effect {

struct SizeFacts {
  std::uint64_t image_tokens = 0;
  std::vector<std::uint32_t> target_extent;  // tokens per rotary axis
  std::vector<double> sigmas;                // steps + 1 values, at the pinned mu
  // config name -> the earlier config whose spectra it shares at every sigma (rendered in its place).
  std::map<std::string, std::string> alias_of;
  nlohmann::json spectra;  // config -> [{sigma, freqs, amplitude}, ...]
};

struct PluginFacts {
  double mu = 0;
  nlohmann::json mu_derivation;     // the formula's inputs and the check
  nlohmann::json scheduler_config;  // the manifest's scheduler config, mu pinned
  std::uint32_t steps = 0;          // as rendered (the choice or the model's default)
  std::uint32_t pixels_per_token = 0;
  nlohmann::json model_description;
  nlohmann::json rotary_layout;
  std::map<std::string, SizeFacts> sizes;  // by size label
};

// The scheduler both programs run: flowmatch's flux schedule with Euler, mu not pinned (read_plugin_facts pins it).
const nlohmann::json& benchmark_scheduler_config();

// `scheduler_config` is the unpinned flowmatch config (e.g. {"schedule": "flux", "sampler": "euler"}); it must
// not pin mu itself. Throws std::runtime_error when the plugin's schedule disagrees with the computed pin.
PluginFacts read_plugin_facts(const Experiment& experiment, const nlohmann::json& model_config,
                              const nlohmann::json& scheduler_config,
                              const std::vector<std::filesystem::path>& plugin_path);

// The config rendered for `config` at a size: itself, or the config it aliases there.
const std::string& rendered_config(const SizeFacts& facts, const std::string& config);

}  // namespace genplug::dype_effect
