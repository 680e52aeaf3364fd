// The benchmark's outputs (docs/dype-effect.md section 4): results.json, results.md and the grids.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiment.hpp"
#include "image.hpp"
#include "summarise.hpp"

namespace genplug::dype_effect {

// report_json.cpp. Per size: every config's aggregates (null where undefined) and the floor, then per baseline
// ("vs_yarn", "vs_rope") and config: per metric delta, lo, hi, resamples_used and, for binary metrics, discordant.
nlohmann::json results_json(const std::vector<SizeSummary>& sizes, const nlohmann::json& header);

// report_markdown.cpp. Per size: the configs' table (real first), then "Δ vs YaRN" and "Δ vs RoPE" as
// `+0.120 [+0.050, +0.190]`. `intro` is Markdown put under the title.
void write_results_markdown(const std::filesystem::path& path, const std::vector<SizeSummary>& sizes,
                            const std::string& intro);

// report_grids.cpp. One grid per size: rows real, then every rendered config; columns units 0-7, each picture
// box-scaled to short side 128 (grid_picture). `names` says what each row holds (e.g. "rope (also: pi, ntk)").
struct GridRow {
  std::string name;
  std::vector<mini::Image> pictures;
};
void write_grid(const std::filesystem::path& png, const std::filesystem::path& md, const Size& size,
                const std::vector<GridRow>& rows, const std::vector<Unit>& units);

// "+0.120 [+0.050, +0.190]" with `decimals` digits; "—" for an undefined delta.
std::string format_interval(const Comparison& c, int decimals);

}  // namespace genplug::dype_effect
