// The FLUX denoiser (BFL flux/model.py Flux.forward) assembled from the blocks in layers/.
#include <genplug/flux/transformer.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include <torch/version.h>

#include <genplug/flux/float32_at_least.hpp>
#include <genplug/flux/intra_op_threads.hpp>
#include <genplug/flux/presets.hpp>

#include "layers/double_stream_block.hpp"
#include "layers/embedders.hpp"
#include "layers/last_layer.hpp"
#include "layers/single_stream_block.hpp"

namespace genplug::flux {

using namespace layers;

torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, double max_period, double time_factor) {
  torch::Tensor scaled = time_factor * t;
  const int64_t half = dim / 2;
  const auto wide = float32_at_least(t.scalar_type());
  torch::Tensor freqs = torch::exp(-std::log(max_period) *
                                   torch::arange(0, half, torch::TensorOptions().dtype(wide).device(t.device())) /
                                   double(half));
  torch::Tensor args = scaled.to(wide).unsqueeze(1) * freqs.unsqueeze(0);
  torch::Tensor emb = torch::cat({torch::cos(args), torch::sin(args)}, -1);
  if (dim % 2) emb = torch::cat({emb, torch::zeros_like(emb.narrow(-1, 0, 1))}, -1);
  return emb;
}

struct FluxTransformer::Impl {
  FluxConfig config;
  torch::Dtype dtype, weight_dtype;
  torch::Device device;
  BlockMemory memory;  // attention score blocks, runs of tokens
  Linear img_in, txt_in;
  MLPEmbedder time_in, vector_in, guidance_in;
  std::vector<DoubleStreamBlock> double_blocks;
  std::vector<SingleStreamBlock> single_blocks;
  std::unique_ptr<LastLayer> final_layer;

  Impl(const TensorMap& weights, const FluxConfig& c, torch::Dtype dt, torch::Device dev, torch::Dtype wdt)
      : config(c), dtype(dt), weight_dtype(wdt), device(dev) {
    validate_flux_config(c);
#if TORCH_VERSION_MAJOR < 2
    if (dt == torch::kFloat16 && dev.is_cpu())
      throw Error(GENPLUG_E_UNSUPPORTED, "dtype f16: this libtorch (< 2.0) has no float16 matrix products on the CPU; "
                                         "use f32 or bf16 there, or a CUDA device");
#endif
    const WeightReader w{weights, dt, dev, wdt};
    const int64_t H = c.hidden_size;
    img_in = Linear(w, "img_in", c.in_channels, H);
    time_in = MLPEmbedder(w, "time_in", 256, H);
    vector_in = MLPEmbedder(w, "vector_in", c.vec_in_dim, H);
    if (c.guidance_embed) guidance_in = MLPEmbedder(w, "guidance_in", 256, H);
    txt_in = Linear(w, "txt_in", c.context_in_dim, H);
    for (int64_t i = 0; i < c.depth; ++i)
      double_blocks.emplace_back(w, "double_blocks." + std::to_string(i) + ".", c);
    for (int64_t i = 0; i < c.depth_single_blocks; ++i)
      single_blocks.emplace_back(w, "single_blocks." + std::to_string(i) + ".", c);
    final_layer = std::make_unique<LastLayer>(w, c);
  }

  // Every linear layer: their weights may be kept narrower than the compute dtype. (guidance_in's are empty
  // without guidance_embed.)
  std::vector<const Linear*> linear_layers() const {
    std::vector<const Linear*> all{&img_in, &txt_in, &final_layer->linear, &final_layer->ada_ln};
    for (const MLPEmbedder* e : {&time_in, &vector_in, &guidance_in})
      all.insert(all.end(), {&e->in_layer, &e->out_layer});
    for (const DoubleStreamBlock& b : double_blocks)
      for (const StreamWeights* s : {&b.img_w, &b.txt_w})
        all.insert(all.end(), {&s->qkv, &s->proj, &s->mlp_in, &s->mlp_out, &s->mod.lin});
    for (const SingleStreamBlock& b : single_blocks) all.insert(all.end(), {&b.linear1, &b.linear2, &b.modulation.lin});
    return all;
  }
  bool any_linear(const std::function<bool(const Linear&)>& test) const {
    const std::vector<const Linear*> all = linear_layers();
    return std::any_of(all.begin(), all.end(), [&](const Linear* l) { return test(*l); });
  }
  // Whether any linear layer's weight is kept in another form than the compute dtype (bf16, f16, int8, GGUF blocks).
  bool widens_weights() const {
    return any_linear([&](const Linear& l) {
      return l.blocks || l.ggml || (l.weight.defined() && l.weight.scalar_type() != dtype);
    });
  }

  void check_input(const torch::Tensor& t, const char* name, int64_t dims, int64_t last) const {
    if (!t.defined() || t.dim() != dims || (last >= 0 && t.size(-1) != last))
      throw InvalidArgument(std::string("flux forward: '") + name + "' must be " + std::to_string(dims) +
                            "-D" + (last >= 0 ? " with last dim " + std::to_string(last) : std::string()) +
                            (t.defined() ? ", got " + shape_text(t.sizes()) : ", got nothing"));
  }

