// File: map a GGUF file and validate everything the format promises before any tensor is handed out.
#include <genplug/gguf.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <utility>

#include <genplug/internal/cpu_memory.hpp>

namespace genplug::gguf {
namespace {

constexpr std::size_t kMaxNameBytes = 64;  // ggml's GGML_MAX_NAME, terminator included
constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 8;
constexpr uint64_t kMaxKeyBytes = 65535;       // the format's limit on a key
constexpr uint64_t kMaxKeptString = 1u << 16;  // longer metadata strings are checked, not kept

// A bounds-checked little-endian cursor over the header.
class Cursor {
 public:
  Cursor(const uint8_t* base, std::size_t size, const std::string& name) : base_(base), size_(size), name_(name) {}

  std::size_t offset() const { return pos_; }
  std::size_t left() const { return size_ - pos_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name_ + ": " + what + " (header byte " + std::to_string(pos_) + ")");
  }
  const uint8_t* take(std::size_t n, const char* what) {
    if (n > left()) fail(std::string("truncated: ") + what + " runs past the end of the file");
    const uint8_t* p = base_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t uint(std::size_t bytes, const char* what) {
    const uint8_t* p = take(bytes, what);
    uint64_t v = 0;
    for (std::size_t i = bytes; i-- > 0;) v = (v << 8) | p[i];
    return v;
  }
  uint32_t u32(const char* what) { return static_cast<uint32_t>(uint(4, what)); }
  uint64_t u64(const char* what) { return uint(8, what); }
  // A string of at most `limit` bytes (longer: an error naming `what`).
  std::string string(const char* what, uint64_t limit) {
    const uint64_t n = u64(what);
    if (n > limit) fail(std::string(what) + " of " + std::to_string(n) + " bytes (at most " + std::to_string(limit) + ")");
    const uint8_t* p = take(static_cast<std::size_t>(n), what);
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  }
  // Passes over a string without copying it; returns its bytes.
  std::pair<const uint8_t*, uint64_t> skip_string(const char* what) {
    const uint64_t n = u64(what);
    if (n > left()) fail(std::string("truncated: ") + what + " of " + std::to_string(n) + " bytes");
    return {take(static_cast<std::size_t>(n), what), n};
  }

 private:
  const uint8_t* base_;
  std::size_t size_;
  std::size_t pos_ = 0;
  const std::string& name_;
};

// Metadata value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array, 10 u64,
// 11 i64, 12 f64. Bytes of a fixed-size one, 0 for string and array, nothing for an unknown type.
std::optional<std::size_t> scalar_bytes(uint32_t type) {
  static constexpr std::size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  if (type >= std::size(sizes)) return std::nullopt;
  return sizes[type];
}

// Skips one value of `type`; returns it when it is a string of at most kMaxKeptString bytes outside arrays (a
// tokenizer's vocabulary is an array of strings: passed over, never copied).
std::optional<std::string> read_value(Cursor& c, uint32_t type, const std::string& key, int depth) {
  const auto bytes = scalar_bytes(type);
  if (!bytes) c.fail("metadata '" + key + "' has unknown value type " + std::to_string(type));
  if (type == 8) {
    const auto [p, n] = c.skip_string("a metadata string");
    if (depth > 0 || n > kMaxKeptString) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  }
  if (type == 7) {
    if (*c.take(1, "a metadata bool") > 1) c.fail("metadata '" + key + "' is a bool other than 0 or 1");
    return std::nullopt;
  }
  if (type != 9) {
    c.take(*bytes, "a metadata value");
    return std::nullopt;
  }
  if (depth >= kMaxArrayDepth) c.fail("metadata '" + key + "' nests arrays deeper than 8");
  const uint32_t element = c.u32("an array's element type");
  const uint64_t count = c.u64("an array's length");
  const auto element_bytes = scalar_bytes(element);
  if (!element_bytes) c.fail("metadata '" + key + "' is an array of unknown type " + std::to_string(element));
  // Every element takes at least one byte (a string its 8-byte length): a count beyond that is a lie.
  if (count > c.left()) c.fail("metadata '" + key + "' claims " + std::to_string(count) + " elements");
  if (*element_bytes) {
    if (count > c.left() / *element_bytes) c.fail("truncated: metadata '" + key + "' array");
    c.take(static_cast<std::size_t>(count) * *element_bytes, "a metadata array");
  } else {
    for (uint64_t i = 0; i < count; ++i) read_value(c, element, key, depth + 1);
  }
  return std::nullopt;
}

std::size_t align_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

}  // namespace

int64_t TensorInfo::numel() const {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;  // before any product can overflow
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool is_gguf_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

std::string type_name(uint32_t type) {
  static const std::map<uint32_t, const char*> names = {
      {0, "F32"},   {1, "F16"},   {2, "Q4_0"},  {3, "Q4_1"},  {6, "Q5_0"},  {7, "Q5_1"},  {8, "Q8_0"},
      {9, "Q8_1"},  {10, "Q2_K"}, {11, "Q3_K"}, {12, "Q4_K"}, {13, "Q5_K"}, {14, "Q6_K"}, {15, "Q8_K"},
      {16, "IQ2_XXS"}, {17, "IQ2_XS"}, {18, "IQ3_XXS"}, {19, "IQ1_S"}, {20, "IQ4_NL"}, {21, "IQ3_S"},
      {22, "IQ2_S"}, {23, "IQ4_XS"}, {24, "I8"},   {25, "I16"},  {26, "I32"},  {27, "I64"},  {28, "F64"},
      {29, "IQ1_M"}, {30, "BF16"}, {34, "TQ1_0"}, {35, "TQ2_0"}, {39, "MXFP4"}};
  const auto it = names.find(type);
  return it != names.end() ? it->second : "type " + std::to_string(type);
}

std::optional<BlockLayout> block_layout(uint32_t type) {
  switch (static_cast<Type>(type)) {
    case Type::F32: return BlockLayout{1, 4};
    case Type::F16:
    case Type::BF16: return BlockLayout{1, 2};
    case Type::Q4_0: return BlockLayout{32, 18};
    case Type::Q4_1: return BlockLayout{32, 20};
    case Type::Q5_0: return BlockLayout{32, 22};
    case Type::Q5_1: return BlockLayout{32, 24};
    case Type::Q8_0: return BlockLayout{kQ8Block, kQ8BlockBytes};
    case Type::Q2_K: return BlockLayout{256, 84};
    case Type::Q3_K: return BlockLayout{256, 110};
    case Type::Q4_K: return BlockLayout{256, 144};
    case Type::Q5_K: return BlockLayout{256, 176};
    case Type::Q6_K: return BlockLayout{256, 210};
  }
  return std::nullopt;
}

bool is_block_quantised(Type type) {
  const auto layout = block_layout(static_cast<uint32_t>(type));
  return layout && layout->values > 1;
}

std::size_t byte_size(Type type, const std::vector<int64_t>& shape) {
  const auto layout = block_layout(static_cast<uint32_t>(type));
  if (!layout) throw Error("byte_size: unknown type");
  const int64_t row = shape.empty() ? 1 : shape.back();
  std::size_t rows = 1;
  for (std::size_t i = 0; i + 1 < shape.size(); ++i) rows *= static_cast<std::size_t>(shape[i]);
  if (row % layout->values)
    throw Error("a " + type_name(static_cast<uint32_t>(type)) + " row of " + std::to_string(row) +
                " values is not whole blocks of " + std::to_string(layout->values));
  return rows * static_cast<std::size_t>(row / layout->values) * layout->bytes;
}

std::shared_ptr<const File> File::open(const std::filesystem::path& path) {
  std::shared_ptr<File> file(new File());
  file->name_ = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(file->name_ + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(file->name_ + ": not a regular file");
  }
  file->size_ = static_cast<std::size_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      if (err == ENOMEM) {
        const std::optional<std::string> beyond = internal::beyond_address_space(file->size_);
        throw OutOfMemory(file->name_ + ": cannot map its " + std::to_string(file->size_) + " bytes (" +
                              beyond.value_or(std::strerror(err)) + ")",
                          beyond.has_value());
      }
      throw Error(file->name_ + ": cannot map (" + std::strerror(err) + ")");
    }
    file->base_ = static_cast<const uint8_t*>(p);
    file->mapped_ = true;
  }
  ::close(fd);
  file->parse_bytes();
  return file;
}

