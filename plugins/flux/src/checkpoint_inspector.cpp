// See checkpoint_inspector.hpp. Scores (genplug.inspector/1 probe):
//   90  a safetensors checkpoint holding FLUX transformer / autoencoder / T5 / CLIP / LoRA keys, or a GGUF file
//       holding FLUX component keys
//   10  any other valid safetensors checkpoint or GGUF file
//    1  safetensors by name or by its first bytes, or GGUF by its magic, but not a valid one (inspect() then says
//       what is wrong)
//    0  anything else
// A file that cannot be mapped (out of address space) fails the probe with GENPLUG_E_OUT_OF_MEMORY: it may be valid,
// and a score would let another inspector describe it instead.
#include "checkpoint_inspector.hpp"

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include <genplug/gguf.hpp>
#include <genplug/flux/name_text.hpp>
#include <genplug/safetensors.hpp>
#include <genplug/internal/bounded_json.hpp>

#include "checkpoint_report.hpp"
#include "gguf_report.hpp"
#include "token_report.hpp"

namespace genplug::flux {
namespace {

namespace fs = std::filesystem;
namespace st = genplug::safetensors;

bool safetensors_name(const fs::path& p) {
  const std::string name = p.filename().string();
  return ends_with(name, ".safetensors") || ends_with(name, ".safetensors.index.json");
}

// A regular file whose first 9 bytes are a header length that fits in the file and the header's '{'.
bool safetensors_signature(const fs::path& p, uintmax_t size) {
  if (size < 10) return false;
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(GENPLUG_E_IO, p.string() + ": cannot open");
  unsigned char b[9] = {};
  if (!in.read(reinterpret_cast<char*>(b), sizeof b)) return false;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | b[i];
  return n >= 2 && n <= size - 8 && b[8] == '{';
}

// True when `path` is, by name or signature, something the safetensors reader is meant to open.
bool looks_like_safetensors(const fs::path& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw Error(GENPLUG_E_IO, path.string() + ": no such file or folder");
  if (fs::is_directory(status)) {
    for (const auto& e : fs::directory_iterator(path, ec))
      if (safetensors_name(e.path())) return true;
    if (ec) throw Error(GENPLUG_E_IO, path.string() + ": cannot list folder: " + ec.message());
    return false;
  }
  if (safetensors_name(path)) return true;
  // Only regular files are read: opening a FIFO or a device could block.
  return fs::is_regular_file(status) && safetensors_signature(path, fs::file_size(path, ec));
}

// What names a regular file as it is now (device, inode, size, modification and change time); empty for anything
// else. Equal identities: the same file, unchanged.
std::string file_identity(const std::string& path) {
  struct stat s {};
  if (::stat(path.c_str(), &s) != 0 || !S_ISREG(s.st_mode)) return {};
  return std::to_string(s.st_dev) + ":" + std::to_string(s.st_ino) + ":" + std::to_string(s.st_size) + ":" +
         std::to_string(s.st_mtim.tv_sec) + "." + std::to_string(s.st_mtim.tv_nsec) + ":" +
         std::to_string(s.st_ctim.tv_sec) + "." + std::to_string(s.st_ctim.tv_nsec);
}

// The file probe() read, kept for the inspect() that follows on the same path (a host probes with every inspector,
// then inspects with the best): a header near the format's 100 MB limit takes seconds to parse, each time.
// Kept only for a regular file, and taken only while it is still the same file.
struct OpenedFile {
  std::string path, identity;
  std::shared_ptr<const st::Checkpoint> checkpoint;
  std::shared_ptr<const gguf::File> gguf;
};

class CheckpointInspector : public Inspector {
 public:
  uint32_t probe(const std::string& path, Context&) override {
    opened_ = OpenedFile{path, file_identity(path), nullptr, nullptr};
    if (gguf::is_gguf_file(path)) {
      try {
        auto file = gguf::File::open(path);
        if (!opened_.identity.empty()) opened_.gguf = file;
        return gguf_holds_flux_weights(*file) ? 90 : 10;
      } catch (const gguf::OutOfMemory& e) {  // larger than ulimit -v: no retry maps it (inspector.h)
        throw Error(e.beyond_reach() ? GENPLUG_E_IO : GENPLUG_E_OUT_OF_MEMORY, e.what());
      } catch (const gguf::Error&) {
        return 1;
      }
    }
    if (!looks_like_safetensors(path)) return 0;
    try {
      auto checkpoint = std::make_shared<const st::Checkpoint>(path);
      if (!opened_.identity.empty()) opened_.checkpoint = checkpoint;
      return holds_flux_weights(*checkpoint) ? 90 : 10;
    } catch (const st::OutOfMemory& e) {
      throw Error(e.beyond_reach() ? GENPLUG_E_IO : GENPLUG_E_OUT_OF_MEMORY, e.what());
    } catch (const st::Error&) {
      return 1;
    }
  }

