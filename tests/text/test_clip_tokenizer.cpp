#define BOOST_TEST_MODULE clip_tokenizer
#include <boost/test/unit_test.hpp>

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <genplug/flux/text/clip_text_cleanup.hpp>
#include <genplug/flux/text/clip_tokenizer.hpp>
#include <genplug/flux/text/unicode_text.hpp>

#include "golden.hpp"
#include "golden_corpora.hpp"

namespace fs = std::filesystem;
namespace gt = genplug::flux::text;
namespace utf = boost::unit_test;

namespace {

fs::path vocabulary_file() { return genplug::test::clip_vocabulary_file(); }

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

std::vector<fs::path> golden_corpora() { return genplug::test::golden_clip_corpora(); }

// The prompts of every corpus, each with the name of its file.
std::vector<std::pair<std::string, nlohmann::json>> golden_prompts() {
  std::vector<std::pair<std::string, nlohmann::json>> out;
  const auto files = golden_corpora();
  BOOST_REQUIRE_MESSAGE(!files.empty(), "no tokenizers/clip_ids*.json in " << genplug::test::golden_dir());
  for (const fs::path& file : files) {
    const nlohmann::json corpus = genplug::test::read_json(file);
    for (const auto& p : corpus.at("prompts")) out.emplace_back(file.filename().string(), p);
  }
  return out;
}

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
  BOOST_TEST_MESSAGE("corpora: " << golden_corpora().size() << ", prompts: " << prompts.size());
  for (const auto& [file, p] : prompts) {
    const std::string prompt = p["prompt"];
    BOOST_TEST_CONTEXT(file << " prompt: " << prompt) {
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
  for (const auto& [file, p] : golden_prompts()) {
    if (!p["ftfy_changes_ids"].get<bool>()) continue;
    BOOST_TEST_CONTEXT(file << " prompt: " << p["prompt"].get<std::string>()) {
    const auto content = tokenizer.encode(p["prompt"].get<std::string>());
    BOOST_TEST(content != p["content_ids_without_ftfy"].get<std::vector<int64_t>>());
    BOOST_TEST(content == p["content_ids"].get<std::vector<int64_t>>(), boost::test_tools::per_element());
    ++checked;
    }
  }
  BOOST_TEST_MESSAGE("prompts whose ids depend on ftfy: " << checked);
}

BOOST_AUTO_TEST_CASE(diffusers_folder_gives_same_ids, *utf::precondition(VocabularyPresent())) {
  const fs::path folder = write_hf_folder(vocabulary_file());
  const auto from_folder = gt::ClipTokenizer::load(folder);
  const auto from_vocab_json = gt::ClipTokenizer::load(folder / "vocab.json");
  for (const auto& [file, p] : golden_prompts()) {
    const std::string prompt = p["prompt"];
    BOOST_TEST_CONTEXT(file << " prompt: " << prompt) {
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

// Each pass of ftfy's fixers undoes one level of nested escapes: up to kFtfyMaxPasses levels come undone as ftfy
// undoes them; beyond, the rest stays (ftfy's unbounded loop had taken minutes on 400 KB of levels, a pass per
// level over the whole text).
BOOST_AUTO_TEST_CASE(nested_escapes_come_undone_up_to_the_pass_bound) {
  auto nested = [](int levels) {
    std::string s = "&";
    for (int i = 0; i < levels; ++i) s += "amp;";
    return s;
  };
  BOOST_TEST(ftfy(nested(gt::kFtfyMaxPasses - 1)) == std::string("&"));  // the last pass finds nothing to change
  BOOST_TEST(ftfy(nested(gt::kFtfyMaxPasses + 5)) == nested(5));
  const std::string many = nested(100000) + " x";
  BOOST_TEST(gt::encode_utf8(gt::clip_clean_text(many)) == nested(100000 - gt::kFtfyMaxPasses - 2) + " x");
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

BOOST_AUTO_TEST_CASE(ftfy_repairs_mojibake_and_normalises) {
  // Expected values printed by ftfy 6.3.1 fix_text (default configuration).
  BOOST_TEST(ftfy("Caf\xC3\x83\xC2\xA9 terrace") == std::string("Caf\xC3\xA9 terrace"));  // latin-1 / windows-1252
  BOOST_TEST(ftfy("a \xC3\xA2\xE2\x82\xAC\xC5\x93vintage\xC3\xA2\xE2\x82\xAC\xC2\x9D poster") ==
             std::string("a \"vintage\" poster"));  // sloppy windows-1252 (0x9D), then uncurled
  BOOST_TEST(ftfy("\xC3\x90\xC2\xA1\xC3\x91\xC5\xA0\xC3\x90\xC2\xB5\xC3\x91\xCB\x86\xC3\x91\xC5\x92") ==
             std::string("\xD0\xA1\xD1\x8A\xD0\xB5\xD1\x88\xD1\x8C"));  // Cyrillic through windows-1252
  BOOST_TEST(ftfy("voil\xC3\x83  \xC3\x83  bient\xC3\x83\xC2\xB4t") ==
             std::string("voil\xC3\xA0 \xC3\xA0 bient\xC3\xB4t"));  // restore_byte_a0
  BOOST_TEST(ftfy("doesn\xC3\x83\xC2\xA2\xC3\xA2\xE2\x80\x9A\xC2\xAC\xC3\xA2\xE2\x80\x9E\xC2\xA2t") ==
             std::string("doesn't"));  // twice encoded, repaired to the fixed point
  BOOST_TEST(ftfy("\xC3\x83\xC2\xA9t\xC3\x83\xC2\xA9 in a sentence with \xC3\xA9t\xC3\xA9") ==
             std::string("\xC3\xA9t\xC3\xA9 in a sentence with \xC3\xA9t\xC3\xA9"));  // decode_inconsistent_utf8
  BOOST_TEST(ftfy("l\xC2\x92" "eau") == std::string("l'eau"));                  // C1 control as windows-1252
  BOOST_TEST(ftfy("e\xCC\x81" "cole") == std::string("\xC3\xA9" "cole"));       // NFC
  BOOST_TEST(ftfy("\x1B[31mred\x1B[0m") == std::string("red"));                // terminal escapes
  // Tag characters (flag sequences) are not control characters for ftfy 6.3.1.
  const std::string flag = "\xF0\x9F\x8F\xB4\xF3\xA0\x81\xA7\xF3\xA0\x81\xA2\xF3\xA0\x81\xB3\xF3\xA0\x81\xA3"
                           "\xF3\xA0\x81\xB4\xF3\xA0\x81\xBF flag";
  BOOST_TEST(ftfy(flag) == flag);
  // Text that only looks odd stays.
  BOOST_TEST(ftfy("\xC3\xA9t\xC3\xA9 \xE2\x80\x94 r\xC3\xA9sum\xC3\xA9") ==
             std::string("\xC3\xA9t\xC3\xA9 \xE2\x80\x94 r\xC3\xA9sum\xC3\xA9"));
}

// Regression data: strings generated by plugins/flux/text/tools/ftfy_differential.py and ftfy 6.3.1's output for
// each (tests/golden/tokenizers/README.md). Optional in other golden sets.
struct FtfyCasesPresent {
  boost::test_tools::assertion_result operator()(utf::test_unit_id) const {
    boost::test_tools::assertion_result r(fs::exists(genplug::test::golden("tokenizers/ftfy_cases.json")));
    if (!r) r.message() << "SKIPPED: no tokenizers/ftfy_cases.json in " << genplug::test::golden_dir();
    return r;
  }
};

BOOST_AUTO_TEST_CASE(ftfy_matches_recorded_ftfy_outputs, *utf::precondition(FtfyCasesPresent())) {
  const nlohmann::json data = genplug::test::read_json(genplug::test::golden("tokenizers/ftfy_cases.json"));
  const auto& cases = data.at("cases");
  BOOST_REQUIRE(!cases.empty());
  std::size_t equal = 0;
  for (const auto& c : cases) {
    const std::string input = c.at("input"), expected = c.at("ftfy");
    BOOST_TEST_CONTEXT("input: " << nlohmann::json(input).dump()) {
      const std::string got = ftfy(input);
      BOOST_TEST(got == expected);
      equal += got == expected;
    }
  }
  BOOST_TEST_MESSAGE("ftfy cases equal: " << equal << " of " << cases.size());
}

// The Unicode facts the tokenizer depends on, as Python 3.11 (unicodedata 14.0, the reference's) states them
// (tests/text/data/python_unicode.txt, tools/gen_pinned_unicode.py), against ours (ICU, pinned by age). Fails
// when an ICU update changes any of them for a character assigned in 14.0.
namespace {
struct PythonUnicode {
  std::vector<bool> assigned, letter, number, space, word, decimal, ignorecase_skipped;
  std::map<char32_t, std::u32string> lower, nfc;
  std::vector<std::pair<std::u32string, std::u32string>> compose;  // NFD form -> NFC form
};

std::u32string hex_cps(std::istringstream& in, bool stop_at_slash) {
  std::u32string out;
  std::string tok;
  while (in >> tok) {
    if (stop_at_slash && tok == "/") break;
    out.push_back(static_cast<char32_t>(std::stoul(tok, nullptr, 16)));
  }
  return out;
}

PythonUnicode read_python_unicode() {
  PythonUnicode u;
  for (auto* v : {&u.assigned, &u.letter, &u.number, &u.space, &u.word, &u.decimal, &u.ignorecase_skipped})
    v->assign(0x110000, false);
  std::ifstream in(fs::path(GENPLUG_SOURCE_DIR) / "tests" / "text" / "data" / "python_unicode.txt");
  BOOST_REQUIRE(in);
  std::map<std::string, std::vector<bool>*> props{{"assigned", &u.assigned}, {"letter", &u.letter},
                                                  {"number", &u.number},     {"space", &u.space},
                                                  {"word", &u.word},         {"decimal", &u.decimal},
                                                  {"ignorecase_skipped", &u.ignorecase_skipped}};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    if (auto it = props.find(key); it != props.end()) {
      std::string range;
      while (ls >> range) {
        const auto dash = range.find('-');
        const auto first = std::stoul(range.substr(0, dash), nullptr, 16), last = std::stoul(range.substr(dash + 1), nullptr, 16);
        for (auto c = first; c <= last; ++c) (*it->second)[c] = true;
      }
    } else if (key == "lower" || key == "nfc") {
      std::string cp;
      ls >> cp;
      (key == "lower" ? u.lower : u.nfc)[static_cast<char32_t>(std::stoul(cp, nullptr, 16))] = hex_cps(ls, false);
    } else if (key == "nfd") {
      std::string cp;
      ls >> cp;
      std::u32string nfd = hex_cps(ls, true);
      u.compose.emplace_back(std::move(nfd), hex_cps(ls, false));
    }
  }
  return u;
}
}  // namespace

BOOST_AUTO_TEST_CASE(icu_agrees_with_pinned_python_unicode) {
  const PythonUnicode py = read_python_unicode();
  std::map<std::string, int> mismatches;
  std::map<std::string, char32_t> first;
  auto check = [&](const char* what, char32_t c, bool ok) {
    if (ok) return;
    if (mismatches[what]++ == 0) first[what] = c;
  };
  for (char32_t c = 0; c < 0x110000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    const bool assigned = py.assigned[c];
    check("assigned in 14.0", c, gt::assigned_in(c, gt::kPythonUnicodeVersion) == assigned);
    // \p{L} / \p{N} are pinned to 15.0 (the regex module's); Python 3.11 knows 14.0, so compare where it does.
    if (assigned) {
      check("\\p{L}", c, gt::is_letter(c) == py.letter[c]);
      check("\\p{N}", c, gt::is_number(c) == py.number[c]);
    }
    check("isspace", c, gt::is_whitespace(c) == py.space[c]);
    check("\\w", c, gt::is_python_word(c) == py.word[c]);
    check("\\d", c, gt::is_decimal_digit(c) == py.decimal[c]);
    check("skipped by the IGNORECASE pattern", c, gt::clip_pattern_skips(c) == (py.space[c] || py.ignorecase_skipped[c]));
    if (assigned || gt::assigned_in(c, {99, 0})) {
      const std::u32string one(1, c);
      const auto lo = py.lower.find(c);
      check("str.lower", c, gt::to_lower(one) == (lo == py.lower.end() ? one : lo->second));
      const auto nf = py.nfc.find(c);
      check("NFC", c, gt::nfc(one) == (nf == py.nfc.end() ? one : nf->second));
    }
  }
  for (const auto& [nfd, composed] : py.compose) check("NFC of NFD", nfd[0], gt::nfc(nfd) == composed);
  // Final sigma, by context as Python does it.
  check("final sigma", 0x3A3, gt::encode_utf8(gt::to_lower(u32("\xCE\x9F\xCE\xA3 \xCE\xA3\xCE\x9F \xCE\xA3"))) ==
                                  "\xCE\xBF\xCF\x82 \xCF\x83\xCE\xBF \xCF\x83");
  for (const auto& [what, n] : mismatches)
    BOOST_TEST(n == 0, what << ": " << n << " characters differ, first U+" << std::hex << std::uppercase
                            << static_cast<uint32_t>(first[what]));
  // IGNORECASE literals: long s is the contraction 's and starts the special token.
  const auto words = gt::clip_pre_tokenize(u32("it'\xC5\xBF a\xCD\x85" "b <|\xC5\xBFtartoftext|>"));
  BOOST_TEST(words.size() == 5u);
  if (words.size() == 5u) {
    BOOST_TEST(gt::encode_utf8(words[1]) == "'\xC5\xBF");
    BOOST_TEST(gt::encode_utf8(words[2]) == "a");  // U+0345 skipped
    BOOST_TEST(gt::encode_utf8(words[3]) == "b");
    BOOST_TEST(gt::encode_utf8(words[4]) == "<|\xC5\xBFtartoftext|>");
  }
  BOOST_TEST(py.lower.size() > 1000u);  // and the file is the full one
  BOOST_TEST(py.compose.size() > 1000u);
}

BOOST_AUTO_TEST_CASE(bpe_cache_is_bounded, *utf::precondition(VocabularyPresent())) {
  const auto tokenizer = gt::ClipTokenizer::load(vocabulary_file());
  BOOST_TEST(tokenizer.cached_words() == 0u);
  // Distinct words (letters only, so each is one pre-split word): many more than the cache holds.
  auto word = [](std::size_t n) {
    std::string w;
    for (; n; n /= 26) w.push_back(static_cast<char>('a' + n % 26));
    return w;
  };
  const auto reference = tokenizer.encode("lighthouse");
  std::size_t peak = 0;
  for (std::size_t batch = 0; batch < 5; ++batch) {
    std::string prompt;
    for (std::size_t i = 1; i <= gt::ClipTokenizer::kBpeCacheCapacity / 2; ++i)
      prompt += word(batch * gt::ClipTokenizer::kBpeCacheCapacity + i) + " ";
    tokenizer.encode(prompt);
    peak = std::max(peak, tokenizer.cached_words());
  }
  BOOST_TEST(peak <= gt::ClipTokenizer::kBpeCacheCapacity);
  BOOST_TEST(peak >= gt::ClipTokenizer::kBpeCacheCapacity / 2);  // it does cache
  BOOST_TEST(tokenizer.encode("lighthouse") == reference, boost::test_tools::per_element());  // same ids after eviction
  BOOST_TEST(tokenizer.token(reference.front()) == "lighthouse</w>");
  BOOST_TEST(tokenizer.token(49406) == "<|startoftext|>");
  BOOST_TEST(tokenizer.token(-1).empty());
}

// ftfy's utf-8-variants patterns accept `$` for a continuation byte, and Python's `$` matches before a final
// newline: a CESU-8 pair ending in the segment's "\n" decodes with 0x0A in its low bits and swallows the newline.
// Outputs of ftfy 6.3.1's fix_text, run here.
BOOST_AUTO_TEST_CASE(ftfy_cesu8_pair_before_a_final_newline) {
  BOOST_TEST(ftfy("\u00ed\u00a0\u0080\u00ed\u00b0\n") == "\U0001000A");
  BOOST_TEST(ftfy("abc \u00ed\u00a0\u0080\u00ed\u00b0\nxyz") == "abc \U0001000Axyz");
  BOOST_TEST(ftfy("\u00ed\u00a0\u0080\u00ed\u00b0\u0080") == "\U00010000");
}

// A vocabulary whose ids do not fit its size is refused by name instead of sizing a table by them.
BOOST_AUTO_TEST_CASE(a_vocabulary_with_ids_beyond_its_size_is_corrupt) {
  const fs::path dir = temp_dir("bad_ids");
  nlohmann::json vocab = {{"a", 0}, {"b", 1}, {"ab", 2}, {"<|startoftext|>", 3}, {"<|endoftext|>", 1000000000}};
  std::ofstream(dir / "vocab.json") << vocab.dump();
  std::ofstream(dir / "merges.txt") << "#version: 0.2\na b\n";
  try {
    gt::ClipTokenizer::load(dir);
    BOOST_ERROR("a vocabulary with id 1000000000 for 5 tokens loaded");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("has id 1000000000, outside 0..4") != std::string::npos, e.what());
  }
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(ids_of_case_folding_corners, *utf::precondition(VocabularyPresent())) {
  // Ids printed by OpenAI's SimpleTokenizer (ftfy 6.3.1): its pattern is compiled with IGNORECASE, so "'ſ" is a
  // contraction, U+0345 is skipped, "<|ſtartoftext|>" is one word (but no special id); lower() of İ, final sigma.
  const auto tokenizer = gt::ClipTokenizer::load(vocabulary_file());
  BOOST_TEST(tokenizer.encode("it\xE2\x80\x99\xC5\xBF a\xCD\x85" "b <|\xC5\xBFtartoftext|> <|startoftext|>") ==
                 std::vector<int64_t>({585, 6, 129, 379, 320, 321, 27, 91, 129, 123, 2002, 6659, 18169, 91, 285, 49406}),
             boost::test_tools::per_element());
  BOOST_TEST(tokenizer.encode("stra\xC3\x9F" "e \xE2\x84\xAA \xC4\xB0stanbul \xCE\x9F\xCE\xA3 \xCE\xA3\xCE\x9F") ==
                 std::vector<int64_t>({1894, 127, 253, 324, 330, 328, 16384, 11231, 138, 123, 139, 480, 139, 225, 138, 379}),
             boost::test_tools::per_element());
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

  // A merge naming a unit the vocabulary lacks (a merges.txt cut short mid-line, or another tokenizer's): refused
  // with its line, where it had been taken and given other ids.
  std::ofstream(dir / "tok" / "merges.txt") << "#version\na b\n";
  const std::string unknown = message_of(dir / "tok");
  BOOST_TEST(unknown.find("merges.txt' line 2: merge 'a b' names 'ab', which the vocabulary lacks") != std::string::npos,
             unknown);
  std::ofstream(dir / "tok" / "vocab.json") << "{\"a\": 0, \"b\": 1, \"ab</w>\": 1}";
  const std::string same_id = message_of(dir / "tok");
  BOOST_TEST(same_id.find("tokens 'ab</w>' and 'b' have the same id 1") != std::string::npos, same_id);
  std::ofstream(dir / "tok" / "vocab.json") << "{\"a\": 0, \"b\": 1, \"a\": 2}";
  const std::string twice = message_of(dir / "tok");
  BOOST_TEST(twice.find("vocab.json' gives the token 'a' twice") != std::string::npos, twice);

  std::ofstream(dir / "tok" / "vocab.json") << "{\"a\": 0, \"b</w>\": 1, \"ab</w>\": 2}";
  std::ofstream(dir / "tok" / "merges.txt") << "#version\na b</w>\n";
  const std::string special = message_of(dir / "tok");
  BOOST_TEST(special.find("<|startoftext|>") != std::string::npos, special);

  std::remove((dir / "tok" / "merges.txt").c_str());
  const std::string no_merges = message_of(dir / "tok");
  BOOST_TEST(no_merges.find("merges.txt") != std::string::npos, no_merges);
  fs::remove_all(dir);
}
