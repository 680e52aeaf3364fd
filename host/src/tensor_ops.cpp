// The host-lent tensor operations (tensor_ops.hpp): handles over DLPack memory, arithmetic by the model's own
// operations when it lends them, else by the CPU loops of cpu_tensor_math.
#include <genplug/host/tensor_ops.hpp>

#include <atomic>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>

#include <genplug/host/errors.hpp>

#include "cpu_tensor_math.hpp"

namespace genplug::host {

namespace {

// One handle: a DLTensor over memory that is borrowed (a view), host-allocated (cpu), or a model's tensor.
struct Handle {
  DLTensor dl{};
  std::vector<int64_t> shape, strides;
  std::vector<std::byte> cpu;  // host-allocated storage
  ManagedTensor owned;         // a model's tensor (empty_like, or an adopted velocity)
  bool lent = false;           // made by the table's alloc_like: the scheduler owns it and releases it

  void describe(const DLTensor& t) {  // copies the metadata, keeps pointing at t's memory
    shape.assign(t.shape, t.shape + t.ndim);
    strides.clear();
    if (t.strides) strides.assign(t.strides, t.strides + t.ndim);
    dl = t;
    dl.shape = shape.data();
    dl.strides = strides.empty() ? nullptr : strides.data();
  }
};

Handle* H(genplug_tensor_handle h) { return reinterpret_cast<Handle*>(h); }
genplug_tensor_handle handle_of(Handle* h) { return reinterpret_cast<genplug_tensor_handle>(h); }

struct Failure : std::runtime_error {
  genplug_status code;
  Failure(genplug_status c, const std::string& m) : std::runtime_error(m), code(c) {}
};


void require_cpu(const DLTensor& t) {
  const std::string why = cpu::unsupported(t);
  if (!why.empty())
    throw Failure(GENPLUG_E_UNSUPPORTED, "the host's tensor operations cannot work on " + why +
                                             " and the model lends none (GENPLUG_EXT_MODEL_TENSOR_OPS)");
  if (!cpu::is_compact(t)) throw Failure(GENPLUG_E_UNSUPPORTED, "the host's tensor operations need compact tensors");
}

}  // namespace

struct HostTensorOps::Impl {
  genplug_tensor_ops_t table{};
  genplug_model_t* model = nullptr;
  const genplug_model_tensor_ops_t* model_ops = nullptr;
  CallContext ctx;  // for the model's operations
  std::atomic<int64_t> live{0}, copies{0};
  std::mutex mutex;
  std::unordered_set<Handle*> handles;  // every live handle: a foreign or stale pointer is never touched
  std::string first_failure;            // the table's calls return a status only: the message is kept here
  std::atomic<std::thread::id> owner{};  // serve_only_this_thread(); no id: any thread
  std::atomic<int64_t> foreign{0};

  // A call from a thread other than the one the table serves: counted, and touches nothing else.
  bool from_foreign_thread() {
    const std::thread::id o = owner.load();
    if (o == std::thread::id() || o == std::this_thread::get_id()) return false;
    ++foreign;
    return true;
  }

  // Wraps a C callback body (`op` names it): the table never throws into a plugin; the first failure's message
  // is kept for the host's error (HostTensorOps::first_failure), which the scheduler cannot pass on.
  template <class F>
  genplug_status no_throw(const char* op, F&& f) noexcept {
    if (from_foreign_thread()) return GENPLUG_E_INVALID_ARGUMENT;  // its message: the count, reported by the host
    genplug_status code = GENPLUG_E_FAILED;
    std::string message = "unknown exception";
    try {
      f();
      return GENPLUG_OK;
    } catch (const Failure& e) {
      code = e.code;
      message = e.what();
    } catch (const std::bad_alloc&) {
      code = GENPLUG_E_OUT_OF_MEMORY;
      message = "out of memory";
    } catch (const std::exception& e) {
      message = e.what();
    } catch (...) {
    }
    try {
      std::lock_guard<std::mutex> lock(mutex);
      if (first_failure.empty()) first_failure = std::string(op) + ": " + status_name(code) + ": " + message;
    } catch (...) {  // no memory for the message: the status still says what happened
    }
    return code;
  }

