// See lora_report.hpp.
#include "lora_report.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include <genplug/flux/lora_keys.hpp>
#include <genplug/flux/lora_metadata.hpp>
#include <genplug/flux/name_text.hpp>

namespace genplug::flux {
namespace {

using nlohmann::json;

// Whether a projection reads the hidden state: mlp outputs and input embedders do not (they write it).
bool reads_hidden(const std::string& target) {
  return !(target.find("mlp.2.") != std::string::npos || target.find("linear2.") != std::string::npos ||
           target.find("_in.") != std::string::npos || target.find("img_in") == 0 || target.find("txt_in") == 0);
}

// The block index of `target` from `at` ("double_blocks.12.img_attn.qkv.weight", 14: 12) as the model's own names
// write it, decimal without leading zeros; -1 for any other ("00", "1e3", past 10^10): no weight is named so.
int64_t block_index(const std::string& target, std::size_t at) {
  std::size_t end = at;
  while (end < target.size() && end - at < 10 && target[end] >= '0' && target[end] <= '9') ++end;
  const bool canonical = end > at && end < target.size() && target[end] == '.' && (target[at] != '0' || end == at + 1);
  return canonical ? std::stoll(target.substr(at, end - at)) : -1;
}

struct Tally {
  std::set<std::string> formats;
  std::set<int64_t> ranks;
  std::set<double> alphas;
  std::map<int64_t, int64_t> hidden_widths;  // hidden size as each module tells it -> module count
  int64_t doubles = 0, singles = 0, others = 0, deepest_double = -1, deepest_single = -1;
  std::string unusable_alpha;  // the first module whose alpha / rank is no finite float32: the run refuses it
  std::string unusable_index;  // the first module whose block index no model has ("00"): the run refuses it

