// T5 tokenizer through libsentencepiece (spiece.model): ids of the prompt, EOS appended, padded to max_length.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace genplug::flux::text {

class T5Tokenizer {
 public:
  // Throws std::runtime_error naming the file when it is missing or not a SentencePiece model.
  static T5Tokenizer load(const std::filesystem::path& spiece_model);

  // Content ids (no EOS). Throws std::invalid_argument for invalid UTF-8.
  std::vector<int64_t> encode(const std::string& prompt) const;

  // content[:max_length-1] + [EOS], right-padded with the pad id (HF T5Tokenizer, truncation=True,
  // padding="max_length"). `warn` is told how many tokens were dropped when the prompt is longer.
  std::vector<int64_t> encode_padded(const std::string& prompt, int64_t max_length,
                                     const std::function<void(const std::string&)>& warn) const;

  std::string decode(const std::vector<int64_t>& ids) const;  // EOS / pad skipped

  // The text the model segments: the prompt after SentencePiece's normaliser (charsmap, whitespace, "▁").
  // Throws std::invalid_argument for invalid UTF-8.
  std::string normalize(const std::string& prompt) const;
  // The piece string of `id` ("" for an id outside the model).
  std::string piece(int64_t id) const;

  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t vocab_size() const;

  T5Tokenizer(T5Tokenizer&&) noexcept;
  T5Tokenizer& operator=(T5Tokenizer&&) noexcept;
  ~T5Tokenizer();

  struct Processor;

 private:
  explicit T5Tokenizer(std::unique_ptr<Processor> processor);
  std::unique_ptr<Processor> processor_;
  int64_t eos_id_ = 1;
  int64_t pad_id_ = 0;
};

}  // namespace genplug::flux::text
