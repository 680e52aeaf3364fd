/// @file
/// genplug — header-only C++17 helpers for hosts: a call context that captures errors, and RAII proxies
/// for plugin instances and DLPack tensors. Loading libraries is the host's business (the reference host
/// uses Boost.DLL, host/); a proxy holds a `keepalive` so the library outlives everything that can reach it.
#ifndef GENPLUG_HOST_HPP
#define GENPLUG_HOST_HPP

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "genplug.h"

namespace genplug {

/// Name of a status code, for messages ("config error"); "failed" for a code it does not know.
inline const char* status_name(genplug_status s) noexcept {
  switch (s) {
    case GENPLUG_OK: return "ok";
    case GENPLUG_E_INVALID_ARGUMENT: return "invalid argument";
    case GENPLUG_E_CONFIG: return "config error";
    case GENPLUG_E_UNSUPPORTED: return "unsupported";
    case GENPLUG_E_OUT_OF_MEMORY: return "out of memory";
    case GENPLUG_E_CANCELLED: return "cancelled";
    case GENPLUG_E_ABI_MISMATCH: return "ABI mismatch";
    case GENPLUG_E_INTERNAL: return "internal error";
    case GENPLUG_E_IO: return "file error";  // status.h: "could not be read or is corrupt"; not a disk's EIO
    case GENPLUG_E_DEVICE: return "device error";
    case GENPLUG_E_BUFFER_TOO_SMALL: return "buffer too small";
    default: return "failed";
  }
}

/// A failed plugin call, as the host sees it: the status, the plugin's message, and who failed.
class PluginError : public std::runtime_error {
 public:
  /// A failure with status `code` and its `message`.
  PluginError(genplug_status code, const std::string& message) : std::runtime_error(message), code_(code) {}
  /// The status the plugin returned (or the host decided on).
  genplug_status code() const noexcept { return code_; }

 private:
  genplug_status code_;
};

/// A plugin that broke the ABI contract rather than failing a call: success with no tensor, a malformed DLPack
/// tensor, a spectrum written past its capacity or with non-finite numbers. The host refuses the result; the
/// reference host reports these as plugin errors (exit code 4), not as a failed call. Code: GENPLUG_E_INTERNAL.
class ContractError : public PluginError {
 public:
  /// A contract violation described by `message` (which names the plugin and the call).
  explicit ContractError(const std::string& message) : PluginError(GENPLUG_E_INTERNAL, message) {}
};

/// Text for a DLPack dtype and device, for messages: "float32 cpu:0".
inline std::string dlpack_text(DLDataType dtype, DLDevice device) {
  const char* code = dtype.code == kDLFloat    ? "float"
                     : dtype.code == kDLInt     ? "int"
                     : dtype.code == kDLUInt    ? "uint"
                     : dtype.code == kDLBfloat  ? "bfloat"
                     : dtype.code == kDLComplex ? "complex"
                                                : nullptr;
  std::string s = (code ? std::string(code) : "type" + std::to_string(dtype.code) + "/") + std::to_string(dtype.bits);
  if (dtype.lanes != 1) s += "x" + std::to_string(dtype.lanes);
  const char* dev = device.device_type == kDLCPU ? "cpu" : device.device_type == kDLCUDA ? "cuda" : "device";
  s += std::string(" ") + dev;
  if (device.device_type != kDLCPU && device.device_type != kDLCUDA) s += std::to_string(device.device_type);
  return s + ":" + std::to_string(device.device_id);
}

/// Text for a DLPack shape, for messages: "[1, 3, 64, 64]".
inline std::string shape_text(const DLTensor& t) {
  std::string s = "[";
  for (int32_t i = 0; t.shape && i < t.ndim; ++i) s += (i ? ", " : "") + std::to_string(t.shape[i]);
  return s + "]";
}

/// What is wrong with a tensor a plugin handed over, checked before the host reads anything but its header:
/// "" when it is well-formed DLPack (0..32 dimensions, a shape array when there are dimensions, no negative
/// extent, an element count that fits in int64, one lane, a data pointer when it has elements); else
/// "no tensor (NULL)" or "a malformed tensor: ...".
inline std::string dlpack_problem(const DLManagedTensor* m) {
  if (!m) return "no tensor (NULL)";
  const DLTensor& t = m->dl_tensor;
  const std::string bad = "a malformed tensor: ";
  if (t.ndim < 0 || t.ndim > 32) return bad + std::to_string(t.ndim) + " dimensions";
  if (t.ndim > 0 && !t.shape) return bad + "no shape array";
  int64_t n = 1;
  for (int32_t i = 0; i < t.ndim; ++i) {
    if (t.shape[i] < 0) return bad + "negative shape " + shape_text(t);
    if (t.shape[i] > 0 && n > INT64_MAX / t.shape[i]) return bad + "shape " + shape_text(t) + " overflows int64";
    n *= t.shape[i];
  }
  if (t.dtype.lanes != 1 || t.dtype.bits == 0) return bad + "dtype " + dlpack_text(t.dtype, t.device);
  if (n > 0 && !t.data) return bad + "shape " + shape_text(t) + " and no data";
  return "";
}

/// Throws ContractError("`what` returned success with <problem>") for a tensor dlpack_problem() refuses.
inline void check_dlpack(const DLManagedTensor* m, const std::string& what) {
  const std::string problem = dlpack_problem(m);
  if (!problem.empty()) throw ContractError(what + " returned success with " + problem);
}

/// The host side of genplug_context_t. One per call chain; not shared between threads.
class CallContext {
 public:
  /// Receives the plugin's log lines (`severity`: a GENPLUG_LOG_* value); called under a lock, as log is
  /// [thread: any].
  using LogFn = std::function<void(int32_t severity, const std::string& message)>;
  /// Receives progress reports. Returns true to ask the plugin to stop.
  using ProgressFn = std::function<bool(uint64_t done, uint64_t total, const std::string& stage)>;

