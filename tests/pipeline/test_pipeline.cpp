// The reference host end to end through the three plugin kinds: the golden tiny FLUX sampling run reproduced
// from golden noise and conditioning, the EXR read back, the VAE golden through the model ABI, and several
// jobs swapping posenc and scheduler on one model load.
#define BOOST_TEST_MODULE pipeline
#include <boost/test/unit_test.hpp>

#include <png.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "png_read.hpp"
#include <genplug/host/exr_writer.hpp>
#include <genplug/host/manifest.hpp>
#include <genplug/host/pipeline.hpp>
#include <genplug/host/png_writer.hpp>
#include <genplug/host/shard.hpp>
#include <genplug/host/tensor_ops.hpp>
#include <genplug/safetensors.hpp>

#include "golden.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
namespace st = genplug::safetensors;
using genplug::host::Manifest;
using genplug::host::Pipeline;
using genplug::host::PipelineOptions;
using nlohmann::json;

namespace {

using genplug::test::TempDir;

// The golden comparisons here check plumbing: that the host, the scheduler and the posenc plugin give the model the
// reference run's inputs at every step, and the ABI its tensors. The arithmetic is the model plugin's, held to bounds
// from a rounding analysis (ours in float32 measured against float64) by test_flux_transformer (the same sampling),
// test_flux_plugin and test_vae_golden: on every set so far their errors are 1e-7 to 3e-6 of the largest value, their
// bounds at most 6.2e-5. This host-only test has no tensor library to run a float64 model with, so its bound is fixed
// above those; a step, sigma or spectrum of the wrong kind moves the result further (DyPE's spectrum for plain RoPE:
// 5e-4 to 1e-3 of the final latent on the real sets).
constexpr double kPlumbingBound = 1e-4;

std::vector<float> golden_tensor(const st::File& f, const std::string& name) { return st::to_float32(f.at(name)); }

// max |a - b| relative to max |b|.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return std::numeric_limits<double>::infinity();  // max() would drop a NaN
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    scale = std::max(scale, double(std::fabs(b[i])));
  }
  return diff / scale;
}

// Whether two outputs differ by more than `threshold` relative to b, both finite: the checks that a change has teeth,
// which relative_error's infinity for a NaN in a (and its max() dropping one in b) would pass or decide.
bool differ_by_more_than(const std::vector<float>& a, const std::vector<float>& b, double threshold) {
  const auto finite = [](const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
  };
  return a.size() == b.size() && finite(a) && finite(b) && relative_error(a, b) > threshold;
}

// Options whose log keeps the warnings in `into`.
PipelineOptions collecting_warnings(std::vector<std::string>& into) {
  PipelineOptions o;
  o.log = [&into](int32_t severity, const std::string& message) {
    if (severity == GENPLUG_LOG_WARNING) into.push_back(message);
  };
  return o;
}

// How many of `lines` contain `text`.
long count_containing(const std::vector<std::string>& lines, const std::string& text) {
  const auto has_text = [&](const std::string& l) { return l.find(text) != std::string::npos; };
  return std::count_if(lines.begin(), lines.end(), has_text);
}

// The flowmatch config that gives the golden run's schedule: BFL get_schedule, shifted by the mu of the
// token count (with the golden's shift endpoints where it names them) or unshifted ("shift": false).
json scheduler_config(const json& sampling) {
  json config = {{"sampler", "euler"}};
  if (!sampling.value("shift", true)) {
    config["schedule"] = "none";
    return config;
  }
  config["schedule"] = "flux";
  for (const char* key : {"base_shift", "max_shift"})
    if (sampling.contains(key)) config[key] = sampling[key];
  return config;
}

// A manifest running the golden tiny FLUX transformer and the golden tiny VAE with golden conditioning.
struct GoldenRun {
  json info = genplug::test::read_json(genplug::test::golden("flux/flux_tiny_info.json"));
  std::shared_ptr<const st::File> io = st::File::open(genplug::test::golden("flux/flux_tiny_io.safetensors"));
  std::shared_ptr<const st::File> sample = st::File::open(genplug::test::golden("flux/flux_tiny_sample.safetensors"));
  TempDir dir;
  fs::path conditioning = dir.path / "conditioning.safetensors";

  GoldenRun() {
    const auto& txt = io->at("txt");
    const auto& y = io->at("y");
    st::write_file(conditioning, {st::TensorData::from_floats("txt", txt.shape, st::to_float32(txt)),
                                  st::TensorData::from_floats("vec", y.shape, st::to_float32(y))});
  }

  json manifest(const json& posenc) const {
    const int base = info["dype"]["base_patches"].get<int>();
    json model_config = {{"transformer", genplug::test::golden("flux/flux_tiny_bfl.safetensors").string()},
                         {"vae", genplug::test::golden("vae/vae_tiny_bfl.safetensors").string()},
                         {"conditioning", conditioning.string()},
                         {"base_extent", {1, base, base}},
                         // The rotary axes cannot be read from the weights of a model whose head dim is not 128.
                         {"config", {{"axes_dim", info["meta"]["params"]["axes_dim"]},
                                     {"theta", info["meta"]["params"]["theta"]}}}};
    const json& sampling = info["sampling"];
    json job = {{"prompt", "(golden conditioning)"},
                {"steps", sampling["num_steps"]},
                {"seed", 0},
                {"output", (dir.path / "golden.exr").string()},
                {"posenc", posenc}};
    // A model without guidance embedding has none ("guidance_arg": null): the job leaves it out.
    if (!sampling.value("guidance_arg", json()).is_null()) job["guidance"] = sampling["guidance_arg"];
    return {{"model", {{"plugin", "org.genplug.flux"}, {"config", model_config}}},
            {"scheduler", {{"plugin", "org.genplug.flowmatch"}, {"config", scheduler_config(sampling)}}},
            {"exr", {{"pixel", "float"}, {"encoding", "display"}, {"overwrite", true}}},
            {"jobs", json::array({job})}};
  }

