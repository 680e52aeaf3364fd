// genplug-train-mini: trains the mini model (docs/mini-model.md) from a seed and writes its folder — the
// files "preset": "mini" loads. Phases: text encoders (frozen, random), autoencoder, latent factors,
// transformer. Progress (loss, ETA) on the terminal; losses as CSV; transformer checkpoints. Everything is written
// into a staging folder beside --out and replaces --out's files only when the whole run succeeded.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include <CLI/CLI.hpp>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>
#include <torch/utils.h>

#include <genplug/flux/blas_threads.hpp>
#include <genplug/flux/mini_model_files.hpp>
#include <genplug/flux/openblas_core.hpp>
#include <genplug/flux/presets.hpp>

#include "loss_plot.hpp"
#include "mini_architecture.hpp"
#include "staged_folder.hpp"
#include "text_encoders.hpp"
#include "tool_main.hpp"
#include "transformer_training.hpp"
#include "vae_training.hpp"
#include "weights_io.hpp"

namespace fs = std::filesystem;
using namespace genplug;
using namespace genplug::mini;

namespace {

// Scene seeds of the transformer phase start at kTrainingSeedBase + (seed << 36) (a range of 2^36 per seed): below
// 2^27 they neither wrap nor overlap, and seed + 1 (CLIP's draw, the transformer's noise) cannot wrap.
constexpr std::uint64_t kMaxSeed = (std::uint64_t{1} << 27) - 1;

void write_json(const fs::path& path, const nlohmann::json& j) {
  std::ofstream out(path);
  out << j.dump(2) << '\n';
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void write_vae(const flux::MiniModelFiles& files, const flux::Autoencoder& vae, const flux::AutoencoderConfig& factors) {
  if (!std::isfinite(factors.scale_factor) || !std::isfinite(factors.shift_factor))
    throw std::runtime_error("the autoencoder's latent factors are not finite (scale " +
                             std::to_string(factors.scale_factor) + ", shift " + std::to_string(factors.shift_factor) +
                             "): training diverged or collapsed");
  save_tensors(files.vae(), vae.state_dict(), {{"format", "pt"}, {"genplug.model", "mini"}});
  std::vector<int64_t> block_out;
  for (int64_t m : factors.ch_mult) block_out.push_back(factors.ch * m);
  const nlohmann::json config = {{"_class_name", "AutoencoderKL"},       {"latent_channels", factors.z_channels},
                                 {"block_out_channels", block_out},       {"layers_per_block", factors.num_res_blocks},
                                 {"in_channels", factors.in_channels},    {"out_channels", factors.out_ch},
                                 {"norm_num_groups", factors.norm_groups},
                                 {"scaling_factor", factors.scale_factor}, {"shift_factor", factors.shift_factor}};
  write_json(files.vae_config(), config);
}

double minutes_since(const std::chrono::steady_clock::time_point& start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60.0;
}

struct Settings {
  fs::path out = "models/mini";
  std::uint64_t seed = 0;
  // Measured on the 2-core machine (docs/mini-model.md §6): the convolutions want both cores. The transformer
  // phase renders and encodes its scenes on a second thread (prefetched.hpp) while the step trains with two
  // intra-op threads and OpenBLAS on one: 0.71 s/step, against 0.87 with OpenBLAS on two and 1.27 with one
  // intra-op thread.
  int vae_threads = 2, transformer_threads = 2, transformer_blas_threads = 1;
  std::string only = "all";
  int factor_scenes = 512;
  T5Attention t5_attention = T5Attention::windows;  // docs/mini-model.md §7: colours and places bound to objects
  VaeTraining vae;
  TransformerTraining flux;
};

void add_options(CLI::App& app, Settings& s) {
  app.add_option("--out", s.out, "model folder to write (its files are replaced only when the run succeeds)")
      ->capture_default_str();
  app.add_option("--seed", s.seed, "seed of weights, scenes and noise (0 to 2^27 - 1)")
      ->check(CLI::Range(std::uint64_t{0}, kMaxSeed))->capture_default_str();
  app.add_option("--vae-threads", s.vae_threads, "libtorch intra-op threads for the autoencoder")
      ->check(kAtLeastOne)->capture_default_str();
  app.add_option("--transformer-threads", s.transformer_threads, "libtorch intra-op threads for the transformer")
      ->check(kAtLeastOne)->capture_default_str();
  app.add_option("--transformer-blas-threads", s.transformer_blas_threads,
                 "OpenBLAS threads for the transformer (0: leave OpenBLAS's pool as it loaded)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--only", s.only,
                 "all | text | vae | transformer (vae: text encoders and autoencoder; transformer: reuses the "
                 "folder's VAE and text encoders; text: only redraws the tokenizers and text encoders)")
      ->check(CLI::IsMember({"all", "text", "vae", "transformer"}))->capture_default_str();
  app.add_option("--t5-attention", s.t5_attention,
                 "what the frozen T5's heads read: content (the plugin's random draw) or windows (fixed windows of "
                 "neighbouring words)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, T5Attention>{{"content", T5Attention::content},
                                                                             {"windows", T5Attention::windows}}))
      ->capture_default_str();
  app.add_option("--vae-steps", s.vae.steps, "autoencoder steps")->check(kAtLeastOne)->capture_default_str();
  app.add_option("--vae-batch", s.vae.batch, "autoencoder crops per step")->check(kAtLeastOne)->capture_default_str();
  app.add_option("--vae-rate", s.vae.rate, "autoencoder peak learning rate")
      ->check(kPositiveFinite)->capture_default_str();
  app.add_option("--vae-object-crops", s.vae.object_crops, "share of autoencoder crops centred on an object")
      ->check(kFinite)->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--vae-posterior-noise", s.vae.posterior_noise,
                 "scale of the posterior noise the decoder is trained on (0: the mean alone)")
      ->check(kFinite)->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--vae-norm-groups", s.vae.norm_groups, "GroupNorm groups of the autoencoder (divides 32)")
      ->check(CLI::IsMember({1, 2, 4, 8, 16, 32}))->capture_default_str();
  app.add_option("--factor-scenes", s.factor_scenes, "renders the latent scale and shift are measured on")
      ->check(kAtLeastOne)->capture_default_str();
  app.add_option("--transformer-steps", s.flux.steps, "transformer steps")->check(kAtLeastOne)->capture_default_str();
  app.add_option("--scenes", s.flux.scenes, "scenes per transformer step")->check(kAtLeastOne)->capture_default_str();
  app.add_option("--times-per-scene", s.flux.times_per_scene, "noise levels per scene")
      ->check(kAtLeastOne)->capture_default_str();
  app.add_option("--scene-reuse", s.flux.scene_reuse,
                 "consecutive steps each encoded scene is trained in (divides --scenes)")
      ->check(kAtLeastOne)->capture_default_str();
  app.add_option("--rate", s.flux.rate, "transformer peak learning rate")->check(kPositiveFinite)->capture_default_str();
  app.add_option("--object-weight", s.flux.object_weight,
                 "extra loss weight of the latent pixels around objects (0: plain mean square error)")
      ->check(kNonNegativeFinite)->capture_default_str();
  app.add_option("--text-rate", s.flux.text_rate,
                 "peak learning rate of the T5 encoder trained alongside the transformer (0: random and frozen)")
      ->check(kNonNegativeFinite)->capture_default_str();
  app.add_option("--uncond-share", s.flux.uncond_share,
                 "share of scenes trained with the empty prompt (classifier-free guidance; 0: none)")
      ->check(kFinite)->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--checkpoint-every", s.flux.checkpoint_every, "transformer steps between checkpoints (0: none)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
}

