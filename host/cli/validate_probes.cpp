// genplug validate — the checks of one probe, run inside a probe process (validate.hpp): load the library,
// check descriptors, create and use each plugin, feed its factory bad arguments, run two instances at once.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <iostream>
#include <new>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <genplug/host.hpp>
#include <genplug/host/plugin_catalog.hpp>
#include <genplug/host/tensor_ops.hpp>

#include "standard_output.hpp"
#include "validate.hpp"

namespace genplug::cli::validate {
namespace {

// Address space kept back while a probe runs under a memory limit: a plugin that exhausts the limit and keeps
// what it took leaves the process unable to allocate even the report line; giving this back makes room for it.
struct MemoryReserve {
  void* block = nullptr;
  static constexpr size_t kSize = size_t(32) << 20;
  void take() {
    if (block) return;
    void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    block = p == MAP_FAILED ? nullptr : p;
  }
  void give_back() noexcept {
    if (block) ::munmap(block, kSize);
    block = nullptr;
  }
};
MemoryReserve reserve;

// A failure's text; running out of memory under the limit is named as such.
std::string failure_text(const std::exception& e, const ProbeRequest& r) {
  const auto* plugin_error = dynamic_cast<const PluginError*>(&e);
  const bool oom = dynamic_cast<const std::bad_alloc*>(&e) ||
                   (plugin_error && plugin_error->code() == GENPLUG_E_OUT_OF_MEMORY);
  if (!oom || r.memory_limit == 0) return e.what();
  reserve.give_back();
  return "exceeded the memory limit of " + bytes_text(r.memory_limit) + " (" + e.what() + ")";
}

// Whether all of `s` was written; errno tells why not (EPIPE: the parent is gone; EBADF: a plugin closed `fd`).
bool write_all(int fd, const std::string& s) {
  for (size_t done = 0; done < s.size();) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

// A plugin's id as the records name it: an id of 70 000 bytes made every line of its checks as long, and the cut at
// 64 KiB (report_text) took the check's own name off the end.
std::string display_id(const std::string& id) {
  constexpr size_t kMaxShown = 256;
  if (id.size() <= kMaxShown) return id;
  return id.substr(0, kMaxShown) + "... (" + std::to_string(id.size()) + " bytes)";
}

std::string plugin_name(const host::PluginRecord& p) { return p.kind + " " + display_id(p.id); }

// entry.h's reverse-DNS: two or more labels joined by dots, each an ASCII letter or digit followed by letters,
// digits, '-' or '_' ("org.genplug.dype", "com.u-he.rope_2"). A dot alone had passed ("--x.y", "org..a", ". ").
bool is_reverse_dns(const std::string& id) {
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  size_t labels = 0, label_size = 0;
  for (const char c : id) {
    if (c == '.') {
      if (label_size == 0) return false;
      ++labels, label_size = 0;
    } else if (alnum(c) || (label_size > 0 && (c == '-' || c == '_'))) {
      ++label_size;
    } else {
      return false;
    }
  }
  return label_size > 0 && labels >= 1;
}

host::PluginCatalog::Options catalog_options(const std::string& library) {
  host::PluginCatalog::Options o;
  o.search_path = {library};
  o.cache_file.clear();  // validation loads and initialises the library itself, every time
  return o;
}

void destroy_instance(const std::string& kind, void* inst) {
  if (!inst) return;
  if (kind == "posenc") {
    auto* p = static_cast<genplug_posenc_t*>(inst);
    p->destroy(p);
  } else if (kind == "scheduler") {
    auto* p = static_cast<genplug_scheduler_t*>(inst);
    p->destroy(p);
  } else if (kind == "inspector") {
    auto* p = static_cast<genplug_inspector_t*>(inst);
    p->destroy(p);
  } else {
    auto* p = static_cast<genplug_model_t*>(inst);
    p->destroy(p);
  }
}

// What a plugin built against an older ABI minor should change, release by release (docs/abi.md, change log).
// Notes, not failures: older plugins still load; a model without geometry() fails check_geometry.
std::vector<std::string> abi_changes_since(uint32_t minor, const std::string& kind) {
  std::vector<std::string> what;
  if (minor < 1) {  // 1.1
    what.push_back("init/deinit may now be called concurrently by independent hosts: count them under a lock (the "
                   "1.1 C++ wrapper does)");
    if (kind == "model")
      what.push_back("add geometry() (the host derives layout, target extent, latent and defaults from it), return "
                     "velocities in the latent's dtype and device, and lend GENPLUG_EXT_MODEL_TENSOR_OPS for non-CPU "
                     "tensors");
    if (kind == "scheduler") what.push_back("add count_evaluations() (evaluation_count cannot report failure)");
    if (kind == "posenc") what.push_back("read layout->axis_flags when present: rescale only axes flagged spatial");
  }
  if (minor < 2 && kind == "model")  // 1.2
    what.push_back("geometry() may state working_memory_bytes (a host refuses a job that cannot fit before it "
                   "starts)");
  return what;
}

void abi_notes(const host::PluginRecord& p, ProbeWriter& out) {
  const std::vector<std::string> what = abi_changes_since(p.abi_minor, p.kind);
  if (what.empty()) return;
  std::string text;
  for (const auto& w : what) text += (text.empty() ? "" : "; ") + w;
  out.note(plugin_name(p) + ": built against ABI " + std::to_string(GENPLUG_ABI_MAJOR) + "." +
           std::to_string(p.abi_minor) + ", this host is " + std::to_string(GENPLUG_ABI_MAJOR) + "." +
           std::to_string(GENPLUG_ABI_MINOR) + ": " + text);
}

// Any layout will do: two spatial axes twice past their base, and one the posenc must leave alone.
const RotaryLayout kProbeLayout{{8, 12, 12}, 10000.0, {1, 16, 16}, 8, {0, GENPLUG_AXIS_SPATIAL, GENPLUG_AXIS_SPATIAL}};

// The posenc's C compute for the probe layout at `extent` and `t`, into the caller's buffers: not through
// PosencProxy::compute, whose own checks and starting values would answer for the plugin.
genplug_status compute_raw(const PosencProxy& posenc, const std::array<uint32_t, 3>& extent, double t,
                           std::vector<double>& freqs, std::vector<double>& amplitude, CallContext& ctx) {
  const genplug_rotary_layout_t layout = kProbeLayout.view();
  genplug_posenc_query_t q{};
  q.struct_size = sizeof q;
  q.layout = &layout;
  q.target_extent = extent.data();
  q.t = t;
  genplug_spectrum_t s{};
  s.struct_size = sizeof s;
  s.freqs = freqs.data();
  s.freq_capacity = uint32_t(freqs.size());
  s.amplitude = amplitude.data();
  s.amplitude_capacity = uint32_t(amplitude.size());
  return posenc.raw()->compute(posenc.raw(), &q, &s, ctx.get());
}

// posenc.h: the plugin writes every frequency and every amplitude. PosencProxy::compute starts them at 0 and 1,
// which a plugin that writes nothing would leave looking like a spectrum; here they start as NaN, which no
// spectrum may hold (PosencProxy refuses one), so a NaN left over is a value never written.
void check_spectrum_written(const PosencProxy& posenc, const std::string& who, ProbeWriter& out) {
  const std::string what = who + ": compute writes every frequency and amplitude";
  std::vector<double> freqs(kProbeLayout.freq_count(), std::nan(""));
  std::vector<double> amplitude(kProbeLayout.axis_dims.size(), std::nan(""));
  CallContext ctx;
  const genplug_status status = compute_raw(posenc, {1, 32, 32}, 0.5, freqs, amplitude, ctx);
  if (status != GENPLUG_OK) return out.fail(what + ": the same query failed the second time: " + status_name(status));
  const auto unwritten = [](const std::vector<double>& v) {
    return std::count_if(v.begin(), v.end(), [](double x) { return std::isnan(x); });
  };
  const auto f = unwritten(freqs), a = unwritten(amplitude);
  out.check(f == 0 && a == 0, what,
            std::to_string(f) + " of " + std::to_string(freqs.size()) + " frequencies and " + std::to_string(a) +
                " of " + std::to_string(amplitude.size()) + " amplitudes left unwritten");
}

// posenc.h: t outside [0, 1] (NaN included) and a zero extent are GENPLUG_E_INVALID_ARGUMENT with a message; a
// plugin that computes a spectrum for them hands a model frequencies for a query no sampler makes.
void check_query_refusals(const PosencProxy& posenc, const std::string& who, ProbeWriter& out) {
  struct Refused {
    const char* what;
    double t;
    uint32_t rows;
  };
  const Refused cases[] = {{"t = -0.25", -0.25, 32}, {"t = 1.5", 1.5, 32}, {"t = NaN", std::nan(""), 32},
                           {"a target extent of 0", 0.5, 0}};
  std::vector<double> freqs(kProbeLayout.freq_count()), amplitude(kProbeLayout.axis_dims.size(), 0.0);
  for (const Refused& c : cases) {
    CallContext ctx;
    const genplug_status status = compute_raw(posenc, {1, c.rows, 32}, c.t, freqs, amplitude, ctx);
    out.check(status == GENPLUG_E_INVALID_ARGUMENT && !ctx.error().empty(),
              who + ": compute refuses " + c.what + " with GENPLUG_E_INVALID_ARGUMENT",
              status == GENPLUG_OK ? std::string("it computed a spectrum")
                                   : status_name(status) + (ctx.error().empty() ? ", no message" : ": " + ctx.error()));
  }
}

// A file that cannot be opened is GENPLUG_E_IO with a message (inspector.h), not a score.
void probe_missing_file(const InspectorProxy& inspector, const std::string& who, ProbeWriter& out) {
  CallContext ctx;
  try {
    const uint32_t score = inspector.probe("/nonexistent/genplug-validate.safetensors", ctx);
    out.fail(who + ": create {} and probe a missing file: score " + std::to_string(score) + " instead of an I/O error");
  } catch (const PluginError& e) {
    out.check(e.code() == GENPLUG_E_IO && !ctx.error().empty(), who + ": create {} and probe a missing file: I/O error",
              e.what());
  }
}

// ABI 1.1: a model states its geometry, consistently: a default size that is a multiple of size_multiple,
// even axis dims, non-zero extents, known axis flags, and a refusal (with a message) of a size that is not a
// multiple of size_multiple.
void check_geometry(const ModelProxy& model, const std::string& who, ProbeWriter& out) {
  CallContext ctx;
  if (!model.has_geometry()) {
    out.fail(who + (GENPLUG_HAS_FIELD(model.raw(), genplug_model_t, geometry)
                        ? ": geometry is NULL in a struct that holds it (a 1.1 function missing from a 1.1 plugin)"
                        : ": geometry() (ABI 1.1) is missing: a host cannot derive the latent, layout or target "
                          "extent"));
    return;
  }
  out.step(who + ": geometry() at the default size is consistent");
  const genplug_geometry_t g = model.geometry(0, 0, 0, ctx);
  bool dims_ok = g.axis_count >= 1 && g.size_multiple >= 1 && g.width % g.size_multiple == 0 &&
                 g.height % g.size_multiple == 0 && g.default_steps >= 1 && g.latent_ndim >= 1;
  for (uint32_t a = 0; a < g.axis_count && dims_ok; ++a)
    dims_ok = g.axis_dims[a] >= 2 && g.axis_dims[a] % 2 == 0 && g.base_extent[a] >= 1 && g.target_extent[a] >= 1 &&
              (g.axis_flags[a] & ~(GENPLUG_AXIS_SPATIAL | GENPLUG_AXIS_TEMPORAL)) == 0;
  out.check(dims_ok, who + ": geometry() at the default size is consistent",
            std::to_string(g.width) + " x " + std::to_string(g.height) + ", " + std::to_string(g.axis_count) + " axes");
  if (g.size_multiple > 1) {
    out.step(who + ": geometry() refuses an invalid size with a message");
    try {
      model.geometry(g.height + 1, g.width, 0, ctx);
      out.fail(who + ": geometry() accepts a height that is not a multiple of " + std::to_string(g.size_multiple));
    } catch (const PluginError& e) {
      out.check(e.code() == GENPLUG_E_INVALID_ARGUMENT && !ctx.error().empty(),
                who + ": geometry() refuses an invalid size with a message", e.what());
    }
  }
}

// sample() over a 4-step schedule, on a small CPU float32 latent with the host's CPU operations and a zero
// velocity: it asks for as many velocities as count_evaluations says, each at a sigma in [0, 1], and leaves a
// finite latent.
void check_sample(const SchedulerProxy& scheduler, const std::vector<double>& sigmas, const std::string& who,
                  ProbeWriter& out) {
  const std::string what = who + ": sample() asks for count_evaluations velocities, each at a sigma in [0, 1]";
  out.step(what);
  CallContext ctx;
  const uint64_t expected = scheduler.evaluation_count(static_cast<uint32_t>(sigmas.size()), ctx);
  std::vector<float> data(4 * 8 * 8, 0.25f);
  int64_t shape[4] = {1, 4, 8, 8};
  DLTensor latent{};
  latent.data = data.data();
  latent.device = {kDLCPU, 0};
  latent.ndim = 4;
  latent.dtype = {kDLFloat, 32, 1};
  latent.shape = shape;
  host::HostTensorOps ops;
  struct State {
    host::HostTensorOps* ops;
    std::thread::id thread = std::this_thread::get_id();  // the only one velocity serves ([thread: caller])
    std::atomic<uint64_t> foreign{0};
    uint64_t calls = 0;
    std::string bad_sigma;
  } state{&ops};
  ops.serve_only_this_thread();
  const genplug_tensor_handle x = ops.view(latent);
  genplug_sample_request_t req{};
  req.struct_size = sizeof(req);
  req.sigmas = sigmas.data();
  req.sigma_count = static_cast<uint32_t>(sigmas.size());
  req.latent = x;
  req.ops = ops.table();
  req.seed = 1;
  req.velocity_user = &state;
  req.velocity = [](void* user, genplug_tensor_handle, double sigma, genplug_tensor_handle v) -> genplug_status {
    auto* s = static_cast<State*>(user);
    if (std::this_thread::get_id() != s->thread) {
      ++s->foreign;
      return GENPLUG_E_INVALID_ARGUMENT;
    }
    ++s->calls;
    if (!(sigma >= 0.0 && sigma <= 1.0) && s->bad_sigma.empty()) {
      std::ostringstream text;
      text.precision(17);
      text << sigma;
      s->bad_sigma = text.str();
    }
    try {
      const DLTensor& t = s->ops->dl(v);
      int64_t n = 1;
      for (int i = 0; i < t.ndim; ++i) n *= t.shape[i];
      std::memset(static_cast<char*>(t.data) + t.byte_offset, 0, size_t(n) * ((t.dtype.bits + 7) / 8));
      return GENPLUG_OK;
    } catch (...) {
      return GENPLUG_E_INVALID_ARGUMENT;  // not a handle the host lent
    }
  };
  const genplug_status status = scheduler.raw()->sample(scheduler.raw(), &req, ctx.get());
  ops.release(x);
  if (state.foreign || ops.foreign_thread_calls()) {
    out.fail(what + ": called the velocity callback or the tensor operations from a thread other than its own " +
             std::to_string(state.foreign + uint64_t(ops.foreign_thread_calls())) + " time(s) (scheduler.h: "
             "[thread: caller])");
    return;
  }
  if (status == GENPLUG_E_CANCELLED) {  // the probe never asks to stop (status.h: only then)
    out.fail(what + ": returned GENPLUG_E_CANCELLED, but nothing asked it to stop");
    return;
  }
  if (status != GENPLUG_OK) {
    out.fail(what + ": " + status_name(status) + (ctx.error().empty() ? " (no message)" : ": " + ctx.error()));
    return;
  }
  bool finite = true;
  for (float f : data) finite = finite && std::isfinite(f);
  std::string why;
  if (!state.bad_sigma.empty())
    why = "asked for a velocity at sigma = " + state.bad_sigma;
  else if (state.calls != expected || state.calls == 0)
    why = std::to_string(state.calls) + " velocities asked, count_evaluations said " + std::to_string(expected);
  else if (!finite)
    why = "the latent is not finite afterwards";
  out.check(why.empty(), what, why);
}

// docs/abi.md: a plugin fills get_extension (the reference host takes a NULL one as "no extensions"; another host
// may just call it), and a lookup of an id it does not know answers NULL.
template <class Proxy>
void check_get_extension(const Proxy& inst, const std::string& who, ProbeWriter& out) {
  const std::string what = who + ": get_extension is filled and answers NULL for an unknown id";
  auto* raw = inst.raw();
  if (!raw->get_extension) return out.fail(what + ": it is NULL");
  out.step(what);
  out.check(raw->get_extension(raw, "org.genplug.validate.unknown/1") == nullptr, what, "it returned a table");
}

// Descriptor checks, then create with the default config and use.
void probe_plugin(const host::PluginCatalog& catalog, const host::PluginRecord& p, const ProbeRequest& r,
                  ProbeWriter& out) {
  const std::string who = plugin_name(p);
  out.check(!p.name.empty() && !p.vendor.empty(), who + ": descriptor has name and vendor");
  out.check(!p.version.empty() && std::isdigit(static_cast<unsigned char>(p.version[0])),
            who + ": version looks like semver", "'" + p.version + "'");
  out.check(p.schema.is_object() && p.schema.value("type", "") == "object", who + ": config schema is an object schema");
  out.check(is_reverse_dns(p.id), who + ": id is reverse-DNS", "'" + display_id(p.id) + "'");
  abi_notes(p, out);
  if (p.kind == "model" && !r.create_models) {
    out.skip(who + ": create with the default config (pass --create-models)");
    return;
  }
  CallContext ctx;
  try {
    out.step(who + ": create {}");
    const nlohmann::json config = nlohmann::json::object();
    if (p.kind == "posenc") {
      auto inst = catalog.create_posenc(p.id, config, ctx);
      check_get_extension(inst, who, out);
      out.step(who + ": create {} and compute a spectrum");
      auto s = inst.compute(kProbeLayout, {1, 32, 32}, 0.5, ctx);
      out.check(s.freqs.size() == 16 && s.amplitude.size() == 3, who + ": create {} and compute a spectrum");
      check_spectrum_written(inst, who, out);
      check_query_refusals(inst, who, out);
      out.step(who + ": destroy");
    } else if (p.kind == "scheduler") {
      auto inst = catalog.create_scheduler(p.id, config, ctx);
      check_get_extension(inst, who, out);
      out.step(who + ": create {} and compute 4-step sigmas");
      auto sig = inst.sigmas(4, 4096, ctx);
      out.check(sig.size() == 5, who + ": create {} and compute 4-step sigmas", std::to_string(sig.size()) + " values");
      if (sig.size() == 5) check_sample(inst, sig, who, out);
      out.step(who + ": destroy");
    } else if (p.kind == "inspector") {
      auto inst = catalog.create_inspector(p.id, config, ctx);
      check_get_extension(inst, who, out);
      out.step(who + ": create {} and probe a missing file");
      probe_missing_file(inst, who, out);
      out.step(who + ": destroy");
    } else {
      auto inst = catalog.create_model(p.id, config, ctx);
      check_get_extension(inst, who, out);
      out.step(who + ": create {} and describe() is JSON");
      out.check(nlohmann::json::accept(inst.describe()), who + ": create {} and describe() is JSON");
      check_geometry(inst, who, out);
      out.step(who + ": destroy");
    }
    out.pass(who + ": destroy");
  } catch (const std::exception& e) {
    out.fail(who + ": create/use with the default config: " + failure_text(e, r));
  }
}

// [thread: render]: different instances may compute at the same time. Two instances on two threads must give
// what one gives alone (a plugin with hidden shared state fails this, or crashes here rather than in a host).
void probe_concurrency(const host::PluginCatalog& catalog, const host::PluginRecord& p, const ProbeRequest& r,
                       ProbeWriter& out) {
  const std::string what = plugin_name(p) + ": two instances computing on two threads agree with one alone";
  out.step(what);
  auto run = [&](double t0, std::vector<std::vector<double>>& result) {
    CallContext ctx;
    auto inst = catalog.create_posenc(p.id, nlohmann::json::object(), ctx);
    for (int i = 0; i < 200; ++i)
      result.push_back(inst.compute(kProbeLayout, {1, 32, 48}, std::fmod(t0 + 0.01 * i, 1.0), ctx).freqs);
  };
  std::vector<std::vector<double>> alone_a, alone_b, a, b;
  std::string error;
  try {
    run(0.0, alone_a);
    run(0.5, alone_b);
    std::thread other;
    try {
      other = std::thread([&] {
        try {
          run(0.5, b);
        } catch (const std::exception& e) {
          error = failure_text(e, r);
        }
      });
    } catch (const std::exception& e) {  // starting the validator's own thread (system_error, or bad_alloc for its
                                         // state under the limit): not the plugin's; the plugin runs inside it
      out.skip(what + ": the validator could not start a second thread (" + e.what() + ")" +
               (r.memory_limit ? "; raise --memory-limit (" + bytes_text(r.memory_limit) + ")" : std::string()));
      return;
    }
    try {
      run(0.0, a);
    } catch (const std::exception& e) {
      if (error.empty()) error = failure_text(e, r);
    }
    other.join();
  } catch (const std::exception& e) {
    error = failure_text(e, r);
  }
  out.check(error.empty() && a == alone_a && b == alone_b, what, error);
}

// Bad arguments straight at the C factory (no host-side schema check): errors with messages, no crash.
// A config the plugin refuses is GENPLUG_E_CONFIG (entry.h); a bad id may be refused with any failure.
struct FactoryCase {
  bool null_id, unknown_id;
  const char* config;
  const char* what;
  genplug_status expected;  // GENPLUG_OK: any failure
};
const FactoryCase kFactoryCases[] = {
    {false, false, "not json", "config that is not JSON", GENPLUG_E_CONFIG},
    {false, false, "", "empty config text", GENPLUG_E_CONFIG},
    {false, false, "[1, 2]", "config that is not an object", GENPLUG_E_CONFIG},
    {false, false, "{\"__no_such_field__\": 1}", "config with an unknown field", GENPLUG_E_CONFIG},
    {false, true, "{}", "unknown plugin id", GENPLUG_OK},
    {true, false, "{}", "NULL plugin id", GENPLUG_OK}};

void probe_factory(const host::PluginCatalog& catalog, const host::PluginRecord& p, const ProbeRequest& r,
                   ProbeWriter& out) {
  if (r.factory_case < 0 || r.factory_case >= factory_case_count()) {
    out.fail("factory case " + std::to_string(r.factory_case) + " does not exist");
    return;
  }
  const FactoryCase& c = kFactoryCases[r.factory_case];
  const bool closed = p.schema.contains("additionalProperties") && p.schema["additionalProperties"] == false;
  if (!closed && std::strcmp(c.what, "config with an unknown field") == 0) return;  // its schema allows them
  const std::string who = plugin_name(p);
  const genplug_factory_t* f = catalog.factory_of(p.id);
  const char* id = c.null_id ? nullptr : c.unknown_id ? "org.genplug.no-such-plugin" : p.id.c_str();
  out.step(who + ": " + c.what + " rejected with a message");
  CallContext ctx;
  void* instance = nullptr;
  const genplug_status s = f->create(f, id, c.config, ctx.get(), &instance);
  if (s == GENPLUG_OK) {
    out.fail(who + ": " + c.what + ": accepted");
    out.step(who + ": " + c.what + ": destroy the instance it made");
    destroy_instance(p.kind, instance);
    return;
  }
  const bool right_code = c.expected == GENPLUG_OK || s == c.expected;
  out.check(instance == nullptr && !ctx.error().empty() && right_code, who + ": " + c.what + " rejected with a message",
            std::string(status_name(s)) + (ctx.error().empty() ? ", no message" : "") +
                (instance ? ", instance returned" : "") +
                (right_code ? "" : std::string(", where entry.h asks for ") + status_name(c.expected)));
}

}  // namespace

int factory_case_count() { return int(sizeof kFactoryCases / sizeof kFactoryCases[0]); }

std::string factory_case_name(int index) {
  return index >= 0 && index < factory_case_count() ? kFactoryCases[index].what : "no such case";
}

// A plugin's text in a record (its error message, its id) is cut at 64 KiB: the parent drops a report line past
// 1 MiB as not the probe's (RecordReader), and JSON escapes make a text up to 6 times longer.
std::string report_text(const std::string& text) {
  constexpr size_t kMaxReportText = 64 * 1024;
  if (text.size() <= kMaxReportText) return text;
  return text.substr(0, kMaxReportText) + "... (" + std::to_string(text.size()) + " bytes)";
}

ProbeWriter::ProbeWriter(int fd, std::string token, std::string library)
    : fd_(fd), copy_(fd), token_(std::move(token)), library_(std::move(library)) {
  if (fd_ < 0) return;
  const int copy = ::fcntl(fd_, F_DUPFD_CLOEXEC, 10);  // before the library loads: the plugin never saw it
  if (copy >= 0) copy_ = copy;
  struct stat st {};
  if (::fstat(fd_, &st) == 0) device_ = uint64_t(st.st_dev), inode_ = uint64_t(st.st_ino);
}

// A plugin that closed fd 3, or opened something else onto it, fails the check that was running (once): the
// records go on through the copy. It had been blamed as an exit, its records lost.
void ProbeWriter::check_report_descriptor() {
  if (fd_ < 0 || copy_ == fd_ || replaced_) return;
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && uint64_t(st.st_dev) == device_ && uint64_t(st.st_ino) == inode_) return;
  replaced_ = true;
  ++failures_;
  write_record("FAIL", (last_step_.empty() ? std::string("load") : last_step_) + ": " + library_ +
                           " closed the probe's report (file descriptor " + std::to_string(fd_) +
                           "), which it did not open",
               "");
}

void ProbeWriter::put(const char* type, const std::string& text, const std::string& kind) {
  check_report_descriptor();
  write_record(type, text, kind);
}

void ProbeWriter::write_record(const char* type, const std::string& full_text, const std::string& kind) {
  const std::string text = report_text(full_text);
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (fd_ < 0) {
        product() << type << (kind.empty() ? "" : " " + kind) << (text.empty() ? "" : " " + text) << std::endl;
        return;
      }
      nlohmann::json j = {{"type", type}, {"text", text}};
      if (!kind.empty()) j["kind"] = kind;
      // Invalid UTF-8 from a plugin is replaced rather than failing the report. A fresh line first: bytes a plugin
      // wrote without a newline end there, apart from the record.
      const std::string line = "\n" + token_ + " " + std::to_string(::getpid()) + " " +
                               j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
      if (!write_all(copy_, line) && errno == EBADF) lost_ = true;
      return;
    } catch (const std::bad_alloc&) {
      reserve.give_back();  // a plugin took all the memory the limit allows: make room for the line
    }
  }
}

