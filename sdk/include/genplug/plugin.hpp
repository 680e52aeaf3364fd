/// @file
/// genplug — header-only C++17 helpers for writing plugins.
///
/// A plugin library derives from the kind base classes (Posenc, Scheduler, Model), registers its plugins in
/// one function and exports the entry with GENPLUG_EXPORT_ENTRY:
///
/// @code
///   static void register_plugins(genplug::Registry& r) {
///     r.add_posenc(info, [](const std::string& config, genplug::Context& ctx) {
///       return std::make_unique<MyPosenc>(config); });
///   }
///   GENPLUG_EXPORT_ENTRY(register_plugins)
/// @endcode
///
/// Every C thunk is noexcept: a genplug::Error becomes its status code plus message, std::bad_alloc becomes
/// GENPLUG_E_OUT_OF_MEMORY, any other exception GENPLUG_E_INTERNAL with what(). No exception crosses the ABI.
#ifndef GENPLUG_PLUGIN_HPP
#define GENPLUG_PLUGIN_HPP

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "genplug.h"

static_assert(GENPLUG_ABI_MAJOR == 1, "genplug/plugin.hpp is written for ABI major 1");

/// The C++ side of genplug: plugin.hpp (plugin side) and host.hpp (host side).
namespace genplug {

/// An error with a genplug status code; thrown inside a plugin, turned into status + message at the ABI.
class Error : public std::runtime_error {
 public:
  /// An error with status `code` (negative, a GENPLUG_E_* value) and `message` for the host.
  Error(genplug_status code, const std::string& message) : std::runtime_error(message), code_(code) {}
  /// The status code the C thunk returns for this error.
  genplug_status code() const noexcept { return code_; }

 private:
  genplug_status code_;
};

/// A configuration problem; the message should name the field ("config.lambda_s: must be >= 0").
struct ConfigError : Error {
  /// GENPLUG_E_CONFIG with `message`.
  explicit ConfigError(const std::string& message) : Error(GENPLUG_E_CONFIG, message) {}
};
/// A bad argument (a size the plugin cannot serve, a malformed struct): GENPLUG_E_INVALID_ARGUMENT.
struct InvalidArgument : Error {
  /// GENPLUG_E_INVALID_ARGUMENT with `message`.
  explicit InvalidArgument(const std::string& message) : Error(GENPLUG_E_INVALID_ARGUMENT, message) {}
};
/// The host asked to stop (Context::check_cancelled throws it): GENPLUG_E_CANCELLED.
struct Cancelled : Error {
  /// GENPLUG_E_CANCELLED with the message "cancelled".
  Cancelled() : Error(GENPLUG_E_CANCELLED, "cancelled") {}
};

/// Plugin-side view of the host's call context; every service is optional and checked here.
class Context {
 public:
  /// A view of the host's context `c` (may be NULL: every service is then a no-op). Borrowed: valid only
  /// during the call that received it.
  explicit Context(const genplug_context_t* c) noexcept : c_(c) {}
  /// The host's C context, as received.
  const genplug_context_t* raw() const noexcept { return c_; }

  /// A log line for the user (`severity`: a GENPLUG_LOG_* value); nothing when the host has no log.
  void log(int32_t severity, const std::string& message) const noexcept {
    if (c_ && GENPLUG_HAS_FIELD(c_, genplug_context_t, log) && c_->log) c_->log(c_, severity, message.c_str());
  }
  /// log() at GENPLUG_LOG_INFO.
  void info(const std::string& m) const noexcept { log(GENPLUG_LOG_INFO, m); }
  /// log() at GENPLUG_LOG_WARNING.
  void warn(const std::string& m) const noexcept { log(GENPLUG_LOG_WARNING, m); }

  /// Reports progress; true when the host asks to stop.
  bool progress(uint64_t done, uint64_t total, const char* stage) const noexcept {
    if (c_ && GENPLUG_HAS_FIELD(c_, genplug_context_t, progress) && c_->progress)
      return c_->progress(c_, done, total, stage ? stage : "") != 0;
    return false;
  }
  /// True once the host wants the current call stopped (genplug_context_t.is_cancelled).
  bool cancelled() const noexcept {
    return c_ && GENPLUG_HAS_FIELD(c_, genplug_context_t, is_cancelled) && c_->is_cancelled &&
           c_->is_cancelled(c_) != 0;
  }
  /// Throws Cancelled when the host asked to stop.
  void check_cancelled() const {
    if (cancelled()) throw Cancelled();
  }
  /// Reports why the current call fails (genplug_context_t.set_error). The thunks do it for every exception
  /// that leaves a plugin method, so plugin code rarely calls it.
  void set_error(genplug_status code, const char* message) const noexcept {
    if (c_ && GENPLUG_HAS_FIELD(c_, genplug_context_t, set_error) && c_->set_error)
      c_->set_error(c_, code, message ? message : "");
  }

