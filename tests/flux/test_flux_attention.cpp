// Attention paths and rotary helpers on random inputs: the fused attention (float32 on the CPU), the blocked
// attention it replaced, the chunked attention (other dtypes) and the dispatching attention() equal the full
// softmax attention; timestep embedding and plain spectrum formulas.
#define BOOST_TEST_MODULE flux_attention
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <genplug/flux/attention.hpp>
#include <genplug/flux/blas_threads.hpp>
#include <genplug/flux/rotary.hpp>
#include <genplug/flux/transformer.hpp>

using namespace genplug::flux;

namespace {
struct Qkv {
  torch::Tensor q, k, v;
  Qkv(int64_t heads, int64_t L, int64_t D, uint64_t seed, int64_t batch = 1) {
    torch::manual_seed(seed);
    q = torch::randn({batch, heads, L, D}) * 2.0;  // sharper softmax than unit scale
    k = torch::randn({batch, heads, L, D});
    v = torch::randn({batch, heads, L, D});
  }
};
}  // namespace

namespace {
double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }
}  // namespace

BOOST_AUTO_TEST_CASE(fused_equals_full_for_any_query_block) {
  Qkv x(3, 257, 32, 7);
  const torch::Tensor full = full_attention(x.q, x.k, x.v);
  for (int64_t queries : {1, 5, 48, 192, 257, 1000}) {
    const torch::Tensor o = fused_attention(x.q, x.k, x.v, FusedAttentionBlocks{queries, 1});
    BOOST_TEST(max_abs(o - full) < 1e-5, queries << " rows: " << max_abs(o - full));
  }
}

// The bound (#18 item 2) on the default path: 1e-5 relative to the plain formula at FLUX's head dim,
// over 16 key tiles.
BOOST_AUTO_TEST_CASE(fused_is_within_1e_5_relative_at_flux_head_dim) {
  Qkv x(1, 2048, 128, 21);
  const torch::Tensor full = full_attention(x.q, x.k, x.v);
  const double rel = max_abs(fused_attention(x.q, x.k, x.v) - full) / max_abs(full);
  BOOST_TEST(rel < 1e-5, rel);
}

// q, k and v as the transformer has them: views into one [B, L, 3, heads, D] product (rows 3 x heads x D apart,
// so each worker copies a slice's keys and values), and other layouts (a transposed last dimension is copied).
BOOST_AUTO_TEST_CASE(fused_reads_views_of_a_qkv_product_and_other_strides) {
  torch::manual_seed(4);
  const int64_t B = 2, L = 70, H = 3, D = 16;
  const torch::Tensor qkv = torch::randn({B, L, 3, H, D});
  const auto part = [&](int64_t i) { return qkv.select(2, i).permute({0, 2, 1, 3}); };  // [B, H, L, D] views
  const torch::Tensor q = part(0) * 2.0, k = part(1), v = part(2);
  BOOST_TEST_REQUIRE(k.stride(2) == 3 * H * D);
  const torch::Tensor full = full_attention(q, k, v);
  BOOST_TEST(max_abs(fused_attention(q, k, v, FusedAttentionBlocks{32, 2}) - full) < 1e-5);
  const torch::Tensor vt = v.transpose(2, 3).contiguous().transpose(2, 3);  // features D apart in memory
  BOOST_TEST(max_abs(fused_attention(q, k, vt) - full) < 1e-5);
  const torch::Tensor o = fused_attention(q, k, v);
  BOOST_TEST(o.sizes() == full.sizes());
  BOOST_TEST(o.permute({0, 2, 1, 3}).is_contiguous());  // [B, L, heads, D] memory: merging heads is a view
}

