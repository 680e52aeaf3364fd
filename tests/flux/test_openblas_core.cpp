// OpenBLAS's kernels chosen again while the program runs (openblas_core.hpp): which CPUs OpenBLAS 0.3.21 gives its
// Prescott kernels by mistake, the vector units read as OpenBLAS reads them, and the switch itself on any CPU, after
// which a product must still be exact within float32 rounding.
#define BOOST_TEST_MODULE openblas_core
#include <boost/test/unit_test.hpp>

#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include <torch/torch.h>

#include <genplug/flux/openblas_core.hpp>

namespace gf = genplug::flux;

namespace {

// C = A B in float32 against float64, within the bound of any summation order, with or without FMA:
// |C - A B| <= gamma_K |A| |B|, gamma_K = K u / (1 - K u), u = 2^-24 (Higham, "Accuracy and Stability of
// Numerical Algorithms", 3.1 and 3.5). K = 300 and odd sizes reach the kernels' edge cases.
void check_product_within_rounding(const std::string& kernels) {
  torch::manual_seed(3);
  const int64_t k = 300;
  const torch::Tensor a = torch::randn({257, k}), b = torch::randn({k, 129});
  const torch::Tensor c = torch::mm(a, b).to(torch::kFloat64);
  const torch::Tensor exact = torch::mm(a.to(torch::kFloat64), b.to(torch::kFloat64));
  const double u = 0x1p-24, gamma = k * u / (1 - k * u);
  const torch::Tensor bound = gamma * torch::mm(a.abs().to(torch::kFloat64), b.abs().to(torch::kFloat64));
  BOOST_TEST(((c - exact).abs() <= bound).all().item<bool>(), kernels + ": a product outside float32's bound");
}

// The OpenBLAS libtorch loaded, found by name rather than through the library's weak references (which a link
// could leave null): null where libtorch's BLAS is another one.
void* loaded_openblas() {
  for (const char* name : {"libopenblas.so.0", "libblas.so.3"})
    if (void* lib = dlopen(name, RTLD_LAZY | RTLD_NOLOAD); lib != nullptr && dlsym(lib, "openblas_get_corename"))
      return lib;
  return nullptr;
}

// Whether the loaded OpenBLAS can change its kernels (built for several CPUs); then the library must reach it.
bool switchable() {
  void* lib = loaded_openblas();
  if (lib == nullptr || dlsym(lib, "gotoblas_dynamic_init") == nullptr) {
    BOOST_TEST_MESSAGE("libtorch's BLAS is no dynamic-arch OpenBLAS: nothing to switch");
    return false;
  }
  BOOST_TEST_REQUIRE(!gf::openblas_core().empty());
  BOOST_TEST_REQUIRE(gf::select_openblas_core(gf::openblas_core()) == gf::openblas_core());
  return true;
}

gf::CpuIdentity cpu(const char* vendor, unsigned family, unsigned model, gf::CpuVectorUnits units) {
  return {vendor, family, model, units};
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_fallback_follows_the_vector_units) {
  BOOST_TEST(gf::openblas_fallback_core({true, true, true}) == "SkylakeX");
  BOOST_TEST(gf::openblas_fallback_core({true, true, false}) == "Haswell");
  BOOST_TEST(gf::openblas_fallback_core({true, false, false}) == "Sandybridge");
  BOOST_TEST(gf::openblas_fallback_core({false, false, false}) == "");
}

// Only Prescott's kernels on an Intel CPU of family 6 and model 176 and up, or of family 15 and up (a VM's kvm64,
// Intel's next families), are repaired, and only unless the user chose them. Family 6 models 175 (Sierra Forest)
// and 173 (Granite Rapids) are within 0.3.21's table: its own fallback.
BOOST_AUTO_TEST_CASE(only_the_fall_through_is_repaired) {
  const gf::CpuVectorUnits avx512{true, true, true}, avx2{true, true, false}, none{};
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 6, 207, avx512), "Prescott", false) == "SkylakeX");
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 6, 183, avx2), "Prescott", false) == "Haswell");
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 6, 176, avx2), "Prescott", false) == "Haswell");
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 6, 255, avx2), "Prescott", false) == "Haswell");
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 6, 207, avx512), "Prescott", true) == "");
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 6, 207, avx512), "SkylakeX", false) == "");
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 6, 207, none), "Prescott", false) == "");
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 6, 175, avx2), "Prescott", false) == "");
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 6, 173, avx512), "Prescott", false) == "");
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 15, 6, avx2), "Prescott", false) == "Haswell");
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 19, 1, avx512), "Prescott", false) == "SkylakeX");
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 15, 2, none), "Prescott", false) == "");  // a Pentium 4
  BOOST_TEST(gf::openblas_repair_core(cpu("GenuineIntel", 5, 207, avx2), "Prescott", false) == "");
  BOOST_TEST(gf::openblas_repair_core(cpu("AuthenticAMD", 26, 207, avx512), "Prescott", false) == "");
}

