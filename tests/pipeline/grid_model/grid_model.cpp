// org.genplug.test.grid — a second, non-FLUX model plugin, written as an outside author would with the SDK
// wrapper and no tensor library. It has two rotary axes (rows, cols), both spatial and no index axis, a
// channel-first latent [1, 3, rows, cols] of 8 px tokens, and an exact velocity: the clean picture x0 is a
// known function of the prompt and of the rotary spectrum it is given, v = (x - x0) / sigma, so Euler lands
// on x0 built from the last evaluation's spectrum. Tests read the host's geometry handling, DyPE's axis
// flags and the tensor paths off it. Config: {"tensor_ops": bool} lends its own CPU tensor operations.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <genplug/plugin.hpp>

#include "grid_formula.hpp"

namespace {

using namespace grid;

// A DLManagedTensor owning float storage.
struct Owned {
  std::vector<float> data;
  std::vector<int64_t> shape, strides;
  DLManagedTensor m{};
};

DLManagedTensor* make_tensor(std::vector<int64_t> shape) {
  auto* o = new Owned;
  o->shape = std::move(shape);
  int64_t n = 1;
  o->strides.resize(o->shape.size());
  for (size_t i = o->shape.size(); i-- > 0;) o->strides[i] = n, n *= o->shape[i];
  o->data.assign(size_t(n), 0.0f);
  DLTensor& t = o->m.dl_tensor;
  t.data = o->data.data();
  t.device = {kDLCPU, 0};
  t.ndim = int32_t(o->shape.size());
  t.dtype = {kDLFloat, 32, 1};
  t.shape = o->shape.data();
  t.strides = o->strides.data();
  o->m.manager_ctx = o;
  o->m.deleter = [](DLManagedTensor* self) { delete static_cast<Owned*>(self->manager_ctx); };
  return &o->m;
}

int64_t count(const DLTensor& t) {
  int64_t n = 1;
  for (int i = 0; i < t.ndim; ++i) n *= t.shape[i];
  return n;
}
float* floats(const DLTensor& t) { return reinterpret_cast<float*>(static_cast<char*>(t.data) + t.byte_offset); }

void require_f32_cpu(const DLTensor& t, const char* what) {
  if (t.device.device_type != kDLCPU || t.dtype.code != kDLFloat || t.dtype.bits != 32 || t.dtype.lanes != 1)
    throw genplug::InvalidArgument(std::string(what) + ": expected a CPU float32 tensor");
}

class GridModel final : public genplug::Model {
 public:
  explicit GridModel(bool lend_ops) : lend_ops_(lend_ops) {}

  std::string describe() override { return R"({"model": "grid", "note": "a test model with an exact velocity"})"; }

  void geometry(const genplug_geometry_query_t& q, genplug_geometry_t& g, genplug::Context&) override {
    g.height = q.height ? q.height : 2 * kBase * kPx;  // default: twice the training size, so posencs act
    g.width = q.width ? q.width : 2 * kBase * kPx;
    if (g.height % kPx || g.width % kPx || q.frames > 1)
      throw genplug::InvalidArgument("grid: " + std::to_string(g.width) + " x " + std::to_string(g.height) +
                                     " is not a multiple of 8 px (one frame)");
    g.frames = g.frame_multiple = 1;
    g.size_multiple = g.pixels_per_token = kPx;
    g.axis_count = 2;
    for (uint32_t a = 0; a < 2; ++a) {
      g.axis_dims[a] = kDim;
      g.axis_flags[a] = GENPLUG_AXIS_SPATIAL;
      g.base_extent[a] = kBase;
    }
    g.target_extent[0] = g.height / kPx;
    g.target_extent[1] = g.width / kPx;
    g.theta = kTheta;
    g.latent_ndim = 4;
    const int64_t shape[4] = {1, 3, g.height / kPx, g.width / kPx};
    std::memcpy(g.latent_shape, shape, sizeof shape);
    g.latent_dtype = {kDLFloat, 32, 1};
    g.latent_device = {kDLCPU, 0};
    g.image_tokens = uint64_t(g.height / kPx) * (g.width / kPx);
    g.working_memory_bytes = 8 * g.image_tokens * 3 * sizeof(float) + uint64_t(3) * g.height * g.width * sizeof(float);
    g.default_steps = 6;
    g.default_guidance = 0.0;
  }

  // "color": three numbers in [0.2, 1] from the prompt's bytes.
  void condition(const std::string& prompt, const std::string&, const genplug_tensor_sink_t& sink,
                 genplug::Context&) override {
    const std::vector<float> color = color_of(prompt);
    DLManagedTensor* t = make_tensor({3});
    std::memcpy(floats(t->dl_tensor), color.data(), 3 * sizeof(float));
    const genplug_status s = sink.put(&sink, "color", t);
    if (s != GENPLUG_OK) throw genplug::Error(s, "grid: the host refused the conditioning");
  }

  DLManagedTensor* noise(uint64_t seed, uint32_t height, uint32_t width, genplug::Context&) override {
    if (height % kPx || width % kPx || !height || !width) throw genplug::InvalidArgument("grid: size not a multiple of 8");
    DLManagedTensor* t = make_tensor({1, 3, height / kPx, width / kPx});
    float* x = floats(t->dl_tensor);
    for (int64_t i = 0; i < count(t->dl_tensor); ++i) {
      const double u1 = uniform(seed * 0x100000001B3ULL + 2 * uint64_t(i)), u2 = uniform(seed * 0x100000001B3ULL + 2 * uint64_t(i) + 1);
      x[i] = float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }
    return t;
  }

