// See lora_metadata.hpp.
#include <genplug/flux/lora_metadata.hpp>

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include <genplug/internal/bounded_json.hpp>
#include <genplug/safetensors.hpp>

namespace genplug::flux {
namespace {

// The PEFT config object; null when the file has none, a discarded value when it is no JSON object or gives a key
// twice (which of the two was meant cannot be told: the manifest, --text and indexes refuse the same), and then
// in `why` what is wrong.
nlohmann::json adapter_metadata(const safetensors::Checkpoint& file, std::string* why = nullptr) {
  const auto it = file.metadata().find("lora_adapter_metadata");
  if (it == file.metadata().end()) return nullptr;
  const auto discarded = [&](const std::string& reason) {
    if (why) *why = reason;
    return nlohmann::json(nlohmann::json::value_t::discarded);
  };
  try {
    std::optional<std::string> duplicate;
    nlohmann::json meta = genplug::internal::parse_bounded_json(it->second, duplicate);
    if (duplicate) return discarded("gives the key " + nlohmann::json(*duplicate).dump() + " twice");
    return meta.is_object() ? meta : discarded("is no readable JSON object");
  } catch (const std::exception&) {
    return discarded("is no readable JSON object");
  }
}

// A field of the PEFT config: "transformer.<name>", "<name>" or "transformer": {"<name>"}; NULL when absent.
const nlohmann::json* adapter_field(const nlohmann::json& meta, const char* name) {
  if (!meta.is_object()) return nullptr;
  for (const std::string key : {std::string("transformer.") + name, std::string(name)})
    if (meta.contains(key)) return &meta.at(key);
  if (meta.contains("transformer") && meta["transformer"].is_object() && meta["transformer"].contains(name))
    return &meta["transformer"].at(name);
  return nullptr;
}

// Whether alpha_pattern's `key` names `module`: the whole name or its last dot-separated parts, as PEFT's
// re.match(rf"(.*\.)?({key})$", module) does for a key that is a plain name ("0.attn.to_q" names
// "transformer_blocks.0.attn.to_q", not "transformer_blocks.10.attn.to_q"). PEFT reads a key as a regular
// expression; genplug takes it literally.
bool pattern_names(const std::string& key, const std::string& module) {
  if (key.empty() || key.size() > module.size()) return false;
  const std::size_t at = module.size() - key.size();
  return module.compare(at, key.size(), key) == 0 && (at == 0 || module[at - 1] == '.');
}

// What is wrong with alpha_pattern, which metadata_alpha then passes over: "" when nothing (or it is absent).
std::string alpha_pattern_problem(const nlohmann::json& meta) {
  const nlohmann::json* pattern = adapter_field(meta, "alpha_pattern");
  if (pattern == nullptr || pattern->is_null()) return "";
  if (!pattern->is_object()) return "has an alpha_pattern that is no object";
  std::string first;
  std::size_t count = 0;
  for (const auto& [key, value] : pattern->items())
    if (!value.is_number() && count++ == 0) first = key;
  if (count == 0) return "";
  return "gives the alpha_pattern key " + nlohmann::json(first).dump() +
         (count > 1 ? " and " + std::to_string(count - 1) + " more" : std::string()) + " no number";
}

}  // namespace

std::optional<double> metadata_alpha(const safetensors::Checkpoint& file, const std::string& module) {
  const nlohmann::json meta = adapter_metadata(file);
  if (const auto* pattern = adapter_field(meta, "alpha_pattern"); pattern && pattern->is_object())
    for (const auto& [key, value] : pattern->items())
      if (value.is_number() && pattern_names(key, module)) return value.get<double>();
  if (const auto* alpha = adapter_field(meta, "lora_alpha"); alpha && alpha->is_number()) return alpha->get<double>();
  return std::nullopt;
}

std::string metadata_note(const safetensors::Checkpoint& file, const std::string& source) {
  const std::string prefix = source.empty() ? "" : source + ": ";
  std::string why;
  const nlohmann::json meta = adapter_metadata(file, &why);
  const nlohmann::json* alpha = adapter_field(meta, "lora_alpha");
  if (meta.is_discarded() || (alpha && !alpha->is_number()))
    return prefix + "its lora_adapter_metadata " +
           (meta.is_discarded() ? why : "has a lora_alpha that is no number") +
           ": modules without .alpha tensors take alpha = rank";
  // A value PEFT would have used for some modules (a string "16") had been passed over silently.
  if (const std::string problem = alpha_pattern_problem(meta); !problem.empty())
    return prefix + "its lora_adapter_metadata " + problem + ": the modules it names take " +
           (alpha ? "lora_alpha" : "alpha = rank") + " unless they have .alpha tensors";
  return "";
}

}  // namespace genplug::flux
