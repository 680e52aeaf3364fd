// CLIP byte-level BPE tokenizer, exactly as OpenAI's SimpleTokenizer for openai/clip-vit-large-patch14 (HF's slow
// CLIPTokenizer differs only on prompts with HTML entities: it does not unescape them; docs/text.md): clean-up (clip_text_cleanup.hpp), regex pre-split, byte-to-unicode, BPE with a
// "</w>" word-end suffix. Reads a diffusers tokenizer/ folder (vocab.json + merges.txt) or OpenAI's
// bpe_simple_vocab_16e6.txt.gz.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace genplug::flux::text {

// SimpleTokenizer's pre-split of cleaned, lower-cased text into the words BPE sees (its regex with IGNORECASE).
std::vector<std::u32string> clip_pre_tokenize(const std::u32string& text);
// Whether that pattern skips `c` like a space (whitespace, and U+0345 under IGNORECASE).
bool clip_pattern_skips(char32_t c);

class ClipTokenizer {
 public:
  static constexpr int64_t kContextLength = 77;
  // Words whose BPE result is cached (per tokenizer); when the cache is full it is emptied before the next insert.
  static constexpr std::size_t kBpeCacheCapacity = 4096;
  // Words longer than this (bytes) are not cached: entries x (key + ids) stay under a few MB.
  static constexpr std::size_t kBpeCacheWordBytes = 64;

  // `path`: a folder holding vocab.json + merges.txt, the vocab.json file itself, or a .txt.gz BPE file.
  // Throws std::runtime_error naming the file when it is missing or corrupt.
  static ClipTokenizer load(const std::filesystem::path& path);

  // Content ids of a prompt (no BOS/EOS, not truncated). Throws std::invalid_argument for invalid UTF-8.
  std::vector<int64_t> encode(const std::string& prompt) const;

  // [BOS] + content[:context_length-2] + [EOS], right-padded with EOS to context_length (the FLUX layout).
  // `warn` is told how many tokens were dropped when the prompt is longer.
  std::vector<int64_t> encode_padded(const std::string& prompt,
                                     const std::function<void(const std::string&)>& warn,
                                     int64_t context_length = kContextLength) const;

  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return eos_id_; }
  int64_t vocab_size() const;  // largest id + 1

  // The vocabulary string of `id` (byte-level stand-ins, "</w>" ending a word), "" for an unknown id.
  std::string token(int64_t id) const;
  // The bytes the token stands for ("</w>" kept as the word-end mark, specials as they are); a token may hold part
  // of a character's UTF-8 sequence, so the result need not be valid UTF-8.
  std::string token_bytes(int64_t id) const;

  // Number of words in the BPE cache now (never above kBpeCacheCapacity).
  std::size_t cached_words() const;

  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
  ~ClipTokenizer();

  struct Data;

 private:
  explicit ClipTokenizer(std::unique_ptr<Data> data);
  std::unique_ptr<Data> data_;
  int64_t bos_id_ = 0;
  int64_t eos_id_ = 0;
};

}  // namespace genplug::flux::text
