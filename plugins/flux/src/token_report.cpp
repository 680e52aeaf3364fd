#include "token_report.hpp"

#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <genplug/plugin.hpp>

#include <genplug/flux/text/clip_text_cleanup.hpp>
#include <genplug/flux/text/clip_tokenizer.hpp>
#include <genplug/flux/text/t5_tokenizer.hpp>
#include <genplug/flux/text/unicode_text.hpp>

namespace genplug::flux {
namespace {

namespace fs = std::filesystem;
namespace tx = genplug::flux::text;

std::string string_key(const nlohmann::json& c, const char* key) {
  if (!c.contains(key) || c[key].is_null()) return {};
  if (!c[key].is_string()) throw ConfigError(std::string("text.") + key + ": expected a path string");
  return c[key].get<std::string>();
}

// Without exceptions: a path the system cannot look at (a name too long, a folder not searchable) is one that
// is not there, so the user hears that no tokenizer was found, not an internal error.
bool is_there(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

fs::path first_existing(std::initializer_list<fs::path> candidates) {
  for (const fs::path& p : candidates)
    if (!p.empty() && is_there(p)) return p;
  return {};
}

// The tokenizer file `key` names, else the default beside the weights `weights_key` names (the rule of the FLUX
// plugin's text config, docs/text.md), else empty.
fs::path tokenizer_path(const nlohmann::json& c, const char* key, const char* weights_key) {
  if (std::string p = string_key(c, key); !p.empty()) return p;
  const std::string weights = string_key(c, weights_key);
  if (weights.empty()) return {};
  std::error_code ec;
  const fs::path base = fs::is_directory(weights, ec) ? fs::path(weights) : fs::path(weights).parent_path();
  if (std::string(key) == "t5_tokenizer")
    return first_existing({base / ".." / "tokenizer_2" / "spiece.model", base / "spiece.model"});
  return first_existing({is_there(base / ".." / "tokenizer" / "vocab.json") ? base / ".." / "tokenizer" : fs::path(),
                         base / "bpe_simple_vocab_16e6.txt.gz"});
}

// Loads with the tokenizer's own loader; its errors (file missing or corrupt) become GENPLUG_E_IO.
template <class F>
auto load_tokenizer(F&& load) {
  try {
    return load();
  } catch (const std::runtime_error& e) {
    throw Error(GENPLUG_E_IO, e.what());
  }
}

// Text for people: valid UTF-8 as it is, each byte of an invalid sequence as "\xNN" (a CLIP token can hold part of
// a character).
std::string readable_bytes(const std::string& bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size();) {
    std::size_t len = 1;
    const auto b = static_cast<unsigned char>(bytes[i]);
    if (b >= 0xC0) len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
    if (b >= 0x80 && i + len <= bytes.size() && tx::is_valid_utf8(bytes.substr(i, len))) {
      out += bytes.substr(i, len);
      i += len;
    } else if (b < 0x80) {
      out.push_back(bytes[i++]);
    } else {
      static const char* hex = "0123456789abcdef";
      out += std::string("\\x") + hex[b >> 4] + hex[b & 15];
      ++i;
    }
  }
  return out;
}

nlohmann::json clip_report(const fs::path& path, const std::string& prompt) {
  const auto tok = load_tokenizer([&] { return tx::ClipTokenizer::load(path); });
  const std::vector<int64_t> content = tok.encode(prompt);
  const auto keep = static_cast<std::size_t>(tx::ClipTokenizer::kContextLength - 2);
  std::vector<int64_t> ids{tok.bos_id()};
  ids.insert(ids.end(), content.begin(), content.begin() + static_cast<std::ptrdiff_t>(std::min(keep, content.size())));
  ids.push_back(tok.eos_id());
  nlohmann::json pieces = nlohmann::json::array();
  for (int64_t id : ids) pieces.push_back(readable_bytes(tok.token_bytes(id)));
  return {{"name", "clip"},
          {"file", path.string()},
          {"text", tx::encode_utf8(tx::clip_clean_text(prompt))},
          {"ids", ids},
          {"pieces", pieces},
          {"max_length", tx::ClipTokenizer::kContextLength},
          {"dropped", content.size() > keep ? content.size() - keep : 0}};
}

nlohmann::json t5_report(const fs::path& path, const std::string& prompt, int64_t max_length) {
  const auto tok = load_tokenizer([&] { return tx::T5Tokenizer::load(path); });
  std::vector<int64_t> ids = tok.encode(prompt);
  const auto keep = static_cast<std::size_t>(max_length - 1);
  const std::size_t dropped = ids.size() > keep ? ids.size() - keep : 0;
  if (dropped) ids.resize(keep);
  ids.push_back(tok.eos_id());
  nlohmann::json pieces = nlohmann::json::array();
  for (int64_t id : ids) pieces.push_back(tok.piece(id));
  return {{"name", "t5"},      {"file", path.string()},         {"text", tok.normalize(prompt)}, {"ids", ids},
          {"pieces", pieces},  {"max_length", max_length},      {"dropped", dropped}};
}

}  // namespace

nlohmann::json token_report(const nlohmann::json& c, const std::string& prompt) {
  if (!c.is_object()) throw ConfigError("text: expected a JSON object");
  // A prompt is a sentence or a page, not a file: the BPE of one word is quadratic in its length.
  constexpr size_t kMaxPromptBytes = 64 * 1024;
  if (prompt.size() > kMaxPromptBytes)
    throw InvalidArgument("prompt has " + std::to_string(prompt.size()) + " bytes; at most " +
                          std::to_string(kMaxPromptBytes) + " are tokenized here");
  if (!tx::is_valid_utf8(prompt)) {
    std::size_t at = 0;
    tx::is_valid_utf8(prompt, &at);
    throw InvalidArgument("prompt is not valid UTF-8 (invalid byte sequence at byte offset " + std::to_string(at) + ")");
  }
  int64_t max_length = 512;
  if (c.contains("max_length") && !c["max_length"].is_null()) {
    if (!c["max_length"].is_number_integer() || c["max_length"].get<int64_t>() < 1)
      throw ConfigError("text.max_length: expected a positive integer");
    max_length = c["max_length"].get<int64_t>();
  }
  const fs::path clip = tokenizer_path(c, "clip_tokenizer", "clip");
  const fs::path t5 = tokenizer_path(c, "t5_tokenizer", "t5");
  if (clip.empty() && t5.empty())
    throw ConfigError("text: no tokenizer to show: give \"clip_tokenizer\" and/or \"t5_tokenizer\" (or \"clip\" / "
                      "\"t5\" weights with their tokenizers beside them)");
  nlohmann::json tokenizers = nlohmann::json::array();
  if (!clip.empty()) tokenizers.push_back(clip_report(clip, prompt));
  if (!t5.empty()) tokenizers.push_back(t5_report(t5, prompt, max_length));
  return {{"tokenizers", tokenizers}};
}

}  // namespace genplug::flux