  /// A context with every service of genplug_context_t: set_error, log, progress and is_cancelled.
  CallContext() {
    c_.struct_size = sizeof(genplug_context_t);
    c_.host_data = this;
    c_.set_error = &set_error_thunk;
    c_.log = &log_thunk;
    c_.progress = &progress_thunk;
    c_.is_cancelled = &cancelled_thunk;
  }
  /// Not copyable: the C context points back at this object.
  CallContext(const CallContext&) = delete;
  /// Not copyable.
  CallContext& operator=(const CallContext&) = delete;

  /// The C context to pass to one plugin call; clears the error of the previous call. Valid while this object
  /// lives.
  const genplug_context_t* get() {
    error_code_ = GENPLUG_OK;
    error_.clear();
    stop_asked_ = false;
    return &c_;
  }
  /// Where the plugin's log lines go (nowhere by default).
  void on_log(LogFn f) { log_ = std::move(f); }
  /// Where progress reports go (nowhere by default).
  void on_progress(ProgressFn f) { progress_ = std::move(f); }
  /// The flag is read by is_cancelled(); the caller owns it and keeps it alive.
  void cancel_flag(const std::atomic<bool>* flag) { cancel_ = flag; }

  /// The message the plugin gave through set_error in the current call ("" if none).
  const std::string& error() const { return error_; }
  /// The code the plugin gave through set_error in the current call (GENPLUG_OK if none).
  genplug_status error_code() const { return error_code_; }

  /// Whether this context asked the current call to stop: is_cancelled() or progress() answered 1.
  bool stop_asked() const { return stop_asked_; }

  /// Throws PluginError when `status` is a failure; `what` names the call ("org.genplug.dype: compute").
  /// GENPLUG_E_CANCELLED when nothing asked the call to stop is a ContractError: a host would otherwise take
  /// the plugin's failure for the user's cancel (the reference host's exit 130, which a farm retries).
  void check(genplug_status status, const std::string& what) const {
    if (status == GENPLUG_OK) return;
    if (status == GENPLUG_E_CANCELLED && !stop_asked_ && !(cancel_ && cancel_->load()))
      throw ContractError(what + ": returned GENPLUG_E_CANCELLED, but the host asked nothing to stop (context.h)" +
                          (error_.empty() ? std::string() : ": " + error_));
    std::string msg = what + ": " + status_name(status);
    if (!error_.empty())
      msg += ": " + error_;
    else
      msg += " (the plugin gave no message)";
    throw PluginError(status, msg);
  }

 private:
  static CallContext* self(const genplug_context_t* c) { return static_cast<CallContext*>(c->host_data); }
  /// Most bytes of a plugin's message or log line kept: an 8 MB message had been printed whole, on one line.
  static constexpr size_t kMaxMessage = 64 * 1024;

  static void set_error_thunk(const genplug_context_t* c, genplug_status code, const char* m) {
    try {
      self(c)->error_code_ = code;
      self(c)->error_ = bounded(m ? m : "");
    } catch (...) {
    }
  }
  // `m` cut to kMaxMessage bytes on a UTF-8 character boundary, saying how much was cut.
  static std::string bounded(const char* m) {
    const size_t n = std::strlen(m);
    if (n <= kMaxMessage) return m;
    size_t keep = kMaxMessage;
    while (keep > 0 && (static_cast<unsigned char>(m[keep]) & 0xC0) == 0x80) --keep;  // not inside a character
    return std::string(m, keep) + "... (" + std::to_string(n - keep) + " more bytes)";
  }
  static void log_thunk(const genplug_context_t* c, int32_t severity, const char* m) {
    try {
      std::lock_guard<std::mutex> lock(self(c)->log_mutex_);  // log is [thread: any] in the ABI
      if (self(c)->log_) self(c)->log_(severity, bounded(m ? m : ""));
    } catch (...) {
    }
  }
  static int32_t progress_thunk(const genplug_context_t* c, uint64_t done, uint64_t total, const char* stage) {
    try {
      CallContext* s = self(c);
      bool stop = s->progress_ ? s->progress_(done, total, stage ? stage : "") : false;
      stop = stop || (s->cancel_ && s->cancel_->load());
      if (stop) s->stop_asked_ = true;
      return stop ? 1 : 0;
    } catch (...) {
      self(c)->stop_asked_ = true;
      return 1;
    }
  }
  static int32_t cancelled_thunk(const genplug_context_t* c) {
    const std::atomic<bool>* f = self(c)->cancel_;
    if (!(f && f->load())) return 0;
    self(c)->stop_asked_ = true;
    return 1;
  }