 private:
  const genplug_context_t* c_;
};

/// What a plugin says about itself (copied into the C descriptor at registration; see genplug_descriptor_t).
struct PluginInfo {
  std::string id;                     ///< reverse-DNS, unique: "org.genplug.dype"
  std::string name;                   ///< human-readable
  std::string vendor;                 ///< who makes the plugin
  std::string version;                ///< semver of the plugin: "1.2.0"
  std::string description;            ///< one sentence
  std::vector<std::string> features;  ///< tags ("dynamic", "device:cuda"), may be empty
  std::string config_schema;  ///< JSON Schema text
};

// ---- kind base classes --------------------------------------------------------------------------

/// Base class of a position-encoding plugin (posenc.h); the wrapper makes it a genplug_posenc_t. Methods may
/// throw (Error and its subclasses become their status code). Threads as in genplug_posenc_t.
class Posenc {
 public:
  virtual ~Posenc() = default;
  /// genplug_posenc_t.compute: the spectrum for `query` into `out` (host buffers; the wrapper has checked
  /// the struct sizes). [thread: render]
  virtual void compute(const genplug_posenc_query_t& query, genplug_spectrum_t& out, Context& ctx) = 0;
  /// An optional interface by versioned id, or nullptr (the default). extension(id) is a lookup that cannot
  /// fail (noexcept): NULL means "not provided", never "went wrong". [thread: any]
  virtual const void* extension(const char* /*id*/) noexcept { return nullptr; }
};

/// Base class of a scheduler plugin (scheduler.h); the wrapper makes it a genplug_scheduler_t.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  /// genplug_scheduler_t.sigmas: the schedule of `steps` + 1 values for an image of `image_tokens` tokens
  /// (the wrapper copies it into the host's buffer or reports GENPLUG_E_BUFFER_TOO_SMALL). Thread-safe: calls may
  /// overlap each other and sample() (keep no unlocked mutable state). [thread: any]
  virtual std::vector<double> sigmas(uint32_t steps, uint64_t image_tokens, Context& ctx) = 0;
  /// The number of model evaluations sample() makes for `sigma_count` sigmas (serves both
  /// genplug_scheduler_t.count_evaluations and the 1.0 evaluation_count).
  /// Throws (InvalidArgument) for a count it cannot sample; the 1.0 evaluation_count thunk then returns 0.
  /// Thread-safe, like sigmas(). [thread: any]
  virtual uint64_t evaluation_count(uint32_t sigma_count) = 0;
  /// genplug_scheduler_t.sample: runs the sampler over `request` (the wrapper has checked its struct sizes).
  /// [thread: render]
  virtual void sample(const genplug_sample_request_t& request, Context& ctx) = 0;
  /// An optional interface by versioned id, or nullptr (the default): a lookup that cannot fail (noexcept),
  /// NULL means "not provided". [thread: any]
  virtual const void* extension(const char* /*id*/) noexcept { return nullptr; }
};

/// Base class of an inspector plugin (inspector.h); the wrapper makes it a genplug_inspector_t.
class Inspector {
 public:
  virtual ~Inspector() = default;
  /// genplug_inspector_t.probe: how well it knows `path`: 0 = not a file it reads, 1..100 = the more certain,
  /// the higher (a larger value is a bug: the call fails with GENPLUG_E_INTERNAL). [thread: control]
  virtual uint32_t probe(const std::string& path, Context& ctx) = 0;    // 0 = not a file it reads
  /// genplug_inspector_t.inspect: the description of `path`, as JSON object text; the wrapper keeps the text
  /// until the next call. [thread: control]
  virtual std::string inspect(const std::string& path, Context& ctx) = 0;  // JSON object text
  /// An optional interface by versioned id, or nullptr (the default): a lookup that cannot fail (noexcept),
  /// NULL means "not provided". [thread: any]
  virtual const void* extension(const char* /*id*/) noexcept { return nullptr; }
};

