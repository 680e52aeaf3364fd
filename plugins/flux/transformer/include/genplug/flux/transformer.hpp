// The FLUX.1 denoiser (BFL `flux.model.Flux`), exact to the reference forward, with weights in BFL names.
// Rotary tables come from outside (rotary.hpp), so any posenc spectrum can drive it.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include <genplug/flux/attention.hpp>
#include <genplug/flux/flux_config.hpp>
#include <genplug/flux/rotary.hpp>

namespace genplug::flux {

using TensorMap = std::map<std::string, torch::Tensor>;

// Tokens per run of a block's per-token work (the MLPs with their gates, the single block's linear2; attention
// takes every token at once), bounding those intermediates at large sizes (docs/performance.md, memory at 16 MP).
constexpr int64_t kDefaultTokenRun = 2048;

class FluxTransformer {
 public:
  // Takes the BFL-named tensors it needs from `weights` (checked against `config`; a missing or misshapen
  // tensor is a genplug::Error naming it) and converts them once to dtype/device. `dtype` is what the forward
  // computes in; `weight_dtype` (default: dtype) what the linear layers' weight matrices are kept in: bf16 or f16
  // there with f32 compute halves their memory, each widened into a reused buffer just before its product
  // (the CPU path for half-size checkpoints, docs/performance.md); int8 quantises them per output row as they
  // are taken (a quarter of f32; the row scales applied to the product). Weights stored as GGUF blocks (Q8_0:
  // q8_0_layout.hpp; Q4_0 ... Q6_K on the CPU: ggml_blocks_layout.hpp) are kept so whatever weight_dtype says.
  FluxTransformer(const TensorMap& weights, const FluxConfig& config, torch::Dtype dtype = torch::kFloat32,
                  torch::Device device = torch::kCPU, std::optional<torch::Dtype> weight_dtype = std::nullopt);
  ~FluxTransformer();
  FluxTransformer(FluxTransformer&&) noexcept;
  FluxTransformer& operator=(FluxTransformer&&) noexcept;

  // img [B, Li, in_channels], txt [B, Lt, context_in_dim], timesteps [B] (sigma in [0, 1]),
  // y [B, vec_in_dim], guidance [B] (required when config.guidance_embed, else ignored; may be undefined),
  // pe: tables for the Lt + Li tokens of cat(txt, img). Returns [B, Li, out_channels] in the model dtype.
  // Where raises_intra_op_threads(), the forward sets libtorch's process-wide intra-op thread count to the physical
  // cores for its duration (intra_op_threads.hpp): one thread calls forward at a time. `between_blocks`, when set,
  // runs after each block on the calling thread: where a caller looks for a cancellation (an exception it throws
  // ends the forward), a block's time apart rather than a whole evaluation's.
  torch::Tensor forward(const torch::Tensor& img, const torch::Tensor& txt, const torch::Tensor& timesteps,
                        const torch::Tensor& y, const torch::Tensor& guidance, const RotaryTables& pe,
                        const std::function<void()>& between_blocks = {}) const;

  // A bf16 or f16 model on the CPU, whose products run on libtorch's intra-op threads.
  bool raises_intra_op_threads() const;
  const FluxConfig& config() const;
  torch::Dtype dtype() const;
  torch::Dtype weight_dtype() const;
  torch::Device device() const;
  // Memory budget of one attention block's scores (the CPU paths).
  void set_attention_budget(int64_t bytes);
  // Tokens per run of the blocks' per-token work (default kDefaultTokenRun; <= 0: every token in one run). The
  // forward is the same for any value up to the products' rounding; only its peak memory changes.
  void set_token_run(int64_t tokens);
  // What the per-thread buffers that narrow weights are widened into reach on the forward's thread (an upper
  // bound; 0 when every weight is kept in the compute dtype). They stay allocated until that thread ends.
  int64_t widening_buffer_bytes() const;
  // The GGUF block types linear weights are kept in, whatever weight_dtype() says ("Q4_K", "Q8_0", ...: ggml's
  // names, sorted); empty when none is.
  std::vector<std::string> gguf_block_types() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// BFL timestep_embedding: t * 1000, 10000^(-k/half) frequencies, [cos | sin]; float32 [B, dim] (float64 for a
// float64 t: a float64 reference run's).
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim = 256, double max_period = 10000.0,
                                 double time_factor = 1000.0);

// Random weights with the real shapes of `config`, reproducible from `seed`: linear weights
// N(0, 1/fan_in), biases N(0, 0.02^2), RMSNorm scales 1 (activations stay O(1) at any size).
TensorMap random_flux_weights(const FluxConfig& config, uint64_t seed, torch::Dtype dtype = torch::kFloat32,
                              torch::Device device = torch::kCPU);

// "f32"/"float32", "bf16"/"bfloat16", "f16"/"float16" -> dtype; "cpu", "cuda", "cuda:N" -> device
// (a genplug::ConfigError naming the value otherwise, or GENPLUG_E_DEVICE when CUDA is absent).
torch::Dtype parse_dtype(const std::string& name);
torch::Device parse_device(const std::string& name);

}  // namespace genplug::flux