namespace {

// The plugin a probe is about: by index (what the validator passes), else by id (by hand).
const host::PluginRecord* chosen_plugin(const host::PluginCatalog& catalog, const ProbeRequest& r) {
  if (r.plugin_index < 0) return catalog.find(r.plugin);
  const auto& all = catalog.plugins();
  return size_t(r.plugin_index) < all.size() ? &all[size_t(r.plugin_index)] : nullptr;
}

std::string missing_plugin_text(const ProbeRequest& r) {
  if (r.plugin_index < 0) return "load: no plugin '" + r.plugin + "' in the library";
  return "load: no plugin number " + std::to_string(r.plugin_index) + " in the library (the load probe listed more)";
}

// "load": the library's plugins (PLUGIN records). One that provides none fails: it had passed, "0 plugins".
void probe_load(const host::PluginCatalog& catalog, const std::string& load, const ProbeRequest& r,
                ProbeWriter& out) {
  for (const auto& why : catalog.rejections())  // the loader cannot map under a small RLIMIT_AS: say which
    out.fail("load: " + why +
             (r.memory_limit && why.find("failed to map segment") != std::string::npos
                  ? " (under the memory limit of " + bytes_text(r.memory_limit) + "; raise --memory-limit)"
                  : ""));
  if (catalog.plugins().empty() && catalog.rejections().empty())
    out.fail(load + ": the library provides no plugin (get_factory returned no factory for any kind, or every "
                    "factory's count() is 0)");
  else if (catalog.rejections().empty() || !catalog.plugins().empty())
    out.pass(load);
  for (const auto& p : catalog.plugins()) out.plugin(p.kind, display_id(p.id));
}

}  // namespace

