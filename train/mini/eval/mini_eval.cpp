// genplug-mini-eval: prompt adherence of a model on the scene grammar (docs/mini-model.md, issue #13). Renders
// every prompt x seed through the reference host and the plugins — the path a user's manifest takes — and
// scores each decoded image with the scene detector: objects right (colour, kind and position), count,
// background. Writes results.json, a Markdown table and a contact sheet per prompt.
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <genplug/host/manifest.hpp>
#include <genplug/host/pipeline.hpp>
#include <genplug/host/png_writer.hpp>

#include "adherence_tally.hpp"
#include "scene.hpp"
#include "scene_detect.hpp"
#include "tool_main.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace genplug;

namespace {

using mini::Tally;

// At least one prompt, or a UsageError naming --prompts (before anything is written into --out).
std::vector<std::string> read_prompts(const fs::path& path) {
  std::ifstream in(path);
  if (fs::is_directory(path) || !in) throw mini::UsageError("--prompts " + path.string() + ": cannot read");
  std::vector<std::string> prompts;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') prompts.push_back(line);
  if (prompts.empty()) throw mini::UsageError("--prompts " + path.string() + ": holds no prompt");
  return prompts;
}

// A plugin config given on the command line: a JSON object, or a UsageError naming its flag.
json parse_config(const std::string& text, const std::string& flag) {
  json config;
  try {
    config = json::parse(text);
  } catch (const json::parse_error& e) {
    throw mini::UsageError(flag + ": not JSON: " + e.what());
  }
  if (!config.is_object()) throw mini::UsageError(flag + ": must be a JSON object, not " + text);
  return config;
}

// Contact sheet: the first `columns` renders of one prompt side by side.
void write_sheet(const fs::path& path, const std::vector<mini::Image>& images) {
  if (images.empty()) return;
  const int w = images[0].width, h = images[0].height, gap = 2;
  host::ImageRGB sheet{int(images.size()) * (w + gap) - gap, h, {}};
  sheet.planar.assign(std::size_t(3) * sheet.width * sheet.height, 1.0f);
  for (std::size_t i = 0; i < images.size(); ++i)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          sheet.planar[(std::size_t(c) * h + y) * sheet.width + int(i) * (w + gap) + x] = images[i].at(c, y, x);
  host::write_png(path, sheet);
}

}  // namespace

