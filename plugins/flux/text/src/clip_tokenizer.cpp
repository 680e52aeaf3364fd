#include <genplug/flux/text/clip_tokenizer.hpp>

#include <zlib.h>

#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include <genplug/flux/text/clip_text_cleanup.hpp>
#include <genplug/flux/text/unicode_text.hpp>
#include <genplug/internal/bounded_json.hpp>
#include <genplug/internal/regular_file.hpp>

namespace genplug::flux::text {

namespace fs = std::filesystem;

// The merges kept by both OpenAI and HF: lines [1, 49152 - 256 - 2 + 1).
constexpr std::size_t kMergeLinesEnd = 49152 - 256 - 2 + 1;
const std::string kStartOfText = "<|startoftext|>";
const std::string kEndOfText = "<|endoftext|>";

struct ClipTokenizer::Data {
  std::unordered_map<std::string, int64_t> vocab;
  std::unordered_map<std::string, int64_t> merge_rank;  // "first second" -> rank
  std::string byte_encoder[256];                        // byte -> UTF-8 of its printable stand-in
  std::vector<std::string> id_to_token;                // id -> vocabulary string ("" where no token has the id)
  // Per-word BPE results, bounded: at most kBpeCacheCapacity words; when full it is emptied and refilled (the
  // words of one prompt stay cheap, a long stream of distinct words cannot grow it). Guarded for concurrent encode.
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache;
};

namespace {

// OpenAI bytes_to_unicode(): printable bytes map to themselves, the others to 256 + n. Returns stand-ins in the
// order of the Python dict's values (the base vocabulary order).
std::vector<char32_t> bytes_to_unicode(std::string (&encoder)[256]) {
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<char32_t> cs(bs.begin(), bs.end());
  std::vector<bool> printable(256, false);
  for (int b : bs) printable[b] = true;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    if (!printable[b]) {
      bs.push_back(b);
      cs.push_back(256 + n++);
    }
  }
  for (std::size_t i = 0; i < bs.size(); ++i) {
    encoder[bs[i]].clear();
    append_utf8(encoder[bs[i]], cs[i]);
  }
  return cs;
}

// Tokenizer files are a few MB (OpenAI's vocab.json is 1.6 MB).
constexpr std::size_t kMaxTokenizerFileBytes = std::size_t(64) << 20;

// A regular file only (a FIFO would block), of at most 64 MiB.
std::string read_file(const fs::path& path, const std::string& what) {
  try {
    return genplug::internal::read_regular_file(path, kMaxTokenizerFileBytes);
  } catch (const genplug::internal::UnreadableFile& e) {
    throw std::runtime_error("CLIP tokenizer: " + what + " '" + path.string() + "' " + e.what());
  }
}

std::string read_gzip(const fs::path& path) {
  if (!fs::is_regular_file(path))
    throw std::runtime_error("CLIP tokenizer: BPE file '" + path.string() + "' does not exist");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("CLIP tokenizer: cannot open BPE file '" + path.string() + "'");
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxTokenizerFileBytes) {  // OpenAI's is 1.4 MB unpacked: a gzip bomb stops here
      gzclose(f);
      throw std::runtime_error("CLIP tokenizer: BPE file '" + path.string() + "' unpacks to more than 64 MiB");
    }
  }
  int err = Z_OK;
  const char* msg = gzerror(f, &err);
  const std::string message = msg ? msg : "";
  gzclose(f);
  if (n < 0 || (err != Z_OK && err != Z_STREAM_END))
    throw std::runtime_error("CLIP tokenizer: BPE file '" + path.string() + "' is corrupt (zlib: " + message + ")");
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

// Merge lines [1, kMergeLinesEnd) as "first second" pairs; `strip` trims the text first (HF does, OpenAI not).
std::vector<std::pair<std::string, std::string>> parse_merges(const std::string& text, const fs::path& path) {
  const auto lines = split_lines(text);
  std::vector<std::pair<std::string, std::string>> merges;
  for (std::size_t i = 1; i < lines.size() && i < kMergeLinesEnd; ++i) {
    std::istringstream ls(lines[i]);
    std::string a, b, extra;
    if (!(ls >> a >> b) || (ls >> extra)) {
      if (lines[i].empty() && i + 1 == lines.size()) break;  // trailing newline
      throw std::runtime_error("CLIP tokenizer: '" + path.string() + "' line " + std::to_string(i + 1) +
                               " is not a merge pair (corrupt file?)");
    }
    merges.emplace_back(std::move(a), std::move(b));
  }
  if (merges.empty()) throw std::runtime_error("CLIP tokenizer: '" + path.string() + "' holds no BPE merges");
  return merges;
}

