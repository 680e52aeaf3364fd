// CLIP byte-level BPE tokenizer, exactly as OpenAI's SimpleTokenizer / HF CLIPTokenizer (slow) for
// openai/clip-vit-large-patch14: clean-up (clip_text_cleanup.hpp), regex pre-split, byte-to-unicode, BPE with a
// "</w>" word-end suffix. Reads a diffusers tokenizer/ folder (vocab.json + merges.txt) or OpenAI's
// bpe_simple_vocab_16e6.txt.gz.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace genplug::flux::text {

class ClipTokenizer {
 public:
  static constexpr int64_t kContextLength = 77;

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
