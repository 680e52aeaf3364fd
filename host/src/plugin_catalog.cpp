#include <genplug/host/plugin_catalog.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include <genplug/host/json_schema.hpp>
#include <genplug/host/printable.hpp>
#include <genplug/internal/bounded_json.hpp>

#include "plugin_index.hpp"
#include "plugin_library.hpp"
#include "program_location.hpp"

namespace genplug::host {
namespace fs = std::filesystem;

namespace {

constexpr uint32_t kMaxPluginsPerFactory = 1024;  // per library and kind


struct KindSpec {
  const char* kind;
  const char* kind_id;
};
constexpr KindSpec kKinds[] = {{"posenc", GENPLUG_KIND_POSENC},
                               {"scheduler", GENPLUG_KIND_SCHEDULER},
                               {"model", GENPLUG_KIND_MODEL},
                               {"inspector", GENPLUG_KIND_INSPECTOR}};

bool is_library(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".so" || ext == ".dylib" || ext == ".dll";
}

std::string str_or_empty(const char* s) { return s ? s : ""; }

// Whether `s` is valid UTF-8, which JSON (a manifest naming the id, the cache, `plugins --json`) can carry: a
// descriptor string that is not had made every command fail on the cache's JSON.
bool is_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

}  // namespace

struct PluginCatalog::Impl {
  Options options;
  std::vector<PluginRecord> records;
  std::vector<std::string> rejections;
  // Const members may run on several threads at once (e.g. `genplug validate` creates instances on two):
  // after construction, what they change (libraries loaded on first use, the counts, the cache's entries) is
  // changed under `mutex` only.
  mutable std::mutex mutex;
  mutable std::map<std::string, std::shared_ptr<PluginLibrary>> libraries;  // loaded so far, by path
  std::set<std::string> scanned;                                             // libraries seen, by path
  mutable std::map<std::string, int> created;                                // instances created, by kind
  std::unique_ptr<PluginIndex> index;

  // The loaded library behind a record (loaded now when its plugins came from the cache).
  std::shared_ptr<PluginLibrary> library(const fs::path& path) const {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = libraries.find(path.string());
    if (it != libraries.end()) return it->second;
    try {
      return libraries.emplace(path.string(), PluginLibrary::load(path)).first->second;
    } catch (const HostError& e) {  // listed from the cache, but it no longer loads: say so, and scan it next time
      index->forget(path);
      throw HostError(e.kind(), std::string(e.what()) + " (its plugins were listed from the plugin cache " +
                                    options.cache_file.string() + "; the entry is dropped)");
    }
  }

  void reject(const std::string& line) {
    rejections.push_back(line);
    if (options.warn) options.warn(line);
  }

  void scan_library(const fs::path& path) {
    const fs::path abs = fs::absolute(path).lexically_normal();
    // Once per file: a folder on the path twice, or once through a symbolic link, had made each of its plugins a
    // "duplicate plugin id, already provided by" itself.
    std::error_code ec;
    const fs::path file = fs::canonical(abs, ec);
    if (!scanned.insert(ec ? abs.string() : file.string()).second) return;
    if (auto cached = index->lookup(abs)) {  // its plugins as last scanned: the library stays unloaded
      for (PluginRecord& r : *cached) add_record(std::move(r));
      return;
    }
    std::shared_ptr<PluginLibrary> lib;
    try {
      lib = PluginLibrary::load(abs);
    } catch (const HostError& e) {
      reject(e.what());
      return;
    }
    bool any = false;
    const size_t rejections_before = rejections.size();
    std::vector<PluginRecord> found;
    for (const KindSpec& k : kKinds) {
      const genplug_factory_t* f = nullptr;
      try {
        f = lib->factory(k.kind_id);
      } catch (const HostError& e) {
        reject(e.what());
        continue;
      }
      if (!f) continue;
      const uint32_t n = f->count(f);
      if (n > kMaxPluginsPerFactory) {  // a broken count would have the host walk billions of descriptors
        reject(abs.string() + ": its " + k.kind + " factory lists " + std::to_string(n) + " plugins (at most " +
               std::to_string(kMaxPluginsPerFactory) + " are read); the factory is ignored");
        continue;
      }
      for (uint32_t i = 0; i < n; ++i)
        if (std::optional<PluginRecord> r = record_of(abs, k, f->descriptor(f, i), i, lib->entry().abi_minor))
          found.push_back(std::move(*r));
    }
    const bool clean = rejections.size() == rejections_before;
    for (const PluginRecord& r : found) any |= add_record(r);
    // A library meant as a plugin that offers nothing is said, not passed over; one built for a newer ABI minor may
    // offer only kinds this host does not know.
    if (found.empty() && clean && lib->entry().abi_minor <= GENPLUG_ABI_MINOR)
      reject(abs.string() + ": it provides no plugin (no factory of a known kind lists one)");
    if (!any) return;
    libraries[abs.string()] = lib;
    // Cached only when the library itself is sound, so its warnings are never lost; every plugin it offers, so
    // a duplicate id is rejected again next time.
    if (clean && is_utf8(abs.string())) index->store(abs, found);  // the cache's keys are JSON strings
  }

