// genplug-train-mini: trains the mini model (docs/mini-model.md) from a seed and writes its folder — the
// files "preset": "mini" loads. Phases: text encoders (frozen, random), autoencoder, latent factors,
// transformer. Progress (loss, ETA) on the terminal; losses as CSV; transformer checkpoints.
#include <cstdio>
#include <fstream>

#include <CLI/CLI.hpp>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>
#include <torch/utils.h>

#include <genplug/flux/blas_threads.hpp>
#include <genplug/flux/mini_model_files.hpp>
#include <genplug/flux/presets.hpp>

#include "loss_plot.hpp"
#include "mini_architecture.hpp"
#include "text_encoders.hpp"
#include "transformer_training.hpp"
#include "vae_training.hpp"
#include "weights_io.hpp"

namespace fs = std::filesystem;
using namespace genplug;
using namespace genplug::mini;

namespace {

void write_vae(const flux::MiniModelFiles& files, const flux::Autoencoder& vae, const flux::AutoencoderConfig& factors) {
  save_tensors(files.vae(), vae.state_dict(), {{"format", "pt"}, {"genplug.model", "mini"}});
  std::vector<int64_t> block_out;
  for (int64_t m : factors.ch_mult) block_out.push_back(factors.ch * m);
  const nlohmann::json config = {{"_class_name", "AutoencoderKL"},       {"latent_channels", factors.z_channels},
                                 {"block_out_channels", block_out},       {"layers_per_block", factors.num_res_blocks},
                                 {"in_channels", factors.in_channels},    {"out_channels", factors.out_ch},
                                 {"norm_num_groups", factors.norm_groups},
                                 {"scaling_factor", factors.scale_factor}, {"shift_factor", factors.shift_factor}};
  std::ofstream(files.vae_config()) << config.dump(2) << '\n';
}

double minutes_since(const std::chrono::steady_clock::time_point& start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Trains genplug's mini model (docs/mini-model.md) and writes the folder \"preset\": \"mini\" loads"};
  fs::path out = "models/mini";
  std::uint64_t seed = 0;
  // Measured on the 2-core machine (docs/mini-model.md §6): the convolutions want both cores. The transformer
  // phase renders and encodes its scenes on a second thread (prefetched.hpp) while the step trains with two
  // intra-op threads and OpenBLAS on one: 0.71 s/step, against 0.87 with OpenBLAS on two and 1.27 with one
  // intra-op thread.
  int vae_threads = 2, transformer_threads = 2, transformer_blas_threads = 1;
  std::string only = "all";
  int factor_scenes = 512;
  VaeTraining vae_options;
  TransformerTraining flux_options;
  app.add_option("--out", out, "model folder to write")->capture_default_str();
  app.add_option("--seed", seed, "seed of weights, scenes and noise")->capture_default_str();
  app.add_option("--vae-threads", vae_threads, "libtorch intra-op threads for the autoencoder")->capture_default_str();
  app.add_option("--transformer-threads", transformer_threads, "libtorch intra-op threads for the transformer")
      ->capture_default_str();
  app.add_option("--transformer-blas-threads", transformer_blas_threads,
                 "OpenBLAS threads for the transformer (0: leave OpenBLAS's pool as it loaded)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--only", only,
                 "all | text | vae | transformer (vae: text encoders and autoencoder; transformer: reuses the "
                 "folder's VAE and text encoders; text: only redraws the tokenizers and text encoders)")
      ->check(CLI::IsMember({"all", "text", "vae", "transformer"}))->capture_default_str();
  T5Attention t5_attention = T5Attention::windows;  // docs/mini-model.md §7: colours and places bound to objects
  app.add_option("--t5-attention", t5_attention,
                 "what the frozen T5's heads read: content (the plugin's random draw) or windows (fixed windows of "
                 "neighbouring words)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, T5Attention>{{"content", T5Attention::content},
                                                                             {"windows", T5Attention::windows}}))
      ->capture_default_str();
  app.add_option("--vae-steps", vae_options.steps, "autoencoder steps")->capture_default_str();
  app.add_option("--vae-batch", vae_options.batch, "autoencoder crops per step")->capture_default_str();
  app.add_option("--vae-rate", vae_options.rate, "autoencoder peak learning rate")->capture_default_str();
  app.add_option("--vae-object-crops", vae_options.object_crops, "share of autoencoder crops centred on an object")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--vae-posterior-noise", vae_options.posterior_noise,
                 "scale of the posterior noise the decoder is trained on (0: the mean alone)")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--vae-norm-groups", vae_options.norm_groups, "GroupNorm groups of the autoencoder (divides 32)")
      ->check(CLI::IsMember({1, 2, 4, 8, 16, 32}))->capture_default_str();
  app.add_option("--factor-scenes", factor_scenes, "renders the latent scale and shift are measured on")
      ->capture_default_str();
  app.add_option("--transformer-steps", flux_options.steps, "transformer steps")->capture_default_str();
  app.add_option("--scenes", flux_options.scenes, "scenes per transformer step")->capture_default_str();
  app.add_option("--times-per-scene", flux_options.times_per_scene, "noise levels per scene")->capture_default_str();
  app.add_option("--scene-reuse", flux_options.scene_reuse,
                 "consecutive steps each encoded scene is trained in (divides --scenes)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--rate", flux_options.rate, "transformer peak learning rate")->capture_default_str();
  app.add_option("--object-weight", flux_options.object_weight,
                 "extra loss weight of the latent pixels around objects (0: plain mean square error)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--text-rate", flux_options.text_rate,
                 "peak learning rate of the T5 encoder trained alongside the transformer (0: random and frozen)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--uncond-share", flux_options.uncond_share,
                 "share of scenes trained with the empty prompt (classifier-free guidance; 0: none)")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--checkpoint-every", flux_options.checkpoint_every, "transformer steps between checkpoints")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (flux_options.scenes % flux_options.scene_reuse != 0) {
    std::fprintf(stderr, "genplug-train-mini: --scene-reuse %d must divide --scenes %d\n", flux_options.scene_reuse,
                 flux_options.scenes);
    return 2;
  }

  torch::manual_seed(seed);
  const auto start = std::chrono::steady_clock::now();
  const flux::MiniModelFiles files{out};
  fs::create_directories(out / "training");
  nlohmann::json card = {{"seed", seed}, {"vae_threads", vae_threads}, {"transformer_threads", transformer_threads},
                         {"t5_attention", t5_attention == T5Attention::windows ? "windows" : "content"}};

  if (only != "transformer") write_text_encoders(files, seed, t5_attention);
  if (only == "all" || only == "vae") {
    at::set_num_threads(vae_threads);
    vae_options.seed = seed;
    vae_options.log_csv = out / "training" / "autoencoder-loss.csv";
    const flux::Autoencoder vae = train_autoencoder(vae_options);
    const flux::AutoencoderConfig factors = latent_factors(vae, factor_scenes, kTrainingSize);
    std::printf("latent factors: scale %.6f shift %.6f\n", factors.scale_factor, factors.shift_factor);
    write_vae(files, vae, factors);
    card["autoencoder"] = {{"steps", vae_options.steps}, {"batch", vae_options.batch}, {"crop", vae_options.crop},
                           {"object_crops", vae_options.object_crops}, {"rate", vae_options.rate},
                           {"posterior_noise", vae_options.posterior_noise}, {"norm_groups", vae_options.norm_groups},
                           {"minutes", minutes_since(start)}};
  }
  if (only == "all" || only == "transformer") {
    const auto phase = std::chrono::steady_clock::now();
    at::set_num_threads(transformer_threads);
    if (transformer_blas_threads > 0 && !flux::set_openblas_threads(transformer_blas_threads))
      std::printf("note: libtorch's BLAS is not OpenBLAS; --transformer-blas-threads has no effect\n");
    // The phase's noise starts from the seed, so that `--only transformer` on a folder written by `--only vae`
    // trains what a full run trains.
    torch::manual_seed(seed + 1);
    const flux::Autoencoder vae = flux::Autoencoder::from_checkpoint(files.vae());
    PromptEncoder text(files);
    flux_options.seed = seed;
    flux_options.checkpoint_dir = out / "training" / "checkpoints";
    flux_options.log_csv = out / "training" / "transformer-loss.csv";
    std::unique_ptr<TrainableT5> t5;
    if (flux_options.text_rate > 0) t5 = std::make_unique<TrainableT5>(files, seed, t5_attention);
    const flux::TensorMap weights = train_transformer(vae, text, flux_options, t5.get());
    save_tensors(files.transformer(), weights, {{"format", "pt"}, {"genplug.model", "mini"}});
    if (t5) save_tensors(files.t5(), t5->averaged_weights(), {{"format", "pt"}, {"genplug.model", "mini"}});
    card["transformer"] = {{"steps", flux_options.steps}, {"scenes", flux_options.scenes},
                           {"times_per_scene", flux_options.times_per_scene}, {"rate", flux_options.rate},
                           {"uncond_share", flux_options.uncond_share}, {"text_rate", flux_options.text_rate},
                           {"object_weight", flux_options.object_weight},
                           {"scene_reuse", flux_options.scene_reuse},
                           {"blas_threads", flux::openblas_threads()},
                           {"parameters", flux::flux_parameter_count(transformer_config())},
                           {"minutes", minutes_since(phase)}};
  }
  card["minutes"] = minutes_since(start);
  write_loss_plot(out / "training" / "loss.svg", {{"autoencoder", out / "training" / "autoencoder-loss.csv"},
                                                  {"transformer", out / "training" / "transformer-loss.csv"}});
  std::ofstream(out / "training" / ("run-" + only + ".json")) << card.dump(2) << '\n';
  std::printf("done in %.1f min: %s\n", minutes_since(start), out.c_str());
  return 0;
}
