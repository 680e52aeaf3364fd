// State behind genplug::flux::Autoencoder (shared by autoencoder.cpp and checkpoint.cpp).
#pragma once
#include <memory>
#include <sstream>
#include <string>

#include <genplug/flux/autoencoder.hpp>

#include "modules.hpp"

namespace genplug::flux {

// "[1, 16, 64, 64]", for error messages.
inline std::string shape_text(torch::IntArrayRef sizes) {
  std::ostringstream s;
  s << sizes;
  return s.str();
}

struct Autoencoder::Impl {
  AutoencoderConfig config;
  vae::Encoder encoder{nullptr};  // null for a decode-only checkpoint
  vae::Decoder decoder{nullptr};
  torch::Dtype dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  TiledDecode tiling;
  AttentionChunking chunking;

  // Parameters of both halves under their internal names ("encoder.down.0...", "decoder.up.3...").
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() const;
};

namespace vae {
// Modules for `config`, float32 on the CPU (default torch init), without the encoder when !with_encoder.
std::shared_ptr<Autoencoder::Impl> make_impl(const AutoencoderConfig& config, bool with_encoder);
// Moves the modules to the impl's dtype and device.
void place(Autoencoder::Impl& impl);
}  // namespace vae

}  // namespace genplug::flux
