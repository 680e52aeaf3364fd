// Autoencoder key names. diffusers mapping from convert_ldm_vae_checkpoint (reference flux.md section 7),
// inverted: down_blocks.i.resnets.j -> down.i.block.j, up_blocks.k -> up.(L-1-k), mid_block.resnets.{0,1} ->
// mid.block_{1,2}, mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0} -> mid.attn_1.{norm,q,k,v,
// proj_out} (older diffusers: query/key/value/proj_attn), conv_shortcut -> nin_shortcut, conv_norm_out ->
// norm_out, downsamplers.0 / upsamplers.0 -> downsample / upsample.
#include "key_layout.hpp"

#include <regex>
#include <set>
#include <stdexcept>

#include <genplug/flux/checkpoint_layout.hpp>
#include <genplug/flux/name_text.hpp>

namespace genplug::flux::vae {
namespace {

const std::string kAnchor = "decoder.conv_in.weight";
const std::vector<std::string> kRoots = {"encoder.", "decoder.", "quant_conv.", "post_quant_conv."};

bool is_autoencoder_key(const std::string& key, const std::string& prefix) {
  if (!starts_with(key, prefix)) return false;
  for (const auto& root : kRoots)
    if (key.compare(prefix.size(), root.size(), root) == 0) return true;
  return false;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

const char* layout_name(KeyLayout layout) { return layout == KeyLayout::bfl ? "BFL" : "diffusers"; }

std::string diffusers_to_bfl(const std::string& key, int up_levels) {
  static const std::regex down_block(R"(^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$)");
  static const std::regex down_sample(R"(^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)$)");
  static const std::regex up_block(R"(^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)$)");
  static const std::regex up_sample(R"(^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)$)");
  static const std::regex mid_block(R"(^(encoder|decoder)\.mid_block\.resnets\.([01])\.(.*)$)");
  static const std::regex mid_attn(
      R"(^(encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0|query|key|value|proj_attn)\.(weight|bias)$)");
  static const std::regex plain(R"(^(encoder|decoder)\.(conv_in|conv_out|conv_norm_out)\.(weight|bias)$)");
  static const std::map<std::string, std::string> attn_names = {
      {"group_norm", "norm"}, {"to_q", "q"},    {"to_k", "k"},   {"to_v", "v"},
      {"to_out.0", "proj_out"}, {"query", "q"}, {"key", "k"},    {"value", "v"}, {"proj_attn", "proj_out"}};
  auto resnet_tail = [](const std::string& tail) { return replace_all(tail, "conv_shortcut.", "nin_shortcut."); };
  auto up_index = [up_levels](const std::string& k) { return std::to_string(up_levels - 1 - std::stoi(k)); };

  std::smatch m;
  if (std::regex_match(key, m, down_block))
    return "encoder.down." + m[1].str() + ".block." + m[2].str() + "." + resnet_tail(m[3]);
  if (std::regex_match(key, m, down_sample)) return "encoder.down." + m[1].str() + ".downsample.conv." + m[2].str();
  if (std::regex_match(key, m, up_block))
    return "decoder.up." + up_index(m[1]) + ".block." + m[2].str() + "." + resnet_tail(m[3]);
  if (std::regex_match(key, m, up_sample)) return "decoder.up." + up_index(m[1]) + ".upsample.conv." + m[2].str();
  if (std::regex_match(key, m, mid_block))
    return m[1].str() + ".mid.block_" + (m[2] == "0" ? "1" : "2") + "." + resnet_tail(m[3]);
  if (std::regex_match(key, m, mid_attn)) return m[1].str() + ".mid.attn_1." + attn_names.at(m[2]) + "." + m[3].str();
  if (std::regex_match(key, m, plain))
    return m[1].str() + "." + (m[2] == "conv_norm_out" ? std::string("norm_out") : m[2].str()) + "." + m[3].str();
  if (starts_with(key, "quant_conv.") || starts_with(key, "post_quant_conv.")) return key;  // rejected at load
  return {};
}

std::string bfl_to_diffusers(const std::string& key, int up_levels) {
  static const std::regex down_block(R"(^encoder\.down\.(\d+)\.block\.(\d+)\.(.*)$)");
  static const std::regex down_sample(R"(^encoder\.down\.(\d+)\.downsample\.conv\.(.*)$)");
  static const std::regex up_block(R"(^decoder\.up\.(\d+)\.block\.(\d+)\.(.*)$)");
  static const std::regex up_sample(R"(^decoder\.up\.(\d+)\.upsample\.conv\.(.*)$)");
  static const std::regex mid_block(R"(^(encoder|decoder)\.mid\.block_([12])\.(.*)$)");
  static const std::regex mid_attn(R"(^(encoder|decoder)\.mid\.attn_1\.(norm|q|k|v|proj_out)\.(.*)$)");
  static const std::map<std::string, std::string> attn_names = {
      {"norm", "group_norm"}, {"q", "to_q"}, {"k", "to_k"}, {"v", "to_v"}, {"proj_out", "to_out.0"}};
  auto resnet_tail = [](const std::string& tail) { return replace_all(tail, "nin_shortcut.", "conv_shortcut."); };
  auto up_index = [up_levels](const std::string& b) { return std::to_string(up_levels - 1 - std::stoi(b)); };

  std::smatch m;
  if (std::regex_match(key, m, down_block))
    return "encoder.down_blocks." + m[1].str() + ".resnets." + m[2].str() + "." + resnet_tail(m[3]);
  if (std::regex_match(key, m, down_sample))
    return "encoder.down_blocks." + m[1].str() + ".downsamplers.0.conv." + m[2].str();
  if (std::regex_match(key, m, up_block))
    return "decoder.up_blocks." + up_index(m[1]) + ".resnets." + m[2].str() + "." + resnet_tail(m[3]);
  if (std::regex_match(key, m, up_sample))
    return "decoder.up_blocks." + up_index(m[1]) + ".upsamplers.0.conv." + m[2].str();
  if (std::regex_match(key, m, mid_block))
    return m[1].str() + ".mid_block.resnets." + (m[2] == "1" ? "0" : "1") + "." + resnet_tail(m[3]);
  if (std::regex_match(key, m, mid_attn))
    return m[1].str() + ".mid_block.attentions.0." + attn_names.at(m[2]) + "." + m[3].str();
  return replace_all(key, "norm_out.", "conv_norm_out.");
}

std::string original_name(const KeyMapping& mapping, const std::string& internal, int up_levels) {
  if (auto found = mapping.internal_to_original.find(internal); found != mapping.internal_to_original.end())
    return found->second;
  return mapping.prefix + (mapping.layout == KeyLayout::bfl ? internal : bfl_to_diffusers(internal, up_levels));
}

KeyMapping map_autoencoder_keys(const std::vector<std::string>& keys, const std::string& source) {
  std::set<std::string> prefixes;
  for (const auto& key : keys)
    if (key.size() >= kAnchor.size() && key.compare(key.size() - kAnchor.size(), kAnchor.size(), kAnchor) == 0)
      prefixes.insert(key.substr(0, key.size() - kAnchor.size()));
  if (prefixes.empty())
    throw WeightError(source + ": no autoencoder found (no tensor '" + kAnchor +
                      "', with or without a prefix)");
  if (prefixes.size() > 1) {
    std::string list;
    for (const auto& p : prefixes) list += (list.empty() ? "'" : ", '") + p + kAnchor + "'";
    throw WeightError(source + ": several autoencoders found (" + list + ")");
  }

  KeyMapping mapping;
  mapping.prefix = *prefixes.begin();
  std::set<int> up_blocks;
  static const std::regex up_block_index(R"(^decoder\.up_blocks\.(\d+)\.)");
  for (const auto& key : keys) {
    if (!is_autoencoder_key(key, mapping.prefix)) continue;
    const std::string bare = key.substr(mapping.prefix.size());
    std::smatch m;
    if (std::regex_search(bare, m, up_block_index)) up_blocks.insert(std::stoi(m[1]));
    if (starts_with(bare, "decoder.mid_block.") || starts_with(bare, "encoder.mid_block.") ||
        starts_with(bare, "encoder.down_blocks.") || starts_with(bare, "decoder.up_blocks."))
      mapping.layout = KeyLayout::diffusers;
  }

  for (const auto& key : keys) {
    if (!is_autoencoder_key(key, mapping.prefix)) continue;
    const std::string bare = key.substr(mapping.prefix.size());
    std::string internal = bare;
    if (mapping.layout == KeyLayout::diffusers) {
      internal = diffusers_to_bfl(bare, up_blocks.empty() ? 0 : *up_blocks.rbegin() + 1);
      if (internal.empty())
        throw WeightError(source + ": tensor '" + key +
                          "' is not a known diffusers AutoencoderKL name (layout detected: diffusers)");
    }
    if (!mapping.internal_to_original.emplace(internal, key).second)
      throw WeightError(source + ": tensors '" + mapping.internal_to_original[internal] + "' and '" + key +
                        "' both map to '" + internal + "'");
  }
  return mapping;
}

}  // namespace genplug::flux::vae
