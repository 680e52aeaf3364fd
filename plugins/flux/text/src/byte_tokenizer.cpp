#include <genplug/flux/text/byte_tokenizer.hpp>

#include <stdexcept>

#include <genplug/flux/text/unicode_text.hpp>

namespace genplug::flux::text {

std::vector<int64_t> ByteTokenizer::encode(const std::string& prompt) {
  std::size_t bad = 0;
  if (!is_valid_utf8(prompt, &bad))
    throw std::invalid_argument("prompt is not valid UTF-8 (invalid byte sequence at byte offset " +
                                std::to_string(bad) + ")");
  std::vector<int64_t> ids;
  ids.reserve(prompt.size());
  for (unsigned char b : prompt) ids.push_back(kFirstByte + b);
  return ids;
}

std::vector<int64_t> ByteTokenizer::encode_t5_layout(const std::string& prompt, int64_t max_length) {
  std::vector<int64_t> ids = encode(prompt);
  if (static_cast<int64_t>(ids.size()) > max_length - 1) ids.resize(static_cast<std::size_t>(max_length - 1));
  ids.push_back(kEos);
  ids.resize(static_cast<std::size_t>(max_length), kPad);
  return ids;
}

std::vector<int64_t> ByteTokenizer::encode_clip_layout(const std::string& prompt, int64_t length) {
  std::vector<int64_t> content = encode(prompt);
  if (static_cast<int64_t>(content.size()) > length - 2) content.resize(static_cast<std::size_t>(length - 2));
  std::vector<int64_t> ids{kVocabSize};
  ids.insert(ids.end(), content.begin(), content.end());
  ids.resize(static_cast<std::size_t>(length), kVocabSize + 1);
  return ids;
}

}  // namespace genplug::flux::text