/// Base class of a model plugin (model.h); the wrapper makes it a genplug_model_t. Tensors a method returns
/// are owned by the host from then on (DLPack rules of model.h).
class Model {
 public:
  virtual ~Model() = default;
  /// JSON text; called once when the instance is made (an error then fails create()), kept by the wrapper.
  /// [thread: control]
  virtual std::string describe() = 0;
  /// The geometry for `query` (model.h); `out` arrives zeroed with struct_size set. Throw InvalidArgument
  /// for a size the model cannot make. [thread: any]
  virtual void geometry(const genplug_geometry_query_t& query, genplug_geometry_t& out, Context& ctx) = 0;
  /// genplug_model_t.condition: named conditioning tensors for `prompt`, passed to `sink` (`options_json` is
  /// empty when the host gave none). [thread: render]
  virtual void condition(const std::string& prompt, const std::string& options_json,
                         const genplug_tensor_sink_t& sink, Context& ctx) = 0;
  /// genplug_model_t.noise: the initial latent for an image of `height` x `width` pixels. [thread: render]
  virtual DLManagedTensor* noise(uint64_t seed, uint32_t height, uint32_t width, Context& ctx) = 0;
  /// genplug_model_t.predict: the velocity for `args` (the wrapper has checked the struct sizes).
  /// [thread: render]
  virtual DLManagedTensor* predict(const genplug_predict_args_t& args, Context& ctx) = 0;
  /// genplug_model_t.decode: the image of a latent (model.h's image convention). [thread: render]
  virtual DLManagedTensor* decode(const DLTensor& latent, uint32_t height, uint32_t width, Context& ctx) = 0;
  /// genplug_model_t.encode: the latent of an image. [thread: render]
  virtual DLManagedTensor* encode(const DLTensor& image, Context& ctx) = 0;
  /// An optional interface by versioned id (GENPLUG_EXT_MODEL_TENSOR_OPS, GENPLUG_EXT_MODEL_ADAPTERS), or
  /// nullptr (the default): a lookup that cannot fail (noexcept), NULL means "not provided". The table must
  /// live as long as the instance.
  /// [thread: any]
  virtual const void* extension(const char* /*id*/) noexcept { return nullptr; }
};

/// Makes an instance of `Kind` from the config text (the host's, never empty: the wrapper refuses a NULL or empty
/// one, as entry.h asks; "{}" is every default); throw ConfigError for a bad config. Called by the factory's
/// create(). [thread: control]
template <class Kind>
using MakeFn = std::function<std::unique_ptr<Kind>(const std::string& config_json, Context& ctx)>;

namespace detail {

// Runs f, turning every exception into a status and a message for the host. noexcept by construction.
template <class F>
genplug_status guard(const genplug_context_t* ctx, F&& f) noexcept {
  Context c(ctx);
  try {
    f();
    return GENPLUG_OK;
  } catch (const Error& e) {
    const genplug_status code = e.code() < 0 ? e.code() : GENPLUG_E_INTERNAL;  // an error must not read as success
    c.set_error(code, e.what());
    return code;
  } catch (const std::bad_alloc&) {
    c.set_error(GENPLUG_E_OUT_OF_MEMORY, "out of memory");
    return GENPLUG_E_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    c.set_error(GENPLUG_E_INTERNAL, e.what());
    return GENPLUG_E_INTERNAL;
  } catch (...) {
    c.set_error(GENPLUG_E_INTERNAL, "unknown exception in plugin");
    return GENPLUG_E_INTERNAL;
  }
}

// Instance structs: the C struct comes first so the host's pointer is also ours.
struct PosencInstance {
  genplug_posenc_t c{};
  std::unique_ptr<Posenc> impl;

