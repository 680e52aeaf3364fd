// genplug-mini-autoencoder-ceiling: the prompt adherence no transformer can exceed with a given autoencoder.
// Renders scenes of the grammar exactly, passes each through the model folder's VAE (encode's mean, then
// decode: what the transformer's perfect latent would decode to) and scores exact and round-tripped renders
// with the scene detector. If the round trip loses colours or kinds, training the transformer longer cannot
// bring them back (docs/mini-model.md §7).
#include <cstdio>
#include <cstring>

#include <CLI/CLI.hpp>
#include <ATen/Parallel.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <genplug/flux/autoencoder.hpp>
#include <genplug/flux/mini_model_files.hpp>
#include <genplug/host/png_writer.hpp>

#include "../eval/adherence_tally.hpp"
#include "scene.hpp"
#include "scene_batches.hpp"
#include "scene_detect.hpp"
#include "scene_sampler.hpp"
#include "tool_main.hpp"

using namespace genplug;

namespace {

// [1, 3, H, W] in [-1, 1] (decode's range) -> the detector's planar [0, 1] image.
mini::Image image_of(const torch::Tensor& decoded) {
  const torch::Tensor t = ((decoded[0].to(torch::kFloat32) + 1.0) * 0.5).clamp(0.0, 1.0).contiguous();
  mini::Image image(int(t.size(2)), int(t.size(1)));
  std::memcpy(image.planar.data(), t.data_ptr<float>(), image.planar.size() * sizeof(float));
  return image;
}

// Exact render above its round trip, one column per scene: what the detector saw.
void write_pairs(const std::filesystem::path& path, const std::vector<mini::Image>& exact,
                 const std::vector<mini::Image>& round_trip) {
  if (exact.empty()) return;
  const int w = exact[0].width, h = exact[0].height, gap = 2;
  host::ImageRGB sheet{int(exact.size()) * (w + gap) - gap, 2 * h + gap, {}};
  sheet.planar.assign(std::size_t(3) * sheet.width * sheet.height, 1.0f);
  for (std::size_t i = 0; i < exact.size(); ++i)
    for (int row = 0; row < 2; ++row)
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x)
            sheet.planar[(std::size_t(c) * sheet.height + row * (h + gap) + y) * sheet.width + int(i) * (w + gap) + x] =
                (row == 0 ? exact[i] : round_trip[i]).at(c, y, x);
  host::write_png(path, sheet);
}

void print_row(const char* name, const mini::Tally& t) {
  const nlohmann::json j = t.to_json();
  std::printf("| %s | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% |\n", name,
              100 * j["objects_right"].get<double>(), 100 * j["colour_right"].get<double>(),
              100 * j["kind_right"].get<double>(), 100 * j["position_right"].get<double>(),
              100 * j["count_right"].get<double>(), 100 * j["background_right"].get<double>());
}

}  // namespace

// --sheet is written after the whole evaluation: its folder must take it before that starts.
void check_sheet(const std::filesystem::path& sheet) {
  if (sheet.empty()) return;
  if (std::filesystem::is_directory(sheet)) throw mini::UsageError("--sheet " + sheet.string() + ": is a folder");
  const std::filesystem::path folder = sheet.has_parent_path() ? sheet.parent_path() : ".";
  if (!std::filesystem::is_directory(folder))
    throw mini::UsageError("--sheet " + sheet.string() + ": no folder " + folder.string());
  mini::check_output_folder(folder, "--sheet");
}

int run_ceiling(int argc, char** argv) {
  CLI::App app{"Prompt adherence of exact renders after the mini model's autoencoder round trip"};
  std::filesystem::path folder = "models/mini";
  int scenes = 256, size = 128, threads = 2, sheet_columns = 8;
  std::filesystem::path sheet;
  app.add_option("--model", folder, "model folder (vae/ae.safetensors, vae/config.json)")->capture_default_str();
  app.add_option("--scenes", scenes, "evaluation scenes (seeds 0..N-1 of the grammar's sampler)")
      ->check(mini::kAtLeastOne)->capture_default_str();
  app.add_option("--size", size, "render size in pixels (a multiple of the autoencoder's factor, 8)")
      ->check(mini::kAtLeastOne)->capture_default_str();
  app.add_option("--threads", threads, "libtorch intra-op threads")->check(mini::kAtLeastOne)->capture_default_str();
  app.add_option("--sheet", sheet, "PNG: the first scenes, exact above round trip");
  app.add_option("--sheet-columns", sheet_columns, "scenes on the sheet")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  if (const int rc = mini::parse_or_exit(app, argc, argv); rc >= 0) return rc;
  if (!sheet.empty() && sheet_columns < 1)  // a sheet of no scenes: nothing would be written, without a word
    throw mini::UsageError("--sheet-columns: must be at least 1 with --sheet, got " + std::to_string(sheet_columns));
  check_sheet(sheet);
  const flux::MiniModelFiles files{folder};
  if (!std::filesystem::is_regular_file(files.vae()))
    throw mini::UsageError("--model " + folder.string() + ": no " + files.vae().string());
  at::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  const flux::Autoencoder vae = flux::Autoencoder::from_checkpoint(files.vae());
  // The round trip of a size the autoencoder does not divide comes back smaller (100 -> 96), and the detector
  // would read the exact render's size out of it.
  const int64_t factor = vae.config().downscale();
  if (size % factor != 0)
    throw mini::UsageError("--size " + std::to_string(size) + " must be a multiple of the autoencoder's factor " +
                           std::to_string(factor));
  mini::Tally exact, round_trip;
  std::vector<mini::Image> sheet_exact, sheet_round_trip;
  for (int seed = 0; seed < scenes; ++seed) {
    const mini::Scene scene = mini::sample_scene(std::uint64_t(seed));
    const torch::Tensor x = mini::scene_tensor(std::uint64_t(seed), size, size).unsqueeze(0);
    const mini::Image original = image_of(x), decoded = image_of(vae.decode_untiled(vae.encode(x)));
    exact.add(mini::detect_scene(original, scene));
    round_trip.add(mini::detect_scene(decoded, scene));
    if (seed < sheet_columns) sheet_exact.push_back(original), sheet_round_trip.push_back(decoded);
    if ((seed + 1) % 64 == 0) std::fprintf(stderr, "%d/%d scenes\n", seed + 1, scenes);
  }
  std::printf("| render | objects right | colour | kind | position | count | background |\n|---|---|---|---|---|---|---|\n");
  print_row("exact", exact);
  print_row("autoencoder round trip", round_trip);
  if (!sheet.empty()) write_pairs(sheet, sheet_exact, sheet_round_trip);
  return 0;
}

int main(int argc, char** argv) {
  return mini::guarded_main("genplug-mini-autoencoder-ceiling", [&] { return run_ceiling(argc, argv); });
}