// What parsing cannot check alone, before anything is written: --out first, then how the flags combine.
void check_settings(const Settings& s) {
  check_output_folder(s.out, "--out");
  // The staging folder goes beside --out (StagedFolder), so --out's parent must take it.
  fs::path target = fs::absolute(s.out).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();
  check_output_folder(target.parent_path(), "--out (its parent folder, where the run stages its files)");
  if (s.flux.scenes % s.flux.scene_reuse != 0)
    throw UsageError("--scene-reuse " + std::to_string(s.flux.scene_reuse) + " must divide --scenes " +
                     std::to_string(s.flux.scenes));
  if (s.only != "transformer") return;
  const flux::MiniModelFiles files{s.out};
  for (const fs::path& input : {files.vae(), files.vae_config(), files.t5(), files.t5_tokenizer(), files.clip(),
                                files.clip_tokenizer() / "vocab.json", files.clip_tokenizer() / "merges.txt"})
    if (!fs::is_regular_file(input))
      throw UsageError("--only transformer reads the folder's autoencoder and text encoders, and " + input.string() +
                       " is missing (write them first: --only vae)");
}

// Phase 1 (--only all | vae): the autoencoder and its latent factors, into `written`.
nlohmann::json train_vae_phase(Settings& s, const flux::MiniModelFiles& written,
                               const std::chrono::steady_clock::time_point& start) {
  at::set_num_threads(s.vae_threads);
  s.vae.seed = s.seed;
  s.vae.log_csv = written.folder / "training" / "autoencoder-loss.csv";
  const flux::Autoencoder vae = train_autoencoder(s.vae);
  const flux::AutoencoderConfig factors = latent_factors(vae, s.factor_scenes, kTrainingSize);
  std::printf("latent factors: scale %.6f shift %.6f\n", factors.scale_factor, factors.shift_factor);
  write_vae(written, vae, factors);
  return {{"steps", s.vae.steps}, {"batch", s.vae.batch}, {"crop", s.vae.crop}, {"object_crops", s.vae.object_crops},
          {"rate", s.vae.rate}, {"posterior_noise", s.vae.posterior_noise}, {"norm_groups", s.vae.norm_groups},
          {"minutes", minutes_since(start)}};
}

