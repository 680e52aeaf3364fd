// genplug::safetensors — a validating, memory-mapped reader (and a small writer) for the safetensors format.
// No torch here: tensors are described by TensorInfo {name, dtype, shape, data, nbytes} pointing into the mmap.
//
// Format (huggingface/safetensors): u64 little-endian header length N, N bytes of UTF-8 JSON
// {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...},
// then the data buffer; offsets are relative to byte 8 + N, end exclusive, little-endian row-major data.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace genplug::safetensors {

// Every failure of this library. The message names the file and, where there is one, the tensor.
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

enum class DType { F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U8, BOOL };

// The safetensors spelling ("F32", "BF16", "F8_E4M3", ...).
const char* dtype_name(DType dtype);
// Bytes per element.
std::size_t dtype_size(DType dtype);
// nullopt for a string that is not one of the names above (other safetensors dtypes included).
std::optional<DType> parse_dtype(std::string_view name);
// F64, F32, F16, BF16, F8_E4M3, F8_E5M2.
bool is_floating(DType dtype);

class File;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the file's mapping; valid while the File lives
  std::size_t nbytes = 0;
  const File* file = nullptr;     // owner (File::shared_from_this() keeps the mapping alive)

  int64_t numel() const;
};

// One memory-mapped, fully validated .safetensors file. Only reachable through shared_ptr so that tensors
// handed out zero-copy can keep the mapping alive.
class File : public std::enable_shared_from_this<File> {
 public:
  // Maps `path` privately (copy-on-write: writes through `data` never reach the file) and validates: at least 8 bytes, header length <= 100 MB and inside the file, the
  // header a UTF-8 JSON object without duplicate keys, each entry {dtype: known string, shape: [non-negative
  // ints], data_offsets: [begin <= end]} with numel * dtype_size == end - begin, offsets inside the data
  // buffer, no two tensors overlapping; "__metadata__" a map of strings. Gaps between tensors are allowed.
  // Throws OutOfMemory where the file cannot be mapped for want of address space, Error for anything else.
  static std::shared_ptr<const File> open(const std::filesystem::path& path);

  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // In data order (sorted by begin offset), which is the order tensors lie in the file.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  // Throws Error("<file>: no tensor '<name>'").
  const TensorInfo& at(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::size_t file_size() const { return size_; }
  std::size_t header_size() const { return header_size_; }  // N (JSON bytes, padding included)

 private:
  File() = default;
  void map(const std::filesystem::path& path);
  void parse_header();

  std::filesystem::path path_;
  const uint8_t* base_ = nullptr;
  std::size_t size_ = 0;
  std::size_t header_size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// A model's tensors, possibly spread over several files:
//   * one .safetensors file;
//   * a "*.safetensors.index.json" ({"weight_map": {tensor: shard file}}): every shard it names opened and read
//     whole (a tensor the map leaves out is read too, as transformers and diffusers do), every listed tensor must
//     be present in its shard (errors name the index file, the shard and the tensor), a tensor may be in only one
//     shard, and no key may appear twice in one object (a tensor listed in two shards);
//   * a folder: its *.safetensors.index.json if there is exactly one, else all its *.safetensors files
//     (a tensor name may appear in only one of them).
// Copies share the open files; the mappings stay alive as long as any Checkpoint copy or zero-copy tensor.
class Checkpoint {
 public:
  explicit Checkpoint(const std::filesystem::path& path);
  static Checkpoint open(const std::filesystem::path& path) { return Checkpoint(path); }
  // Whether a path that is no folder is opened as an index: its name ends in ".safetensors.index.json".
  static bool names_an_index(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<std::shared_ptr<const File>>& files() const { return files_; }
  // All tensors sorted by name (TensorInfo::file tells the shard).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  // Throws Error("<checkpoint path>: no tensor '<name>'").
  const TensorInfo& at(const std::string& name) const;
  // The first file's __metadata__ (an index file's "metadata" strings are merged over it).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Sum of the tensors' byte sizes.
  uint64_t total_bytes() const;

 private:
  void open_index(const std::filesystem::path& index);
  void open_files(const std::vector<std::filesystem::path>& files);
  void add(const TensorInfo& info);
  void finish();

  std::filesystem::path path_;
  std::vector<std::shared_ptr<const File>> files_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Exact scalar conversions (every value of the narrow formats is representable in float32).
float f16_to_float(uint16_t bits);
float bf16_to_float(uint16_t bits);
float f8_e4m3_to_float(uint8_t bits);  // e4m3fn: bias 7, no infinities, 0x7F / 0xFF are NaN
float f8_e5m2_to_float(uint8_t bits);  // bias 15, IEEE-like (inf and NaN)
// Round-to-nearest-even narrowing (for writers and tests); NaN stays NaN.
uint16_t float_to_bf16(float value);
uint16_t float_to_f16(float value);

// The tensor's values as float32 / float64, row-major. F64 -> float32 rounds; everything else is exact.
// Integer and BOOL tensors convert too (I64/U64 beyond 2^24 / 2^53 round). Throws for nothing else.
std::vector<float> to_float32(const TensorInfo& info);
std::vector<double> to_float64(const TensorInfo& info);

// One tensor to write: either `bytes` or (`data`, `size`) when `data` is non-null.
struct TensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  const void* data = nullptr;
  std::size_t size = 0;

  static TensorData from_floats(std::string name, std::vector<int64_t> shape, const std::vector<float>& values);
  // A tensor of an open file, written as it is (its data borrowed: the File must outlive the write).
  static TensorData borrow(const TensorInfo& info);
};

// Writes the standard layout (u64 LE header length, JSON header space-padded to a multiple of 8, data in the
// given order) to "<path>.tmp-<pid>" and renames it over `path`. Validates names (unique, non-empty, not
// "__metadata__") and that every byte size equals numel * dtype_size.
void write_file(const std::filesystem::path& path, const std::vector<TensorData>& tensors,
                const std::map<std::string, std::string>& metadata = {});

}  // namespace genplug::safetensors
