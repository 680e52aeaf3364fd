// See checkpoint_report.hpp.
#include "checkpoint_report.hpp"

#include <cstdio>
#include <map>

#include <genplug/flux/checkpoint_layout.hpp>

#include "component_report.hpp"
#include "lora_report.hpp"

namespace genplug::flux {
namespace {

namespace st = genplug::safetensors;
using nlohmann::json;

json files_json(const st::Checkpoint& ckpt) {
  json files = json::array();
  for (const auto& f : ckpt.files())
    files.push_back({{"path", f->path().string()}, {"bytes", f->file_size()}, {"header_bytes", f->header_size()},
                     {"tensors", f->tensors().size()}});
  return files;
}

json dtypes_json(const st::Checkpoint& ckpt) {
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_dtype;  // count, bytes
  for (const auto& t : ckpt.tensors()) {
    auto& d = by_dtype[st::dtype_name(t.dtype)];
    d.first += 1;
    d.second += t.nbytes;
  }
  json out = json::object();
  for (const auto& [name, d] : by_dtype) out[name] = {{"tensors", d.first}, {"bytes", d.second}};
  return out;
}

json tensors_json(const st::Checkpoint& ckpt) {
  json out = json::array();
  for (const auto& t : ckpt.tensors()) {
    json entry = {{"name", t.name}, {"dtype", st::dtype_name(t.dtype)}, {"shape", t.shape}, {"bytes", t.nbytes}};
    if (ckpt.files().size() > 1) entry["file"] = t.file->path().filename().string();
    out.push_back(entry);
  }
  return out;
}

// What the file is, in one line: its components, or its LoRA, then its size.
std::string summary(const json& report) {
  std::string what;
  for (const auto& c : report["components"])
    what += (what.empty() ? "FLUX weights: " : " + ") + c["kind"].get<std::string>() + " (" +
            c["layout"].get<std::string>() + " keys)";
  if (report.contains("lora") && report["lora"].contains("error"))
    what = "a LoRA genplug cannot apply";
  else if (report.contains("lora"))
    what = "FLUX LoRA: " + report["lora"]["modules"].dump() + " modules";
  if (what.empty()) what = "safetensors with no FLUX component";
  return what + "; " + report["tensor_count"].dump() + " tensors, " + human_bytes(report["total_bytes"]);
}

}  // namespace

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) v /= 1024.0, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", v, units[u]);
  return buf;
}

std::vector<std::string> names_of(const ShapeMap& shapes) {
  std::vector<std::string> names;
  for (const auto& [name, shape] : shapes) names.push_back(name);
  return names;
}

bool holds_flux_weights(const st::Checkpoint& ckpt) {
  const ShapeMap shapes = shapes_of(ckpt);
  return !detect_components(names_of(shapes)).empty() || !lora_report(ckpt, shapes).is_null();
}

json checkpoint_report(const st::Checkpoint& ckpt) {
  json out = {{"format", "safetensors"}, {"path", ckpt.path().string()}, {"files", files_json(ckpt)},
              {"tensor_count", ckpt.tensors().size()}, {"total_bytes", ckpt.total_bytes()},
              {"metadata", ckpt.metadata()}, {"dtypes", dtypes_json(ckpt)}, {"components", json::array()},
              {"notes", json::array()}};
  const ShapeMap shapes = shapes_of(ckpt);
  for (const auto& c : detect_components(names_of(shapes))) out["components"].push_back(component_report(c, shapes));
  if (json lora = lora_report(ckpt, shapes); !lora.is_null()) {
    out["notes"] = lora_notes(lora);
    out["lora"] = std::move(lora);
  } else if (out["components"].empty()) {
    out["notes"].push_back("layout: unknown (no FLUX transformer, autoencoder, T5, CLIP or LoRA keys found)");
  }
  out["summary"] = summary(out);
  out["tensors"] = tensors_json(ckpt);
  return out;
}

}  // namespace genplug::flux