  genplug_context_t c_{};
  LogFn log_;
  std::mutex log_mutex_;
  ProgressFn progress_;
  const std::atomic<bool>* cancel_ = nullptr;
  std::atomic<bool> stop_asked_{false};  // set by progress ([thread: caller]) and is_cancelled ([thread: any])
  std::string error_;
  genplug_status error_code_ = GENPLUG_OK;
};

/// A model's rotary layout, owned by the host (the C struct borrows from it). Comes from the model's
/// geometry() (from_geometry); the host holds no model constant.
struct RotaryLayout {
  std::vector<uint32_t> axis_dims;    ///< rotary dims per axis (even), as in genplug_rotary_layout_t
  double theta = 10000.0;             ///< rotary base
  std::vector<uint32_t> base_extent;  ///< tokens per axis the model was trained at
  uint32_t pixels_per_token = 0;      ///< image pixels per token along a spatial axis
  std::vector<uint32_t> axis_flags;  ///< GENPLUG_AXIS_* per axis; empty: ABI 1.0's "all but axis 0 spatial"

  /// The layout a model's geometry states.
  static RotaryLayout from_geometry(const genplug_geometry_t& g) {
    RotaryLayout l;
    l.axis_dims.assign(g.axis_dims, g.axis_dims + g.axis_count);
    l.theta = g.theta;
    l.base_extent.assign(g.base_extent, g.base_extent + g.axis_count);
    l.pixels_per_token = g.pixels_per_token;
    l.axis_flags.assign(g.axis_flags, g.axis_flags + g.axis_count);
    return l;
  }
  /// The C view (valid while this object lives and is not modified).
  genplug_rotary_layout_t view() const {
    genplug_rotary_layout_t l{};
    l.struct_size = sizeof(l);
    l.axis_count = static_cast<uint32_t>(axis_dims.size());
    l.axis_dims = axis_dims.data();
    l.theta = theta;
    l.base_extent = base_extent.data();
    l.pixels_per_token = pixels_per_token;
    l.axis_flags = axis_flags.empty() ? nullptr : axis_flags.data();
    return l;
  }
  /// The number of frequencies a spectrum of this layout holds: the sum of axis_dims / 2.
  size_t freq_count() const {
    size_t n = 0;
    for (uint32_t d : axis_dims) n += d / 2;
    return n;
  }
};

/// A spectrum owned by the host: freqs axis after axis, one amplitude per axis.
struct Spectrum {
  std::vector<uint32_t> axis_dims;  ///< the layout's axis dims, to split freqs by axis
  std::vector<double> freqs;        ///< axis_dims[a] / 2 frequencies per axis, axis after axis
  std::vector<double> amplitude;    ///< one factor per axis (1 = none)

  /// The C view for model.predict (valid while this object lives and is not resized).
  genplug_spectrum_t view() {
    genplug_spectrum_t s{};
    s.struct_size = sizeof(s);
    s.freqs = freqs.data();
    s.freq_capacity = static_cast<uint32_t>(freqs.size());
    s.amplitude = amplitude.data();
    s.amplitude_capacity = static_cast<uint32_t>(amplitude.size());
    return s;
  }
};

/// Owns one DLManagedTensor received from a plugin; calls its deleter once. Keeps the library alive.
class ManagedTensor {
 public:
  /// No tensor.
  ManagedTensor() = default;
  /// Takes ownership of `t`; `keepalive` holds the library whose code the deleter is.
  ManagedTensor(DLManagedTensor* t, std::shared_ptr<void> keepalive) : t_(t), keepalive_(std::move(keepalive)) {}
  /// Takes the tensor over from `o`, which is left empty.
  ManagedTensor(ManagedTensor&& o) noexcept : t_(std::exchange(o.t_, nullptr)), keepalive_(std::move(o.keepalive_)) {}
  /// Deletes the tensor held, then takes the one of `o` over.
  ManagedTensor& operator=(ManagedTensor&& o) noexcept {
    if (this != &o) {
      reset();
      t_ = std::exchange(o.t_, nullptr);
      keepalive_ = std::move(o.keepalive_);
    }
    return *this;
  }
  /// Deletes the tensor held.
  ~ManagedTensor() { reset(); }
  /// Calls the tensor's deleter (once), then lets the library go; empty afterwards.
  void reset() {
    if (t_ && t_->deleter) t_->deleter(t_);
    t_ = nullptr;
    keepalive_.reset();
  }
  /// True when it holds a tensor.
  explicit operator bool() const { return t_ != nullptr; }
  /// The DLPack tensor held (it must hold one).
  const DLTensor& tensor() const { return t_->dl_tensor; }
  /// The managed tensor held, still owned by this object (NULL when empty).
  DLManagedTensor* get() const { return t_; }
  /// The number of elements: the product of the shape.
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < t_->dl_tensor.ndim; ++i) n *= t_->dl_tensor.shape[i];
    return n;
  }
  /// The shape, one value per dimension.
  std::vector<int64_t> shape() const { return {t_->dl_tensor.shape, t_->dl_tensor.shape + t_->dl_tensor.ndim}; }

 private:
  DLManagedTensor* t_ = nullptr;
  std::shared_ptr<void> keepalive_;
};

