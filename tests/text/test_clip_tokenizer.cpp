#define BOOST_TEST_MODULE clip_tokenizer
#include <boost/test/unit_test.hpp>

#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genplug/flux/text/clip_text_cleanup.hpp>
#include <genplug/flux/text/clip_tokenizer.hpp>
#include <genplug/flux/text/unicode_text.hpp>

#include "golden.hpp"

namespace fs = std::filesystem;
namespace gt = genplug::flux::text;
namespace utf = boost::unit_test;

namespace {

// OpenAI's vocabulary file lives in ../shared (not copied into the repository): golden dir first, then shared.
fs::path vocabulary_file() {
  const fs::path in_golden = genplug::test::golden("tokenizers/bpe_simple_vocab_16e6.txt.gz");
  if (fs::exists(in_golden)) return in_golden;
  const fs::path shared = fs::path(GENPLUG_SOURCE_DIR) / ".." / "shared" / "golden" / "tokenizers" /
                          "bpe_simple_vocab_16e6.txt.gz";
  if (fs::exists(shared)) return shared;
  return {};
}

struct VocabularyPresent {
  boost::test_tools::assertion_result operator()(utf::test_unit_id) const {
    boost::test_tools::assertion_result r(!vocabulary_file().empty());
    if (!r)
      r.message() << "SKIPPED: bpe_simple_vocab_16e6.txt.gz is in neither " << genplug::test::golden("tokenizers")
                  << " nor ../shared/golden/tokenizers";
    return r;
  }
};

fs::path temp_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("genplug_clip_tok_" + name + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

std::string gunzip(const fs::path& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  BOOST_REQUIRE(f);
  std::string out;
  char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, n);
  gzclose(f);
  return out;
}

// Writes a diffusers-style tokenizer/ folder (vocab.json + merges.txt) built from OpenAI's file the way
// HF's conversion does: same vocabulary order, "#version" header line, the same merges.
fs::path write_hf_folder(const fs::path& gz) {
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<char32_t> cs(bs.begin(), bs.end());
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (std::find(bs.begin(), bs.begin() + 188, b) == bs.begin() + 188) cs.push_back(256 + n++);
  std::vector<std::string> vocab;
  for (char32_t c : cs) vocab.push_back(gt::encode_utf8(std::u32string(1, c)));
  for (char32_t c : cs) vocab.push_back(gt::encode_utf8(std::u32string(1, c)) + "</w>");
  std::istringstream lines(gunzip(gz));
  std::string line, merges = "#version: 0.2\n";
  std::getline(lines, line);
  for (int i = 1; i < 49152 - 256 - 2 + 1 && std::getline(lines, line); ++i) {
    const auto space = line.find(' ');
    vocab.push_back(line.substr(0, space) + line.substr(space + 1));
    merges += line + "\n";
  }
  vocab.push_back("<|startoftext|>");
  vocab.push_back("<|endoftext|>");
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t i = 0; i < vocab.size(); ++i) j[vocab[i]] = i;
  const fs::path dir = temp_dir("hf");
  std::ofstream(dir / "vocab.json") << j.dump();
  std::ofstream(dir / "merges.txt") << merges;
  return dir;
}

nlohmann::json golden_prompts() { return genplug::test::read_json(genplug::test::golden("tokenizers/clip_ids.json"))["prompts"]; }

std::u32string u32(const std::string& s) { return gt::decode_utf8(s); }
std::string unescape(const std::string& s) { return gt::encode_utf8(gt::html_unescape(u32(s))); }
std::string ftfy(const std::string& s) { return gt::encode_utf8(gt::ftfy_fix_text(u32(s))); }

}  // namespace

