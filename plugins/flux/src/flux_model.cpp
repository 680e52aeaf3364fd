// org.genplug.flux (see flux_model.hpp). Latents and velocities cross the ABI as float32 [1, tokens,
// 4 * z_channels] on the model's device, conditioning in the text encoders' dtype on that device: nothing is
// copied per evaluation, and a CUDA model lends its own tensor operations (tensor_ops.cpp) so sampling never
// leaves the device. Images cross as CPU float32 [1, 3, H, W] in [0, 1] (model.h).
#include "flux_model.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <tuple>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <chrono>

#include <genplug/flux/attention.hpp>
#include <genplug/flux/autoencoder.hpp>
#include <genplug/flux/latent_packing.hpp>
#include <genplug/flux/lora.hpp>
#include <genplug/flux/openblas_buffers.hpp>
#include <genplug/flux/openblas_core.hpp>
#include <genplug/flux/mini_model_files.hpp>
#include <genplug/flux/text_conditioner.hpp>
#include <genplug/flux/transformer.hpp>
#include <genplug/gguf.hpp>
#include <genplug/internal/bounded_json.hpp>
#include <genplug/internal/cpu_memory.hpp>
#include <genplug/safetensors.hpp>

#include <genplug/flux/intra_op_threads.hpp>
#include "compute_dtype.hpp"
#include "dlpack_bridge.hpp"
#include "latent_preview.hpp"
#include "machine_memory.hpp"
#include "mini_model.hpp"
#include "model_settings.hpp"
#include "model_tensor_ops.hpp"
#include "seed_mix.hpp"
#include "transformer_source.hpp"

namespace genplug::flux {

namespace {

// The largest side a render may have, in pixels: the manifest's bound (host/manifest.schema.json) and config.width's.
constexpr uint32_t kMaxRenderSide = 65536;

struct Defaults {
  uint32_t steps, width, height;
  std::vector<uint32_t> base_extent;
  double true_cfg_scale = 1.0;
};

// tiny: a 4 x 4-token base grid, so its default 128 x 128 image (8 x 8 tokens) is already "high resolution".
Defaults preset_defaults(const std::string& preset) {
  if (preset == "tiny") return {4, 128, 128, {1, 4, 4}};
  if (preset == "mini") return {20, 128, 128, {1, 8, 8}, kMiniTrueCfgScale};  // trained at 128 x 128 = 8 x 8 tokens
  if (preset == "flux-schnell") return {4, 1024, 1024, {1, 64, 64}};
  return {28, 1024, 1024, {1, 64, 64}};
}

// libtorch reports a failed allocation as OutOfMemoryError (CUDA) or, on the CPU, a plain c10::Error from
// DefaultCPUAllocator ("can't allocate memory: you tried to allocate N bytes" where posix_memalign fails, "not
// enough memory" where malloc does; 1.13): out of memory for the host, which may retry.
bool allocation_failed(const c10::Error& e) {
  const std::string m = e.what_without_backtrace();
  return dynamic_cast<const c10::OutOfMemoryError*>(&e) ||
         (m.find("DefaultCPUAllocator") != std::string::npos &&
          (m.find("can't allocate memory") != std::string::npos || m.find("not enough memory") != std::string::npos));
}

// The generator seed of BFL get_noise's randn for `seed`. torch's CPU generator keeps a seed's low 32 bits, so seeds
// 2^32 apart had given the same noise (BFL's code on a CPU does): above 2^32 - 1 it is seeded with a 32-bit fold of
// all 64 bits (seed_mix.hpp), so that neighbouring seeds there give independent noise as below. Each such seed
// shares its noise with one seed below 2^32 (its fold), and two of them share one by a chance of 2^-32. Below
// 2^32: BFL's, as it is.
uint64_t noise_generator_seed(uint64_t seed) { return seed >> 32 == 0 ? seed : fold_to_32_bits(seed); }

// Runs f, turning other libraries' exceptions into a genplug::Error with `code`, prefixed by `what`.
template <class F>
auto rethrow_as(genplug_status code, const std::string& what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const c10::Error& e) {  // libtorch: keep the message, drop the C++ backtrace
    if (allocation_failed(e)) throw allocation_error(what, e.what_without_backtrace());
    throw Error(code, what + ": " + e.what_without_backtrace());
  } catch (const safetensors::OutOfMemory& e) {  // a file that could not be mapped: not a bad file
    throw unmappable_file_error(what + ": ", e);
  } catch (const gguf::OutOfMemory& e) {
    throw unmappable_file_error(what + ": ", e);
  } catch (const std::invalid_argument& e) {  // bad input (a prompt that is not UTF-8), not a failure of ours
    throw Error(GENPLUG_E_INVALID_ARGUMENT, what + ": " + e.what());
  } catch (const std::exception& e) {
    throw Error(code, what + ": " + e.what());
  }
}

class FluxModel final : public Model {
 public:
  // `blas_note`: what make_flux_model did to OpenBLAS's kernels, said on the model's info line ("" for nothing).
  FluxModel(const std::string& config_json, Context& ctx, const std::string& blas_note)
      : settings_(with_mini_files(parse_model_settings(config_json))) {
    dtype_ = parse_dtype(settings_.dtype);
    device_ = parse_device(settings_.device);
    compute_dtype_ = resolve_compute_dtype(settings_.compute_dtype, dtype_, device_);
    if (quantized() && settings_.transformer != "random") source_stamp_ = source_stamp(settings_.transformer);
    TransformerSource source = load_transformer_source(settings_, dtype_, device_);
    preset_ = source.preset;
    flux_config_ = source.config;
    use_loras(settings_.loras, std::move(source.weights), ctx, "config.loras");
    if (config().in_channels != config().out_channels)  // e.g. Fill / Canny checkpoints take extra channels
      throw ConfigError("config.transformer: in_channels " + std::to_string(config().in_channels) +
                        " != out_channels " + std::to_string(config().out_channels) +
                        ": conditioning-image variants (Fill, Canny, Depth) are not supported");
    load_vae();
    load_conditioning(ctx);
    choose_guidance_scale(ctx);
    description_ = build_description();
    ctx.info("org.genplug.flux: " + std::string(settings_.transformer == "random" ? "random " + preset_ : settings_.transformer) +
             " transformer on " + device_.str() + " (" + dtype_text() + ")" + blas_note);
  }