  std::string inspect(const std::string& path, Context&) override {
    OpenedFile opened = std::exchange(opened_, OpenedFile{});
    const bool reuse = opened.path == path && !opened.identity.empty() && opened.identity == file_identity(path);
    try {
      // Invalid UTF-8 (a file name, a metadata string) is replaced, not an error: the report is for reading.
      const auto replace = nlohmann::json::error_handler_t::replace;
      if (reuse && opened.gguf) return gguf_report(*opened.gguf).dump(-1, ' ', false, replace);
      if (reuse && opened.checkpoint) return checkpoint_report(*opened.checkpoint).dump(-1, ' ', false, replace);
      if (gguf::is_gguf_file(path)) return gguf_report(*gguf::File::open(path)).dump(-1, ' ', false, replace);
      return checkpoint_report(st::Checkpoint(path)).dump(-1, ' ', false, replace);
    } catch (const st::OutOfMemory& e) {  // a file that could not be mapped: not a bad file, unless no retry can
      throw Error(e.beyond_reach() ? GENPLUG_E_IO : GENPLUG_E_OUT_OF_MEMORY, e.what());
    } catch (const gguf::OutOfMemory& e) {
      throw Error(e.beyond_reach() ? GENPLUG_E_IO : GENPLUG_E_OUT_OF_MEMORY, e.what());
    } catch (const st::Error& e) {
      throw Error(GENPLUG_E_IO, e.what());
    } catch (const gguf::Error& e) {
      throw Error(GENPLUG_E_IO, e.what());
    }
  }

  // GENPLUG_EXT_INSPECTOR_TOKENIZE: FLUX's CLIP and T5 tokenizers on a prompt (token_report.hpp).
  const void* extension(const char* id) noexcept override {
    static const genplug_inspector_tokenize_t table{sizeof(genplug_inspector_tokenize_t), &tokenize};
    return std::strcmp(id, GENPLUG_EXT_INSPECTOR_TOKENIZE) == 0 ? &table : nullptr;
  }

 private:
  std::string last_tokens_;  // the text tokenize() returned: valid until the next call
  OpenedFile opened_;        // see OpenedFile

  static genplug_status tokenize(genplug_inspector_t* inspector, const char* config_json, const char* prompt,
                                 const char** out_json, const genplug_context_t* ctx) {
    if (out_json) *out_json = nullptr;
    return guarded(ctx, [&] {
      if (!inspector || !config_json || !prompt || !out_json) throw InvalidArgument("tokenize: NULL argument");
      auto* self = instance_of<CheckpointInspector>(inspector);
      if (!self) throw InvalidArgument("tokenize: not an org.genplug.flux.inspect instance");
      nlohmann::json config;
      std::optional<std::string> duplicate;
      try {
        config = genplug::internal::parse_bounded_json(std::string(config_json), duplicate);
      } catch (const std::exception& e) {
        throw ConfigError(std::string("text: not valid JSON: ") + genplug::internal::json_error_text(e));
      }
      if (duplicate) throw ConfigError("text: " + genplug::internal::duplicate_key_text(*duplicate));
      self->last_tokens_ = token_report(config, prompt).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      *out_json = self->last_tokens_.c_str();
    });
  }
};

}  // namespace

const std::string& inspector_config_schema() {
  static const std::string schema = R"({"type":"object","additionalProperties":false})";
  return schema;
}

std::unique_ptr<Inspector> make_checkpoint_inspector(const std::string& config_json, Context&) {
  const auto config = genplug::internal::parse_bounded_json_or_discarded(config_json);
  if (!config.is_object()) throw ConfigError("config: expected a JSON object");
  if (!config.empty())
    throw ConfigError("config." + config.begin().key() + ": unknown field (the inspector takes none)");
  return std::make_unique<CheckpointInspector>();
}

}  // namespace genplug::flux
