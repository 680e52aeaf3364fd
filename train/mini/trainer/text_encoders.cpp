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

namespace {

// Words away (memory - context) that head h of the `windows` encoder reads.
bool in_window(int64_t head, int64_t offset) {
  switch (head) {
    case 0: return offset >= 1 && offset <= 5;
    case 1: return offset >= -5 && offset <= -1;
    case 2: return offset >= 1 && offset <= 2;
    default: return offset >= -2 && offset <= -1;
  }
}

// Relative position bias [buckets, heads]: 0 inside a head's window, -20 (a weight of e^-20) outside. Windows lie
// within the exact buckets (|offset| < 8), so no bucket holds offsets on both sides of a window's edge.
torch::Tensor window_bias(const flux::text::T5Config& c) {
  const torch::Tensor offsets = torch::arange(-int64_t(kTextTokens) + 1, kTextTokens, torch::kLong);
  const torch::Tensor buckets = flux::text::T5Encoder::relative_position_bucket(offsets, c.num_buckets, c.max_distance);
  torch::Tensor bias = torch::full({c.num_buckets, c.num_heads}, -20.0f);
  for (int64_t i = 0; i < offsets.size(0); ++i)
    for (int64_t h = 0; h < c.num_heads; ++h)
      if (in_window(h, offsets[i].item<int64_t>())) bias[buckets[i].item<int64_t>()][h] = 0.0f;
  return bias;
}

}  // namespace

flux::text::TextWeights mini_t5_weights(int64_t vocab_size, std::uint64_t seed, T5Attention attention) {
  const flux::text::T5Config c = t5_config(vocab_size);
  flux::text::TextWeights w = flux::text::T5Encoder::random_weights(c, seed);
  if (attention == T5Attention::content) return w;
  if (c.num_heads != 4) throw std::logic_error("mini T5: the window encoder has 4 heads");
  for (auto& [name, tensor] : w.tensors) {
    const bool query_or_key = name.find("SelfAttention.q.") != std::string::npos ||
                              name.find("SelfAttention.k.") != std::string::npos;
    if (query_or_key) tensor.mul_(0.1);
  }
  w.tensors.at("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight") = window_bias(c);
  return w;
}

void write_text_encoders(const flux::MiniModelFiles& files, std::uint64_t seed, T5Attention attention) {
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
  save_tensors(files.t5(), mini_t5_weights(t5_vocab, seed, attention).tensors, meta);
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

TrainableT5::TrainableT5(const flux::MiniModelFiles& files, std::uint64_t seed, T5Attention attention)
    : tokenizer_(std::make_unique<flux::text::T5Tokenizer>(flux::text::T5Tokenizer::load(files.t5_tokenizer()))) {
  flux::text::TextWeights w = mini_t5_weights(tokenizer_->vocab_size(), seed, attention);
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
