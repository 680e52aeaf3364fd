#include <genplug/flux/text/sentencepiece_model.hpp>

#include <algorithm>
#include <cfloat>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <genplug/flux/text/unicode_text.hpp>
#include <genplug/internal/regular_file.hpp>

namespace genplug::flux::text {

namespace {

const std::string kSpaceSymbol = "\xE2\x96\x81";  // ▁
constexpr float kUnkPenalty = 10.0f;

[[noreturn]] void invalid_model(const std::string& name, const std::string& what) {
  throw std::runtime_error("T5 tokenizer: '" + name + "' is not a valid SentencePiece model (" + what + ")");
}

// Minimal protobuf wire-format reader: (field, wire type) then varint / fixed32 / length-delimited values.
class WireReader {
 public:
  WireReader(std::string_view data, const std::string& name) : data_(data), name_(name) {}
  bool done() const { return pos_ >= data_.size(); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) fail("truncated varint");
      const auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint too long");
  }
  std::pair<uint32_t, uint32_t> tag() {
    const uint64_t t = varint();
    return {static_cast<uint32_t>(t >> 3), static_cast<uint32_t>(t & 7)};
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > data_.size() - pos_) fail("truncated field");
    const std::string_view v = data_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  float fixed32_float() {
    if (data_.size() - pos_ < 4) fail("truncated fixed32");
    uint32_t bits = 0;
    for (int i = 0; i < 4; ++i) bits |= static_cast<uint32_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += 4;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1: advance(8); break;
      case 2: bytes(); break;
      case 5: advance(4); break;
      default: fail("unsupported wire type " + std::to_string(wire_type));
    }
  }
  [[noreturn]] void fail(const std::string& what) const { invalid_model(name_, what); }

 private:
  void advance(std::size_t n) {
    if (data_.size() - pos_ < n) fail("truncated field");
    pos_ += n;
  }
  std::string_view data_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

// darts-clone unit accessors.
bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }
uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

// Bytes of the UTF-8 character starting at s[0] (sentencepiece's OneCharLen).
std::size_t one_char_len(unsigned char c) {
  static const std::size_t table[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return table[c >> 4];
}

}  // namespace

SentencePieceModel SentencePieceModel::load(const std::filesystem::path& path) {
  std::string bytes;
  try {  // a regular file only (a FIFO would block), of at most 64 MiB (T5's spiece.model is 792 KB)
    bytes = genplug::internal::read_regular_file(path, std::uintmax_t(64) << 20);
  } catch (const genplug::internal::UnreadableFile& e) {
    throw std::runtime_error("T5 tokenizer: SentencePiece model '" + path.string() + "' " + e.what());
  }
  return parse(bytes, path.string());
}

namespace {

// ModelProto's fields this tokenizer reads, with sentencepiece's defaults. A message given twice updates them.
struct TrainerSpec {
  int model_type = 1, eos = 2, pad = -1;
  bool byte_fallback = false, treat_whitespace_as_suffix = false;
};
struct NormalizerSpec {
  std::string_view charsmap;
  bool add_dummy_prefix = true, remove_extra_whitespaces = true, escape_whitespaces = true;
};

SentencePieceModel::Piece read_piece(std::string_view message, const std::string& name) {
  WireReader p(message, name);
  SentencePieceModel::Piece piece;
  while (!p.done()) {
    const auto [f, w] = p.tag();
    if (f == 1 && w == 2) piece.text = std::string(p.bytes());
    else if (f == 2 && w == 5) piece.score = p.fixed32_float();
    else if (f == 3 && w == 0) piece.type = static_cast<SentencePieceModel::PieceType>(p.varint());
    else p.skip(w);
  }
  return piece;
}

void read_trainer_spec(std::string_view message, const std::string& name, TrainerSpec& spec) {
  WireReader t(message, name);
  while (!t.done()) {
    const auto [f, w] = t.tag();
    if (w != 0) { t.skip(w); continue; }
    const auto v = static_cast<int>(static_cast<int32_t>(t.varint()));
    if (f == 3) spec.model_type = v;
    else if (f == 42) spec.eos = v;
    else if (f == 43) spec.pad = v;
    else if (f == 24) spec.treat_whitespace_as_suffix = v != 0;
    else if (f == 35) spec.byte_fallback = v != 0;
  }
}

void read_normalizer_spec(std::string_view message, const std::string& name, NormalizerSpec& spec) {
  WireReader n(message, name);
  while (!n.done()) {
    const auto [f, w] = n.tag();
    if (f == 2 && w == 2) spec.charsmap = n.bytes();
    else if (f == 3 && w == 0) spec.add_dummy_prefix = n.varint() != 0;
    else if (f == 4 && w == 0) spec.remove_extra_whitespaces = n.varint() != 0;
    else if (f == 5 && w == 0) spec.escape_whitespaces = n.varint() != 0;
    else n.skip(w);
  }
}

}  // namespace

