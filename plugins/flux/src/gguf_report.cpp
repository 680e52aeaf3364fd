// See gguf_report.hpp.
#include "gguf_report.hpp"

#include <map>

#include <genplug/flux/checkpoint_layout.hpp>

#include "checkpoint_report.hpp"
#include "component_report.hpp"

namespace genplug::flux {
using nlohmann::json;

bool gguf_holds_flux_weights(const gguf::File& file) {
  return !detect_components(names_of(file.shapes())).empty();
}

json gguf_report(const gguf::File& file) {
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_type;  // count, bytes
  uint64_t total = 0;
  json tensors = json::array();
  for (const auto& t : file.tensors()) {
    const std::string type = gguf::type_name(static_cast<uint32_t>(t.type));
    by_type[type].first += 1;
    by_type[type].second += t.nbytes;
    total += t.nbytes;
    tensors.push_back({{"name", t.name}, {"dtype", type}, {"shape", t.shape}, {"bytes", t.nbytes}});
  }
  json dtypes = json::object();
  for (const auto& [name, d] : by_type) dtypes[name] = {{"tensors", d.first}, {"bytes", d.second}};
  json out = {{"format", "gguf"}, {"path", file.name()}, {"version", file.version()},
              {"alignment", file.alignment()}, {"tensor_count", file.tensors().size()}, {"total_bytes", total},
              {"metadata", file.strings()}, {"dtypes", dtypes}, {"components", json::array()},
              {"notes", json::array()}};
  const ShapeMap shapes = file.shapes();
  for (const auto& c : detect_components(names_of(shapes))) out["components"].push_back(component_report(c, shapes));
  std::string what;
  for (const auto& c : out["components"])
    what += (what.empty() ? "FLUX weights: " : " + ") + c["kind"].get<std::string>() + " (" +
            c["layout"].get<std::string>() + " keys)";
  if (what.empty()) {
    what = "GGUF with no FLUX component";
    out["notes"].push_back("layout: unknown (no FLUX transformer, autoencoder, T5 or CLIP keys found)");
  }
  std::string types;
  for (const auto& [name, d] : by_type) types += (types.empty() ? "" : ", ") + name;
  out["summary"] = what + "; " + std::to_string(file.tensors().size()) + " tensors (" + types + "), " +
                   human_bytes(total);
  out["tensors"] = std::move(tensors);
  return out;
}

}  // namespace genplug::flux