  DLManagedTensor* predict(const genplug_predict_args_t& a, genplug::Context&) override {
    const DLTensor& x = *a.latent;
    require_f32_cpu(x, "predict: latent");
    const int64_t rows = a.height / kPx, cols = a.width / kPx;
    if (x.ndim != 4 || x.shape[1] != 3 || x.shape[2] != rows || x.shape[3] != cols)
      throw genplug::InvalidArgument("predict: latent is not [1, 3, rows, cols] for this size");
    if (!(a.sigma > 0.0)) throw genplug::InvalidArgument("predict: sigma must be > 0");
    const float* color = conditioning(a.conditioning);
    std::vector<double> freqs(kDim), amplitude{1.0, 1.0};
    if (a.spectrum) {
      if (a.spectrum->freq_capacity < kDim || a.spectrum->amplitude_capacity < 2)
        throw genplug::InvalidArgument("predict: spectrum too small");
      std::memcpy(freqs.data(), a.spectrum->freqs, kDim * sizeof(double));
      amplitude.assign(a.spectrum->amplitude, a.spectrum->amplitude + 2);
    } else {
      for (uint32_t k = 0; k < kDim; ++k) freqs[k] = std::pow(kTheta, -2.0 * (k % (kDim / 2)) / kDim);
    }
    const std::vector<float> x0 = clean_picture(color, rows, cols, freqs.data(), amplitude.data());
    DLManagedTensor* v = make_tensor({1, 3, rows, cols});
    const float* in = floats(x);
    float* out = floats(v->dl_tensor);
    for (size_t i = 0; i < x0.size(); ++i) out[i] = float((double(in[i]) - x0[i]) / a.sigma);
    return v;
  }

  // Nearest-neighbour upsampling of 0.5 + 0.5 x.
  DLManagedTensor* decode(const DLTensor& latent, uint32_t height, uint32_t width, genplug::Context&) override {
    require_f32_cpu(latent, "decode: latent");
    const int64_t rows = height / kPx, cols = width / kPx;
    if (latent.ndim != 4 || latent.shape[2] != rows || latent.shape[3] != cols)
      throw genplug::InvalidArgument("decode: latent is not [1, 3, rows, cols] for this size");
    DLManagedTensor* image = make_tensor({1, 3, height, width});
    const float* z = floats(latent);
    float* out = floats(image->dl_tensor);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < height; ++y)
        for (int64_t x = 0; x < width; ++x)
          out[(c * height + y) * width + x] = 0.5f + 0.5f * z[(c * rows + y / kPx) * cols + x / kPx];
    return image;
  }

  DLManagedTensor* encode(const DLTensor&, genplug::Context&) override {
    throw genplug::Error(GENPLUG_E_UNSUPPORTED, "grid: encode is not implemented");
  }

  const void* extension(const char* id) noexcept override;

 private:
  static const float* conditioning(const genplug_tensor_list_t* list) {
    for (uint32_t i = 0; list && i < list->count; ++i)
      if (list->names[i] && std::strcmp(list->names[i], "color") == 0) {
        require_f32_cpu(*list->tensors[i], "predict: color");
        return floats(*list->tensors[i]);
      }
    throw genplug::InvalidArgument("predict: conditioning 'color' is missing");
  }

  bool lend_ops_;
};

// The model's own tensor operations (model.h): plain loops, each call logged so tests can see who computed.
genplug_status lincomb(genplug_model_t*, const DLTensor* out, uint32_t n, const DLTensor* const* in, const double* c,
                       const genplug_context_t* ctx) {
  return genplug::detail::guard(ctx, [&] {
    genplug::Context(ctx).log(GENPLUG_LOG_DEBUG, "grid tensor_ops: linear_combination");
    float* o = floats(*out);
    for (int64_t i = 0; i < count(*out); ++i) {
      float acc = 0;
      for (uint32_t k = 0; k < n; ++k) acc = k ? acc + float(c[k]) * floats(*in[k])[i] : float(c[k]) * floats(*in[k])[i];
      o[i] = acc;
    }
  });
}
genplug_status empty_like(genplug_model_t*, const DLTensor* like, DLManagedTensor** out, const genplug_context_t* ctx) {
  return genplug::detail::guard(ctx, [&] {
    genplug::Context(ctx).log(GENPLUG_LOG_DEBUG, "grid tensor_ops: empty_like");
    *out = make_tensor(std::vector<int64_t>(like->shape, like->shape + like->ndim));
  });
}
genplug_status normal(genplug_model_t*, const DLTensor* out, uint64_t seed, uint64_t stream, const genplug_context_t* ctx) {
  return genplug::detail::guard(ctx, [&] {
    for (int64_t i = 0; i < count(*out); ++i) floats(*out)[i] = float(uniform(seed ^ mix(stream) ^ uint64_t(i)) - 0.5);
  });
}
const genplug_model_tensor_ops_t kOps{sizeof(genplug_model_tensor_ops_t), &lincomb, &empty_like, &normal};

const void* GridModel::extension(const char* id) noexcept {
  return lend_ops_ && std::strcmp(id, GENPLUG_EXT_MODEL_TENSOR_OPS) == 0 ? &kOps : nullptr;
}

void register_plugins(genplug::Registry& r) {
  genplug::PluginInfo info{"org.genplug.test.grid", "Grid (test model)", "genplug tests", "1.0.0",
                           "Two spatial rotary axes, no index axis, an exact velocity; no tensor library",
                           {"device:cpu"},
                           R"({"type": "object", "additionalProperties": false,
                               "properties": {"tensor_ops": {"type": "boolean", "default": false}}})"};
  r.add_model(info, [](const std::string& config, genplug::Context&) {
    return std::make_unique<GridModel>(config.find("\"tensor_ops\": true") != std::string::npos ||
                                       config.find("\"tensor_ops\":true") != std::string::npos);
  });
}

}  // namespace

GENPLUG_EXPORT_ENTRY(register_plugins)
