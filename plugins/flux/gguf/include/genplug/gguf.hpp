// genplug::gguf — a validating, memory-mapped reader (and a small writer) for GGUF files, the format of ggml
// (stable-diffusion.cpp, ComfyUI-GGUF): quantised FLUX checkpoints are distributed as GGUF. No torch here.
//
// Format (versions 2 and 3, little-endian): "GGUF", u32 version, u64 tensor count, u64 metadata count; metadata
// {string key, u32 value type, value}; tensor infos {string name, u32 n_dims, u64 ne[n_dims], u32 ggml type,
// u64 offset}; padding to the alignment ("general.alignment", default 32); the data. A string is u64 length +
// bytes. ne[0] is the contiguous dimension: the row-major shape is ne reversed. Offsets are relative to the
// data section and multiples of the alignment.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace genplug::gguf {

// Every failure of this library. The message names the file and, where there is one, the tensor or key.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The file could not be mapped for want of memory or address space (mmap's ENOMEM). The file may be sound: a
// caller reports it as out of memory, not as a bad file. `beyond_reach`: it is larger than the address-space limit
// (ulimit -v) itself, so the same command fails alike wherever that limit holds; a caller reports it as permanent,
// not as a shortage worth a retry.
class OutOfMemory : public Error {
 public:
  explicit OutOfMemory(const std::string& what, bool beyond_reach = false) : Error(what), beyond_reach_(beyond_reach) {}
  bool beyond_reach() const noexcept { return beyond_reach_; }

 private:
  bool beyond_reach_;
};

// ggml tensor types this reader sizes and decodes: the float types, and the block-quantised types FLUX files are
// distributed in (ComfyUI-GGUF and stable-diffusion.cpp write these). Others (I-quants, ggml's intermediate Q8_1
// and Q8_K, integers) are refused when the file is opened, by name.
enum class Type : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, BF16 = 30
};

// The values a block of `type` holds along a row, and its bytes: 1 value of 4 or 2 bytes for the float types,
// 32 values for Q4_0 ... Q8_0, a 256-value super-block for the K types. nullopt for a type number this reader
// does not know.
struct BlockLayout {
  int64_t values = 1;
  std::size_t bytes = 4;
};
std::optional<BlockLayout> block_layout(uint32_t type);
// Every type but F32, F16 and BF16.
bool is_block_quantised(Type type);

// Whether `path` is a regular file that starts with the GGUF magic (false when it cannot be read; only regular
// files are read: a FIFO or a device could block).
bool is_gguf_file(const std::filesystem::path& path);

// ggml's name for a type number ("F32", "Q4_K", "IQ2_XXS", ...), else "type <n>".
std::string type_name(uint32_t type);

// Q8_0: blocks of 32 values along each row, each {f16 d; int8 q[32]} (34 bytes); value = d * q.
constexpr int64_t kQ8Block = 32;
constexpr std::size_t kQ8BlockBytes = 34;

struct TensorInfo {
  std::string name;
  Type type = Type::F32;
  std::vector<int64_t> shape;  // row-major (ne reversed)
  const uint8_t* data = nullptr;
  std::size_t nbytes = 0;

  int64_t numel() const;
};

// One validated GGUF file, mapped privately. Checks: magic, version 2 or 3, counts bounded by the file size,
// strings inside the file (keys up to 65 535 bytes, tensor names 1 to 63), unique keys, known metadata value types
// (arrays nested at most 8 deep), a power-of-two alignment, unique tensor names, at most 4 dims, sizes no larger
// than the file, a supported type whose rows are whole blocks, offsets aligned, inside the file and not
// overlapping. Nothing is allocated in proportion to a length the file claims before it is checked.
class File {
 public:
  // Throws OutOfMemory where the file cannot be mapped for want of address space, Error for anything else.
  static std::shared_ptr<const File> open(const std::filesystem::path& path);
  // The same checks on bytes in memory (`name` for messages); the File keeps its own copy.
  static std::shared_ptr<const File> parse(std::vector<uint8_t> bytes, const std::string& name);

  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  std::size_t alignment() const { return alignment_; }
  // In the file's order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  // Every tensor's row-major shape by name.
  std::map<std::string, std::vector<int64_t>> shapes() const;
  // Metadata strings ("general.architecture", ...) up to 64 KiB; longer ones, arrays and other value types are
  // checked and skipped.
  const std::map<std::string, std::string>& strings() const { return strings_; }

 private:
  File() = default;
  void parse_bytes();

  std::string name_;
  const uint8_t* base_ = nullptr;
  std::size_t size_ = 0;
  bool mapped_ = false;
  std::vector<uint8_t> owned_;
  uint32_t version_ = 0;
  std::size_t alignment_ = 32;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> strings_;
};

// Q8_0 <-> float, `n` values (a multiple of kQ8Block). Quantising follows ggml's reference rule: per block
// d = max|x| / 127, q = round(x / d) (0 when d is 0), d stored as f16.
void dequantize_q8_0(const uint8_t* blocks, int64_t n, float* out);
void quantize_q8_0(const float* x, int64_t n, uint8_t* blocks);

// `n` values of `type` (a multiple of its block's values) as float32, each block decoded by the operations of
// ggml's dequantize_row_<type>, in their order and without fused multiply-adds (dequantize.cpp): the values of
// ggml's reference code.
void dequantize(Type type, const uint8_t* data, int64_t n, float* out);

// The tensor's values, row-major: exact for the float types and Q8_0, ggml's dequantisation for the others.
std::vector<float> to_float32(const TensorInfo& info);

// A [rows, cols] tensor of any block type as Q8_0 blocks, cols a multiple of 32: Q8_0 copied as it is, every
// other type decoded (dequantize) and quantised again by quantize_q8_0, a row at a time. Re-blocking moves each
// value by at most d/2 + 127·d·2^-11 (d = max|x|/127 over its block of 32, a normal float16): quantize_q8_0's
// bound. Throws Error for a tensor that is not such a matrix.
std::vector<uint8_t> q8_0_blocks_of(const TensorInfo& info);

// One tensor to write: `bytes` already in `type` (Q8_0: see quantize_q8_0).
struct TensorData {
  std::string name;
  Type type = Type::F32;
  std::vector<int64_t> shape;  // row-major
  std::vector<uint8_t> bytes;
};

// Writes version 3 with "general.architecture" and the other `strings` as metadata, alignment 32, to
// "<path>.tmp-<pid>" and renames it over `path`. Checks names (unique, non-empty, < 64 bytes) and byte sizes.
void write_file(const std::filesystem::path& path, const std::vector<TensorData>& tensors,
                const std::map<std::string, std::string>& strings);

// Bytes of a tensor of `type` and row-major `shape`; throws Error when the rows are not whole blocks.
std::size_t byte_size(Type type, const std::vector<int64_t>& shape);

}  // namespace genplug::gguf