namespace detail {
template <class C>
struct InstanceDeleter {
  void operator()(C* p) const noexcept {
    if (p && p->destroy) p->destroy(p);
  }
};
}  // namespace detail

/// Common part of the instance proxies: the C instance, its plugin id, and the library keepalive.
/// `C` is the kind's instance struct (genplug_posenc_t, ...); the proxy calls its destroy() exactly once.
template <class C>
class InstanceProxy {
 public:
  /// No instance.
  InstanceProxy() = default;
  /// Takes ownership of `instance` (from factory create()) of plugin `plugin_id`; `keepalive` holds its library.
  InstanceProxy(C* instance, std::string plugin_id, std::shared_ptr<void> keepalive)
      : id_(std::move(plugin_id)), keepalive_(std::move(keepalive)), p_(instance) {}
  /// Takes the instance over from another proxy.
  InstanceProxy(InstanceProxy&&) noexcept = default;
  /// The old instance is destroyed while its library is still held: keepalive goes last.
  InstanceProxy& operator=(InstanceProxy&& o) noexcept {
    if (this != &o) {
      p_.reset();
      p_ = std::move(o.p_);
      id_ = std::move(o.id_);
      keepalive_ = std::move(o.keepalive_);
    }
    return *this;
  }
  /// Destroys the instance, then lets the library go.
  ~InstanceProxy() { p_.reset(); }
  /// The C instance, still owned by the proxy.
  C* raw() const { return p_.get(); }
  /// The plugin id the instance was made from.
  const std::string& id() const { return id_; }
  /// The handle that keeps the instance's library loaded.
  const std::shared_ptr<void>& keepalive() const { return keepalive_; }
  /// True when it holds an instance.
  explicit operator bool() const { return p_ != nullptr; }
  /// The instance's extension table of `id` (get_extension), or nullptr: none of that id, a NULL get_extension
  /// (taken as "no extensions"), or a struct that stops before it. [thread: any]
  const void* extension(const char* id) const {
    return GENPLUG_HAS_FIELD(raw(), C, get_extension) && raw()->get_extension ? raw()->get_extension(raw(), id)
                                                                                : nullptr;
  }

 protected:
  std::string id_;                                  ///< the plugin id, for messages
  std::shared_ptr<void> keepalive_;                 ///< destroyed last: the library outlives the instance
  std::unique_ptr<C, detail::InstanceDeleter<C>> p_;  ///< the instance; destroy() when released
};

/// A position-encoding instance (genplug_posenc_t).
class PosencProxy : public InstanceProxy<genplug_posenc_t> {
 public:
  using InstanceProxy::InstanceProxy;

  /// The spectrum for `layout`, `target_extent` (one value per axis) and time `t` (posenc compute).
  /// Throws std::invalid_argument for arrays of different lengths, PluginError when the plugin fails, and
  /// ContractError when it writes outside the capacity it was given (guard slots on both sides of each buffer
  /// catch that) or leaves a NaN or infinity in the spectrum.
  Spectrum compute(const RotaryLayout& layout, const std::vector<uint32_t>& target_extent, double t,
                   CallContext& ctx) const {
    if (target_extent.size() != layout.axis_dims.size() || layout.base_extent.size() != layout.axis_dims.size() ||
        (!layout.axis_flags.empty() && layout.axis_flags.size() != layout.axis_dims.size()))
      throw std::invalid_argument("posenc: layout, base extent, flags and target extent need one value per axis");
    const genplug_rotary_layout_t l = layout.view();
    genplug_posenc_query_t q{};
    q.struct_size = sizeof(q);
    q.layout = &l;
    q.target_extent = target_extent.data();
    q.t = t;
    // Each buffer has guard slots on both sides, filled with a NaN of a payload no arithmetic makes: a plugin
    // that writes past the capacity it was given (or before the buffer) changes one and is refused. The slots
    // it must write start as a NaN of another payload: one left so is refused too (a start of 0 and 1 had passed
    // for a spectrum: a partial one was used silently).
    const size_t nf = layout.freq_count(), na = layout.axis_dims.size();
    std::vector<double> freqs(nf + 2 * kGuard, bits_value(kGuardBits)), amplitude(na + 2 * kGuard, bits_value(kGuardBits));
    std::fill_n(freqs.begin() + kGuard, nf, bits_value(kUnwrittenBits));
    std::fill_n(amplitude.begin() + kGuard, na, bits_value(kUnwrittenBits));
    genplug_spectrum_t out{};
    out.struct_size = sizeof(out);
    out.freqs = freqs.data() + kGuard;
    out.freq_capacity = static_cast<uint32_t>(nf);
    out.amplitude = amplitude.data() + kGuard;
    out.amplitude_capacity = static_cast<uint32_t>(na);
    ctx.check(raw()->compute(raw(), &q, &out, ctx.get()), id_ + ": compute");
    check_guards(freqs, nf, "frequency", na);
    check_guards(amplitude, na, "amplitude", na);
    check_written(freqs, amplitude, layout);
    Spectrum s;
    s.axis_dims = layout.axis_dims;
    const auto at = [](std::vector<double>& v, size_t i) { return v.begin() + static_cast<std::ptrdiff_t>(i); };
    s.freqs.assign(at(freqs, kGuard), at(freqs, kGuard + nf));
    s.amplitude.assign(at(amplitude, kGuard), at(amplitude, kGuard + na));
    check_finite(s.freqs, "frequency", layout);
    check_finite(s.amplitude, "amplitude", layout);
    return s;
  }

