#include "text_encoders.hpp"

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include <genplug/flux/text/clip_tokenizer.hpp>
#include <genplug/flux/text/t5_tokenizer.hpp>

#include "mini_architecture.hpp"
#include "mini_tokenizers.hpp"
#include "optimizer_schedule.hpp"
#include "weights_io.hpp"

namespace genplug::mini {

namespace fs = std::filesystem;

void write_text_encoders(const flux::MiniModelFiles& files, std::uint64_t seed) {
  fs::create_directories(files.t5_tokenizer().parent_path());
  {
    std::ofstream out(files.t5_tokenizer(), std::ios::binary);
    out << sentencepiece_model_bytes();
    if (!out) throw std::runtime_error("cannot write " + files.t5_tokenizer().string());
  }
  fs::create_directories(files.clip_tokenizer());
  write_clip_tokenizer(files.clip_tokenizer());

  // Vocabulary sizes as the plugin's tokenizers read them back.
  const int64_t t5_vocab = flux::text::T5Tokenizer::load(files.t5_tokenizer()).vocab_size();
  const int64_t clip_vocab = flux::text::ClipTokenizer::load(files.clip_tokenizer()).vocab_size();
  const std::map<std::string, std::string> meta{{"format", "pt"}, {"genplug.model", "mini"}};
  save_tensors(files.t5(), flux::text::T5Encoder::random_weights(t5_config(t5_vocab), seed).tensors, meta);
  save_tensors(files.clip(), flux::text::ClipTextModel::random_weights(clip_config(clip_vocab), seed + 1).tensors, meta);
}

PromptEncoder::PromptEncoder(const flux::MiniModelFiles& files) {
  const auto config = transformer_config();
  conditioner_ = flux::TextConditioner::create(files.text_config(), config.context_in_dim, config.vec_in_dim,
                                               torch::kCPU, torch::kFloat32, [](const std::string& warning) {
                                                 throw std::runtime_error("text encoder: " + warning);
                                               });
}

flux::TextConditioning PromptEncoder::encode(const std::vector<std::string>& prompts) {
  std::vector<torch::Tensor> txt, vec;
  for (const std::string& prompt : prompts) {
    flux::TextConditioning c = conditioner_->encode(prompt);
    txt.push_back(c.txt);
    vec.push_back(c.vec);
  }
  return {torch::cat(txt).detach(), torch::cat(vec).detach()};
}

TrainableT5::TrainableT5(const flux::MiniModelFiles& files, std::uint64_t seed)
    : tokenizer_(std::make_unique<flux::text::T5Tokenizer>(flux::text::T5Tokenizer::load(files.t5_tokenizer()))) {
  flux::text::TextWeights w = flux::text::T5Encoder::random_weights(t5_config(tokenizer_->vocab_size()), seed);
  for (auto& [name, tensor] : w.tensors) {
    tensor.requires_grad_(true);
    weights_.emplace(name, tensor);
    average_.emplace(name, tensor.detach().clone());
    const bool seen = std::any_of(parameters_.begin(), parameters_.end(),
                                  [&](const torch::Tensor& p) { return p.is_same(tensor); });
    if (!seen) parameters_.push_back(tensor);
  }
  encoder_ = std::make_unique<flux::text::T5Encoder>(flux::text::T5Encoder::from_weights(std::move(w)));
}

torch::Tensor TrainableT5::ids(const std::vector<std::string>& prompts) const {
  std::vector<torch::Tensor> rows;
  const auto warn = [](const std::string& w) { throw std::runtime_error("T5 tokenizer: " + w); };
  for (const std::string& prompt : prompts)
    rows.push_back(torch::tensor(tokenizer_->encode_padded(prompt, kTextTokens, warn), torch::kLong));
  return torch::stack(rows);
}

torch::Tensor TrainableT5::forward(const torch::Tensor& ids) const { return encoder_->forward(ids); }

void TrainableT5::update_average(double decay) { update_moving_average(average_, weights_, decay); }

}  // namespace genplug::mini
