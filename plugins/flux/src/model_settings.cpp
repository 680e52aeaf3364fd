// See model_settings.hpp. The parser mirrors the schema, so a config that the host validated parses, and a
// host that does not validate still gets errors naming the field.
#include "model_settings.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include <genplug/plugin.hpp>
#include <genplug/internal/bounded_json.hpp>

namespace genplug::flux {

using nlohmann::json;

namespace {

// Text tokens per prompt at most (TextConditioner's kMaxLength).
constexpr int64_t kMaxTextTokens = int64_t(1) << 20;
// A LoRA's strength at most, either sign (as a manifest job's loras[].scale).
constexpr double kMaxLoraScale = 100;
// A VAE tile's side at most, in latent pixels: a 65536 px image's latent (its area stays within int64).
constexpr int64_t kMaxTile = 8192;

json integer(int64_t minimum, const char* description) {
  return {{"type", "integer"}, {"minimum", minimum}, {"description", description}};
}

json config_properties_schema() {
  return {
      {"type", "object"},
      {"description", "FluxParams fields overriding the preset (random weights) or checked against the "
                      "checkpoint's shapes (files)"},
      {"additionalProperties", false},
      {"properties",
       {{"in_channels", integer(1, "packed latent channels (16 VAE channels x 2 x 2 = 64)")},
        {"out_channels", integer(1, "output channels")},
        {"vec_in_dim", integer(1, "pooled text vector dim (CLIP-L: 768)")},
        {"context_in_dim", integer(1, "text token dim (T5-XXL: 4096)")},
        {"hidden_size", integer(1, "transformer width")},
        {"mlp_ratio", {{"type", "number"}, {"exclusiveMinimum", 0}, {"description", "MLP width / hidden size"}}},
        {"num_heads", integer(1, "attention heads")},
        {"depth", integer(0, "double-stream blocks")},
        {"depth_single_blocks", integer(0, "single-stream blocks")},
        {"axes_dim",
         {{"type", "array"},
          {"items", {{"type", "integer"}, {"minimum", 2}}},
          {"minItems", 3},
          {"maxItems", 3},
          {"description", "rotary dims per axis (index, row, column), even, summing to the head dim"}}},
        {"theta", {{"type", "number"}, {"exclusiveMinimum", 0}, {"description", "rotary base"}}},
        {"qkv_bias", {{"type", "boolean"}, {"description", "q/k/v projections have a bias"}}},
        {"guidance_embed", {{"type", "boolean"}, {"description", "distilled guidance input (dev: true)"}}}}}};
}

// config.text's keys, as TextConditioner::create reads them (it checks them again for hosts that do not validate).
json text_properties_schema() {
  const json path = {{"type", {"string", "null"}}};
  const json token_count = {{"type", "integer"}, {"minimum", 1}, {"maximum", kMaxTextTokens}};
  return {{"t5", path},
          {"t5_tokenizer", path},
          {"clip", path},
          {"clip_tokenizer", path},
          {"text_device", path},
          {"text_dtype", path},
          {"max_length", token_count},
          {"clip_num_heads", integer(1, "CLIP's attention heads")},
          {"keep_loaded", {{"type", "boolean"}}},
          {"random",
           {{"type", {"boolean", "object"}},
            {"properties",
             {{"seed", {{"type", "integer"}, {"minimum", 0}, {"maximum", std::numeric_limits<uint64_t>::max()}}},
              {"max_length", token_count}}},
            {"additionalProperties", false}}}};
}

json build_schema() {
  return {
      {"$schema", "https://json-schema.org/draft/2020-12/schema"},
      {"title", "FLUX.1 model (libtorch)"},
      {"description", "FLUX.1 transformer, VAE and text conditioning; weights from safetensors, GGUF or random"},
      {"type", "object"},
      {"additionalProperties", false},
      {"properties",
       {{"transformer",
         {{"type", "string"},
          {"description", "\"random\" (the default) or a transformer checkpoint: .safetensors file, "
                          "*.safetensors.index.json, a folder, or a .gguf file (F32, F16, BF16, Q8_0, Q4_0 to Q5_1, "
                          "Q2_K to Q6_K; quantised matrices kept in their blocks); BFL or diffusers key names (preset "
                          "mini: its shipped file by default)"}}},
        {"preset",
         {{"enum", {"tiny", "mini", "flux-dev", "flux-schnell"}},
          {"description", "shapes of random weights (default tiny); with a file, the expected model. \"mini\": "
                          "the project's trained model (docs/mini-model.md), whose shipped transformer, VAE and "
                          "text encoders are the defaults of transformer, vae and text"}}},
        {"seed",
         {{"type", "integer"},
          {"minimum", 0},
          {"maximum", std::numeric_limits<uint64_t>::max()},
          {"default", 0},
          {"description", "seed of random weights"}}},
        {"config", config_properties_schema()},
        {"vae",
         {{"type", "string"},
          {"description", "\"random\" (the default), \"none\" or an autoencoder checkpoint (BFL ae.safetensors or "
                          "diffusers vae/); preset mini: its shipped file by default"}}},
        {"text",
         {{"type", "object"},
          {"properties", text_properties_schema()},
          {"additionalProperties", false},  // a mistyped key (t5_tokenzier) is refused, not ignored
          {"description", "text encoders (t5, t5_tokenizer, clip, clip_tokenizer, max_length, text_device, "
                          "text_dtype, clip_num_heads, random, keep_loaded: false unloads them after each image's "
                          "prompt); default "
                          "for random weights: {\"random\": true}; preset mini: its shipped encoders and tokenizers"}}},
        {"conditioning",
         {{"type", "string"},
          {"description", "precomputed conditioning safetensors (txt [1,T,context], vec [1,vec]) used for "
                          "every prompt instead of the text encoders"}}},
        {"device", {{"type", "string"}, {"default", "cpu"}, {"description", "cpu, cuda or cuda:N"}}},
        {"dtype",
         {{"enum", {"f32", "bf16", "f16"}},
          {"default", "f32"},
          {"description", "the weights in memory (and the activations, unless compute_dtype says otherwise)"}}},
        {"compute_dtype",
         {{"enum", {"auto", "f32", "bf16", "f16"}},
          {"default", "auto"},
          {"description", "what the transformer and VAE compute in; auto: dtype, except bf16/f16 weights on a CPU "
                          "without native products of that type, which are widened to f32 layer by layer"}}},
        {"quantize",
         {{"enum", {"none", "int8"}},
          {"default", "none"},
          {"description", "int8: the transformer's linear weight matrices kept as 8-bit integers with one scale per "
                          "output row (a quarter of f32's memory, half of bf16's), widened layer by layer for the "
                          "products; the rest stays in dtype. A LoRA change then loads the transformer again"}}},
        {"guidance", {{"type", "number"}, {"minimum", 0}, {"default", 3.5}, {"description", "default distilled guidance"}}},
        {"true_cfg_scale",
         {{"type", "number"},
          {"minimum", 1},
          {"maximum", 100},
          {"description", "classifier-free guidance scale (1 = off; > 1: two evaluations per step, the prompt's and "
                          "negative_prompt's); default 1, preset mini: its trained scale (docs/mini-model.md)"}}},
        {"negative_prompt",
         {{"type", "string"},
          {"default", ""},
          {"description", "the prompt true_cfg_scale guides away from (\"\" = unconditional)"}}},
        {"steps",
         {{"type", "integer"}, {"minimum", 1}, {"maximum", 10000}, {"description", "default step count (describe())"}}},
        {"width",
         {{"type", "integer"},
          {"minimum", 16},
          {"maximum", 65536},
          {"multipleOf", 16},
          {"description", "default width in pixels (multiple of 16)"}}},
        {"height",
         {{"type", "integer"},
          {"minimum", 16},
          {"maximum", 65536},
          {"multipleOf", 16},
          {"description", "default height in pixels (multiple of 16)"}}},
        {"base_extent",
         {{"type", "array"},
          {"items", {{"type", "integer"}, {"minimum", 1}, {"maximum", 65536}}},
          {"minItems", 3},
          {"maxItems", 3},
          {"description", "tokens per axis the model was trained at (posenc input); FLUX [1,64,64], tiny [1,4,4]"}}},
        {"loras",
         {{"type", "array"},
          {"description", "LoRAs merged into the transformer (docs/lora.md): diffusers/PEFT, kohya or BFL/ComfyUI keys"},
          {"items",
           {{"type", "object"},
            {"additionalProperties", false},
            {"required", {"path"}},
            {"properties",
             {{"path", {{"type", "string"}, {"minLength", 1}, {"description", "LoRA .safetensors file"}}},
              {"scale",
               {{"type", "number"},
                {"minimum", -kMaxLoraScale},
                {"maximum", kMaxLoraScale},
                {"default", 1.0},
                {"description", "strength (W + scale * alpha/rank * B A)"}}}}}}}}},
        {"attention_memory_mb",
         {{"type", "integer"}, {"minimum", 1}, {"maximum", 1 << 20}, {"default", 16},
          {"description", "score memory of one attention chunk (the CPU path for bf16/f16 compute; float32 takes the fused kernel, whose workspace is fixed)"}}},
        {"vae_tiling",
         {{"type", "object"},
          {"additionalProperties", false},
          {"description", "tiled VAE decode for large images (docs/vae.md)"},
          {"properties",
           {{"enabled", {{"type", "boolean"}, {"default", true}, {"description", "false: never tile"}}},
            {"auto_above", integer(0, "tile when the latent's height or width exceeds this (default 128 = 1024 px)")},
            {"tile",
             {{"type", "integer"},
              {"minimum", 8},
              {"maximum", kMaxTile},
              {"description", "latent pixels per tile side (default 64 = 512 px)"}}},
            {"overlap", integer(0, "latent pixels shared by neighbouring tiles, at most tile / 2 (default 16, or "
                                   "tile / 2 when that is less)")}}}}}}}};
}

std::string get_string(const json& j, const char* name) {
  if (!j.at(name).is_string()) throw ConfigError(std::string("config.") + name + ": must be a string");
  return j.at(name).get<std::string>();
}

// A file name: a string with no NUL, where the C string that opens it would end and name another file.
std::string path_value(const json& v, const std::string& field) {
  if (!v.is_string()) throw ConfigError(field + ": must be a string");
  if (v.get_ref<const std::string&>().find('\0') != std::string::npos)
    throw ConfigError(field + ": contains a NUL character");
  return v.get<std::string>();
}

// Any unsigned 64-bit integer (a seed); the value given is quoted when it is not one.
uint64_t seed_value(const json& v, const std::string& field) {
  if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) return v.get<uint64_t>();
  throw ConfigError(field + ": must be an integer from 0 to 18446744073709551615" +
                    (v.is_number_integer() ? ", got " + v.dump() : std::string()));
}

// An integer in [minimum, maximum]. Compared as JSON holds it (an unsigned past 2^63 is not a negative number),
// so that no value is cut to a narrower type later; the value given is quoted when it is out of range.
int64_t int_value(const json& v, const std::string& field, int64_t minimum,
                  int64_t maximum = std::numeric_limits<int64_t>::max()) {
  // nlohmann keeps every integer >= 0 it parses as unsigned, every negative one as signed.
  const bool below = v.is_number_unsigned() ? minimum > 0 && v.get<uint64_t>() < uint64_t(minimum)
                                            : v.is_number_integer() && v.get<int64_t>() < minimum;
  const bool above = v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(maximum)
                                            : v.is_number_integer() && v.get<int64_t>() > maximum;
  if (v.is_number_integer() && !below && !above) return v.get<int64_t>();
  const std::string got = v.is_number_integer() ? ", got " + v.dump() : "";
  if (maximum == std::numeric_limits<int64_t>::max())
    throw ConfigError(field + ": must be an integer >= " + std::to_string(minimum) + got);
  throw ConfigError(field + ": must be an integer from " + std::to_string(minimum) + " to " + std::to_string(maximum) +
                    got);
}

int64_t get_int(const json& j, const std::string& where, const std::string& name, int64_t minimum,
                int64_t maximum = std::numeric_limits<int64_t>::max()) {
  return int_value(j.at(name), where + name, minimum, maximum);
}

// The manifest's own bounds on a job's size and steps (host/manifest.schema.json), for the defaults here.
constexpr int64_t kMaxSide = 65536, kMaxSteps = 10000, kMaxExtent = 65536;

// config.text.random: true, false or {"seed": N >= 0 (any 64-bit unsigned), "max_length": T}.
void check_random_text(const json& v, const std::string& at) {
  if (v.is_boolean()) return;
  if (!v.is_object()) throw ConfigError(at + ": must be true, false or {\"seed\": N, \"max_length\": T}");
  for (const auto& [key, value] : v.items()) {
    if (key == "seed") {
      seed_value(value, at + ".seed");
    } else if (key == "max_length") {
      int_value(value, at + ".max_length", 1, kMaxTextTokens);
    } else {
      throw ConfigError(at + "." + key + ": unknown field (allowed: seed, max_length)");
    }
  }
}

// config.text as text_properties_schema() says: checked here, not first at TextConditioner::create (which
// checks again for its own callers), so that the parser refuses what the schema refuses, naming the field.
void check_text_options(const json& text) {
  static const json schema = text_properties_schema();
  for (const auto& [key, v] : text.items()) {
    const std::string at = "config.text." + key;
    if (!schema.contains(key)) {
      std::string allowed;
      for (const auto& item : schema.items()) allowed += (allowed.empty() ? "" : ", ") + item.key();
      throw ConfigError(at + ": unknown field (allowed: " + allowed + ")");
    }
    if (key == "max_length") {
      int_value(v, at, 1, kMaxTextTokens);
    } else if (key == "clip_num_heads") {
      int_value(v, at, 1);
    } else if (key == "keep_loaded") {
      if (!v.is_boolean()) throw ConfigError(at + ": must be true or false");
    } else if (key == "random") {
      check_random_text(v, at);
    } else if (key == "t5" || key == "t5_tokenizer" || key == "clip" || key == "clip_tokenizer" ||
               key == "text_device" || key == "text_dtype") {
      if (!v.is_null() && !v.is_string()) throw ConfigError(at + ": must be a string or null");
      if (v.is_string()) path_value(v, at);
    } else {
      throw ConfigError(at + ": in the schema but not checked here");  // a key added to one and not the other
    }
  }
}

}  // namespace

