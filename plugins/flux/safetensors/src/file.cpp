// File: mmap a .safetensors file and validate everything the format promises.
#include <genplug/safetensors.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <string_view>

#include <genplug/internal/bounded_json.hpp>
#include <genplug/internal/cpu_memory.hpp>
#include <nlohmann/json.hpp>

namespace genplug::safetensors {
namespace {

using nlohmann::json;

// The reference implementation's cap on the header length.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw Error(path.string() + ": " + what);
}

[[noreturn]] void fail_tensor(const std::filesystem::path& path, const std::string& tensor, const std::string& what) {
  throw Error(path.string() + ": tensor '" + tensor + "': " + what);
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A non-negative JSON integer (floats and negative numbers are rejected).
std::optional<uint64_t> as_unsigned(const json& j) {
  if (!j.is_number_unsigned()) {
    if (j.is_number_integer() && j.get<int64_t>() >= 0) return j.get<uint64_t>();
    return std::nullopt;
  }
  return j.get<uint64_t>();
}

// Parses the header text, rejecting a key given twice in one object (nlohmann would keep the last one silently)
// and nesting deeper than 8 levels (a safetensors header has 3; deeper ones would recurse later).
json parse_header_json(const std::filesystem::path& path, const char* begin, const char* end) {
  genplug::internal::BoundedJsonBuilder builder(8, nullptr);
  try {
    genplug::internal::refuse_nul_bytes(std::string_view(begin, size_t(end - begin)));  // nlohmann stops at one
    json::sax_parse(begin, end, &builder);
  } catch (const json::exception& e) {
    fail(path, std::string("header is not valid JSON (") + genplug::internal::json_error_text(e) + ")");
  }
  if (builder.too_deep()) fail(path, "header nests deeper than 8 levels (a safetensors header has 3)");
  if (builder.duplicate_depth() == 1) fail_tensor(path, builder.duplicate(), "appears twice in the header");
  if (builder.duplicate_depth() > 1) fail(path, "key '" + builder.duplicate() + "' appears twice in one object of the header");
  return std::move(builder.result());
}


// The bytes after the header, into which data_offsets point.
struct DataSection {
  const uint8_t* begin;
  uint64_t size;
};

using ByteRange = std::pair<uint64_t, uint64_t>;  // [begin, end) in the data section

std::map<std::string, std::string> read_metadata(const std::filesystem::path& path, const json& entry) {
  if (!entry.is_object()) fail(path, "__metadata__ is not an object of strings");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : entry.items()) {
    if (!value.is_string()) fail(path, "__metadata__ value of '" + key + "' is not a string");
    metadata[key] = value.get<std::string>();
  }
  return metadata;
}

// numel * element size of `shape` (a JSON array) into info.shape; nullopt when the product passes 2^64.
std::optional<uint64_t> read_shape(const std::filesystem::path& path, const std::string& name, const json& shape,
                                   TensorInfo& info) {
  uint64_t bytes = dtype_size(info.dtype);
  bool overflow = false;
  for (const auto& d : shape) {
    const auto dim = as_unsigned(d);
    if (!dim) fail_tensor(path, name, "shape " + shape.dump() + " has an entry that is not a non-negative integer");
    if (*dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail_tensor(path, name, "shape " + shape.dump() + " has an entry too large");
    info.shape.push_back(static_cast<int64_t>(*dim));
    if (*dim != 0 && bytes > std::numeric_limits<uint64_t>::max() / *dim) overflow = true;
    bytes *= *dim;
  }
  if (std::find(info.shape.begin(), info.shape.end(), 0) != info.shape.end()) return 0;
  if (overflow) return std::nullopt;
  return bytes;
}

// One tensor's entry {"dtype", "shape", "data_offsets"}: its bytes must be numel * dtype size and lie inside the
// data section. `range` receives its data_offsets.
TensorInfo read_tensor_entry(const std::filesystem::path& path, const std::string& name, const json& entry,
                             const DataSection& data, ByteRange& range) {
  if (name.empty()) fail(path, "a tensor has an empty name");
  if (!entry.is_object()) fail_tensor(path, name, "entry is not an object");
  const auto dtype_it = entry.find("dtype");
  const auto shape_it = entry.find("shape");
  const auto offsets_it = entry.find("data_offsets");
  if (dtype_it == entry.end() || !dtype_it->is_string()) fail_tensor(path, name, "missing string 'dtype'");
  if (shape_it == entry.end() || !shape_it->is_array()) fail_tensor(path, name, "missing array 'shape'");
  if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2)
    fail_tensor(path, name, "'data_offsets' is not an array [begin, end]");

  TensorInfo info;
  info.name = name;
  const std::string dtype_text = dtype_it->get<std::string>();
  const auto dtype = parse_dtype(dtype_text);
  if (!dtype) fail_tensor(path, name, "unknown or unsupported dtype '" + dtype_text + "'");
  info.dtype = *dtype;
  const std::optional<uint64_t> bytes = read_shape(path, name, *shape_it, info);

  const auto begin = as_unsigned((*offsets_it)[0]);
  const auto end = as_unsigned((*offsets_it)[1]);
  if (!begin || !end)  // which one: 2^64 reads as a float, and "[18446744073709551612, 1.8e+19]" hid it
    fail_tensor(path, name, "'data_offsets' " + offsets_it->dump() + ": its " + (begin ? "end" : "begin") +
                                " is not a whole number from 0 to 2^64 - 1");
  if (*begin > *end) fail_tensor(path, name, "'data_offsets' " + offsets_it->dump() + " has begin > end");
  if (!bytes || *bytes != *end - *begin)
    fail_tensor(path, name,
                std::string("shape ") + shape_it->dump() + " x " + dtype_name(info.dtype) + " needs " +
                    (bytes ? std::to_string(*bytes) : std::string("more than 2^64")) + " bytes but data_offsets " +
                    offsets_it->dump() + " span " + std::to_string(*end - *begin));
  if (*end > data.size)
    fail_tensor(path, name,
                "data_offsets " + offsets_it->dump() + " run past the " + std::to_string(data.size) +
                    "-byte data section (truncated file?)");
  info.data = data.begin + *begin;
  info.nbytes = static_cast<std::size_t>(*bytes);
  range = {*begin, *end};
  return info;
}

// The tensors' indices in data order (ties by name); neighbours must not overlap (empty tensors occupy no bytes).
std::vector<std::size_t> data_order(const std::filesystem::path& path, const std::vector<TensorInfo>& tensors,
                                    const std::vector<ByteRange>& ranges) {
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return ranges[a] != ranges[b] ? ranges[a] < ranges[b] : tensors[a].name < tensors[b].name;
  });
  std::size_t furthest = order.size();  // the tensor reaching furthest so far
  for (std::size_t i : order) {
    if (ranges[i].first == ranges[i].second) continue;
    if (furthest != order.size() && ranges[i].first < ranges[furthest].second)
      fail_tensor(path, tensors[i].name,
                  "bytes [" + std::to_string(ranges[i].first) + ", " + std::to_string(ranges[i].second) +
                      ") overlap tensor '" + tensors[furthest].name + "' [" +
                      std::to_string(ranges[furthest].first) + ", " + std::to_string(ranges[furthest].second) + ")");
    if (furthest == order.size() || ranges[i].second > ranges[furthest].second) furthest = i;
  }
  return order;
}

}  // namespace