 private:
  static constexpr size_t kGuard = 4;  ///< guard slots on each side of a spectrum buffer
  static constexpr uint64_t kGuardBits = 0x7ffa677561726400ULL;  ///< a quiet NaN with a payload ("guard")
  static constexpr uint64_t kUnwrittenBits = 0x7ffa6e6f6e650000ULL;  ///< another ("none"): a slot not yet written
  static double bits_value(uint64_t bits) {
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  static bool has_bits(double d, uint64_t bits) {
    uint64_t b;
    std::memcpy(&b, &d, sizeof b);
    return b == bits;
  }
  void check_written(const std::vector<double>& freqs, const std::vector<double>& amplitude,
                     const RotaryLayout& layout) const {
    const auto unwritten = [](const std::vector<double>& v) {
      return std::count_if(v.begin() + kGuard, v.end() - kGuard, [](double d) { return has_bits(d, kUnwrittenBits); });
    };
    const auto f = unwritten(freqs), a = unwritten(amplitude);
    if (f == 0 && a == 0) return;
    throw ContractError(id_ + ": compute returned success and left " + std::to_string(f) + " of " +
                        std::to_string(layout.freq_count()) + " frequencies and " + std::to_string(a) + " of " +
                        std::to_string(layout.axis_dims.size()) +
                        " amplitudes unwritten (or computed from the host's unwritten marker): a posenc writes every frequency "
                        "and amplitude (posenc.h)");
  }
  void check_guards(const std::vector<double>& buffer, size_t capacity, const char* what, size_t axes) const {
    for (size_t i = 0; i < buffer.size(); ++i) {
      if (i >= kGuard && i < kGuard + capacity) continue;
      if (!has_bits(buffer[i], kGuardBits))
        throw ContractError(id_ + ": compute wrote " + (i < kGuard ? "before the start" : "past the end") + " of the " +
                            what + " buffer (capacity " + std::to_string(capacity) + " for " + std::to_string(axes) +
                            " axes): a posenc writes at most the capacity it is given and returns "
                            "GENPLUG_E_BUFFER_TOO_SMALL when it needs more");
    }
  }
  void check_finite(const std::vector<double>& values, const char* what, const RotaryLayout& layout) const {
    for (size_t i = 0; i < values.size(); ++i) {
      if (std::isfinite(values[i])) continue;
      size_t axis = i;  // an amplitude's index is its axis; a frequency's axis follows from the dims
      if (std::strcmp(what, "frequency") == 0) {
        axis = 0;
        for (size_t end = layout.axis_dims[0] / 2; i >= end && axis + 1 < layout.axis_dims.size();)
          end += layout.axis_dims[++axis] / 2;
      }
      throw ContractError(id_ + ": compute returned a non-finite " + what + " (" +
                          (std::isnan(values[i]) ? "NaN" : "inf") + " at index " + std::to_string(i) + ", axis " +
                          std::to_string(axis) + "): a spectrum holds finite numbers only");
    }
  }
};

/// A scheduler instance (genplug_scheduler_t).
class SchedulerProxy : public InstanceProxy<genplug_scheduler_t> {
 public:
  using InstanceProxy::InstanceProxy;

  /// Most sigmas a schedule of the scheduler's own step count (steps 0) may have: a host allocates what the
  /// plugin says it needs, so a count is bounded before it is believed.
  static constexpr uint32_t kMaxDefaultSigmas = (uint32_t(1) << 20) + 1;