// This CPU's vector units as OpenBLAS's own tests read them (exported by 0.3.21), where it is loaded.
BOOST_AUTO_TEST_CASE(vector_units_as_openblas_reads_them) {
  void* lib = loaded_openblas();
  using Test = int (*)();
  const auto avx = lib ? reinterpret_cast<Test>(dlsym(lib, "support_avx")) : nullptr;
  const auto avx2 = lib ? reinterpret_cast<Test>(dlsym(lib, "support_avx2")) : nullptr;
  const auto avx512 = lib ? reinterpret_cast<Test>(dlsym(lib, "support_avx512")) : nullptr;
  if (avx == nullptr || avx2 == nullptr || avx512 == nullptr) {
    BOOST_TEST_MESSAGE("this BLAS exports no support_avx*: nothing to compare with");
    return;
  }
  const gf::CpuVectorUnits units = gf::this_cpu().units;
  BOOST_TEST(units.avx == (avx() != 0));
  BOOST_TEST(units.avx2 == (avx2() != 0));
  BOOST_TEST(units.avx512 == (avx512() != 0));
}

// Each kernel set this CPU can run is selected by name, gives products within rounding, and the environment is
// left as it was.
BOOST_AUTO_TEST_CASE(kernels_switch_by_name_and_products_stay_exact) {
  if (!switchable()) return;
  const char* env = std::getenv("OPENBLAS_CORETYPE");
  const std::string env_before = env != nullptr ? env : "(unset)";
  const std::string first = gf::openblas_core();
  const std::string fallback = gf::openblas_fallback_core(gf::this_cpu().units);
  for (const std::string& core : {std::string("Prescott"), fallback, first}) {
    if (core.empty()) continue;
    BOOST_TEST(gf::select_openblas_core(core) == core);
    check_product_within_rounding(core);
    const char* now = std::getenv("OPENBLAS_CORETYPE");
    BOOST_TEST((now != nullptr ? now : "(unset)") == env_before);
  }
}

// The repair on this CPU does what openblas_repair_core says, once: on a CPU OpenBLAS misreads (an Emerald Rapids,
// say) it switches to the fallback's kernels; elsewhere, or with OPENBLAS_CORETYPE set (the test's second run sets
// Prescott), it changes nothing.
BOOST_AUTO_TEST_CASE(the_repair_does_what_the_rule_says_once) {
  if (!switchable()) return;
  const std::string chosen = gf::openblas_core();
  const std::string expected =
      gf::openblas_repair_core(gf::this_cpu(), chosen, std::getenv("OPENBLAS_CORETYPE") != nullptr);
  const auto change = gf::repair_openblas_core();
  if (expected.empty()) {
    BOOST_TEST(!change.has_value());
    BOOST_TEST(gf::openblas_core() == chosen);
  } else {
    BOOST_TEST_MESSAGE("repaired: " << chosen << " -> " << expected);
    BOOST_TEST_REQUIRE(change.has_value());
    BOOST_TEST(change->from == chosen);
    BOOST_TEST(change->to == expected);
    BOOST_TEST(change->cpu.find("GenuineIntel family ") == 0u, change->cpu);
    BOOST_TEST(gf::openblas_core() == expected);
    BOOST_TEST(std::getenv("OPENBLAS_CORETYPE") == nullptr);
  }
  check_product_within_rounding("after the repair");
  // Once a process: a later call switches nothing (Prescott's kernels, selected since, stay) and tells the same.
  BOOST_TEST_REQUIRE(gf::select_openblas_core("Prescott") == "Prescott");
  const auto again = gf::repair_openblas_core();
  BOOST_TEST(gf::openblas_core() == "Prescott");
  BOOST_TEST(again.has_value() == change.has_value());
  if (again && change)
    BOOST_TEST((again->from == change->from && again->to == change->to && again->cpu == change->cpu));
}
