// Renders the benchmark's cells through the reference host, as a user's manifest would run (and as
// train/mini/eval/mini_eval.cpp does): one manifest holding every (size, config, unit) job with its own posenc,
// one Pipeline (the model is loaded once), the decoded picture taken from the on_image hook. Each job's EXR goes
// to a temporary folder and is deleted as soon as its picture is back.
#pragma once
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include <genplug/host/pipeline.hpp>

#include "experiment.hpp"
#include "image.hpp"
#include "plugin_facts.hpp"

namespace genplug::dype_effect {

// The flag every CellRenderer's pipeline stops on (PipelineOptions::cancel): set by the first SIGINT or SIGTERM once
// the program has passed it to host::install_cancel_signals, so that an interrupted run ends by an exception and
// its scratch folder (scratch_dir.hpp) is removed on the way instead of being left in --out.
std::atomic<bool>& cancel_requested();

class CellRenderer {
 public:
  // Jobs for every size x config rendered there (configs aliased at a size are not) x unit. The scheduler config
  // is facts.scheduler_config (mu pinned). `tmp` must exist (scratch_dir.hpp); the EXRs go there.
  CellRenderer(const Experiment& experiment, const PluginFacts& facts, const nlohmann::json& model_config,
               const std::filesystem::path& tmp, const std::vector<std::filesystem::path>& plugin_path);

  // The picture of `unit` rendered at `size` with `config` (not an alias); *seconds gets the render's wall time.
  mini::Image render(const Size& size, const std::string& config, const Unit& unit, double* seconds = nullptr);

  // Seconds the last render spent in each pipeline stage ("condition", "sample", "decode", "write").
  const std::map<std::string, double>& last_stage_seconds() const { return stage_seconds_; }

  std::size_t job_count() const { return index_.size(); }
  const nlohmann::json& manifest_json() const { return manifest_; }

 private:
  nlohmann::json manifest_;
  std::unique_ptr<host::Pipeline> pipeline_;
  std::map<std::tuple<std::string, std::string, int>, std::size_t> index_;
  mini::Image last_;
  std::map<std::string, double> stage_seconds_;
  std::string stage_;
  std::chrono::steady_clock::time_point stage_start_;
};

}  // namespace genplug::dype_effect
