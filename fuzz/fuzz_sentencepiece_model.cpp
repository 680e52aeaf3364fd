// libFuzzer target: the SentencePiece model reader (protobuf wire format, pieces, trainer and normaliser specs,
// the precompiled charsmap) on arbitrary bytes, through T5Tokenizer::load as the FLUX plugin opens a
// spiece.model; a model that loads then tokenizes a few fixed prompts and decodes them.
#include <cstdint>
#include <stdexcept>
#include <string>

#include <genplug/flux/text/sentencepiece_model.hpp>
#include <genplug/flux/text/t5_tokenizer.hpp>

#include "fuzz_support.hpp"

namespace gt = genplug::flux::text;
namespace gf = genplug::fuzz;

namespace {

gf::MemFile* input = nullptr;

const char* const kPrompts[] = {"a photo of the cat", "  Hello,   WORLD!  ", "caf\xC3\xA9 \xEF\xBC\xA1\xE2\x85\xA0 \xE3\x81\x8B\xE3\x82\x99",
                                "\xF0\x9F\x90\x88 x\ty\nz", ""};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  input = new gf::MemFile("spiece.model");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  input->write(data, size);
  try {
    const gt::SentencePieceModel model =
        gt::SentencePieceModel::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.model");
    for (const char* prompt : kPrompts) {
      (void)model.normalize(prompt);
      const std::vector<int> ids = model.encode(prompt);
      for (int id : ids)
        if (id < 0 || id >= model.piece_count()) __builtin_trap();
      (void)model.decode(ids);
    }
    const gt::T5Tokenizer tokenizer = gt::T5Tokenizer::load(input->path());
    for (const char* prompt : kPrompts) {
      const auto ids = tokenizer.encode_padded(prompt, 8, nullptr);
      if (ids.size() != 8) __builtin_trap();
      (void)tokenizer.decode(ids);
    }
  } catch (const std::runtime_error&) {  // not a (supported) SentencePiece model: the documented refusal
  } catch (const std::exception& e) {
    gf::finding("sentencepiece_model", std::string("unexpected exception: ") + e.what(), data, size);
  }
  return 0;
}
