// Where the files of the project's trained mini model live inside its folder (models/mini in the source tree,
// share/genplug/models/mini when installed). The trainer (train/mini/trainer) writes this layout and the
// plugin's "preset": "mini" reads it; diffusers' folder names, so the text encoders find their tokenizers the
// way they do for FLUX (<encoder folder>/../tokenizer*).
#pragma once
#include <cstdint>
#include <filesystem>

#include <nlohmann/json.hpp>

namespace genplug::flux {

// T5 max_length of the mini model: the grammar's longest prompt is 29 words + 2 commas + </s> = 32 tokens.
inline constexpr int64_t kMiniTextTokens = 32;

// Default true_cfg_scale of "preset": "mini": the shipped weights were trained with 10 % empty prompts, and guiding
// from the empty prompt at 2 drew the most objects right (98.2 %, against 92.0 % unguided and 95.5-96.9 % at 3-6;
// 16 seeds x the sample prompts, docs/mini-model.md §7).
inline constexpr double kMiniTrueCfgScale = 2.0;

struct MiniModelFiles {
  std::filesystem::path folder;

  std::filesystem::path transformer() const { return folder / "transformer.safetensors"; }  // BFL names, f32
  std::filesystem::path vae() const { return folder / "vae" / "ae.safetensors"; }           // BFL names, f32
  std::filesystem::path vae_config() const { return folder / "vae" / "config.json"; }       // scaling/shift
  std::filesystem::path t5() const { return folder / "text_encoder_2" / "model.safetensors"; }
  std::filesystem::path t5_tokenizer() const { return folder / "tokenizer_2" / "spiece.model"; }
  std::filesystem::path clip() const { return folder / "text_encoder" / "model.safetensors"; }
  std::filesystem::path clip_tokenizer() const { return folder / "tokenizer"; }  // vocab.json + merges.txt

  // The plugin's "text" config for these files: one definition, so training and inference encode alike.
  nlohmann::json text_config() const {
    return {{"t5", t5().string()},         {"t5_tokenizer", t5_tokenizer().string()},
            {"clip", clip().string()},     {"clip_tokenizer", clip_tokenizer().string()},
            {"max_length", kMiniTextTokens}};
  }
};

}  // namespace genplug::flux
