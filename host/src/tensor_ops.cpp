// libtorch implementation of the host-lent tensor operations. The only host file that includes torch.
#include <genplug/host/tensor_ops.hpp>

#include <atomic>
#include <mutex>
#include <unordered_set>
#include <cstring>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include <genplug/host/errors.hpp>

namespace genplug::host {

namespace {

torch::ScalarType scalar_type(const DLDataType& t) {
  if (t.lanes != 1) throw std::invalid_argument("vector lanes are not supported");
  if (t.code == kDLFloat && t.bits == 32) return torch::kFloat32;
  if (t.code == kDLFloat && t.bits == 64) return torch::kFloat64;
  if (t.code == kDLFloat && t.bits == 16) return torch::kFloat16;
  if (t.code == kDLBfloat && t.bits == 16) return torch::kBFloat16;
  throw std::invalid_argument("unsupported DLPack dtype (code " + std::to_string(t.code) + ", " +
                              std::to_string(t.bits) + " bits)");
}

DLDataType dl_type(torch::ScalarType s) {
  switch (s) {
    case torch::kFloat32: return {kDLFloat, 32, 1};
    case torch::kFloat64: return {kDLFloat, 64, 1};
    case torch::kFloat16: return {kDLFloat, 16, 1};
    case torch::kBFloat16: return {kDLBfloat, 16, 1};
    default: throw std::invalid_argument("unsupported tensor dtype");
  }
}

torch::Device device_of(const DLDevice& d) {
  switch (d.device_type) {
    case kDLCPU: return torch::Device(torch::kCPU);
    case kDLCUDA: return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(d.device_id));
    default: throw std::invalid_argument("unsupported DLPack device type " + std::to_string(d.device_type));
  }
}

DLDevice dl_device(const torch::Device& d) {
  if (d.is_cuda()) return {kDLCUDA, d.index() < 0 ? 0 : d.index()};
  return {kDLCPU, 0};
}

// A torch view onto DLPack memory (no copy, no ownership).
torch::Tensor from_dl(const DLTensor& t) {
  std::vector<int64_t> shape(t.shape, t.shape + t.ndim);
  auto options = torch::TensorOptions().dtype(scalar_type(t.dtype)).device(device_of(t.device));
  char* data = static_cast<char*>(t.data) + t.byte_offset;
  if (t.strides) {
    std::vector<int64_t> strides(t.strides, t.strides + t.ndim);
    return torch::from_blob(data, shape, strides, options);
  }
  return torch::from_blob(data, shape, options);
}

struct HostTensor {
  torch::Tensor t;
  bool lent = false;  // made by the table's alloc_like: the scheduler owns it and releases it
  std::vector<int64_t> shape, strides;
  DLTensor dl{};
  void refresh() {
    shape = t.sizes().vec();
    strides = t.strides().vec();
    dl.data = t.data_ptr();
    dl.device = dl_device(t.device());
    dl.ndim = static_cast<int32_t>(shape.size());
    dl.dtype = dl_type(t.scalar_type());
    dl.shape = shape.data();
    dl.strides = strides.data();
    dl.byte_offset = 0;
  }
};

HostTensor* H(genplug_tensor_handle h) { return reinterpret_cast<HostTensor*>(h); }
genplug_tensor_handle handle(HostTensor* t) { return reinterpret_cast<genplug_tensor_handle>(t); }

// Wraps a C callback body: the ops table must never throw into a plugin.
template <class F>
genplug_status no_throw(F&& f) noexcept {
  try {
    f();
    return GENPLUG_OK;
  } catch (const std::bad_alloc&) {
    return GENPLUG_E_OUT_OF_MEMORY;
  } catch (const std::invalid_argument&) {
    return GENPLUG_E_INVALID_ARGUMENT;
  } catch (...) {
    return GENPLUG_E_FAILED;
  }
}

}  // namespace

struct HostTensorOps::Impl {
  genplug_tensor_ops_t table{};
  std::atomic<int64_t> live{0};
  std::mutex mutex;
  std::unordered_set<HostTensor*> handles;  // every live handle: a foreign or stale pointer is never deleted

  HostTensor* make(torch::Tensor t, bool lent) {
    auto* h = new HostTensor{std::move(t), lent, {}, {}, {}};
    h->refresh();
    std::lock_guard<std::mutex> lock(mutex);
    handles.insert(h);
    ++live;
    return h;
  }
  // Releases a handle; with `lent_only`, only tensors the scheduler got from alloc_like (it cannot free the
  // latent view the host lent it, nor a handle twice).
  void drop(HostTensor* h, bool lent_only) {
    if (!h) return;
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
    for (HostTensor* h : handles) delete h;
  }

