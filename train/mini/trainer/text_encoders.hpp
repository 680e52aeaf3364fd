// The mini model's text path: word-level tokenizers over the scene grammar and T5-/CLIP-shaped encoders whose
// random weights stay frozen (a random embedding per word already tells the 35 words apart; the transformer's
// txt_in and text stream learn the rest). Prompts are encoded by the plugin's own TextConditioner over the
// written files, so training sees exactly the conditioning inference computes.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <genplug/flux/mini_model_files.hpp>
#include <genplug/flux/text/t5_encoder.hpp>
#include <genplug/flux/text/t5_tokenizer.hpp>
#include <genplug/flux/text_conditioner.hpp>

namespace genplug::mini {

// What the T5 encoder's heads read. `content`: the plugin's random weights as drawn. Their attention logits
// (q.k over 32 dimensions, std ~5.7) drown the relative position bias (std 0.5), so each word reads the words
// most like it wherever they stand: the prompt reaches the transformer close to a bag of words, in which "a red
// circle at the top and a blue square at the bottom" and the same with the colours swapped look alike.
// `windows`: the same draw with q and k scaled by 0.1 and the bias set so that the 4 heads read fixed windows
// of neighbours (+1..+5, -5..-1, +1..+2, -2..-1 words away), so each word's output carries its own phrase:
// "red" the kind and place that follow it, "left" the colour and kind before it.
enum class T5Attention { content, windows };
flux::text::TextWeights mini_t5_weights(int64_t vocab_size, std::uint64_t seed, T5Attention attention);

// Writes tokenizer_2/spiece.model, tokenizer/{vocab.json,merges.txt} and both encoders' weights (drawn from
// `seed`) into the model folder.
void write_text_encoders(const flux::MiniModelFiles& files, std::uint64_t seed, T5Attention attention);

// Prompts -> conditioning batch: txt [B, 32, 128], vec [B, 64], float32 on the CPU.
class PromptEncoder {
 public:
  explicit PromptEncoder(const flux::MiniModelFiles& files);
  flux::TextConditioning encode(const std::vector<std::string>& prompts);

 private:
  std::unique_ptr<flux::TextConditioner> conditioner_;
};

// The T5 encoder fine-tuned with the transformer (--text-rate). FLUX gives every text token the rotary position
// (0, 0, 0), so the transformer sees the prompt as a set: which colour word goes with which shape and place
// can only come from T5's contextualisation, which random frozen weights barely provide. It starts from the
// random weights write_text_encoders() draws from the same seed (not from the folder's file, which a previous
// run may have overwritten) and keeps an exponential moving average, which is what is saved.
class TrainableT5 {
 public:
  TrainableT5(const flux::MiniModelFiles& files, std::uint64_t seed, T5Attention attention);
  // Prompts -> padded token ids [B, kTextTokens], as the plugin's conditioner tokenizes them.
  torch::Tensor ids(const std::vector<std::string>& prompts) const;
  torch::Tensor forward(const torch::Tensor& ids) const;  // [B, L, d_model], recording autograd
  const std::vector<torch::Tensor>& parameters() const { return parameters_; }
  const std::map<std::string, torch::Tensor>& weights() const { return weights_; }
  void update_average(double decay);
  const std::map<std::string, torch::Tensor>& averaged_weights() const { return average_; }

 private:
  std::unique_ptr<flux::text::T5Tokenizer> tokenizer_;
  std::unique_ptr<flux::text::T5Encoder> encoder_;
  std::map<std::string, torch::Tensor> weights_, average_;
  std::vector<torch::Tensor> parameters_;  // the distinct tensors of weights_ (aliases share one)
};

}  // namespace genplug::mini