// Each worker takes whole slices in turn with its own workspace and copies, then helps with the blocks of
// slices still running: any worker count gives one worker's output bit for bit, also where there are more
// workers than slices (helpers then share the slices' blocks with their owners), with one slice alone, and
// with one block per slice (nothing to help with).
BOOST_AUTO_TEST_CASE(fused_workers_give_the_serial_output) {
  Qkv x(5, 130, 16, 11, /*batch=*/2);
  const torch::Tensor k = x.k.transpose(2, 3).contiguous().transpose(2, 3);  // rows not contiguous: copied
  const torch::Tensor serial = fused_attention(x.q, k, x.v, FusedAttentionBlocks{32, 1});
  BOOST_TEST(max_abs(serial - full_attention(x.q, x.k, x.v)) < 1e-5);
  for (int workers : {2, 3, 7, 64}) {
    const torch::Tensor o = fused_attention(x.q, k, x.v, FusedAttentionBlocks{32, workers});
    BOOST_TEST(torch::equal(o, serial), workers << " workers: " << max_abs(o - serial));
  }
  Qkv one(1, 300, 16, 12);
  const torch::Tensor alone = fused_attention(one.q, one.k, one.v, FusedAttentionBlocks{16, 1});
  BOOST_TEST(max_abs(alone - full_attention(one.q, one.k, one.v)) < 1e-5);
  for (int workers : {2, 3, 64}) {
    const torch::Tensor o = fused_attention(one.q, one.k, one.v, FusedAttentionBlocks{16, workers});
    BOOST_TEST(torch::equal(o, alone), workers << " workers on one slice: " << max_abs(o - alone));
  }
  Qkv odd(3, 257, 20, 13);  // a head dim that leaves part of a transpose tile
  const torch::Tensor odd_serial = fused_attention(odd.q, odd.k, odd.v, FusedAttentionBlocks{16, 1});
  BOOST_TEST(max_abs(odd_serial - full_attention(odd.q, odd.k, odd.v)) < 1e-5);
  for (int workers : {3, 64}) {
    const torch::Tensor o = fused_attention(odd.q, odd.k, odd.v, FusedAttentionBlocks{16, workers});
    BOOST_TEST(torch::equal(o, odd_serial), workers << " workers, head dim 20: " << max_abs(o - odd_serial));
    const torch::Tensor whole = fused_attention(odd.q, odd.k, odd.v, FusedAttentionBlocks{1000, workers});
    BOOST_TEST(max_abs(whole - odd_serial) < 1e-5, workers << " workers, one block per slice");
  }
}

// Fewer keys than queries (and the other way round), a value width other than the head dim, and mismatched
// shapes refused before any memory is read.
BOOST_AUTO_TEST_CASE(fused_takes_other_key_counts_and_value_widths_and_refuses_mismatches) {
  torch::manual_seed(6);
  const torch::Tensor q = torch::randn({1, 2, 50, 16}) * 2.0, k = torch::randn({1, 2, 131, 16});
  const torch::Tensor v = torch::randn({1, 2, 131, 24});
  BOOST_TEST(max_abs(fused_attention(q, k, v) - full_attention(q, k, v)) < 1e-5);
  BOOST_TEST(max_abs(fused_attention(k, q, q) - full_attention(k, q, q)) < 1e-5);  // 131 queries, 50 keys
  BOOST_CHECK_THROW(fused_attention(q, k, v.narrow(2, 0, 100)), c10::Error);  // v with fewer tokens than k
  BOOST_CHECK_THROW(fused_attention(q, k.narrow(1, 0, 1), v), c10::Error);     // k with fewer heads
  BOOST_CHECK_THROW(fused_attention(q, k.narrow(3, 0, 8), v), c10::Error);     // k with another head dim
  BOOST_CHECK_THROW(fused_attention(q, k.to(torch::kFloat64), v), c10::Error);
}

