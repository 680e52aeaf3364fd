// LoRA files for the FLUX transformer, from tensor names and shapes alone (no torch): the format of each
// module, the BFL weight it changes and which rows of it (docs/lora.md).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <genplug/flux/checkpoint_layout.hpp>

namespace genplug::flux {

enum class LoraFormat {
  diffusers,  // diffusers / PEFT: "transformer.transformer_blocks.N.attn.to_q.lora_A.weight"
  kohya,      // kohya sd-scripts: "lora_unet_double_blocks_N_img_attn_qkv.lora_down.weight" + ".alpha"
  bfl,        // BFL / ComfyUI: "diffusion_model.double_blocks.N.img_attn.qkv.lora_A.weight" (or lora_down/up)
};
const char* lora_format_name(LoraFormat format);  // "diffusers", "kohya", "bfl"

// One low-rank update: delta = (alpha / rank) * up @ down, with down [rank, in] and up [rows, rank].
struct LoraModule {
  std::string module;        // its name in the file, e.g. "transformer.transformer_blocks.0.attn.to_q"
  LoraFormat format;
  std::string down, up;      // tensor names (lora_A / lora_down, lora_B / lora_up)
  std::string alpha;         // tensor name of the scalar alpha, or "" (alpha = rank)
  std::string target;        // the BFL weight it changes, e.g. "double_blocks.0.img_attn.qkv.weight"
  int part = -1;             // -1: all rows; else q, k, v (0..2, hidden_size rows each) or the mlp rows (3)
  bool swap_halves = false;  // diffusers norm_out: the delta's two row halves exchanged in BFL order
};

// A LoRA to apply and its strength (manifest: {"path": file, "scale": number}).
struct LoraFile {
  std::filesystem::path path;
  double scale = 1.0;
};

struct LoraPlan {
  std::vector<LoraModule> modules;        // transformer modules, in file-name order
  std::vector<std::string> text_encoder;  // tensors that adapt a text encoder (CLIP "te1", T5 "te3", ...)
  std::vector<std::string> unknown;       // tensors no supported format explains
};

// Classifies every tensor name. Throws WeightError naming `source` and the module when a module has an up
// without a down (or the reverse), or an alpha without both.
LoraPlan plan_lora(const std::vector<std::string>& names, const std::string& source);

// The rows of a target weight of shape [out, in] that a module's part covers: {first row, row count}. q, k and
// v are `in` rows each (in = hidden_size for every fused FLUX projection); the mlp part is the rest.
std::pair<int64_t, int64_t> lora_rows(const LoraModule& m, const std::vector<int64_t>& target_shape);

// Throws WeightError naming `source` when the plan holds no transformer module: the counts of text-encoder and
// unknown tensors, and the first unknown names.
void check_lora_has_modules(const LoraPlan& plan, const std::string& source);

// Checks what a module's tensors say of themselves: down and up matrices of one rank > 0, alpha a scalar. Throws
// WeightError naming `source` and the module. Returns the rank.
int64_t check_lora_factors(const LoraModule& m, const ShapeMap& lora_shapes, const std::string& source);

// Checks that a module's factors are floating point (F64 to F8) and its alpha a number, not BOOL: integer factors
// make no update libtorch multiplies into a float weight, and its error named no file. Throws WeightError naming
// `source`, the module and the tensor.
void check_lora_dtypes(const LoraModule& m, const safetensors::Checkpoint& file, const std::string& source);

// Modules of the plan that change the same rows of one weight (the same module under two naming formats), one line
// each: "modules 'a' and 'b' both change 'w': both are added". Both are, as other tools do; a file is not expected
// to hold that, so it is said.
std::vector<std::string> lora_overlaps(const LoraPlan& plan);

// Checks a module's tensor shapes against its target's: down [rank, in], up [rows, rank], alpha a scalar.
// Throws WeightError naming `source`, the module, and both shapes. Returns the rank.
int64_t check_lora_shapes(const LoraModule& m, const ShapeMap& lora_shapes, const std::vector<int64_t>& target_shape,
                          const std::string& source);

}  // namespace genplug::flux
