// libFuzzer target: the CLIP BPE tokenizer (clean-up, pre-split, byte-level BPE, padding) on arbitrary bytes.
//
// Vocabulary, loaded once: $GENPLUG_FUZZ_CLIP_VOCAB (a bpe_simple_vocab_16e6.txt.gz, a vocab.json or a folder
// with vocab.json + merges.txt); else OpenAI's bpe_simple_vocab_16e6.txt.gz where the tests find it
// ($GENPLUG_GOLDEN_DIR/tokenizers, tests/golden/tokenizers, ../shared/golden/tokenizers); else the mini model's
// vocab.json + merges.txt (all 256 byte units, 115 merges: models/mini/tokenizer, always in the tree).
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include <genplug/flux/text/clip_tokenizer.hpp>

#include "fuzz_support.hpp"

namespace fs = std::filesystem;
namespace gt = genplug::flux::text;
namespace gf = genplug::fuzz;

namespace {

const gt::ClipTokenizer* tokenizer = nullptr;
int64_t vocab_size = 0;

void check_ids(const std::vector<int64_t>& ids) {
  for (int64_t id : ids)
    if (id < 0 || id >= vocab_size) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fs::path path = gf::env_path("GENPLUG_FUZZ_CLIP_VOCAB", {});
  const fs::path golden = gf::env_path("GENPLUG_GOLDEN_DIR", GENPLUG_SOURCE_DIR "/tests/golden");
  const fs::path shared = GENPLUG_SOURCE_DIR "/../shared/golden";
  for (const fs::path& candidate : {golden / "tokenizers/bpe_simple_vocab_16e6.txt.gz",
                                    shared / "tokenizers/bpe_simple_vocab_16e6.txt.gz"})
    if (path.empty() && fs::exists(candidate)) path = candidate;
  if (path.empty()) path = GENPLUG_SOURCE_DIR "/models/mini/tokenizer";  // a clone without ../shared
  std::fprintf(stderr, "fuzz_clip_tokenizer: vocabulary %s\n", path.c_str());
  tokenizer = new gt::ClipTokenizer(gt::ClipTokenizer::load(path));
  vocab_size = tokenizer->vocab_size();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string prompt(reinterpret_cast<const char*>(data), size);
  try {
    check_ids(tokenizer->encode(prompt));
    std::size_t warnings = 0;
    const auto padded = tokenizer->encode_padded(prompt, [&](const std::string&) { ++warnings; });
    if (padded.size() != gt::ClipTokenizer::kContextLength || padded.front() != tokenizer->bos_id()) __builtin_trap();
    check_ids(padded);
    if (tokenizer->encode_padded(prompt, nullptr, 2).size() != 2) __builtin_trap();
  } catch (const std::invalid_argument&) {  // invalid UTF-8, the documented refusal
  } catch (const std::exception& e) {
    gf::finding("clip_tokenizer", std::string("unexpected exception: ") + e.what(), data, size);
  }
  return 0;
}