  Handle* add(std::unique_ptr<Handle> h) {
    std::lock_guard<std::mutex> lock(mutex);
    handles.insert(h.get());
    ++live;
    return h.release();
  }
  bool known(Handle* h) {
    std::lock_guard<std::mutex> lock(mutex);
    return handles.count(h) != 0;
  }
  // Releases a handle; with `lent_only`, only one the scheduler got from alloc_like.
  void drop(Handle* h, bool lent_only) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = handles.find(h);
      if (it == handles.end() || (lent_only && !h->lent)) return;
      handles.erase(it);
    }
    delete h;
    --live;
  }
  ~Impl() {
    for (Handle* h : handles) delete h;
  }
  void check_model(genplug_status s, const char* what) {
    if (s != GENPLUG_OK)
      throw Failure(s, std::string("model tensor_ops.") + what + ": " + status_name(s) + ": " + ctx.error());
  }
  Handle* checked(genplug_tensor_handle h) {
    if (!h || !known(H(h))) throw Failure(GENPLUG_E_INVALID_ARGUMENT, "unknown tensor handle");
    return H(h);
  }

  void lincomb(genplug_tensor_handle out, uint32_t n, const genplug_tensor_handle* in, const double* c) {
    if (!out || (n && (!in || !c))) throw Failure(GENPLUG_E_INVALID_ARGUMENT, "NULL argument");
    const DLTensor& o = checked(out)->dl;
    std::vector<const DLTensor*> inputs(n);
    for (uint32_t i = 0; i < n; ++i) {
      inputs[i] = &checked(in[i])->dl;
      if (!cpu::same_layout(*inputs[i], o)) throw Failure(GENPLUG_E_INVALID_ARGUMENT, "shape or dtype mismatch");
    }
    if (model_ops) {
      check_model(model_ops->linear_combination(model, &o, n, inputs.data(), c, ctx.get()), "linear_combination");
      return;
    }
    require_cpu(o);
    for (const DLTensor* t : inputs) require_cpu(*t);
    cpu::linear_combination(o, n, inputs.data(), c);
  }

  Handle* alloc(const DLTensor& like, bool lent) {
    auto h = std::make_unique<Handle>();
    h->lent = lent;
    if (model_ops) {
      DLManagedTensor* t = nullptr;
      check_model(model_ops->empty_like(model, &like, &t, ctx.get()), "empty_like");
      h->owned = ManagedTensor(t, nullptr);  // deleted once, whatever follows
      const std::string problem = dlpack_problem(t);
      if (!problem.empty())
        throw Failure(GENPLUG_E_INTERNAL, "model tensor_ops.empty_like returned success with " + problem);
      const DLTensor& made = h->owned.tensor();
      if (!cpu::same_layout(made, like) || made.device.device_type != like.device.device_type ||
          made.device.device_id != like.device.device_id)
        throw Failure(GENPLUG_E_INTERNAL, "model tensor_ops.empty_like returned a tensor of shape " + shape_text(made) +
                                              ", " + dlpack_text(made.dtype, made.device) + " for one like " +
                                              shape_text(like) + ", " + dlpack_text(like.dtype, like.device));
      h->describe(made);
    } else {
      require_cpu(like);
      h->cpu.resize(size_t(cpu::element_count(like)) * cpu::element_bytes(like));
      h->describe(like);
      h->dl.data = h->cpu.data();
      h->dl.byte_offset = 0;
      h->strides.clear();
      h->dl.strides = nullptr;
    }
    return add(std::move(h));
  }

  void normal(genplug_tensor_handle out, uint64_t seed, uint64_t stream) {
    const DLTensor& o = checked(out)->dl;
    if (model_ops) {
      check_model(model_ops->normal(model, &o, seed, stream, ctx.get()), "normal");
      return;
    }
    require_cpu(o);
    cpu::normal(o, seed, stream);
  }

  static Impl* self(const genplug_tensor_ops_t* ops) { return static_cast<Impl*>(ops->host_data); }
  static genplug_status lincomb_fn(const genplug_tensor_ops_t* ops, genplug_tensor_handle out, uint32_t n,
                                   const genplug_tensor_handle* in, const double* c) {
    return self(ops)->no_throw("linear_combination", [&] { self(ops)->lincomb(out, n, in, c); });
  }
  static genplug_status alloc_fn(const genplug_tensor_ops_t* ops, genplug_tensor_handle like,
                                 genplug_tensor_handle* out) {
    if (out) *out = nullptr;
    return self(ops)->no_throw("alloc_like", [&] {
      if (!out) throw Failure(GENPLUG_E_INVALID_ARGUMENT, "NULL argument");
      *out = handle_of(self(ops)->alloc(self(ops)->checked(like)->dl, true));
    });
  }
  static void release_fn(const genplug_tensor_ops_t* ops, genplug_tensor_handle h) {
    if (!self(ops)->from_foreign_thread()) self(ops)->drop(H(h), true);
  }
  static genplug_status normal_fn(const genplug_tensor_ops_t* ops, genplug_tensor_handle out, uint64_t seed,
                                  uint64_t stream) {
    return self(ops)->no_throw("normal", [&] { self(ops)->normal(out, seed, stream); });
  }
};

HostTensorOps::HostTensorOps() : HostTensorOps(nullptr, nullptr) {}

