#include "transformer_training.hpp"

#include <cmath>
#include <deque>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include <ATen/Parallel.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <genplug/flux/latent_packing.hpp>
#include <genplug/flux/rotary.hpp>

#include "mini_architecture.hpp"
#include "optimizer_schedule.hpp"
#include "prefetched.hpp"
#include "progress.hpp"
#include "scene_batches.hpp"
#include "weights_io.hpp"

namespace genplug::mini {

namespace {

bool starts_at_zero(const std::string& name) {
  return name.find("_mod.lin.") != std::string::npos || name.find("modulation.lin.") != std::string::npos ||
         name.find("adaLN_modulation") != std::string::npos || name.rfind("final_layer.linear.", 0) == 0;
}

// Noise levels: 70 % logit-normal(0, 1) as SD3 / FLUX train, 30 % uniform so that the ends (t near 1, where the
// layout is decided) are not starved.
torch::Tensor sample_times(int64_t count) {
  const torch::Tensor logit_normal = torch::sigmoid(torch::randn({count}));
  const torch::Tensor uniform = torch::rand({count});
  return torch::where(torch::rand({count}) < 0.7, logit_normal, uniform).clamp(1e-4, 1.0 - 1e-4);
}

// Classifier-free guidance training: each prompt becomes "" with probability `share` (drawn from torch's
// seeded generator, so a run stays a function of its seed).
void drop_prompts(std::vector<std::string>& prompts, double share) {
  const torch::Tensor draws = torch::rand({int64_t(prompts.size())}, torch::kFloat64);
  for (std::size_t i = 0; i < prompts.size(); ++i)
    if (draws[int64_t(i)].item<double>() < share) prompts[i].clear();
}

// Scenes as the transformer consumes them: packed latents and text conditioning, no autograd history.
// (weights: per packed latent value, 1 + object_weight around objects, else 1. ids: the prompts' T5 token ids, for
// a T5 that trains; undefined otherwise.)
struct EncodedScenes {
  torch::Tensor x0, weights, txt, vec, ids;
};

// The image half of EncodedScenes (x0, weights) with the scenes' prompts: what the prefetch thread makes.
struct EncodedImages {
  std::vector<std::string> prompts;
  torch::Tensor x0, weights;
};

EncodedImages encode_images(const flux::Autoencoder& vae, SceneBatch scenes, double object_weight) {
  torch::NoGradGuard no_grad;
  const torch::Tensor latent = vae.encode(scenes.images);
  // Packed as the latent is (each token holds its 2 x 2 latent pixels of every channel).
  const torch::Tensor weights = flux::pack_latent((1.0 + object_weight * scenes.object_boxes).expand_as(latent));
  return {std::move(scenes.prompts), flux::pack_latent(latent), weights};
}

EncodedScenes with_text(EncodedImages images, PromptEncoder& text, const TrainableT5* t5) {
  torch::NoGradGuard no_grad;
  const flux::TextConditioning c = text.encode(images.prompts);
  return {images.x0, images.weights, c.txt, c.vec, t5 ? t5->ids(images.prompts) : torch::Tensor()};
}

EncodedScenes concatenated(const std::deque<EncodedScenes>& pool) {
  std::vector<torch::Tensor> x0, weights, txt, vec, ids;
  for (const EncodedScenes& e : pool) {
    x0.push_back(e.x0), weights.push_back(e.weights), txt.push_back(e.txt), vec.push_back(e.vec), ids.push_back(e.ids);
  }
  return {torch::cat(x0), torch::cat(weights), torch::cat(txt), torch::cat(vec),
          ids.front().defined() ? torch::cat(ids) : torch::Tensor()};
}

// Mean square error, each value weighted (sum w e^2 / sum w): with every weight 1, the plain mean.
torch::Tensor weighted_mean_square(const torch::Tensor& error, const torch::Tensor& weights) {
  return (weights * error.pow(2)).sum() / weights.sum();
}

// Every parameter must receive a gradient: the transformer and T5 alias the map's tensors (Tensor::to and
// contiguous() return the same tensor when nothing changes), which is behaviour, not a documented contract.
void check_gradients_reach(const flux::TensorMap& weights, const std::string& model) {
  for (const auto& [name, tensor] : weights)
    if (!tensor.grad().defined())
      throw std::logic_error("mini trainer: no gradient reached '" + name + "': the " + model +
                             " no longer aliases the weights it was built from");
}

}  // namespace

flux::TensorMap initial_transformer_weights(std::uint64_t seed) {
  flux::TensorMap weights = flux::random_flux_weights(transformer_config(), seed);
  for (auto& [name, tensor] : weights) {
    if (starts_at_zero(name)) tensor.zero_();
    tensor.requires_grad_(true);
  }
  return weights;
}

flux::TensorMap train_transformer(const flux::Autoencoder& vae, PromptEncoder& text, const TransformerTraining& o,
                                  TrainableT5* t5) {
  if ((o.text_rate > 0) != (t5 != nullptr)) throw std::logic_error("mini trainer: text_rate and the T5 disagree");
  const flux::FluxConfig config = transformer_config();
  flux::TensorMap weights = initial_transformer_weights(o.seed);
  const flux::FluxTransformer transformer(weights, config);
  std::vector<torch::Tensor> parameters;
  flux::TensorMap ema;
  for (const auto& [name, tensor] : weights) {
    parameters.push_back(tensor);
    ema.emplace(name, tensor.detach().clone());
  }
  torch::optim::AdamW optimizer(parameters, torch::optim::AdamWOptions(o.rate).weight_decay(0.0));
  std::unique_ptr<torch::optim::AdamW> text_optimizer;
  if (t5) {
    const auto options = torch::optim::AdamWOptions(o.text_rate).weight_decay(0.0);
    text_optimizer = std::make_unique<torch::optim::AdamW>(t5->parameters(), options);
  }

  const int64_t grid = kTrainingSize / 16;
  const flux::RotaryTables pe = flux::rotary_tables(flux::flux_position_ids(kTextTokens, grid, grid),
                                                    flux::plain_spectrum(config.axes_dim, config.theta), torch::kCPU);
  const int64_t batch = int64_t(o.scenes) * o.times_per_scene;
  Progress progress("transformer", o.steps);
  std::ofstream log(o.log_csv);
  log << "step,loss\n";
  // Encoded scenes, oldest first: each step encodes scenes / scene_reuse new ones and trains on the newest
  // `scenes`, so every scene is seen in scene_reuse consecutive steps (at fresh noise levels each time).
  std::deque<EncodedScenes> pool;
  const int fresh_per_step = o.scenes / o.scene_reuse;
  // Rendering and encoding the images (~0.4 of a 1 s step, docs/mini-model.md) run on a second thread while this
  // one trains. Both are pure functions of the scene seeds, so the chunks are what this thread would make; the
  // prompt drops draw from torch's generator and stay here, in step order, with the text encoding they change.
  Prefetched<EncodedImages> chunks(
      [&](long chunk) {
        at::init_num_threads();  // this thread's OpenMP takes the process's at::set_num_threads
        // Scene seeds: a range of 2^36 per training seed (seed 0 starts at kTrainingSeedBase).
        const std::uint64_t first_scene =
            kTrainingSeedBase + (o.seed << 36) + std::uint64_t(chunk) * std::uint64_t(fresh_per_step);
        return encode_images(vae, transformer_batch(first_scene, fresh_per_step, kTrainingSize,
                                                    int(vae.config().downscale())), o.object_weight);
      },
      2);
  auto encode_next_chunk = [&] {
    EncodedImages images = chunks.next();
    if (o.uncond_share > 0) drop_prompts(images.prompts, o.uncond_share);
    pool.push_back(with_text(std::move(images), text, t5));
    if (int(pool.size()) > o.scene_reuse) pool.pop_front();
  };
  for (long step = 0; step < o.steps; ++step) {
    set_rate(optimizer, scheduled_rate(o.rate, step, o.steps, 200));
    if (t5) set_rate(*text_optimizer, scheduled_rate(o.text_rate, step, o.steps, 200));
    do encode_next_chunk();
    while (int(pool.size()) < o.scene_reuse);
    const EncodedScenes current = concatenated(pool);
    const torch::Tensor x0 = current.x0.repeat_interleave(o.times_per_scene, 0);
    const torch::Tensor loss_weights = current.weights.repeat_interleave(o.times_per_scene, 0);
    const torch::Tensor txt = (t5 ? t5->forward(current.ids) : current.txt).repeat_interleave(o.times_per_scene, 0);
    const torch::Tensor vec = current.vec.repeat_interleave(o.times_per_scene, 0);
    // Rectified flow as FLUX: x_t = (1 - t) x0 + t noise, the model predicts the velocity noise - x0.
    const torch::Tensor t = sample_times(batch), noise = torch::randn_like(x0);
    const torch::Tensor tt = t.view({batch, 1, 1});
    const torch::Tensor xt = (1.0 - tt) * x0 + tt * noise;
    const torch::Tensor prediction = transformer.forward(xt, txt, t, vec, torch::Tensor(), pe);
    const torch::Tensor loss = weighted_mean_square(prediction - (noise - x0), loss_weights);
    const double value = loss.item<double>();
    // Stop at the first non-finite loss: every later step only spreads the NaN through the weights and the EMA.
    if (!std::isfinite(value))
      throw std::runtime_error("transformer loss is " + std::to_string(value) + " at step " + std::to_string(step + 1) +
                               ": training diverged (lower --rate or --text-rate)");
    optimizer.zero_grad();
    if (t5) text_optimizer->zero_grad();
    loss.backward();
    if (step == 0) check_gradients_reach(weights, "transformer");
    if (step == 0 && t5) check_gradients_reach(t5->weights(), "T5 encoder");
    torch::nn::utils::clip_grad_norm_(parameters, 1.0);
    optimizer.step();
    if (t5) {
      torch::nn::utils::clip_grad_norm_(t5->parameters(), 1.0);
      text_optimizer->step();
    }
    const double decay = std::min(o.ema, double(1 + step) / double(10 + step));
    update_moving_average(ema, weights, decay);
    if (t5) t5->update_average(decay);
    progress.record(value);
    if ((step + 1) % o.report_every == 0 || step + 1 == o.steps) {
      progress.report();
      log << step + 1 << ',' << progress.smoothed_loss() << '\n' << std::flush;
    }
    if (!o.checkpoint_dir.empty() && o.checkpoint_every > 0 && (step + 1) % o.checkpoint_every == 0)
      save_tensors(o.checkpoint_dir / ("transformer-ema-" + std::to_string(step + 1) + ".safetensors"), ema);
  }
  return ema;
}

}  // namespace genplug::mini