  std::string describe() override { return description_; }

  const void* extension(const char* id) noexcept override {
    static const genplug_model_adapters_t adapters{sizeof(genplug_model_adapters_t), &set_adapters};
    static const genplug_model_adapter_check_t adapter_check{sizeof(genplug_model_adapter_check_t), &check_adapters};
    static const genplug_model_preview_t preview{sizeof(genplug_model_preview_t), &preview_thunk};
    if (std::strcmp(id, GENPLUG_EXT_MODEL_ADAPTERS) == 0) return &adapters;
    if (std::strcmp(id, GENPLUG_EXT_MODEL_ADAPTER_CHECK) == 0) return &adapter_check;
    if (std::strcmp(id, GENPLUG_EXT_MODEL_PREVIEW) == 0) return vae_ ? &preview : nullptr;
    if (std::strcmp(id, GENPLUG_EXT_MODEL_TENSOR_OPS) == 0) return &torch_tensor_ops();
    return nullptr;
  }

  // FLUX's geometry: three rotary axes (index, rows, cols) of which rows and cols are spatial; a latent of
  // [1, rows * cols, in_channels] float32 on the model's device.
  void geometry(const genplug_geometry_query_t& q, genplug_geometry_t& g, Context&) override {
    Defaults d = preset_defaults(preset_);
    if (!settings_.base_extent.empty()) d.base_extent = settings_.base_extent;
    if (q.frames > 1) throw InvalidArgument("geometry: an image model makes 1 frame, not " + std::to_string(q.frames));
    g.height = q.height ? q.height : settings_.height.value_or(d.height);
    g.width = q.width ? q.width : settings_.width.value_or(d.width);
    g.frames = g.frame_multiple = 1;
    const auto [gh, gw] = grid(g.height, g.width, "geometry");
    const FluxConfig& c = config();
    g.size_multiple = g.pixels_per_token = uint32_t(pixels_per_token());
    g.axis_count = uint32_t(c.axes_dim.size());
    if (g.axis_count != 3 || d.base_extent.size() != 3)
      throw Error(GENPLUG_E_INTERNAL, "geometry: FLUX needs 3 rotary axes and 3 base extents");
    const uint32_t target[3] = {1, uint32_t(gh), uint32_t(gw)};
    for (uint32_t a = 0; a < 3; ++a) {
      g.axis_dims[a] = uint32_t(c.axes_dim[a]);
      g.axis_flags[a] = a == 0 ? 0u : GENPLUG_AXIS_SPATIAL;  // axis 0 indexes text/reference images
      g.base_extent[a] = d.base_extent[a];
      g.target_extent[a] = target[a];
    }
    g.theta = c.theta;
    g.latent_ndim = 3;
    g.latent_shape[0] = 1;
    g.latent_shape[1] = gh * gw;
    g.latent_shape[2] = config().in_channels;
    g.latent_dtype = {kDLFloat, 32, 1};
    g.latent_device = device_.is_cuda() ? DLDevice{kDLCUDA, int32_t(device_.index() < 0 ? 0 : device_.index())}
                                        : DLDevice{kDLCPU, 0};
    g.image_tokens = uint64_t(gh * gw);
    g.working_memory_bytes = working_memory(gh, gw);
    g.default_steps = settings_.steps.value_or(d.steps);
    g.default_guidance = c.guidance_embed ? settings_.guidance : 0.0;  // model.h: 0 without distilled guidance
  }

  // The transformer with `loras` merged into `base` (none: the base weights themselves). Built before anything
  // is replaced, so a failure leaves the active LoRAs as they were. The base is kept for the next merge, except
  // under 8-bit weights: kept beside them it would cost 2-4 times what they save, so a LoRA change loads it
  // again from its source (the same file, or the same seed).
  // `where` names the list: "config.loras", or "loras" when a job's replace them. A LoRA that does not fit this
  // model (a module it lacks, shapes, NaN factors) is a config error; one that cannot be read, an I/O error.
  void use_loras(const std::vector<LoraFile>& loras, TensorMap base, Context& ctx, const std::string& where) {
    const auto t0 = std::chrono::steady_clock::now();
    if (lora_targets_.shapes.empty()) lora_targets_ = lora_targets(base);
    if (!loras.empty()) checked_loras(loras, where, /*now=*/true);
    LoraMerge merged = rethrow_as(GENPLUG_E_IO, where, [&] {
      if (loras.empty()) return LoraMerge{base, {}, {}};
      try {
        return merge_loras(base, loras, [&] { ctx.check_cancelled(); });  // SIGINT had waited for the merge
      } catch (const WeightError& e) {
        throw ConfigError(where + ": " + e.what());
      }
    });
    const torch::Dtype weight_dtype = quantized() ? torch::kInt8 : dtype_;
    auto transformer = rethrow_as(GENPLUG_E_FAILED, "transformer", [&] {
      return std::make_unique<FluxTransformer>(merged.weights, flux_config_, compute_dtype_, device_, weight_dtype);
    });
    base_weights_ = quantized() ? TensorMap{} : std::move(base);
    transformer->set_attention_budget(settings_.attention_memory_mb << 20);
    transformer_ = std::move(transformer);
    const bool had_loras = !active_loras_.empty();
    active_loras_ = loras;
    for (const auto& note : merged.notes) ctx.warn("org.genplug.flux: LoRA " + note);
    const std::string ms =
        std::to_string(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()) + " ms";
    if (!loras.empty())
      ctx.info("org.genplug.flux: " + std::to_string(merged.files) + " LoRA(s) merged into " +
               std::to_string(merged.changed.size()) + " weights in " + ms);
    else if (had_loras)
      ctx.info("org.genplug.flux: LoRAs removed, base weights back in " + ms);
  }

  // What merging `loras` would copy, checked against the model's weights from the files' headers (check_loras)
  // and against memory: all the process could ever add, and (`now`) what is available now.
  LoraCheck checked_loras(const std::vector<LoraFile>& loras, const std::string& where, bool now) const {
    const LoraCheck check = rethrow_as(GENPLUG_E_IO, where, [&] {
      try {
        return check_loras(lora_targets_, loras);
      } catch (const WeightError& e) {
        throw ConfigError(where + ": " + e.what());
      }
    });
    if (device_.is_cpu())  // a merge on the GPU is the card's memory, which the allocator reports itself
      check_lora_merge_fits(lora_merge_bytes(check.target_bytes, check.largest_target, check.largest_factors), where,
                            now);
    return check;
  }