  static PosencInstance* self(genplug_posenc_t* p) { return static_cast<PosencInstance*>(p->impl); }
  static void destroy(genplug_posenc_t* p) noexcept {
    if (p) delete self(p);
  }
  static genplug_status compute(genplug_posenc_t* p, const genplug_posenc_query_t* q, genplug_spectrum_t* out,
                                const genplug_context_t* ctx) noexcept {
    return guard(ctx, [&] {
      if (!p || !q || !out) throw InvalidArgument("posenc.compute: NULL argument");
      // Structs from an older or broken host must hold every field the plugin reads.
      if (!GENPLUG_HAS_FIELD(q, genplug_posenc_query_t, t))
        throw InvalidArgument("query.struct_size: " + std::to_string(q->struct_size) + " is too small");
      if (!GENPLUG_HAS_FIELD(out, genplug_spectrum_t, amplitude_capacity))
        throw InvalidArgument("spectrum.struct_size: " + std::to_string(out->struct_size) + " is too small");
      if (!q->layout) throw InvalidArgument("query.layout: NULL");
      if (!GENPLUG_HAS_FIELD(q->layout, genplug_rotary_layout_t, pixels_per_token))
        throw InvalidArgument("layout.struct_size: " + std::to_string(q->layout->struct_size) + " is too small");
      Context context(ctx);
      self(p)->impl->compute(*q, *out, context);
    });
  }
  static const void* get_extension(genplug_posenc_t* p, const char* id) noexcept {
    return p && id ? self(p)->impl->extension(id) : nullptr;
  }
  explicit PosencInstance(std::unique_ptr<Posenc> i) : impl(std::move(i)) {
    c.struct_size = sizeof(genplug_posenc_t);
    c.impl = this;
    c.destroy = &destroy;
    c.compute = &compute;
    c.get_extension = &get_extension;
  }
  void* handle() { return &c; }
};

struct SchedulerInstance {
  genplug_scheduler_t c{};
  std::unique_ptr<Scheduler> impl;

  static SchedulerInstance* self(genplug_scheduler_t* p) { return static_cast<SchedulerInstance*>(p->impl); }
  static void destroy(genplug_scheduler_t* p) noexcept {
    if (p) delete self(p);
  }
  static genplug_status sigmas(genplug_scheduler_t* p, uint32_t steps, uint64_t tokens, double* out,
                               uint32_t capacity, uint32_t* out_count, const genplug_context_t* ctx) noexcept {
    return guard(ctx, [&] {
      if (!p || !out_count) throw InvalidArgument("scheduler.sigmas: NULL argument");
      Context context(ctx);
      std::vector<double> s = self(p)->impl->sigmas(steps, tokens, context);
      *out_count = static_cast<uint32_t>(s.size());
      if (!out || capacity < s.size())
        throw Error(GENPLUG_E_BUFFER_TOO_SMALL,
                    "scheduler.sigmas: buffer holds " + std::to_string(out ? capacity : 0) + " values, " +
                        std::to_string(s.size()) + " needed");
      std::memcpy(out, s.data(), s.size() * sizeof(double));
    });
  }
  // ABI 1.0's form cannot fail: 0 stands for an error (hosts of 1.1 call count_evaluations instead).
  static uint64_t evaluation_count(genplug_scheduler_t* p, uint32_t sigma_count) noexcept {
    try {
      return p ? self(p)->impl->evaluation_count(sigma_count) : 0;
    } catch (...) {
      return 0;
    }
  }
  static genplug_status count_evaluations(genplug_scheduler_t* p, uint32_t sigma_count, uint64_t* out,
                                          const genplug_context_t* ctx) noexcept {
    if (out) *out = 0;
    return guard(ctx, [&] {
      if (!p || !out) throw InvalidArgument("scheduler.count_evaluations: NULL argument");
      *out = self(p)->impl->evaluation_count(sigma_count);
    });
  }
  static genplug_status sample(genplug_scheduler_t* p, const genplug_sample_request_t* r,
                               const genplug_context_t* ctx) noexcept {
    return guard(ctx, [&] {
      if (!p || !r || !r->ops || !r->velocity || !r->sigmas)
        throw InvalidArgument("scheduler.sample: NULL argument");
      if (!GENPLUG_HAS_FIELD(r, genplug_sample_request_t, seed) ||
          !GENPLUG_HAS_FIELD(r->ops, genplug_tensor_ops_t, normal))
        throw InvalidArgument("scheduler.sample: request or tensor-ops struct_size too small");
      Context context(ctx);
      self(p)->impl->sample(*r, context);
    });
  }
  static const void* get_extension(genplug_scheduler_t* p, const char* id) noexcept {
    return p && id ? self(p)->impl->extension(id) : nullptr;
  }
  explicit SchedulerInstance(std::unique_ptr<Scheduler> i) : impl(std::move(i)) {
    c.struct_size = sizeof(genplug_scheduler_t);
    c.impl = this;
    c.destroy = &destroy;
    c.sigmas = &sigmas;
    c.evaluation_count = &evaluation_count;
    c.sample = &sample;
    c.get_extension = &get_extension;
    c.count_evaluations = &count_evaluations;
  }
  void* handle() { return &c; }
};

struct ModelInstance {
  genplug_model_t c{};
  std::unique_ptr<Model> impl;
  std::string description;  // made once at creation: describe() cannot fail afterwards

