// Test support: where golden data and plugins are.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace genplug::test {

// GENPLUG_GOLDEN_DIR when set (any set with the layout of tests/golden), else the project's tests/golden.
inline std::filesystem::path golden_dir() {
  if (const char* env = std::getenv("GENPLUG_GOLDEN_DIR"); env && *env) return env;
  return GENPLUG_DEFAULT_GOLDEN_DIR;
}

inline std::filesystem::path golden(const std::string& relative) { return golden_dir() / relative; }

// OpenAI's CLIP vocabulary (bpe_simple_vocab_16e6.txt.gz): the golden set's own, else the copy in ../shared
// beside the checkout (the repository does not hold it); empty when neither has it.
inline std::filesystem::path clip_vocabulary_file() {
  const std::filesystem::path name = "tokenizers/bpe_simple_vocab_16e6.txt.gz";
  for (const std::filesystem::path& p : {golden(name.string()),
                                         std::filesystem::path(GENPLUG_SOURCE_DIR) / ".." / "shared" / "golden" / name})
    if (std::filesystem::exists(p)) return p;
  return {};
}

inline nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) throw std::runtime_error("cannot open " + p.string());
  return nlohmann::json::parse(in);
}

// A linear module every golden FLUX transformer with `depth` double blocks has (a set may have no double or no
// single blocks; not both): the first double block's image qkv, else the first single block's linear1.
inline std::string flux_first_attention_module(int64_t depth) {
  return depth > 0 ? "double_blocks.0.img_attn.qkv" : "single_blocks.0.linear1";
}

// The folder the build puts plugin libraries in.
inline std::filesystem::path plugin_build_dir() { return GENPLUG_PLUGIN_BUILD_DIR; }

}  // namespace genplug::test