  void add(const LoraModule& m, const safetensors::Checkpoint& ckpt, const ShapeMap& shapes) {
    formats.insert(lora_format_name(m.format));
    const auto& down = shapes.at(m.down);
    const auto& up = shapes.at(m.up);
    if (down.size() == 2) ranks.insert(down[0]);
    // Its input width where it reads the hidden state, else its output width (an img_in LoRA alone had been
    // reported with the latent's channels as the hidden size).
    if (reads_hidden(m.target) && down.size() == 2) ++hidden_widths[down[1]];
    if (!reads_hidden(m.target) && up.size() == 2) ++hidden_widths[up[0]];
    // Its .alpha tensor, else the header's PEFT config, as the run takes them (lora_metadata.hpp).
    std::optional<double> alpha;
    if (!m.alpha.empty())
      alpha = safetensors::to_float32(ckpt.at(m.alpha)).at(0);
    else
      alpha = metadata_alpha(ckpt, m.module);
    // The run's factor is scale x alpha / rank in float32 (lora.cpp); at scale 1, a NaN, an infinity or 1e300:
    const double rank = down.size() == 2 && down[0] > 0 ? double(down[0]) : 1.0;
    const bool usable = !alpha || std::abs(*alpha / rank) <= double(std::numeric_limits<float>::max());
    if (alpha && usable) alphas.insert(*alpha);
    if (!usable && unusable_alpha.empty())
      unusable_alpha = m.module + ": its alpha, " + (std::isnan(*alpha) ? std::string("NaN") : json(*alpha).dump()) +
                       ", over its rank is no finite float32 factor";
    auto index = [&](const std::string& block) {
      const int64_t i = block_index(m.target, block.size());
      if (i < 0 && unusable_index.empty())
        unusable_index = "LoRA module '" + m.module + "' changes '" + m.target + "', which no FLUX transformer has";
      return i;
    };
    if (starts_with(m.target, "double_blocks."))
      ++doubles, deepest_double = std::max(deepest_double, index("double_blocks."));
    else if (starts_with(m.target, "single_blocks."))
      ++singles, deepest_single = std::max(deepest_single, index("single_blocks."));
    else
      ++others;
  }
  // The width most modules tell.
  int64_t hidden_size() const {
    int64_t hidden = 0, most = 0;
    for (const auto& [width, count] : hidden_widths)
      if (count > most) hidden = width, most = count;
    return hidden;
  }
};

// "1, 2" for a list of values; `none` for an empty one.
std::string list(const json& values, const std::string& none) {
  std::string s;
  for (const auto& v : values) s += (s.empty() ? "" : ", ") + (v.is_string() ? v.get<std::string>() : v.dump());
  return s.empty() ? none : s;
}

}  // namespace

json lora_report(const safetensors::Checkpoint& ckpt, const ShapeMap& shapes) {
  std::vector<std::string> names;
  for (const auto& [name, shape] : shapes) names.push_back(name);
  const std::string source = ckpt.path().string();
  LoraPlan plan;
  try {
    plan = plan_lora(names, source);
    // What the run refuses whatever the model: no transformer module (text-encoder tensors alone), factors that
    // do not make a low-rank update (not matrices, rank 0, ranks that differ, integers), an alpha that is no
    // scalar.
    if (!plan.text_encoder.empty()) check_lora_has_modules(plan, source);
    for (const auto& m : plan.modules) {
      check_lora_factors(m, shapes, source);
      check_lora_dtypes(m, ckpt, source);
    }
  } catch (const WeightError& e) {  // a LoRA genplug cannot apply: say why
    return {{"error", e.what()}};
  }
  if (plan.modules.empty()) return nullptr;
  Tally t;
  for (const auto& m : plan.modules) t.add(m, ckpt, shapes);
  if (!t.unusable_alpha.empty()) return {{"error", source + ": " + t.unusable_alpha}};  // as the run refuses it
  if (!t.unusable_index.empty()) return {{"error", source + ": " + t.unusable_index}};
  const int64_t hidden = t.hidden_size();
  json j = {{"formats", t.formats}, {"modules", plan.modules.size()}, {"ranks", t.ranks}, {"alphas", t.alphas},
            {"double_block_modules", t.doubles}, {"single_block_modules", t.singles}, {"other_modules", t.others},
            {"hidden_size", hidden}, {"min_depth", t.deepest_double + 1},
            {"min_depth_single_blocks", t.deepest_single + 1}, {"text_encoder_tensors", plan.text_encoder.size()},
            {"unknown_tensors", plan.unknown}, {"overlaps", lora_overlaps(plan)}};
  // What the run warns of the header's PEFT config (a lora_alpha or alpha_pattern value that is no number), without
  // the file's name: the file is the report's subject.
  const std::string metadata = metadata_note(ckpt, "");
  j["notes"] = metadata.empty() ? json::array() : json::array({metadata});
  j["fits"] = "a FLUX transformer with hidden size " + std::to_string(hidden) + ", at least " +
              std::to_string(t.deepest_double + 1) + " double and " + std::to_string(t.deepest_single + 1) +
              " single blocks" + (hidden == 3072 ? " (FLUX.1-dev / -schnell shapes)" : "");
  return j;
}

std::vector<std::string> lora_notes(const json& l) {
  if (l.contains("error")) return {"lora: cannot be applied: " + l["error"].get<std::string>()};
  std::vector<std::string> lines;
  lines.push_back("lora: " + list(l["formats"], "no") + " keys, " + l["modules"].dump() + " modules (" +
                  l["double_block_modules"].dump() + " in double blocks, " + l["single_block_modules"].dump() +
                  " in single blocks, " + l["other_modules"].dump() + " other)");
  lines.push_back("  rank: " + list(l["ranks"], "none") + "; alpha: " + list(l["alphas"], "none (alpha = rank)"));
  lines.push_back("  fits: " + l["fits"].get<std::string>());
  for (const auto& o : l["overlaps"]) lines.push_back("  overlap: " + o.get<std::string>());
  for (const auto& n : l.value("notes", json::array())) lines.push_back("  note: " + n.get<std::string>());
  if (l["text_encoder_tensors"].get<int64_t>() > 0)
    lines.push_back("  ignored: " + l["text_encoder_tensors"].dump() +
                    " text-encoder tensors (only the transformer is adapted)");
  for (const auto& u : l["unknown_tensors"]) lines.push_back("  unknown tensor (ignored): " + u.get<std::string>());
  return lines;
}

}  // namespace genplug::flux