BOOST_AUTO_TEST_CASE(fused_query_blocks_are_evened_out) {
  BOOST_TEST(fused_attention_query_block(4096, 4096, 128, 192) == 187);  // 22 blocks: 21 of 187 and one of 169
  BOOST_TEST(fused_attention_query_block(1152, 1152, 128, 192) == 192);
  BOOST_TEST(fused_attention_query_block(200, 200, 128, 192) == 100);
  BOOST_TEST(fused_attention_query_block(10, 10, 128, 192) == 10);
  BOOST_TEST(fused_attention_query_block(0, 0, 128, 192) == 1);
  BOOST_TEST(fused_attention_query_block(10, 10, 128, -1) == 10);  // no bound given: the instruction set's rows
  BOOST_TEST(fused_attention_query_block(1000, 1000, 128, 0) ==
             fused_attention_query_block(1000, 1000, 128, fused_attention_rows()));
  const std::string isa = attention_vector_isa();
  BOOST_TEST(fused_attention_rows() == (isa == "avx512" ? 96 : 48));
  // Tripled once a worker's packed keys and values (2 x keys x dim floats) reach 8 MiB.
  BOOST_TEST(fused_attention_rows(4608, 128) == fused_attention_rows());  // 4.5 MiB (FLUX at 1024²)
  BOOST_TEST(fused_attention_rows(8191, 128) == fused_attention_rows());
  BOOST_TEST(fused_attention_rows(8192, 128) == 3 * fused_attention_rows());  // 8 MiB
  BOOST_TEST(fused_attention_rows(16384, 64) == 3 * fused_attention_rows());
  BOOST_TEST(fused_attention_rows(0, 128) == fused_attention_rows());
  // With no bound given, the blocks follow the keys: 16 384 queries against 16 384 keys in blocks of the tripled
  // rows (57 of 288, or 114 of 144), against 4 096 keys in the instruction set's (171 of 96, or 342 of 48).
  const int64_t rows = fused_attention_rows();
  BOOST_TEST(fused_attention_query_block(16384, 16384, 128, 0) == 3 * rows);
  BOOST_TEST(fused_attention_query_block(16384, 4096, 128, 0) == rows);
}

BOOST_AUTO_TEST_CASE(blocked_equals_full_for_any_block) {
  Qkv x(3, 257, 32, 7);
  const torch::Tensor full = full_attention(x.q, x.k, x.v);
  // Whole rows, ragged query blocks, key blocks (the online rescaling), single keys, blocks over the size.
  const std::vector<AttentionBlocks> blocks{{257, 257}, {64, 257}, {5, 7}, {1, 1}, {17, 256}, {100, 64}, {1000, 1000}};
  for (const AttentionBlocks& b : blocks) {
    const torch::Tensor o = blocked_attention(x.q, x.k, x.v, b);
    BOOST_TEST(max_abs(o - full) < 1e-5, b.queries << " x " << b.keys << ": " << max_abs(o - full));
  }
}

// The bound (#18 item 2): 1e-5 relative to the plain formula, at FLUX's head dim, with the keys split
// so that the running max moves between blocks.
BOOST_AUTO_TEST_CASE(blocked_is_within_1e_5_relative_at_flux_head_dim) {
  Qkv x(1, 2048, 128, 21);
  const torch::Tensor full = full_attention(x.q, x.k, x.v);
  for (const AttentionBlocks& b : {AttentionBlocks{1024, 2048}, AttentionBlocks{64, 300}}) {
    const double rel = max_abs(blocked_attention(x.q, x.k, x.v, b) - full) / max_abs(full);
    BOOST_TEST(rel < 1e-5, b.queries << " x " << b.keys << ": " << rel);
  }
}

BOOST_AUTO_TEST_CASE(attention_blocks_fit_the_budget) {
  Qkv x(1, 300, 16, 3);
  const int64_t row = 300 * 4;  // every key's score for one query row, float32
  AttentionBlocks b = attention_blocks(x.q, x.k, 100 * row);
  BOOST_TEST(b.queries == 100);
  BOOST_TEST(b.keys == 300);
  b = attention_blocks(x.q, x.k, int64_t(1) << 30);  // everything fits: every query (at most the cap)
  BOOST_TEST(b.queries == std::min<int64_t>(300, kAttentionQueryBlock));
  b = attention_blocks(x.q, x.k, 17 * row);  // fewer than the minimum rows fit: key blocks instead
  BOOST_TEST(b.queries == kMinAttentionQueryBlock);
  BOOST_TEST(b.keys == 17 * row / (kMinAttentionQueryBlock * 4));
  BOOST_TEST(b.queries * b.keys * 4 <= 17 * row);
  b = attention_blocks(x.q, x.k, 1);  // never less than one key
  BOOST_TEST(b.keys == 1);
  Qkv flux_bench(1, 1152, 16, 3);  // more rows than the cap: spread evenly (2 x 576, not 1024 + 128)
  b = attention_blocks(flux_bench.q, flux_bench.k, int64_t(1) << 30);
  BOOST_TEST(b.queries == 576);
  Qkv ragged(1, 1025, 16, 3);
  BOOST_TEST(attention_blocks(ragged.q, ragged.k, int64_t(1) << 30).queries == 513);  // 513 + 512
  Qkv few(1, 10, 16, 3);  // fewer queries than the minimum block: whole rows while they fit
  b = attention_blocks(few.q, few.k, 10 * 10 * 4);
  BOOST_TEST(b.queries == 10);
  BOOST_TEST(b.keys == 10);
}