const std::string& model_config_schema() {
  static const std::string text = build_schema().dump(1);
  return text;
}

namespace {

// The config text as a JSON object whose every key the schema names.
json parse_config_object(const std::string& config_json) {
  // Nesting bounded while parsing: "text" and "config" are copied below. The deepest real config nests 3 levels.
  json j;
  std::optional<std::string> duplicate;
  try {
    j = genplug::internal::parse_bounded_json(config_json, duplicate);
  } catch (const genplug::internal::JsonTooDeep& e) {
    throw ConfigError(std::string("config: ") + e.what());
  } catch (const std::exception& e) {
    throw ConfigError(std::string("config: not valid JSON: ") + genplug::internal::json_error_text(e));
  }
  if (duplicate) throw ConfigError("config: " + genplug::internal::duplicate_key_text(*duplicate));
  if (!j.is_object()) throw ConfigError("config: must be a JSON object");
  const json props = build_schema().at("properties");
  for (const auto& [key, value] : j.items())
    if (!props.contains(key)) throw ConfigError("config." + key + ": unknown field");
  return j;
}

// Where the weights come from: a file or a preset (the mini preset's shipped files), shape overrides, the VAE,
// the text encoders' options, precomputed conditioning; and the seed of random weights.
void read_sources(const json& j, ModelSettings& s) {
  if (j.contains("transformer")) s.transformer = path_value(j["transformer"], "config.transformer");
  if (j.contains("preset")) {
    s.preset = get_string(j, "preset");
    if (*s.preset != "tiny" && *s.preset != "mini" && *s.preset != "flux-dev" && *s.preset != "flux-schnell")
      throw ConfigError("config.preset: '" + *s.preset + "' is not one of tiny, mini, flux-dev, flux-schnell");
    if (*s.preset == "mini" && !j.contains("transformer")) s.transformer = kMiniShipped;
    if (*s.preset == "mini" && !j.contains("vae")) s.vae = kMiniShipped;
  }
  if (j.contains("seed")) s.seed = seed_value(j["seed"], "config.seed");  // as a job's seed
  if (j.contains("config")) {
    if (!j["config"].is_object()) throw ConfigError("config.config: must be an object");
    s.overrides = j["config"];
    apply_config_overrides(FluxConfig{}, s.overrides);  // field names and types checked now
  }
  if (j.contains("vae")) s.vae = path_value(j["vae"], "config.vae");
  if (j.contains("text")) {
    if (!j["text"].is_object()) throw ConfigError("config.text: must be an object");
    check_text_options(j["text"]);
    s.text = j["text"];
  }
  if (j.contains("conditioning")) s.conditioning = path_value(j["conditioning"], "config.conditioning");
}

// The device and how weights are kept and computed.
void read_placement(const json& j, ModelSettings& s) {
  if (j.contains("device")) s.device = get_string(j, "device");
  if (j.contains("dtype")) s.dtype = get_string(j, "dtype");
  if (s.dtype != "f32" && s.dtype != "bf16" && s.dtype != "f16")
    throw ConfigError("config.dtype: '" + s.dtype + "' is not one of f32, bf16, f16");
  if (j.contains("compute_dtype")) s.compute_dtype = get_string(j, "compute_dtype");
  if (s.compute_dtype != "auto" && s.compute_dtype != "f32" && s.compute_dtype != "bf16" && s.compute_dtype != "f16")
    throw ConfigError("config.compute_dtype: '" + s.compute_dtype + "' is not one of auto, f32, bf16, f16");
  if (j.contains("quantize")) s.quantize = get_string(j, "quantize");
  if (s.quantize != "none" && s.quantize != "int8")
    throw ConfigError("config.quantize: '" + s.quantize + "' is not one of none, int8");
}

// The defaults a job may leave out: guidance, true CFG and its negative prompt, steps, size, DyPE's base extent.
void read_job_defaults(const json& j, ModelSettings& s) {
  if (j.contains("guidance")) {
    if (!j["guidance"].is_number() || j["guidance"].get<double>() < 0)
      throw ConfigError("config.guidance: must be a number >= 0");
    s.guidance = j["guidance"].get<double>();
  }
  if (j.contains("true_cfg_scale")) {
    const json& v = j["true_cfg_scale"];
    if (!v.is_number() || !(v.get<double>() >= 1 && v.get<double>() <= 100))
      throw ConfigError("config.true_cfg_scale: must be a number from 1 (off) to 100");
    s.true_cfg_scale = v.get<double>();
  }
  if (j.contains("negative_prompt")) s.negative_prompt = get_string(j, "negative_prompt");
  if (j.contains("steps")) s.steps = uint32_t(get_int(j, "config.", "steps", 1, kMaxSteps));
  for (const char* name : {"width", "height"}) {
    if (!j.contains(name)) continue;
    const int64_t v = get_int(j, "config.", name, 16, kMaxSide);
    if (v % 16) throw ConfigError(std::string("config.") + name + ": must be a multiple of 16");
    (std::string(name) == "width" ? s.width : s.height) = uint32_t(v);
  }
  if (j.contains("base_extent")) {
    const json& b = j["base_extent"];
    if (!b.is_array() || b.size() != 3) throw ConfigError("config.base_extent: must be an array of 3 integers");
    for (size_t i = 0; i < b.size(); ++i)
      s.base_extent.push_back(
          uint32_t(int_value(b[i], "config.base_extent[" + std::to_string(i) + "]", 1, kMaxExtent)));
  }
}

ModelSettings::VaeTiling read_vae_tiling(const json& t) {
  if (!t.is_object()) throw ConfigError("config.vae_tiling: must be an object");
  ModelSettings::VaeTiling v;
  for (const auto& [key, value] : t.items()) {
    if (key == "enabled") {
      if (!value.is_boolean()) throw ConfigError("config.vae_tiling.enabled: must be true or false");
      v.enabled = value.get<bool>();
    } else if (key == "auto_above") {
      v.auto_above = get_int(t, "config.vae_tiling.", key, 0);
    } else if (key == "tile") {
      v.tile = get_int(t, "config.vae_tiling.", key, 8, kMaxTile);
    } else if (key == "overlap") {
      v.overlap = get_int(t, "config.vae_tiling.", key, 0);
    } else {
      throw ConfigError("config.vae_tiling." + key + ": unknown field");
    }
  }
  if (v.tile && v.overlap && *v.overlap > *v.tile / 2)
    throw ConfigError("config.vae_tiling.overlap: " + std::to_string(*v.overlap) + " must be at most half of tile (" +
                      std::to_string(*v.tile) + ")");
  return v;
}

}  // namespace