  torch::Tensor forward(torch::Tensor img, torch::Tensor txt, const torch::Tensor& timesteps,
                        const torch::Tensor& y, const torch::Tensor& guidance, const RotaryTables& pe,
                        const std::function<void()>& between_blocks) const {
    check_input(img, "img", 3, config.in_channels);
    check_input(txt, "txt", 3, config.context_in_dim);
    check_input(y, "y", 2, config.vec_in_dim);
    check_input(timesteps, "timesteps", 1, -1);
    const auto model = torch::TensorOptions().dtype(dtype).device(device);
    // No NoGradGuard here: the plugin's predict() holds one, and the mini model's trainer (train/mini) runs this
    // same forward with autograd recording through weights that require grad.
    img = img_in(img.to(model));
    txt = txt_in(txt.to(model));
    // Embedded in float32 as BFL does, whatever the model's dtype; a float64 model keeps float64 values float64
    // (a float64 reference run's, as QKNorm and the rotation do).
    const auto embedded = [&](const torch::Tensor& x) {
      const auto wide = dtype == torch::kFloat64 ? float32_at_least(x.scalar_type()) : torch::kFloat32;
      return timestep_embedding(x.to(device, wide)).to(model);
    };
    torch::Tensor vec = time_in(embedded(timesteps));
    if (config.guidance_embed) {
      if (!guidance.defined())
        throw InvalidArgument("flux forward: this model embeds guidance; 'guidance' is required");
      vec = vec + guidance_in(embedded(guidance));
    }
    vec = vec + vector_in(y.to(model));
    const int64_t Lt = txt.size(1), L = Lt + img.size(1);
    if (pe.cos.size(0) != L)
      throw InvalidArgument("flux forward: rotary tables cover " + std::to_string(pe.cos.size(0)) +
                            " tokens, the input has " + std::to_string(L));
    const RotaryTables tables{pe.cos.to(device), pe.sin.to(device)};
    const auto after_block = [&] {
      if (between_blocks) between_blocks();
    };
    for (const auto& block : double_blocks) {
      block(img, txt, vec, tables, memory);
      after_block();
    }
    torch::Tensor x = torch::cat({txt, img}, 1);
    img.reset();  // the streams live on in x only: one copy of the sequence through the single blocks
    txt.reset();
    for (const auto& block : single_blocks) {
      x = block(x, vec, tables, memory);
      after_block();
    }
    return (*final_layer)(x.narrow(1, Lt, L - Lt), vec);
  }
};

FluxTransformer::FluxTransformer(const TensorMap& weights, const FluxConfig& config, torch::Dtype dtype,
                                 torch::Device device, std::optional<torch::Dtype> weight_dtype)
    : impl_(std::make_unique<Impl>(weights, config, dtype, device, weight_dtype.value_or(dtype))) {}
FluxTransformer::~FluxTransformer() = default;
FluxTransformer::FluxTransformer(FluxTransformer&&) noexcept = default;
FluxTransformer& FluxTransformer::operator=(FluxTransformer&&) noexcept = default;

torch::Tensor FluxTransformer::forward(const torch::Tensor& img, const torch::Tensor& txt,
                                       const torch::Tensor& timesteps, const torch::Tensor& y,
                                       const torch::Tensor& guidance, const RotaryTables& pe,
                                       const std::function<void()>& between_blocks) const {
  const IntraOpThreads threads(raises_intra_op_threads());
  return impl_->forward(img, txt, timesteps, y, guidance, pe, between_blocks);
}

// bf16 (and f16) products run in oneDNN on libtorch's intra-op threads, not on OpenBLAS's pool as f32 and f64 ones
// do: they get every core for the forward (intra_op_threads.hpp; a bf16 peer forward 3.1-3.5 s -> 1.9 s on two).
bool FluxTransformer::raises_intra_op_threads() const {
  return impl_->device.is_cpu() && (impl_->dtype == torch::kBFloat16 || impl_->dtype == torch::kFloat16);
}

const FluxConfig& FluxTransformer::config() const { return impl_->config; }
torch::Dtype FluxTransformer::dtype() const { return impl_->dtype; }
torch::Dtype FluxTransformer::weight_dtype() const { return impl_->weight_dtype; }
torch::Device FluxTransformer::device() const { return impl_->device; }
void FluxTransformer::set_attention_budget(int64_t bytes) { impl_->memory.attention_budget = bytes; }
void FluxTransformer::set_token_run(int64_t tokens) { impl_->memory.token_run = tokens; }

std::vector<std::string> FluxTransformer::gguf_block_types() const {
  std::set<std::string> types;
  for (const Linear* l : impl_->linear_layers()) {
    if (l->blocks) types.insert("Q8_0");
    if (l->ggml) types.insert(gguf::type_name(static_cast<uint32_t>(l->ggml->type)));
  }
  return {types.begin(), types.end()};
}

int64_t FluxTransformer::widening_buffer_bytes() const {
  if (!impl_->widens_weights()) return 0;
  const FluxConfig& c = impl_->config;
  const int64_t H = c.hidden_size;
  // Slot 0: the largest weight widened alone (a double block's modulation, 6 H x H, at FLUX's shapes); slot 1:
  // the second weight of an MLP's runs, at most the single block's linear2.
  const int64_t slot0 = std::max({6 * H, c.mlp_hidden(), c.context_in_dim, c.in_channels}) * H;
  const int64_t slot1 = H * (H + c.mlp_hidden());
  // GGUF blocks decode into float32 buffers; under a narrower compute dtype each product takes a copy besides.
  const bool decoded = impl_->any_linear([](const Linear& l) { return l.ggml.has_value(); });
  const int64_t compute = int64_t(c10::elementSize(impl_->dtype));
  const int64_t per_value = decoded && impl_->dtype != torch::kFloat32 ? 4 + compute : compute;
  return (slot0 + slot1) * per_value;
}

}  // namespace genplug::flux