  // Runs the job with the golden noise injected; returns the final packed latent and the decoded image.
  // `exr` is merged into the manifest's exr settings; `o` may set previews.
  // `job` is merged into the job.
  void run(const json& posenc, std::vector<float>& final_latent, std::vector<float>& image, uint32_t& w, uint32_t& h,
           uint64_t& evaluations, const json& exr = json::object(), PipelineOptions o = {},
           const json& job = json::object()) {
    const auto noise = golden_tensor(*sample, "noise");
    o.on_initial_latent = [&](DLTensor& latent) {
      int64_t n = 1;
      for (int i = 0; i < latent.ndim; ++i) n *= latent.shape[i];
      if (size_t(n) != noise.size()) return;  // another size than the golden's (a refine pass): the model's noise
      BOOST_REQUIRE(latent.device.device_type == kDLCPU && latent.dtype.code == kDLFloat && latent.dtype.bits == 32);
      std::memcpy(static_cast<char*>(latent.data) + latent.byte_offset, noise.data(), noise.size() * sizeof(float));
    };
    o.on_final_latent = [&](const DLTensor& latent) { final_latent = genplug::host::to_cpu_float(latent); };
    o.on_image = [&](const std::vector<float>& planar, uint32_t width, uint32_t height) {
      image = planar;
      w = width;
      h = height;
    };
    json m = manifest(posenc);
    m["exr"].update(exr);
    const auto grid = info["grid_tokens_hw"];
    Pipeline p(Manifest::parse(m, dir.path / "golden.json"), o);
    // The image size follows from the golden token grid and the model's pixels per token.
    const uint32_t ppt = p.model_description()["pixels_per_token"].get<uint32_t>();
    m["jobs"][0]["height"] = grid[0].get<uint32_t>() * ppt;
    m["jobs"][0]["width"] = grid[1].get<uint32_t>() * ppt;
    m["jobs"][0].update(job);  // after the probe above, which runs at the model's default size
    Pipeline sized(Manifest::parse(m, dir.path / "golden.json"), o);
    const genplug::host::JobResult result = sized.run(sized.manifest().jobs[0]);
    evaluations = result.evaluations;
    BOOST_TEST(result.tensor_copies == 0);  // the velocity is adopted, never copied (model.h, ABI 1.1)
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(golden_euler_sampling_is_reproduced_end_to_end_with_plain_rope) {
  GoldenRun g;
  std::vector<float> final_latent, image;
  uint32_t w = 0, h = 0;
  uint64_t evaluations = 0;
  // Progress: each stage once as it begins (step false), and each model evaluation once as it ends (step true).
  std::vector<std::string> stages;
  std::vector<uint64_t> steps;
  PipelineOptions o;
  o.progress = [&](const genplug::host::Progress& p) {
    if (p.step)
      steps.push_back(p.evaluation);
    else
      stages.push_back(p.stage);
  };
  g.run("none", final_latent, image, w, h, evaluations, json::object(), o);
  BOOST_TEST(evaluations == g.info["sampling"]["num_steps"].get<uint64_t>());
  BOOST_REQUIRE_EQUAL(steps.size(), evaluations);
  for (size_t i = 0; i < steps.size(); ++i) BOOST_TEST(steps[i] == i + 1);
  // Two pipelines (the probe at the default size, then the sized one): "load" twice, then the job's stages.
  BOOST_TEST(stages == (std::vector<std::string>{"load", "load", "condition", "sample", "decode", "write"}),
             boost::test_tools::per_element());
  const double err = relative_error(final_latent, golden_tensor(*g.sample, "final"));
  BOOST_TEST_MESSAGE("plain RoPE final latent relative error " << err);
  BOOST_TEST(err < kPlumbingBound);

  // The EXR holds the decoded image (display encoding, float) and every metadata field.
  std::map<std::string, std::string> attrs;
  genplug::host::ImageRGB back = genplug::host::read_exr(g.dir.path / "golden.exr", &attrs);
  BOOST_TEST(back.width == int(w));
  BOOST_TEST(back.height == int(h));
  BOOST_TEST(relative_error(back.planar, image) == 0.0);
  for (const char* key : {"genplug.prompt", "genplug.model", "genplug.model.version", "genplug.model.config",
                          "genplug.scheduler", "genplug.scheduler.version", "genplug.scheduler.config",
                          "genplug.posenc", "genplug.version", "genplug.manifest", "capDate"})
    BOOST_TEST(attrs.count(key) == 1u, key);
  // Numbers are typed attributes (docs/exr.md); the prompt is also the standard comments attribute.
  const genplug::host::ExrMetadata typed = genplug::host::read_exr_metadata(g.dir.path / "golden.exr");
  const json job = json::parse(attrs["genplug.manifest"])["jobs"][0];
  BOOST_TEST(std::get<int32_t>(typed.at("genplug.width")) == int32_t(w));
  BOOST_TEST(std::get<int32_t>(typed.at("genplug.height")) == int32_t(h));
  BOOST_TEST(std::get<int32_t>(typed.at("genplug.steps")) == g.info["sampling"]["num_steps"].get<int32_t>());
  BOOST_TEST(std::get<int32_t>(typed.at("genplug.seed")) == job.value("seed", 0));
  BOOST_TEST(std::holds_alternative<float>(typed.at("genplug.guidance")));
  BOOST_TEST(std::holds_alternative<float>(typed.at("utcOffset")));
  if (!attrs["genplug.prompt"].empty()) BOOST_TEST(attrs.at("comments") == attrs["genplug.prompt"]);
  BOOST_TEST(attrs["genplug.posenc"] == "none");
  BOOST_TEST(attrs["genplug.model"] == "org.genplug.flux");
  BOOST_TEST(json::parse(attrs["genplug.manifest"])["jobs"].size() == 1u);
}

// exr.x0_layers: the model's prediction of the final image after chosen evaluations, as EXR layers. With Euler
// the last evaluation's prediction x - sigma v is the last step itself (sigma_next = 0): that layer is the image,
// bit for bit; the first evaluation's is another picture (where the set samples more than one step).
BOOST_AUTO_TEST_CASE(x0_layers_hold_the_predictions_and_the_last_one_is_the_image) {
  GoldenRun g;
  const uint32_t n = g.info["sampling"]["num_steps"].get<uint32_t>();
  std::vector<float> final_latent, image;
  uint32_t w = 0, h = 0;
  uint64_t evaluations = 0;
  g.run("none", final_latent, image, w, h, evaluations, {{"x0_layers", n >= 2 ? json{1, n} : json{n}}});
  const fs::path exr = g.dir.path / "golden.exr";
  const std::string digits = std::to_string(n);
  auto name = [&](uint32_t e) {
    const std::string s = std::to_string(e);
    return "x0_e" + std::string(digits.size() - s.size(), '0') + s;
  };
  const auto last = genplug::host::read_exr(exr, nullptr, name(n)).planar;
  BOOST_TEST(last == genplug::host::read_exr(exr).planar, boost::test_tools::per_element());
  if (n >= 2) BOOST_TEST(differ_by_more_than(genplug::host::read_exr(exr, nullptr, name(1)).planar, last, 1e-3));

  // An evaluation the job does not make is a manifest error, before anything is written.
  fs::remove(exr);
  try {
    g.run("none", final_latent, image, w, h, evaluations, {{"x0_layers", {n + 1}}});
    BOOST_ERROR("x0_layers beyond the evaluations was accepted");
  } catch (const genplug::host::HostError& e) {
    BOOST_TEST(int(e.kind()) == int(genplug::host::ErrorKind::manifest));
    BOOST_TEST(std::string(e.what()).find("exr.x0_layers: evaluation " + std::to_string(n + 1)) != std::string::npos,
               e.what());
  }
  BOOST_TEST(!fs::exists(exr));
}

// img2img: a plate (a PNG written here) encoded by the golden VAE. Strength 1 runs the whole schedule from
// sigma_0 = 1, where the plate enters with weight 0: the final latent is text-to-image's from the same noise, bit
// for bit. A small strength runs only the last steps: the final latent stays nearer the plate's encoding than
// text-to-image's does.
BOOST_AUTO_TEST_CASE(plates_at_strength_1_are_text_to_image_and_small_strength_stays_near_the_plate) {
  GoldenRun g;
  const uint32_t n = g.info["sampling"]["num_steps"].get<uint32_t>();
  std::vector<float> txt2img, image;
  uint32_t w = 0, h = 0;
  uint64_t evaluations = 0;
  g.run("none", txt2img, image, w, h, evaluations);
  const double sigma0 = g.info["sampling"].contains("sigmas") ? g.info["sampling"]["sigmas"][0].get<double>() : 1.0;
  BOOST_REQUIRE(sigma0 == 1.0);  // the schedule starts at pure noise

  genplug::host::ImageRGB plate{int(w), int(h), std::vector<float>(3 * size_t(w) * h)};
  for (size_t i = 0; i < plate.planar.size(); ++i) plate.planar[i] = float((i * 37) % 101) / 100.0f;
  const fs::path png = g.dir.path / "plate.png";
  genplug::host::write_png(png, plate);

  auto img2img = [&](double strength, std::vector<float>& encoded) {
    std::vector<float> final_latent;
    PipelineOptions o;
    o.on_plate_latent = [&](const DLTensor& t) { encoded = genplug::host::to_cpu_float(t); };
    g.run("none", final_latent, image, w, h, evaluations, json::object(), o,
          {{"init_image", png.string()}, {"strength", strength}});
    return final_latent;
  };
  std::vector<float> encoded;
  const auto full = img2img(1.0, encoded);
  BOOST_TEST(full == txt2img, boost::test_tools::per_element());
  BOOST_TEST(evaluations == n);
  if (n < 2) return;  // a one-step set has no smaller strength than the whole schedule
  const auto small = img2img(1.0 / n, encoded);  // the last step only
  BOOST_TEST(evaluations == 1u);
  const double near = relative_error(small, encoded), far = relative_error(txt2img, encoded);
  BOOST_TEST_MESSAGE("plate latent vs final latent: strength 1/" << n << " " << near << ", text-to-image " << far);
  BOOST_TEST(near < far);
}

// The two-pass render: a job with "refine" gives, bit for bit, what rendering the job, storing it (float,
// display-referred) and rendering that as a plate at the refine size gives — in one job, with one model load.
BOOST_AUTO_TEST_CASE(refine_is_the_first_render_used_as_a_plate_at_the_larger_size) {
  GoldenRun g;
  std::vector<float> final_latent, image;
  uint32_t w = 0, h = 0;
  uint64_t evaluations = 0;
  g.run("none", final_latent, image, w, h, evaluations);  // the first pass alone, kept as golden.exr
  const uint64_t first_evaluations = evaluations;
  const fs::path first = g.dir.path / "first.exr";
  fs::rename(g.dir.path / "golden.exr", first);
  const json refine = {{"width", 2 * w}, {"height", 2 * h}, {"strength", 0.5}};

  std::vector<float> two_pass;  // the final latent of the last pass
  g.run("none", two_pass, image, w, h, evaluations, json::object(), {}, {{"refine", refine}});
  BOOST_TEST(w == refine["width"].get<uint32_t>());  // the image written is the refine pass's
  BOOST_TEST(h == refine["height"].get<uint32_t>());
  const uint64_t second_evaluations = evaluations - first_evaluations;
  BOOST_TEST(second_evaluations >= 1u);
  const auto meta = genplug::host::read_exr_metadata(g.dir.path / "golden.exr");
  BOOST_TEST(std::get<int32_t>(meta.at("genplug.width")) == int32_t(w));

  std::vector<float> by_hand;
  g.run("none", by_hand, image, w, h, evaluations, json::object(), {},
        {{"width", refine["width"]}, {"height", refine["height"]}, {"init_image", first.string()},
         {"init_colorspace", "sRGB"}, {"strength", 0.5}, {"resize", "fill"}});
  BOOST_TEST(evaluations == second_evaluations);
  BOOST_TEST(two_pass == by_hand, boost::test_tools::per_element());
}


// Previews: after every evaluation the model's prediction x0 goes to golden.png through FLUX's quick preview.
// Large enough to hold the image, the preview is the full decode, and the last one (x0 of the last Euler step)
// is the image itself, quantised; smaller, it keeps the aspect ratio within the size asked for.
BOOST_AUTO_TEST_CASE(previews_show_the_prediction_and_the_last_one_is_the_image) {
  GoldenRun g;
  std::vector<float> final_latent, image;
  uint32_t w = 0, h = 0;
  uint64_t evaluations = 0;
  PipelineOptions o;
  o.preview_every = 1;
  o.preview_max_side = 65536;
  g.run("none", final_latent, image, w, h, evaluations, json::object(), o);
  const fs::path png = g.dir.path / "golden.png";
  int pw = 0, ph = 0;
  const auto rgb = genplug::test::read_png_rgb8(png, pw, ph);
  BOOST_TEST(pw == int(w));
  BOOST_TEST(ph == int(h));
  const size_t plane = size_t(w) * h;
  size_t differ = 0;
  for (size_t c = 0; c < 3; ++c)
    for (size_t i = 0; i < plane; ++i)
      differ += rgb[3 * i + c] != png_byte(std::lround(std::clamp(image[c * plane + i], 0.0f, 1.0f) * 255.0f));
  BOOST_TEST(differ == 0u);

  o.preview_max_side = 16;
  fs::remove(png);
  g.run("none", final_latent, image, w, h, evaluations, json::object(), o);
  genplug::test::read_png_rgb8(png, pw, ph);
  const double s = 16.0 / double(std::max(w, h));
  BOOST_TEST(std::max(pw, ph) == 16);
  BOOST_TEST(pw == std::max(1L, std::lround(double(w) * s)));
  BOOST_TEST(ph == std::max(1L, std::lround(double(h) * s)));
}

BOOST_AUTO_TEST_CASE(golden_dype_sampling_is_reproduced_end_to_end) {
  GoldenRun g;
  std::vector<float> final_latent, image;
  uint32_t w = 0, h = 0;
  uint64_t evaluations = 0;
  // The set's method, as "dy-yarn (HEAD)" names it: the plugin's method is the first word.
  const std::string method = g.info["dype"]["method"].get<std::string>();
  g.run({{"plugin", "org.genplug.dype"}, {"config", {{"method", method.substr(0, method.find(' '))}}}}, final_latent,
        image, w, h, evaluations);
  const std::vector<float> dype_final = golden_tensor(*g.sample, "dype.final"), plain = golden_tensor(*g.sample, "final");
  const double err = relative_error(final_latent, dype_final);
  BOOST_TEST_MESSAGE("DyPE final latent relative error " << err);
  BOOST_TEST(err < kPlumbingBound);
  // The bound tells DyPE from plain RoPE (the spectrum reached the model) where the set's own two results lie more
  // than 2x the bound apart; how far they are is said, not asserted: it is the set's.
  BOOST_TEST_MESSAGE("this set's DyPE and plain final latents differ by " << relative_error(dype_final, plain));
}

BOOST_AUTO_TEST_CASE(half_exr_holds_the_linear_image_within_half_precision) {
  GoldenRun g;
  std::vector<float> final_latent, image;
  uint32_t w = 0, h = 0;
  uint64_t evaluations = 0;
  json m = g.manifest("none");
  m["exr"] = {{"pixel", "half"}, {"encoding", "linear"}, {"overwrite", true}};
  PipelineOptions o;
  o.on_image = [&](const std::vector<float>& planar, uint32_t, uint32_t) { image = planar; };
  Pipeline probe(Manifest::parse(m, g.dir.path / "m.json"), o);
  const uint32_t ppt = probe.model_description()["pixels_per_token"].get<uint32_t>();
  m["jobs"][0]["width"] = 2 * ppt;
  m["jobs"][0]["height"] = 3 * ppt;
  Pipeline p(Manifest::parse(m, g.dir.path / "m.json"), o);
  p.run(p.manifest().jobs[0]);
  genplug::host::ImageRGB back = genplug::host::read_exr(g.dir.path / "golden.exr");
  BOOST_REQUIRE_EQUAL(back.planar.size(), image.size());
  // The IEC 61966-2-1 decode; OCIO's continuous form of it differs by < 2.49e-4 relative (test_exr_writer).
  auto iec_decode = [](float v) {
    const double m = std::fabs(double(v)), l = m <= 0.04045 ? m / 12.92 : std::pow((m + 0.055) / 1.055, 2.4);
    return float(std::signbit(v) ? -l : l);
  };
  for (size_t i = 0; i < image.size(); ++i) {
    const float linear = iec_decode(image[i]);
    BOOST_TEST(std::fabs(back.planar[i] - linear) <= std::fabs(linear) * (0x1p-10f + 2.49e-4f) + 0x1p-24f);
  }
}

// A plate's settings on a job without a plate change nothing it renders: said once per manifest job (a batch's
// items share it).
BOOST_AUTO_TEST_CASE(settings_a_job_ignores_are_warned_of_once_per_manifest_job) {
  GoldenRun g;
  json m = g.manifest("none");
  m["jobs"][0]["strength"] = 0.3;
  m["jobs"][0]["resize"] = "fit";
  m["jobs"][0].erase("seed");
  m["jobs"][0]["seeds"] = {1, 2, 3};
  m["jobs"][0]["output"] = (g.dir.path / "s{seed}.exr").string();
  std::vector<std::string> warnings;
  const PipelineOptions o = collecting_warnings(warnings);
  const Pipeline both(Manifest::parse(m, g.dir.path / "m.json"), o);
  const auto said = [&](const std::string& text) { return count_containing(warnings, text); };
  BOOST_TEST(said("m.json: jobs[0]: strength and resize are ignored without an init_image (a plate)") == 1);
  BOOST_TEST(warnings.size() == 1u);
  // Strength alone is named alone.
  warnings.clear();
  m["jobs"][0].erase("resize");
  const Pipeline strength(Manifest::parse(m, g.dir.path / "m.json"), o);
  BOOST_TEST(said("m.json: jobs[0]: strength is ignored without an init_image") == 1);
  BOOST_TEST(warnings.size() == 1u);
}

// A job without "steps" renders the model's default count: a scheduler config's own count is then unused, and
// said so (it had been ignored silently); a job that gives its steps, or a scheduler without a count, hears nothing.
BOOST_AUTO_TEST_CASE(a_schedulers_own_step_count_that_a_job_does_not_use_is_warned_of) {
  GoldenRun g;
  json m = g.manifest("none");
  m["jobs"][0].erase("steps");
  std::vector<std::string> warnings;
  const PipelineOptions o = collecting_warnings(warnings);
  const Pipeline probe(Manifest::parse(m, g.dir.path / "m.json"), o);
  const uint32_t model_steps = probe.model_description()["defaults"]["steps"].get<uint32_t>();
  BOOST_TEST(count_containing(warnings, "step count") == 0);
  m["scheduler"]["config"]["steps"] = model_steps + 1;
  const Pipeline unused(Manifest::parse(m, g.dir.path / "m.json"), o);
  BOOST_TEST(count_containing(warnings, "m.json: jobs[0]: the scheduler's own step count (" +
                                            std::to_string(model_steps + 1) + ") is not used: a job without " +
                                            "\"steps\" renders the model's default of " +
                                            std::to_string(model_steps)) == 1);
  // Each manifest job without steps is named, even where an earlier job's schedule was the same.
  warnings.clear();
  json second = m["jobs"][0];
  second["output"] = (g.dir.path / "second.exr").string();
  m["jobs"][0]["steps"] = model_steps;
  m["jobs"].push_back(second);
  const Pipeline two(Manifest::parse(m, g.dir.path / "m.json"), o);
  BOOST_TEST(count_containing(warnings, "the scheduler's own step count") == 1);
  BOOST_TEST(count_containing(warnings, "m.json: jobs[1]: the scheduler's own step count") == 1);
  m["jobs"].erase(1);
  // A wedge gives one job several schedulers: each is asked for its own count.
  warnings.clear();
  m["jobs"][0].erase("steps");
  json wedged = m["scheduler"], other = m["scheduler"];
  other["config"]["steps"] = model_steps + 2;
  m["jobs"][0]["wedge"] = {{"scheduler", {wedged, other}}};
  m["jobs"][0]["output"] = (g.dir.path / "w{wedge}.exr").string();
  const Pipeline wedge(Manifest::parse(m, g.dir.path / "m.json"), o);
  BOOST_TEST(count_containing(warnings, "own step count (" + std::to_string(model_steps + 1) + ")") == 1);
  BOOST_TEST(count_containing(warnings, "own step count (" + std::to_string(model_steps + 2) + ")") == 1);
  m["jobs"][0].erase("wedge");
  m["jobs"][0]["output"] = (g.dir.path / "golden.exr").string();
  // A custom list of another length is the rehearsal's error, and not a warning too.
  warnings.clear();
  json custom = m;
  json sigmas = json::array();  // model_steps + 1 steps: never the default's count
  for (uint32_t i = 0; i <= model_steps + 1; ++i) sigmas.push_back(1.0 - double(i) / (model_steps + 1));
  custom["scheduler"]["config"] = {{"schedule", "custom"}, {"sigmas", sigmas}};
  BOOST_CHECK_THROW(Pipeline(Manifest::parse(custom, g.dir.path / "m.json"), o), genplug::host::HostError);
  BOOST_TEST(count_containing(warnings, "step count") == 0);
  warnings.clear();
  m["jobs"][0]["steps"] = model_steps;
  const Pipeline given(Manifest::parse(m, g.dir.path / "m.json"), o);
  BOOST_TEST(count_containing(warnings, "step count") == 0);
}

// The compression is not in the item hash, so resume keeps an output whose stored pixels are those the job would
// store (lossless to lossless: zip, piz, PXR24 on half), and renders again one stored lossily, or asked lossily,
// with another compression (a DWAA render asked as zip had been kept as up to date).
BOOST_AUTO_TEST_CASE(resume_renders_again_an_output_stored_with_another_compression_when_either_is_lossy) {
  GoldenRun g;
  json m = g.manifest("none");
  m["exr"] = {{"pixel", "half"}, {"overwrite", false}};
  std::string said;
  PipelineOptions o;
  o.log = [&](int32_t, const std::string& message) { said += message + "\n"; };
  Pipeline probe(Manifest::parse(m, g.dir.path / "m.json"), o);
  const uint32_t ppt = probe.model_description()["pixels_per_token"].get<uint32_t>();
  m["jobs"][0]["width"] = 2 * ppt;
  m["jobs"][0]["height"] = 2 * ppt;
  const fs::path out = m["jobs"][0]["output"].get<std::string>();
  // The compression asked, and whether resume keeps what is there.
  struct Step {
    const char* asked;
    bool skipped;
  };
  for (const Step step : {Step{"dwaa", false}, Step{"zip", false}, Step{"piz", true}, Step{"pxr24", true},
                          Step{"b44", false}, Step{"b44", true}, Step{"none", false}}) {
    BOOST_TEST_CONTEXT(step.asked) {
      const std::string before = fs::exists(out) ? genplug::host::exr_stored_compression(out).name : "";
      said.clear();
      m["exr"]["compression"] = step.asked;
      Pipeline p(Manifest::parse(m, g.dir.path / "m.json"), o);
      BOOST_TEST(p.run(p.manifest().jobs[0]).skipped == step.skipped);
      const std::string stored = genplug::host::exr_stored_compression(out).name;
      BOOST_TEST(stored == (step.skipped ? before : genplug::host::parse_compression(step.asked)));
      BOOST_TEST(genplug::host::exr_pixels_intact(out));
      if (!before.empty() && !step.skipped)
        BOOST_TEST(said.find("stored with " + before + " compression; the job asks for " + stored) != std::string::npos,
                   said);
    }
  }
}

BOOST_AUTO_TEST_CASE(golden_vae_decode_through_the_model_abi) {
  // decode.z of the VAE golden, packed as the model lays latents out, decoded by the plugin: the image is the
  // golden decode mapped from [-1, 1] to the ABI's [0, 1]. The VAE comes as a diffusers folder, so that its
  // config.json gives the set's scale and shift (BFL weights alone take FLUX's).
  auto vae_io = st::File::open(genplug::test::golden("vae/vae_tiny_io.safetensors"));
  const auto& z = vae_io->at("decode.z");
  const auto& out = vae_io->at("decode.out");
  const int64_t c = z.shape[1], zh = z.shape[2], zw = z.shape[3];
  TempDir vae;
  fs::copy_file(genplug::test::golden("vae/vae_tiny_diffusers.safetensors"),
                vae.path / "diffusion_pytorch_model.safetensors");
  fs::copy_file(genplug::test::golden("vae/vae_tiny_diffusers_config.json"), vae.path / "config.json");
  genplug::host::PluginCatalog catalog({genplug::host::PluginCatalog::default_search_path(), nullptr});
  genplug::CallContext ctx;
  auto model = catalog.create_model(
      "org.genplug.flux",
      {{"transformer", genplug::test::golden("flux/flux_tiny_bfl.safetensors").string()},
       {"vae", vae.path.string()},
       {"config", {{"axes_dim", genplug::test::read_json(genplug::test::golden("flux/flux_tiny_info.json"))["meta"]["params"]["axes_dim"]}}}},
      ctx);
  const uint32_t height = uint32_t(out.shape[2]), width = uint32_t(out.shape[3]);
  if (zh % 2 || zw % 2) {
    // FLUX packs 2 x 2 latent patches: a latent of odd size has no packed form, and the ABI refuses its size.
    BOOST_CHECK_EXCEPTION(model.noise(0, height, width, ctx), genplug::PluginError, [&](const genplug::PluginError& e) {
      BOOST_TEST_MESSAGE("odd latent " << zh << " x " << zw << ": " << e.what());
      return e.code() == GENPLUG_E_INVALID_ARGUMENT;
    });
    return;
  }
  std::vector<float> zv = st::to_float32(z), packed(zv.size());
  // b c (h 2) (w 2) -> b (h w) (c 2 2)
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < zh; ++y)
      for (int64_t x = 0; x < zw; ++x) {
        const int64_t token = (y / 2) * (zw / 2) + (x / 2);
        const int64_t feature = ch * 4 + (y % 2) * 2 + (x % 2);
        packed[token * c * 4 + feature] = zv[(ch * zh + y) * zw + x];
      }
  std::vector<int64_t> shape = {1, (zh / 2) * (zw / 2), c * 4};
  DLTensor t{};
  t.data = packed.data();
  t.device = {kDLCPU, 0};
  t.ndim = 3;
  t.dtype = {kDLFloat, 32, 1};
  t.shape = shape.data();
  genplug::ManagedTensor image = model.decode(t, height, width, ctx);
  std::vector<float> got = genplug::host::to_cpu_float(image.tensor());
  std::vector<float> expected = st::to_float32(out);
  for (auto& v : expected) v = (v + 1.0f) * 0.5f;
  const double err = relative_error(got, expected);
  BOOST_TEST_MESSAGE("VAE decode through the ABI, relative error " << err);
  BOOST_TEST(err < kPlumbingBound);
}

BOOST_AUTO_TEST_CASE(one_model_load_serves_jobs_that_swap_posenc_and_scheduler) {
  TempDir dir;
  json m = genplug::test::read_json(fs::path(GENPLUG_SOURCE_DIR) / "samples" / "default.json");
  // Above the model's base grid (mini: 8 x 8 tokens = 128 px), so that yarn changes the spectrum.
  json base = {{"prompt", "swap"}, {"width", 256}, {"height", 192}, {"steps", 3}, {"seed", 11}};
  json jobs = json::array();
  json a = base, b = base, c = base;
  a["posenc"] = "none";
  a["output"] = (dir.path / "a.exr").string();
  b["posenc"] = {{"plugin", "org.genplug.dype"}, {"config", {{"method", "yarn"}}}};
  b["output"] = (dir.path / "b.exr").string();
  c["scheduler"] = {{"plugin", "org.genplug.flowmatch"}, {"config", {{"mu", 1.15}, {"sampler", "heun"}}}};
  c["output"] = (dir.path / "c.exr").string();
  m["jobs"] = {a, b, c};
  std::vector<std::vector<float>> images;
  std::vector<uint64_t> total_evaluations;
  PipelineOptions o;
  o.on_image = [&](const std::vector<float>& planar, uint32_t, uint32_t) { images.push_back(planar); };
  o.progress = [&](const genplug::host::Progress& p) {
    if (p.stage == "sample" && p.evaluation == p.evaluations && p.evaluations) total_evaluations.push_back(p.evaluations);
  };
  Pipeline p(Manifest::parse(m, dir.path / "m.json"), o);
  auto results = p.run_all();
  BOOST_TEST(p.model_loads() == 1);
  BOOST_REQUIRE_EQUAL(images.size(), 3u);
  BOOST_TEST(differ_by_more_than(images[0], images[1], 1e-4));
  BOOST_TEST(differ_by_more_than(images[1], images[2], 1e-4));
  BOOST_TEST(differ_by_more_than(images[0], images[2], 1e-4));
  BOOST_TEST(results[0].evaluations == 3u);
  BOOST_TEST(results[2].evaluations == 5u);  // Heun: two evaluations per step except the last
  BOOST_TEST(total_evaluations == std::vector<uint64_t>({3, 3, 5}));
  for (const char* f : {"a.exr", "b.exr", "c.exr"}) BOOST_TEST(fs::exists(dir.path / f));
}

BOOST_AUTO_TEST_CASE(sizes_that_are_not_multiples_of_the_token_size_are_rejected_with_the_nearest) {
  TempDir dir;
  json m = genplug::test::read_json(fs::path(GENPLUG_SOURCE_DIR) / "samples" / "default.json");
  m["jobs"][0]["width"] = 100;
  m["jobs"][0]["output"] = (dir.path / "x.exr").string();
  try {
    Pipeline p(Manifest::parse(m, "m.json"), {});
    BOOST_FAIL("accepted");
  } catch (const genplug::host::HostError& e) {
    BOOST_TEST(std::string(e.what()).find("jobs[0].width: 100 is not a multiple of 16 (nearest valid: 96 or 112)") !=
               std::string::npos, e.what());
  }
}

// A signal during the checks before rendering stops them (a batch's take tens of seconds): with the cancel flag
// set, the checks stop before the model loads (no "load" progress), also in a shard whose item indices are all
// odd; the error is a cancellation, and nothing is written.
BOOST_AUTO_TEST_CASE(a_set_cancel_flag_stops_the_checks_before_rendering) {
  TempDir dir;
  json m = genplug::test::read_json(fs::path(GENPLUG_SOURCE_DIR) / "samples" / "default.json");
  m["jobs"][0].erase("seed");
  m["jobs"][0]["seeds"] = {1, 2};
  m["jobs"][0]["output"] = (dir.path / "x_{index}.exr").string();
  std::atomic<bool> cancel{true};
  for (const uint64_t shard : {0, 1}) {
    Manifest manifest = Manifest::parse(m, "m.json");
    manifest.jobs = genplug::host::select_shard(std::move(manifest.jobs), {shard, 2});
    std::vector<std::string> stages;
    PipelineOptions o;
    o.cancel = &cancel;
    o.progress = [&](const genplug::host::Progress& p) { stages.push_back(p.stage); };
    try {
      Pipeline p(std::move(manifest), o);
      BOOST_FAIL("the checks ran to the end with the cancel flag set");
    } catch (const genplug::host::HostError& e) {
      BOOST_TEST(int(e.kind()) == int(genplug::host::ErrorKind::cancelled));
      BOOST_TEST(std::string(e.what()) == "m.json: jobs[0] (item " + std::to_string(shard) + "): cancelled before rendering");
    }
    BOOST_TEST(stages.empty(), "shard " << shard << ": the model loaded first");
  }
  BOOST_TEST(fs::is_empty(dir.path));
}

// LoRAs per job on one model load: a job with "loras": [] renders from the base weights exactly as a model
// created without LoRAs does, and the next job without "loras" gets the model's own LoRA back bit for bit.
namespace {
// `m` with the model's own LoRAs replaced by the one file `lora`.
json m_with_model_loras(json m, const fs::path& lora) {
  m["model"]["config"]["loras"] = json::array({{{"path", lora.string()}, {"scale", 1.0}}});
  return m;
}
}  // namespace

BOOST_AUTO_TEST_CASE(per_job_loras_swap_without_reloading_and_restore_exactly) {
  GoldenRun g;
  // A rank-4 LoRA on the first block's attention (a double block's image qkv, or a single block's linear1 where
  // the set has no double blocks), BFL keys, deterministic values.
  const auto bfl = st::File::open(genplug::test::golden("flux/flux_tiny_bfl.safetensors"));
  const std::string module = genplug::test::flux_first_attention_module(g.info["meta"]["params"]["depth"]);
  const auto& qkv = bfl->at(module + ".weight").shape;
  std::vector<float> a(size_t(4 * qkv[1])), b(size_t(qkv[0] * 4));
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(std::sin(0.7 * double(i))) * 0.2f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = float(std::cos(1.3 * double(i))) * 0.2f;
  const fs::path lora = g.dir.path / "lora.safetensors";
  st::write_file(lora, {st::TensorData::from_floats("diffusion_model." + module + ".lora_A.weight", {4, qkv[1]}, a),
                        st::TensorData::from_floats("diffusion_model." + module + ".lora_B.weight", {qkv[0], 4}, b)});

  auto run_jobs = [&](json m, const std::vector<json>& loras_per_job) {
    std::vector<std::vector<float>> finals;
    PipelineOptions o;
    o.on_final_latent = [&](const DLTensor& latent) { finals.push_back(genplug::host::to_cpu_float(latent)); };
    const json base_job = m["jobs"][0];
    m["jobs"] = json::array();
    for (size_t i = 0; i < loras_per_job.size(); ++i) {
      json job = base_job;
      job["output"] = (g.dir.path / ("j" + std::to_string(i) + "_" + std::to_string(loras_per_job.size()) + ".exr")).string();
      if (!loras_per_job[i].is_null()) job["loras"] = loras_per_job[i];
      m["jobs"].push_back(job);
    }
    Pipeline probe(Manifest::parse(m, g.dir.path / "m.json"), o);
    const uint32_t ppt = probe.model_description()["pixels_per_token"].get<uint32_t>();
    for (auto& job : m["jobs"]) {
      job["height"] = g.info["grid_tokens_hw"][0].get<uint32_t>() * ppt;
      job["width"] = g.info["grid_tokens_hw"][1].get<uint32_t>() * ppt;
    }
    Pipeline p(Manifest::parse(m, g.dir.path / "m.json"), o);
    p.run_all();
    BOOST_TEST(p.model_loads() == 1);
    return finals;
  };
  const auto plain = run_jobs(g.manifest("none"), {json()});
  json with_lora = g.manifest("none");
  with_lora["model"]["config"]["loras"] = json::array({{{"path", lora.string()}, {"scale", 1.0}}});
  const auto swapped = run_jobs(with_lora, {json(), json::array(), json()});
  BOOST_REQUIRE_EQUAL(swapped.size(), 3u);
  BOOST_TEST(differ_by_more_than(swapped[0], plain[0], 1e-4));  // the model's LoRA changes the render
  BOOST_TEST(swapped[1] == plain[0], boost::test_tools::per_element());     // "loras": [] is the base, exactly
  BOOST_TEST(swapped[2] == swapped[0], boost::test_tools::per_element());   // and the model's LoRA comes back
  // A job's LoRA given as a folder holding the file is read as the model's config.loras reads one (its
  // *.safetensors as shards): the same render as the file in config.loras.
  fs::create_directories(g.dir.path / "lora_folder");
  fs::copy_file(lora, g.dir.path / "lora_folder" / "pytorch_lora_weights.safetensors");
  const auto from_folder = run_jobs(g.manifest("none"),
                                    {json::array({{{"path", (g.dir.path / "lora_folder").string()}, {"scale", 1.0}}})});
  BOOST_REQUIRE_EQUAL(from_folder.size(), 1u);
  BOOST_TEST(from_folder[0] == swapped[0], boost::test_tools::per_element());
  // A job's LoRA file that does not exist is a manifest error before anything runs, naming the job and file.
  try {
    run_jobs(with_lora, {json(), json::array({{{"path", (g.dir.path / "absent.safetensors").string()}}})});
    BOOST_FAIL("accepted");
  } catch (const genplug::host::HostError& e) {
    BOOST_TEST(e.exit_code() == 3);
    BOOST_TEST(std::string(e.what()).find("loras[0].path: '" + (g.dir.path / "absent.safetensors").string() +
                                          "' is no file or folder (nothing is there)") != std::string::npos,
               e.what());
  }
  // One that is there but no file nor folder says what it is (it had read "is no file or folder" for a device).
  try {
    run_jobs(with_lora, {json(), json::array({{{"path", "/dev/null"}}})});
    BOOST_FAIL("accepted");
  } catch (const genplug::host::HostError& e) {
    BOOST_TEST(e.exit_code() == 3);
    BOOST_TEST(std::string(e.what()).find("loras[0].path: '/dev/null' is no file or folder (a device, FIFO or "
                                          "socket)") != std::string::npos,
               e.what());
  }
  // One that exists but does not fit is a manifest error (3) before anything renders, as the same file in the
  // model's config.loras is, naming the job, its loras and the file (it had failed its job, after the jobs before
  // it had rendered). An empty folder, likewise.
  const fs::path junk = g.dir.path / "junk.safetensors";
  st::write_file(junk, {st::TensorData::from_floats("diffusion_model." + module + ".lora_A.weight", {4, 3}, std::vector<float>(12, 0.f)),
                        st::TensorData::from_floats("diffusion_model." + module + ".lora_B.weight", {5, 4}, std::vector<float>(20, 0.f))});
  fs::create_directories(g.dir.path / "empty_folder");
  std::vector<std::vector<float>> finals;
  PipelineOptions o;
  o.on_final_latent = [&](const DLTensor& latent) { finals.push_back(genplug::host::to_cpu_float(latent)); };
  json m = with_lora;
  const uint32_t ppt =
      Pipeline(Manifest::parse(m, g.dir.path / "m.json"), {}).model_description()["pixels_per_token"].get<uint32_t>();
  json job = m["jobs"][0];
  job["height"] = g.info["grid_tokens_hw"][0].get<uint32_t>() * ppt;
  job["width"] = g.info["grid_tokens_hw"][1].get<uint32_t>() * ppt;
  json bad = job, after = job;
  bad["output"] = (g.dir.path / "bad.exr").string();
  after["output"] = (g.dir.path / "after.exr").string();
  using Case = std::pair<fs::path, std::string>;
  for (const auto& [file, text] : {Case{junk, "loras: " + junk.string() + ": LoRA module"},
                                   Case{g.dir.path / "empty_folder", "folder has no *.safetensors files"}}) {
    bad["loras"] = json::array({{{"path", file.string()}}});
    m["jobs"] = {after, bad};
    try {
      Pipeline p(Manifest::parse(m, g.dir.path / "m.json"), o);
      BOOST_ERROR("a LoRA that does not fit was accepted in jobs[1]: " << file);
    } catch (const genplug::host::HostError& e) {
      const std::string message = e.what();
      BOOST_TEST(e.exit_code() == 3, message);
      BOOST_TEST(message.find("m.json: jobs[1].loras: ") != std::string::npos, message);
      BOOST_TEST(message.find(text) != std::string::npos, message);
    }
    BOOST_TEST(finals.empty());
    BOOST_TEST(!fs::exists(after["output"].get<std::string>()));
  }
  // An item rendered with a LoRA is up to date on resume whatever its file holds now (the item hash covers its
  // path and scale): its LoRA is not checked again, so a file replaced in place is no error (the check had refused
  // such a resume with exit 3).
  {
    const fs::path replaced = g.dir.path / "replaced.safetensors";
    fs::copy_file(lora, replaced);
    json done = job;
    done["loras"] = json::array({{{"path", replaced.string()}}});
    done["output"] = (g.dir.path / "done.exr").string();
    m["jobs"] = {done};
    m["exr"]["overwrite"] = false;  // resume
    Pipeline(Manifest::parse(m, g.dir.path / "m.json"), {}).run_all();
    fs::copy_file(junk, replaced, fs::copy_options::overwrite_existing);
    Pipeline resumed(Manifest::parse(m, g.dir.path / "m.json"), {});
    BOOST_TEST(resumed.run(resumed.manifest().jobs[0]).skipped);
    m["exr"]["overwrite"] = true;
  }
  // What only the values tell (a NaN factor) fails its job; the model keeps its LoRAs, so the next job renders as
  // before.
  std::vector<float> nan_a = a;
  nan_a[1] = std::nanf("");
  const fs::path nan_file = g.dir.path / "nan_first.safetensors";
  st::write_file(nan_file, {st::TensorData::from_floats("diffusion_model." + module + ".lora_A.weight", {4, qkv[1]}, nan_a),
                            st::TensorData::from_floats("diffusion_model." + module + ".lora_B.weight", {qkv[0], 4}, b)});
  bad["loras"] = json::array({{{"path", nan_file.string()}}});
  m["jobs"] = {bad, after};
  Pipeline p(Manifest::parse(m, g.dir.path / "m.json"), o);
  BOOST_CHECK_EXCEPTION(p.run(p.manifest().jobs[0]), genplug::host::HostError, [&](const genplug::host::HostError& e) {
    const std::string m = e.what();
    BOOST_TEST(e.exit_code() == 3, m);
    BOOST_TEST(m.find("jobs[0]") != std::string::npos, m);
    BOOST_TEST(m.find("loras: " + nan_file.string()) != std::string::npos, m);
    return true;
  });
  p.run(p.manifest().jobs[1]);
  BOOST_REQUIRE_EQUAL(finals.size(), 1u);
  BOOST_TEST(finals[0] == swapped[0], boost::test_tools::per_element());
  try {
    Pipeline from_config(Manifest::parse(m_with_model_loras(with_lora, junk), g.dir.path / "m.json"), {});
    BOOST_FAIL("a LoRA that does not fit was accepted in config.loras");
  } catch (const genplug::host::HostError& e) {
    BOOST_TEST(e.exit_code() == 3, e.what());
    BOOST_TEST(std::string(e.what()).find("config.loras: " + junk.string()) != std::string::npos, e.what());
  }

  // A job with the LoRA `name` of rank-4 factors `down` and `up` on `module` (of weight shape `target`) fails: its
  // error, and no output left.
  auto failed_job = [&](const std::string& name, const std::string& module, const std::vector<int64_t>& target,
                        const std::vector<float>& down, const std::vector<float>& up) {
    const fs::path file = g.dir.path / (name + ".safetensors");
    st::write_file(file, {st::TensorData::from_floats("diffusion_model." + module + ".lora_A.weight", {4, target[1]}, down),
                          st::TensorData::from_floats("diffusion_model." + module + ".lora_B.weight", {target[0], 4}, up)});
    json with_lora = job;
    with_lora["loras"] = json::array({{{"path", file.string()}}});
    with_lora["output"] = (g.dir.path / (name + ".exr")).string();
    m["jobs"] = {with_lora};
    Pipeline q(Manifest::parse(m, g.dir.path / "m.json"), o);
    std::pair<int, std::string> error{0, "no error"};
    try {
      q.run(q.manifest().jobs[0]);
    } catch (const genplug::host::HostError& e) {
      error = {e.exit_code(), e.what()};
    }
    BOOST_TEST(!fs::exists(g.dir.path / (name + ".exr")), name);
    return error;
  };
  // NaN in a factor is the file's fault, named with the tensor, before any image is NaN (it had been reported as
  // the model's predict producing NaN, exit 5).
  std::vector<float> nan_b = b;
  nan_b[3] = std::nanf("");
  const auto [nan_code, nan_message] = failed_job("nan", module, qkv, a, nan_b);
  BOOST_TEST(nan_code == 3, nan_message);
  BOOST_TEST(nan_message.find("nan.safetensors: LoRA module '") != std::string::npos, nan_message);
  BOOST_TEST(nan_message.find("lora_B.weight' holds NaN or infinite values") != std::string::npos, nan_message);

  // Finite factors so large that the forward overflows: a runtime error at the first evaluation (5), which names the
  // job's LoRAs as the likely cause. On img_in, every merged weight is 2.56e38 times a sign (finite in float32: the
  // merge refuses one that is not), row j taking the signs s of rank j mod 4; so each token's embedding is 2.56e38
  // <s, x> for four sign patterns s, over the first latent x, noise: float32 overflows where |<s, x>| > 1.33, which
  // some token and pattern reach on any latent of a few values (for N(0, 1) values, <s, x> is N(0, channels)), and
  // the LayerNorm after makes NaN of infinity.
  const auto& img_in = bfl->at("img_in.weight").shape;
  std::vector<float> huge_a(size_t(4 * img_in[1])), huge_b(size_t(img_in[0] * 4), 0.f);
  for (size_t i = 0; i < huge_a.size(); ++i) huge_a[i] = std::sin(0.7 * double(i) + 0.1) < 0 ? -8e18f : 8e18f;
  for (size_t j = 0; j < size_t(img_in[0]); ++j) huge_b[j * 4 + j % 4] = 3.2e19f;
  const auto [huge_code, huge_message] = failed_job("huge", "img_in", img_in, huge_a, huge_b);
  BOOST_TEST(huge_code == 5, huge_message);
  BOOST_TEST(huge_message.find("non-finite") != std::string::npos, huge_message);
  BOOST_TEST(huge_message.find("at evaluation 1 of") != std::string::npos, huge_message);
  BOOST_TEST(huge_message.find(". LoRAs are merged (jobs[0].loras): a factor or strength too large") != std::string::npos,
             huge_message);
}