// SimpleTokenizer compiles its pattern with re.IGNORECASE (python3-regex): literals match by simple case folding,
// so "'\u017F" (long s) is the contraction 's and "<|\u017Ftartoftext|>" the start token even after lower().
bool starts_with_at(const std::u32string& s, std::size_t i, const char32_t* lit) {
  for (std::size_t k = 0; lit[k]; ++k)
    if (i + k >= s.size() || simple_case_fold(s[i + k]) != simple_case_fold(lit[k])) return false;
  return true;
}

// Every merge joins two units of the vocabulary into a third (HF tokenizers refuses a file where one does not):
// a merges.txt cut short or from another tokenizer had been taken, giving other ids without a word. Line numbers
// count from 1, the version line included, in the file as HF reads it (stripped of leading blank lines).
void check_merges_in_vocabulary(const std::vector<std::pair<std::string, std::string>>& merges,
                                const std::unordered_map<std::string, int64_t>& vocab, const fs::path& path) {
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const auto& [a, b] = merges[i];
    for (const std::string& unit : {a, b, a + b})
      if (!vocab.count(unit))
        throw std::runtime_error("CLIP tokenizer: '" + path.string() + "' line " + std::to_string(i + 2) +
                                 ": merge '" + a + " " + b + "' names '" + unit +
                                 "', which the vocabulary lacks (corrupt file, or another tokenizer's?)");
  }
}

}  // namespace

// IGNORECASE also changes the classes for one character: U+0345 COMBINING GREEK YPOGEGRAMMENI (Mn, case-folds to
// iota) matches none of [\p{L}], [\p{N}], [^\s\p{L}\p{N}] there, so findall skips it like a space. (Found by
// testing every code point against the regex module with and without IGNORECASE; the pinned-data test checks it.)
bool clip_pattern_skips(char32_t c) { return c == 0x345 || is_whitespace(c); }

// The SimpleTokenizer pattern on lower-cased text, with IGNORECASE:
// <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
std::vector<std::u32string> clip_pre_tokenize(const std::u32string& text) {
  std::vector<std::u32string> words;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t len = 0;
    if (starts_with_at(text, i, U"<|startoftext|>")) {
      len = 15;
    } else if (starts_with_at(text, i, U"<|endoftext|>")) {
      len = 13;
    } else if (text[i] == '\'' && (starts_with_at(text, i, U"'re") || starts_with_at(text, i, U"'ve") ||
                                   starts_with_at(text, i, U"'ll"))) {
      len = 3;
    } else if (text[i] == '\'' && (starts_with_at(text, i, U"'s") || starts_with_at(text, i, U"'t") ||
                                   starts_with_at(text, i, U"'m") || starts_with_at(text, i, U"'d"))) {
      len = 2;
    } else if (is_letter(text[i])) {
      while (i + len < text.size() && is_letter(text[i + len])) ++len;
    } else if (is_number(text[i])) {
      len = 1;
    } else if (!clip_pattern_skips(text[i])) {
      auto other = [](char32_t c) { return !clip_pattern_skips(c) && !is_letter(c) && !is_number(c); };
      while (i + len < text.size() && other(text[i + len])) ++len;
    } else {
      ++i;
      continue;
    }
    words.push_back(text.substr(i, len));
    i += len;
  }
  return words;
}

ClipTokenizer::ClipTokenizer(std::unique_ptr<Data> data) : data_(std::move(data)) {
  auto special = [this](const std::string& name) {
    auto it = data_->vocab.find(name);
    if (it == data_->vocab.end())
      throw std::runtime_error("CLIP tokenizer: vocabulary has no '" + name + "' token (not a CLIP vocabulary?)");
    return it->second;
  };
  bos_id_ = special(kStartOfText);
  eos_id_ = special(kEndOfText);
  // Ids index a table: a file claiming an id beyond its own size (or a negative one) is corrupt, not a reason
  // to allocate gigabytes.
  const std::size_t size = data_->vocab.size();
  for (const auto& [token, id] : data_->vocab)
    if (id < 0 || static_cast<std::size_t>(id) >= size)
      throw std::runtime_error("CLIP tokenizer: token '" + token.substr(0, 40) + "' has id " + std::to_string(id) +
                               ", outside 0.." + std::to_string(size - 1) + " for " + std::to_string(size) +
                               " tokens (a corrupt vocabulary)");
  data_->id_to_token.resize(size);
  for (const auto& [token, id] : data_->vocab) {
    data_->id_to_token[static_cast<std::size_t>(id)] = token;
  }
}

ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;
ClipTokenizer::~ClipTokenizer() = default;