int run_eval(int argc, char** argv) {
  CLI::App app{"Scores prompt adherence of a model on the mini scene grammar through genplug's pipeline"};
  fs::path prompts_file = "samples/mini/prompts.txt", out = "mini-eval";
  int seeds = 64, width = 128, height = 128, sheet_columns = 8;
  uint64_t first_seed = 0;
  std::string model = R"({"preset": "mini"})", posenc = R"({"method": "rope"})";
  std::string scheduler = R"({"schedule": "flux", "sampler": "euler"})";
  std::optional<int> steps;
  std::vector<fs::path> plugin_path;
  app.add_option("--prompts", prompts_file, "one grammar prompt per line")->capture_default_str();
  app.add_option("--seeds", seeds, "seeds per prompt")->check(mini::kAtLeastOne)->capture_default_str();
  app.add_option("--first-seed", first_seed, "first seed")->check(mini::kNotNegative)->capture_default_str();
  app.add_option("--width", width, "pixels")->check(mini::kAtLeastOne)->capture_default_str();
  app.add_option("--height", height, "pixels")->check(mini::kAtLeastOne)->capture_default_str();
  app.add_option("--steps", steps, "sampling steps (default: the model's)")->check(mini::kAtLeastOne);
  app.add_option("--model", model, "org.genplug.flux config (JSON)")->capture_default_str();
  app.add_option("--posenc", posenc, "org.genplug.dype config (JSON)")->capture_default_str();
  app.add_option("--scheduler", scheduler, "org.genplug.flowmatch config (JSON)")->capture_default_str();
  app.add_option("--out", out, "folder for renders and results")->capture_default_str();
  app.add_option("--sheet", sheet_columns, "renders per prompt on its contact sheet (0: none)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--plugin-path", plugin_path, "more plugin folders");
  if (const int rc = mini::parse_or_exit(app, argc, argv); rc >= 0) return rc;

  // Every flag is checked before --out is touched: a refused run leaves no empty renders/ folder behind.
  if (first_seed > std::numeric_limits<uint64_t>::max() - uint64_t(seeds - 1))
    throw mini::UsageError("--first-seed " + std::to_string(first_seed) + " + --seeds " + std::to_string(seeds) +
                           " passes the largest seed, 2^64 - 1");
  for (const auto& [flag, pixels] : {std::pair{"--width", width}, std::pair{"--height", height}})
    if (pixels % 16)  // the FLUX plugin's patch of 2 latent pixels of 8 image pixels
      throw mini::UsageError(std::string(flag) + ": must be a multiple of 16, got " + std::to_string(pixels));
  const json model_config = parse_config(model, "--model"), posenc_config = parse_config(posenc, "--posenc"),
             scheduler_config = parse_config(scheduler, "--scheduler");
  mini::check_output_folder(out, "--out");
  const std::vector<std::string> prompts = read_prompts(prompts_file);
  std::vector<mini::Scene> scenes;
  for (const std::string& p : prompts) {
    const auto scene = mini::parse_prompt(p);
    if (!scene) throw mini::UsageError("--prompts " + prompts_file.string() + ": not a prompt of the grammar: " + p);
    scenes.push_back(*scene);
  }
  fs::create_directories(out / "renders");
  json manifest = {{"model", {{"plugin", "org.genplug.flux"}, {"config", model_config}}},
                   {"scheduler", {{"plugin", "org.genplug.flowmatch"}, {"config", scheduler_config}}},
                   {"posenc", {{"plugin", "org.genplug.dype"}, {"config", posenc_config}}},
                   {"exr", {{"pixel", "half"}, {"compression", "zip"}}},
                   {"jobs", json::array()}};
  for (std::size_t p = 0; p < prompts.size(); ++p)
    for (int s = 0; s < seeds; ++s) {
      json job = {{"name", "p" + std::to_string(p) + "-s" + std::to_string(first_seed + s)},
                  {"prompt", prompts[p]}, {"seed", first_seed + uint64_t(s)}, {"width", width}, {"height", height},
                  {"output", (out / "renders" / ("p" + std::to_string(p) + "-s" + std::to_string(first_seed + s) + ".exr")).string()}};
      if (steps) job["steps"] = *steps;
      manifest["jobs"].push_back(job);
    }

  mini::Image last;
  host::PipelineOptions options;
  options.overwrite = true;
  options.memory_limit = 0;
  options.extra_plugin_path = plugin_path;
  options.on_image = [&](const std::vector<float>& planar, uint32_t w, uint32_t h) {
    last = mini::Image(int(w), int(h));
    last.planar = planar;
  };
  host::Pipeline pipeline(host::Manifest::parse(manifest, out / "manifest.json"), options);
  std::vector<Tally> per_prompt(prompts.size());
  Tally total;
  std::vector<std::vector<mini::Image>> sheets(prompts.size());
  json renders = json::array();
  const auto& jobs = pipeline.manifest().jobs;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    pipeline.run(jobs[i]);
    const std::size_t p = i / std::size_t(seeds);
    const mini::SceneVerdict verdict = mini::detect_scene(last, scenes[p]);
    per_prompt[p].add(verdict);
    total.add(verdict);
    if (int(sheets[p].size()) < sheet_columns) sheets[p].push_back(last);
    json wrong = json::array();  // "colour kind" of each described object not right, for finding weak shapes
    for (std::size_t k = 0; k < verdict.objects.size(); ++k)
      if (!verdict.objects[k].right())
        wrong.push_back(std::string(mini::name_of(scenes[p].objects[k].colour)) + " " +
                        std::string(mini::name_of(scenes[p].objects[k].kind)));
    renders.push_back({{"prompt", p}, {"seed", jobs[i].seed}, {"objects_right", verdict.objects_right()},
                       {"objects", verdict.objects.size()}, {"all_right", verdict.all_right()},
                       {"objects_wrong", wrong}});
    if ((i + 1) % 32 == 0 || i + 1 == jobs.size())
      std::fprintf(stderr, "%zu/%zu renders, objects right so far %.1f %%\n", i + 1, jobs.size(),
                   100.0 * Tally::share(total.right, total.objects));
  }

  json results = {{"width", width}, {"height", height}, {"seeds", seeds}, {"first_seed", first_seed},
                  {"model", model_config}, {"posenc", posenc_config},
                  {"scheduler", scheduler_config}, {"total", total.to_json()}, {"prompts", json::array()},
                  {"renders", renders}};
  std::ofstream table(out / "results.md");
  table << "| prompt | objects right | colour | kind | position | count | background | scenes all right |\n"
        << "|---|---|---|---|---|---|---|---|\n";
  auto row = [&](const std::string& name, const Tally& t) {
    const json j = t.to_json();
    char line[512];
    std::snprintf(line, sizeof line, "| %s | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% |\n",
                  name.c_str(), 100 * j["objects_right"].get<double>(), 100 * j["colour_right"].get<double>(),
                  100 * j["kind_right"].get<double>(), 100 * j["position_right"].get<double>(),
                  100 * j["count_right"].get<double>(), 100 * j["background_right"].get<double>(),
                  100 * j["scenes_all_right"].get<double>());
    table << line;
    std::fputs(line, stdout);
  };
  for (std::size_t p = 0; p < prompts.size(); ++p) {
    results["prompts"].push_back({{"prompt", prompts[p]}, {"score", per_prompt[p].to_json()}});
    row(prompts[p], per_prompt[p]);
    write_sheet(out / ("sheet-p" + std::to_string(p) + ".png"), sheets[p]);
  }
  row("**all**", total);
  std::ofstream(out / "results.json") << results.dump(2) << '\n';
  return 0;
}

int main(int argc, char** argv) {
  return mini::guarded_main("genplug-mini-eval", [&] { return run_eval(argc, argv); });
}
