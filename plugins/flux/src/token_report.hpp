// What FLUX's two tokenizers make of a prompt (the tokenize extension of org.genplug.flux.inspect, used by
// `genplug encode --show-tokens`): for CLIP the cleaned text (ftfy, HTML unescaping, whitespace, lower case), for
// T5 the SentencePiece-normalised text, and for each the ids with their special tokens and the piece of every
// id. Torch-free: it runs in the inspector library.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace genplug::flux {

// `text_config`: the keys of the FLUX plugin's config.text that name tokenizers ("clip_tokenizer",
// "t5_tokenizer", or "clip" / "t5" whose default tokenizer locations docs/text.md gives) and "max_length".
// Throws genplug::ConfigError (no tokenizer named), genplug::Error(GENPLUG_E_IO) (tokenizer file missing or
// corrupt), genplug::InvalidArgument (prompt not UTF-8).
nlohmann::json token_report(const nlohmann::json& text_config, const std::string& prompt);

}  // namespace genplug::flux
