#include <genplug/flux/openblas_core.hpp>

#include <cpuid.h>
#include <cstdlib>
#include <cstring>

// Weak: resolved from whichever libblas.so.3 libtorch loaded; null when it is not OpenBLAS, or (the last two) an
// OpenBLAS built for one CPU. gotoblas_dynamic_init() picks the kernels (from OPENBLAS_CORETYPE, else its CPU table)
// and sets their block sizes; it does nothing while a choice stands, which gotoblas_dynamic_quit() clears. The
// library calls the pair at load and at unload; both are exported, neither is in its header.
extern "C" char* openblas_get_corename() __attribute__((weak));
extern "C" void gotoblas_dynamic_init() __attribute__((weak));
extern "C" void gotoblas_dynamic_quit() __attribute__((weak));

namespace genplug::flux {

CpuIdentity this_cpu() {
  CpuIdentity cpu;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0, &a, &b, &c, &d)) {
    char vendor[13] = {};
    std::memcpy(vendor, &b, 4), std::memcpy(vendor + 4, &d, 4), std::memcpy(vendor + 8, &c, 4);
    cpu.vendor = vendor;
    __get_cpuid(1, &a, &b, &c, &d);
    cpu.family = (a >> 8) & 0xf, cpu.model = (a >> 4) & 0xf;
    if (cpu.family == 0x6 || cpu.family == 0xf) cpu.model |= ((a >> 16) & 0xf) << 4;
    if (cpu.family == 0xf) cpu.family += (a >> 20) & 0xff;
  }
  // libgcc's tests include the OS's support for the registers (XCR0), as OpenBLAS's do.
  cpu.units.avx = __builtin_cpu_supports("avx");
  cpu.units.avx2 = __builtin_cpu_supports("avx2");
  cpu.units.avx512 = cpu.units.avx2 && __builtin_cpu_supports("avx512vl");
  return cpu;
}

std::string openblas_fallback_core(const CpuVectorUnits& units) {
  if (units.avx512) return "SkylakeX";
  if (units.avx2) return "Haswell";
  if (units.avx) return "Sandybridge";
  return "";
}

std::string openblas_repair_core(const CpuIdentity& cpu, const std::string& chosen, bool user_chose) {
  // Family 6 past the last case of OpenBLAS 0.3.21's table (extended model 11-15), or family 15 and up
  // (openblas_core.hpp). A CPU with AVX is no Prescott whatever it reports.
  const bool misread = cpu.vendor == "GenuineIntel" && ((cpu.family == 6 && cpu.model >= 176) || cpu.family >= 15);
  if (user_chose || chosen != "Prescott" || !misread) return "";
  return openblas_fallback_core(cpu.units);
}

std::string openblas_core() {
  if (openblas_get_corename == nullptr) return "";
  const char* name = openblas_get_corename();
  return name != nullptr ? name : "";
}

std::string select_openblas_core(const std::string& core) {
  if (gotoblas_dynamic_init == nullptr || gotoblas_dynamic_quit == nullptr || openblas_get_corename == nullptr)
    return "";
  // OPENBLAS_CORETYPE is the only way to name the kernels to dynamic_init; set for the call, then as it was.
  const char* before = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = before != nullptr ? before : "";
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  if (before != nullptr)
    setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  else
    unsetenv("OPENBLAS_CORETYPE");
  return openblas_core();
}

std::optional<BlasCoreChange> repair_openblas_core() {
  static const std::optional<BlasCoreChange> change = []() -> std::optional<BlasCoreChange> {
    const CpuIdentity cpu = this_cpu();
    const std::string chosen = openblas_core();
    const std::string core = openblas_repair_core(cpu, chosen, std::getenv("OPENBLAS_CORETYPE") != nullptr);
    if (core.empty()) return std::nullopt;
    const std::string now = select_openblas_core(core);
    if (now.empty() || now == chosen) return std::nullopt;
    return BlasCoreChange{
        cpu.vendor + " family " + std::to_string(cpu.family) + " model " + std::to_string(cpu.model), chosen, now};
  }();
  return change;
}

}  // namespace genplug::flux