  static ModelInstance* self(genplug_model_t* p) { return static_cast<ModelInstance*>(p->impl); }
  static void destroy(genplug_model_t* p) noexcept {
    if (p) delete self(p);
  }
  static const char* describe(genplug_model_t* p) noexcept { return p ? self(p)->description.c_str() : nullptr; }
  static genplug_status geometry(genplug_model_t* p, const genplug_geometry_query_t* q, genplug_geometry_t* out,
                                 const genplug_context_t* ctx) noexcept {
    return guard(ctx, [&] {
      if (!p || !q || !out) throw InvalidArgument("model.geometry: NULL argument");
      if (!GENPLUG_HAS_FIELD(q, genplug_geometry_query_t, frames))
        throw InvalidArgument("geometry query struct_size " + std::to_string(q->struct_size) + " is too small");
      if (!GENPLUG_HAS_FIELD(out, genplug_geometry_t, default_steps))
        throw InvalidArgument("geometry struct_size " + std::to_string(out->struct_size) + " is too small");
      const uint32_t size = out->struct_size;
      genplug_geometry_t g{};  // filled whole, then copied as far as the host's struct reaches
      g.struct_size = sizeof(g);
      Context context(ctx);
      self(p)->impl->geometry(*q, g, context);
      if (g.axis_count > GENPLUG_MAX_AXES || g.latent_ndim < 0 || g.latent_ndim > GENPLUG_MAX_AXES)
        throw Error(GENPLUG_E_INTERNAL, "model.geometry: more than GENPLUG_MAX_AXES axes or latent dimensions");
      g.struct_size = std::min<uint32_t>(size, sizeof(g));
      std::memcpy(out, &g, g.struct_size);
    });
  }
  static genplug_status condition(genplug_model_t* p, const char* prompt, const char* options,
                                  const genplug_tensor_sink_t* sink, const genplug_context_t* ctx) noexcept {
    return guard(ctx, [&] {
      if (!p || !prompt || !sink) throw InvalidArgument("model.condition: NULL argument");
      if (!GENPLUG_HAS_FIELD(sink, genplug_tensor_sink_t, put) || !sink->put)
        throw InvalidArgument("model.condition: sink struct_size " + std::to_string(sink->struct_size) +
                              " is too small, or its put is NULL");
      Context context(ctx);
      self(p)->impl->condition(prompt, options ? options : "", *sink, context);
    });
  }
  static genplug_status noise(genplug_model_t* p, uint64_t seed, uint32_t h, uint32_t w, DLManagedTensor** out,
                              const genplug_context_t* ctx) noexcept {
    if (out) *out = nullptr;
    return guard(ctx, [&] {
      if (!p || !out) throw InvalidArgument("model.noise: NULL argument");
      Context context(ctx);
      *out = self(p)->impl->noise(seed, h, w, context);
    });
  }
  static genplug_status predict(genplug_model_t* p, const genplug_predict_args_t* a, DLManagedTensor** out,
                                const genplug_context_t* ctx) noexcept {
    if (out) *out = nullptr;
    return guard(ctx, [&] {
      if (!p || !a || !a->latent || !out) throw InvalidArgument("model.predict: NULL argument");
      if (!GENPLUG_HAS_FIELD(a, genplug_predict_args_t, spectrum) ||
          (a->conditioning && !GENPLUG_HAS_FIELD(a->conditioning, genplug_tensor_list_t, tensors)) ||
          (a->spectrum && !GENPLUG_HAS_FIELD(a->spectrum, genplug_spectrum_t, amplitude_capacity)))
        throw InvalidArgument("model.predict: args, conditioning or spectrum struct_size too small");
      Context context(ctx);
      *out = self(p)->impl->predict(*a, context);
    });
  }
  static genplug_status decode(genplug_model_t* p, const DLTensor* latent, uint32_t h, uint32_t w,
                               DLManagedTensor** out, const genplug_context_t* ctx) noexcept {
    if (out) *out = nullptr;
    return guard(ctx, [&] {
      if (!p || !latent || !out) throw InvalidArgument("model.decode: NULL argument");
      Context context(ctx);
      *out = self(p)->impl->decode(*latent, h, w, context);
    });
  }
  static genplug_status encode(genplug_model_t* p, const DLTensor* image, DLManagedTensor** out,
                               const genplug_context_t* ctx) noexcept {
    if (out) *out = nullptr;
    return guard(ctx, [&] {
      if (!p || !image || !out) throw InvalidArgument("model.encode: NULL argument");
      Context context(ctx);
      *out = self(p)->impl->encode(*image, context);
    });
  }
  static const void* get_extension(genplug_model_t* p, const char* id) noexcept {
    return p && id ? self(p)->impl->extension(id) : nullptr;
  }
  explicit ModelInstance(std::unique_ptr<Model> i) : impl(std::move(i)), description(impl->describe()) {
    c.struct_size = sizeof(genplug_model_t);
    c.impl = this;
    c.destroy = &destroy;
    c.describe = &describe;
    c.condition = &condition;
    c.noise = &noise;
    c.predict = &predict;
    c.decode = &decode;
    c.encode = &encode;
    c.get_extension = &get_extension;
    c.geometry = &geometry;
  }
  void* handle() { return &c; }
};

struct InspectorInstance {
  genplug_inspector_t c{};
  std::unique_ptr<Inspector> impl;
  std::string last;  // the text inspect() returned: valid until the next call

