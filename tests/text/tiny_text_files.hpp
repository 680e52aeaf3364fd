// Test fixture: real-mode text files around the tiny golden encoders (no libsentencepiece: this runs next to
// libtorch, see sentencepiece_model.hpp).
#pragma once
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "golden.hpp"

namespace genplug::test {

namespace tiny_text_detail {

// Protobuf wire-format helpers: a hand-made SentencePiece unigram model (libsentencepiece cannot be linked into a
// process that also loads libtorch; see sentencepiece_model.hpp).
inline std::string varint(uint64_t v) {
  std::string out;
  do {
    out += static_cast<char>((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return out;
}
inline std::string field_bytes(int field, const std::string& bytes) { return varint(field << 3 | 2) + varint(bytes.size()) + bytes; }
inline std::string field_varint(int field, uint64_t v) { return varint(field << 3) + varint(v); }
inline std::string piece(const std::string& text, float score, int type) {
  std::string score_bytes(4, '\0');
  std::memcpy(score_bytes.data(), &score, 4);
  return field_bytes(1, field_bytes(1, text) + varint(2 << 3 | 5) + score_bytes + field_varint(3, type));
}
inline std::string sentencepiece_model() {
  std::string m = piece("<pad>", 0, 3) + piece("</s>", 0, 3) + piece("<unk>", 0, 2) + piece("\xE2\x96\x81", -2, 1);
  float score = -3;
  for (const char* w : {"a", "photo", "of", "the", "cat", "red", "house"}) m += piece(std::string("\xE2\x96\x81") + w, score -= 0.1f, 1);
  for (char c = 'a'; c <= 'z'; ++c) m += piece(std::string(1, c), -5 - 0.01f * (c - 'a'), 1);
  m += field_bytes(2, field_varint(3, 1) + field_varint(40, 2) + field_varint(42, 1) + field_varint(43, 0));
  m += field_bytes(3, field_bytes(1, "identity"));
  return m;
}

}  // namespace tiny_text_detail

// Real-mode files around the tiny golden encoders: a SentencePiece model (<= the T5 embedding rows) and
// a CLIP vocab.json/merges.txt with exactly the tiny CLIP's vocabulary size whose two specials are its last ids
// (as in the OpenAI vocabulary, so argmax pooling lands on the first end-of-text token).
struct TinyFiles {
  std::filesystem::path dir;
  int64_t clip_vocab = 0;
  // The encoders' output widths, T5's d_model and CLIP's hidden size (no set's transformer need take them: the
  // shipped T5 is 32 wide against context_in_dim 48, the second set's CLIP 48 against vec_in_dim 24).
  int64_t t5_width = read_json(golden("t5/t5_tiny_info.json"))["config"]["d_model"];
  int64_t clip_width = read_json(golden("clip/clip_text_tiny_info.json"))["config"]["hidden_size"];
  TinyFiles() {
    dir = std::filesystem::temp_directory_path() / ("genplug_tiny_text_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "tokenizer");
    std::ofstream(dir / "spiece.model", std::ios::binary) << tiny_text_detail::sentencepiece_model();
    clip_vocab = genplug::test::read_json(genplug::test::golden("clip/clip_text_tiny_info.json"))["config"]["vocab_size"];
    nlohmann::json vocab = nlohmann::json::object();
    int64_t id = 0;
    for (char c = 'a'; c <= 'z'; ++c) vocab[std::string(1, c)] = id++;
    for (char c = 'a'; c <= 'z'; ++c) vocab[std::string(1, c) + "</w>"] = id++;
    vocab["qz"] = id++;  // the one merge's result
    while (id < clip_vocab - 2) vocab["filler" + std::to_string(id)] = id, ++id;
    vocab["<|startoftext|>"] = id++;
    vocab["<|endoftext|>"] = id++;
    std::ofstream(dir / "tokenizer" / "vocab.json") << vocab.dump();
    std::ofstream(dir / "tokenizer" / "merges.txt") << "#version: 0.2\nq z\n";
  }
  ~TinyFiles() { std::filesystem::remove_all(dir); }

  nlohmann::json config(int64_t max_length) const {
    return {{"t5", genplug::test::golden("t5/t5_tiny.safetensors").string()},
            {"t5_tokenizer", (dir / "spiece.model").string()},
            {"clip", genplug::test::golden("clip/clip_text_tiny.safetensors").string()},
            {"clip_tokenizer", (dir / "tokenizer").string()},
            {"clip_num_heads", genplug::test::read_json(genplug::test::golden("clip/clip_text_tiny_info.json"))["config"]["num_attention_heads"]},
            {"max_length", max_length}};
  }
};

}  // namespace genplug::test
