// write_file: the standard safetensors layout, written to a temporary file and renamed into place (the rules of
// genplug/internal/replaced_file.hpp: links written through, only a regular file replaced).
#include <genplug/safetensors.hpp>

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>
#include <system_error>

#include <genplug/internal/replaced_file.hpp>
#include <nlohmann/json.hpp>

namespace genplug::safetensors {
namespace {

namespace fs = std::filesystem;

struct Span {
  const uint8_t* data;
  std::size_t size;
};

Span bytes_of(const TensorData& t) {
  if (t.data) return {static_cast<const uint8_t*>(t.data), t.size};
  return {t.bytes.data(), t.bytes.size()};
}

}  // namespace

TensorData TensorData::from_floats(std::string name, std::vector<int64_t> shape, const std::vector<float>& values) {
  TensorData t;
  t.name = std::move(name);
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  t.bytes.resize(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

TensorData TensorData::borrow(const TensorInfo& info) {
  TensorData t;
  t.name = info.name;
  t.dtype = info.dtype;
  t.shape = info.shape;
  t.data = info.data;
  t.size = info.nbytes;
  return t;
}

void write_file(const fs::path& path, const std::vector<TensorData>& tensors,
                const std::map<std::string, std::string>& metadata) {
  const std::string where = path.string();
  // nlohmann's ordered_json keeps the data order in the header, which makes files easy to read.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& meta = header["__metadata__"];
    meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      throw Error(where + ": cannot write a tensor named '" + t.name + "'");
    if (!names.insert(t.name).second) throw Error(where + ": tensor '" + t.name + "' given twice");
    uint64_t expected = dtype_size(t.dtype);
    for (int64_t d : t.shape) {
      if (d < 0) throw Error(where + ": tensor '" + t.name + "': negative dimension");
      expected *= static_cast<uint64_t>(d);
    }
    const Span span = bytes_of(t);
    if (span.size != expected)
      throw Error(where + ": tensor '" + t.name + "': " + std::to_string(span.size) + " bytes given, shape x " +
                  dtype_name(t.dtype) + " needs " + std::to_string(expected));
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + span.size}}};
    offset += span.size;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  const fs::path destination = internal::written_path(path);
  if (const std::string why = internal::unreplaceable_reason(destination); !why.empty()) throw Error(where + ": " + why);
  fs::path temp;
  try {
    temp = internal::create_temporary_beside(destination);
  } catch (const std::system_error& e) {
    throw Error(where + ": " + e.what());
  }
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);  // the empty file just created, ours alone
    if (!out) throw Error(where + ": cannot create " + temp.string());
    uint8_t length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
    out.write(reinterpret_cast<const char*>(length), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : tensors) {
      const Span span = bytes_of(t);
      out.write(reinterpret_cast<const char*>(span.data), static_cast<std::streamsize>(span.size));
    }
    out.flush();
    if (!out) {
      out.close();
      std::error_code ignored;
      fs::remove(temp, ignored);
      throw Error(where + ": write failed (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(temp, destination, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw Error(where + ": cannot rename the temporary file into place: " + ec.message());
  }
}

}  // namespace genplug::safetensors
