#include "vae_training.hpp"

#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string>

#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "mini_architecture.hpp"
#include "optimizer_schedule.hpp"
#include "progress.hpp"
#include "scene_batches.hpp"

namespace genplug::mini {

namespace {

// Reconstruction: L1 on pixels plus L1 on horizontal and vertical differences (edges stay sharp, which the
// detector's kind templates need), and the KL term of the diagonal Gaussian posterior.
torch::Tensor autoencoder_loss(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& mean,
                               const torch::Tensor& logvar, double kl_weight) {
  auto dx = [](const torch::Tensor& t) { return t.narrow(3, 1, t.size(3) - 1) - t.narrow(3, 0, t.size(3) - 1); };
  auto dy = [](const torch::Tensor& t) { return t.narrow(2, 1, t.size(2) - 1) - t.narrow(2, 0, t.size(2) - 1); };
  const torch::Tensor reconstruction = (y - x).abs().mean() + 0.5 * ((dx(y) - dx(x)).abs().mean() +
                                                                     (dy(y) - dy(x)).abs().mean());
  const torch::Tensor kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean();
  return reconstruction + kl_weight * kl;
}

}  // namespace

flux::Autoencoder train_autoencoder(const VaeTraining& o) {
  // Trained through the unscaled passes; the factors are measured afterwards (latent_factors).
  flux::AutoencoderConfig config = autoencoder_config();
  config.norm_groups = o.norm_groups;
  flux::Autoencoder vae = flux::Autoencoder::random(config, o.seed);
  torch::optim::AdamW optimizer(vae.trainable_parameters(), torch::optim::AdamWOptions(o.rate).weight_decay(0.0));
  const int64_t z = autoencoder_config().z_channels;
  Progress progress("autoencoder", o.steps);
  std::ofstream log(o.log_csv);
  log << "step,loss\n";
  for (long step = 0; step < o.steps; ++step) {
    set_rate(optimizer, scheduled_rate(o.rate, step, o.steps, 100));
    const torch::Tensor x = autoencoder_batch(o.seed * 1000003 + std::uint64_t(step), o.batch, o.crop, o.object_crops);
    const torch::Tensor moments = vae.encode_moments_recording(x);
    const torch::Tensor mean = moments.narrow(1, 0, z), logvar = moments.narrow(1, z, z).clamp(-30.0, 20.0);
    const torch::Tensor sample =
        o.posterior_noise > 0 ? mean + o.posterior_noise * (0.5 * logvar).exp() * torch::randn_like(mean) : mean;
    const torch::Tensor loss = autoencoder_loss(x, vae.decode_unscaled_recording(sample), mean, logvar, o.kl_weight);
    const double value = loss.item<double>();
    // Stop at the first non-finite loss: every later step only spreads the NaN through the weights.
    if (!std::isfinite(value))
      throw std::runtime_error("autoencoder loss is " + std::to_string(value) + " at step " + std::to_string(step + 1) +
                               ": training diverged (lower --vae-rate)");
    optimizer.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(vae.trainable_parameters(), 1.0);
    optimizer.step();
    progress.record(value);
    if ((step + 1) % o.report_every == 0 || step + 1 == o.steps) {
      progress.report();
      log << step + 1 << ',' << progress.smoothed_loss() << '\n' << std::flush;
    }
  }
  return vae;
}

flux::AutoencoderConfig latent_factors(const flux::Autoencoder& vae, int count, int size) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> means;
  const int64_t z = vae.config().z_channels;
  for (int first = 0; first < count; first += 16) {
    const int n = std::min(16, count - first);
    const std::uint64_t seed = kTrainingSeedBase / 2 + std::uint64_t(first);
    const torch::Tensor x = transformer_batch(seed, n, size, int(vae.config().downscale())).images;
    means.push_back(vae.encode_moments(x).narrow(1, 0, z));
  }
  const torch::Tensor all = torch::cat(means);
  flux::AutoencoderConfig factors = vae.config();
  factors.shift_factor = all.mean().item<double>();
  factors.scale_factor = 1.0 / (all - factors.shift_factor).pow(2).mean().sqrt().item<double>();
  return factors;
}

}  // namespace genplug::mini
