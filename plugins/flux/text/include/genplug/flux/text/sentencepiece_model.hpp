// A SentencePiece unigram model (spiece.model) read and applied without libsentencepiece.
//
// Why not libsentencepiece: Debian's libsentencepiece.so bundles protobuf-lite 3.14 and exports its symbols,
// while libtorch loads libprotobuf 3.21; in one process the two collide (crash in static initialisation).
// So the model protobuf is parsed here and the normaliser (precompiled double-array charsmap) and the unigram
// Viterbi segmentation are re-implemented following sentencepiece 0.1.97 (normalizer.cc, unigram_model.cc
// EncodeOptimized). The tests compare the ids with libsentencepiece itself (in a process without torch).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace genplug::flux::text {

class SentencePieceModel {
 public:
  enum class PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };
  struct Piece {
    std::string text;
    float score = 0.f;
    PieceType type = PieceType::Normal;
  };

  // Throws std::runtime_error naming the file when it is missing, not a SentencePiece model, or not unigram.
  static SentencePieceModel load(const std::filesystem::path& path);
  static SentencePieceModel parse(std::string_view bytes, const std::string& name);

  // The normalised text (▁ for spaces, dummy prefix) as sentencepiece's Normalizer produces it.
  std::string normalize(std::string_view text) const;
  // Piece ids of `text` (normalised first). `text` must be valid UTF-8.
  std::vector<int> encode(std::string_view text) const;
  // Pieces joined, ▁ back to spaces, the leading space of the dummy prefix removed; control pieces skipped.
  std::string decode(const std::vector<int>& ids) const;

  int piece_count() const { return static_cast<int>(pieces_.size()); }
  const Piece& piece(int id) const { return pieces_.at(static_cast<std::size_t>(id)); }
  int unk_id() const { return unk_id_; }
  int eos_id() const { return eos_id_; }
  int pad_id() const { return pad_id_; }

 private:
  void index_pieces();
  void read_charsmap(std::string_view charsmap);
  // Longest charsmap rule at the start of `input`: (replacement, consumed bytes).
  std::pair<std::string_view, std::size_t> normalize_prefix(std::string_view input) const;

  std::string name_;
  std::vector<Piece> pieces_;
  std::unordered_map<std::string, int> piece_ids_;  // Normal, UserDefined, Unused
  std::size_t max_piece_bytes_ = 0;
  float min_score_ = 0.f, max_score_ = 0.f;
  int unk_id_ = -1, eos_id_ = -1, pad_id_ = -1;
  // Normaliser.
  std::vector<uint32_t> trie_;  // darts-clone double array
  std::string normalized_;      // \0-separated replacement strings
  bool add_dummy_prefix_ = true, remove_extra_whitespaces_ = true, escape_whitespaces_ = true;
  bool treat_whitespace_as_suffix_ = false;
  std::vector<std::string> user_defined_;  // matched before the charsmap, longest first
};

}  // namespace genplug::flux::text
