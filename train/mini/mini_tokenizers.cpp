#include "mini_tokenizers.hpp"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "scene.hpp"

namespace genplug::mini {
namespace {

namespace fs = std::filesystem;

const std::string kSpaceSymbol = "\xE2\x96\x81";  // ▁ (U+2581): SentencePiece's escaped space
const std::string kWordEnd = "</w>";
const std::string kStartOfText = "<|startoftext|>";
const std::string kEndOfText = "<|endoftext|>";

// ---- Grammar words ----

void insert_words(std::set<std::string>& words, std::string_view phrase) {
  std::istringstream in{std::string(phrase)};
  for (std::string w; in >> w;) words.insert(w);
}

// ---- Protobuf wire format (a key is field << 3 | wire type; 0 varint, 2 length-delimited, 5 fixed32) ----

void put_varint(std::string& out, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7) out += static_cast<char>((v & 0x7F) | 0x80);
  out += static_cast<char>(v);
}

void put_key(std::string& out, int field, int wire_type) {
  put_varint(out, static_cast<std::uint64_t>(field) << 3 | static_cast<std::uint64_t>(wire_type));
}

// int32 / enum / bool: a negative value is sign-extended to 64 bits (10 bytes), as protobuf writes it.
void put_int(std::string& out, int field, std::int64_t v) {
  put_key(out, field, 0);
  put_varint(out, static_cast<std::uint64_t>(v));
}

void put_bytes(std::string& out, int field, std::string_view bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

// float: fixed32, little-endian IEEE 754 bits (written byte by byte: the same on every host).
void put_float(std::string& out, int field, float v) {
  put_key(out, field, 5);
  std::uint32_t bits = 0;
  std::memcpy(&bits, &v, 4);
  for (int i = 0; i < 4; ++i) out += static_cast<char>((bits >> (8 * i)) & 0xFF);
}

// ---- SentencePiece ModelProto (sentencepiece_model.proto) ----

// SentencePiece.Type
enum PieceType { kNormal = 1, kUnknown = 2, kControl = 3 };
// A grammar word always beats spelling it out: every other segmentation of "▁word" holds a fallback piece.
constexpr float kWordScore = -1.0f;
constexpr float kFallbackScore = -10.0f;

// ModelProto.SentencePiece: piece = 1, score = 2, type = 3.
std::string piece_message(const std::string& text, float score, PieceType type) {
  std::string m;
  put_bytes(m, 1, text);
  put_float(m, 2, score);
  put_int(m, 3, type);
  return m;
}

struct SpPiece {
  std::string text;
  float score;
  PieceType type;
};

// T5's special pieces first (<pad> 0, </s> 1, <unk> 2), then one per grammar word, then the fallback pieces
// that spell any other lowercase word.
std::vector<SpPiece> sentencepiece_pieces() {
  std::vector<SpPiece> pieces = {{"<pad>", 0.f, kControl}, {"</s>", 0.f, kControl}, {"<unk>", 0.f, kUnknown}};
  for (const std::string& w : grammar_words())  // "," follows a word without a space: no ▁ before it
    pieces.push_back({w == "," ? w : kSpaceSymbol + w, kWordScore, kNormal});
  pieces.push_back({kSpaceSymbol, kFallbackScore, kNormal});
  for (char c = 'a'; c <= 'z'; ++c) pieces.push_back({std::string(1, c), kFallbackScore, kNormal});
  return pieces;
}

// TrainerSpec: model_type = 3 (UNIGRAM = 1), vocab_size = 4, unk_id = 40, bos_id = 41 (-1: T5 has none),
// eos_id = 42, pad_id = 43.
std::string trainer_spec(int vocab_size) {
  std::string m;
  put_int(m, 3, 1);
  put_int(m, 4, vocab_size);
  put_int(m, 40, 2);
  put_int(m, 41, -1);
  put_int(m, 42, 1);
  put_int(m, 43, 0);
  return m;
}

// NormalizerSpec: name = 1, add_dummy_prefix = 3, remove_extra_whitespaces = 4, escape_whitespaces = 5. No
// precompiled_charsmap (2): identity normalisation, prompts are already lowercase ASCII.
std::string normalizer_spec() {
  std::string m;
  put_bytes(m, 1, "identity");
  put_int(m, 3, 1);
  put_int(m, 4, 1);
  put_int(m, 5, 1);
  return m;
}

// ---- CLIP byte-level BPE ----

std::string utf8_of(char32_t c) {
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else {  // the stand-ins stay below U+0800
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}

// OpenAI's bytes_to_unicode(): printable bytes stand for themselves, the others for U+0100 + n. Returned as
// (byte, stand-in) in the dict's order, which is the order of the base vocabulary.
std::vector<std::pair<int, std::string>> byte_symbols() {
  std::vector<std::pair<int, std::string>> symbols;
  std::vector<bool> printable(256, false);
  auto add_range = [&](int from, int to) {
    for (int b = from; b <= to; ++b) symbols.emplace_back(b, utf8_of(static_cast<char32_t>(b))), printable[b] = true;
  };
  add_range('!', '~');
  add_range(0xA1, 0xAC);
  add_range(0xAE, 0xFF);
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (!printable[b]) symbols.emplace_back(b, utf8_of(static_cast<char32_t>(256 + n++)));
  return symbols;
}

using MergeRanks = std::map<std::pair<std::string, std::string>, std::size_t>;

// A word's BPE start: one stand-in per byte, "</w>" on the last (as clip_tokenizer.cpp's bpe_word).
std::vector<std::string> word_units(const std::string& word) {
  std::string encoder[256];
  for (const auto& [b, symbol] : byte_symbols()) encoder[b] = symbol;
  std::vector<std::string> units;
  for (unsigned char b : word) units.push_back(encoder[b]);
  units.back() += kWordEnd;
  return units;
}

// clip_tokenizer.cpp's BPE: merge every occurrence of the lowest-ranked adjacent pair until none is a merge.
std::vector<std::string> apply_bpe(std::vector<std::string> units, const MergeRanks& ranks) {
  while (units.size() > 1) {
    auto best = ranks.end();
    for (std::size_t k = 0; k + 1 < units.size(); ++k) {
      const auto it = ranks.find({units[k], units[k + 1]});
      if (it != ranks.end() && (best == ranks.end() || it->second < best->second)) best = it;
    }
    if (best == ranks.end()) break;
    std::vector<std::string> merged;
    for (std::size_t k = 0; k < units.size();) {
      if (k + 1 < units.size() && units[k] == best->first.first && units[k + 1] == best->first.second) {
        merged.push_back(units[k] + units[k + 1]);
        k += 2;
      } else {
        merged.push_back(units[k++]);
      }
    }
    units = std::move(merged);
  }
  return units;
}

// Merges that make every grammar word one token. A word still in pieces gets its first pair as a new merge of
// the highest rank: that merge only fires where the old ones have stopped, so no word's result ever grows
// (each pass strictly shortens the word it is added for) and the loop reaches its fixed point.
std::vector<std::pair<std::string, std::string>> clip_merges() {
  std::vector<std::pair<std::string, std::string>> merges;
  MergeRanks ranks;
  for (bool changed = true; changed;) {
    changed = false;
    for (const std::string& word : grammar_words()) {
      const std::vector<std::string> units = apply_bpe(word_units(word), ranks);
      if (units.size() == 1) continue;
      ranks.emplace(std::make_pair(units[0], units[1]), merges.size());
      merges.emplace_back(units[0], units[1]);
      changed = true;
    }
  }
  return merges;
}

// Byte symbols, byte symbols + "</w>", merge results (a result reached by two merges keeps its first id), then
// the specials: <|endoftext|> last, so it is the highest id.
nlohmann::ordered_json clip_vocab(const std::vector<std::pair<std::string, std::string>>& merges) {
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  auto add = [&vocab](const std::string& token) {
    if (vocab.contains(token)) return;
    const std::size_t id = vocab.size();
    vocab[token] = id;
  };
  const auto symbols = byte_symbols();
  for (const auto& [b, symbol] : symbols) add(symbol);
  for (const auto& [b, symbol] : symbols) add(symbol + kWordEnd);
  for (const auto& [first, second] : merges) add(first + second);
  add(kStartOfText);
  add(kEndOfText);
  return vocab;
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("mini tokenizers: cannot write '" + path.string() + "'");
}

}  // namespace

std::vector<std::string> grammar_words() {
  // prompt_of's own words: articles, list and background joiners, and the pattern words as background_phrase
  // says them ("striped", not name_of(Pattern::stripes)).
  std::set<std::string> words = {",",     "a",        "an",      "and",    "on",        "to",
                                 "plain", "gradient", "striped", "checker", "background"};
  for (int c = 0; c < colour_count; ++c) words.insert(std::string(name_of(Colour(c))));
  for (int k = 0; k < kind_count; ++k) words.insert(std::string(name_of(Kind(k))));
  for (int c = 0; c < background_colour_count; ++c) words.insert(std::string(name_of(BackgroundColour(c))));
  for (int p = 0; p < position_count; ++p) insert_words(words, phrase_of(Position(p)));
  return {words.begin(), words.end()};
}

// ModelProto: pieces = 1, trainer_spec = 2, normalizer_spec = 3.
std::string sentencepiece_model_bytes() {
  const std::vector<SpPiece> pieces = sentencepiece_pieces();
  std::string model;
  for (const SpPiece& p : pieces) put_bytes(model, 1, piece_message(p.text, p.score, p.type));
  put_bytes(model, 2, trainer_spec(static_cast<int>(pieces.size())));
  put_bytes(model, 3, normalizer_spec());
  return model;
}

void write_clip_tokenizer(const fs::path& folder) {
  fs::create_directories(folder);
  const auto merges = clip_merges();
  write_file(folder / "vocab.json", clip_vocab(merges).dump());
  // The first line is a header both OpenAI's and HF's readers skip.
  std::string text = "#version: 0.2\n";
  for (const auto& [first, second] : merges) text += first + " " + second + "\n";
  write_file(folder / "merges.txt", text);
}

void write_mini_tokenizers(const fs::path& folder) {
  fs::create_directories(folder);
  write_file(folder / "spiece.model", sentencepiece_model_bytes());
  write_clip_tokenizer(folder);
}

}  // namespace genplug::mini
