// The mini model's tokenizers: word-level vocabularies in the FLUX plugin's formats, so the plugin's own T5
// (SentencePiece unigram, spiece.model) and CLIP (byte-level BPE, vocab.json + merges.txt) tokenizers read them.
//
// Every word a prompt_of() sentence can hold, and the comma, is exactly one token in both; other lowercase text
// still tokenizes (T5: single-letter pieces, CLIP: the 256 byte symbols). Output is byte-identical on every run.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace genplug::mini {

// Every word prompt_of() can produce, and ",": sorted, unique.
std::vector<std::string> grammar_words();

// A unigram SentencePiece ModelProto (protobuf wire format): <pad> 0, </s> 1, <unk> 2 as T5 has them, then
// "▁word" per grammar word, ",", and the fallback pieces "▁" and a-z.
std::string sentencepiece_model_bytes();

// folder/vocab.json and folder/merges.txt: the 256 byte symbols, the same with "</w>", one token per merge,
// then <|startoftext|> and <|endoftext|> (the highest id: CLIP pools at argmax(ids)).
void write_clip_tokenizer(const std::filesystem::path& folder);

// folder/spiece.model, folder/vocab.json and folder/merges.txt (the folder is created if needed).
void write_mini_tokenizers(const std::filesystem::path& folder);

}  // namespace genplug::mini