BOOST_AUTO_TEST_CASE(blocked_batches_and_non_contiguous_inputs) {
  Qkv x(3, 50, 8, 5, /*batch=*/2);
  torch::Tensor v = x.v.transpose(2, 3).contiguous().transpose(2, 3);  // same values, other strides
  torch::Tensor q = x.q.transpose(1, 2).contiguous().transpose(1, 2);
  const torch::Tensor full = full_attention(x.q, x.k, v);
  BOOST_TEST(max_abs(blocked_attention(q, x.k, v, AttentionBlocks{7, 11}) - full) < 1e-5);
}

// Workers take whole blocks in turn, each with its own buffers, while OpenBLAS runs single-threaded: any
// worker count gives the serial output bit for bit (a block's arithmetic does not depend on the thread that
// runs it), and OpenBLAS's pool size comes back afterwards.
BOOST_AUTO_TEST_CASE(workers_split_the_blocks_and_give_the_serial_output) {
  Qkv x(5, 130, 16, 11, /*batch=*/2);  // 10 slices x 5 blocks of query rows
  const int pool_before = openblas_threads();
  if (pool_before > 0) set_openblas_threads(2);
  const torch::Tensor serial = blocked_attention(x.q, x.k, x.v, AttentionBlocks{32, 50, 1});
  BOOST_TEST(max_abs(serial - full_attention(x.q, x.k, x.v)) < 1e-5);
  for (int workers : {2, 3, 7, 64}) {
    const torch::Tensor o = blocked_attention(x.q, x.k, x.v, AttentionBlocks{32, 50, workers});
    BOOST_TEST(torch::equal(o, serial), workers << " workers: " << max_abs(o - serial));
  }
  if (pool_before > 0) {
    BOOST_TEST(openblas_threads() == 2);
    BOOST_TEST(attention_workers(0) == 2);  // the default: the pool's cores
    set_openblas_threads(pool_before);
  } else {
    BOOST_TEST(attention_workers(0) == 1);  // no OpenBLAS: one worker
  }
  BOOST_TEST(attention_workers(3) == 3);
}

// float32 CPU tensors take the fused path; other dtypes the chunked one, in their own dtype (float64 here:
// bf16 products need a CPU with native bf16 under oneDNN's AVX2 kernels).
BOOST_AUTO_TEST_CASE(attention_dispatches_by_dtype) {
  Qkv x(2, 96, 32, 9);
  const torch::Tensor full = full_attention(x.q, x.k, x.v);
  BOOST_TEST(max_abs(attention(x.q, x.k, x.v, 16 * 96 * 4) - full) < 1e-5);
  BOOST_TEST(torch::equal(attention(x.q, x.k, x.v), fused_attention(x.q, x.k, x.v)));
  const torch::Tensor q = x.q.to(torch::kFloat64), k = x.k.to(torch::kFloat64), v = x.v.to(torch::kFloat64);
  const torch::Tensor wide = attention(q, k, v, 16 * 96 * 8);
  BOOST_TEST(wide.scalar_type() == torch::kFloat64);
  BOOST_TEST(max_abs(wide - full_attention(q, k, v)) < 1e-12);
  BOOST_TEST(max_abs(wide - full) < 1e-5);
}