SentencePieceModel SentencePieceModel::parse(std::string_view bytes, const std::string& name) {
  SentencePieceModel m;
  m.name_ = name;
  WireReader model(bytes, name);
  TrainerSpec trainer;
  NormalizerSpec normalizer;
  while (!model.done()) {
    const auto [field, wire] = model.tag();
    if (field == 1 && wire == 2) m.pieces_.push_back(read_piece(model.bytes(), name));
    else if (field == 2 && wire == 2) read_trainer_spec(model.bytes(), name, trainer);
    else if (field == 3 && wire == 2) read_normalizer_spec(model.bytes(), name, normalizer);
    else model.skip(wire);
  }
  if (m.pieces_.empty()) model.fail("no pieces");
  if (trainer.model_type != 1)
    model.fail("model type " + std::to_string(trainer.model_type) + ", only unigram (T5) is supported");
  if (trainer.byte_fallback) model.fail("byte fallback is not supported");
  m.treat_whitespace_as_suffix_ = trainer.treat_whitespace_as_suffix;
  m.add_dummy_prefix_ = normalizer.add_dummy_prefix;
  m.remove_extra_whitespaces_ = normalizer.remove_extra_whitespaces;
  m.escape_whitespaces_ = normalizer.escape_whitespaces;
  m.index_pieces();
  auto valid_id = [&](int id) { return id >= 0 && id < m.piece_count() ? id : -1; };
  m.eos_id_ = valid_id(trainer.eos);
  m.pad_id_ = valid_id(trainer.pad);
  if (!normalizer.charsmap.empty()) m.read_charsmap(normalizer.charsmap);
  return m;
}

