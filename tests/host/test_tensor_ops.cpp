// The tensor operations the host lends to schedulers: arithmetic, reproducible noise, and ownership rules
// (a scheduler can free only what it allocated, once).
#define BOOST_TEST_MODULE tensor_ops
#include <boost/test/unit_test.hpp>

#include <cmath>

#include <genplug/host/tensor_ops.hpp>

using genplug::host::HostTensorOps;

namespace {

struct Buffer {
  std::vector<float> data;
  std::vector<int64_t> shape;
  DLTensor t{};
  explicit Buffer(std::vector<float> values) : data(std::move(values)), shape{1, int64_t(data.size())} {
    t.data = data.data();
    t.device = {kDLCPU, 0};
    t.ndim = 2;
    t.dtype = {kDLFloat, 32, 1};
    t.shape = shape.data();
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(linear_combination_writes_through_to_the_viewed_memory_and_may_alias) {
  HostTensorOps ops;
  Buffer a({1, 2, 3}), b({10, 20, 30});
  auto ha = ops.view(a.t), hb = ops.view(b.t);
  const genplug_tensor_ops_t* t = ops.table();
  genplug_tensor_handle in[2] = {ha, hb};
  const double c[2] = {0.5, -0.25};
  BOOST_TEST(t->linear_combination(t, ha, 2, in, c) == GENPLUG_OK);  // out aliases an input
  BOOST_TEST(a.data == std::vector<float>({0.5f - 2.5f, 1.0f - 5.0f, 1.5f - 7.5f}));
  Buffer wrong({1, 2});
  auto hw = ops.view(wrong.t);
  genplug_tensor_handle mixed[2] = {ha, hw};
  BOOST_TEST(t->linear_combination(t, ha, 2, mixed, c) == GENPLUG_E_INVALID_ARGUMENT);
  ops.release(ha);
  ops.release(hb);
  ops.release(hw);
  BOOST_TEST(ops.live_handles() == 0);
}

BOOST_AUTO_TEST_CASE(noise_is_reproducible_per_seed_and_stream) {
  HostTensorOps ops;
  Buffer x(std::vector<float>(4096, 0.0f));
  auto hx = ops.view(x.t);
  const genplug_tensor_ops_t* t = ops.table();
  genplug_tensor_handle n1 = nullptr, n2 = nullptr, n3 = nullptr;
  BOOST_REQUIRE(t->alloc_like(t, hx, &n1) == GENPLUG_OK);
  BOOST_REQUIRE(t->alloc_like(t, hx, &n2) == GENPLUG_OK);
  BOOST_REQUIRE(t->alloc_like(t, hx, &n3) == GENPLUG_OK);
  t->normal(t, n1, 7, 3);
  t->normal(t, n2, 7, 3);
  t->normal(t, n3, 7, 4);
  auto v1 = genplug::host::to_cpu_float(ops.dl(n1)), v2 = genplug::host::to_cpu_float(ops.dl(n2)),
       v3 = genplug::host::to_cpu_float(ops.dl(n3));
  BOOST_TEST(v1 == v2);
  BOOST_TEST(v1 != v3);
  double mean = 0, var = 0;
  for (float v : v1) mean += v;
  mean /= v1.size();
  for (float v : v1) var += (v - mean) * (v - mean);
  var /= v1.size();
  BOOST_TEST(std::fabs(mean) < 0.1);
  BOOST_TEST(std::fabs(var - 1.0) < 0.1);
  t->release(t, n1);
  t->release(t, n2);
  t->release(t, n3);
  ops.release(hx);
  BOOST_TEST(ops.live_handles() == 0);
}

BOOST_AUTO_TEST_CASE(a_scheduler_cannot_free_the_latent_view_or_free_twice) {
  HostTensorOps ops;
  Buffer x({1, 2, 3});
  auto hx = ops.view(x.t);
  const genplug_tensor_ops_t* t = ops.table();
  genplug_tensor_handle tmp = nullptr;
  BOOST_REQUIRE(t->alloc_like(t, hx, &tmp) == GENPLUG_OK);
  BOOST_TEST(ops.live_handles() == 2);
  t->release(t, hx);  // not lent by the table: ignored
  BOOST_TEST(ops.live_handles() == 2);
  t->release(t, tmp);
  t->release(t, tmp);  // second release: ignored, no double free
  t->release(t, reinterpret_cast<genplug_tensor_handle>(&x));  // a foreign pointer: ignored
  BOOST_TEST(ops.live_handles() == 1);
  ops.release(hx);
  BOOST_TEST(ops.live_handles() == 0);
}

// Without a model's own operations the host computes on CPU memory in the tensors' dtype: bfloat16 rounds
// each result to nearest-even, float64 keeps double precision; a tensor on another device is refused.
BOOST_AUTO_TEST_CASE(cpu_operations_in_the_tensors_own_dtype_and_only_on_cpu) {
  HostTensorOps ops;
  std::vector<uint16_t> bf16 = {0x3F80, 0x4000};  // 1.0, 2.0
  std::vector<int64_t> shape{2};
  DLTensor b{};
  b.data = bf16.data();
  b.device = {kDLCPU, 0};
  b.ndim = 1;
  b.dtype = {kDLBfloat, 16, 1};
  b.shape = shape.data();
  auto hb = ops.view(b);
  const genplug_tensor_ops_t* t = ops.table();
  genplug_tensor_handle in[1] = {hb};
  const double third[1] = {1.0 / 3.0};
  BOOST_TEST(t->linear_combination(t, hb, 1, in, third) == GENPLUG_OK);
  BOOST_TEST(bf16[0] == 0x3EABu);  // 1/3 in bfloat16, rounded to nearest even
  BOOST_TEST(bf16[1] == 0x3F2Bu);  // 2/3
  std::vector<double> f64 = {1.0, 2.0};
  DLTensor d = b;
  d.data = f64.data();
  d.dtype = {kDLFloat, 64, 1};
  auto hd = ops.view(d);
  genplug_tensor_handle din[1] = {hd};
  BOOST_TEST(t->linear_combination(t, hd, 1, din, third) == GENPLUG_OK);
  BOOST_TEST(f64[0] == 1.0 / 3.0);
  DLTensor gpu = d;
  gpu.device = {kDLCUDA, 0};
  auto hg = ops.view(gpu);
  genplug_tensor_handle gin[1] = {hg};
  BOOST_TEST(t->linear_combination(t, hg, 1, gin, third) == GENPLUG_E_UNSUPPORTED);
  BOOST_TEST(f64[0] == 1.0 / 3.0);  // untouched
  ops.release(hb);
  ops.release(hd);
  ops.release(hg);
}