  /// The sigma schedule for `steps` steps of an image of `image_tokens` tokens. Throws PluginError, or
  /// ContractError for a schedule that breaks scheduler.h: not steps + 1 values (2 to kMaxDefaultSigmas for
  /// steps 0), more values than the buffer held, a value outside [0, 1] or NaN, or one above the value before.
  std::vector<double> sigmas(uint32_t steps, uint64_t image_tokens, CallContext& ctx) const {
    // A modest first buffer: the plugin says how many it needs (GENPLUG_E_BUFFER_TOO_SMALL) after it has
    // accepted the step count, so an absurd count is refused without allocating for it first.
    std::vector<double> out(std::min<size_t>(size_t(steps) + 1, 4097));
    uint32_t n = 0;
    genplug_status s = raw()->sigmas(raw(), steps, image_tokens, out.data(), uint32_t(out.size()), &n, ctx.get());
    if (s == GENPLUG_E_BUFFER_TOO_SMALL && n > out.size()) {
      check_sigma_count(n, steps, "asked for a buffer of ");
      out.resize(n);
      s = raw()->sigmas(raw(), steps, image_tokens, out.data(), uint32_t(out.size()), &n, ctx.get());
    }
    ctx.check(s, id_ + ": sigmas");
    if (n > out.size())
      throw ContractError(id_ + ": sigmas returned success with " + std::to_string(n) + " values for a buffer of " +
                          std::to_string(out.size()));
    check_sigma_count(n, steps, "returned ");
    out.resize(n);
    check_schedule(out);
    return out;
  }
  /// Model evaluations sample() makes for `sigma_count` sigmas; through count_evaluations (1.1, can fail), or
  /// evaluation_count for a 1.0 scheduler (whose struct stops before it). Throws PluginError; ContractError for 0
  /// evaluations of 2 or more sigmas, which would leave the latent pure noise, and for a struct that holds
  /// count_evaluations as NULL (a 1.1 function missing from a 1.1 plugin: an error, never a fallback).
  uint64_t evaluation_count(uint32_t sigma_count, CallContext& ctx) const {
    if (GENPLUG_HAS_FIELD(raw(), genplug_scheduler_t, count_evaluations) && !raw()->count_evaluations)
      throw ContractError(id_ + ": count_evaluations is NULL in a struct of " + std::to_string(raw()->struct_size) +
                          " bytes, which holds it: a scheduler of ABI 1.1 or later provides it");
    if (!GENPLUG_HAS_FIELD(raw(), genplug_scheduler_t, count_evaluations)) {
      const uint64_t n = raw()->evaluation_count(raw(), sigma_count);  // ABI 1.0: 0 is its only failure signal
      if (n == 0 && sigma_count >= 2)
        throw PluginError(GENPLUG_E_FAILED, id_ + ": evaluation_count: 0 evaluations for " +
                                                std::to_string(sigma_count) + " sigmas (an ABI 1.0 scheduler's error)");
      return n;
    }
    uint64_t n = 0;
    ctx.check(raw()->count_evaluations(raw(), sigma_count, &n, ctx.get()), id_ + ": count_evaluations");
    if (n == 0 && sigma_count >= 2)
      throw ContractError(id_ + ": count_evaluations: 0 model evaluations for " + std::to_string(sigma_count) +
                          " sigmas: no sampler moves a latent without the model");
    return n;
  }
  /// Runs the sampler over `request`. Throws PluginError (GENPLUG_E_CANCELLED included: the scheduler passes on
  /// the velocity callback's, which the context cannot see, so it is not checked against the context here).
  void sample(const genplug_sample_request_t& request, CallContext& ctx) const {
    const genplug_status s = raw()->sample(raw(), &request, ctx.get());
    if (s == GENPLUG_E_CANCELLED) throw PluginError(s, id_ + ": sample: " + status_name(s));
    ctx.check(s, id_ + ": sample");
  }

 private:
  // `n` sigmas for `steps` steps: steps + 1, or for steps 0 (the scheduler's own count) 2 to kMaxDefaultSigmas.
  void check_sigma_count(uint32_t n, uint32_t steps, const char* said) const {
    const bool ok = steps ? uint64_t(n) == uint64_t(steps) + 1 : n >= 2 && n <= kMaxDefaultSigmas;
    if (ok) return;
    throw ContractError(id_ + ": sigmas " + said + std::to_string(n) + " values for " +
                        (steps ? std::to_string(steps) + " steps; a schedule has steps + 1"
                               : "its own step count; a schedule has 2 to " + std::to_string(kMaxDefaultSigmas)));
  }
  // Finite, in [0, 1] (the flow-matching time, model.h), never increasing (scheduler.h).
  void check_schedule(const std::vector<double>& sigmas) const {
    auto text = [](double v) {
      char b[32];
      std::snprintf(b, sizeof b, "%.17g", v);
      return std::string(b);
    };
    for (size_t i = 0; i < sigmas.size(); ++i) {
      if (!(sigmas[i] >= 0.0 && sigmas[i] <= 1.0))  // NaN fails too
        throw ContractError(id_ + ": sigmas: value " + std::to_string(i) + " is " + text(sigmas[i]) +
                            ", outside [0, 1] (a sigma is the flow-matching time: scheduler.h, model.h)");
      if (i > 0 && sigmas[i] > sigmas[i - 1])
        throw ContractError(id_ + ": sigmas: value " + std::to_string(i) + " (" + text(sigmas[i]) +
                            ") is above the one before it (" + text(sigmas[i - 1]) + "): a schedule never increases");
    }
  }
};

/// A model instance (genplug_model_t). Tensors it returns are ManagedTensor objects that keep the library loaded.
class ModelProxy : public InstanceProxy<genplug_model_t> {
 public:
  using InstanceProxy::InstanceProxy;

