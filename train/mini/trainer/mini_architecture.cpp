#include "mini_architecture.hpp"

#include <genplug/flux/presets.hpp>

namespace genplug::mini {

flux::FluxConfig transformer_config() { return flux::flux_preset("mini"); }

flux::AutoencoderConfig autoencoder_config() { return flux::AutoencoderConfig::tiny(); }

flux::text::T5Config t5_config(int64_t vocab_size) {
  flux::text::T5Config c;
  c.vocab_size = vocab_size;
  c.d_model = transformer_config().context_in_dim;
  c.d_kv = 32;
  c.num_heads = 4;
  c.d_ff = 256;
  c.num_layers = 2;
  return c;
}

flux::text::ClipTextConfig clip_config(int64_t vocab_size) {
  flux::text::ClipTextConfig c;
  c.vocab_size = vocab_size;
  c.hidden_size = transformer_config().vec_in_dim;
  c.intermediate_size = 4 * c.hidden_size;
  c.num_layers = 1;
  c.num_heads = 1;  // 64-wide, the plugin's default for weights without a config.json
  return c;
}

}  // namespace genplug::mini
