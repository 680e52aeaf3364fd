// FLUX text conditioning: prompt -> (T5 token states `txt`, CLIP pooled vector `vec`), and the precomputed
// conditioning file that can replace the encoders.
#pragma once
#include <stdexcept>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

namespace genplug::flux {

// What the transformer consumes from a prompt.
struct TextConditioning {
  torch::Tensor txt;  // [1, T, context_dim]  (T5 last_hidden_state, padding rows included, as BFL)
  torch::Tensor vec;  // [1, vec_dim]         (CLIP pooled output)
};

using TextWarning = std::function<void(const std::string&)>;

// Told before an encoder's weights are loaded on the CPU (not on a GPU): which encoder ("T5 encoder", "CLIP text
// encoder"), its file, the dtype it loads as ("float32", ...), the bytes it will hold and those it needs besides
// while it loads. It may throw to refuse the load; the exception leaves encode() as it is.
using TextBeforeLoad = std::function<void(const std::string& what, const std::filesystem::path& file,
                                          const std::string& dtype, double held_bytes, double temporary_bytes)>;

// Owns the tokenizers and encoders selected by a text config (JSON object):
//   "t5":             T5 v1.1 encoder weights: a .safetensors file (ComfyUI t5xxl_fp16.safetensors, prefixed keys
//                     allowed) or a diffusers text_encoder_2/ folder (single file or sharded with index.json)
//   "t5_tokenizer":   spiece.model (default: <t5 folder>/../tokenizer_2/spiece.model when "t5" is a folder)
//   "clip":           CLIP-L text model: clip_l.safetensors or a diffusers text_encoder/ folder
//   "clip_tokenizer": a folder with vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz
//                     (default: <clip folder>/../tokenizer when "clip" is a folder)
//   "max_length":     T5 token count (512 for dev, 256 for schnell; default 512)
//   "text_device":    device the encoders run on ("cpu", "cuda", "cuda:1"; default: the transformer's device)
//   "text_dtype":     "float32" | "bfloat16" | "float16" (default float32 on CPU, bfloat16 on CUDA)
//   "clip_num_heads": CLIP attention heads when the weights have no config.json beside them (default: 64-wide
//                     heads, i.e. 12 for CLIP-L)
//   "random":         true or {"seed": N, "max_length": T}: tiny random encoders with a byte-level tokenizer whose
//                     outputs have context_dim / vec_dim (demo and tests; no files needed)
// Encoders and tokenizers load lazily on the first encode(); create() only validates the config, and throws
// std::invalid_argument for a bad field (naming it), TextDeviceUnavailable for a text_device this libtorch cannot
// use (CUDA in a CPU build).
struct TextDeviceUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};
class TextConditioner {
 public:
  static std::unique_ptr<TextConditioner> create(const nlohmann::json& text_config, int64_t context_dim,
                                                 int64_t vec_dim, torch::Device device, torch::ScalarType dtype,
                                                 TextWarning warn, TextBeforeLoad before_load = {});
  ~TextConditioner();
  TextConditioner(const TextConditioner&) = delete;
  TextConditioner& operator=(const TextConditioner&) = delete;

  // Tokenizes and encodes; result on the transformer's device and dtype, the caller's own tensors. The last two
  // prompts' results are remembered: the same prompt again is neither encoded nor loads the encoders, and its
  // tokenizer warnings are given again. Throws std::runtime_error with a clear message on missing/corrupt files,
  // vocabulary/embedding mismatch, invalid UTF-8.
  TextConditioning encode(const std::string& prompt);

  // Whether encode() has loaded the encoders yet.
  bool loaded() const;

  // Whether the encoders compute in bf16 or f16 on the CPU: their products then run in oneDNN on libtorch's intra-op
  // threads, not on OpenBLAS's pool, so a caller raises those around encode() (genplug/flux/intra_op_threads.hpp).
  bool narrow_on_cpu() const;

  // Drops the loaded encoders (they reload on the next encode()).
  void unload();
  // unload() when the config says "keep_loaded": false (default true): a caller that has encoded what one image
  // needs calls this, so that the encoders (T5-XXL: 17.7 GiB in float32) are not held while it samples.
  void release_unless_kept();

  struct Impl;

 private:
  explicit TextConditioner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Precomputed conditioning file: safetensors with float32 tensors `txt` [1, T, context_dim] and `vec` [1, vec_dim].
void write_conditioning_file(const std::filesystem::path& path, const TextConditioning& conditioning,
                             const std::map<std::string, std::string>& metadata = {});

// Reads and validates a conditioning file (dims checked when > 0); result on `device` in `dtype`.
TextConditioning read_conditioning_file(const std::filesystem::path& path, int64_t context_dim, int64_t vec_dim,
                                        torch::Device device, torch::ScalarType dtype);

}  // namespace genplug::flux
