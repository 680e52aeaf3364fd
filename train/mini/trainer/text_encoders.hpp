// The mini model's text path: word-level tokenizers over the scene grammar and T5-/CLIP-shaped encoders whose
// random weights stay frozen (a random embedding per word already tells the 35 words apart; the transformer's
// txt_in and text stream learn the rest). Prompts are encoded by the plugin's own TextConditioner over the
// written files, so training sees exactly the conditioning inference computes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <genplug/flux/mini_model_files.hpp>
#include <genplug/flux/text_conditioner.hpp>

namespace genplug::mini {

// Writes tokenizer_2/spiece.model, tokenizer/{vocab.json,merges.txt} and both encoders' weights (drawn from
// `seed`) into the model folder.
void write_text_encoders(const flux::MiniModelFiles& files, std::uint64_t seed);

// Prompts -> conditioning batch: txt [B, 32, 128], vec [B, 64], float32 on the CPU.
class PromptEncoder {
 public:
  explicit PromptEncoder(const flux::MiniModelFiles& files);
  flux::TextConditioning encode(const std::vector<std::string>& prompts);

 private:
  std::unique_ptr<flux::TextConditioner> conditioner_;
};

}  // namespace genplug::mini
