#include "compute_dtype.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
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

// oneDNN's ISA cap, upper-cased, "" when none.
std::string onednn_cap() {
  const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (!cap) cap = std::getenv("DNNL_MAX_CPU_ISA");
  std::string v(cap ? cap : "");
  for (char& ch : v) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  return v;
}

// Whether oneDNN's cap `v` (upper case, "" for none) leaves it the AMX levels: AMX_*, ALL.
bool cap_allows_amx(const std::string& v) {
  return v.empty() || v == "ALL" || v == "DEFAULT" || v.find("AMX") != std::string::npos;
}

// Whether it leaves bf16 products native: AVX512_CORE_BF16, _FP16 (a superset), the AMX levels, ALL.
bool cap_allows_bf16(const std::string& v) {
  return cap_allows_amx(v) || v.find("BF16") != std::string::npos || v.find("FP16") != std::string::npos;
}

// The first processor's vendor and flags in /proc/cpuinfo: they stand for all. Read once (a many-core machine's
// file is large; create asks three times).
struct CpuInfo {
  std::string vendor;
  std::set<std::string> flags;
};
CpuInfo read_cpu_info() {
  CpuInfo out;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    const std::string value = line.find(':') == std::string::npos ? "" : line.substr(line.find(':') + 1);
    if (line.rfind("vendor_id", 0) == 0 && out.vendor.empty()) std::istringstream(value) >> out.vendor;
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(value);
    for (std::string flag; words >> flag;) out.flags.insert(flag);
    break;
  }
  return out;
}

const CpuInfo& cpu_info() {
  static const CpuInfo info = read_cpu_info();
  return info;
}

}  // namespace

bool cpu_has_native_bf16() {
  const CpuInfo& cpu = cpu_info();
  return cap_allows_bf16(onednn_cap()) && (cpu.flags.count("avx512_bf16") || cpu.flags.count("amx_bf16"));
}

bool bf16_outruns_f32(const std::string& vendor, const std::set<std::string>& flags, const std::string& onednn_cap) {
  if (flags.count("amx_bf16") && cap_allows_amx(onednn_cap)) return true;
  return vendor == "AuthenticAMD" && flags.count("avx512_bf16") && cap_allows_bf16(onednn_cap);
}

bool cpu_bf16_outruns_f32() {
  const CpuInfo& cpu = cpu_info();
  return bf16_outruns_f32(cpu.vendor, cpu.flags, onednn_cap());
}

torch::Dtype resolve_compute_dtype(const std::string& setting, torch::Dtype weights, const torch::Device& device,
                                   bool bf16_outruns) {
  if (setting != "auto") {
    try {
      return parse_dtype(setting);
    } catch (const ConfigError&) {
      throw ConfigError("config.compute_dtype: '" + setting + "' is not one of auto, f32, bf16, f16");
    }
  }
  if (device.is_cuda() || weights == torch::kFloat32) return weights;
  if (weights == torch::kBFloat16 && bf16_outruns) return weights;
  return torch::kFloat32;
}

torch::Dtype resolve_compute_dtype(const std::string& setting, torch::Dtype weights, const torch::Device& device) {
  return resolve_compute_dtype(setting, weights, device, device.is_cpu() && cpu_bf16_outruns_f32());
}

}  // namespace genplug::flux