  static InspectorInstance* self(genplug_inspector_t* p) { return static_cast<InspectorInstance*>(p->impl); }
  static void destroy(genplug_inspector_t* p) noexcept {
    if (p) delete self(p);
  }
  static genplug_status probe(genplug_inspector_t* p, const char* path, uint32_t* out,
                              const genplug_context_t* ctx) noexcept {
    if (out) *out = 0;
    return guard(ctx, [&] {
      if (!p || !path || !out) throw InvalidArgument("inspector.probe: NULL argument");
      Context context(ctx);
      const uint32_t score = self(p)->impl->probe(path, context);
      if (score > 100) throw Error(GENPLUG_E_INTERNAL, "inspector.probe: score " + std::to_string(score) + " > 100");
      *out = score;
    });
  }
  static genplug_status inspect(genplug_inspector_t* p, const char* path, const char** out,
                                const genplug_context_t* ctx) noexcept {
    if (out) *out = nullptr;
    return guard(ctx, [&] {
      if (!p || !path || !out) throw InvalidArgument("inspector.inspect: NULL argument");
      Context context(ctx);
      self(p)->last = self(p)->impl->inspect(path, context);
      *out = self(p)->last.c_str();
    });
  }
  static const void* get_extension(genplug_inspector_t* p, const char* id) noexcept {
    return p && id ? self(p)->impl->extension(id) : nullptr;
  }
  explicit InspectorInstance(std::unique_ptr<Inspector> i) : impl(std::move(i)) {
    c.struct_size = sizeof(genplug_inspector_t);
    c.impl = this;
    c.destroy = &destroy;
    c.probe = &probe;
    c.inspect = &inspect;
    c.get_extension = &get_extension;
  }
  void* handle() { return &c; }
};

// The plugins of one kind in a library, behind one C factory.
template <class Kind, class Instance>
struct KindFactory {
  genplug_factory_t c{};  // first: the host's pointer is ours
  struct Item {
    PluginInfo info;
    MakeFn<Kind> make;
    std::vector<const char*> feature_ptrs;
    genplug_descriptor_t desc{};
  };
  std::vector<std::unique_ptr<Item>> items;

