// OpenBLAS's work buffers mapped when the model is created (openblas_buffers.hpp): the address space they take, the
// refusal where ulimit -v leaves less, and that products after the mapping need no new buffer. Under a ulimit -v
// that left no room for one, OpenBLAS 0.3.21 retried the mapping for ever (a spin until SIGKILL).
#define BOOST_TEST_MODULE openblas_buffers
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include <genplug/flux/blas_threads.hpp>
#include <genplug/flux/openblas_buffers.hpp>
#include <genplug/internal/cpu_memory.hpp>

#include "address_space_limit.hpp"

namespace gf = genplug::flux;

namespace {
constexpr uint64_t kMiB = uint64_t(1) << 20;
}  // namespace

BOOST_AUTO_TEST_CASE(the_first_buffer_is_refused_where_ulimit_v_leaves_less) {
  const uint64_t needed = gf::openblas_first_product_bytes();
  BOOST_TEST(needed == 209 * kMiB);  // the 129 MiB buffer and 80 MiB before it
  BOOST_TEST(gf::openblas_buffer_refusal(std::nullopt).empty());  // no ulimit -v
  BOOST_TEST(gf::openblas_buffer_refusal(needed).empty());
  BOOST_TEST(!gf::openblas_buffer_refusal(needed - 1).empty());
  const std::string why = gf::openblas_buffer_refusal(100 * kMiB);
  BOOST_TEST(why == "ulimit -v leaves 100 MiB of address space, and OpenBLAS's first product maps about 209 MiB (a "
                    "129 MiB work buffer; 0.3.21 retries one it cannot map for ever): raise ulimit -v",
             why);
}

// In child processes forked before this process runs any product (OpenBLAS keeps the buffers it maps, and a child
// inherits them), on one OpenBLAS thread (CTest sets OMP_NUM_THREADS=1: a pool's threads, shut down at a fork,
// would leave their buffers for the child to reuse). alarm(): a child that spins ends by SIGALRM, and the case fails.
BOOST_AUTO_TEST_CASE(the_buffers_are_refused_or_mapped_and_then_products_need_no_more) {
  BOOST_REQUIRE_MESSAGE(gf::openblas_threads() > 0, "libtorch's BLAS is not OpenBLAS in this program");
  const int refused = genplug::test::under_address_space_limit(64 * kMiB, [] {
    ::alarm(30);
    return !gf::map_openblas_buffers().empty();
  });
  BOOST_TEST(refused == 0, "a ulimit -v leaving 64 MiB was not refused (status " << refused << ")");
  const int mapped = genplug::test::under_address_space_limit(4096 * kMiB, [] {
    ::alarm(30);
    if (!gf::map_openblas_buffers().empty()) return false;
    rlimit limit{};  // now 16 MiB past what is mapped: no room for another 128 MiB buffer
    ::getrlimit(RLIMIT_AS, &limit);
    limit.rlim_cur = rlim_t(genplug::test::vm_size() + 16 * kMiB);
    if (::setrlimit(RLIMIT_AS, &limit) != 0) return false;
    const torch::Tensor a = torch::ones({256, 256});
    const gf::SerialBlas serial;  // the blocked attention's products, on the calling thread
    return torch::mm(a, a).sum().item<double>() == 256.0 * 256 * 256 && torch::mm(a, a)[0][0].item<float>() == 256;
  });
  BOOST_TEST(mapped == 0, "mapping failed or a product after it did not run (status " << mapped << ")");
}
