// The mini model's word-level tokenizers, read by the FLUX plugin's own T5 (SentencePiece) and CLIP (BPE)
// tokenizers: every grammar word is one token, prompts round-trip, the files are the same on every run.
#define BOOST_TEST_MODULE mini_tokenizers
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <genplug/flux/text/clip_tokenizer.hpp>
#include <genplug/flux/text/sentencepiece_model.hpp>
#include <genplug/flux/text/t5_tokenizer.hpp>

#include "mini_tokenizers.hpp"
#include "scene.hpp"
#include "scene_sampler.hpp"
#include "temp_dir.hpp"

namespace mini = genplug::mini;
namespace text = genplug::flux::text;
namespace fs = std::filesystem;

namespace {

constexpr int kSeeds = 1000;
constexpr int kT5MaxLength = 32;  // the mini model's T5 sequence length
const std::string kSpaceSymbol = "\xE2\x96\x81";

// The folder written once for all cases (the tokenizers are read-only from here on).
struct Files {
  genplug::test::TempDir dir{"mini-tokenizers"};
  Files() { mini::write_mini_tokenizers(dir.path); }
};

const Files& files() {
  static const Files f;
  return f;
}

const text::T5Tokenizer& t5() {
  static const text::T5Tokenizer t = text::T5Tokenizer::load(files().dir.path / "spiece.model");
  return t;
}

const text::ClipTokenizer& clip() {
  static const text::ClipTokenizer c = text::ClipTokenizer::load(files().dir.path);
  return c;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Whitespace-separated words of a prompt with a trailing comma split off: (words, commas).
std::vector<std::string> prompt_tokens(const std::string& prompt) {
  std::vector<std::string> out;
  std::istringstream in(prompt);
  for (std::string w; in >> w;) {
    const bool comma = w.back() == ',';
    if (comma) w.pop_back();
    out.push_back(w);
    if (comma) out.push_back(",");
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(grammar_words_are_exactly_the_prompt_words) {
  const std::vector<std::string> words = mini::grammar_words();
  BOOST_TEST(std::is_sorted(words.begin(), words.end()));
  BOOST_TEST((std::adjacent_find(words.begin(), words.end()) == words.end()));
  const std::set<std::string> grammar(words.begin(), words.end());
  BOOST_TEST(grammar.count("striped") == 1u);
  BOOST_TEST(grammar.count("stripes") == 0u);
  std::set<std::string> seen;
  for (int seed = 0; seed < kSeeds; ++seed)
    for (const std::string& w : prompt_tokens(mini::prompt_of(mini::sample_scene(seed)))) {
      BOOST_TEST(grammar.count(w) == 1u, "'" << w << "' (seed " << seed << ") is not a grammar word");
      seen.insert(w);
    }
  BOOST_TEST((seen == grammar), "a grammar word never occurs in " << kSeeds << " prompts");
}

BOOST_AUTO_TEST_CASE(sentencepiece_model_has_t5_layout) {
  const auto m = text::SentencePieceModel::load(files().dir.path / "spiece.model");
  BOOST_TEST(m.pad_id() == 0);
  BOOST_TEST(m.eos_id() == 1);
  BOOST_TEST(m.unk_id() == 2);
  BOOST_TEST(m.piece(0).text == "<pad>");
  BOOST_TEST((m.piece(0).type == text::SentencePieceModel::PieceType::Control));
  BOOST_TEST(m.piece(1).text == "</s>");
  BOOST_TEST((m.piece(1).type == text::SentencePieceModel::PieceType::Control));
  BOOST_TEST(m.piece(2).text == "<unk>");
  BOOST_TEST((m.piece(2).type == text::SentencePieceModel::PieceType::Unknown));
  // specials + one per grammar word (",") + "▁" + a-z
  BOOST_TEST(m.piece_count() == 3 + static_cast<int>(mini::grammar_words().size()) + 1 + 26);
  BOOST_TEST(t5().vocab_size() == m.piece_count());
  BOOST_TEST_MESSAGE("T5 pieces: " << m.piece_count());
}

BOOST_AUTO_TEST_CASE(every_grammar_word_is_one_t5_piece) {
  const auto warn = [](const std::string& w) { BOOST_ERROR("unexpected warning: " << w); };
  for (const std::string& word : mini::grammar_words()) {
    if (word == ",") continue;  // a comma always follows a word: checked below
    const std::vector<int64_t> ids = t5().encode_padded(word, 2, warn);
    BOOST_TEST_REQUIRE(t5().encode(word).size() == 1u, "'" << word << "'");
    BOOST_TEST(ids[1] == t5().eos_id());
    BOOST_TEST(t5().piece(ids[0]) == kSpaceSymbol + word);
  }
  const std::vector<int64_t> ids = t5().encode("left,");
  BOOST_TEST_REQUIRE(ids.size() == 2u);
  BOOST_TEST(t5().piece(ids[0]) == kSpaceSymbol + "left");
  BOOST_TEST(t5().piece(ids[1]) == ",");
}

BOOST_AUTO_TEST_CASE(every_grammar_word_is_one_clip_token) {
  const auto warn = [](const std::string& w) { BOOST_ERROR("unexpected warning: " << w); };
  for (const std::string& word : mini::grammar_words()) {
    const std::vector<int64_t> ids = clip().encode_padded(word, warn);
    BOOST_TEST_REQUIRE(clip().encode(word).size() == 1u, "'" << word << "'");
    BOOST_TEST(ids[0] == clip().bos_id());
    BOOST_TEST(ids[2] == clip().eos_id());
    BOOST_TEST(clip().token(ids[1]) == word + "</w>");
  }
}

BOOST_AUTO_TEST_CASE(clip_end_token_has_the_highest_id) {
  BOOST_TEST(clip().vocab_size() == clip().eos_id() + 1);
  BOOST_TEST(clip().bos_id() == clip().eos_id() - 1);
  BOOST_TEST(clip().token(clip().eos_id()) == "<|endoftext|>");
  BOOST_TEST(clip().token(clip().bos_id()) == "<|startoftext|>");
  BOOST_TEST_MESSAGE("CLIP vocab size: " << clip().vocab_size());
}

BOOST_AUTO_TEST_CASE(prompts_are_one_token_per_word) {
  const auto warn = [](const std::string& w) { BOOST_ERROR("unexpected warning: " << w); };
  std::size_t longest = 0;
  std::string longest_prompt;
  for (int seed = 0; seed < kSeeds; ++seed) {
    const std::string prompt = mini::prompt_of(mini::sample_scene(seed));
    const std::size_t expected = prompt_tokens(prompt).size();
    std::vector<int64_t> ids = t5().encode(prompt);
    ids.push_back(t5().eos_id());
    BOOST_TEST(ids.size() == expected + 1, "seed " << seed << ": '" << prompt << "'");
    BOOST_TEST(ids.size() <= static_cast<std::size_t>(kT5MaxLength));
    BOOST_TEST(std::count(ids.begin(), ids.end(), 2) == 0, "unk in seed " << seed);  // unk_id 2
    BOOST_TEST(t5().decode(t5().encode_padded(prompt, kT5MaxLength, warn)) == prompt);
    BOOST_TEST(clip().encode(prompt).size() == expected, "seed " << seed << ": '" << prompt << "'");
    if (ids.size() > longest) longest = ids.size(), longest_prompt = prompt;
  }
  BOOST_TEST_MESSAGE("longest prompt: " << longest << " T5 ids with EOS: '" << longest_prompt << "'");
}

BOOST_AUTO_TEST_CASE(other_lowercase_words_still_spell_out) {
  const std::vector<int64_t> t5_ids = t5().encode("a zebra");
  BOOST_TEST(std::count(t5_ids.begin(), t5_ids.end(), 2) == 0);
  BOOST_TEST(t5().decode(t5_ids) == "a zebra");
  std::string bytes;
  for (int64_t id : clip().encode("zebra")) bytes += clip().token_bytes(id);
  BOOST_TEST(bytes == "zebra</w>");
}

BOOST_AUTO_TEST_CASE(output_is_byte_identical_across_runs) {
  BOOST_TEST(mini::sentencepiece_model_bytes() == mini::sentencepiece_model_bytes());
  genplug::test::TempDir again("mini-tokenizers-again");
  mini::write_mini_tokenizers(again.path);
  for (const char* name : {"spiece.model", "vocab.json", "merges.txt"}) {
    const std::string first = read_bytes(files().dir.path / name);
    BOOST_TEST(!first.empty(), name);
    BOOST_TEST((first == read_bytes(again.path / name)), name << " differs");
  }
  BOOST_TEST(read_bytes(files().dir.path / "spiece.model") == mini::sentencepiece_model_bytes());
}