  KindFactory() {
    c.struct_size = sizeof(genplug_factory_t);
    c.count = &count;
    c.descriptor = &descriptor;
    c.create = &create;
  }
  void add(PluginInfo info, MakeFn<Kind> make) {
    auto item = std::make_unique<Item>();
    item->info = std::move(info);
    item->make = std::move(make);
    for (const auto& f : item->info.features) item->feature_ptrs.push_back(f.c_str());
    item->feature_ptrs.push_back(nullptr);
    genplug_descriptor_t& d = item->desc;
    d.struct_size = sizeof(genplug_descriptor_t);
    d.id = item->info.id.c_str();
    d.name = item->info.name.c_str();
    d.vendor = item->info.vendor.c_str();
    d.version = item->info.version.c_str();
    d.description = item->info.description.c_str();
    d.features = item->feature_ptrs.data();
    d.config_schema = item->info.config_schema.c_str();
    items.push_back(std::move(item));
  }
  static const KindFactory* self(const genplug_factory_t* f) {
    static_assert(std::is_standard_layout_v<KindFactory>, "the C factory must sit at offset 0");
    return reinterpret_cast<const KindFactory*>(f);
  }
  static uint32_t count(const genplug_factory_t* f) noexcept { return f ? uint32_t(self(f)->items.size()) : 0; }
  static const genplug_descriptor_t* descriptor(const genplug_factory_t* f, uint32_t i) noexcept {
    if (!f || i >= self(f)->items.size()) return nullptr;
    return &self(f)->items[i]->desc;
  }
  static genplug_status create(const genplug_factory_t* f, const char* plugin_id, const char* config,
                               const genplug_context_t* ctx, void** out) noexcept {
    if (out) *out = nullptr;
    return guard(ctx, [&] {
      if (!f || !plugin_id || !config || !out) throw InvalidArgument("factory.create: NULL argument");
      if (!*config) throw ConfigError("config: empty text is not a JSON object (every default is \"{}\")");
      for (const auto& item : self(f)->items) {
        if (item->info.id != plugin_id) continue;
        Context context(ctx);
        std::unique_ptr<Kind> impl = item->make(config, context);
        if (!impl) throw Error(GENPLUG_E_INTERNAL, std::string(plugin_id) + ": create returned nothing");
        auto* inst = new Instance(std::move(impl));
        *out = inst->handle();
        return;
      }
      throw InvalidArgument(std::string("no plugin with id '") + plugin_id + "' in this library");
    });
  }
};

// The wrapper's instance type behind each kind's C handle (instance_of).
template <class Handle>
struct InstanceOf;
template <>
struct InstanceOf<genplug_posenc_t> { using type = PosencInstance; };
template <>
struct InstanceOf<genplug_scheduler_t> { using type = SchedulerInstance; };
template <>
struct InstanceOf<genplug_model_t> { using type = ModelInstance; };
template <>
struct InstanceOf<genplug_inspector_t> { using type = InspectorInstance; };
}  // namespace detail

/// @name For a plugin's extension tables (get_extension)
/// An extension's functions are plain C functions that receive the instance handle. These give them what the
/// wrapper's own thunks use. @{

/// The plugin object behind a handle this library's wrapper made (the handle an extension function receives), as
/// `T` (a class derived from the kind's base class), or nullptr for a NULL handle or an object of another class.
/// Only for handles of this library: the wrapper reads the handle's `impl`. [thread: the calling function's]
template <class T, class Handle>
T* instance_of(Handle* handle) noexcept {
  return handle ? dynamic_cast<T*>(detail::InstanceOf<Handle>::type::self(handle)->impl.get()) : nullptr;
}

/// Runs `f` behind the exception firewall of the wrapper's thunks: GENPLUG_OK when it returns, otherwise the thrown
/// Error's status (std::bad_alloc: GENPLUG_E_OUT_OF_MEMORY, anything else: GENPLUG_E_INTERNAL) with its message
/// in `ctx`. An extension function returning a status is `return genplug::guarded(ctx, [&] { ... });`.
template <class F>
genplug_status guarded(const genplug_context_t* ctx, F&& f) noexcept {
  return detail::guard(ctx, std::forward<F>(f));
}
/// @}

/// Collects a library's plugins; filled by the library's registration function during init().
/// Each add throws InvalidArgument for an empty id or one this library already added (of any kind): hosts reject
/// both, so init() fails with the message rather than the host finding the second copy later.
class Registry {
 public:
  /// Adds a position-encoding plugin: its descriptor and how to make an instance.
  void add_posenc(PluginInfo info, MakeFn<Posenc> make) { posenc_.add(claim(std::move(info)), std::move(make)); }
  /// Adds a scheduler plugin.
  void add_scheduler(PluginInfo info, MakeFn<Scheduler> make) {
    scheduler_.add(claim(std::move(info)), std::move(make));
  }
  /// Adds a model plugin.
  void add_model(PluginInfo info, MakeFn<Model> make) { model_.add(claim(std::move(info)), std::move(make)); }
  /// Adds an inspector plugin.
  void add_inspector(PluginInfo info, MakeFn<Inspector> make) {
    inspector_.add(claim(std::move(info)), std::move(make));
  }