BOOST_AUTO_TEST_CASE(golden_ids_from_openai_file, *utf::precondition(VocabularyPresent())) {
  const auto tokenizer = gt::ClipTokenizer::load(vocabulary_file());
  BOOST_TEST(tokenizer.bos_id() == 49406);
  BOOST_TEST(tokenizer.eos_id() == 49407);
  BOOST_TEST(tokenizer.vocab_size() == 49408);
  const auto prompts = golden_prompts();
  BOOST_REQUIRE(!prompts.empty());
  for (const auto& p : prompts) {
    const std::string prompt = p["prompt"];
    BOOST_TEST_CONTEXT("prompt: " << prompt) {
      const auto content = tokenizer.encode(prompt);
      const auto expected_content = p["content_ids"].get<std::vector<int64_t>>();
      BOOST_TEST(content == expected_content, boost::test_tools::per_element());
      std::vector<std::string> warnings;
      const auto ids = tokenizer.encode_padded(prompt, [&](const std::string& w) { warnings.push_back(w); });
      const auto expected_ids = p["ids77"].get<std::vector<int64_t>>();
      BOOST_TEST(ids == expected_ids, boost::test_tools::per_element());
      BOOST_TEST(warnings.size() == (p["truncated"].get<bool>() ? 1u : 0u));
      if (!warnings.empty()) {  // the context holds ids77's length minus the two specials
        const std::string dropped = std::to_string(expected_content.size() - (expected_ids.size() - 2));
        BOOST_TEST(warnings[0].find("the last " + dropped + " were dropped") != std::string::npos, warnings[0]);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(ftfy_prompts_change_ids, *utf::precondition(VocabularyPresent())) {
  // The golden set marks prompts whose ids depend on ftfy; ours must match the ftfy ids, not the plain ones.
  const auto tokenizer = gt::ClipTokenizer::load(vocabulary_file());
  int checked = 0;
  for (const auto& p : golden_prompts()) {
    if (!p["ftfy_changes_ids"].get<bool>()) continue;
    const auto content = tokenizer.encode(p["prompt"].get<std::string>());
    BOOST_TEST(content != p["content_ids_without_ftfy"].get<std::vector<int64_t>>());
    BOOST_TEST(content == p["content_ids"].get<std::vector<int64_t>>(), boost::test_tools::per_element());
    ++checked;
  }
  BOOST_TEST_MESSAGE("prompts whose ids depend on ftfy: " << checked);
}

BOOST_AUTO_TEST_CASE(diffusers_folder_gives_same_ids, *utf::precondition(VocabularyPresent())) {
  const fs::path folder = write_hf_folder(vocabulary_file());
  const auto from_folder = gt::ClipTokenizer::load(folder);
  const auto from_vocab_json = gt::ClipTokenizer::load(folder / "vocab.json");
  for (const auto& p : golden_prompts()) {
    const std::string prompt = p["prompt"];
    BOOST_TEST_CONTEXT("prompt: " << prompt) {
      const auto expected = p["ids77"].get<std::vector<int64_t>>();
      BOOST_TEST(from_folder.encode_padded(prompt, nullptr) == expected, boost::test_tools::per_element());
      BOOST_TEST(from_vocab_json.encode_padded(prompt, nullptr) == expected, boost::test_tools::per_element());
    }
  }
  fs::remove_all(folder);
}

BOOST_AUTO_TEST_CASE(html_unescape_matches_python) {
  // Expected values printed by Python 3.11 html.unescape.
  BOOST_TEST(unescape("&amp;") == std::string("&"));
  BOOST_TEST(unescape("&ampx") == std::string("&x"));
  BOOST_TEST(unescape("&#65;") == std::string("A"));
  BOOST_TEST(unescape("&#x41") == std::string("A"));
  BOOST_TEST(unescape("&#0;") == std::string("\xEF\xBF\xBD"));
  BOOST_TEST(unescape("&#128;") == std::string("\xE2\x82\xAC"));
  BOOST_TEST(unescape("&bogus;") == std::string("&bogus;"));
  BOOST_TEST(unescape("&lt;b&gt;") == std::string("<b>"));
  BOOST_TEST(unescape("&notit;") == std::string("\xC2\xACit;"));
  BOOST_TEST(unescape("&NTILDE;") == std::string("&NTILDE;"));
  BOOST_TEST(unescape("&#xD800;") == std::string("\xEF\xBF\xBD"));
  BOOST_TEST(unescape("&#1114112;") == std::string("\xEF\xBF\xBD"));
  BOOST_TEST(unescape("a&b &;") == std::string("a&b &;"));
}

BOOST_AUTO_TEST_CASE(ftfy_subset) {
  // Curly quotes, ligatures, full-width letters, ideographic space, C1 controls, control characters.
  BOOST_TEST(ftfy("\xE2\x80\x9Cq\xE2\x80\x9D \xE2\x80\x98s\xE2\x80\x99") == std::string("\"q\" 's'"));
  BOOST_TEST(ftfy("\xEF\xAC\x81ne \xEF\xBC\xA6\xEF\xBC\xB5") == std::string("fine FU"));
  BOOST_TEST(ftfy("a\xE3\x80\x80" "b") == std::string("a b"));
  BOOST_TEST(ftfy("\xC2\x85 x\x01y\xEF\xBB\xBF") == std::string("\xE2\x80\xA6 xy"));
  // HTML entities are decoded only when the segment has no '<'; upper-cased names too (&NTILDE; -> Ñ).
  BOOST_TEST(ftfy("&NTILDE; &amp;amp;") == std::string("\xC3\x91 &"));
  BOOST_TEST(ftfy("<b> &amp;") == std::string("<b> &amp;"));
  BOOST_TEST(gt::encode_utf8(gt::clip_clean_text("  A\tB\n\nC  ")) == "a b c");
  BOOST_TEST(gt::encode_utf8(gt::to_lower(u32("\xC3\x9C" "BER \xC4\xB0"))) == "\xC3\xBC" "ber i\xCC\x87");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_prompt_is_rejected, *utf::precondition(VocabularyPresent())) {
  const auto tokenizer = gt::ClipTokenizer::load(vocabulary_file());
  try {
    tokenizer.encode("caf\xC3");
    BOOST_FAIL("invalid UTF-8 accepted");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("not valid UTF-8") != std::string::npos, e.what());
    BOOST_TEST(std::string(e.what()).find("offset 3") != std::string::npos, e.what());
  }
  BOOST_CHECK_THROW(tokenizer.encode("\xED\xA0\x80"), std::invalid_argument);  // surrogate
  BOOST_CHECK_THROW(tokenizer.encode("\xC0\xAF"), std::invalid_argument);      // overlong
}

BOOST_AUTO_TEST_CASE(missing_and_corrupt_files) {
  const fs::path dir = temp_dir("errors");
  auto message_of = [](const fs::path& p) {
    try {
      gt::ClipTokenizer::load(p);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string missing = message_of(dir / "nope.txt.gz");
  BOOST_TEST(missing.find("nope.txt.gz") != std::string::npos, missing);
  BOOST_TEST(missing.find("does not exist") != std::string::npos, missing);

  std::ofstream(dir / "garbage.txt.gz") << "this is not gzip data at all, but long enough to be read";
  const std::string garbage = message_of(dir / "garbage.txt.gz");
  BOOST_TEST(garbage.find("garbage.txt.gz") != std::string::npos, garbage);

  fs::create_directories(dir / "tok");
  std::ofstream(dir / "tok" / "vocab.json") << "{\"a\": 0,";
  std::ofstream(dir / "tok" / "merges.txt") << "#version\na b\n";
  const std::string json = message_of(dir / "tok");
  BOOST_TEST(json.find("vocab.json") != std::string::npos, json);
  BOOST_TEST(json.find("not valid JSON") != std::string::npos, json);

  std::ofstream(dir / "tok" / "vocab.json") << "{\"a\": 0, \"b\": 1, \"ab</w>\": 2}";
  std::ofstream(dir / "tok" / "merges.txt") << "#version\na b c\n";
  const std::string merges = message_of(dir / "tok");
  BOOST_TEST(merges.find("merges.txt") != std::string::npos, merges);

  std::ofstream(dir / "tok" / "merges.txt") << "#version\na b\n";
  const std::string special = message_of(dir / "tok");
  BOOST_TEST(special.find("<|startoftext|>") != std::string::npos, special);

  std::remove((dir / "tok" / "merges.txt").c_str());
  const std::string no_merges = message_of(dir / "tok");
  BOOST_TEST(no_merges.find("merges.txt") != std::string::npos, no_merges);
  fs::remove_all(dir);
}
