// genplug DyPE — the JSON Schema of the config. Keywords limited to the subset the host validates; each
// field documents its meaning, default and range. lambda_s has no "default" keyword on purpose: its
// official default depends on the method, and a host filling schema defaults must not override that.
#include "genplug/dype/config.hpp"

namespace genplug::dype {

const std::string& config_schema() {
  static const std::string schema = R"JSON({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "DyPE position encoding (org.genplug.dype)",
  "description": "Rotary frequency spectrum for generating beyond the training resolution: plain RoPE, PI, NTK, YaRN and their DyPE dynamic forms, which move from the full extrapolation at t = 1 (noise) toward the trained spectrum as t -> 0. Defaults are the official guyyariv/DyPE values. Scale per spatial axis: s = target extent / base extent when larger than the base; only the axes the model flags spatial are scaled (FLUX: rows and cols, not the index axis 0). kappa(t) = lambda_s * t^lambda_t (t rescaled by the dynamic window when dynamic_start_sigma / dynamic_end_sigma are set).",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "method": {
      "type": "string",
      "enum": ["rope", "pi", "dy-pi", "ntk", "dy-ntk", "yarn", "dy-yarn", "dy-yarn-legacy", "base"],
      "default": "dy-yarn",
      "description": "rope: plain RoPE (alias: base). pi: frequencies / s. dy-pi: frequencies / s^kappa(t) (paper Eq. 14). ntk: base theta * s^(d/(d-2)). dy-ntk: theta * (s^(d/(d-2)))^kappa(t) (official code, paper Eq. 15). yarn: official 3-band NTK-by-parts blend (PI -> NTK across the beta thresholds, -> base across the gamma thresholds) with amplitude mscale_coefficient * ln s + mscale_offset on cos and sin. dy-yarn: official HEAD / paper v2, thresholds multiplied by kappa(t) (equals yarn at t = 1). dy-yarn-legacy: Oct-2025 release as ComfyUI-DyPE and other ports, thresholds raised to the power kappa(t). Default dy-yarn."
    },
    "lambda_s": {
      "type": "number",
      "minimum": 0,
      "description": "Scale lambda_s of kappa(t) = lambda_s * t^lambda_t. Default depends on the method: 1 for dy-yarn (kappa = t^2), 2 for dy-pi, dy-ntk and dy-yarn-legacy (kappa = 2 t^2). Range >= 0. Ignored by static methods."
    },
    "lambda_t": {
      "type": "number",
      "minimum": 0,
      "default": 2,
      "description": "Exponent lambda_t of kappa(t) = lambda_s * t^lambda_t. Default 2 (official). Range >= 0. Ignored by static methods."
    },
    "dynamic_start_sigma": {
      "type": "number",
      "minimum": 0,
      "maximum": 1,
      "default": 1,
      "description": "Start sigma_a of the dynamic window: the schedule runs on u(t) instead of t, kappa = lambda_s * u^lambda_t, where u = 1 for t >= sigma_a, 0 for t <= sigma_b, else (t - sigma_b) / (sigma_a - sigma_b); t after t_rounding. Default 1 (u = t, official). Range [0, 1], >= dynamic_end_sigma. ComfyUI-DyPE's dype_start_sigma is this field with dynamic_end_sigma 0. Ignored by static methods."
    },
    "dynamic_end_sigma": {
      "type": "number",
      "minimum": 0,
      "maximum": 1,
      "default": 0,
      "description": "End sigma_b of the dynamic window: at t <= sigma_b the schedule is fully released (u = 0). Default 0 (official). Range [0, 1], <= dynamic_start_sigma; equal to it gives a hard step at that t (full strength at and above, released below). Ignored by static methods."
    },
    "beta_0": {
      "type": "number",
      "exclusiveMinimum": 0,
      "default": 1.25,
      "description": "YaRN threshold (rotations over the base extent) where the PI -> NTK ramp starts (high-frequency end). Default 1.25. Range > 0, beta_1 < beta_0 <= gamma_1. YaRN methods only."
    },
    "beta_1": {
      "type": "number",
      "exclusiveMinimum": 0,
      "default": 0.75,
      "description": "YaRN threshold where the PI -> NTK ramp ends (below it: pure PI). Default 0.75. Range > 0, < beta_0. YaRN methods only."
    },
    "gamma_0": {
      "type": "number",
      "exclusiveMinimum": 0,
      "default": 16,
      "description": "YaRN threshold above which frequencies stay at the base (plain RoPE) value. Default 16. Range > gamma_1. YaRN methods only."
    },
    "gamma_1": {
      "type": "number",
      "exclusiveMinimum": 0,
      "default": 2,
      "description": "YaRN threshold where the NTK -> base ramp ends (below it: the NTK/PI blend). Default 2. Range > 0, >= beta_0, < gamma_0. YaRN methods only."
    },
    "mscale_coefficient": {
      "type": "number",
      "minimum": 0,
      "maximum": 10,
      "default": 0.1,
      "description": "Amplitude of a scaled axis for the YaRN methods: mscale_coefficient * ln(s) + mscale_offset, multiplying cos and sin (attention logits of that axis scale by its square). Default 0.1; 0 disables. Range [0, 10]."
    },
    "mscale_offset": {
      "type": "number",
      "exclusiveMinimum": 0,
      "maximum": 10,
      "default": 1,
      "description": "Constant term of the YaRN amplitude formula. Default 1. Range (0, 10]."
    },
    "isotropic": {
      "type": "boolean",
      "default": false,
      "description": "false (official): each spatial axis gets its own scale. true: every spatial axis uses the largest target/base ratio (ComfyUI-DyPE's default mode), each with its own base extent for the thresholds."
    },
    "base_resolution": {
      "type": "integer",
      "minimum": 1,
      "maximum": 1000000,
      "description": "Trained resolution in pixels for every spatial axis, converted to tokens with the layout's pixels_per_token (floored, as the official 1024 // 16 = 64). Absent: the model layout's base extent. Do not combine with base_extent."
    },
    "t_rounding": {
      "type": "string",
      "enum": ["exact", "bf16-pipeline"],
      "default": "exact",
      "description": "exact (default): the query's t is used as given (the paper's intent; the golden cases). bf16-pipeline: t is quantised as the official FLUX pipeline does before DyPE sees it (float32 sigma * 1000, cast to bfloat16, divided by 1000 in bfloat16), e.g. 0.988409 -> 0.98828125; use it with the exact sigma to reproduce the official pipeline."
    },
    "base_extent": {
      "type": "integer",
      "minimum": 1,
      "maximum": 1000000,
      "description": "Trained extent in tokens for every spatial axis. Absent: the model layout's base extent (FLUX: 64). Do not combine with base_resolution."
    }
  }
})JSON";
  return schema;
}

}  // namespace genplug::dype