HostTensorOps::HostTensorOps(genplug_model_t* model, const genplug_model_tensor_ops_t* model_ops)
    : impl_(std::make_unique<Impl>()) {
  impl_->model = model;
  impl_->model_ops = model ? model_ops : nullptr;
  auto& t = impl_->table;
  t.struct_size = sizeof(genplug_tensor_ops_t);
  t.host_data = impl_.get();
  t.linear_combination = &Impl::lincomb_fn;
  t.alloc_like = &Impl::alloc_fn;
  t.release = &Impl::release_fn;
  t.normal = &Impl::normal_fn;
}

HostTensorOps::~HostTensorOps() = default;

void HostTensorOps::on_log(CallContext::LogFn log) { impl_->ctx.on_log(std::move(log)); }

const genplug_tensor_ops_t* HostTensorOps::table() const { return &impl_->table; }

genplug_tensor_handle HostTensorOps::view(const DLTensor& t) {
  auto h = std::make_unique<Handle>();
  h->describe(t);
  return handle_of(impl_->add(std::move(h)));
}

void HostTensorOps::release(genplug_tensor_handle h) { impl_->drop(H(h), false); }

genplug_tensor_handle HostTensorOps::combine(const std::vector<genplug_tensor_handle>& inputs,
                                             const std::vector<double>& coeffs) {
  if (inputs.empty() || inputs.size() != coeffs.size())
    throw std::invalid_argument("HostTensorOps::combine: inputs and coefficients differ in number");
  Handle* out = nullptr;
  try {
    out = impl_->alloc(impl_->checked(inputs[0])->dl, false);
    impl_->lincomb(handle_of(out), uint32_t(inputs.size()), inputs.data(), coeffs.data());
    return handle_of(out);
  } catch (const Failure& e) {
    if (out) impl_->drop(out, false);
    throw HostError(ErrorKind::runtime, std::string("tensor operations: ") + e.what());
  } catch (...) {
    if (out) impl_->drop(out, false);
    throw;
  }
}

const DLTensor& HostTensorOps::dl(genplug_tensor_handle h) const { return impl_->checked(h)->dl; }

void HostTensorOps::adopt(genplug_tensor_handle dst, ManagedTensor t) {
  Handle* h = impl_->checked(dst);
  const DLTensor& src = t.tensor();
  if (cpu::element_count(src) != cpu::element_count(h->dl))
    throw HostError(ErrorKind::runtime, "tensor size mismatch: " + std::to_string(cpu::element_count(src)) +
                                            " elements into " + std::to_string(cpu::element_count(h->dl)));
  const bool same_device = src.device.device_type == h->dl.device.device_type && src.device.device_id == h->dl.device.device_id;
  if (h->lent && same_device && cpu::same_layout(src, h->dl) && cpu::is_compact(src)) {
    h->cpu.clear();
    h->cpu.shrink_to_fit();
    h->owned = std::move(t);  // the old storage goes, the scheduler's handle now names the model's tensor
    h->describe(h->owned.tensor());
    return;
  }
  // A non-compact velocity, or one of another dtype or device (which model.h forbids): copied in element by
  // element on the CPU, or by the model's operations when only the strides differ (they take one layout).
  ++impl_->copies;
  if (impl_->model_ops) {
    if (!same_device || !cpu::same_layout(src, h->dl))
      throw HostError(ErrorKind::plugin, "predict returned a velocity of another shape, dtype or device than the "
                                         "latent (model.h)");
    const DLTensor* in[1] = {&src};
    const double one[1] = {1.0};
    impl_->check_model(impl_->model_ops->linear_combination(impl_->model, &h->dl, 1, in, one, impl_->ctx.get()), "copy");
    return;
  }
  require_cpu(src);
  require_cpu(h->dl);
  const std::vector<float> values = cpu::to_float(src);
  DLTensor as_f32 = h->dl;  // a float32 view of `values` with dst's shape
  as_f32.data = const_cast<float*>(values.data());
  as_f32.byte_offset = 0;
  as_f32.strides = nullptr;
  as_f32.dtype = {kDLFloat, 32, 1};
  const DLTensor* in[1] = {&as_f32};
  const double one[1] = {1.0};
  cpu::linear_combination(h->dl, 1, in, one);
}

int64_t HostTensorOps::copies() const { return impl_->copies.load(); }

int64_t HostTensorOps::live_handles() const { return impl_->live.load(); }

void HostTensorOps::serve_only_this_thread() { impl_->owner = std::this_thread::get_id(); }

int64_t HostTensorOps::foreign_thread_calls() const { return impl_->foreign.load(); }

std::string HostTensorOps::first_failure() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->first_failure;
}

std::vector<float> to_cpu_float(const DLTensor& t) {
  const std::string why = cpu::unsupported(t);
  if (!why.empty()) throw HostError(ErrorKind::runtime, "cannot read a tensor of " + why + " on the host");
  return cpu::to_float(t);
}

}  // namespace genplug::host
