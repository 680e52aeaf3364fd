#include "render_cells.hpp"

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include <genplug/host/manifest.hpp>

namespace genplug::dype_effect {

using nlohmann::json;
namespace fs = std::filesystem;

std::atomic<bool>& cancel_requested() {
  static std::atomic<bool> cancel{false};
  return cancel;
}

CellRenderer::CellRenderer(const Experiment& experiment, const PluginFacts& facts, const json& model_config,
                           const fs::path& tmp, const std::vector<fs::path>& plugin_path) {
  manifest_ = {{"model", {{"plugin", "org.genplug.flux"}, {"config", model_config}}},
               {"scheduler", {{"plugin", "org.genplug.flowmatch"}, {"config", facts.scheduler_config}}},
               {"exr", {{"pixel", "half"}, {"compression", "zip"}}},
               {"jobs", json::array()}};
  std::size_t n = 0;
  for (const Size& size : experiment.sizes) {
    const SizeFacts& sf = facts.sizes.at(size.label);
    for (const Config& config : experiment.configs) {
      if (!renders_at(config, size) || sf.alias_of.count(config.name)) continue;
      for (const Unit& unit : experiment.units) {
        const std::string name = size.label + "-" + config.name + "-u" + std::to_string(unit.index);
        json job = {{"name", name},
                    {"prompt", unit.prompt},
                    {"seed", unit.noise_seed},
                    {"width", size.width},
                    {"height", size.height},
                    {"posenc", config.posenc},
                    {"output", (tmp / (name + ".exr")).string()}};
        if (experiment.steps) job["steps"] = *experiment.steps;
        manifest_["jobs"].push_back(std::move(job));
        index_[{size.label, config.name, unit.index}] = n++;
      }
    }
  }
  host::PipelineOptions options;
  options.overwrite = true;
  options.memory_limit = 0;
  options.extra_plugin_path = plugin_path;
  options.cancel = &cancel_requested();
  options.on_image = [this](const std::vector<float>& planar, uint32_t w, uint32_t h) {
    last_ = mini::Image(int(w), int(h));
    last_.planar = planar;
  };
  options.progress = [this](const host::Progress& p) {
    if (p.stage == stage_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!stage_.empty()) stage_seconds_[stage_] += std::chrono::duration<double>(now - stage_start_).count();
    stage_ = p.stage;
    stage_start_ = now;
  };
  options.log = [](int32_t severity, const std::string& message) {
    if (severity >= GENPLUG_LOG_WARNING) std::fprintf(stderr, "genplug-dype-effect: %s\n", message.c_str());
  };
  pipeline_ = std::make_unique<host::Pipeline>(host::Manifest::parse(manifest_, tmp / "manifest.json"), options);
}

mini::Image CellRenderer::render(const Size& size, const std::string& config, const Unit& unit, double* seconds) {
  const auto it = index_.find({size.label, config, unit.index});
  if (it == index_.end())
    throw std::logic_error("no job for " + size.label + " " + config + " unit " + std::to_string(unit.index));
  const host::Job& job = pipeline_->manifest().jobs.at(it->second);
  const auto start = std::chrono::steady_clock::now();
  last_ = mini::Image();
  stage_seconds_.clear();
  stage_.clear();
  pipeline_->run(job);
  if (!stage_.empty())  // the last stage ends with the job
    stage_seconds_[stage_] += std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_start_).count();
  if (seconds) *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::error_code ec;
  fs::remove(job.output, ec);
  if (last_.width != size.width || last_.height != size.height)
    throw std::runtime_error(job.name + ": the pipeline returned a " + std::to_string(last_.width) + " x " +
                             std::to_string(last_.height) + " picture");
  return std::move(last_);
}

}  // namespace genplug::dype_effect
