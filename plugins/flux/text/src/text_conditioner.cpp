// TextConditioner: config parsing, lazy loading of tokenizers + encoders, prompt -> (txt, vec); the
// precomputed conditioning file.
#include <genplug/flux/text_conditioner.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include <genplug/flux/text/byte_tokenizer.hpp>
#include <genplug/flux/text/clip_text_model.hpp>
#include <genplug/flux/text/clip_tokenizer.hpp>
#include <genplug/flux/text/t5_encoder.hpp>
#include <genplug/flux/text/t5_tokenizer.hpp>
#include <genplug/flux/text/unicode_text.hpp>
#include <genplug/safetensors.hpp>
#include <genplug/internal/bounded_json.hpp>
#include <genplug/internal/regular_file.hpp>

namespace genplug::flux {

namespace fs = std::filesystem;
namespace st = genplug::safetensors;

namespace {

constexpr int64_t kRandomWidth = 32;  // tiny random encoders' own width (a fixed projection maps it to the dims)
// T5 tokens at most, as `genplug encode --max-length` allows: a billion would be refused only by the allocator.
constexpr int64_t kMaxLength = int64_t{1} << 20;

std::string config_error(const std::string& what) { return "text config: " + what; }

// "a, b, c".
template <size_t N>
std::string comma_list(const char* const (&words)[N]) {
  std::string text;
  for (const char* w : words) text += (text.empty() ? "" : ", ") + std::string(w);
  return text;
}

std::string string_field(const nlohmann::json& c, const char* key) {
  if (!c.contains(key) || c[key].is_null()) return {};
  if (!c[key].is_string()) throw std::invalid_argument(config_error(std::string("\"") + key + "\" must be a string"));
  return c[key].get<std::string>();
}

torch::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16") return torch::kFloat16;
  throw std::invalid_argument(config_error("\"text_dtype\" must be float32, bfloat16 or float16, not \"" + name + "\""));
}

// libtorch 1.13 has no float16 matrix products on the CPU ("addmm_impl_cpu_" not implemented for 'Half'); later
// versions add them. Asked of libtorch with a 1 x 1 product rather than read from its version.
bool has_matrix_products(torch::Device device, torch::ScalarType dtype) {
  try {
    const torch::Tensor one = torch::ones({1, 1}, torch::TensorOptions().device(device).dtype(dtype));
    torch::addmm(one, one, one);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// An integer in [1, kMaxLength] (a JSON number above 2^63 reads as unsigned).
bool is_token_count(const nlohmann::json& n) {
  if (n.is_number_unsigned()) return n.get<uint64_t>() >= 1 && n.get<uint64_t>() <= uint64_t(kMaxLength);
  return n.is_number_integer() && n.get<int64_t>() >= 1 && n.get<int64_t>() <= kMaxLength;
}

// The device and dtype the encoders run in, checked now rather than at the first prompt.
// The text config's name of a dtype.
const char* text_dtype_name(torch::ScalarType t) {
  return t == torch::kBFloat16 ? "bfloat16" : t == torch::kFloat16 ? "float16" : "float32";
}

void check_text_device(torch::Device device, torch::ScalarType dtype, const std::string& dtype_name) {
  if (!device.is_cpu() && !device.is_cuda())  // mps, xla, meta, ...: libtorch parses them, the encoders do not run there
    throw std::invalid_argument(config_error("\"text_device\": '" + device.str() + "' is not one of cpu, cuda, cuda:N"));
  if (device.is_cuda() && !at::hasCUDA())
    throw TextDeviceUnavailable(config_error("\"text_device\": '" + device.str() +
                                             "' requested but this libtorch has no CUDA device"));
  if (device.is_cpu() && dtype != torch::kFloat32 && !has_matrix_products(device, dtype))
    throw std::invalid_argument(config_error("\"text_dtype\": this libtorch has no " + dtype_name +
                                             " matrix products on the CPU; use bfloat16 or float32"));
}

// "random": true, false or {"seed": N, "max_length": T}; an unknown key is refused, as at the top level.
void read_random_options(const nlohmann::json& random, uint64_t& seed, int64_t& max_length) {
  if (!random.is_object()) return;
  for (const auto& item : random.items())
    if (item.key() != "seed" && item.key() != "max_length")
      throw std::invalid_argument(config_error("unknown key \"random." + item.key() + "\" (allowed: seed, max_length)"));
  if (random.contains("seed")) {
    const nlohmann::json& n = random["seed"];
    if (!n.is_number_integer() || (!n.is_number_unsigned() && n.get<int64_t>() < 0))
      throw std::invalid_argument(config_error("\"random.seed\" must be an integer >= 0"));
    seed = n.get<uint64_t>();
  }
  if (random.contains("max_length")) {
    if (!is_token_count(random["max_length"]))
      throw std::invalid_argument(config_error("\"random.max_length\" must be an integer in [1, " +
                                               std::to_string(kMaxLength) + "]"));
    max_length = random["max_length"].get<int64_t>();
  }
}

// The first existing candidate, else empty.
fs::path first_existing(std::initializer_list<fs::path> candidates) {
  for (const auto& p : candidates)
    if (!p.empty() && fs::exists(p)) return p;
  return {};
}

void require_exists(const fs::path& p, const std::string& key) {
  if (!fs::exists(p)) throw std::invalid_argument(config_error("\"" + key + "\": '" + p.string() + "' does not exist"));
}

// An integer from a diffusers/transformers folder's config.json, else `fallback`.
int64_t config_json_int(const fs::path& weights, const char* key, int64_t fallback) {
  const fs::path path = weights / "config.json";
  if (!fs::is_directory(weights) || !fs::exists(path)) return fallback;
  std::string text;
  try {  // a regular file only: a FIFO would block
    text = genplug::internal::read_regular_file(path, std::uintmax_t(16) << 20);
  } catch (const genplug::internal::UnreadableFile& e) {
    throw std::runtime_error("'" + path.string() + "' " + e.what());
  }
  try {
    const nlohmann::json j = genplug::internal::parse_bounded_json(text);
    return j.is_object() ? j.value(key, fallback) : fallback;
  } catch (const std::exception& e) {
    throw std::runtime_error("'" + path.string() + "' is not valid JSON: " + genplug::internal::json_error_text(e));
  }
}

torch::Tensor ids_tensor(const std::vector<int64_t>& ids) {
  return torch::tensor(ids, torch::TensorOptions().dtype(torch::kLong)).unsqueeze(0);
}

}  // namespace

struct TextConditioner::Impl {
  // Configuration (validated by create()).
  int64_t context_dim = 0, vec_dim = 0, max_length = 512;
  torch::Device device{torch::kCPU}, text_device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32, text_dtype = torch::kFloat32;
  TextWarning warn;
  TextBeforeLoad before_load;  // told before each encoder loads on the CPU
  bool random = false;
  bool keep_loaded = true;  // false: release_unless_kept() unloads after each prompt's conditioning
  uint64_t seed = 0;
  fs::path t5_path, t5_tokenizer_path, clip_path, clip_tokenizer_path;
  int64_t clip_num_heads = 0;  // 0: the folder's config.json, else 64-wide heads (CLIP-L: 12)

  // Loaded on the first encode().
  std::optional<text::T5Tokenizer> t5_tokenizer;
  std::optional<text::ClipTokenizer> clip_tokenizer;
  std::optional<text::T5Encoder> t5;
  std::optional<text::ClipTextModel> clip;
  torch::Tensor txt_projection, vec_projection;  // random mode only

  // The last prompts' conditioning, most recent first, and what the tokenizers warned about each: a refine pass,
  // the next image of the same prompt and the negative prompt beside it are not encoded again (nor, with
  // "keep_loaded": false, the encoders loaded again). Two: an image with true CFG encodes its prompt and the
  // negative one. The warnings are given again with each.
  struct Encoded {
    std::string prompt;
    TextConditioning c;
    std::vector<std::string> warnings;
  };
  static constexpr std::size_t kRemembered = 2;
  std::deque<Encoded> recent;

  bool loaded() const { return t5.has_value(); }
  void load();
  void load_random();
  void check_vocabularies() const;
  TextConditioning encode(const std::string& prompt);
  TextConditioning remembered(const std::string& prompt);
};

void TextConditioner::Impl::load_random() {
  text::T5Config t5c;
  t5c.vocab_size = text::ByteTokenizer::kVocabSize;
  t5c.d_model = kRandomWidth, t5c.d_kv = 8, t5c.num_heads = 4, t5c.d_ff = 64, t5c.num_layers = 1;
  t5.emplace(text::T5Encoder::random(t5c, seed, text_device, text_dtype));
  text::ClipTextConfig cc;
  cc.vocab_size = text::ByteTokenizer::kClipVocabSize;
  cc.hidden_size = kRandomWidth, cc.intermediate_size = 64, cc.num_layers = 1, cc.num_heads = 4;
  clip.emplace(text::ClipTextModel::random(cc, seed + 1, text_device, text_dtype));
  auto gen = at::detail::createCPUGenerator(seed + 2);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const double scale = 1.0 / std::sqrt(static_cast<double>(kRandomWidth));
  txt_projection = (torch::randn({context_dim, kRandomWidth}, gen, f32) * scale).to(text_device, text_dtype);
  vec_projection = (torch::randn({vec_dim, kRandomWidth}, gen, f32) * scale).to(text_device, text_dtype);
}

void TextConditioner::Impl::load() {
  if (loaded()) return;
  if (random) return load_random();
  // Tokenizers first: they are small and their errors are the commonest.
  t5_tokenizer.emplace(text::T5Tokenizer::load(t5_tokenizer_path));
  clip_tokenizer.emplace(text::ClipTokenizer::load(clip_tokenizer_path));
  // transformers keeps T5's wo in float32 for float16 weights (_keep_in_fp32_modules).
  const std::vector<std::string> keep = text_dtype == torch::kFloat16
                                            ? std::vector<std::string>{"DenseReluDense.wo.weight"}
                                            : std::vector<std::string>{};
  const int64_t heads = clip_num_heads > 0 ? clip_num_heads : config_json_int(clip_path, "num_attention_heads", 0);
  auto told = [&](const std::string& what, const fs::path& file) -> text::BeforeTextLoad {
    if (!before_load || !text_device.is_cpu()) return {};
    return [this, what, file](const text::TextLoadBytes& b) {
      before_load(what, file, text_dtype_name(text_dtype), b.held, b.temporary);
    };
  };
  clip.emplace(text::ClipTextModel::from_weights(
      text::load_text_weights(clip_path, "text_model.final_layer_norm.weight", "CLIP text encoder", text_device,
                              text_dtype, {}, told("CLIP text encoder", clip_path)),
      heads));
  try {  // nothing stays loaded when T5 cannot be (its load refused, its file unreadable) or does not fit
    t5.emplace(text::T5Encoder::from_weights(
        text::load_text_weights(t5_path, "encoder.final_layer_norm.weight", "T5 encoder", text_device, text_dtype,
                                keep, told("T5 encoder", t5_path)),
        config_json_int(t5_path, "relative_attention_max_distance", 128)));
    check_vocabularies();
  } catch (...) {
    t5.reset(), clip.reset();
    throw;
  }
}

void TextConditioner::Impl::check_vocabularies() const {
  if (t5_tokenizer->vocab_size() > t5->config().vocab_size)
    throw std::runtime_error("T5 tokenizer '" + t5_tokenizer_path.string() + "' has " +
                             std::to_string(t5_tokenizer->vocab_size()) + " pieces but the encoder '" +
                             t5_path.string() + "' embeds only " + std::to_string(t5->config().vocab_size) +
                             " tokens: tokenizer and encoder do not belong together");
  if (clip_tokenizer->vocab_size() != clip->config().vocab_size)
    throw std::runtime_error("CLIP tokenizer '" + clip_tokenizer_path.string() + "' has " +
                             std::to_string(clip_tokenizer->vocab_size()) + " tokens but the encoder '" +
                             clip_path.string() + "' embeds " + std::to_string(clip->config().vocab_size) +
                             ": tokenizer and encoder do not belong together");
  if (clip->config().max_positions < text::ClipTokenizer::kContextLength)
    throw std::runtime_error("CLIP encoder '" + clip_path.string() + "' has " +
                             std::to_string(clip->config().max_positions) + " positions, 77 are needed");
  // Encoders that do not fit the transformer are the config's fault (invalid_argument), both named at once.
  std::string widths;
  if (t5->config().d_model != context_dim)
    widths = "T5 encoder '" + t5_path.string() + "' is " + std::to_string(t5->config().d_model) +
             " wide but the transformer expects context_in_dim " + std::to_string(context_dim);
  if (clip->config().hidden_size != vec_dim)
    widths += (widths.empty() ? "" : "; ") + std::string("CLIP encoder '") + clip_path.string() + "' is " +
              std::to_string(clip->config().hidden_size) + " wide but the transformer expects vec_in_dim " +
              std::to_string(vec_dim);
  if (!widths.empty()) throw std::invalid_argument(widths);
}

TextConditioning TextConditioner::Impl::encode(const std::string& prompt) {
  std::size_t bad = 0;
  if (!text::is_valid_utf8(prompt, &bad))
    throw std::invalid_argument("prompt is not valid UTF-8 (invalid byte sequence at byte offset " +
                                std::to_string(bad) + ")");
  load();
  torch::NoGradGuard no_grad;
  torch::Tensor txt, vec;
  if (random) {
    const auto t5_ids = text::ByteTokenizer::encode_t5_layout(prompt, max_length);
    txt = torch::linear(t5->forward(ids_tensor(t5_ids)), txt_projection);
    const auto clip_ids = text::ByteTokenizer::encode_clip_layout(prompt, text::ClipTokenizer::kContextLength);
    vec = torch::linear(clip->forward(ids_tensor(clip_ids)).pooled, vec_projection);
  } else {
    txt = t5->forward(ids_tensor(t5_tokenizer->encode_padded(prompt, max_length, warn)));
    vec = clip->forward(ids_tensor(clip_tokenizer->encode_padded(prompt, warn))).pooled;
  }
  return {txt.to(device, dtype).contiguous(), vec.to(device, dtype).contiguous()};
}

TextConditioning TextConditioner::Impl::remembered(const std::string& prompt) {
  auto hit = std::find_if(recent.begin(), recent.end(), [&](const Encoded& e) { return e.prompt == prompt; });
  if (hit != recent.end()) {
    Encoded e = std::move(*hit);
    recent.erase(hit);
    if (warn)
      for (const std::string& w : e.warnings) warn(w);
    recent.push_front(std::move(e));
  } else {
    Encoded e{prompt, {}, {}};
    const TextWarning live = warn;
    warn = [&](const std::string& w) {
      e.warnings.push_back(w);
      if (live) live(w);
    };
    struct Restore {
      TextWarning& warn;
      const TextWarning& live;
      ~Restore() { warn = live; }
    } restore{warn, live};
    e.c = encode(prompt);
    recent.push_front(std::move(e));
    if (recent.size() > kRemembered) recent.pop_back();
  }
  // The caller owns what it gets (a host may write into it): never the remembered tensors.
  return {recent.front().c.txt.clone(), recent.front().c.vec.clone()};
}

TextConditioner::TextConditioner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextConditioner::~TextConditioner() = default;

std::unique_ptr<TextConditioner> TextConditioner::create(const nlohmann::json& c, int64_t context_dim, int64_t vec_dim,
                                                         torch::Device device, torch::ScalarType dtype,
                                                         TextWarning warn, TextBeforeLoad before_load) {
  if (!c.is_object()) throw std::invalid_argument(config_error("must be a JSON object"));
  if (context_dim <= 0 || vec_dim <= 0) throw std::invalid_argument(config_error("context_dim and vec_dim must be > 0"));
  // A mistyped key (t5_tokenzier) is refused: ignored, it would leave a default in its place unnoticed.
  static const char* known[] = {"t5", "t5_tokenizer", "clip", "clip_tokenizer", "max_length", "text_device",
                                "text_dtype", "random", "clip_num_heads", "keep_loaded"};
  for (const auto& item : c.items())
    if (std::none_of(std::begin(known), std::end(known), [&](const char* k) { return item.key() == k; }))
      throw std::invalid_argument(config_error("unknown key \"" + item.key() + "\" (allowed: " + comma_list(known) + ")"));

  auto impl = std::make_unique<Impl>();
  impl->context_dim = context_dim, impl->vec_dim = vec_dim;
  impl->device = device, impl->dtype = dtype, impl->warn = std::move(warn), impl->before_load = std::move(before_load);
  const std::string text_device = string_field(c, "text_device");
  try {
    impl->text_device = text_device.empty() ? device : torch::Device(text_device);
  } catch (const std::exception&) {
    throw std::invalid_argument(config_error("\"text_device\": '" + text_device + "' is not a device (cpu, cuda, cuda:1)"));
  }
  const std::string text_dtype = string_field(c, "text_dtype");
  impl->text_dtype = !text_dtype.empty() ? parse_dtype(text_dtype)
                                         : (impl->text_device.is_cpu() ? torch::kFloat32 : torch::kBFloat16);
  check_text_device(impl->text_device, impl->text_dtype, text_dtype);

  if (c.contains("keep_loaded")) {
    if (!c["keep_loaded"].is_boolean())
      throw std::invalid_argument(config_error("\"keep_loaded\" must be true or false"));
    impl->keep_loaded = c["keep_loaded"].get<bool>();
  }
  const nlohmann::json random = c.value("random", nlohmann::json(false));
  impl->random = random.is_object() || (random.is_boolean() && random.get<bool>());
  if (!random.is_object() && !random.is_boolean())
    throw std::invalid_argument(config_error("\"random\" must be true/false or {\"seed\": N, \"max_length\": T}"));
  impl->max_length = impl->random ? 64 : 512;
  read_random_options(random, impl->seed, impl->max_length);
  if (c.contains("max_length")) {
    if (!is_token_count(c["max_length"]))
      throw std::invalid_argument(config_error("\"max_length\" must be an integer in [1, " + std::to_string(kMaxLength) +
                                               "]"));
    impl->max_length = c["max_length"].get<int64_t>();
  }
  if (impl->random) return std::unique_ptr<TextConditioner>(new TextConditioner(std::move(impl)));
  if (c.contains("clip_num_heads")) {
    if (!c["clip_num_heads"].is_number_integer() || c["clip_num_heads"].get<int64_t>() < 1)
      throw std::invalid_argument(config_error("\"clip_num_heads\" must be a positive integer"));
    impl->clip_num_heads = c["clip_num_heads"].get<int64_t>();
  }

  impl->t5_path = string_field(c, "t5");
  impl->clip_path = string_field(c, "clip");
  if (impl->t5_path.empty() || impl->clip_path.empty())
    throw std::invalid_argument(config_error("needs \"t5\" and \"clip\" (weights) or \"random\": true"));
  require_exists(impl->t5_path, "t5");
  require_exists(impl->clip_path, "clip");
  // Tokenizers default to a diffusers layout next to the encoder folders.
  impl->t5_tokenizer_path = string_field(c, "t5_tokenizer");
  if (impl->t5_tokenizer_path.empty()) {
    const fs::path base = fs::is_directory(impl->t5_path) ? impl->t5_path : impl->t5_path.parent_path();
    impl->t5_tokenizer_path = first_existing({base / ".." / "tokenizer_2" / "spiece.model", base / "spiece.model"});
    if (impl->t5_tokenizer_path.empty())
      throw std::invalid_argument(config_error("\"t5_tokenizer\" (path to spiece.model) is needed: none found next to '" +
                                               impl->t5_path.string() + "'"));
  }
  require_exists(impl->t5_tokenizer_path, "t5_tokenizer");
  impl->clip_tokenizer_path = string_field(c, "clip_tokenizer");
  if (impl->clip_tokenizer_path.empty()) {
    const fs::path base = fs::is_directory(impl->clip_path) ? impl->clip_path : impl->clip_path.parent_path();
    impl->clip_tokenizer_path = first_existing({fs::exists(base / ".." / "tokenizer" / "vocab.json") ? base / ".." / "tokenizer" : fs::path(),
                                                base / "bpe_simple_vocab_16e6.txt.gz"});
    if (impl->clip_tokenizer_path.empty())
      throw std::invalid_argument(config_error(
          "\"clip_tokenizer\" (a vocab.json + merges.txt folder or bpe_simple_vocab_16e6.txt.gz) is needed: none "
          "found next to '" + impl->clip_path.string() + "'"));
  }
  require_exists(impl->clip_tokenizer_path, "clip_tokenizer");
  return std::unique_ptr<TextConditioner>(new TextConditioner(std::move(impl)));
}

TextConditioning TextConditioner::encode(const std::string& prompt) { return impl_->remembered(prompt); }
bool TextConditioner::loaded() const { return impl_->loaded(); }
bool TextConditioner::narrow_on_cpu() const {
  return impl_->text_device.is_cpu() && impl_->text_dtype != torch::kFloat32;
}
void TextConditioner::unload() {
  impl_->t5.reset(), impl_->clip.reset();
  impl_->t5_tokenizer.reset(), impl_->clip_tokenizer.reset();
}
void TextConditioner::release_unless_kept() {
  if (!impl_->keep_loaded) unload();
}

// ---- precomputed conditioning file ----

void write_conditioning_file(const fs::path& path, const TextConditioning& conditioning,
                             const std::map<std::string, std::string>& metadata) {
  if (!conditioning.txt.defined() || !conditioning.vec.defined())
    throw std::invalid_argument("conditioning file '" + path.string() + "': txt and vec are both needed");
  std::vector<st::TensorData> tensors;
  for (const auto& [name, tensor] : {std::pair<const char*, torch::Tensor>{"txt", conditioning.txt},
                                     std::pair<const char*, torch::Tensor>{"vec", conditioning.vec}}) {
    const torch::Tensor t = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    st::TensorData d;
    d.name = name;
    d.dtype = st::DType::F32;
    d.shape = t.sizes().vec();
    d.bytes.resize(static_cast<std::size_t>(t.numel()) * sizeof(float));
    if (!d.bytes.empty()) std::memcpy(d.bytes.data(), t.data_ptr<float>(), d.bytes.size());
    tensors.push_back(std::move(d));
  }
  std::map<std::string, std::string> meta = metadata;
  meta.emplace("format", "genplug.flux.conditioning/1");
  st::write_file(path, tensors, meta);
}

TextConditioning read_conditioning_file(const fs::path& path, int64_t context_dim, int64_t vec_dim,
                                        torch::Device device, torch::ScalarType dtype) {
  const std::string where = "conditioning file '" + path.string() + "'";
  if (!fs::exists(path)) throw std::runtime_error(where + " does not exist");
  std::shared_ptr<const st::File> file;
  try {
    file = st::File::open(path);
  } catch (const st::OutOfMemory&) {  // a sound file that could not be mapped: out of memory, not invalid
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error(where + " is not a valid safetensors file: " + e.what());
  }
  auto load = [&](const char* name, int64_t rank, int64_t width, const char* dim_name) {
    const st::TensorInfo* info = file->find(name);
    if (!info) throw std::runtime_error(where + " has no tensor '" + name + "'");
    if (!st::is_floating(info->dtype))
      throw std::runtime_error(where + ": tensor '" + name + "' is " + st::dtype_name(info->dtype) + ", not floating");
    std::vector<int64_t> shape = info->shape;
    if (static_cast<int64_t>(shape.size()) == rank - 1) shape.insert(shape.begin(), 1);  // batch omitted
    if (static_cast<int64_t>(shape.size()) != rank || shape[0] != 1 || shape.back() < 1)
      throw std::runtime_error(where + ": tensor '" + name + "' must be [1, " + (rank == 3 ? "T, " : "") + dim_name +
                               "]");
    if (width > 0 && shape.back() != width)
      throw std::runtime_error(where + ": tensor '" + name + "' is " + std::to_string(shape.back()) +
                               " wide, the model expects " + dim_name + " " + std::to_string(width));
    std::vector<float> values = st::to_float32(*info);
    return torch::from_blob(values.data(), shape, torch::kFloat32).clone().to(device, dtype);
  };
  TextConditioning c;
  c.txt = load("txt", 3, context_dim, "context_in_dim");
  c.vec = load("vec", 2, vec_dim, "vec_in_dim");
  return c;
}

}  // namespace genplug::flux
