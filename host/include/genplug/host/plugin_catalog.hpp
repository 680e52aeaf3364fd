// genplug host — finds plugin libraries, checks them against the ABI, and creates validated instances.
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genplug/host.hpp>

#include "errors.hpp"

namespace genplug::host {

// One plugin found in a library.
struct PluginRecord {
  std::string id, name, vendor, version, description;
  std::string kind;     // "posenc", "scheduler", "model", "inspector"
  std::string kind_id;  // "genplug.posenc/1", ...
  std::vector<std::string> features;
  uint32_t abi_minor = 0;   // the ABI minor its library was built with
  std::string schema_text;  // the plugin's JSON Schema, as it gave it
  nlohmann::json schema;    // parsed
  std::filesystem::path library;
};

// Scans once, when constructed; after that its const members may be called from several threads at once
// (creating instances of different plugins, or of one, as `genplug validate` does on two threads).
class PluginCatalog {
 public:
  struct Options {
    // Folders (searched for *.so, not recursively) and library files, in priority order.
    std::vector<std::filesystem::path> search_path;
    // Receives one line per rejected library or plugin ("why it was skipped"); default: ignored.
    std::function<void(const std::string&)> warn;
    // Where the descriptors of scanned libraries are cached (plugin_index.hpp), so that a library is loaded
    // only when one of its plugins is created. Empty: no cache, every library is loaded while scanning.
    std::filesystem::path cache_file = default_cache_file();
  };
  // GENPLUG_PLUGIN_CACHE ("off": none), else $XDG_CACHE_HOME/genplug/plugins.json (an absolute path; a relative
  // one is ignored, as XDG says), else ~/.cache/genplug/.
  static std::filesystem::path default_cache_file();

  explicit PluginCatalog(Options options);
  ~PluginCatalog();
  PluginCatalog(const PluginCatalog&) = delete;
  PluginCatalog& operator=(const PluginCatalog&) = delete;

  // extra first, then GENPLUG_PLUGIN_PATH (':'-separated), then the folders beside the running program
  // (../plugins for the build tree, ../lib/genplug for an install).
  static std::vector<std::filesystem::path> default_search_path(const std::vector<std::filesystem::path>& extra = {});

  const std::vector<PluginRecord>& plugins() const;
  // How many libraries this catalog has loaded (those of cached plugins are loaded on first use).
  size_t libraries_loaded() const;
  const PluginRecord* find(const std::string& id) const;
  // How many instances of a kind ("model", ...) this catalog has created (successful or not).
  int instances_created(const std::string& kind) const;

  // One line per library or plugin that was rejected while scanning.
  const std::vector<std::string>& rejections() const;
  // For a plugin that was not found: "; not loaded: <the first two rejections> (and N more)", or "" when none was
  // rejected. The plugin may be in one of them (a library that could not be mapped under ulimit -v, say), and -q
  // hides the scan's warnings.
  std::string rejections_text() const;

  // Validate `config` against the plugin's schema (HostError kind plugin/manifest on failure, message
  // naming `where`, e.g. "manifest.json: posenc.config"), then create the instance.
  PosencProxy create_posenc(const std::string& id, const nlohmann::json& config, CallContext& ctx,
                            const std::string& where = "config") const;
  SchedulerProxy create_scheduler(const std::string& id, const nlohmann::json& config, CallContext& ctx,
                                  const std::string& where = "config") const;
  ModelProxy create_model(const std::string& id, const nlohmann::json& config, CallContext& ctx,
                          const std::string& where = "config") const;
  InspectorProxy create_inspector(const std::string& id, const nlohmann::json& config, CallContext& ctx,
                                  const std::string& where = "config") const;

  // The C factory that serves plugin `id` (for tools that exercise the raw ABI, e.g. `genplug validate`);
  // valid while the catalog lives. nullptr when unknown.
  const genplug_factory_t* factory_of(const std::string& id) const;

  // Checks config against plugin `id`'s schema; returns the problems (empty when valid).
  std::vector<std::string> validate_config(const std::string& id, const nlohmann::json& config) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace genplug::host