  std::optional<PluginRecord> record_of(const fs::path& lib, const KindSpec& k, const genplug_descriptor_t* d,
                                        uint32_t index, uint32_t abi_minor) {
    const std::string where = lib.string() + ": " + k.kind + " plugin #" + std::to_string(index);
    if (!d || d->struct_size < offsetof(genplug_descriptor_t, config_schema) + sizeof(d->config_schema)) {
      reject(where + ": descriptor missing or too small");
      return std::nullopt;
    }
    PluginRecord r;
    r.id = str_or_empty(d->id);
    r.name = str_or_empty(d->name);
    r.vendor = str_or_empty(d->vendor);
    r.version = str_or_empty(d->version);
    r.description = str_or_empty(d->description);
    r.kind = k.kind;
    r.kind_id = k.kind_id;
    r.library = lib;
    r.abi_minor = abi_minor;
    if (r.id.empty()) {
      reject(where + ": descriptor has no id");
      return std::nullopt;
    }
    if (d->features)
      for (const char* const* f = d->features; *f; ++f) r.features.emplace_back(*f);
    r.schema_text = str_or_empty(d->config_schema);
    std::vector<std::pair<const char*, const std::string*>> texts = {
        {"id", &r.id},           {"name", &r.name},
        {"vendor", &r.vendor},   {"version", &r.version},
        {"description", &r.description}, {"config_schema", &r.schema_text}};
    for (const std::string& f : r.features) texts.emplace_back("features", &f);
    for (const auto& [field, text] : texts)
      if (!is_utf8(*text)) {
        reject(where + ": descriptor's " + field + " is not valid UTF-8");
        return std::nullopt;
      }
    return r;
  }

  // Adds a plugin whose id can be typed and is not taken yet, and whose schema the host can enforce. Also for
  // records from the cache, which an earlier genplug may have written.
  bool add_record(PluginRecord r) {
    if (printable(r.id) != r.id) {  // a control character, or one that reorders the text around it
      reject(r.library.string() + ": a plugin's id has a control character or one that reorders text: " +
             nlohmann::json(r.id).dump());
      return false;
    }
    const std::string who = r.library.string() + ": " + r.id;
    try {
      std::optional<std::string> duplicate;
      r.schema = internal::parse_bounded_json(r.schema_text.empty() ? "{}" : r.schema_text, duplicate);
      if (duplicate)  // JSON keeps the last value only, and the first may be the one meant: as in manifests
        throw std::invalid_argument("the key " + nlohmann::json(*duplicate).dump() +
                                    " appears twice in one object (JSON keeps the last value only)");
      JsonSchema check(r.schema);  // the schema must be one the host can enforce
    } catch (const std::exception& e) {
      reject(who + ": invalid config schema: " + e.what());
      return false;
    }
    for (const auto& existing : records)
      if (existing.id == r.id) {
        reject(who + ": duplicate plugin id, already provided by " + existing.library.string());
        return false;
      }
    records.push_back(std::move(r));
    return true;
  }

  const PluginRecord& require(const std::string& id, const char* kind) const {
    for (const auto& r : records)
      if (r.id == id) {
        if (r.kind != kind)  // the caller's mistake, which no installation mends (as in a manifest: exit 3)
          throw HostError(ErrorKind::manifest, "plugin '" + id + "' is a " + r.kind + " plugin, a " + kind +
                                                   " plugin was expected (" + r.library.string() + ")");
        return r;
      }
    std::ostringstream known;
    for (const auto& r : records)
      if (r.kind == kind) known << (known.tellp() > 0 ? ", " : "") << r.id;
    throw HostError(ErrorKind::plugin, "no " + std::string(kind) + " plugin '" + id + "' found (known: " +
                                           (known.tellp() > 0 ? known.str() : std::string("none")) +
                                           rejections_text() + "); search path: " + search_path_text());
  }

  std::string rejections_text() const {
    constexpr size_t kShown = 2;
    std::string s;
    for (size_t i = 0; i < rejections.size() && i < kShown; ++i)
      s += (i == 0 ? "; not loaded: " : "; ") + rejections[i];
    if (rejections.size() > kShown)
      s += " (and " + std::to_string(rejections.size() - kShown) + " more: `genplug plugins` lists them)";
    return s;
  }

