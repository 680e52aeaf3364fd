// The loss curves of a training run as an SVG picture (docs/mini-model.md shows it): one panel per phase,
// step on x, loss on a log10 y axis, from the CSV files the phases write (step,loss).
#pragma once
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace genplug::mini {

// panels: (title, csv file). Missing files are skipped.
void write_loss_plot(const std::filesystem::path& svg,
                     const std::vector<std::pair<std::string, std::filesystem::path>>& panels);

}  // namespace genplug::mini