  /// The C factory for a kind id (GENPLUG_KIND_*), or NULL when no plugin of that kind was added.
  const genplug_factory_t* factory(const char* kind_id) const noexcept {
    if (!kind_id) return nullptr;
    if (std::strcmp(kind_id, GENPLUG_KIND_POSENC) == 0 && !posenc_.items.empty()) return &posenc_.c;
    if (std::strcmp(kind_id, GENPLUG_KIND_SCHEDULER) == 0 && !scheduler_.items.empty()) return &scheduler_.c;
    if (std::strcmp(kind_id, GENPLUG_KIND_MODEL) == 0 && !model_.items.empty()) return &model_.c;
    if (std::strcmp(kind_id, GENPLUG_KIND_INSPECTOR) == 0 && !inspector_.items.empty()) return &inspector_.c;
    return nullptr;
  }
  /// Library path given to init(), for plugins that ship files beside the library.
  std::string library_path;

 private:
  PluginInfo claim(PluginInfo info) {
    if (info.id.empty()) throw InvalidArgument("a plugin was added without an id");
    for (const std::string& id : ids_)
      if (id == info.id) throw InvalidArgument("plugin id '" + info.id + "' was added twice by this library");
    ids_.push_back(info.id);
    return info;
  }

  std::vector<std::string> ids_;  // every kind's: hosts take an id to name one plugin whatever its kind
  detail::KindFactory<Posenc, detail::PosencInstance> posenc_;
  detail::KindFactory<Scheduler, detail::SchedulerInstance> scheduler_;
  detail::KindFactory<Model, detail::ModelInstance> model_;
  detail::KindFactory<Inspector, detail::InspectorInstance> inspector_;
};

namespace detail {

template <void (*RegisterFn)(Registry&)>
struct EntryThunks {
  // Independent hosts in one process share one loaded copy of the library and may call init/deinit from
  // their own threads at once (entry.h): the pairs are counted under one lock, the first init builds the
  // registry, the last deinit frees it. get_factory reads it under the same lock; the factory it returns
  // stays valid until the caller's own deinit, because the registry lives while any init is unmatched.
  struct State {
    std::mutex mutex;
    std::unique_ptr<Registry> registry;
    long inits = 0;
  };
  static State& state() {
    // Never destroyed: another host may still hold an init (and call deinit) after this library's static
    // destructors ran, e.g. from its own static destructor at exit.
    // In static storage, not on the heap: no leak when the library is unloaded with it.
    alignas(State) static unsigned char storage[sizeof(State)];
    static State& s = *new (storage) State;
    return s;
  }
  static genplug_status init(const char* library_path, const genplug_context_t* ctx) noexcept {
    return guard(ctx, [&] {
      State& s = state();
      std::lock_guard<std::mutex> lock(s.mutex);
      if (s.inits == 0) {
        auto r = std::make_unique<Registry>();
        r->library_path = library_path ? library_path : "";
        RegisterFn(*r);
        s.registry = std::move(r);
      }
      ++s.inits;
    });
  }
  static void deinit() noexcept {
    State& s = state();
    std::unique_ptr<Registry> last;  // freed outside the lock
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      if (s.inits > 0 && --s.inits == 0) last = std::move(s.registry);
    }
  }
  static const genplug_factory_t* get_factory(const char* kind_id) noexcept {
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    return s.registry ? s.registry->factory(kind_id) : nullptr;
  }
};

}  // namespace detail
}  // namespace genplug

/// Defines the library's one exported symbol from a `void fn(genplug::Registry&)` registration function.
/// The entry's init/deinit are counted under one lock (independent hosts may call them concurrently, entry.h):
/// the first init builds the Registry, the last deinit frees it.
#define GENPLUG_EXPORT_ENTRY(register_fn)                                                        \
  extern "C" GENPLUG_EXPORT const genplug_entry_t genplug_entry = {                              \
      sizeof(genplug_entry_t),                                                                   \
      GENPLUG_ABI_MAJOR,                                                                         \
      GENPLUG_ABI_MINOR,                                                                         \
      &::genplug::detail::EntryThunks<&register_fn>::init,                                       \
      &::genplug::detail::EntryThunks<&register_fn>::deinit,                                     \
      &::genplug::detail::EntryThunks<&register_fn>::get_factory};

#endif  // GENPLUG_PLUGIN_HPP