// Phase 2 (--only all | transformer): reads the autoencoder and text encoders from `inputs` (the staging folder,
// or --out's own with --only transformer) and writes the transformer (and a tuned T5) into `written`.
nlohmann::json train_transformer_phase(Settings& s, const flux::MiniModelFiles& inputs,
                                       const flux::MiniModelFiles& written) {
  const auto phase = std::chrono::steady_clock::now();
  at::set_num_threads(s.transformer_threads);
  if (s.transformer_blas_threads > 0 && !flux::set_openblas_threads(s.transformer_blas_threads))
    std::printf("note: libtorch's BLAS is not OpenBLAS; --transformer-blas-threads has no effect\n");
  // The phase's noise starts from the seed, so that `--only transformer` on a folder written by `--only vae`
  // trains what a full run trains.
  torch::manual_seed(s.seed + 1);
  const flux::Autoencoder vae = flux::Autoencoder::from_checkpoint(inputs.vae());
  PromptEncoder text(inputs);
  s.flux.seed = s.seed;
  s.flux.checkpoint_dir = written.folder / "training" / "checkpoints";
  s.flux.log_csv = written.folder / "training" / "transformer-loss.csv";
  std::unique_ptr<TrainableT5> t5;
  if (s.flux.text_rate > 0) t5 = std::make_unique<TrainableT5>(inputs, s.seed, s.t5_attention);
  const flux::TensorMap weights = train_transformer(vae, text, s.flux, t5.get());
  save_tensors(written.transformer(), weights, {{"format", "pt"}, {"genplug.model", "mini"}});
  if (t5) save_tensors(written.t5(), t5->averaged_weights(), {{"format", "pt"}, {"genplug.model", "mini"}});
  return {{"steps", s.flux.steps}, {"scenes", s.flux.scenes}, {"times_per_scene", s.flux.times_per_scene},
          {"rate", s.flux.rate}, {"uncond_share", s.flux.uncond_share}, {"text_rate", s.flux.text_rate},
          {"object_weight", s.flux.object_weight}, {"scene_reuse", s.flux.scene_reuse},
          {"blas_threads", flux::openblas_threads()},
          {"parameters", flux::flux_parameter_count(transformer_config())}, {"minutes", minutes_since(phase)}};
}

// The loss plot covers both phases: a phase this run did not train is read from --out's own record.
fs::path loss_csv(const StagedFolder& staged, const std::string& name) {
  const fs::path fresh = staged.path() / "training" / name;
  return fs::exists(fresh) ? fresh : staged.target() / "training" / name;
}

// The staging folder, or a UsageError naming --out: access() says yes to root where nothing can be created
// (/proc), so creating it is the last check of --out.
StagedFolder staged_folder(const fs::path& out) {
  try {
    return StagedFolder(out);
  } catch (const fs::filesystem_error& e) {
    throw UsageError("--out " + out.string() + ": cannot create a staging folder beside it: " + e.what());
  }
}

int run_trainer(int argc, char** argv) {
  CLI::App app{"Trains genplug's mini model (docs/mini-model.md) and writes the folder \"preset\": \"mini\" loads"};
  Settings s;
  add_options(app, s);
  if (const int rc = parse_or_exit(app, argc, argv); rc >= 0) return rc;
  check_settings(s);
  if (const auto change = flux::repair_openblas_core())  // as the plugin does at create (openblas_core.hpp)
    std::printf("note: OpenBLAS runs its %s kernels, not the %s ones its CPU table gives this CPU (%s)\n",
                change->to.c_str(), change->from.c_str(), change->cpu.c_str());

  torch::manual_seed(s.seed);
  const auto start = std::chrono::steady_clock::now();
  StagedFolder staged = staged_folder(s.out);
  std::printf("writing into %s; its files replace %s's when the run succeeds\n", staged.path().c_str(),
              staged.target().c_str());
  const flux::MiniModelFiles written{staged.path()};
  const flux::MiniModelFiles inputs{s.only == "transformer" ? staged.target() : staged.path()};
  fs::create_directories(written.folder / "training");
  nlohmann::json card = {{"seed", s.seed}, {"vae_threads", s.vae_threads},
                         {"transformer_threads", s.transformer_threads},
                         {"t5_attention", s.t5_attention == T5Attention::windows ? "windows" : "content"}};

  if (s.only != "transformer") {
    write_text_encoders(written, s.seed, s.t5_attention);
    std::printf("text encoders written\n");
    std::fflush(stdout);  // a test interrupts the run here: --out must still be the old model
  }
  if (s.only == "all" || s.only == "vae") card["autoencoder"] = train_vae_phase(s, written, start);
  if (s.only == "all" || s.only == "transformer") card["transformer"] = train_transformer_phase(s, inputs, written);
  card["minutes"] = minutes_since(start);
  write_loss_plot(written.folder / "training" / "loss.svg",
                  {{"autoencoder", loss_csv(staged, "autoencoder-loss.csv")},
                   {"transformer", loss_csv(staged, "transformer-loss.csv")}});
  write_json(written.folder / "training" / ("run-" + s.only + ".json"), card);
  staged.commit();
  std::printf("done in %.1f min: %s\n", minutes_since(start), staged.target().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return guarded_main("genplug-train-mini", [&] { return run_trainer(argc, argv); });
}