// The softmax's instruction set follows ATEN_CPU_CAPABILITY (test_flux_attention_avx2 sets avx2).
BOOST_AUTO_TEST_CASE(softmax_isa_is_capped_like_libtorch) {
  const std::string isa = attention_vector_isa();
  BOOST_TEST((isa == "avx512" || isa == "avx2" || isa == "baseline"), isa);
  const char* cap = std::getenv("ATEN_CPU_CAPABILITY");
  if (cap && std::string(cap) == "avx2") BOOST_TEST(isa != "avx512");
  if (cap && std::string(cap) == "default") BOOST_TEST(isa == "baseline");
}

BOOST_AUTO_TEST_CASE(chunked_equals_full_for_any_chunk) {
  Qkv x(3, 257, 32, 7);
  torch::Tensor full = full_attention(x.q, x.k, x.v);
  for (int64_t chunk : {1, 5, 64, 256, 257, 1000}) {
    torch::Tensor c = chunked_attention(x.q, x.k, x.v, chunk);
    BOOST_TEST((c - full).abs().max().item<double>() < 1e-5, "chunk " << chunk);
  }
  for (int64_t heads : {1, 2, 3}) {  // head groups, with and without a ragged last group
    torch::Tensor c = chunked_attention(x.q, x.k, x.v, AttentionChunks{heads, 100});
    BOOST_TEST((c - full).abs().max().item<double>() < 1e-5, "heads " << heads);
  }
}

BOOST_AUTO_TEST_CASE(attention_equals_full_under_a_small_budget) {
  Qkv x(2, 300, 16, 11);
  torch::Tensor full = full_attention(x.q, x.k, x.v);
  const int64_t row = 300 * 4;  // the scores of one query row of one head, float32
  AttentionChunks c = attention_chunks(x.q, x.k, 17 * row);
  BOOST_TEST(c.queries == 17);
  BOOST_TEST(c.heads == 1);
  c = attention_chunks(x.q, x.k, 2 * 300 * row);  // both heads, every query
  BOOST_TEST(c.queries == 300);
  BOOST_TEST(c.heads == 2);
  c = attention_chunks(x.q, x.k, 1);  // never less than one row
  BOOST_TEST(c.queries == 1);
  BOOST_TEST(c.heads == 1);
  BOOST_TEST((attention(x.q, x.k, x.v, 17 * row) - full).abs().max().item<double>() < 1e-5);
  BOOST_TEST((attention(x.q, x.k, x.v, 400 * row) - full).abs().max().item<double>() < 1e-5);
  BOOST_TEST((attention(x.q, x.k, x.v) - full).abs().max().item<double>() < 1e-5);
}

BOOST_AUTO_TEST_CASE(batches_and_non_contiguous_inputs) {
  Qkv x(3, 50, 8, 5, /*batch=*/2);
  torch::Tensor v = x.v.transpose(2, 3).contiguous().transpose(2, 3);  // same values, other strides
  torch::Tensor full = full_attention(x.q, x.k, v);
  BOOST_TEST((chunked_attention(x.q, x.k, v, AttentionChunks{4, 7}) - full).abs().max().item<double>() < 1e-5);
}

BOOST_AUTO_TEST_CASE(full_attention_is_softmax_of_scaled_scores) {
  // One query, two keys: weights softmax([q.k0, q.k1] / sqrt(D)).
  torch::Tensor q = torch::tensor({1.0f, 0.0f, 0.0f, 0.0f}).view({1, 1, 1, 4});
  torch::Tensor k = torch::tensor({2.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f}).view({1, 1, 2, 4});
  torch::Tensor v = torch::tensor({1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f}).view({1, 1, 2, 4});
  const double w0 = std::exp(1.0) / (std::exp(1.0) + 1.0);  // score 2/sqrt(4) = 1 vs 0
  torch::Tensor o = full_attention(q, k, v);
  BOOST_TEST(std::abs(o[0][0][0][0].item<double>() - w0) < 1e-6);
  BOOST_TEST(std::abs(chunked_attention(q, k, v, 1)[0][0][0][1].item<double>() - (1 - w0)) < 1e-6);
}