// This process's mapped size less its resident size (/proc/self/statm): its libraries, the reserve, its stacks.
uint64_t own_mapped_not_resident() {
  uint64_t size = 0, resident = 0;
  if (!read_statm("self", size, resident) || size < resident) return 0;
  return (size - resident) * uint64_t(::sysconf(_SC_PAGESIZE));
}

void run_probe(const ProbeRequest& r, ProbeWriter& out) {
  if (r.memory_limit) reserve.take();
  if (r.memory_limit) out.mapped_not_resident(own_mapped_not_resident());
  try {
    const std::string load = "load: entry symbol, ABI major " + std::to_string(GENPLUG_ABI_MAJOR) + ", init";
    out.step(load);
    std::optional<host::PluginCatalog> catalog(std::in_place, catalog_options(r.library));
    std::string subject = "load";
    if (r.probe == "load") {
      probe_load(*catalog, load, r, out);
    } else if (const host::PluginRecord* p = chosen_plugin(*catalog, r); !p) {
      out.fail(missing_plugin_text(r));
    } else {
      subject = display_id(p->id);
      if (r.probe == "plugin")
        probe_plugin(*catalog, *p, r, out);
      else if (r.probe == "concurrency")
        probe_concurrency(*catalog, *p, r, out);
      else if (r.probe == "factory")
        probe_factory(*catalog, *p, r, out);
      else
        out.fail("no probe '" + r.probe + "'");
    }
    out.step(subject + ": deinit and close the library (after the " + r.probe + " probe)");
    catalog.reset();
  } catch (const std::exception& e) {
    out.fail(r.probe + " probe: " + failure_text(e, r));
  }
  reserve.give_back();
  out.end();
}

}  // namespace genplug::cli::validate
