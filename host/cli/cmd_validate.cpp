// genplug validate LIB — checks a plugin library against the genplug contract: the first tool a third-party
// plugin author runs. Each check prints PASS/FAIL with the reason; the exit code is 4 when any check fails.
#include <cmath>
#include <cstring>
#include <iostream>
#include <thread>

#include <genplug/host.hpp>

#include "command.hpp"

namespace genplug::cli {
namespace {

struct Report {
  int failures = 0;
  // Flushed line by line: if a plugin crashes the validator, what was checked so far is not lost.
  void pass(const std::string& what) { std::cout << "PASS " << what << std::endl; }
  void fail(const std::string& what) {
    ++failures;
    std::cout << "FAIL " << what << std::endl;
  }
  void check(bool ok, const std::string& what, const std::string& why = "") {
    if (ok)
      pass(what);
    else
      fail(what + (why.empty() ? "" : ": " + why));
  }
};

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

// A file that cannot be opened is GENPLUG_E_IO with a message (inspector.h), not a score.
void probe_missing_file(const InspectorProxy& inspector, const std::string& who, Report& rep) {
  CallContext ctx;
  try {
    const uint32_t score = inspector.probe("/nonexistent/genplug-validate.safetensors", ctx);
    rep.fail(who + ": create {} and probe a missing file: score " + std::to_string(score) + " instead of an I/O error");
  } catch (const PluginError& e) {
    rep.check(e.code() == GENPLUG_E_IO && !ctx.error().empty(), who + ": create {} and probe a missing file: I/O error",
              e.what());
  }
}

// ABI 1.1: a model states its geometry, consistently: a default size that is a multiple of size_multiple,
// even axis dims, non-zero extents, known axis flags, and a refusal (with a message) of a size that is not a
// multiple of size_multiple.
void check_geometry(const ModelProxy& model, const std::string& who, Report& rep) {
  CallContext ctx;
  if (!model.has_geometry()) {
    rep.fail(who + ": geometry() (ABI 1.1) is missing: a host cannot derive the latent, layout or target extent");
    return;
  }
  const genplug_geometry_t g = model.geometry(0, 0, 0, ctx);
  bool dims_ok = g.axis_count >= 1 && g.size_multiple >= 1 && g.width % g.size_multiple == 0 &&
                 g.height % g.size_multiple == 0 && g.default_steps >= 1 && g.latent_ndim >= 1;
  for (uint32_t a = 0; a < g.axis_count && dims_ok; ++a)
    dims_ok = g.axis_dims[a] >= 2 && g.axis_dims[a] % 2 == 0 && g.base_extent[a] >= 1 && g.target_extent[a] >= 1 &&
              (g.axis_flags[a] & ~(GENPLUG_AXIS_SPATIAL | GENPLUG_AXIS_TEMPORAL)) == 0;
  rep.check(dims_ok, who + ": geometry() at the default size is consistent",
            std::to_string(g.width) + " x " + std::to_string(g.height) + ", " + std::to_string(g.axis_count) + " axes");
  if (g.size_multiple > 1) {
    try {
      model.geometry(g.height + 1, g.width, 0, ctx);
      rep.fail(who + ": geometry() accepts a height that is not a multiple of " + std::to_string(g.size_multiple));
    } catch (const PluginError& e) {
      rep.check(e.code() == GENPLUG_E_INVALID_ARGUMENT && !ctx.error().empty(),
                who + ": geometry() refuses an invalid size with a message", e.what());
    }
  }
}

// What a plugin built against an older ABI minor should change for ABI 1.1 (docs/abi.md, change log). Notes,
// not failures: 1.0 plugins still load; a model without geometry() fails check_geometry.
void abi_notes(const host::PluginRecord& p) {
  if (p.abi_minor >= GENPLUG_ABI_MINOR) return;
  std::string what = "init/deinit may now be called concurrently by independent hosts: count them under a lock "
                     "(the 1.1 C++ wrapper does)";
  if (p.kind == "model")
    what += "; add geometry() (the host derives layout, target extent, latent and defaults from it), return "
            "velocities in the latent's dtype and device, and lend GENPLUG_EXT_MODEL_TENSOR_OPS for non-CPU tensors";
  if (p.kind == "scheduler") what += "; add count_evaluations() (evaluation_count cannot report failure)";
  if (p.kind == "posenc") what += "; read layout->axis_flags when present: rescale only axes flagged spatial";
  std::cout << "NOTE " << p.kind << " " << p.id << ": built against ABI " << GENPLUG_ABI_MAJOR << "." << p.abi_minor
            << ", this host is " << GENPLUG_ABI_MAJOR << "." << GENPLUG_ABI_MINOR << ": " << what << "\n";
}

// [thread: render]: different instances may compute at the same time. Two instances on two threads must give
// what one gives alone (a plugin with hidden shared state fails this, or crashes here rather than in a host).
void check_concurrent_posenc(const host::PluginCatalog& catalog, const host::PluginRecord& p, Report& rep) {
  const RotaryLayout layout{{8, 12, 12}, 10000.0, {1, 16, 16}, 8, {0, GENPLUG_AXIS_SPATIAL, GENPLUG_AXIS_SPATIAL}};
  auto run = [&](double t0, std::vector<std::vector<double>>& out) {
    CallContext ctx;
    auto inst = catalog.create_posenc(p.id, nlohmann::json::object(), ctx);
    for (int i = 0; i < 200; ++i) out.push_back(inst.compute(layout, {1, 32, 48}, std::fmod(t0 + 0.01 * i, 1.0), ctx).freqs);
  };
  std::vector<std::vector<double>> alone_a, alone_b, a, b;
  run(0.0, alone_a);
  run(0.5, alone_b);
  std::string error;
  std::thread other([&] {
    try {
      run(0.5, b);
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  run(0.0, a);
  other.join();
  rep.check(error.empty() && a == alone_a && b == alone_b,
            p.kind + " " + p.id + ": two instances computing on two threads agree with one alone", error);
}

void validate(const std::string& library, bool create_models) {
  Report rep;
  host::PluginCatalog::Options o;
  o.search_path = {library};
  o.cache_file.clear();  // validation loads and initialises the library itself, every time
  host::PluginCatalog catalog(o);
  for (const auto& r : catalog.rejections()) rep.fail("load: " + r);
  if (!catalog.rejections().empty() && catalog.plugins().empty()) {
    std::cout << "1 library, 0 plugins, " << rep.failures << " failures\n";
    throw host::HostError(host::ErrorKind::plugin, library + ": does not satisfy the genplug contract");
  }
  rep.pass("load: entry symbol, ABI major " + std::to_string(GENPLUG_ABI_MAJOR) + ", init");
  for (const auto& p : catalog.plugins()) {
    const std::string who = p.kind + " " + p.id;
    rep.check(!p.name.empty() && !p.vendor.empty(), who + ": descriptor has name and vendor");
    rep.check(!p.version.empty() && std::isdigit(static_cast<unsigned char>(p.version[0])),
              who + ": version looks like semver", "'" + p.version + "'");
    rep.check(p.schema.is_object() && p.schema.value("type", "") == "object", who + ": config schema is an object schema");
    rep.check(p.id.find('.') != std::string::npos, who + ": id is reverse-DNS", "'" + p.id + "'");
    abi_notes(p);
    if (p.kind == "model" && !create_models) {
      std::cout << "SKIP " << who << ": create with the default config (pass --create-models)\n";
      continue;
    }
    CallContext ctx;
    try {
      if (p.kind == "posenc") {
        auto inst = catalog.create_posenc(p.id, nlohmann::json::object(), ctx);
        // Any layout will do: two spatial axes twice past their base, and one the posenc must leave alone.
        const RotaryLayout probe{{8, 12, 12}, 10000.0, {1, 16, 16}, 8, {0, GENPLUG_AXIS_SPATIAL, GENPLUG_AXIS_SPATIAL}};
        auto s = inst.compute(probe, {1, 32, 32}, 0.5, ctx);
        rep.check(s.freqs.size() == 16 && s.amplitude.size() == 3, who + ": create {} and compute a spectrum");
        check_concurrent_posenc(catalog, p, rep);
      } else if (p.kind == "scheduler") {
        auto inst = catalog.create_scheduler(p.id, nlohmann::json::object(), ctx);
        auto sig = inst.sigmas(4, 4096, ctx);
        rep.check(sig.size() == 5, who + ": create {} and compute 4-step sigmas",
                  std::to_string(sig.size()) + " values");
      } else if (p.kind == "inspector") {
        auto inst = catalog.create_inspector(p.id, nlohmann::json::object(), ctx);
        probe_missing_file(inst, who, rep);
      } else {
        auto inst = catalog.create_model(p.id, nlohmann::json::object(), ctx);
        rep.check(nlohmann::json::accept(inst.describe()), who + ": create {} and describe() is JSON");
        check_geometry(inst, who, rep);
      }
      rep.pass(who + ": destroy");
    } catch (const std::exception& e) {
      rep.fail(who + ": create/use with the default config: " + e.what());
    }
  }
  // Bad arguments straight at the C factory (no host-side schema check): errors with messages, no crash.
  for (const auto& p : catalog.plugins()) {
    const std::string who = p.kind + " " + p.id;
    const genplug_factory_t* f = catalog.factory_of(p.id);
    struct Case {
      const char* id;
      const char* config;
      const char* what;
    };
    const Case cases[] = {{p.id.c_str(), "not json", "config that is not JSON"},
                          {p.id.c_str(), "[1, 2]", "config that is not an object"},
                          {p.id.c_str(), "{\"__no_such_field__\": 1}", "config with an unknown field"},
                          {"org.genplug.no-such-plugin", "{}", "unknown plugin id"},
                          {nullptr, "{}", "NULL plugin id"}};
    const bool closed = p.schema.contains("additionalProperties") && p.schema["additionalProperties"] == false;
    for (const Case& c : cases) {
      if (!closed && std::strcmp(c.what, "config with an unknown field") == 0) continue;  // its schema allows them
      CallContext ctx;
      void* out = nullptr;
      const genplug_status s = f->create(f, c.id, c.config, ctx.get(), &out);
      if (s == GENPLUG_OK) {
        rep.fail(who + ": " + c.what + ": accepted");
        destroy_instance(p.kind, out);
        continue;
      }
      rep.check(out == nullptr && !ctx.error().empty(), who + ": " + c.what + " rejected with a message",
                std::string(status_name(s)) + (ctx.error().empty() ? ", no message" : "") +
                    (out ? ", instance returned" : ""));
    }
  }
  std::cout << catalog.plugins().size() << " plugins, " << rep.failures << " failures\n";
  if (rep.failures) throw host::HostError(host::ErrorKind::plugin, library + ": " + std::to_string(rep.failures) +
                                                                       " contract checks failed");
}

void setup(CLI::App& cmd, Globals&) {
  static std::string library;
  static bool create_models = false;
  cmd.add_option("library", library, "Plugin library (.so) to check")->required()->check(CLI::ExistingFile);
  cmd.add_flag("--create-models", create_models, "Also create model plugins with their default config (may be slow)");
  cmd.callback([] { validate(library, create_models); });
}

RegisterCommand reg("validate", "Check a plugin library against the genplug contract", setup);

}  // namespace
}  // namespace genplug::cli