// The pieces' ids by text, score range, longest piece, the unknown piece and the user-defined symbols (longest
// first).
void SentencePieceModel::index_pieces() {
  min_score_ = FLT_MAX;
  max_score_ = FLT_MIN;
  for (int i = 0; i < piece_count(); ++i) {
    const Piece& p = pieces_[static_cast<std::size_t>(i)];
    // As libsentencepiece: an empty piece would match everywhere and consume nothing (an endless loop).
    if (p.text.empty()) invalid_model(name_, "piece " + std::to_string(i) + " is empty");
    if (p.type == PieceType::Normal || p.type == PieceType::UserDefined || p.type == PieceType::Unused) {
      if (!piece_ids_.emplace(p.text, i).second)
        invalid_model(name_, "piece " + std::to_string(i) + " ('" + p.text + "') is a duplicate");
      max_piece_bytes_ = std::max(max_piece_bytes_, p.text.size());
    }
    if (p.type == PieceType::Normal) {
      min_score_ = std::min(min_score_, p.score);
      max_score_ = std::max(max_score_, p.score);
    }
    if (p.type == PieceType::Unknown) unk_id_ = i;
    if (p.type == PieceType::UserDefined) user_defined_.push_back(p.text);
  }
  if (unk_id_ < 0) invalid_model(name_, "no unknown piece");
  std::sort(user_defined_.begin(), user_defined_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

// The precompiled charsmap: a 4-byte trie size, the darts-clone trie, then the \0-separated replacements.
void SentencePieceModel::read_charsmap(std::string_view charsmap) {
  uint32_t trie_bytes = 0;
  if (charsmap.size() <= 4) invalid_model(name_, "precompiled charsmap too small");
  std::memcpy(&trie_bytes, charsmap.data(), 4);
  if (trie_bytes > charsmap.size() - 4 || trie_bytes % 4) invalid_model(name_, "precompiled charsmap is corrupt");
  trie_.resize(trie_bytes / 4);
  if (trie_bytes > 0)  // an empty trie (no rules): data() may be null, and memcpy's pointers must not be
    std::memcpy(trie_.data(), charsmap.data() + 4, trie_bytes);
  normalized_ = std::string(charsmap.substr(4 + trie_bytes));
}

std::pair<std::string_view, std::size_t> SentencePieceModel::normalize_prefix(std::string_view input) const {
  for (const std::string& s : user_defined_)  // user-defined symbols pass through unchanged
    if (input.substr(0, s.size()) == s) return {input.substr(0, s.size()), s.size()};
  std::size_t longest_length = 0;
  uint32_t longest_value = 0;
  if (!trie_.empty()) {  // darts-clone commonPrefixSearch
    std::size_t node = unit_offset(trie_[0]);
    for (std::size_t i = 0; i < input.size(); ++i) {
      const auto c = static_cast<unsigned char>(input[i]);
      node ^= c;
      if (node >= trie_.size()) break;
      const uint32_t unit = trie_[node];
      if (unit_label(unit) != c) break;
      node ^= unit_offset(unit);
      if (node >= trie_.size()) break;
      if (unit_has_leaf(unit)) longest_length = i + 1, longest_value = unit_value(trie_[node]);
    }
  }
  if (longest_length == 0) {
    const std::size_t n = std::min(one_char_len(static_cast<unsigned char>(input[0])), input.size());
    if (!is_valid_utf8(input.substr(0, n))) return {"\xEF\xBF\xBD", 1};
    return {input.substr(0, n), n};
  }
  if (longest_value >= normalized_.size()) throw std::runtime_error("T5 tokenizer: '" + name_ + "': corrupt charsmap");
  return {std::string_view(normalized_.c_str() + longest_value), longest_length};
}

std::string SentencePieceModel::normalize(std::string_view input) const {
  std::string out;
  if (remove_extra_whitespaces_) {  // leading spaces
    while (!input.empty()) {
      const auto p = normalize_prefix(input);
      if (p.first != " ") break;
      input.remove_prefix(p.second);
    }
  }
  if (input.empty()) return out;
  const std::string space = escape_whitespaces_ ? kSpaceSymbol : " ";
  if (!treat_whitespace_as_suffix_ && add_dummy_prefix_) out += space;
  bool prev_space = remove_extra_whitespaces_;
  while (!input.empty()) {
    const auto p = normalize_prefix(input);
    std::string_view sp = p.first;
    if (prev_space)
      while (!sp.empty() && sp[0] == ' ') sp.remove_prefix(1);
    if (!sp.empty()) {
      for (char c : sp) {
        if (escape_whitespaces_ && c == ' ') out += kSpaceSymbol;
        else out += c;
      }
      prev_space = sp.back() == ' ';
    }
    input.remove_prefix(p.second);
    if (!remove_extra_whitespaces_) prev_space = false;
  }
  if (remove_extra_whitespaces_)
    while (out.size() >= space.size() && out.compare(out.size() - space.size(), space.size(), space) == 0)
      out.resize(out.size() - space.size());
  if (treat_whitespace_as_suffix_ && add_dummy_prefix_) out += space;
  return out;
}

std::vector<int> SentencePieceModel::encode(std::string_view text) const {
  const std::string normalized = normalize(text);
  const std::size_t size = normalized.size();
  struct Node {
    int id = -1;
    int starts_at = -1;
    float score = 0.f;
  };
  std::vector<Node> best(size + 1);
  const float unk_score = min_score_ - kUnkPenalty;
  for (std::size_t start = 0; start < size;) {
    const float score_here = best[start].score;
    const std::size_t mblen = std::min(one_char_len(static_cast<unsigned char>(normalized[start])), size - start);
    bool has_single_node = false;
    for (std::size_t end = start + 1; end <= size && end - start <= max_piece_bytes_; ++end) {
      auto it = piece_ids_.find(normalized.substr(start, end - start));
      if (it == piece_ids_.end()) continue;
      const int id = it->second;
      const Piece& p = pieces_[static_cast<std::size_t>(id)];
      if (p.type == PieceType::Unused) continue;
      const auto length = static_cast<float>(end - start);
      const float score = p.type == PieceType::UserDefined ? (length * max_score_ - 0.1f) : p.score;
      const float candidate = score + score_here;
      Node& target = best[end];
      if (target.starts_at == -1 || candidate > target.score) {
        target.score = candidate;
        target.starts_at = static_cast<int>(start);
        target.id = id;
      }
      if (!has_single_node && end - start == mblen) has_single_node = true;
    }
    if (!has_single_node) {
      Node& target = best[start + mblen];
      const float candidate = unk_score + score_here;
      if (target.starts_at == -1 || candidate > target.score) {
        target.score = candidate;
        target.starts_at = static_cast<int>(start);
        target.id = unk_id_;
      }
    }
    start += mblen;
  }
  std::vector<int> ids;
  for (std::size_t end = size; end > 0; end = static_cast<std::size_t>(best[end].starts_at)) ids.push_back(best[end].id);
  std::reverse(ids.begin(), ids.end());
  // SentencePieceProcessor merges a run of unknown pieces into one (PopulateSentencePieceText).
  ids.erase(std::unique(ids.begin(), ids.end(), [this](int a, int b) { return a == unk_id_ && b == unk_id_; }),
            ids.end());
  return ids;
}

std::string SentencePieceModel::decode(const std::vector<int>& ids) const {
  std::string text;
  for (int id : ids) {
    if (id < 0 || id >= piece_count()) throw std::out_of_range("T5 tokenizer: id " + std::to_string(id) + " out of range");
    const Piece& p = pieces_[static_cast<std::size_t>(id)];
    if (p.type == PieceType::Control) continue;
    text += p.type == PieceType::Unknown ? std::string(" \xE2\x81\x87 ") : p.text;  // sentencepiece's unk surface
  }
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
      out += ' ';
      i += kSpaceSymbol.size();
    } else {
      out += text[i++];
    }
  }
  if (add_dummy_prefix_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

}  // namespace genplug::flux::text