  // The LoRA list of the adapters extensions: a JSON array (model.h), or null for the model's own.
  static std::vector<LoraFile> adapter_list(const FluxModel& self, const char* json_text) {
    nlohmann::json list;
    std::optional<std::string> duplicate;
    try {
      list = genplug::internal::parse_bounded_json(std::string(json_text), duplicate);
    } catch (const nlohmann::json::exception& e) {
      throw ConfigError(std::string("loras: not valid JSON: ") + genplug::internal::json_error_text(e));
    } catch (const genplug::internal::JsonTooDeep& e) {
      throw ConfigError(std::string("loras: ") + e.what());
    }
    if (duplicate) throw ConfigError("loras: " + genplug::internal::duplicate_key_text(*duplicate));
    return list.is_null() ? self.settings_.loras : parse_lora_list(list, "loras");
  }

  static FluxModel& adapters_self(genplug_model_t* model, const char* json_text, const char* what) {
    if (!model || !json_text) throw InvalidArgument(std::string(what) + ": NULL argument");
    auto* self = instance_of<FluxModel>(model);
    if (!self) throw InvalidArgument(std::string(what) + ": not an org.genplug.flux instance");
    return *self;
  }

  static genplug_status set_adapters(genplug_model_t* model, const char* json_text, const genplug_context_t* c) {
    return guarded(c, [&] {
      FluxModel& self = adapters_self(model, json_text, "adapters.set");
      Context ctx(c);
      const std::vector<LoraFile> loras = adapter_list(self, json_text);
      if (same_loras(loras, self.active_loras_)) return;
      self.use_loras(loras, self.base_weights(), ctx, "loras");
    });
  }

  // GENPLUG_EXT_MODEL_ADAPTER_CHECK: what set_adapters would refuse before it reads a factor's values.
  static genplug_status check_adapters(genplug_model_t* model, const char* json_text, const genplug_context_t* c) {
    return guarded(c, [&] {
      const FluxModel& self = adapters_self(model, json_text, "adapter_check.check");
      const std::vector<LoraFile> loras = adapter_list(self, json_text);
      if (same_loras(loras, self.active_loras_)) return;  // set will merge nothing: they are merged already
      self.checked_loras(loras, "loras", /*now=*/false);
    });
  }

  // GENPLUG_EXT_MODEL_PREVIEW: the latent averaged to about the preview's size and decoded (latent_preview.hpp).
  static genplug_status preview_thunk(genplug_model_t* model, const DLTensor* latent, uint32_t height, uint32_t width,
                                      uint32_t max_side, DLManagedTensor** image, const genplug_context_t* c) {
    if (image) *image = nullptr;
    return guarded(c, [&] {
      if (!model || !latent || !image) throw InvalidArgument("preview: NULL argument");
      if (max_side < 16) throw InvalidArgument("preview: max_side " + std::to_string(max_side) + " is below 16");
      auto* self = instance_of<FluxModel>(model);
      if (!self) throw InvalidArgument("preview: not an org.genplug.flux instance");
      Context ctx(c);
      *image = self->preview(*latent, height, width, max_side, ctx);
    });
  }

  DLManagedTensor* preview(const DLTensor& latent, uint32_t height, uint32_t width, uint32_t max_side, Context& ctx) {
    ctx.check_cancelled();
    auto [gh, gw] = grid(height, width, "preview");
    torch::Tensor z = unpack_latent(checked_latent(latent, gh, gw, "preview"), gh, gw).to(device_, compute_dtype_);
    const Autoencoder& vae = require_vae("preview");
    const IntraOpThreads threads(vae.device().is_cpu());
    torch::Tensor image = rethrow_as(GENPLUG_E_FAILED, "preview", [&] {
      return preview_decode(vae, z, height, width, max_side);
    });
    return to_dlpack(((image.to(torch::kCPU, torch::kFloat32) + 1.0) * 0.5).contiguous());
  }

