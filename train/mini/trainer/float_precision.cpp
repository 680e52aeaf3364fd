// genplug-mini-precision: how far float32 rounding moves the mini model's sampling trajectory, measured
// against the same trajectory in float64 — the base figure of test_mini_model's stability bound
// (docs/mini-model.md, "Stability"). For each prompt: BFL noise for the seed, the prompt's conditioning
// through the plugin's text encoders, FLUX's shifted schedule (mu of 64 tokens), plain RoPE, Euler; the
// same weights run as float32 and as float64 (float64 throughout: the plugin's float32 islands — RMSNorm,
// rotary, the timestep embedding — keep float64 inputs wide, and the rotary tables here are not rounded to
// float32); true CFG as the preset's default guides (--true-cfg-scale). Prints
// max |x32 - x64| / max |x64| of the final latent.
#include <ATen/CPUGeneratorImpl.h>
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <torch/types.h>
#include <torch/utils.h>

#include <genplug/flux/latent_packing.hpp>
#include <genplug/flux/mini_model_files.hpp>
#include <genplug/flux/rotary.hpp>
#include <genplug/flux/transformer.hpp>
#include <genplug/flux/weights.hpp>

#include "mini_architecture.hpp"
#include "text_encoders.hpp"
#include "tool_main.hpp"

using namespace genplug;

namespace {

std::vector<double> flux_sigmas(int steps, int64_t image_tokens) {
  const double mu = 0.5 + (double(image_tokens) - 256.0) * (1.15 - 0.5) / (4096.0 - 256.0);
  std::vector<double> s;
  for (int i = 0; i <= steps; ++i) {
    const double t = 1.0 - double(i) / steps;
    s.push_back(t <= 0 ? 0.0 : std::exp(mu) / (std::exp(mu) + (1.0 / t - 1.0)));
  }
  return s;
}

// Euler; with cfg_scale > 1 the plugin's true CFG, v = v_neg + s (v - v_neg), from the empty prompt's `negative`.
torch::Tensor sample(const flux::FluxTransformer& model, torch::Tensor x, const flux::TextConditioning& c,
                     const flux::TextConditioning& negative, double cfg_scale, const flux::RotaryTables& pe,
                     const std::vector<double>& sigmas) {
  const auto dtype = model.dtype();
  x = x.to(dtype);
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    // The float32 timestep, embedded in the model's dtype (float64: exactly).
    const torch::Tensor t = torch::full({1}, sigmas[i], torch::kFloat32).to(dtype);
    torch::Tensor v = model.forward(x, c.txt.to(dtype), t, c.vec.to(dtype), torch::Tensor(), pe);
    if (cfg_scale > 1.0) {
      const torch::Tensor v_neg = model.forward(x, negative.txt.to(dtype), t, negative.vec.to(dtype), torch::Tensor(), pe);
      v = v_neg + cfg_scale * (v - v_neg);
    }
    x = x + (sigmas[i + 1] - sigmas[i]) * v;
  }
  return x;
}

}  // namespace

// The prompts of `path` (blank lines and # comments skipped): at least one, or a UsageError naming --prompts.
std::vector<std::string> read_prompts(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (std::filesystem::is_directory(path) || !in) throw mini::UsageError("--prompts " + path.string() + ": cannot read");
  std::vector<std::string> prompts;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') prompts.push_back(line);
  if (prompts.empty()) throw mini::UsageError("--prompts " + path.string() + ": holds no prompt");
  return prompts;
}

int run_precision(int argc, char** argv) {
  CLI::App app{"float32 vs float64 sampling of the mini model: the rounding a CPU's kernels can move a render by"};
  std::filesystem::path folder = "models/mini", prompts_file = "samples/mini/prompts.txt";
  uint64_t seed = 0;
  int steps = 20;
  double cfg_scale = flux::kMiniTrueCfgScale;
  app.add_option("--model", folder, "mini model folder")->capture_default_str();
  app.add_option("--prompts", prompts_file, "prompts, one per line")->capture_default_str();
  app.add_option("--seed", seed, "noise seed")->check(mini::kNotNegative)->capture_default_str();
  app.add_option("--steps", steps, "Euler steps")->check(mini::kAtLeastOne)->capture_default_str();
  app.add_option("--true-cfg-scale", cfg_scale, "guidance from the empty prompt (the preset's default)")
      ->check(mini::kFinite)->capture_default_str();
  if (const int rc = mini::parse_or_exit(app, argc, argv); rc >= 0) return rc;
  // Read first: a worst deviation over no prompts would print 0 and look like a result.
  const std::vector<std::string> prompts = read_prompts(prompts_file);
  const flux::MiniModelFiles files{folder};
  if (!std::filesystem::is_regular_file(files.transformer()))
    throw mini::UsageError("--model " + folder.string() + ": no " + files.transformer().string());

  torch::NoGradGuard no_grad;
  const flux::FluxConfig config = mini::transformer_config();
  const safetensors::Checkpoint checkpoint(files.transformer());
  const flux::TensorMap weights = flux::load_tensors(checkpoint, torch::kFloat32, torch::kCPU);
  const flux::FluxTransformer f32(weights, config, torch::kFloat32), f64(weights, config, torch::kFloat64);
  mini::PromptEncoder text(files);
  const int64_t grid = mini::kTrainingSize / 16;
  const auto ids = flux::flux_position_ids(mini::kTextTokens, grid, grid);
  const auto spectrum = flux::plain_spectrum(config.axes_dim, config.theta);
  const auto pe32 = flux::rotary_tables(ids, spectrum, torch::kCPU);
  const flux::RotaryTables pe64 = flux::rotary_tables_float64(ids, spectrum);
  const auto sigmas = flux_sigmas(steps, grid * grid);

  const flux::TextConditioning negative = text.encode({""});
  double worst = 0;
  for (const std::string& prompt : prompts) {
    auto gen = at::detail::createCPUGenerator(seed);
    const torch::Tensor noise = flux::pack_latent(torch::randn({1, 16, 2 * grid, 2 * grid}, gen, torch::kFloat32));
    const flux::TextConditioning c = text.encode({prompt});
    const torch::Tensor x32 = sample(f32, noise, c, negative, cfg_scale, pe32, sigmas),
                        x64 = sample(f64, noise, c, negative, cfg_scale, pe64, sigmas);
    const double deviation = ((x32.to(torch::kFloat64) - x64).abs().max() / x64.abs().max()).item<double>();
    worst = std::max(worst, deviation);
    std::printf("%.3e  %s\n", deviation, prompt.c_str());
  }
  std::printf("worst %.3e (max |x32 - x64| / max |x64| of the final latent, %d steps, seed %llu, true CFG %g)\n",
              worst, steps, static_cast<unsigned long long>(seed), cfg_scale);
  return 0;
}

int main(int argc, char** argv) {
  return mini::guarded_main("genplug-mini-precision", [&] { return run_precision(argc, argv); });
}
