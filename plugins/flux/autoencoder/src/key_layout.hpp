// Autoencoder checkpoint key names: finds the autoencoder's prefix and layout, and maps every key to the
// internal (BFL, unprefixed) name. No torch here.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace genplug::flux::vae {

enum class KeyLayout { bfl, diffusers };
const char* layout_name(KeyLayout layout);

struct KeyMapping {
  std::string prefix;  // what precedes "encoder."/"decoder." ("" for a bare VAE file, "vae.", ...)
  KeyLayout layout = KeyLayout::bfl;
  std::map<std::string, std::string> internal_to_original;  // autoencoder keys only
};

// `keys`: every tensor name of the file(s); `source` names them in errors. The prefix is taken from the
// unique key ending in "decoder.conv_in.weight"; keys outside it are ignored. Throws std::runtime_error
// naming the source (and the key) when no autoencoder is found, the prefix is ambiguous, or a key under the
// prefix has no internal name.
KeyMapping map_autoencoder_keys(const std::vector<std::string>& keys, const std::string& source);

// One diffusers AutoencoderKL key (unprefixed) -> BFL name; `up_levels` = number of decoder up_blocks.
// Empty when the key is not a known diffusers autoencoder name.
std::string diffusers_to_bfl(const std::string& key, int up_levels);

// The inverse, for messages about tensors a checkpoint lacks.
std::string bfl_to_diffusers(const std::string& key, int up_levels);

// The name `internal` has (or would have) in the checkpoint described by `mapping`.
std::string original_name(const KeyMapping& mapping, const std::string& internal, int up_levels);

}  // namespace genplug::flux::vae