  static bool same_loras(const std::vector<LoraFile>& a, const std::vector<LoraFile>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const LoraFile& x, const LoraFile& y) { return x.path == y.path && x.scale == y.scale; });
  }

  void condition(const std::string& prompt, const std::string& options_json, const genplug_tensor_sink_t& sink,
                 Context& ctx) override {
    ctx.check_cancelled();
    check_no_condition_options(options_json);
    TextConditioning c;
    current_ctx_ = &ctx;  // the encoders' warnings (prompt and negative prompt) reach this call's host
    struct Reset {
      const Context*& p;
      TextConditioner* text;
      ~Reset() {
        p = nullptr;
        if (text) text->release_unless_kept();  // after the prompt and the negative prompt ("keep_loaded")
      }
    } reset{current_ctx_, text_.get()};
    const IntraOpThreads threads(text_ && !fixed_ && text_->narrow_on_cpu());  // bf16 encoders: oneDNN's threads
    if (fixed_) {
      c = {fixed_->txt.clone(), fixed_->vec.clone()};  // the host owns what it gets: never the cached tensors
    } else if (text_) {
      c = rethrow_as(GENPLUG_E_IO, "condition", [&] { return text_->encode(prompt); });
    } else {
      throw Error(GENPLUG_E_UNSUPPORTED, "condition: no text encoders configured; set config.text or config.conditioning");
    }
    check_finite_conditioning(c, fixed_ ? "config.conditioning" : "", "");
    put(sink, "txt", c.txt);
    put(sink, "vec", c.vec);
    if (cfg_scale_ > 1.0) {  // the negative prompt's conditioning, encoded once: predict() needs it every step
      if (!negative_) negative_ = rethrow_as(GENPLUG_E_IO, "condition: negative_prompt", [&] {
        return text_->encode(settings_.negative_prompt);
      });
      check_finite_conditioning(*negative_, "", "negative_prompt: ");
      put(sink, "txt_negative", negative_->txt.clone());
      put(sink, "vec_negative", negative_->vec.clone());
    }
  }

  DLManagedTensor* noise(uint64_t seed, uint32_t height, uint32_t width, Context& ctx) override {
    ctx.check_cancelled();
    auto [gh, gw] = grid(height, width, "noise");
    // BFL get_noise: randn [1, z, 2*gh, 2*gw] from a seeded CPU generator, then packed.
    at::Generator gen = at::detail::createCPUGenerator(noise_generator_seed(seed));
    torch::Tensor z = torch::randn({1, latent_channels(), 2 * gh, 2 * gw}, gen, torch::TensorOptions().dtype(torch::kFloat32));
    return to_dlpack(pack_latent(z).contiguous().to(device_));  // drawn on the CPU: the same noise on every device
  }

  DLManagedTensor* predict(const genplug_predict_args_t& args, Context& ctx) override {
    ctx.check_cancelled();
    auto [gh, gw] = grid(args.height, args.width, "predict");
    torch::Tensor latent = checked_latent(*args.latent, gh, gw, "predict");
    const int64_t B = latent.size(0);
    const auto [txt, vec] = batch_conditioning(args.conditioning, "", B);
    const RotarySpectrum spectrum = spectrum_of(args.spectrum);
    const RotaryTables pe = rotary_tables(position_ids(txt.size(1), gh, gw), spectrum, device_);
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device_);
    const double guidance = checked_guidance(args.sigma, args.guidance);
    torch::Tensor t = torch::full({B}, args.sigma, f32), g = torch::full({B}, guidance, f32);
    torch::NoGradGuard no_grad;  // inference: the transformer's forward itself records when its caller trains
    const auto cancelled = [&] { ctx.check_cancelled(); };  // between blocks: a Ctrl-C waits one block, not a step
    torch::Tensor v = rethrow_as(GENPLUG_E_FAILED, "predict", [&] {
      return transformer_->forward(latent, txt, t, vec, g, pe, cancelled);
    });
    if (cfg_scale_ > 1.0) {
      // Classifier-free guidance: v = v_neg + s (v - v_neg). A second evaluation rather than a batch of two, so
      // that a step's working memory stays that of one evaluation (geometry()).
      const auto [neg_txt, neg_vec] = batch_conditioning(args.conditioning, "_negative", B);
      if (neg_txt.size(1) != txt.size(1))
        throw InvalidArgument("predict: 'txt_negative' has " + std::to_string(neg_txt.size(1)) + " tokens, 'txt' " +
                              std::to_string(txt.size(1)));
      const torch::Tensor v_neg = rethrow_as(GENPLUG_E_FAILED, "predict (negative prompt)", [&] {
        return transformer_->forward(latent, neg_txt, t, neg_vec, g, pe, cancelled);
      });
      v = v_neg + cfg_scale_ * (v - v_neg);
    }
    if (!torch::isfinite(v).all().item<bool>()) throw_if_weights_not_finite();  // else the host names the velocity
    return to_dlpack(v.to(latent.device(), latent.scalar_type()).contiguous());  // model.h: where the latent is
  }

  // A velocity that is not finite, from weights that are not (a damaged checkpoint, a Q8_0 block's NaN scale): the
  // tensor and file named, which the host's "velocity with N non-finite values" cannot. Scanned only then, and
  // only the floating-point tensors: 8-bit weights keep no base, other GGUF blocks are bytes. A scan that fails
  // (no memory for its temporary on a full GPU) leaves the host's message.
  void throw_if_weights_not_finite() const {
    std::string found;
    try {
      for (const auto& [name, w] : base_weights_) {
        if (!w.is_floating_point()) continue;
        const int64_t bad = w.numel() - torch::isfinite(w).sum().item<int64_t>();
        if (bad > 0) {
          found = "'" + name + "' holds " + std::to_string(bad);
          break;
        }
      }
    } catch (const std::exception&) {
      return;
    }
    if (!found.empty())
      throw Error(GENPLUG_E_FAILED, "predict: the velocity is not finite: the transformer's " + found +
                                        " NaN or infinite values (config.transformer: " + settings_.transformer + ")");
  }

  DLManagedTensor* decode(const DLTensor& latent, uint32_t height, uint32_t width, Context& ctx) override {
    ctx.check_cancelled();
    auto [gh, gw] = grid(height, width, "decode");
    torch::Tensor x = checked_latent(latent, gh, gw, "decode");
    const Autoencoder& vae = require_vae("decode");
    torch::Tensor z = unpack_latent(x, gh, gw).to(device_, compute_dtype_);
    // A tiled decode of a large image takes minutes on a CPU: progress and the host's cancel after every tile.
    const auto after_tile = [&](int64_t done, int64_t total) {
      if (ctx.progress(uint64_t(done), uint64_t(total), "decode")) throw Cancelled();
      ctx.check_cancelled();
    };
    check_decode_address_space(gh, gw);
    const IntraOpThreads threads(vae.device().is_cpu());
    torch::Tensor image = rethrow_as(GENPLUG_E_FAILED, "decode", [&] { return vae.decode(z, after_tile); });
    return to_dlpack(((image.to(torch::kCPU, torch::kFloat32) + 1.0) * 0.5).contiguous());
  }

  DLManagedTensor* encode(const DLTensor& image_in, Context& ctx) override {
    ctx.check_cancelled();
    torch::Tensor image = from_dlpack(image_in, "encode: image");
    if (image.dim() != 4 || image.size(1) != 3)
      throw InvalidArgument("encode: image must be [B, 3, H, W], got " + sizes(image));
    grid(uint32_t(image.size(2)), uint32_t(image.size(3)), "encode");
    const Autoencoder& vae = require_vae("encode");
    torch::Tensor x = (image.to(device_, compute_dtype_) * 2.0 - 1.0);
    const IntraOpThreads threads(vae.device().is_cpu());
    torch::Tensor z = rethrow_as(GENPLUG_E_FAILED, "encode", [&] { return vae.encode(x); });
    return to_dlpack(pack_latent(z.to(torch::kFloat32)).contiguous());  // on the model's device, as noise()
  }

 private:
  const FluxConfig& config() const { return transformer_->config(); }

  // Peak working memory of one render of gh x gw tokens (geometry()), an upper-side estimate:
  //   latents: the latent and up to 4 scheduler buffers, float32;
  //   transformer: over L = text + image tokens, in the model dtype, 9 hidden per token (a double-stream block
  //     during attention: the streams, both qkv products, the joined v, q, k and the output; the single-stream
  //     block holds less), plus one run of the per-token work (kDefaultTokenRun tokens of the single block's
  //     2 mlp + 5 hidden: its MLP half, GELU joined with the attention output, linear2, the gate, LayerNorm),
  //     the rotary tables (float32) and the attention workspace (the fused path's packed keys and values per
  //     worker, or the chunked path's scores, capped at config.attention_memory_mb). FLUX-dev's shapes measured
  //     101 KiB per token and ~200 MiB per run against this 108 KiB and 312 MiB in float32 on the CPU
  //     (docs/performance.md, "Memory at 16 MP"). Without the CPU's float32 kernels (other dtypes, CUDA) the
  //     QK norm and rotary run as libtorch's steps through float32 temporaries (6 hidden per token in float32
  //     more) and GELU takes a buffer of its own per run (mlp more). The buffers narrow weights are widened
  //     into are added (FluxTransformer::widening_buffer_bytes);
  //   decode: the widest feature map (ch * max(ch_mult) channels) over the decoded area (a tile when tiled,
  //     else the whole image) x3 for a resblock's temporaries, float32.
  uint64_t working_memory(int64_t gh, int64_t gw) const {
    const FluxConfig& c = config();
    const uint64_t image_tokens = uint64_t(gh * gw), text_tokens = 512, L = image_tokens + text_tokens;
    const uint64_t elt = compute_dtype_ == torch::kFloat32 ? 4 : 2;
    const uint64_t latents = 5 * image_tokens * uint64_t(c.in_channels) * 4;
    const bool own_kernels = device_.is_cpu() && compute_dtype_ == torch::kFloat32;
    const uint64_t hidden = uint64_t(c.hidden_size), mlp = uint64_t(c.mlp_hidden());
    const uint64_t run = std::min<uint64_t>(L, uint64_t(kDefaultTokenRun));
    uint64_t activations = (L * 9 * hidden + run * (2 * mlp + 5 * hidden)) * elt;
    if (!own_kernels) activations += L * 6 * hidden * 4 + run * mlp * elt;
    activations += uint64_t(transformer_->widening_buffer_bytes());
    const uint64_t tables = 2 * L * uint64_t(c.head_dim() / 2) * 4;
    // float32 on the CPU: the fused attention, each worker with one head's keys and values packed (float32);
    // elsewhere the chunked path's scores, capped by the budget.
    const uint64_t attention = own_kernels ? uint64_t(attention_workers(0)) * 2 * L * uint64_t(c.head_dim()) * 4
                                     : std::min<uint64_t>(uint64_t(settings_.attention_memory_mb) << 20,
                                                          uint64_t(c.num_heads) * L * L * 4);
    return latents + activations + tables + attention + decode_memory(gh, gw);
  }

  // The decode's part of working_memory (0 without a VAE).
  uint64_t decode_memory(int64_t gh, int64_t gw) const {
    if (!vae_) return 0;
    const AutoencoderConfig& v = vae_->config();
    const TiledDecode& t = vae_->tiled_decode();
    const int64_t lh = 2 * gh, lw = 2 * gw;  // latent pixels (2 x 2 per token)
    const bool tiled = t.enabled && t.applies_to(lh, lw);
    const uint64_t area = tiled ? uint64_t(t.tile * t.tile) : uint64_t(lh * lw);
    const uint64_t width = uint64_t(v.ch * *std::max_element(v.ch_mult.begin(), v.ch_mult.end()));
    uint64_t decode = 3 * area * uint64_t(v.downscale() * v.downscale()) * width * 4 / 4;  // widest maps at 1/2 res
    decode += 3 * uint64_t(lh * lw) * uint64_t(v.downscale() * v.downscale()) * 4;          // the image itself
    return decode;
  }

  // Under ulimit -v, a CPU decode needs room besides its maps for the threads it starts (a stack a CPU) and
  // oneDNN's compiled kernels and primitives (24 MiB): on 2 CPUs, 30 MiB was measured past the decode's entry (9 for
  // threads, 21 for primitives), 40 is counted. Short of it, a thread pool had deadlocked starting its threads and
  // oneDNN crashed (SIGSEGV) on a JIT buffer it did not check, rather than failing: refused as out of memory instead.
  void check_decode_address_space(int64_t gh, int64_t gw) const {
    if (!vae_ || !vae_->device().is_cpu()) return;
    const std::optional<uint64_t> left = internal::address_space_left();
    const uint64_t needed =
        decode_memory(gh, gw) + internal::usable_cpus() * internal::thread_stack_bytes() + (uint64_t(24) << 20);
    if (!left || needed <= *left) return;
    auto mib = [](uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; };
    throw Error(GENPLUG_E_OUT_OF_MEMORY, "needs about " + mib(needed) +
                                             " of address space (its feature maps, its threads' stacks and compiled "
                                             "kernels), and ulimit -v leaves " + mib(*left));
  }

  // FLUX's position ids for a text length and token grid, kept on the device between evaluations of one image.
  const torch::Tensor& position_ids(int64_t txt_len, int64_t gh, int64_t gw) {
    const std::array<int64_t, 3> key{txt_len, gh, gw};
    if (key != ids_key_ || !ids_.defined()) {
      ids_ = flux_position_ids(txt_len, gh, gw, int64_t(config().axes_dim.size())).to(device_);
      ids_key_ = key;
    }
    return ids_;
  }
  int64_t latent_channels() const { return config().in_channels / 4; }
  int64_t pixels_per_token() const { return 2 * (vae_ ? vae_->config().downscale() : 8); }

  static std::string sizes(const torch::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
  }

  std::pair<int64_t, int64_t> grid(uint32_t height, uint32_t width, const char* what) const {
    const int64_t p = pixels_per_token();
    if (height == 0 || width == 0 || height % p || width % p)
      throw InvalidArgument(std::string(what) + ": " + std::to_string(width) + " x " + std::to_string(height) +
                            " is not a positive multiple of " + std::to_string(p) + " pixels");
    if (height > kMaxRenderSide || width > kMaxRenderSide)  // beyond, the token count and memory estimate lose their meaning
      throw InvalidArgument(std::string(what) + ": " + std::to_string(width) + " x " + std::to_string(height) +
                            " is larger than " + std::to_string(kMaxRenderSide) + " pixels a side");
    return {height / p, width / p};
  }

  // NaN or infinity in the conditioning would make every image NaN, found only at the first evaluation of `run`, and
  // never by `genplug encode`, which had written it to a file with exit 0. Said here with the encoder that made it:
  // T5 makes txt, CLIP vec. `source` names precomputed conditioning ("" for the encoders).
  // `prompt` says whose conditioning it is ("negative_prompt: " for true_cfg_scale's).
  static void check_finite_conditioning(const TextConditioning& c, const std::string& source,
                                        const std::string& prompt) {
    for (const auto& [name, t, encoder] : {std::tuple{"txt", &c.txt, "T5"}, std::tuple{"vec", &c.vec, "CLIP"}}) {
      const int64_t bad = t->numel() - torch::isfinite(*t).sum().item<int64_t>();
      if (bad == 0) continue;
      const std::string what = source.empty() ? std::string("the ") + encoder + " encoder's " + name : source + "'s " + name;
      throw Error(GENPLUG_E_FAILED, "condition: " + prompt + what + " holds " + std::to_string(bad) + " non-finite values of " +
                                        std::to_string(t->numel()) +
                                        (source.empty() ? " (NaN or infinity in its weights, or an overflow in its "
                                                          "dtype)"
                                                        : ""));
    }
  }

  // condition()'s options: a JSON object (model.h), and FLUX takes none.
  static void check_no_condition_options(const std::string& options_json) {
    if (options_json.empty()) return;
    nlohmann::json options;
    try {
      options = genplug::internal::parse_bounded_json(options_json);
    } catch (const nlohmann::json::exception& e) {
      throw InvalidArgument(std::string("condition: options are not valid JSON: ") +
                            genplug::internal::json_error_text(e));
    } catch (const genplug::internal::JsonTooDeep& e) {
      throw InvalidArgument(std::string("condition: options: ") + e.what());
    }
    if (!options.is_object())
      throw InvalidArgument("condition: options must be a JSON object, not " + std::string(options.type_name()));
    if (!options.empty())
      throw ConfigError("condition: options: FLUX takes none, got '" + options.begin().key() + "'");
  }

  // predict()'s sigma in [0, 1] (model.h), and a guidance a float32 holds; a model without guidance ignores it.
  double checked_guidance(double sigma, double guidance) const {
    if (!(sigma >= 0.0 && sigma <= 1.0))
      throw InvalidArgument("predict: sigma " + std::to_string(sigma) + " is outside [0, 1]");
    if (!config().guidance_embed) return 0.0;
    if (!std::isfinite(float(guidance)))
      throw InvalidArgument("predict: guidance " + std::to_string(guidance) + " is not a finite float32");
    return guidance;
  }

  torch::Tensor checked_latent(const DLTensor& t, int64_t gh, int64_t gw, const char* what) const {
    torch::Tensor x = from_dlpack(t, std::string(what) + ": latent");
    const int64_t C = config().in_channels;
    if (x.dim() != 3 || x.size(0) < 1 || x.size(1) != gh * gw || x.size(2) != C || !x.is_floating_point())
      throw InvalidArgument(std::string(what) + ": latent is " + sizes(x) + ", a " + std::to_string(gw * pixels_per_token()) +
                            " x " + std::to_string(gh * pixels_per_token()) + " image needs [B, " + std::to_string(gh * gw) +
                            ", " + std::to_string(C) + "] floats");
    return x;
  }

  // Conditioning txt<suffix> [B or 1, T, context] and vec<suffix> [B or 1, vec], expanded to the batch of B.
  std::pair<torch::Tensor, torch::Tensor> batch_conditioning(const genplug_tensor_list_t* list, const std::string& suffix,
                                                             int64_t B) const {
    torch::Tensor txt = conditioning(list, "txt" + suffix), vec = conditioning(list, "vec" + suffix);
    if (txt.dim() != 3 || vec.dim() != 2 || txt.size(0) != vec.size(0) || (txt.size(0) != B && txt.size(0) != 1))
      throw InvalidArgument("predict: conditioning 'txt" + suffix + "' must be [B, T, " +
                            std::to_string(config().context_in_dim) + "] and 'vec" + suffix + "' [B, " +
                            std::to_string(config().vec_in_dim) + "] for a batch of " + std::to_string(B));
    return {txt.expand({B, txt.size(1), txt.size(2)}), vec.expand({B, vec.size(1)})};
  }

  torch::Tensor conditioning(const genplug_tensor_list_t* list, const std::string& name) const {
    for (uint32_t i = 0; list && i < list->count; ++i)
      if (list->names && list->names[i] && name == list->names[i] && list->tensors && list->tensors[i])
        return from_dlpack(*list->tensors[i], "predict: conditioning '" + name + "'");
    throw InvalidArgument("predict: conditioning '" + name + "' is missing (condition() produces txt and vec)");
  }

  RotarySpectrum spectrum_of(const genplug_spectrum_t* s) const {
    if (!s) return plain_spectrum(config().axes_dim, config().theta);
    RotarySpectrum out;
    out.axes_dim = config().axes_dim;
    size_t pairs = 0;
    for (int64_t d : out.axes_dim) pairs += size_t(d / 2);
    if (!s->freqs || s->freq_capacity < pairs || !s->amplitude || s->amplitude_capacity < out.axes_dim.size())
      throw InvalidArgument("predict: spectrum needs " + std::to_string(pairs) + " freqs and " +
                            std::to_string(out.axes_dim.size()) + " amplitudes");
    out.freqs.assign(s->freqs, s->freqs + pairs);
    out.amplitude.assign(s->amplitude, s->amplitude + out.axes_dim.size());
    // A NaN or infinite value would turn every velocity non-finite, and the call would still succeed.
    for (const auto* values : {&out.freqs, &out.amplitude})
      for (size_t i = 0; i < values->size(); ++i)
        if (!std::isfinite((*values)[i]))
          throw InvalidArgument(std::string("predict: spectrum ") + (values == &out.freqs ? "freqs[" : "amplitude[") +
                                std::to_string(i) + "] is " + std::to_string((*values)[i]) + ", not a finite number");
    return out;
  }

  // Conditioning stays in the encoders' dtype on their device: predict() reads it in place every step.
  void put(const genplug_tensor_sink_t& sink, const char* name, const torch::Tensor& t) const {
    DLManagedTensor* m = to_dlpack(t.contiguous());
    const genplug_status st = sink.put(&sink, name, m);  // takes ownership even when it fails
    if (st != GENPLUG_OK) throw Error(st, std::string("condition: the host rejected tensor '") + name + "'");
  }

  const Autoencoder& require_vae(const char* what) const {
    if (!vae_) throw Error(GENPLUG_E_UNSUPPORTED, std::string(what) + ": config.vae is \"none\"");
    return *vae_;
  }

  void load_vae() {
    if (settings_.vae == "none") return;
    if (settings_.vae == "random") {
      const bool small = preset_ == "tiny" || preset_ == "mini";
      const AutoencoderConfig c = small ? AutoencoderConfig::tiny() : AutoencoderConfig::flux();
      vae_ = Autoencoder::random(c, settings_.seed + 1, compute_dtype_, device_);
    } else {
      // As the transformer's: a file that cannot be read is an I/O error (4), one that reads but is no autoencoder
      // of a shape this model takes is the config's (3).
      vae_ = rethrow_as(GENPLUG_E_IO, "vae " + settings_.vae, [&] {
        try {
          return Autoencoder::from_checkpoint(settings_.vae, compute_dtype_, device_);
        } catch (const WeightError& e) {
          throw Error(GENPLUG_E_CONFIG, std::string("vae: ") + e.what());
        }
      });
    }
    TiledDecode tiling = vae_->tiled_decode();
    const auto& t = settings_.vae_tiling;
    if (t.enabled) tiling.enabled = *t.enabled;
    if (t.auto_above) tiling.auto_above = *t.auto_above;
    if (t.tile) tiling.tile = *t.tile;
    // Tiles step by tile - overlap: at least half a tile keeps a decode within 4x the untiled work (8 and 7 had
    // stepped by 1 latent pixel, a tile per pixel: minutes for a thumbnail). The default overlap shrinks with a
    // smaller tile; one given with the default tile is checked here (both given: when parsed).
    if (t.overlap) {
      tiling.overlap = *t.overlap;
      if (tiling.overlap > tiling.tile / 2)
        throw ConfigError("config.vae_tiling.overlap: " + std::to_string(tiling.overlap) +
                          " must be at most half of tile (" + std::to_string(tiling.tile) + ", the default)");
    } else {
      tiling.overlap = std::min(tiling.overlap, tiling.tile / 2);
    }
    vae_->set_tiled_decode(tiling);
    if (vae_->config().z_channels != latent_channels())
      throw ConfigError("config.vae: the autoencoder has " + std::to_string(vae_->config().z_channels) +
                        " latent channels, the transformer takes " + std::to_string(latent_channels()) +
                        " (in_channels " + std::to_string(config().in_channels) + " / 4)");
    // The host takes RGB images (model.h): another decoder would fail only after the whole denoise.
    if (vae_->config().out_ch != 3 || vae_->config().in_channels != 3)
      throw ConfigError("config.vae: the autoencoder decodes " + std::to_string(vae_->config().out_ch) +
                        " channels and encodes " + std::to_string(vae_->config().in_channels) +
                        " (decoder.conv_out, encoder.conv_in); images are RGB, 3 channels");
  }

  void load_conditioning(Context& ctx) {
    const int64_t ctx_dim = config().context_in_dim, vec_dim = config().vec_in_dim;
    if (!settings_.conditioning.empty()) {
      fixed_ = rethrow_as(GENPLUG_E_IO, "config.conditioning", [&] {
        return read_conditioning_file(settings_.conditioning, ctx_dim, vec_dim, device_, torch::kFloat32);
      });
      if (!settings_.text.is_null()) ctx.warn("org.genplug.flux: config.conditioning given; config.text is not used");
      return;
    }
    nlohmann::json text = settings_.text;
    if (text.is_null()) {
      if (settings_.transformer != "random") return;  // condition() will say what is missing
      text = {{"random", {{"seed", settings_.seed + 2}}}};
    }
    auto warn = [this](const std::string& m) {
      if (current_ctx_) current_ctx_->warn("org.genplug.flux text: " + m);
    };
    current_ctx_ = &ctx;  // whatever create() warns of reaches this host too (it refuses unknown keys)
    struct Reset {
      const Context*& p;
      ~Reset() { p = nullptr; }
    } reset{current_ctx_};
    text_ = rethrow_as(GENPLUG_E_CONFIG, "config.text", [&] {
      // Handed over in the dtype the transformer computes in (bf16 weights widened to f32: no bf16 rounding).
      try {
        return TextConditioner::create(text, ctx_dim, vec_dim, device_, compute_dtype_, warn,
                                       [](const std::string& what, const std::filesystem::path& file,
                                          const std::string& dtype, double held, double temporary) {
                                         check_text_encoder_fits(what, file.string(), dtype, held, temporary);
                                       });
      } catch (const std::invalid_argument& e) {  // a bad field or a missing file: the config's fault
        throw ConfigError(e.what());  // "text config: ..." names the field already
      } catch (const TextDeviceUnavailable& e) {  // as config.device on this machine
        throw Error(GENPLUG_E_DEVICE, e.what());
      }
    });
  }

  // true_cfg_scale: the setting, else the preset's. Precomputed conditioning holds no negative prompt: guidance
  // given explicitly is then an error, a preset's default is dropped with a note.
  void choose_guidance_scale(Context& ctx) {
    cfg_scale_ = settings_.true_cfg_scale.value_or(preset_defaults(preset_).true_cfg_scale);
    if (cfg_scale_ <= 1.0 || text_) return;
    if (settings_.true_cfg_scale)
      throw ConfigError("config.true_cfg_scale: guidance needs the text encoders to encode negative_prompt, and " +
                        std::string(fixed_ ? "config.conditioning replaces them" : "none are configured"));
    ctx.info("org.genplug.flux: no text encoders, so the preset's true_cfg_scale " + std::to_string(cfg_scale_) +
             " is not applied");
    cfg_scale_ = 1.0;
  }

  bool quantized() const { return settings_.quantize == "int8"; }

  // The weights LoRAs are merged into: those kept, or (8-bit weights) those of the source, loaded again: from the
  // same files, or not at all (a checkpoint replaced under the same path would silently change the base model).
  TensorMap base_weights() const {
    if (!quantized()) return base_weights_;
    if (source_stamp_ != source_stamp(settings_.transformer))
      throw ConfigError("config.transformer: '" + settings_.transformer + "' has changed since the model was created "
                        "(its 8-bit weights are loaded again from it for each LoRA merge); create the model again");
    return load_transformer_source(settings_, dtype_, device_).weights;
  }

  // "bf16", "bf16 weights, f32 compute" when they differ; ", linear weights int8" when quantised.
  std::string dtype_text() const {
    const std::string q = quantized() ? ", linear weights int8" : "";
    if (compute_dtype_ == dtype_) return settings_.dtype + q;
    return settings_.dtype + " weights" + q + ", " + dtype_name(compute_dtype_) + " compute";
  }

  // How the transformer keeps its linear weight matrices: a GGUF file's block types in lower case ("q8_0",
  // "q4_k+q6_k"), "int8" (per row), else their dtype ("f32", "bf16", "f16").
  std::string linear_weights_text() const {
    std::string blocks;
    for (const std::string& type : transformer_->gguf_block_types()) blocks += (blocks.empty() ? "" : "+") + type;
    std::transform(blocks.begin(), blocks.end(), blocks.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!blocks.empty()) return blocks;
    return quantized() ? "int8" : settings_.dtype;
  }

  std::string build_description() const {
    Defaults d = preset_defaults(preset_);
    if (!settings_.base_extent.empty()) d.base_extent = settings_.base_extent;
    const FluxConfig& c = config();
    nlohmann::json j = {
        {"latent_channels", latent_channels()},
        {"patch_size", 2},
        {"vae_downscale", pixels_per_token() / 2},
        {"pixels_per_token", pixels_per_token()},
        {"rotary", {{"axes_dim", c.axes_dim}, {"theta", c.theta}, {"base_extent", d.base_extent}}},
        {"conditioning", cfg_scale_ > 1.0 ? nlohmann::json{"txt", "vec", "txt_negative", "vec_negative"}
                                          : nlohmann::json{"txt", "vec"}},
        {"defaults",
         {{"steps", settings_.steps.value_or(d.steps)},
          {"guidance", settings_.guidance},
          {"true_cfg_scale", cfg_scale_},
          {"width", settings_.width.value_or(d.width)},
          {"height", settings_.height.value_or(d.height)}}},
        {"guidance_embed", c.guidance_embed},
        {"preset", preset_},
        {"dtype", settings_.dtype},
        {"compute_dtype", dtype_name(compute_dtype_)},
        {"quantize", settings_.quantize},
        {"linear_weights", linear_weights_text()},
        {"device", device_.str()}};
    if (device_.is_cpu()) {
      j["cpu_native_bf16"] = cpu_has_native_bf16();
      j["cpu_bf16_outruns_f32"] = cpu_bf16_outruns_f32();  // what compute_dtype "auto" went by
    }
    return j.dump();
  }

  ModelSettings settings_;
  FluxConfig flux_config_;
  TensorMap base_weights_;  // BFL names; never modified (LoRA merges are copies); empty under 8-bit weights
  std::string source_stamp_;  // 8-bit weights: the transformer files as they were loaded (base_weights)
  LoraTargets lora_targets_;  // what a LoRA can change: the base weights' shapes, kept under 8-bit weights too
  std::vector<LoraFile> active_loras_;
  torch::Dtype dtype_ = torch::kFloat32;          // the transformer's weights in memory (config.dtype)
  torch::Dtype compute_dtype_ = torch::kFloat32;  // the transformer's and VAE's activations (compute_dtype.hpp)
  torch::Device device_ = torch::kCPU;
  std::string preset_;
  std::unique_ptr<FluxTransformer> transformer_;
  std::optional<Autoencoder> vae_;
  std::unique_ptr<TextConditioner> text_;
  std::optional<TextConditioning> fixed_;
  double cfg_scale_ = 1.0;                       // true_cfg_scale in effect
  std::optional<TextConditioning> negative_;     // negative_prompt encoded (when cfg_scale_ > 1)
  std::string description_;
  const Context* current_ctx_ = nullptr;
  std::array<int64_t, 3> ids_key_{};
  torch::Tensor ids_;
};