ClipTokenizer ClipTokenizer::load(const fs::path& path) {
  auto data = std::make_unique<Data>();
  const std::vector<char32_t> base = bytes_to_unicode(data->byte_encoder);
  const std::string name = path.filename().string();
  const bool gz = name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0;
  std::vector<std::pair<std::string, std::string>> merges;
  if (gz) {
    // OpenAI: vocab = bytes, bytes + "</w>", merged pairs, then the two special tokens.
    merges = parse_merges(read_gzip(path), path);
    std::vector<std::string> vocab;
    for (char32_t c : base) vocab.push_back(encode_utf8(std::u32string(1, c)));
    for (char32_t c : base) vocab.push_back(encode_utf8(std::u32string(1, c)) + "</w>");
    for (const auto& [a, b] : merges) vocab.push_back(a + b);
    vocab.push_back(kStartOfText);
    vocab.push_back(kEndOfText);
    for (std::size_t i = 0; i < vocab.size(); ++i) data->vocab.emplace(vocab[i], static_cast<int64_t>(i));
  } else {
    const fs::path folder = fs::is_directory(path) ? path : path.parent_path();
    const fs::path vocab_path = fs::is_directory(path) ? folder / "vocab.json" : path;
    const fs::path merges_path = folder / "merges.txt";
    if (!fs::exists(path))
      throw std::runtime_error("CLIP tokenizer: '" + path.string() + "' does not exist");
    const std::string vocab_text = read_file(vocab_path, "vocabulary");
    nlohmann::json vocab;
    std::optional<std::string> duplicate;  // JSON keeps the last of a token given twice
    try {
      vocab = genplug::internal::parse_bounded_json(vocab_text, duplicate);  // nesting bounded
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e400
      throw std::runtime_error("CLIP tokenizer: '" + vocab_path.string() +
                               "' is not valid JSON: " + genplug::internal::json_error_text(e));
    } catch (const genplug::internal::JsonTooDeep& e) {
      throw std::runtime_error("CLIP tokenizer: '" + vocab_path.string() + "': " + e.what());
    }
    if (duplicate)
      throw std::runtime_error("CLIP tokenizer: '" + vocab_path.string() + "' gives the token '" + *duplicate +
                               "' twice (corrupt file?)");
    if (!vocab.is_object() || vocab.empty())
      throw std::runtime_error("CLIP tokenizer: '" + vocab_path.string() + "' is not a token -> id object");
    std::unordered_map<int64_t, std::string> token_of_id;
    for (const auto& [token, id] : vocab.items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0)
        throw std::runtime_error("CLIP tokenizer: '" + vocab_path.string() + "': token '" + token +
                                 "' has no valid id");
      if (const auto [other, added] = token_of_id.emplace(id.get<int64_t>(), token); !added)
        throw std::runtime_error("CLIP tokenizer: '" + vocab_path.string() + "': tokens '" + other->second +
                                 "' and '" + token + "' have the same id " + id.dump() + " (corrupt file?)");
      data->vocab.emplace(token, id.get<int64_t>());
    }
    std::string text = read_file(merges_path, "merges");
    // HF: read().strip().split("\n")
    const auto first = text.find_first_not_of(" \t\r\n");
    const auto last = text.find_last_not_of(" \t\r\n");
    text = first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
    merges = parse_merges(text, merges_path);
    check_merges_in_vocabulary(merges, data->vocab, merges_path);
  }
  for (std::size_t i = 0; i < merges.size(); ++i)
    data->merge_rank.emplace(merges[i].first + " " + merges[i].second, static_cast<int64_t>(i));
  return ClipTokenizer(std::move(data));
}

int64_t ClipTokenizer::vocab_size() const { return static_cast<int64_t>(data_->id_to_token.size()); }

std::string ClipTokenizer::token(int64_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= data_->id_to_token.size()) return {};
  return data_->id_to_token[static_cast<std::size_t>(id)];
}

