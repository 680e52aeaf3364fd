// See plugin_index.hpp.
#include "plugin_index.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <thread>
#include <genplug/internal/bounded_json.hpp>
#include <genplug/internal/regular_file.hpp>
#include <genplug/sdk_version.h>

namespace genplug::host {
namespace fs = std::filesystem;

namespace {

// A cache of a few hundred plugins is tens of KB.
constexpr std::uintmax_t kMaxCacheBytes = std::uintmax_t(16) << 20;

// What must be equal for a cached scan to stand for the library on disk now; null when it cannot be stat'ed.
nlohmann::json file_key(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return nullptr;
  return {{"size", int64_t(st.st_size)},
          {"mtime_ns", int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec},
          {"inode", uint64_t(st.st_ino)},
          {"device", uint64_t(st.st_dev)}};
}

// The cache belongs to this host build: another genplug version or ABI may read descriptors differently.
std::string host_stamp() {
  return std::string(GENPLUG_SDK_VERSION_STRING) + " abi " + std::to_string(GENPLUG_ABI_MAJOR) + "." +
         std::to_string(GENPLUG_ABI_MINOR);
}

nlohmann::json to_json(const PluginRecord& r) {
  return {{"id", r.id},           {"name", r.name},       {"vendor", r.vendor},
          {"version", r.version}, {"description", r.description}, {"kind", r.kind},
          {"kind_id", r.kind_id}, {"features", r.features}, {"schema", r.schema_text},
          {"abi_minor", r.abi_minor}};
}

PluginRecord from_json(const nlohmann::json& j, const fs::path& library) {
  PluginRecord r;
  r.id = j.at("id").get<std::string>();
  r.name = j.at("name").get<std::string>();
  r.vendor = j.at("vendor").get<std::string>();
  r.version = j.at("version").get<std::string>();
  r.description = j.at("description").get<std::string>();
  r.kind = j.at("kind").get<std::string>();
  r.kind_id = j.at("kind_id").get<std::string>();
  r.features = j.at("features").get<std::vector<std::string>>();
  r.schema_text = j.at("schema").get<std::string>();
  r.abi_minor = j.at("abi_minor").get<uint32_t>();
  r.library = library;
  return r;
}

}  // namespace

fs::path PluginIndex::default_file() {
  if (const char* f = std::getenv("GENPLUG_PLUGIN_CACHE"); f && *f)
    return std::string(f) == "off" ? fs::path() : fs::path(f);
  // A relative XDG_CACHE_HOME is invalid and ignored, as the XDG Base Directory spec says (it would put the cache
  // in whichever folder a command runs in).
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && fs::path(x).is_absolute())
    return fs::path(x) / "genplug" / "plugins.json";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "genplug" / "plugins.json";
  return {};
}

PluginIndex::PluginIndex(fs::path file) : file_(std::move(file)) {
  doc_ = {{"host", host_stamp()}, {"libraries", nlohmann::json::object()}};
  if (file_.empty()) return;
  try {
    // Bounded and never waited on: a FIFO or /dev/zero named by GENPLUG_PLUGIN_CACHE is a damaged cache.
    nlohmann::json j = internal::parse_bounded_json(internal::read_regular_file(file_, kMaxCacheBytes));
    if (j.value("host", "") == host_stamp() && j.contains("libraries") && j["libraries"].is_object()) doc_ = std::move(j);
  } catch (const std::exception&) {  // a damaged cache is rebuilt
  }
}

std::optional<std::vector<PluginRecord>> PluginIndex::lookup(const fs::path& library) const {
  const auto& libs = doc_["libraries"];
  const auto it = libs.find(library.string());
  if (it == libs.end() || !it->is_object() || it->value("key", nlohmann::json()) != file_key(library) ||
      file_key(library).is_null())
    return std::nullopt;
  try {
    std::vector<PluginRecord> out;
    for (const auto& r : it->at("plugins")) out.push_back(from_json(r, library));
    return out;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void PluginIndex::forget(const fs::path& library) {
  if (file_.empty() || !doc_["libraries"].contains(library.string())) return;
  doc_["libraries"].erase(library.string());
  dirty_ = true;
  save();
}

void PluginIndex::store(const fs::path& library, const std::vector<PluginRecord>& records) {
  if (file_.empty()) return;
  nlohmann::json plugins = nlohmann::json::array();
  for (const auto& r : records) plugins.push_back(to_json(r));
  doc_["libraries"][library.string()] = {{"key", file_key(library)}, {"plugins", plugins}};
  dirty_ = true;
}

void PluginIndex::save() const {
  if (!dirty_ || file_.empty()) return;
  std::error_code ec;
  // Only a regular file (or nothing) is replaced: the variable may name a FIFO or, for root, /dev/zero.
  const fs::file_status existing = fs::symlink_status(file_, ec);
  if (fs::exists(existing) && !fs::is_regular_file(existing)) return;
  fs::create_directories(file_.parent_path(), ec);
  // Unique per process, thread and host: catalogs in one process, or farm nodes sharing a home, never share it.
  char host[64] = "";
  ::gethostname(host, sizeof host - 1);
  const fs::path tmp = file_.string() + ".tmp-" + host + "-" + std::to_string(::getpid()) + "-" +
                       std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id())) + "-" +
                       std::to_string(reinterpret_cast<uintptr_t>(this));
  // Library paths need not be UTF-8: such a key is written with U+FFFD, so it never matches and is probed again.
  const std::string text = doc_.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  {
    std::ofstream out(tmp);
    if (!out) return;
    out << text << "\n";
    if (!out) {
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, file_, ec);  // atomic: a concurrent reader sees the old file or the new one
  if (ec) fs::remove(tmp, ec);
}

}  // namespace genplug::host
