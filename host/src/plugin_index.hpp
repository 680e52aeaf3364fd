// genplug host — a cache of what plugin libraries hold (their descriptors), so a command that uses one plugin
// loads only that plugin's library: `genplug posenc` need not load the FLUX plugin, and with it libtorch.
// One JSON file, keyed by each library's path, size, modification time and inode; a library that changed is
// scanned again. Written atomically (temporary file, rename); a cache that cannot be read or written is
// simply not used.
#pragma once
#include <filesystem>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include <genplug/host/plugin_catalog.hpp>

namespace genplug::host {

class PluginIndex {
 public:
  // GENPLUG_PLUGIN_CACHE names the file ("off" disables the cache); else $XDG_CACHE_HOME/genplug/plugins.json
  // (an absolute XDG_CACHE_HOME only, as XDG says), else $HOME/.cache/genplug/plugins.json; empty when none applies.
  static std::filesystem::path default_file();

  explicit PluginIndex(std::filesystem::path file);  // empty: disabled
  // The records of `library` as last scanned, when the file is unchanged since.
  std::optional<std::vector<PluginRecord>> lookup(const std::filesystem::path& library) const;
  void store(const std::filesystem::path& library, const std::vector<PluginRecord>& records);
  // Drops a library's entry (it no longer loads) and writes the cache at once.
  void forget(const std::filesystem::path& library);
  // Writes the cache if store() changed it; failures are ignored (the cache is an optimisation).
  void save() const;

 private:
  std::filesystem::path file_;
  nlohmann::json doc_;
  bool dirty_ = false;
};

}  // namespace genplug::host