ModelSettings parse_model_settings(const std::string& config_json) {
  const json j = parse_config_object(config_json);
  ModelSettings s;
  read_sources(j, s);
  read_placement(j, s);
  read_job_defaults(j, s);
  if (j.contains("attention_memory_mb")) {
    s.attention_memory_mb = get_int(j, "config.", "attention_memory_mb", 1);
    if (s.attention_memory_mb > (1 << 20)) throw ConfigError("config.attention_memory_mb: must be <= 1048576");
  }
  if (j.contains("loras")) s.loras = parse_lora_list(j["loras"], "config.loras");
  if (j.contains("vae_tiling")) s.vae_tiling = read_vae_tiling(j["vae_tiling"]);
  return s;
}

std::vector<LoraFile> parse_lora_list(const json& list, const std::string& where) {
  if (!list.is_array()) throw ConfigError(where + ": must be a list of {\"path\", \"scale\"} objects");
  std::vector<LoraFile> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const json& e = list[i];
    if (!e.is_object()) throw ConfigError(at + ": must be an object {\"path\", \"scale\"}");
    LoraFile f;
    for (const auto& [key, value] : e.items()) {
      if (key == "path") {
        if (!value.is_string() || value.get<std::string>().empty()) throw ConfigError(at + ".path: must be a file path");
        f.path = path_value(value, at + ".path");
      } else if (key == "scale") {
        if (!value.is_number() || !(std::abs(value.get<double>()) <= kMaxLoraScale))
          throw ConfigError(at + ".scale: must be a number from -100 to 100");
        f.scale = value.get<double>();
      } else {
        throw ConfigError(at + "." + key + ": unknown field (allowed: path, scale)");
      }
    }
    if (f.path.empty()) throw ConfigError(at + ".path: required");
    out.push_back(std::move(f));
  }
  return out;
}

