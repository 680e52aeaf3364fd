// genplug host — one loaded plugin library (Boost.DLL), checked against the ABI and initialised.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include <genplug/genplug.h>

namespace genplug::host {

class PluginLibrary {
 public:
  // Loads `path` (absolute), checks the entry's ABI major and struct size, calls init(). A file already
  // loaded in this process (by any catalog) is shared, not initialised twice.
  // Throws HostError(plugin) with one line naming the file, what was expected and what was found.
  static std::shared_ptr<PluginLibrary> load(const std::filesystem::path& path);
  ~PluginLibrary();  // deinit(), then unload

  const genplug_entry_t& entry() const { return *entry_; }
  const std::filesystem::path& path() const { return path_; }
  const genplug_factory_t* factory(const char* kind_id) const;

 private:
  PluginLibrary() = default;
  static std::shared_ptr<PluginLibrary> load_new(const std::filesystem::path& path);
  struct Dll;
  std::unique_ptr<Dll> dll_;
  const genplug_entry_t* entry_ = nullptr;
  std::filesystem::path path_;
  bool initialised_ = false;
};

}  // namespace genplug::host