  static Impl* self(const genplug_tensor_ops_t* ops) { return static_cast<Impl*>(ops->host_data); }

  static genplug_status lincomb(const genplug_tensor_ops_t*, genplug_tensor_handle out, uint32_t n,
                               const genplug_tensor_handle* in, const double* c) {
    return no_throw([&] {
      if (!out || (n && (!in || !c))) throw std::invalid_argument("NULL argument");
      torch::NoGradGuard ng;
      torch::Tensor acc;
      for (uint32_t i = 0; i < n; ++i) {
        if (!in[i]) throw std::invalid_argument("NULL input");
        const torch::Tensor& x = H(in[i])->t;
        if (x.sizes() != H(out)->t.sizes()) throw std::invalid_argument("shape mismatch");
        acc = acc.defined() ? acc.add(x, c[i]) : x.mul(c[i]);
      }
      if (!acc.defined())
        H(out)->t.zero_();
      else
        H(out)->t.copy_(acc);  // computed aside first: out may alias an input
    });
  }
  static genplug_status alloc(const genplug_tensor_ops_t* ops, genplug_tensor_handle like,
                              genplug_tensor_handle* out) {
    if (out) *out = nullptr;
    return no_throw([&] {
      if (!like || !out) throw std::invalid_argument("NULL argument");
      *out = handle(self(ops)->make(torch::empty_like(H(like)->t, torch::MemoryFormat::Contiguous), true));
    });
  }
  static void release_fn(const genplug_tensor_ops_t* ops, genplug_tensor_handle h) {
    self(ops)->drop(H(h), true);
  }
  static genplug_status normal(const genplug_tensor_ops_t*, genplug_tensor_handle out, uint64_t seed,
                               uint64_t stream) {
    return no_throw([&] {
      if (!out) throw std::invalid_argument("NULL argument");
      // Reproducible on every device: drawn on the CPU from a generator seeded by (seed, stream).
      uint64_t mixed = seed ^ (stream + 0x9E3779B97F4A7C15ULL + (seed << 6) + (seed >> 2));
      auto gen = at::detail::createCPUGenerator(mixed);
      torch::Tensor& t = H(out)->t;
      torch::Tensor noise = at::randn(t.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32));
      t.copy_(noise);
    });
  }
};

HostTensorOps::HostTensorOps() : impl_(std::make_unique<Impl>()) {
  auto& t = impl_->table;
  t.struct_size = sizeof(genplug_tensor_ops_t);
  t.host_data = impl_.get();
  t.linear_combination = &Impl::lincomb;
  t.alloc_like = &Impl::alloc;
  t.release = &Impl::release_fn;
  t.normal = &Impl::normal;
}

HostTensorOps::~HostTensorOps() = default;

const genplug_tensor_ops_t* HostTensorOps::table() const { return &impl_->table; }

genplug_tensor_handle HostTensorOps::view(const DLTensor& t) { return handle(impl_->make(from_dl(t), false)); }

genplug_tensor_handle HostTensorOps::alloc_like(const DLTensor& t) {
  return handle(impl_->make(torch::zeros_like(from_dl(t), torch::MemoryFormat::Contiguous), false));
}

void HostTensorOps::release(genplug_tensor_handle h) { impl_->drop(H(h), false); }

const DLTensor& HostTensorOps::dl(genplug_tensor_handle h) const { return H(h)->dl; }

void HostTensorOps::copy(const DLTensor& src, genplug_tensor_handle dst) {
  torch::NoGradGuard ng;
  torch::Tensor s = from_dl(src);
  torch::Tensor& d = H(dst)->t;
  if (s.numel() != d.numel())
    throw HostError(ErrorKind::runtime, "tensor size mismatch: " + std::to_string(s.numel()) + " elements into " +
                                            std::to_string(d.numel()));
  d.copy_(s.reshape(d.sizes()));
}

int64_t HostTensorOps::live_handles() const { return impl_->live.load(); }

std::vector<float> to_cpu_float(const DLTensor& t) {
  torch::NoGradGuard ng;
  torch::Tensor c = from_dl(t).to(torch::kCPU, torch::kFloat32).contiguous();
  std::vector<float> out(static_cast<size_t>(c.numel()));
  std::memcpy(out.data(), c.data_ptr<float>(), out.size() * sizeof(float));
  return out;
}

}  // namespace genplug::host