// Whether a created model's info line has said what repair_openblas_core() changed: a create that failed (a config
// error) had not, and the next one says it.
std::atomic<bool> blas_change_said{false};

std::string blas_note(const std::optional<BlasCoreChange>& change) {
  if (!change) return "";
  return "; OpenBLAS runs its " + change->to + " kernels, not the " + change->from + " (SSE3) ones its CPU table " +
         "gives this CPU (" + change->cpu + "), with which its products ran ~4x slower (OPENBLAS_CORETYPE=" +
         change->from + " keeps them)";
}

}  // namespace

std::unique_ptr<Model> make_flux_model(const std::string& config_json, Context& ctx) {
  const auto change = repair_openblas_core();  // before any product: a LoRA merge at create runs one
  // Then OpenBLAS's work buffers, while the address space is the most free (before the weights are mapped): a job's
  // first product that could not map one had retried for ever (openblas_buffers.hpp). Beyond ulimit -v: exit 3.
  if (const std::string why = map_openblas_buffers(); !why.empty()) throw Error(GENPLUG_E_CONFIG, why);
  const bool say = change && !blas_change_said.load();
  // What the constructor's own steps do not name (random weights of a config too large for memory) still
  // arrives without libtorch's backtrace.
  auto model = rethrow_as(GENPLUG_E_FAILED, "building the model", [&] {
    return std::make_unique<FluxModel>(config_json, ctx, blas_note(say ? change : std::nullopt));
  });
  if (say) blas_change_said.store(true);
  return model;
}

}  // namespace genplug::flux
