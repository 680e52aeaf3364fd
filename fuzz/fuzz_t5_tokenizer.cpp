// libFuzzer target: the T5 SentencePiece tokenizer (normaliser with a precompiled charsmap, unigram Viterbi,
// EOS and padding, decode) on arbitrary bytes.
//
// Model, loaded once: $GENPLUG_FUZZ_SPIECE_MODEL, else fuzz/corpus/sentencepiece_model/trained-charsmap (a
// unigram model trained by libsentencepiece with T5's special ids and a small custom normalisation table, made
// by fuzz/make_seeds.cpp), else the hand-written model of tests/text/tiny_text_files.hpp.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

#include <genplug/flux/text/t5_tokenizer.hpp>

#include "fuzz_support.hpp"
#include "tiny_text_files.hpp"  // tests/text: the hand-written model

namespace fs = std::filesystem;
namespace gt = genplug::flux::text;
namespace gf = genplug::fuzz;

namespace {

const gt::T5Tokenizer* tokenizer = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  static gf::ScratchDir scratch;
  fs::path path = gf::env_path("GENPLUG_FUZZ_SPIECE_MODEL",
                               GENPLUG_SOURCE_DIR "/fuzz/corpus/sentencepiece_model/trained-charsmap");
  if (!fs::exists(path)) {
    path = scratch.path() / "spiece.model";
    std::ofstream(path, std::ios::binary) << genplug::test::tiny_text_detail::sentencepiece_model();
  }
  std::fprintf(stderr, "fuzz_t5_tokenizer: model %s\n", path.c_str());
  tokenizer = new gt::T5Tokenizer(gt::T5Tokenizer::load(path));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string prompt(reinterpret_cast<const char*>(data), size);
  try {
    const auto ids = tokenizer->encode(prompt);
    for (int64_t id : ids)
      if (id < 0 || id >= tokenizer->vocab_size()) __builtin_trap();
    (void)tokenizer->decode(ids);
    const auto padded = tokenizer->encode_padded(prompt, 16, [](const std::string&) {});
    if (padded.size() != 16) __builtin_trap();
    (void)tokenizer->decode(padded);
    if (tokenizer->encode_padded(prompt, 1, nullptr) != std::vector<int64_t>{tokenizer->eos_id()}) __builtin_trap();
  } catch (const std::invalid_argument&) {  // invalid UTF-8, the documented refusal
  } catch (const std::exception& e) {
    gf::finding("t5_tokenizer", std::string("unexpected exception: ") + e.what(), data, size);
  }
  return 0;
}
