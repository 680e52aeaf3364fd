// Checkpoint tensors as torch tensors, and the FLUX transformer's weights under BFL names from either layout.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <genplug/flux/flux_config.hpp>
#include <genplug/flux/tensor_map.hpp>
#include <genplug/flux/transformer_keys.hpp>
#include <genplug/safetensors.hpp>

namespace genplug::gguf {
class File;
}

namespace genplug::flux {

// The torch type a stored dtype reads as. F8_E4M3 / F8_E5M2 map to float32 on libtorch without float8
// types (they are always converted at load anyway).
torch::ScalarType torch_dtype(safetensors::DType dtype);

// One tensor. Zero-copy (a view of the mapping that keeps its File alive) when the stored type is `dtype`,
// `device` is the CPU and the data is aligned; otherwise a converted copy. Floating tensors become `dtype`;
// integer and bool tensors keep their type. F8 values are decoded exactly (safetensors::to_float32).
// Writing into a zero-copy tensor is allowed and never reaches the file (the mapping is copy-on-write).
torch::Tensor load_tensor(const safetensors::TensorInfo& info, torch::ScalarType dtype, torch::Device device);
// The bytes load_tensor allocates on the CPU for `info`: none where it returns a view of the mapping, else the
// tensor in the dtype it becomes. Device memory is not counted. And what it holds meanwhile: an F8 tensor's
// float32 decode twice (a vector, its clone), a misaligned one's aligned copy before it is converted.
double load_tensor_allocation(const safetensors::TensorInfo& info, torch::ScalarType dtype, torch::Device device);
double load_tensor_temporary(const safetensors::TensorInfo& info, torch::ScalarType dtype);

// Every tensor whose name starts with `prefix`, keyed by the name without it.
TensorMap load_tensors(const safetensors::Checkpoint& checkpoint, torch::ScalarType dtype, torch::Device device,
                       const std::string& prefix = "");

// Builds BFL tensors from checkpoint tensors following `plan` (copy, concat along dim 0, swap halves).
// `tensors` is keyed by the plan's source names.
TensorMap apply_key_plan(const std::vector<KeyMerge>& plan, const TensorMap& tensors, const std::string& source);

// diffusers FluxTransformer2DModel tensors (names without any prefix) under BFL names: q/k/v merged into qkv,
// add_*_proj into the text qkv, single-block to_q/to_k/to_v/proj_mlp into linear1, norm_out halves swapped.
TensorMap diffusers_to_bfl_transformer(const TensorMap& diffusers);

// What a load will allocate on the CPU, told before any tensor is read.
struct LoadBytes {
  double copied = 0;     // kept: what is not a view of the mapped file (tensors converted to another dtype, fp8
                         // decoded, diffusers' projections concatenated, every tensor of a GGUF file)
  double temporary = 0;  // besides, at the peak of one tensor's load (a decode, a merge's parts)
  double matrix_values = 0, largest_matrix = 0;  // of the 2-D tensors loaded as floats (what int8 quantizes)
  FluxConfig config;     // the model the file holds (the plan's)
};

// Called by load_flux_transformer once the checkpoint's plan is made and before any tensor is read. It may throw:
// then nothing is loaded. The FLUX plugin checks the bytes against the machine's memory (machine_memory.hpp).
using BeforeLoad = std::function<void(const LoadBytes&)>;

struct FluxTransformerWeights {
  FluxConfig config;                // the explicit config when given (checked), else the inferred one
  TensorMap tensors;                // BFL names: the tensors expected_flux_shapes(config) lists, block weights
                                    // with their companions (q8_0_layout.hpp, ggml_blocks_layout.hpp)
  TransformerKeys keys;             // the layout and prefix found in the checkpoint
  std::vector<std::string> ignored; // checkpoint tensors (BFL names) the model does not use
};

// Detects the layout, infers the config (checked against `explicit_config` when given), checks every
// tensor's presence and shape, and loads them as `dtype` on `device`. Errors are WeightError /
// safetensors::Error naming the checkpoint and the tensor or config field. When no explicit config is given
// and the head dim is not 128, axes_dim cannot be inferred and the call fails asking for it.
// An F8 "<layer>.weight" with a "<layer>.weight_scale" (sd.cpp) or "<layer>.scale_weight" (ComfyUI scaled
// fp8) beside it is multiplied by that scale (one value, or one per output row) in float32 before the cast;
// such scales are not listed as ignored.
FluxTransformerWeights load_flux_transformer(const safetensors::Checkpoint& checkpoint,
                                             const std::optional<FluxConfig>& explicit_config,
                                             torch::ScalarType dtype, torch::Device device,
                                             const BeforeLoad& before_load = {});

// The same from a GGUF file (stable-diffusion.cpp, ComfyUI-GGUF): F32, F16 and BF16 tensors become `dtype`; a
// Q8_0 matrix stays Q8_0 (q8_0_layout.hpp: q under its name, d under its scale name), any other Q8_0 tensor is
// widened to `dtype`. Everything is copied out of the file (Q8_0 blocks are repacked), so it may be closed after.
FluxTransformerWeights load_flux_transformer(const gguf::File& file, const std::optional<FluxConfig>& explicit_config,
                                             torch::ScalarType dtype, torch::Device device,
                                             const BeforeLoad& before_load = {});

// A transformer checkpoint of either format: GGUF when gguf::is_gguf_file(), else safetensors (file, index or
// folder; what cannot be read is the safetensors reader's to report).
// Its tensors' shapes (the checkpoint's own names), and its weights as load_flux_transformer above. Errors as
// there, and gguf::Error for GGUF files.
ShapeMap checkpoint_shapes(const std::filesystem::path& path);
FluxTransformerWeights load_flux_transformer(const std::filesystem::path& path,
                                             const std::optional<FluxConfig>& explicit_config,
                                             torch::ScalarType dtype, torch::Device device,
                                             const BeforeLoad& before_load = {});

}  // namespace genplug::flux
