// The mini model's shapes (docs/mini-model.md, "Architecture"): the FLUX plugin's own modules at small width.
#pragma once
#include <cstdint>

#include <genplug/flux/autoencoder.hpp>
#include <genplug/flux/flux_config.hpp>
#include <genplug/flux/mini_model_files.hpp>
#include <genplug/flux/text/clip_text_model.hpp>
#include <genplug/flux/text/t5_encoder.hpp>

namespace genplug::mini {

inline constexpr int kTrainingSize = 128;   // pixels per side: 8 x 8 tokens (VAE factor 8, patches of 2)
inline constexpr int64_t kTextTokens = flux::kMiniTextTokens;  // T5 max_length, as the plugin's preset

flux::FluxConfig transformer_config();         // flux_preset("mini"): hidden 128, 2 heads, 2 double + 4 single
flux::AutoencoderConfig autoencoder_config();  // AutoencoderConfig::tiny(): ch 32, mult 1 1 2 2, z 16, factor 8
// Encoders sized to the transformer's text inputs (context 128, pooled 64); vocabularies from the tokenizers.
flux::text::T5Config t5_config(int64_t vocab_size);
flux::text::ClipTextConfig clip_config(int64_t vocab_size);

}  // namespace genplug::mini