  /// The model's JSON description (information only). A NULL is a broken plugin: PluginError.
  std::string describe() const {
    const char* d = raw()->describe(raw());
    if (!d) throw PluginError(GENPLUG_E_INTERNAL, id_ + ": describe() returned NULL");
    return d;
  }
  /// True when the model states its geometry (ABI 1.1).
  bool has_geometry() const {
    return GENPLUG_HAS_FIELD(raw(), genplug_model_t, geometry) && raw()->geometry != nullptr;
  }
  /// The geometry for an image of height x width (0 = the model's default), frames for video. Throws PluginError.
  /// ContractError for a struct that holds geometry as NULL (a 1.1 function missing from a 1.1 plugin), and for a
  /// geometry of more than GENPLUG_MAX_AXES axes or latent dimensions (model.h).
  genplug_geometry_t geometry(uint32_t height, uint32_t width, uint32_t frames, CallContext& ctx) const {
    if (GENPLUG_HAS_FIELD(raw(), genplug_model_t, geometry) && !raw()->geometry)
      throw ContractError(id_ + ": geometry is NULL in a struct of " + std::to_string(raw()->struct_size) +
                          " bytes, which holds it: a model of ABI 1.1 or later provides it");
    if (!has_geometry())
      throw PluginError(GENPLUG_E_UNSUPPORTED, id_ + ": an ABI 1.0 model (no geometry()); rebuild it against ABI 1.1");
    genplug_geometry_query_t q{};
    q.struct_size = sizeof(q);
    q.height = height;
    q.width = width;
    q.frames = frames;
    genplug_geometry_t g{};
    g.struct_size = sizeof(g);
    ctx.check(raw()->geometry(raw(), &q, &g, ctx.get()), id_ + ": geometry");
    if (g.axis_count > GENPLUG_MAX_AXES || g.latent_ndim < 0 || g.latent_ndim > GENPLUG_MAX_AXES)
      throw ContractError(id_ + ": geometry returned success with axis_count " + std::to_string(g.axis_count) +
                          " and latent_ndim " + std::to_string(g.latent_ndim) + " (each at most GENPLUG_MAX_AXES, " +
                          std::to_string(GENPLUG_MAX_AXES) + ")");
    return g;
  }
  /// The tensor-ops extension (the model's own arithmetic on its tensors), or NULL when it lends none.
  const genplug_model_tensor_ops_t* tensor_ops() const {
    const auto* o = static_cast<const genplug_model_tensor_ops_t*>(extension(GENPLUG_EXT_MODEL_TENSOR_OPS));
    if (!o) return nullptr;
    if (!GENPLUG_HAS_FIELD(o, genplug_model_tensor_ops_t, normal) || !o->linear_combination || !o->empty_like ||
        !o->normal)  // a broken table is an error, not "no operations" (which would send device tensors to the CPU)
      throw PluginError(GENPLUG_E_INTERNAL, id_ + ": its " GENPLUG_EXT_MODEL_TENSOR_OPS " table is too small or has "
                                                  "NULL members");
    return o;
  }
  /// The initial latent for an image of `height` x `width` pixels, from `seed`. Throws PluginError.
  ManagedTensor noise(uint64_t seed, uint32_t height, uint32_t width, CallContext& ctx) const {
    DLManagedTensor* t = nullptr;
    ctx.check(raw()->noise(raw(), seed, height, width, &t, ctx.get()), id_ + ": noise");
    return expect(t, "noise");
  }
  /// The velocity for `args`: the latent's shape, dtype and device. Throws PluginError.
  ManagedTensor predict(const genplug_predict_args_t& args, CallContext& ctx) const {
    DLManagedTensor* t = nullptr;
    ctx.check(raw()->predict(raw(), &args, &t, ctx.get()), id_ + ": predict");
    return expect(t, "predict");
  }
  /// The image of `latent` (model.h's image convention: CPU float32 [batch, 3, height, width], sRGB).
  /// Throws PluginError.
  ManagedTensor decode(const DLTensor& latent, uint32_t height, uint32_t width, CallContext& ctx) const {
    DLManagedTensor* t = nullptr;
    ctx.check(raw()->decode(raw(), &latent, height, width, &t, ctx.get()), id_ + ": decode");
    return expect(t, "decode");
  }
  /// The latent of `image` (the convention of decode()). Throws PluginError.
  ManagedTensor encode(const DLTensor& image, CallContext& ctx) const {
    DLManagedTensor* t = nullptr;
    ctx.check(raw()->encode(raw(), &image, &t, ctx.get()), id_ + ": encode");
    return expect(t, "encode");
  }
  /// The adapters extension (LoRAs swapped without reloading), or NULL when the model has none.
  const genplug_model_adapters_t* adapters() const {
    const auto* a = static_cast<const genplug_model_adapters_t*>(extension(GENPLUG_EXT_MODEL_ADAPTERS));
    return a && GENPLUG_HAS_FIELD(a, genplug_model_adapters_t, set) && a->set ? a : nullptr;
  }
  /// Makes `adapters_json` the active adapters (see genplug_model_adapters). Throws PluginError.
  void set_adapters(const std::string& adapters_json, CallContext& ctx) const {
    const genplug_model_adapters_t* a = adapters();
    if (!a) throw PluginError(GENPLUG_E_UNSUPPORTED, id_ + ": this model cannot swap adapters (LoRAs)");
    ctx.check(a->set(raw(), adapters_json.c_str(), ctx.get()), id_ + ": adapters");
  }
  /// True when the model can check a list of adapters without applying it (GENPLUG_EXT_MODEL_ADAPTER_CHECK).
  bool can_check_adapters() const { return adapter_check_table() != nullptr; }
  /// Checks `adapters_json` as set_adapters would take it, without applying it (see
  /// genplug_model_adapter_check). Throws PluginError; GENPLUG_E_UNSUPPORTED when the model cannot check.
  void check_adapters(const std::string& adapters_json, CallContext& ctx) const {
    const genplug_model_adapter_check_t* c = adapter_check_table();
    if (!c) throw PluginError(GENPLUG_E_UNSUPPORTED, id_ + ": this model cannot check adapters (LoRAs)");
    ctx.check(c->check(raw(), adapters_json.c_str(), ctx.get()), id_ + ": adapters");
  }
  /// True when the model offers a quick preview of a latent (GENPLUG_EXT_MODEL_PREVIEW).
  bool has_preview() const { return preview_table() != nullptr; }
  /// A quick picture of `latent` within max_side x max_side (see genplug_model_preview). Throws PluginError,
  /// GENPLUG_E_UNSUPPORTED when the model has no preview.
  ManagedTensor preview(const DLTensor& latent, uint32_t height, uint32_t width, uint32_t max_side,
                        CallContext& ctx) const {
    const genplug_model_preview_t* p = preview_table();
    if (!p) throw PluginError(GENPLUG_E_UNSUPPORTED, id_ + ": this model has no preview");
    DLManagedTensor* t = nullptr;
    ctx.check(p->preview(raw(), &latent, height, width, max_side, &t, ctx.get()), id_ + ": preview");
    return expect(t, "preview");
  }
  /// Named conditioning tensors from a prompt (`options_json` may be empty). Throws PluginError.
  std::vector<std::pair<std::string, ManagedTensor>> condition(const std::string& prompt,
                                                               const std::string& options_json,
                                                               CallContext& ctx) const {
    struct Collector {
      std::vector<std::pair<std::string, ManagedTensor>> items;
      std::shared_ptr<void> keepalive;
      std::string what;     // "org.x: condition", for messages
      std::string refused;  // the first tensor the sink refused (NULL or malformed), reported after the call
    } collector{{}, keepalive_, id_ + ": condition", {}};
    genplug_tensor_sink_t sink{};
    sink.struct_size = sizeof(sink);
    sink.host_data = &collector;
    sink.put = [](const genplug_tensor_sink_t* s, const char* name, DLManagedTensor* t) -> genplug_status {
      auto* c = static_cast<Collector*>(s->host_data);
      ManagedTensor owned(t, c->keepalive);  // owns t from here on, whatever happens next
      try {
        const std::string problem = dlpack_problem(t);
        if (!problem.empty()) throw ContractError(c->what + " put '" + (name ? name : "") + "': " + problem);
        c->items.emplace_back(name ? name : "", std::move(owned));
        return GENPLUG_OK;
      } catch (const ContractError& e) {
        if (c->refused.empty()) c->refused = e.what();
        return GENPLUG_E_INVALID_ARGUMENT;
      } catch (...) {
        return GENPLUG_E_OUT_OF_MEMORY;
      }
    };
    genplug_status s = raw()->condition(raw(), prompt.c_str(), options_json.empty() ? nullptr : options_json.c_str(),
                                        &sink, ctx.get());
    if (!collector.refused.empty()) throw ContractError(collector.refused);
    ctx.check(s, id_ + ": condition");
    return std::move(collector.items);
  }

