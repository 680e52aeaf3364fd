// A second, non-FLUX model through the reference host (ABI 1.1): two spatial rotary axes and no index axis, a
// channel-first latent, no tensor library. The host takes every number from the model's geometry; DyPE
// rescales exactly the axes the model flags spatial; sampling makes no tensor copy, with the host's CPU
// operations or the model's own.
#define BOOST_TEST_MODULE grid_model
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include <genplug/host/manifest.hpp>
#include <genplug/host/pipeline.hpp>
#include <genplug/host/tensor_ops.hpp>

#include "grid_model/grid_formula.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using genplug::host::Manifest;
using genplug::host::Pipeline;
using genplug::host::PipelineOptions;
using nlohmann::json;

namespace {

const char* kPrompt = "three red squares on a checker";

const json kEuler = {{"sampler", "euler"}, {"schedule", "none"}};

json manifest(const fs::path& out, const json& model_config, const json& posenc, const json& scheduler = kEuler) {
  json m = {{"model", {{"plugin", "org.genplug.test.grid"}, {"config", model_config}}},
            {"scheduler", {{"plugin", "org.genplug.flowmatch"}, {"config", scheduler}}},
            {"jobs", json::array({{{"prompt", kPrompt}, {"seed", 3}, {"output", out.string()}}})}};
  if (!posenc.is_null()) m["posenc"] = posenc;
  return m;
}

struct Render {
  genplug::host::JobResult result;
  std::vector<float> final_latent;
  std::vector<std::string> log;
  genplug_geometry_t geometry{};
  std::vector<double> sigmas;
};

Render render(const json& model_config, const json& posenc = {{"plugin", "org.genplug.dype"}, {"config", {{"method", "dy-yarn"}}}},
              const json& scheduler_config = kEuler) {
  genplug::test::TempDir dir("grid");
  Render r;
  PipelineOptions o;
  o.extra_plugin_path = {GENPLUG_GRID_DIR};
  o.on_final_latent = [&](const DLTensor& t) { r.final_latent = genplug::host::to_cpu_float(t); };
  o.log = [&](int32_t, const std::string& line) { r.log.push_back(line); };
  Pipeline p(Manifest::parse(manifest(dir.path / "grid.exr", model_config, posenc, scheduler_config), dir.path / "m.json"), o);
  r.result = p.run(p.manifest().jobs[0]);
  BOOST_TEST(fs::is_regular_file(dir.path / "grid.exr"));
  genplug::CallContext ctx;
  auto model = p.catalog().create_model("org.genplug.test.grid", json::object(), ctx);
  r.geometry = model.geometry(0, 0, 0, ctx);
  auto scheduler = p.catalog().create_scheduler("org.genplug.flowmatch", scheduler_config, ctx);
  r.sigmas = scheduler.sigmas(r.geometry.default_steps, r.geometry.image_tokens, ctx);
  return r;
}

// The spectrum DyPE gives the grid model's layout at `extent` and time t.
genplug::Spectrum dype(const genplug::RotaryLayout& layout, const std::vector<uint32_t>& extent, double t) {
  genplug::host::PluginCatalog::Options o;
  o.search_path = genplug::host::PluginCatalog::default_search_path();
  genplug::host::PluginCatalog catalog(o);
  genplug::CallContext ctx;
  return catalog.create_posenc("org.genplug.dype", {{"method", "dy-yarn"}}, ctx).compute(layout, extent, t, ctx);
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_host_renders_a_two_axis_model_with_dype_from_its_geometry_alone) {
  const Render r = render(json::object());
  const genplug_geometry_t& g = r.geometry;
  BOOST_TEST(r.result.width == g.width);  // the model's default size and steps, not the host's
  BOOST_TEST(r.result.steps == g.default_steps);
  BOOST_TEST(r.result.evaluations == g.default_steps);
  BOOST_TEST(r.result.tensor_copies == 0);
  // Euler with the exact velocity lands on the clean picture of the last evaluation's spectrum: DyPE's, for
  // the extent the model stated, at t = the last non-zero sigma.
  const double t_last = r.sigmas.at(r.sigmas.size() - 2);
  const genplug::Spectrum s = dype(genplug::RotaryLayout::from_geometry(g), {g.target_extent[0], g.target_extent[1]}, t_last);
  const std::vector<float> color = grid::color_of(kPrompt);
  const std::vector<float> x0 = grid::clean_picture(color.data(), g.target_extent[0], g.target_extent[1],
                                                    s.freqs.data(), s.amplitude.data());
  BOOST_REQUIRE_EQUAL(r.final_latent.size(), x0.size());
  double worst = 0;
  for (size_t i = 0; i < x0.size(); ++i) worst = std::max(worst, double(std::fabs(r.final_latent[i] - x0[i])));
  BOOST_TEST_MESSAGE("final latent vs closed form: max abs error " << worst);
  BOOST_TEST(worst < 1e-5);  // float32 Euler steps on values of order 1 (6 steps, each rounding ~6e-8)
}

BOOST_AUTO_TEST_CASE(dype_rescales_exactly_the_axes_the_model_flags_spatial) {
  const Render r = render(json::object());
  genplug::RotaryLayout layout = genplug::RotaryLayout::from_geometry(r.geometry);
  BOOST_REQUIRE_EQUAL(layout.axis_dims.size(), 2u);
  const double yarn_mscale = 0.1 * std::log(2.0) + 1.0;  // s = 2 on an axis flagged spatial
  auto both = dype(layout, {2 * grid::kBase, 2 * grid::kBase}, 1.0);
  BOOST_TEST(both.amplitude[0] == yarn_mscale);  // axis 0 is spatial here: ABI 1.0 would never have scaled it
  BOOST_TEST(both.amplitude[1] == yarn_mscale);
  auto rows_only = dype(layout, {2 * grid::kBase, grid::kBase}, 1.0);
  BOOST_TEST(rows_only.amplitude[0] == yarn_mscale);
  BOOST_TEST(rows_only.amplitude[1] == 1.0);
  layout.axis_flags = {0, GENPLUG_AXIS_SPATIAL};  // the same layout with axis 0 unflagged: left alone
  auto unflagged = dype(layout, {2 * grid::kBase, 2 * grid::kBase}, 1.0);
  BOOST_TEST(unflagged.amplitude[0] == 1.0);
  BOOST_TEST(unflagged.amplitude[1] == yarn_mscale);
}

BOOST_AUTO_TEST_CASE(the_models_own_tensor_operations_serve_the_scheduler_without_copies) {
  const Render host_ops = render(json::object());
  const Render model_ops = render({{"tensor_ops", true}});
  auto count = [](const Render& r, const std::string& needle) {
    return std::count_if(r.log.begin(), r.log.end(), [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  };
  BOOST_TEST(count(host_ops, "grid tensor_ops") == 0);
  BOOST_TEST(count(model_ops, "grid tensor_ops: linear_combination") == long(model_ops.result.evaluations));
  BOOST_TEST(count(model_ops, "grid tensor_ops: empty_like") >= 1);
  BOOST_TEST(model_ops.result.tensor_copies == 0);
  BOOST_TEST(host_ops.final_latent == model_ops.final_latent);  // the same float arithmetic, either side
}

BOOST_AUTO_TEST_CASE(plain_rope_when_the_job_names_no_posenc) {
  const Render r = render(json::object(), nullptr);
  const genplug_geometry_t& g = r.geometry;
  std::vector<double> freqs;
  for (int axis = 0; axis < 2; ++axis)
    for (uint32_t j = 0; j < grid::kDim / 2; ++j) freqs.push_back(std::pow(grid::kTheta, -2.0 * j / grid::kDim));
  const double one[2] = {1.0, 1.0};
  const std::vector<float> color = grid::color_of(kPrompt);
  const auto x0 = grid::clean_picture(color.data(), g.target_extent[0], g.target_extent[1], freqs.data(), one);
  double worst = 0;
  for (size_t i = 0; i < x0.size(); ++i) worst = std::max(worst, double(std::fabs(r.final_latent[i] - x0[i])));
  BOOST_TEST(worst < 1e-5);
}

// A warning the checks before the jobs gave is not given again when the job computes its schedule again:
// flowmatch's zero-length steps, at a pinned mu so large that float32 rounds every sigma but the last to 1. It had
// been printed twice.
BOOST_AUTO_TEST_CASE(a_warning_is_given_once) {
  const Render r = render(json::object(), nullptr, {{"sampler", "euler"}, {"schedule", "flux"}, {"mu", 40}});
  const auto warnings = std::count_if(r.log.begin(), r.log.end(), [](const std::string& l) {
    return l.find(" steps have zero length (mu = 40") != std::string::npos;
  });
  BOOST_TEST(warnings == 1, [&] {
    std::string all;
    for (const auto& l : r.log) all += l + "\n";
    return all;
  }());
  BOOST_TEST(r.result.evaluations == r.geometry.default_steps);  // each zero-length step still evaluated
}

// A job whose working memory (the model's estimate) exceeds the limit is refused before anything is created or
// written, naming the job, the estimate and the limit; "off" (0) lifts the check.
BOOST_AUTO_TEST_CASE(a_job_that_cannot_fit_is_refused_before_it_starts) {
  genplug::test::TempDir dir("grid-memory");
  PipelineOptions o;
  o.extra_plugin_path = {GENPLUG_GRID_DIR};
  o.memory_limit = 1024;  // bytes
  try {
    Pipeline p(Manifest::parse(manifest(dir.path / "grid.exr", json::object(), nullptr), dir.path / "m.json"), o);
    BOOST_ERROR("a job over the memory limit was accepted");
  } catch (const genplug::host::HostError& e) {
    BOOST_TEST(int(e.kind()) == int(genplug::host::ErrorKind::manifest));
    BOOST_TEST(std::string(e.what()).find("jobs[0]") != std::string::npos, e.what());
    BOOST_TEST(std::string(e.what()).find("the limit given is 1024 bytes") != std::string::npos, e.what());
  }
  BOOST_TEST(!fs::exists(dir.path / "grid.exr"));
  o.memory_limit = 0;
  Pipeline p(Manifest::parse(manifest(dir.path / "grid.exr", json::object(), nullptr), dir.path / "m.json"), o);
  BOOST_TEST(fs::exists(p.run(p.manifest().jobs[0]).output));
}
