#include <genplug/flux/text/t5_tokenizer.hpp>

#include <stdexcept>

#include <genplug/flux/text/sentencepiece_model.hpp>
#include <genplug/flux/text/unicode_text.hpp>

namespace genplug::flux::text {

struct T5Tokenizer::Processor {
  SentencePieceModel model;
};

T5Tokenizer::T5Tokenizer(std::unique_ptr<Processor> processor) : processor_(std::move(processor)) {
  const auto& m = processor_->model;
  // T5's spiece.model defines </s> = 1 and <pad> = 0; a model without an end piece cannot give the T5 layout.
  eos_id_ = m.eos_id();
  if (eos_id_ < 0) throw std::runtime_error("T5 tokenizer: SentencePiece model has no EOS piece");
  pad_id_ = m.pad_id() >= 0 ? m.pad_id() : 0;
}

T5Tokenizer::T5Tokenizer(T5Tokenizer&&) noexcept = default;
T5Tokenizer& T5Tokenizer::operator=(T5Tokenizer&&) noexcept = default;
T5Tokenizer::~T5Tokenizer() = default;

T5Tokenizer T5Tokenizer::load(const std::filesystem::path& spiece_model) {
  return T5Tokenizer(std::make_unique<Processor>(Processor{SentencePieceModel::load(spiece_model)}));
}

int64_t T5Tokenizer::vocab_size() const { return processor_->model.piece_count(); }

namespace {

void require_utf8(const std::string& prompt) {
  std::size_t bad = 0;
  if (!is_valid_utf8(prompt, &bad))
    throw std::invalid_argument("prompt is not valid UTF-8 (invalid byte sequence at byte offset " +
                                std::to_string(bad) + ")");
}

}  // namespace

std::string T5Tokenizer::normalize(const std::string& prompt) const {
  require_utf8(prompt);
  return processor_->model.normalize(prompt);
}

std::string T5Tokenizer::piece(int64_t id) const {
  if (id < 0 || id >= processor_->model.piece_count()) return {};
  return processor_->model.piece(static_cast<int>(id)).text;
}

std::vector<int64_t> T5Tokenizer::encode(const std::string& prompt) const {
  require_utf8(prompt);
  const std::vector<int> ids = processor_->model.encode(prompt);
  return std::vector<int64_t>(ids.begin(), ids.end());
}

std::vector<int64_t> T5Tokenizer::encode_padded(const std::string& prompt, int64_t max_length,
                                                const std::function<void(const std::string&)>& warn) const {
  if (max_length < 1) throw std::invalid_argument("T5 tokenizer: max_length must be at least 1");
  std::vector<int64_t> ids = encode(prompt);
  const auto keep = static_cast<std::size_t>(max_length - 1);
  if (ids.size() > keep) {
    if (warn)
      warn("T5 prompt has " + std::to_string(ids.size()) + " tokens; the last " + std::to_string(ids.size() - keep) +
           " were dropped (max_length " + std::to_string(max_length) + " includes the end token)");
    ids.resize(keep);
  }
  ids.push_back(eos_id_);
  ids.resize(static_cast<std::size_t>(max_length), pad_id_);
  return ids;
}

std::string T5Tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> kept;
  for (int64_t id : ids)
    if (id != eos_id_ && id != pad_id_) kept.push_back(static_cast<int>(id));
  return processor_->model.decode(kept);
}

}  // namespace genplug::flux::text
