#define BOOST_TEST_MODULE t5_tokenizer
#include <boost/test/unit_test.hpp>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <genplug/flux/text/sentencepiece_model.hpp>
#include <genplug/flux/text/t5_tokenizer.hpp>

#include "golden.hpp"
#include "golden_corpora.hpp"

namespace fs = std::filesystem;
namespace gt = genplug::flux::text;

namespace {

// No public T5 spiece.model is available offline: train a small unigram model with the T5 special-id layout
// (<pad>=0, </s>=1, <unk>=2, no BOS) once per test run.
struct TrainedModel {
  fs::path dir;
  fs::path model;
  TrainedModel() {
    dir = fs::temp_directory_path() / ("genplug_t5_tok_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const char* words[] = {"a",      "photo", "of",    "the",    "cat",   "dog",    "sitting", "on",  "mat",
                           "bright", "sunny", "day",   "forest", "river", "castle", "old",     "red", "blue",
                           "green",  "light", "small", "house",  "near",  "mountain"};
    std::ofstream corpus(dir / "corpus.txt");
    unsigned state = 12345;
    for (int line = 0; line < 400; ++line) {
      for (int w = 0; w < 9; ++w) {
        state = state * 1103515245u + 12345u;
        corpus << (w ? " " : "") << words[(state >> 16) % (sizeof words / sizeof *words)];
      }
      corpus << ".\n";
    }
    corpus.close();
    model = dir / "spiece.model";
    const auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + (dir / "corpus.txt").string() + " --model_prefix=" + (dir / "spiece").string() +
        " --vocab_size=64 --model_type=unigram --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1"
        " --hard_vocab_limit=false --minloglevel=2");
    BOOST_REQUIRE_MESSAGE(status.ok(), "SentencePiece training failed: " << status.ToString());
  }
  ~TrainedModel() { fs::remove_all(dir); }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(t5_tokenizer, TrainedModel)

BOOST_AUTO_TEST_CASE(eos_and_padding) {
  const auto tok = gt::T5Tokenizer::load(model);
  BOOST_TEST(tok.eos_id() == 1);
  BOOST_TEST(tok.pad_id() == 0);
  const std::string prompt = "a photo of the cat";
  const auto content = tok.encode(prompt);
  BOOST_REQUIRE(!content.empty());
  for (int64_t id : content) BOOST_TEST(id >= 3);  // no special ids inside the content
  std::vector<std::string> warnings;
  const auto ids = tok.encode_padded(prompt, 32, [&](const std::string& w) { warnings.push_back(w); });
  BOOST_REQUIRE(ids.size() == 32u);
  BOOST_TEST(std::vector<int64_t>(ids.begin(), ids.begin() + content.size()) == content,
             boost::test_tools::per_element());
  BOOST_TEST(ids[content.size()] == 1);
  for (std::size_t i = content.size() + 1; i < ids.size(); ++i) BOOST_TEST(ids[i] == 0);
  BOOST_TEST(warnings.empty());
}

BOOST_AUTO_TEST_CASE(truncation_warns_with_dropped_count) {
  const auto tok = gt::T5Tokenizer::load(model);
  std::string prompt;
  for (int i = 0; i < 20; ++i) prompt += "the old castle near the green river ";
  const auto content = tok.encode(prompt);
  const int64_t max_length = 16;
  BOOST_REQUIRE(static_cast<int64_t>(content.size()) > max_length);
  std::vector<std::string> warnings;
  const auto ids = tok.encode_padded(prompt, max_length, [&](const std::string& w) { warnings.push_back(w); });
  BOOST_REQUIRE(ids.size() == static_cast<std::size_t>(max_length));
  BOOST_TEST(std::vector<int64_t>(ids.begin(), ids.end() - 1) ==
                 std::vector<int64_t>(content.begin(), content.begin() + max_length - 1),
             boost::test_tools::per_element());
  BOOST_TEST(ids.back() == 1);
  BOOST_REQUIRE(warnings.size() == 1u);
  const std::string dropped = std::to_string(content.size() - (max_length - 1));
  BOOST_TEST(warnings[0].find("the last " + dropped + " were dropped") != std::string::npos, warnings[0]);

  // Exactly max_length - 1 content tokens: no truncation, no warning.
  warnings.clear();
  const std::string fits = tok.decode(std::vector<int64_t>(content.begin(), content.begin() + max_length - 1));
  if (tok.encode(fits).size() == static_cast<std::size_t>(max_length - 1)) {
    tok.encode_padded(fits, max_length, [&](const std::string& w) { warnings.push_back(w); });
    BOOST_TEST(warnings.empty());
  }
}

BOOST_AUTO_TEST_CASE(ids_match_libsentencepiece) {
  // Our protobuf reader, normaliser (nmt_nfkc charsmap) and unigram Viterbi against libsentencepiece itself.
  sentencepiece::SentencePieceProcessor reference;
  BOOST_REQUIRE(reference.Load(model.string()).ok());
  const auto ours = gt::SentencePieceModel::load(model);
  BOOST_TEST(ours.piece_count() == reference.GetPieceSize());
  const std::vector<std::string> prompts = {
      "a photo of the cat", "  leading and   inner   spaces  ", "tabs\tand\nnewlines", "",
      "UPPER Case MiXeD", "unknown chars: \xE6\x97\xA5\xE6\x9C\xAC qz", "full-width \xEF\xBC\xA1\xEF\xBC\xA2 letters",
      "ligature \xEF\xAC\x81ne", "emoji \xF0\x9F\x90\xB1 cat", "caf\xC3\xA9 na\xC3\xAFve", "mountainmountain riverhouse",
      "x", "   ", "a\xC2\xA0" "b", "dog.dog,dog!"};
  for (const std::string& prompt : prompts) {
    std::vector<int> expected;
    BOOST_REQUIRE(reference.Encode(prompt, &expected).ok());
    BOOST_TEST_CONTEXT("prompt '" << prompt << "'") {
      BOOST_TEST(ours.encode(prompt) == expected, boost::test_tools::per_element());
      std::string decoded;
      BOOST_REQUIRE(reference.Decode(expected, &decoded).ok());
      BOOST_TEST(ours.decode(expected) == decoded);
    }
  }
}

// Every prompt of every CLIP corpus in the golden folder (tokenizers/clip_ids*.json: prompts as people type them,
// decomposed accents, scripts, emoji, mojibake, control and zero-width characters, ...).
std::vector<std::string> golden_corpus_prompts() {
  std::vector<std::string> prompts;
  for (const fs::path& file : genplug::test::golden_clip_corpora()) {
    const nlohmann::json corpus = genplug::test::read_json(file);
    for (const auto& p : corpus.at("prompts")) prompts.push_back(p.at("prompt").get<std::string>());
  }
  return prompts;
}

BOOST_AUTO_TEST_CASE(typed_corpus_matches_libsentencepiece) {
  // What SentencePiece itself normalises (the model's nmt_nfkc charsmap: NFKC, control characters, whitespace)
  // and segments, for every prompt of the golden CLIP corpora: ids, pieces and decoding as libsentencepiece's.
  sentencepiece::SentencePieceProcessor reference;
  BOOST_REQUIRE(reference.Load(model.string()).ok());
  const auto ours = gt::SentencePieceModel::load(model);
  const auto tok = gt::T5Tokenizer::load(model);
  const auto prompts = golden_corpus_prompts();
  BOOST_REQUIRE_MESSAGE(!prompts.empty(), "no tokenizers/clip_ids*.json in " << genplug::test::golden_dir());
  for (const std::string& prompt : prompts) {
    BOOST_TEST_CONTEXT("prompt " << nlohmann::json(prompt).dump()) {
      std::vector<int> expected;
      std::vector<std::string> expected_pieces;
      BOOST_REQUIRE(reference.Encode(prompt, &expected).ok());
      BOOST_REQUIRE(reference.Encode(prompt, &expected_pieces).ok());
      const std::vector<int> ids = ours.encode(prompt);
      BOOST_TEST(ids == expected, boost::test_tools::per_element());
      std::vector<std::string> pieces;
      for (int id : ids) pieces.push_back(ours.piece(id).text);
      // Runs of unknown characters are one <unk> piece; libsentencepiece reports their surface text instead.
      for (std::size_t i = 0; i < pieces.size() && i < expected_pieces.size(); ++i)
        if (ids[i] != ours.unk_id()) BOOST_TEST(pieces[i] == expected_pieces[i]);
      std::string decoded;
      BOOST_REQUIRE(reference.Decode(expected, &decoded).ok());
      BOOST_TEST(ours.decode(expected) == decoded);
      std::vector<int64_t> padded;
      BOOST_CHECK_NO_THROW(padded = tok.encode_padded(prompt, 512, nullptr));
      BOOST_TEST(padded.size() == 512u);
    }
  }
  BOOST_TEST_MESSAGE("T5 prompts checked: " << prompts.size());
}

BOOST_AUTO_TEST_CASE(round_trip) {
  const auto tok = gt::T5Tokenizer::load(model);
  for (const std::string prompt : {"a small red house near the mountain", "bright sunny day", "dog"}) {
    const auto ids = tok.encode_padded(prompt, 24, nullptr);
    BOOST_TEST(tok.decode(ids) == prompt);
  }
}

BOOST_AUTO_TEST_CASE(errors_are_clear) {
  auto message_of = [](const fs::path& p) {
    try {
      gt::T5Tokenizer::load(p);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string missing = message_of(dir / "missing.model");
  BOOST_TEST(missing.find("missing.model") != std::string::npos, missing);
  BOOST_TEST(missing.find("does not exist") != std::string::npos, missing);
  std::ofstream(dir / "corrupt.model") << "definitely not a protobuf SentencePiece model";
  const std::string corrupt = message_of(dir / "corrupt.model");
  BOOST_TEST(corrupt.find("corrupt.model") != std::string::npos, corrupt);
  BOOST_TEST(corrupt.find("not a valid SentencePiece model") != std::string::npos, corrupt);

  const auto tok = gt::T5Tokenizer::load(model);
  BOOST_CHECK_EXCEPTION(tok.encode_padded("bad \xFF byte", 8, nullptr), std::invalid_argument,
                        [](const std::invalid_argument& e) {
                          return std::string(e.what()).find("not valid UTF-8") != std::string::npos;
                        });
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// A hand-written protobuf SentencePiece model (unigram) with the given pieces (text, type).
std::string tiny_model(const std::vector<std::pair<std::string, int>>& pieces) {
  auto varint = [](std::string& out, uint64_t v) {
    do {
      uint8_t b = v & 0x7F;
      v >>= 7;
      out += char(v ? (b | 0x80) : b);
    } while (v);
  };
  auto field_bytes = [&](std::string& out, int field, const std::string& bytes) {
    varint(out, uint64_t(field) << 3 | 2);
    varint(out, bytes.size());
    out += bytes;
  };
  std::string model;
  for (const auto& [text, type] : pieces) {
    std::string piece;
    field_bytes(piece, 1, text);
    const float score = -1.0f;
    varint(piece, 2 << 3 | 5);
    piece.append(reinterpret_cast<const char*>(&score), 4);
    varint(piece, 3 << 3 | 0);
    varint(piece, uint64_t(type));
    field_bytes(model, 1, piece);
  }
  std::string trainer;
  varint(trainer, 3 << 3 | 0);  // model_type = unigram
  varint(trainer, 1);
  field_bytes(model, 2, trainer);
  return model;
}

}  // namespace

BOOST_AUTO_TEST_CASE(malformed_piece_tables_are_rejected_not_looped_on) {
  const fs::path dir = fs::temp_directory_path() / ("genplug_spm_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  struct Cleanup {
    fs::path p;
    ~Cleanup() { fs::remove_all(p); }
  } cleanup{dir};
  auto message_of = [&dir](const std::string& bytes, const std::string& name) {
    const fs::path p = dir / name;
    std::ofstream(p, std::ios::binary) << bytes;
    try {
      gt::T5Tokenizer::load(p);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // An empty user-defined piece would match everywhere and consume nothing: an endless loop at encode.
  const std::string empty = message_of(tiny_model({{"<unk>", 2}, {"</s>", 3}, {"a", 1}, {"", 4}}), "empty.model");
  BOOST_TEST(empty.find("empty.model") != std::string::npos, empty);
  BOOST_TEST(empty.find("is empty") != std::string::npos, empty);
  const std::string dup = message_of(tiny_model({{"<unk>", 2}, {"a", 1}, {"a", 1}}), "dup.model");
  BOOST_TEST(dup.find("duplicate") != std::string::npos, dup);
  // The same table without the bad piece loads.
  BOOST_TEST(message_of(tiny_model({{"<unk>", 2}, {"</s>", 3}, {"a", 1}}), "good.model") == "no error");
}
