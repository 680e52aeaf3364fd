// What a checkpoint holds, from tensor names alone: a FLUX transformer (BFL or diffusers keys), the FLUX
// autoencoder (BFL or diffusers), a T5 encoder, a CLIP text model — possibly several under different prefixes
// in one all-in-one file. No torch.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace genplug::safetensors {
class Checkpoint;
}

namespace genplug::flux {

// Errors about a checkpoint's contents (missing / wrong-shaped tensors, layout and config mismatches).
// The message names the checkpoint and the tensor or config field.
class WeightError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using ShapeMap = std::map<std::string, std::vector<int64_t>>;

// Every tensor's name and shape.
ShapeMap shapes_of(const safetensors::Checkpoint& checkpoint);

// "[3072, 64]"
std::string shape_string(const std::vector<int64_t>& shape);

enum class ModelKind { flux_transformer, autoencoder, t5_encoder, clip_text };
enum class KeyLayout { bfl, diffusers, huggingface };

const char* kind_name(ModelKind kind);      // "flux-transformer", "autoencoder", "t5-encoder", "clip-text"
const char* layout_name(KeyLayout layout);  // "bfl", "diffusers", "huggingface"

struct Component {
  ModelKind kind;
  KeyLayout layout;
  std::string prefix;   // common name prefix, e.g. "model.diffusion_model." or ""
  std::size_t tensors;  // how many names start with the prefix and belong to it
};

// The recognised components, transformer first. Empty when nothing is recognised.
std::vector<Component> detect_components(const std::vector<std::string>& names);

}  // namespace genplug::flux