std::string ClipTokenizer::token_bytes(int64_t id) const {
  std::string token = this->token(id);
  if (token == kStartOfText || token == kEndOfText) return token;
  std::string suffix;
  if (token.size() >= 4 && token.compare(token.size() - 4, 4, "</w>") == 0) token.resize(token.size() - 4), suffix = "</w>";
  std::string bytes;
  for (char32_t c : decode_utf8(token, "CLIP token")) {
    int byte = -1;
    for (int b = 0; b < 256 && byte < 0; ++b)
      if (data_->byte_encoder[b] == encode_utf8(std::u32string(1, c))) byte = b;
    if (byte < 0) return this->token(id);  // not a byte-level token: as it is
    bytes.push_back(static_cast<char>(byte));
  }
  return bytes + suffix;
}

std::size_t ClipTokenizer::cached_words() const {
  std::lock_guard<std::mutex> lock(data_->cache_mutex);
  return data_->cache.size();
}

namespace {

// BPE of one pre-split word: byte stand-ins (the last with "</w>"), lowest-ranked adjacent pair merged until none
// is in the merge table, units looked up in the vocabulary.
std::vector<int64_t> bpe_word(const ClipTokenizer::Data& data, const std::string& word) {
  std::vector<std::string> units;
  for (unsigned char b : word) units.push_back(data.byte_encoder[b]);
  units.back() += "</w>";
  while (units.size() > 1) {
    int64_t best = std::numeric_limits<int64_t>::max();
    std::string best_first, best_second;
    for (std::size_t k = 0; k + 1 < units.size(); ++k) {
      auto it = data.merge_rank.find(units[k] + " " + units[k + 1]);
      if (it != data.merge_rank.end() && it->second < best)
        best = it->second, best_first = units[k], best_second = units[k + 1];
    }
    if (best == std::numeric_limits<int64_t>::max()) break;
    std::vector<std::string> merged;
    for (std::size_t k = 0; k < units.size();) {
      if (k + 1 < units.size() && units[k] == best_first && units[k + 1] == best_second) {
        merged.push_back(best_first + best_second);
        k += 2;
      } else {
        merged.push_back(units[k++]);
      }
    }
    units = std::move(merged);
  }
  std::vector<int64_t> word_ids;
  for (const auto& unit : units) {
    auto it = data.vocab.find(unit);
    if (it == data.vocab.end())
      throw std::runtime_error("CLIP tokenizer: BPE unit '" + unit + "' is not in the vocabulary (corrupt vocabulary?)");
    word_ids.push_back(it->second);
  }
  return word_ids;
}

}  // namespace

std::vector<int64_t> ClipTokenizer::encode(const std::string& prompt) const {
  const std::u32string text = clip_clean_text(prompt);
  std::vector<int64_t> ids;
  for (const std::u32string& word32 : clip_pre_tokenize(text)) {
    const std::string word = encode_utf8(word32);
    // Only the exact special strings are special ids (SimpleTokenizer's BPE cache holds them); a word the pattern
    // matched as a special by case folding ("<|\u017Ftartoftext|>") goes through BPE whole.
    if (word == kStartOfText || word == kEndOfText) {
      ids.push_back(word == kStartOfText ? bos_id_ : eos_id_);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(data_->cache_mutex);
      if (auto hit = data_->cache.find(word); hit != data_->cache.end()) {
        ids.insert(ids.end(), hit->second.begin(), hit->second.end());
        continue;
      }
    }
    std::vector<int64_t> word_ids = bpe_word(*data_, word);
    ids.insert(ids.end(), word_ids.begin(), word_ids.end());
    if (word.size() > kBpeCacheWordBytes) continue;  // long words are rare: the bound is in bytes too
    std::lock_guard<std::mutex> lock(data_->cache_mutex);
    if (data_->cache.size() >= kBpeCacheCapacity) data_->cache.clear();
    data_->cache.emplace(word, std::move(word_ids));
  }
  return ids;
}

std::vector<int64_t> ClipTokenizer::encode_padded(const std::string& prompt,
                                                  const std::function<void(const std::string&)>& warn,
                                                  int64_t context_length) const {
  if (context_length < 2) throw std::invalid_argument("CLIP tokenizer: context length must be at least 2");
  std::vector<int64_t> content = encode(prompt);
  const auto keep = static_cast<std::size_t>(context_length - 2);
  if (content.size() > keep) {
    if (warn)
      warn("CLIP prompt has " + std::to_string(content.size()) + " tokens; the last " +
           std::to_string(content.size() - keep) + " were dropped (limit " + std::to_string(keep) + ")");
    content.resize(keep);
  }
  std::vector<int64_t> ids{bos_id_};
  ids.insert(ids.end(), content.begin(), content.end());
  ids.resize(static_cast<std::size_t>(context_length), eos_id_);
  return ids;
}

}  // namespace genplug::flux::text