BOOST_AUTO_TEST_CASE(plain_spectrum_is_theta_power) {
  RotarySpectrum s = plain_spectrum({4, 6}, 10000.0);
  BOOST_TEST_REQUIRE(s.freqs.size() == 5u);
  BOOST_TEST(s.freqs[1] == std::pow(10000.0, -0.5));
  BOOST_TEST(std::abs(s.freqs[4] - std::pow(10000.0, -4.0 / 6.0)) < 1e-15);
  BOOST_TEST(s.amplitude == std::vector<double>({1.0, 1.0}));
}

BOOST_AUTO_TEST_CASE(rotary_rotates_pairs_and_scales_by_amplitude) {
  RotarySpectrum s{{2, 2}, {0.5, 0.25}, {1.0, 2.0}};
  torch::Tensor ids = torch::tensor({0.0, 3.0, 0.0, 4.0}, torch::kFloat64).view({2, 2});  // 2 tokens
  RotaryTables t = rotary_tables(ids, s);
  BOOST_TEST(std::abs(t.cos[0][0].item<double>() - 1.0) < 1e-7);          // pos 0, axis 0
  BOOST_TEST(std::abs(t.sin[0][1].item<double>() - 2 * std::sin(0.75)) < 1e-6);  // pos 3 * 0.25, amp 2
  BOOST_TEST(std::abs(t.cos[1][1].item<double>() - 2 * std::cos(1.0)) < 1e-6);
  // x = (1, 0 | 0, 1) for token 1: pair 1 (features 2, 3) rotated by angle 1, scaled by 2.
  torch::Tensor x = torch::tensor({0.f, 0.f, 0.f, 0.f, 1.f, 0.f, 0.f, 1.f}).view({1, 1, 2, 4});
  torch::Tensor y = apply_rotary(x, t);
  BOOST_TEST(std::abs(y[0][0][1][2].item<double>() - (-2 * std::sin(1.0))) < 1e-6);
  BOOST_TEST(std::abs(y[0][0][1][3].item<double>() - 2 * std::cos(1.0)) < 1e-6);
  BOOST_TEST(std::abs(y[0][0][1][0].item<double>() - 1.0) < 1e-6);  // pair 0: angle 0, amplitude 1
}

BOOST_AUTO_TEST_CASE(timestep_embedding_is_cos_first_times_1000) {
  torch::Tensor e = timestep_embedding(torch::tensor({0.5f}), 8);
  BOOST_TEST(std::abs(e[0][0].item<double>() - std::cos(500.0)) < 1e-4);
  BOOST_TEST(std::abs(e[0][4].item<double>() - std::sin(500.0)) < 1e-4);
  BOOST_TEST(std::abs(e[0][1].item<double>() - std::cos(500.0 * std::exp(-std::log(10000.0) / 4))) < 1e-4);
}

// Training (train/mini) runs attention with autograd recording: the plain formula then, whose values are the
// chunked kernel's and whose gradients are autograd's of softmax(QK^T / sqrt(d)) V.
BOOST_AUTO_TEST_CASE(attention_records_gradients_when_its_inputs_require_them) {
  torch::manual_seed(3);
  const auto q = torch::randn({2, 3, 40, 16}).requires_grad_(), k = torch::randn({2, 3, 40, 16}).requires_grad_();
  const auto v = torch::randn({2, 3, 40, 16}).requires_grad_();
  const int64_t small_budget = 40 * 4 * 5;  // 5 query rows per chunk: the chunked kernel would loop
  torch::Tensor chunked;
  {
    torch::NoGradGuard no_grad;
    chunked = attention(q, k, v, small_budget);
  }
  const torch::Tensor recorded = attention(q, k, v, small_budget);
  BOOST_TEST_REQUIRE(recorded.requires_grad());
  BOOST_TEST((recorded - chunked).abs().max().item<double>() < 1e-6);
  const auto weights = torch::randn({2, 3, 40, 16});
  (recorded * weights).sum().backward();
  const auto q2 = q.detach().clone().requires_grad_();
  (full_attention(q2, k.detach(), v.detach()) * weights).sum().backward();
  BOOST_TEST((q.grad() - q2.grad()).abs().max().item<double>() < 1e-6);
  BOOST_TEST(k.grad().defined());
  BOOST_TEST(v.grad().defined());
}
