// genplug-scenes: writes sample scenes of the mini model's grammar for people to look at.
//
//   genplug-scenes --out DIR [--count 16] [--first-seed 0] [--width 128] [--height 128] [--format png|exr]
//                  [--sheet] [--check]
//
// DIR/scenes.tsv lists seed, file and prompt per scene; DIR/scene-<seed>.<format> is its exact render (PNG:
// 8-bit sRGB; EXR: half, scene-linear as `genplug run` writes, with genplug.prompt and genplug.seed);
// --sheet adds DIR/sheet.png (all renders in a grid); --check runs the detector on every render and prints
// its verdict (exit 1 when any render is not all right).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <genplug/host/exr_writer.hpp>
#include <genplug/host/png_writer.hpp>

#include "scene_detect.hpp"
#include "scene_render.hpp"
#include "scene_sampler.hpp"

namespace mini = genplug::mini;

namespace {

struct Options {
  std::filesystem::path out;
  int count = 16;
  std::uint64_t first_seed = 0;
  int width = 128;
  int height = 128;
  std::string format = "png";
  bool sheet = false;
  bool check = false;
};

// Tiles images of equal size into a near-square grid with a 2-pixel white gutter.
mini::Image contact_sheet(const std::vector<mini::Image>& images) {
  const int n = static_cast<int>(images.size());
  const int columns = static_cast<int>(std::ceil(std::sqrt(double(n))));
  const int rows = (n + columns - 1) / columns;
  const int gutter = 2, w = images[0].width, h = images[0].height;
  mini::Image sheet(columns * (w + gutter) + gutter, rows * (h + gutter) + gutter);
  std::fill(sheet.planar.begin(), sheet.planar.end(), 1.0f);
  for (int i = 0; i < n; ++i) {
    const int x0 = gutter + (i % columns) * (w + gutter), y0 = gutter + (i / columns) * (h + gutter);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) sheet.at(c, y0 + y, x0 + x) = images[i].at(c, y, x);
  }
  return sheet;
}

genplug::host::ImageRGB host_image(const mini::Image& image) {
  return {image.width, image.height, image.planar};  // both planar R, G, B, row-major
}

void write_render(const std::filesystem::path& path, const mini::Image& image, const std::string& prompt,
                  std::uint64_t seed) {
  if (path.extension() == ".png") return genplug::host::write_png(path, host_image(image));
  genplug::host::ExrOptions options;
  options.overwrite = true;
  genplug::host::write_exr(path, host_image(image),
                           {{"genplug.prompt", prompt}, {"genplug.seed", std::to_string(seed)}}, options);
}

std::string describe(const mini::SceneVerdict& v) {
  std::string out = std::to_string(v.objects_right()) + "/" + std::to_string(v.objects.size()) + " objects right";
  out += v.count_right ? ", count right" : ", count WRONG (" + std::to_string(v.blobs.size()) + " found)";
  out += v.background_right ? ", background right" : ", background WRONG";
  return out;
}

int run(const Options& o) {
  std::filesystem::create_directories(o.out);
  std::ofstream list(o.out / "scenes.tsv");
  list << "seed\tfile\tprompt\n";
  std::vector<mini::Image> renders;
  bool all_right = true;
  for (int i = 0; i < o.count; ++i) {
    const std::uint64_t seed = o.first_seed + static_cast<std::uint64_t>(i);
    const mini::Scene scene = mini::sample_scene(seed);
    const mini::Image image = mini::render_scene(scene, o.width, o.height);
    const std::string file = "scene-" + std::to_string(seed) + "." + o.format;
    write_render(o.out / file, image, mini::prompt_of(scene), seed);
    list << seed << '\t' << file << '\t' << mini::prompt_of(scene) << '\n';
    if (o.check) {
      const mini::SceneVerdict verdict = mini::detect_scene(image, scene);
      all_right = all_right && verdict.all_right();
      std::cout << seed << ": " << describe(verdict) << '\n';
    }
    if (o.sheet) renders.push_back(image);
  }
  if (o.sheet && !renders.empty()) genplug::host::write_png(o.out / "sheet.png", host_image(contact_sheet(renders)));
  std::cout << "wrote " << o.count << " scenes to " << o.out.string() << '\n';
  return all_right ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes sample scenes of the mini model's grammar (prompts and exact renders)."};
  Options o;
  app.add_option("--out", o.out, "output folder (created)")->required();
  app.add_option("--count", o.count, "number of scenes")->check(CLI::Range(1, 100000));
  app.add_option("--first-seed", o.first_seed, "seed of the first scene; the others follow");
  app.add_option("--width", o.width, "render width in pixels")->check(CLI::Range(1, 8192));
  app.add_option("--height", o.height, "render height in pixels")->check(CLI::Range(1, 8192));
  app.add_option("--format", o.format, "png or exr")->check(CLI::IsMember({"png", "exr"}));
  app.add_flag("--sheet", o.sheet, "also write sheet.png, every render in one grid");
  app.add_flag("--check", o.check, "run the detector on every render and print its verdict");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "genplug-scenes: " << e.what() << '\n';
    return 2;
  }
}