std::shared_ptr<const File> File::parse(std::vector<uint8_t> bytes, const std::string& name) {
  std::shared_ptr<File> file(new File());
  file->name_ = name;
  file->owned_ = std::move(bytes);
  file->base_ = file->owned_.data();
  file->size_ = file->owned_.size();
  file->parse_bytes();
  return file;
}

File::~File() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

const TensorInfo* File::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::map<std::string, std::vector<int64_t>> File::shapes() const {
  std::map<std::string, std::vector<int64_t>> out;
  for (const TensorInfo& t : tensors_) out.emplace(t.name, t.shape);
  return out;
}

namespace {

// The key-value section: general.alignment is read into `alignment`, string values (outside arrays, up to
// kMaxKeptString bytes) into `strings`, everything else checked and passed over.
void read_metadata(Cursor& c, uint64_t n_kv, std::size_t& alignment, std::map<std::string, std::string>& strings) {
  std::map<std::string, bool> keys;
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = c.string("a metadata key", kMaxKeyBytes);
    if (!keys.emplace(key, true).second) c.fail("metadata key '" + key + "' appears twice");
    const uint32_t type = c.u32("a metadata value type");
    if (key == "general.alignment") {
      if (type != 4) c.fail("general.alignment is not a u32");
      alignment = c.u32("general.alignment");
      if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > (1u << 20))
        c.fail("general.alignment " + std::to_string(alignment) + " is not a power of two up to 1 MiB");
      continue;
    }
    if (auto text = read_value(c, type, key, 0)) strings[key] = std::move(*text);
  }
}

