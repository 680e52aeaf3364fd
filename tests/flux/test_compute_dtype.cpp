// compute_dtype "auto" on a CPU (plugins/flux/src/compute_dtype.hpp): bf16 products only where they outrun f32
// ones. Intel's AVX512-BF16 without AMX took 1.6-1.9x f32's time on an Emerald Rapids Xeon (docs/performance.md).
#define BOOST_TEST_MODULE compute_dtype
#include <boost/test/unit_test.hpp>

#include <genplug/plugin.hpp>

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

// "auto": bf16 weights computed in bf16 only where the CPU's bf16 products outrun f32 ones, else widened to f32; f32
// stays; f16 is never computed in on a CPU; CUDA computes in the weights' dtype; a named dtype is taken as it is.
BOOST_AUTO_TEST_CASE(auto_takes_bf16_products_only_where_they_outrun_f32) {
  const torch::Device cpu(torch::kCPU), cuda(torch::kCUDA);
  for (const bool outruns : {false, true}) {
    BOOST_TEST((gf::resolve_compute_dtype("auto", torch::kBFloat16, cpu, outruns) ==
                (outruns ? torch::kBFloat16 : torch::kFloat32)));
    BOOST_TEST((gf::resolve_compute_dtype("auto", torch::kFloat32, cpu, outruns) == torch::kFloat32));
    BOOST_TEST((gf::resolve_compute_dtype("auto", torch::kFloat16, cpu, outruns) == torch::kFloat32));
    BOOST_TEST((gf::resolve_compute_dtype("auto", torch::kBFloat16, cuda, outruns) == torch::kBFloat16));
    BOOST_TEST((gf::resolve_compute_dtype("bf16", torch::kFloat32, cpu, outruns) == torch::kBFloat16));
    BOOST_TEST((gf::resolve_compute_dtype("f32", torch::kBFloat16, cpu, outruns) == torch::kFloat32));
  }
  BOOST_CHECK_THROW(gf::resolve_compute_dtype("fp8", torch::kFloat32, cpu, false), genplug::ConfigError);
}
