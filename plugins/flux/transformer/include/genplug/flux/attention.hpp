// Softmax attention whose memory grows linearly with the number of tokens: the L x L score matrix is never
// built whole. CUDA on libtorch >= 2.0: torch::scaled_dot_product_attention. float32 on the CPU: fused attention,
// FlashAttention-2's algorithm as one hand-vectorised kernel per block of query rows (the blocked path, the same
// algorithm on libtorch's matrix products with its score block sized to a memory budget, is kept for
// comparison). Other dtypes and devices: chunked attention over (batch x head) slices and query rows, the
// softmax in place in one reused buffer.
#pragma once
#include <cstdint>

#include <torch/types.h>

namespace genplug::flux {

// Default budget for one block's (or chunk's) score matrix; measured in docs/performance.md.
constexpr int64_t kDefaultAttentionBudgetBytes = int64_t(16) << 20;

// q, k, v: [B, heads, L, D], any strides; returns [B, heads, Lq, D]. Scale 1/sqrt(D), no mask. (The blocked
// path's result is a view of [B, Lq, heads, D] memory: merging its heads is no copy.)
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int64_t budget_bytes = kDefaultAttentionBudgetBytes);

// One block of the blocked path: `queries` query rows of one (batch x head) slice against `keys` keys.
struct AttentionBlocks {
  int64_t queries = 1;
  int64_t keys = 1;
  int workers = 0;  // threads taking blocks in turn; 0: attention_workers(0)
};

// The block whose scores fit `budget_bytes`: every key for as many query rows as fit (up to
// kAttentionQueryBlock), evened out over the blocks that takes (1152 rows: two of 576, not 1024 and 128; the
// last block may have a few rows less); where fewer than kMinAttentionQueryBlock rows of every key fit, that many
// rows and as many keys as fit. At least one key of one row.
constexpr int64_t kAttentionQueryBlock = 1024;
constexpr int64_t kMinAttentionQueryBlock = 64;
AttentionBlocks attention_blocks(const torch::Tensor& q, const torch::Tensor& k, int64_t budget_bytes);

// The blocked path (float32 CPU tensors): for each block of query rows, keys a block at a time, scores by one
// matrix product, the online softmax's running max and sum, and the output accumulated by a second product.
// With several workers, each takes whole blocks with its own buffers (one score block each) while OpenBLAS
// runs single-threaded (SerialBlas): the thin products scale better over blocks than inside one product.
torch::Tensor blocked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                AttentionBlocks blocks);
// The vector instructions the fused kernel and the blocked path's softmax run on here: "avx512", "avx2" or
// "baseline" (SSE2); the best this CPU has, capped by ATEN_CPU_CAPABILITY as libtorch's own kernels are.
const char* attention_vector_isa();
// `requested` if positive, else the size of OpenBLAS's pool (the cores it would use; 1 without OpenBLAS).
int attention_workers(int requested);

// The fused path (float32 CPU tensors; attention() takes it there): for each block of up to `queries` query rows of
// one (batch x head) slice, scores, online softmax and output in one kernel over register tiles
// (attention_block_kernel.hpp), compiled for AVX-512, AVX2 + FMA and SSE2 and run at simd_level(). `workers`
// threads (0: attention_workers(0)) take whole slices in turn, then help with the blocks of slices still running;
// each has its own workspace (62 KB with AVX2, 124 KB with AVX-512 at head dim 128) and its own copy of its
// slice's keys and values, packed into the kernel's panels (2 x keys x head dim floats). Any worker count gives
// the same output bit for bit. Memory: linear in tokens.
constexpr int64_t kFusedAttentionKeyTile = 128;  // keys per tile of the online softmax (the kernel's)
struct FusedAttentionBlocks {
  int64_t queries = 0;  // 0: fused_attention_rows(keys, head dim)
  int workers = 0;
};
// The query rows per block that measured fastest for the instruction set this process runs
// (docs/performance.md): 96 with AVX-512, 48 with AVX2 or SSE2.
int64_t fused_attention_rows();
// The rows per block for `keys` keys of head dim `dim`: fused_attention_rows(), tripled once a worker's packed
// keys and values (2 x keys x dim floats) reach kFusedAttentionWideBlockBytes. Every block reads all of them,
// from outside the core's caches at that size; three times the rows per pass cut that traffic to a third.
constexpr int64_t kFusedAttentionWideBlockBytes = int64_t{8} << 20;
int64_t fused_attention_rows(int64_t keys, int64_t dim);
torch::Tensor fused_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              FusedAttentionBlocks blocks = {});
// Rows per block for `queries` query rows against `keys` keys of head dim `dim`, in blocks of at most `most`
// (<= 0: fused_attention_rows(keys, dim)): evened out over the blocks that takes.
int64_t fused_attention_query_block(int64_t queries, int64_t keys, int64_t dim, int64_t most);

// One chunk of the chunked path: `heads` (batch x head) slices times `queries` query rows.
struct AttentionChunks {
  int64_t heads = 1;
  int64_t queries = 1;
};

// The chunk whose scores fit `budget_bytes`: as many query rows as fit (up to all), then as
// many heads as fit beside them; at least one row of one head, also where q has no rows or heads (a chunk that
// chunked_attention then never takes).
AttentionChunks attention_chunks(const torch::Tensor& q, const torch::Tensor& k, int64_t budget_bytes);

// The chunked path (attention() takes it for dtypes other than float32 and for CUDA on libtorch < 2.0).
torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                AttentionChunks chunks);
// All heads at once, `query_chunk` query rows per chunk.
torch::Tensor chunked_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                int64_t query_chunk);

// softmax(q k^T / sqrt(D)) v with the whole score matrix: the reference for tests.
torch::Tensor full_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

}  // namespace genplug::flux