// Tensor `i`'s info record (name, dimensions innermost first, type, offset into the data section); `data` is left
// for place_tensors. No dimension, nor their product, may exceed `max_values`.
TensorInfo read_tensor_info(Cursor& c, uint64_t i, const std::unordered_map<std::string, std::size_t>& seen,
                            uint64_t max_values, uint64_t& offset) {
  TensorInfo t;
  t.name = c.string("a tensor name", kMaxNameBytes - 1);
  if (t.name.empty()) c.fail("tensor " + std::to_string(i) + " has an empty name");
  if (seen.count(t.name)) c.fail("tensor '" + t.name + "' appears twice");
  const uint32_t dims = c.u32("a tensor's dimension count");
  if (dims > kMaxDims) c.fail("tensor '" + t.name + "' has " + std::to_string(dims) + " dimensions (at most 4)");
  uint64_t numel = 1;
  for (uint32_t d = 0; d < dims; ++d) {
    const uint64_t ne = c.u64("a tensor dimension");
    if (ne > max_values || (ne && numel > max_values / ne)) c.fail("tensor '" + t.name + "' is larger than the file");
    numel *= ne;
    t.shape.insert(t.shape.begin(), static_cast<int64_t>(ne));
  }
  const uint32_t type = c.u32("a tensor type");
  if (!block_layout(type))
    c.fail("tensor '" + t.name + "' is " + type_name(type) +
           "; genplug reads F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q2_K to Q6_K tensors");
  t.type = static_cast<Type>(type);
  try {
    t.nbytes = byte_size(t.type, t.shape);
  } catch (const Error& e) {
    c.fail("tensor '" + t.name + "': " + e.what());
  }
  offset = c.u64("a tensor offset");
  return t;
}

// Points each tensor into the data section at `data_start`: aligned, inside the file, no two overlapping.
void place_tensors(const Cursor& c, std::vector<TensorInfo>& tensors, const std::vector<uint64_t>& offsets,
                   const uint8_t* base, std::size_t size, std::size_t data_start, std::size_t alignment) {
  if (data_start > size) c.fail("truncated: the data section starts past the end of the file");
  const std::size_t data_size = size - data_start;
  std::vector<std::pair<uint64_t, std::size_t>> spans;  // (offset, tensor)
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    TensorInfo& t = tensors[i];
    const uint64_t offset = offsets[i];
    if (offset % alignment) c.fail("tensor '" + t.name + "' has offset " + std::to_string(offset) + ", not aligned");
    if (offset > data_size || t.nbytes > data_size - offset)
      c.fail("tensor '" + t.name + "' (" + std::to_string(t.nbytes) + " bytes at " + std::to_string(offset) +
             ") runs past the end of the file");
    t.data = base + data_start + offset;
    spans.emplace_back(offset, i);
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t k = 1; k < spans.size(); ++k) {
    const TensorInfo& prev = tensors[spans[k - 1].second];
    if (spans[k - 1].first + prev.nbytes > spans[k].first)
      c.fail("tensors '" + prev.name + "' and '" + tensors[spans[k].second].name + "' overlap");
  }
}

}  // namespace

void File::parse_bytes() {
  Cursor c(base_, size_, name_);
  if (size_ < 4 || std::memcmp(base_, "GGUF", 4) != 0) throw Error(name_ + ": not a GGUF file (no 'GGUF' magic)");
  c.take(4, "the magic");
  version_ = c.u32("the version");
  if (version_ != 2 && version_ != 3)
    c.fail("GGUF version " + std::to_string(version_) + "; genplug reads versions 2 and 3");
  const uint64_t n_tensors = c.u64("the tensor count");
  const uint64_t n_kv = c.u64("the metadata count");
  // Each entry takes well over 8 bytes: counts beyond the file size are corrupt, not merely large.
  if (n_tensors > size_ / 8 || n_kv > size_ / 8)
    c.fail("claims " + std::to_string(n_tensors) + " tensors and " + std::to_string(n_kv) + " metadata entries");
  read_metadata(c, n_kv, alignment_, strings_);

  // Every type takes at least 2 bits per value (Q2_K: 2.625), so no dimension, nor any product of them, exceeds
  // four values per byte of the file.
  const uint64_t max_values = size_ > std::numeric_limits<uint64_t>::max() / 4 ? std::numeric_limits<uint64_t>::max()
                                                                              : 4 * uint64_t(size_);
  std::vector<uint64_t> offsets;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t = read_tensor_info(c, i, index_, max_values, offsets.emplace_back());
    index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }
  // A file without tensors needs no data section, nor the padding before it.
  if (!tensors_.empty())
    place_tensors(c, tensors_, offsets, base_, size_, align_up(c.offset(), alignment_), alignment_);
}

}  // namespace genplug::gguf