  std::string search_path_text() const {
    std::string s;
    for (const auto& p : options.search_path) s += (s.empty() ? "" : ":") + p.string();
    return s.empty() ? "(empty)" : s;
  }

  void* create(const PluginRecord& r, const nlohmann::json& config, CallContext& ctx, const std::string& where) const {
    if (!config.is_object())
      throw HostError(ErrorKind::manifest, where + ": expected a JSON object, got " + std::string(config.type_name()));
    std::vector<SchemaViolation> problems = JsonSchema(r.schema).validate(config, where);
    if (!problems.empty()) {
      std::string msg = problems.front().path + ": " + problems.front().message;
      if (problems.size() > 1) msg += " (and " + std::to_string(problems.size() - 1) + " more)";
      throw HostError(ErrorKind::manifest, msg + " [plugin " + r.id + "]");
    }
    const std::shared_ptr<PluginLibrary> lib = library(r.library);
    const genplug_factory_t* f = lib->factory(r.kind_id.c_str());
    if (!f)
      throw HostError(ErrorKind::plugin, r.library.string() + ": " + r.id + ": the library no longer offers a " +
                                             r.kind + " factory");
    {
      std::lock_guard<std::mutex> lock(mutex);
      ++created[r.kind];
    }
    void* out = nullptr;
    genplug_status s = f->create(f, r.id.c_str(), config.dump().c_str(), ctx.get(), &out);
    if (s != GENPLUG_OK) {
      // Named first by where the config came from (the manifest's "model.config", a command line option): it
      // holds what the plugin could not use, a value or a file it names. A refused config is the config's fault
      // (ErrorKind::manifest); out of memory may pass on a retry (ErrorKind::retryable); anything else, a file that
      // cannot be read included, the plugin's (ErrorKind::plugin).
      const bool config = s == GENPLUG_E_CONFIG;
      std::string msg = where + ": " + r.id + (config ? "" : ": create failed") + ": " + status_name(s);
      msg += ctx.error().empty() ? " (the plugin gave no message)" : ": " + ctx.error();
      msg += " [plugin " + r.library.string() + "]";
      if (out) msg += " (and it returned an instance anyway; leaked rather than trusted)";
      throw HostError(config                           ? ErrorKind::manifest
                      : s == GENPLUG_E_OUT_OF_MEMORY ? ErrorKind::retryable
                                                     : ErrorKind::plugin,
                      msg);
    }
    if (!out) throw HostError(ErrorKind::plugin, r.library.string() + ": " + r.id + ": create succeeded but returned no instance");
    return out;
  }
};

PluginCatalog::PluginCatalog(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->index = std::make_unique<PluginIndex>(impl_->options.cache_file);
  for (const fs::path& entry : impl_->options.search_path) {
    std::error_code ec;
    if (fs::is_regular_file(entry, ec)) {
      impl_->scan_library(entry);
    } else if (fs::is_directory(entry, ec)) {
      std::vector<fs::path> files;
      for (const auto& de : fs::directory_iterator(entry, ec)) {
        std::error_code entry_ec;  // a symlink loop or a vanished entry is skipped, not fatal for the whole scan
        if (!is_library(de.path())) continue;
        if (de.is_regular_file(entry_ec)) {
          files.push_back(de.path());
        } else if (entry_ec) {  // listed among the rejections too (`genplug plugins` shows those, quiet or not)
          impl_->reject(de.path().string() + ": " + entry_ec.message());
        }
      }
      if (ec) impl_->reject(entry.string() + ": cannot list the folder: " + ec.message());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) impl_->scan_library(f);
    }
  }
  impl_->index->save();
}

PluginCatalog::~PluginCatalog() = default;

fs::path PluginCatalog::default_cache_file() { return PluginIndex::default_file(); }

size_t PluginCatalog::libraries_loaded() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->libraries.size();
}

std::vector<fs::path> PluginCatalog::default_search_path(const std::vector<fs::path>& extra) {
  std::vector<fs::path> out(extra.begin(), extra.end());
  if (const char* env = std::getenv("GENPLUG_PLUGIN_PATH"); env && *env) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ':'))
      if (!item.empty()) out.emplace_back(item);
  }
  const fs::path exe_dir = program_directory();
  if (!exe_dir.empty()) {
    out.push_back(exe_dir / ".." / "plugins");            // build tree: build/bin/genplug, build/plugins
    out.push_back(exe_dir / ".." / "lib" / "genplug");    // install tree: prefix/bin, prefix/lib/genplug
  }
  return out;
}