 private:
  const genplug_model_preview_t* preview_table() const {
    const auto* p = static_cast<const genplug_model_preview_t*>(extension(GENPLUG_EXT_MODEL_PREVIEW));
    return p && GENPLUG_HAS_FIELD(p, genplug_model_preview_t, preview) && p->preview ? p : nullptr;
  }
  const genplug_model_adapter_check_t* adapter_check_table() const {
    const auto* c = static_cast<const genplug_model_adapter_check_t*>(extension(GENPLUG_EXT_MODEL_ADAPTER_CHECK));
    return c && GENPLUG_HAS_FIELD(c, genplug_model_adapter_check_t, check) && c->check ? c : nullptr;
  }
  // Owns `t` from here on (its deleter runs even when it is refused), then checks it is well-formed DLPack.
  ManagedTensor expect(DLManagedTensor* t, const char* what) const {
    ManagedTensor owned(t, keepalive_);
    check_dlpack(t, id_ + ": " + what);
    return owned;
  }
};

/// An inspector instance (genplug_inspector_t).
class InspectorProxy : public InstanceProxy<genplug_inspector_t> {
 public:
  using InstanceProxy::InstanceProxy;

  /// How well the inspector knows `path`, 0..100; 0 when `path` is not a file this inspector reads.
  /// Throws PluginError (an unreadable file).
  uint32_t probe(const std::string& path, CallContext& ctx) const {
    uint32_t score = 0;
    ctx.check(raw()->probe(raw(), path.c_str(), &score, ctx.get()), id_ + ": probe");
    return score;
  }
  /// The inspector's JSON description of `path`. Throws PluginError.
  std::string inspect(const std::string& path, CallContext& ctx) const {
    const char* text = nullptr;
    ctx.check(raw()->inspect(raw(), path.c_str(), &text, ctx.get()), id_ + ": inspect");
    if (!text) throw PluginError(GENPLUG_E_INTERNAL, id_ + ": inspect returned success but no text");
    return text;
  }
};

}  // namespace genplug

#endif  // GENPLUG_HOST_HPP