FluxConfig apply_config_overrides(FluxConfig c, const json& o) {
  const std::string where = "config.config.";
  for (const auto& item : o.items()) {
    // Plain references, not a structured binding: lambdas may not capture those in C++17 (clang refuses).
    const std::string& key = item.key();
    const json& value = item.value();
    auto positive = [&](int64_t minimum) { return get_int(o, where, key, minimum); };
    auto number = [&] {
      if (!value.is_number() || value.get<double>() <= 0) throw ConfigError(where + key + ": must be a number > 0");
      return value.get<double>();
    };
    auto boolean = [&] {
      if (!value.is_boolean()) throw ConfigError(where + key + ": must be true or false");
      return value.get<bool>();
    };
    if (key == "in_channels") c.in_channels = positive(1);
    else if (key == "out_channels") c.out_channels = positive(1);
    else if (key == "vec_in_dim") c.vec_in_dim = positive(1);
    else if (key == "context_in_dim") c.context_in_dim = positive(1);
    else if (key == "hidden_size") c.hidden_size = positive(1);
    else if (key == "num_heads") c.num_heads = positive(1);
    else if (key == "depth") c.depth = positive(0);
    else if (key == "depth_single_blocks") c.depth_single_blocks = positive(0);
    else if (key == "mlp_ratio") c.mlp_ratio = number();
    else if (key == "theta") c.theta = number();
    else if (key == "qkv_bias") c.qkv_bias = boolean();
    else if (key == "guidance_embed") c.guidance_embed = boolean();
    else if (key == "axes_dim") {
      // Three axes: FLUX's position ids are (index, row, column), and its geometry states three.
      if (!value.is_array() || value.size() != 3) throw ConfigError(where + "axes_dim: must be an array of 3 integers");
      c.axes_dim.clear();
      for (size_t i = 0; i < value.size(); ++i) c.axes_dim.push_back(int_value(value[i], where + "axes_dim[" + std::to_string(i) + "]", 2));
    } else {
      throw ConfigError(where + key + ": unknown field");
    }
  }
  return c;
}

}  // namespace genplug::flux