const std::vector<PluginRecord>& PluginCatalog::plugins() const { return impl_->records; }

const PluginRecord* PluginCatalog::find(const std::string& id) const {
  for (const auto& r : impl_->records)
    if (r.id == id) return &r;
  return nullptr;
}

const std::vector<std::string>& PluginCatalog::rejections() const { return impl_->rejections; }

std::string PluginCatalog::rejections_text() const { return impl_->rejections_text(); }

int PluginCatalog::instances_created(const std::string& kind) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto it = impl_->created.find(kind);
  return it == impl_->created.end() ? 0 : it->second;
}

const genplug_factory_t* PluginCatalog::factory_of(const std::string& id) const {
  const PluginRecord* r = find(id);
  if (!r) return nullptr;
  return impl_->library(r->library)->factory(r->kind_id.c_str());
}

std::vector<std::string> PluginCatalog::validate_config(const std::string& id, const nlohmann::json& config) const {
  const PluginRecord* r = find(id);
  if (!r) return {"no plugin '" + id + "'"};
  std::vector<std::string> out;
  for (const auto& v : JsonSchema(r->schema).validate(config, "config")) out.push_back(v.path + ": " + v.message);
  return out;
}

namespace {
void require_fn(bool ok, const PluginRecord& r, const char* what) {
  if (!ok) throw HostError(ErrorKind::plugin, r.library.string() + ": " + r.id + ": instance " + what);
}

// An instance's struct reaches through get_extension, the last function of every kind's oldest version (ABI 1.0;
// the inspector's 1.1): a struct shorter than its kind's first version is no instance of it. (The proxies read
// get_extension only where struct_size covers it, and appended functions likewise.)
template <class T>
void require_oldest_extent(const T* p, const PluginRecord& r) {
  const size_t needed = offsetof(T, get_extension) + sizeof(p->get_extension);
  if (p->struct_size < needed)
    throw HostError(ErrorKind::plugin, r.library.string() + ": " + r.id + ": instance struct_size is " +
                                           std::to_string(p->struct_size) + " bytes, short of the " +
                                           std::to_string(needed) + " its kind has had since its first version");
}
}  // namespace

PosencProxy PluginCatalog::create_posenc(const std::string& id, const nlohmann::json& config, CallContext& ctx,
                                         const std::string& where) const {
  const PluginRecord& r = impl_->require(id, "posenc");
  auto* p = static_cast<genplug_posenc_t*>(impl_->create(r, config, ctx, where));
  PosencProxy proxy(p, r.id, impl_->library(r.library));
  require_oldest_extent(p, r);
  require_fn(p->destroy && p->compute, r, "is missing destroy or compute");
  return proxy;
}

SchedulerProxy PluginCatalog::create_scheduler(const std::string& id, const nlohmann::json& config, CallContext& ctx,
                                               const std::string& where) const {
  const PluginRecord& r = impl_->require(id, "scheduler");
  auto* p = static_cast<genplug_scheduler_t*>(impl_->create(r, config, ctx, where));
  SchedulerProxy proxy(p, r.id, impl_->library(r.library));
  require_oldest_extent(p, r);
  require_fn(p->destroy && p->sigmas && p->evaluation_count && p->sample, r,
             "is missing destroy, sigmas, evaluation_count or sample");
  return proxy;
}

ModelProxy PluginCatalog::create_model(const std::string& id, const nlohmann::json& config, CallContext& ctx,
                                       const std::string& where) const {
  const PluginRecord& r = impl_->require(id, "model");
  auto* p = static_cast<genplug_model_t*>(impl_->create(r, config, ctx, where));
  ModelProxy proxy(p, r.id, impl_->library(r.library));
  require_oldest_extent(p, r);
  require_fn(p->destroy && p->describe && p->condition && p->noise && p->predict && p->decode && p->encode, r,
             "is missing one of destroy, describe, condition, noise, predict, decode, encode");
  return proxy;
}

InspectorProxy PluginCatalog::create_inspector(const std::string& id, const nlohmann::json& config, CallContext& ctx,
                                               const std::string& where) const {
  const PluginRecord& r = impl_->require(id, "inspector");
  auto* p = static_cast<genplug_inspector_t*>(impl_->create(r, config, ctx, where));
  InspectorProxy proxy(p, r.id, impl_->library(r.library));
  require_oldest_extent(p, r);
  require_fn(p->destroy && p->probe && p->inspect, r, "is missing destroy, probe or inspect");
  return proxy;
}

}  // namespace genplug::host
