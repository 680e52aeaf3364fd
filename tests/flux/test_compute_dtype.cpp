// compute_dtype "auto" on a CPU (plugins/flux/src/compute_dtype.hpp): bf16 products only where they outrun f32
// ones. Intel's AVX512-BF16 without AMX took 1.84x f32's time on an Emerald Rapids Xeon (docs/performance.md).
#define BOOST_TEST_MODULE compute_dtype
#include <boost/test/unit_test.hpp>

#include "compute_dtype.hpp"

namespace gf = genplug::flux;

BOOST_AUTO_TEST_CASE(bf16_products_only_where_they_outrun_f32) {
  const std::set<std::string> amx = {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}, avx512_bf16 = {"avx512_bf16"};
  BOOST_TEST(gf::bf16_outruns_f32("GenuineIntel", amx, ""));
  BOOST_TEST(gf::bf16_outruns_f32("GenuineIntel", amx, "AMX_BF16"));
  BOOST_TEST(!gf::bf16_outruns_f32("GenuineIntel", amx, "AVX512_CORE_BF16"));  // oneDNN kept from AMX
  BOOST_TEST(!gf::bf16_outruns_f32("GenuineIntel", avx512_bf16, ""));          // Cooper Lake, a VM hiding AMX
  BOOST_TEST(gf::bf16_outruns_f32("AuthenticAMD", avx512_bf16, ""));           // Zen 4, Zen 5
  BOOST_TEST(gf::bf16_outruns_f32("AuthenticAMD", avx512_bf16, "AVX512_CORE_BF16"));
  BOOST_TEST(!gf::bf16_outruns_f32("AuthenticAMD", avx512_bf16, "AVX2"));
  BOOST_TEST(!gf::bf16_outruns_f32("AuthenticAMD", {"avx2", "fma"}, ""));
  BOOST_TEST(!gf::bf16_outruns_f32("", {}, ""));
}

// "auto" follows the rule on this CPU for bf16 weights, keeps f32 and never computes in f16 on a CPU.
BOOST_AUTO_TEST_CASE(auto_follows_the_rule_here) {
  const torch::Device cpu(torch::kCPU);
  BOOST_TEST((gf::resolve_compute_dtype("auto", torch::kBFloat16, cpu) ==
              (gf::cpu_bf16_outruns_f32() ? torch::kBFloat16 : torch::kFloat32)));
  BOOST_TEST((gf::resolve_compute_dtype("auto", torch::kFloat32, cpu) == torch::kFloat32));
  BOOST_TEST((gf::resolve_compute_dtype("auto", torch::kFloat16, cpu) == torch::kFloat32));
  BOOST_TEST((gf::resolve_compute_dtype("bf16", torch::kFloat32, cpu) == torch::kBFloat16));
  BOOST_TEST((!gf::cpu_bf16_outruns_f32() || gf::cpu_has_native_bf16()));
}
