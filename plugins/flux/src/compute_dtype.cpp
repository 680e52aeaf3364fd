#include "compute_dtype.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <genplug/flux/transformer.hpp>
#include <genplug/plugin.hpp>

namespace genplug::flux {

std::string dtype_name(torch::Dtype dtype) {
  if (dtype == torch::kFloat32) return "f32";
  if (dtype == torch::kBFloat16) return "bf16";
  if (dtype == torch::kFloat16) return "f16";
  return std::string(c10::toString(dtype));
}

namespace {

// oneDNN's ISA cap, if any, leaves bf16 products native: AVX512_CORE_BF16, _FP16 (a superset), the AMX levels, ALL.
bool onednn_cap_allows_bf16() {
  const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (!cap) cap = std::getenv("DNNL_MAX_CPU_ISA");
  if (!cap || !*cap) return true;
  std::string v(cap);
  for (char& ch : v) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  return v == "ALL" || v == "DEFAULT" || v.find("BF16") != std::string::npos ||
         v.find("FP16") != std::string::npos || v.find("AMX") != std::string::npos;
}

}  // namespace

bool cpu_has_native_bf16() {
  if (!onednn_cap_allows_bf16()) return false;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string flag; words >> flag;)
      if (flag == "avx512_bf16" || flag == "amx_bf16") return true;
    return false;  // the first processor's flags stand for all
  }
  return false;
}

torch::Dtype resolve_compute_dtype(const std::string& setting, torch::Dtype weights, const torch::Device& device) {
  if (setting != "auto") {
    try {
      return parse_dtype(setting);
    } catch (const ConfigError&) {
      throw ConfigError("config.compute_dtype: '" + setting + "' is not one of auto, f32, bf16, f16");
    }
  }
  if (device.is_cuda() || weights == torch::kFloat32) return weights;
  if (weights == torch::kBFloat16 && cpu_has_native_bf16()) return weights;
  return torch::kFloat32;
}

}  // namespace genplug::flux
