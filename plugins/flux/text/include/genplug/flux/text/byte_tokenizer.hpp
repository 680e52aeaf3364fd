// Byte-level tokenizer for the tiny random encoders ("random" text config): UTF-8 bytes shifted past the
// special ids. Same layouts as the real tokenizers, no files needed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace genplug::flux::text {

struct ByteTokenizer {
  static constexpr int64_t kPad = 0;
  static constexpr int64_t kEos = 1;
  static constexpr int64_t kBos = 2;
  static constexpr int64_t kFirstByte = 3;
  static constexpr int64_t kVocabSize = kFirstByte + 256;

  // Content ids, one per byte. Throws std::invalid_argument for invalid UTF-8.
  static std::vector<int64_t> encode(const std::string& prompt);

  // T5 layout: content[:max_length-1] + [EOS] + pads.
  static std::vector<int64_t> encode_t5_layout(const std::string& prompt, int64_t max_length);

  // CLIP layout: [BOS] + content[:length-2] + [EOS], padded with EOS. EOS must be the largest id used for
  // argmax pooling, so here ids are remapped: BOS = kVocabSize, EOS = kVocabSize + 1 (vocabulary kVocabSize + 2).
  static std::vector<int64_t> encode_clip_layout(const std::string& prompt, int64_t length);
  static constexpr int64_t kClipVocabSize = kVocabSize + 2;
};

}  // namespace genplug::flux::text