std::shared_ptr<const File> File::open(const std::filesystem::path& path) {
  std::shared_ptr<File> file(new File());
  file->path_ = path;
  file->map(path);
  file->parse_header();
  return file;
}

File::~File() {
  if (base_) munmap(const_cast<uint8_t*>(base_), size_);
}

void File::map(const std::filesystem::path& path) {
  // O_NONBLOCK: a FIFO opens at once (and is refused below as not a regular file) instead of blocking.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    std::error_code ec;  // a link whose target is gone: the download cut short of a cache of links to blobs
    if (err == ENOENT && std::filesystem::is_symlink(std::filesystem::symlink_status(path, ec)))
      fail(path, "is a dangling symbolic link (to '" + std::filesystem::read_symlink(path, ec).string() + "')");
    fail(path, std::string("cannot open: ") + std::strerror(err));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(path, std::string("cannot stat: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    fail(path, "file is " + std::to_string(size_) + " bytes, shorter than the 8-byte header length");
  }
  // Private and writable: pages are copy-on-write, so a zero-copy tensor modified in place changes only this
  // process's copy (never the file) instead of faulting. Untouched pages stay shared with the page cache.
  void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (p == MAP_FAILED && err == ENOMEM) {
    const std::optional<std::string> beyond = internal::beyond_address_space(size_);
    throw OutOfMemory(path.string() + ": cannot memory-map its " + std::to_string(size_) + " bytes: " +
                          beyond.value_or(std::strerror(err)),
                      beyond.has_value());
  }
  if (p == MAP_FAILED) fail(path, std::string("cannot memory-map: ") + std::strerror(err));
  base_ = static_cast<const uint8_t*>(p);
}

void File::parse_header() {
  if (std::memcmp(base_, "GGUF", 4) == 0)  // its magic read as a header length is some 10^10 bytes
    fail(path_, "is a GGUF file, not safetensors (genplug reads GGUF for the transformer only: config.transformer)");
  const uint64_t n = read_u64_le(base_);
  if (n > kMaxHeaderBytes)
    fail(path_, "header length " + std::to_string(n) + " exceeds the 100,000,000-byte limit");
  if (n > size_ - 8)
    fail(path_, "header length " + std::to_string(n) + " runs past the end of the " + std::to_string(size_) +
                    "-byte file (truncated?)");
  if (n < 2 || base_[8] != '{') fail(path_, "header does not start with a JSON object '{'");
  header_size_ = static_cast<std::size_t>(n);
  const char* text = reinterpret_cast<const char*>(base_ + 8);
  const json header = parse_header_json(path_, text, text + n);
  if (!header.is_object()) fail(path_, "header is not a JSON object");

  const DataSection data{base_ + 8 + header_size_, size_ - 8 - header_size_};
  std::vector<ByteRange> ranges;  // per tensor, same order as tensors_
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      metadata_ = read_metadata(path_, entry);
      continue;
    }
    TensorInfo info = read_tensor_entry(path_, name, entry, data, ranges.emplace_back());
    info.file = this;
    tensors_.push_back(std::move(info));
  }
  const std::vector<std::size_t> order = data_order(path_, tensors_, ranges);
  std::vector<TensorInfo> sorted;
  sorted.reserve(order.size());
  for (std::size_t i : order) sorted.push_back(std::move(tensors_[i]));
  tensors_ = std::move(sorted);
  for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

const TensorInfo* File::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& File::at(const std::string& name) const {
  if (const TensorInfo* info = find(name)) return *info;
  fail(path_, "no tensor '" + name + "'");
}

}  // namespace genplug::safetensors
