// Checkpoint: one file, a sharded index, or a folder, seen as one set of named tensors.
#include <genplug/safetensors.hpp>

#include <algorithm>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>
#include <genplug/internal/bounded_json.hpp>
#include <genplug/internal/regular_file.hpp>
#include <genplug/flux/name_text.hpp>

namespace genplug::safetensors {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using genplug::flux::ends_with;

// An index lists each tensor's shard: FLUX.1's has ~1 000 entries in ~100 KB.
constexpr std::uintmax_t kMaxIndexBytes = std::uintmax_t(64) << 20;

bool is_index_file(const fs::path& p) { return ends_with(p.filename().string(), ".safetensors.index.json"); }

std::vector<fs::path> folder_entries(const fs::path& folder, bool index_files) {
  std::vector<fs::path> found;
  std::error_code ec;
  // Every entry named as a weights file, whatever it is: opening one that is none (a dangling link of a download
  // cut short, a FIFO) then fails naming it, where it had been skipped and a shard dropped without a word.
  for (fs::directory_iterator e(folder, ec), end; !ec && e != end; e.increment(ec)) {
    const std::string name = e->path().filename().string();
    if (index_files ? is_index_file(e->path()) : ends_with(name, ".safetensors")) found.push_back(e->path());
  }
  if (ec) throw Error(folder.string() + ": cannot list folder: " + ec.message());
  std::sort(found.begin(), found.end());
  return found;
}

// Why a shard name reaches outside the index's folder ("" when it does not): shards lie beside their index, so an
// absolute path or a ".." part (an index copied from elsewhere, or made to read another file) is refused.
std::string outside_the_folder(const std::string& shard) {
  const fs::path p(shard);
  if (p.is_absolute()) return "is an absolute path; shards lie beside their index";
  for (const fs::path& part : p)
    if (part == "..") return "leaves the index's folder (\"..\"); shards lie beside their index";
  return "";
}

}  // namespace

bool Checkpoint::names_an_index(const fs::path& path) { return is_index_file(path); }

Checkpoint::Checkpoint(const fs::path& path) : path_(path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const auto indexes = folder_entries(path, true);
    if (indexes.size() > 1) {
      std::string names;
      for (const auto& i : indexes) names += " " + i.filename().string();
      throw Error(path.string() + ": more than one *.safetensors.index.json (" + names.substr(1) +
                  "); open the one you mean");
    }
    if (indexes.size() == 1) {
      open_index(indexes.front());
    } else {
      const auto files = folder_entries(path, false);
      if (files.empty()) throw Error(path.string() + ": folder has no *.safetensors files");
      open_files(files);
    }
  } else if (is_index_file(path)) {
    open_index(path);
  } else {
    open_files({path});
  }
  finish();
}

void Checkpoint::open_files(const std::vector<fs::path>& paths) {
  for (const auto& p : paths) {
    files_.push_back(File::open(p));
    for (const auto& info : files_.back()->tensors()) add(info);
  }
  metadata_ = files_.front()->metadata();
}

