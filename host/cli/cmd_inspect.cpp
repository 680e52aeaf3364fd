// genplug inspect FILE — a checkpoint's header: tensors, dtypes, shapes, total size, the components found
// (FLUX transformer in BFL or diffusers keys, autoencoder, T5, CLIP) and, for a transformer, the inferred config.
// Reads only the header (memory-mapped); no torch.
#include <iostream>

#include "command.hpp"

#if __has_include(<genplug/safetensors.hpp>)
#include <cstdio>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include <genplug/flux/checkpoint_layout.hpp>
#include <genplug/flux/lora_keys.hpp>
#include <genplug/flux/transformer_keys.hpp>
#include <genplug/safetensors.hpp>

namespace genplug::cli {
namespace {

namespace st = genplug::safetensors;
namespace gf = genplug::flux;
using nlohmann::json;

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", v, units[u]);
  return buf;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// How many consecutive "<block>N." indices exist.
int64_t count_indexed(const gf::ShapeMap& shapes, const std::string& block) {
  std::set<int64_t> seen;
  for (const auto& [name, shape] : shapes) {
    if (!starts_with(name, block)) continue;
    const std::string rest = name.substr(block.size());
    const auto dot = rest.find('.');
    if (dot == 0 || dot == std::string::npos || rest.find_first_not_of("0123456789") != dot) continue;
    seen.insert(std::stoll(rest.substr(0, dot)));
  }
  int64_t n = 0;
  while (seen.count(n)) ++n;
  return n;
}

int64_t dim(const gf::ShapeMap& shapes, const std::string& name, std::size_t i) {
  const auto it = shapes.find(name);
  return it != shapes.end() && it->second.size() > i ? it->second[i] : -1;
}

json flux_config_json(const gf::FluxConfig& c) {
  return {{"in_channels", c.in_channels},         {"out_channels", c.out_channels},
          {"vec_in_dim", c.vec_in_dim},           {"context_in_dim", c.context_in_dim},
          {"hidden_size", c.hidden_size},         {"mlp_ratio", c.mlp_ratio},
          {"num_heads", c.num_heads},             {"head_dim", c.head_dim()},
          {"depth", c.depth},                     {"depth_single_blocks", c.depth_single_blocks},
          {"axes_dim", c.axes_dim.empty() ? json(nullptr) : json(c.axes_dim)},
          {"qkv_bias", c.qkv_bias},               {"guidance_embed", c.guidance_embed}};
}

// What the component's shapes say about its size. Best effort: fields whose tensors are absent are left out.
json describe(const gf::Component& c, const gf::ShapeMap& all) {
  json out = {{"kind", gf::kind_name(c.kind)}, {"layout", gf::layout_name(c.layout)}, {"prefix", c.prefix},
              {"tensors", c.tensors}};
  gf::ShapeMap s;  // the component's names, prefix stripped
  for (const auto& [name, shape] : all)
    if (starts_with(name, c.prefix)) s.emplace(name.substr(c.prefix.size()), shape);
  switch (c.kind) {
    case gf::ModelKind::flux_transformer:
      try {
        gf::ShapeMap prefixed;
        for (const auto& [name, shape] : s) prefixed.emplace(c.prefix + name, shape);
        const auto bfl = gf::bfl_transformer_shapes(prefixed, "checkpoint");
        out["config"] = flux_config_json(gf::infer_flux_config(bfl, "checkpoint"));
        int64_t params = 0;
        for (const auto& [name, shape] : bfl) {
          int64_t k = 1;
          for (int64_t d : shape) k *= d;
          params += k;
        }
        out["parameters"] = params;
      } catch (const std::exception& e) {
        out["config_error"] = e.what();
      }
      break;
    case gf::ModelKind::autoencoder: {
      const bool bfl = c.layout == gf::KeyLayout::bfl;
      const std::string down = bfl ? "encoder.down." : "encoder.down_blocks.";
      const int64_t levels = count_indexed(s, down);
      const int64_t ch = dim(s, "encoder.conv_in.weight", 0);
      json mult = json::array();
      for (int64_t i = 0; i < levels && ch > 0; ++i) {
        const std::string res = down + std::to_string(i) + (bfl ? ".block.0.conv2.weight" : ".resnets.0.conv2.weight");
        mult.push_back(dim(s, res, 0) / ch);
      }
      out["config"] = {{"z_channels", dim(s, "decoder.conv_in.weight", 1)}, {"ch", ch}, {"ch_mult", mult},
                       {"num_res_blocks", count_indexed(s, down + "0." + (bfl ? "block." : "resnets."))}};
      break;
    }
    case gf::ModelKind::t5_encoder:
      out["config"] = {{"vocab_size", dim(s, "shared.weight", 0)}, {"d_model", dim(s, "shared.weight", 1)},
                       {"num_layers", count_indexed(s, "encoder.block.")},
                       {"d_ff", dim(s, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", 0)}};
      break;
    case gf::ModelKind::clip_text:
      out["config"] = {{"vocab_size", dim(s, "text_model.embeddings.token_embedding.weight", 0)},
                       {"hidden_size", dim(s, "text_model.embeddings.token_embedding.weight", 1)},
                       {"num_layers", count_indexed(s, "text_model.encoder.layers.")},
                       {"max_positions", dim(s, "text_model.embeddings.position_embedding.weight", 0)}};
      break;
  }
  return out;
}

// A LoRA file: its formats, ranks and alphas, the transformer modules it changes, and the model it fits (the
// hidden size its factors imply, the deepest blocks it touches). Empty when the file holds no LoRA module.
json describe_lora(const st::Checkpoint& ckpt, const gf::ShapeMap& shapes, const std::vector<std::string>& names) {
  gf::LoraPlan plan;
  try {
    plan = gf::plan_lora(names, ckpt.path().string());
  } catch (const gf::WeightError& e) {  // a LoRA genplug cannot apply (DoRA, LoHa, a half module): say why
    return {{"error", e.what()}};
  }
  if (plan.modules.empty() && plan.text_encoder.empty()) return nullptr;
  std::set<std::string> formats;
  std::set<int64_t> ranks;
  std::set<double> alphas;
  std::map<int64_t, int64_t> inputs;  // input width -> modules
  int64_t doubles = 0, singles = 0, others = 0, deepest_double = -1, deepest_single = -1;
  for (const auto& m : plan.modules) {
    formats.insert(gf::lora_format_name(m.format));
    const auto& down = shapes.at(m.down);
    // Projections that read the hidden state tell the hidden size; mlp outputs and input embedders do not.
    const bool reads_hidden = !(m.target.find("mlp.2.") != std::string::npos || m.target.find("linear2.") != std::string::npos ||
                                m.target.find("_in.") != std::string::npos || m.target.find("img_in") == 0 ||
                                m.target.find("txt_in") == 0);
    if (down.size() == 2) ranks.insert(down[0]), inputs[down[1]] += reads_hidden ? 1000 : 1;
    if (!m.alpha.empty()) alphas.insert(st::to_float32(ckpt.at(m.alpha)).at(0));
    auto block_index = [&](const std::string& block) { return int64_t(std::stoll(m.target.substr(block.size()))); };
    if (starts_with(m.target, "double_blocks.")) ++doubles, deepest_double = std::max(deepest_double, block_index("double_blocks."));
    else if (starts_with(m.target, "single_blocks.")) ++singles, deepest_single = std::max(deepest_single, block_index("single_blocks."));
    else ++others;
  }
  // Most projections read the hidden state, so the commonest input width is the hidden size.
  int64_t hidden = 0, most = 0;
  for (const auto& [width, count] : inputs)
    if (count > most) hidden = width, most = count;
  json j = {{"formats", formats}, {"modules", plan.modules.size()}, {"ranks", ranks}, {"alphas", alphas},
            {"double_block_modules", doubles}, {"single_block_modules", singles}, {"other_modules", others},
            {"hidden_size", hidden}, {"min_depth", deepest_double + 1}, {"min_depth_single_blocks", deepest_single + 1},
            {"text_encoder_tensors", plan.text_encoder.size()}, {"unknown_tensors", plan.unknown}};
  j["fits"] = "a FLUX transformer with hidden size " + std::to_string(hidden) + ", at least " +
              std::to_string(deepest_double + 1) + " double and " + std::to_string(deepest_single + 1) + " single blocks" +
              (hidden == 3072 ? " (FLUX.1-dev / -schnell shapes)" : "");
  return j;
}

json inspect(const std::string& path, bool with_tensors) {
  const st::Checkpoint ckpt(path);
  json out = {{"path", path}, {"files", json::array()}, {"tensor_count", ckpt.tensors().size()},
              {"total_bytes", ckpt.total_bytes()}, {"metadata", ckpt.metadata()}};
  for (const auto& f : ckpt.files())
    out["files"].push_back({{"path", f->path().string()}, {"bytes", f->file_size()}, {"header_bytes", f->header_size()},
                            {"tensors", f->tensors().size()}});
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_dtype;  // count, bytes
  for (const auto& t : ckpt.tensors()) {
    auto& d = by_dtype[st::dtype_name(t.dtype)];
    d.first += 1;
    d.second += t.nbytes;
  }
  out["dtypes"] = json::object();
  for (const auto& [name, d] : by_dtype) out["dtypes"][name] = {{"tensors", d.first}, {"bytes", d.second}};

  const gf::ShapeMap shapes = gf::shapes_of(ckpt);
  std::vector<std::string> names;
  for (const auto& [name, shape] : shapes) names.push_back(name);
  out["components"] = json::array();
  for (const auto& c : gf::detect_components(names)) out["components"].push_back(describe(c, shapes));
  if (json lora = describe_lora(ckpt, shapes, names); !lora.is_null()) out["lora"] = lora;
  if (with_tensors) {
    out["tensors"] = json::array();
    for (const auto& t : ckpt.tensors()) {
      json entry = {{"name", t.name}, {"dtype", st::dtype_name(t.dtype)}, {"shape", t.shape}, {"bytes", t.nbytes}};
      if (ckpt.files().size() > 1) entry["file"] = t.file->path().filename().string();
      out["tensors"].push_back(entry);
    }
  }
  return out;
}

void print_text(const json& j, std::ostream& os) {
  os << "checkpoint: " << j["path"].get<std::string>() << "\n";
  for (const auto& f : j["files"])
    os << "  file: " << f["path"].get<std::string>() << " (" << human_bytes(f["bytes"]) << ", header "
       << f["header_bytes"].get<uint64_t>() << " bytes, " << f["tensors"].get<uint64_t>() << " tensors)\n";
  os << "tensors: " << j["tensor_count"].get<uint64_t>() << ", " << human_bytes(j["total_bytes"]) << " ("
     << j["total_bytes"].get<uint64_t>() << " bytes)\n";
  os << "dtypes:";
  for (const auto& [name, d] : j["dtypes"].items())
    os << " " << name << " x" << d["tensors"].get<uint64_t>() << " (" << human_bytes(d["bytes"]) << ")";
  os << "\n";
  for (const auto& [k, v] : j["metadata"].items()) os << "metadata: " << k << " = " << v.get<std::string>() << "\n";
  if (j.contains("lora") && j["lora"].contains("error")) {
    os << "lora: cannot be applied: " << j["lora"]["error"].get<std::string>() << "\n";
  } else if (j.contains("lora")) {
    const json& l = j["lora"];
    auto list = [](const json& values) {
      std::string s;
      for (const auto& v : values) s += (s.empty() ? "" : ", ") + (v.is_string() ? v.get<std::string>() : v.dump());
      return s.empty() ? std::string("none (alpha = rank)") : s;
    };
    os << "lora: " << list(l["formats"]) << " keys, " << l["modules"].get<int64_t>() << " modules ("
       << l["double_block_modules"].get<int64_t>() << " in double blocks, " << l["single_block_modules"].get<int64_t>()
       << " in single blocks, " << l["other_modules"].get<int64_t>() << " other)\n";
    os << "  rank: " << list(l["ranks"]) << "; alpha: " << list(l["alphas"]) << "\n";
    os << "  fits: " << l["fits"].get<std::string>() << "\n";
    if (l["text_encoder_tensors"].get<int64_t>() > 0)
      os << "  ignored: " << l["text_encoder_tensors"].get<int64_t>() << " text-encoder tensors (only the transformer is adapted)\n";
    for (const auto& u : l["unknown_tensors"]) os << "  unknown tensor (ignored): " << u.get<std::string>() << "\n";
  } else if (j["components"].empty()) {
    os << "layout: unknown (no FLUX transformer, autoencoder, T5, CLIP or LoRA keys found)\n";
  }
  for (const auto& c : j["components"]) {
    os << "layout: " << c["kind"].get<std::string>() << " (" << c["layout"].get<std::string>() << " keys";
    if (!c["prefix"].get<std::string>().empty()) os << ", prefix '" << c["prefix"].get<std::string>() << "'";
    os << ", " << c["tensors"].get<uint64_t>() << " tensors)\n";
    if (c.contains("config")) {
      os << "  config:";
      for (const auto& [k, v] : c["config"].items()) os << " " << k << "=" << (v.is_null() ? "unknown" : v.dump());
      os << "\n";
    }
    if (c.contains("parameters")) os << "  parameters: " << c["parameters"].get<int64_t>() << "\n";
    if (c.contains("config_error")) os << "  config: cannot infer: " << c["config_error"].get<std::string>() << "\n";
  }
  if (!j.contains("tensors")) return;
  std::size_t width = 4;
  for (const auto& t : j["tensors"]) width = std::max(width, t["name"].get<std::string>().size());
  os << std::left << std::setw(static_cast<int>(width) + 2) << "NAME" << std::setw(9) << "DTYPE" << "SHAPE\n";
  for (const auto& t : j["tensors"]) {
    os << std::setw(static_cast<int>(width) + 2) << t["name"].get<std::string>() << std::setw(9)
       << t["dtype"].get<std::string>() << gf::shape_string(t["shape"].get<std::vector<int64_t>>());
    if (t.contains("file")) os << "  " << t["file"].get<std::string>();
    os << "\n";
  }
}

void setup(CLI::App& cmd, Globals&) {
  static std::string path;
  static bool as_json = false;
  static bool summary = false;
  cmd.add_option("FILE", path, "A .safetensors file, a *.safetensors.index.json, or a folder of them")
      ->required()
      ->type_name("PATH");
  cmd.add_flag("--json", as_json, "Print JSON instead of text");
  cmd.add_flag("--summary", summary, "Leave out the per-tensor list");
  cmd.callback([] {
    json j;
    try {
      j = inspect(path, !summary);
    } catch (const st::Error& e) {
      throw host::HostError(host::ErrorKind::runtime, e.what());
    }
    if (as_json)
      std::cout << j.dump(2) << "\n";
    else
      print_text(j, std::cout);
  });
}

RegisterCommand reg("inspect", "Print a safetensors checkpoint's header, detected layout and inferred config", setup);

}  // namespace
}  // namespace genplug::cli

#else  // built without the FLUX plugin's safetensors library

namespace genplug::cli {
namespace {
void setup(CLI::App& cmd, Globals&) {
  static std::string path;
  cmd.add_option("FILE", path, "A .safetensors checkpoint")->required();
  cmd.callback([] {
    throw host::HostError(host::ErrorKind::usage,
                          "inspect needs the safetensors library, which is built with GENPLUG_BUILD_TORCH=ON");
  });
}
RegisterCommand reg("inspect", "Print a safetensors checkpoint's header (not available in this build)", setup);
}  // namespace
}  // namespace genplug::cli
#endif
