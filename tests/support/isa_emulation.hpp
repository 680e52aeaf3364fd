// Test support: bfloat16 computations as an AVX2-only CPU runs them, for the `avx2` CTest variants.
#pragma once
#include <cstdlib>
#include <string>

#include <ATen/Context.h>

namespace genplug::test {

// On a CPU without AVX-512 (BW/VL/DQ), ATen does not hand bfloat16 matmuls and convolutions to oneDNN: it runs
// its own kernels. The `avx2` variants cap oneDNN with ONEDNN_MAX_CPU_ISA=AVX2 on whatever CPU runs them, but
// ATen still sees AVX-512 and asks oneDNN for a bf16 primitive, which it then refuses ("could not create a
// primitive descriptor"). While this guard lives, a capped oneDNN is not used at all, as on AVX2 hardware.
class Bf16AsOnCappedIsa {
 public:
  Bf16AsOnCappedIsa() : was_(at::globalContext().userEnabledMkldnn()) {
    if (capped()) at::globalContext().setUserEnabledMkldnn(false);
  }
  ~Bf16AsOnCappedIsa() { at::globalContext().setUserEnabledMkldnn(was_); }
  Bf16AsOnCappedIsa(const Bf16AsOnCappedIsa&) = delete;
  Bf16AsOnCappedIsa& operator=(const Bf16AsOnCappedIsa&) = delete;

  // oneDNN is capped below AVX-512 (ONEDNN_MAX_CPU_ISA, or its older name DNNL_MAX_CPU_ISA).
  static bool capped() {
    for (const char* name : {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"}) {
      const char* v = std::getenv(name);
      if (v && *v && std::string(v).find("512") == std::string::npos && std::string(v) != "ALL") return true;
    }
    return false;
  }

 private:
  bool was_;
};

}  // namespace genplug::test