void Checkpoint::open_index(const fs::path& index) {
  const std::string where = index.string();
  std::string text;
  try {
    text = genplug::internal::read_regular_file(index, kMaxIndexBytes);  // a FIFO is refused, not waited on
  } catch (const genplug::internal::UnreadableFile& e) {
    throw Error(where + ": index " + e.what());
  }
  // Nesting bounded while parsing (an index nests 2 levels): non-string metadata is printed below.
  json doc;
  std::optional<std::string> duplicate;
  try {
    doc = genplug::internal::parse_bounded_json(text, duplicate);
  } catch (const json::exception& e) {
    throw Error(where + ": index is not valid JSON (" + genplug::internal::json_error_text(e) + ")");
  } catch (const genplug::internal::JsonTooDeep& e) {
    throw Error(where + ": index " + e.what());
  }
  // JSON keeps the last of a key given twice: a tensor listed twice would load from whichever shard came last.
  if (duplicate) {
    const std::string key = duplicate->size() > 200 ? duplicate->substr(0, 200) + "..." : *duplicate;
    throw Error(where + ": index gives the key '" + key + "' twice in one object");
  }
  if (!doc.is_object() || !doc.contains("weight_map") || !doc["weight_map"].is_object())
    throw Error(where + ": index has no \"weight_map\" object");
  if (doc["weight_map"].empty()) throw Error(where + ": index \"weight_map\" is empty");

  // Open each shard once, in name order.
  std::map<std::string, std::shared_ptr<const File>> shards;
  for (const auto& [tensor, shard] : doc["weight_map"].items()) {
    if (!shard.is_string()) throw Error(where + ": tensor '" + tensor + "': shard name is not a string");
    if (shard.get_ref<const std::string&>().find('\0') != std::string::npos)  // the file system would stop there
      throw Error(where + ": tensor '" + tensor + "': shard name contains a NUL character");
    if (shard.get_ref<const std::string&>().empty())  // it would name the index's folder
      throw Error(where + ": tensor '" + tensor + "': shard name is empty");
    if (const std::string why = outside_the_folder(shard.get_ref<const std::string&>()); !why.empty())
      throw Error(where + ": tensor '" + tensor + "': shard name '" + shard.get<std::string>() + "' " + why);
    // An index is no shard: one naming itself, or another index, had been read as safetensors ("header length
    // 7017841271895827067 exceeds ...").
    if (ends_with(shard.get_ref<const std::string&>(), ".index.json"))
      throw Error(where + ": tensor '" + tensor + "': shard name '" + shard.get<std::string>() +
                  "' names an index, not a safetensors shard");
    shards.emplace(shard.get<std::string>(), nullptr);
  }
  for (auto& [shard, file] : shards) {
    const fs::path shard_path = index.parent_path() / shard;
    std::error_code ec;  // not the throwing overload: a name over NAME_MAX is the index's error, not ours
    const bool present = fs::exists(shard_path, ec);
    if (ec) throw Error(where + ": shard '" + shard + "' cannot be looked up: " + ec.message());
    if (!present) throw Error(where + ": shard '" + shard + "' is missing (" + shard_path.string() + ")");
    file = File::open(shard_path);
    files_.push_back(file);
  }
  // Every tensor of the shards it names is read, as transformers and diffusers load whole shards: one the
  // weight_map leaves out is still there, and one that two shards hold is refused (add) rather than taken from
  // whichever the map happens to name. Each tensor the map lists must be in the shard it names.
  for (const auto& [shard, file] : shards)
    for (const auto& info : file->tensors()) add(info);
  for (const auto& [tensor, shard] : doc["weight_map"].items())
    if (!shards.at(shard.get<std::string>())->find(tensor))
      throw Error(where + ": tensor '" + tensor + "' is listed in shard '" + shard.get<std::string>() +
                  "' but that file has no such tensor");
  metadata_ = files_.front()->metadata();
  if (doc.contains("metadata") && doc["metadata"].is_object())
    for (const auto& [key, value] : doc["metadata"].items())
      metadata_[key] = value.is_string() ? value.get<std::string>() : value.dump();
}

void Checkpoint::add(const TensorInfo& info) {
  if (const TensorInfo* existing = find(info.name))
    throw Error(path_.string() + ": tensor '" + info.name + "' appears in both " + existing->file->path().string() +
                " and " + info.file->path().string());
  index_.emplace(info.name, tensors_.size());
  tensors_.push_back(info);
}

void Checkpoint::finish() {
  std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  index_.clear();
  for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

const TensorInfo* Checkpoint::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& Checkpoint::at(const std::string& name) const {
  if (const TensorInfo* info = find(name)) return *info;
  throw Error(path_.string() + ": no tensor '" + name + "'");
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t total = 0;
  for (const auto& t : tensors_) total += t.nbytes;
  return total;
}

}  // namespace genplug::safetensors
