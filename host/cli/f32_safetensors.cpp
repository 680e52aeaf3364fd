// See f32_safetensors.hpp.
#include "f32_safetensors.hpp"

#include <unistd.h>

#include <fstream>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace genplug::cli {
namespace {

namespace fs = std::filesystem;

// The header: "__metadata__" first, then the tensors in data order.
std::string header_text(const std::string& where, const std::vector<F32Tensor>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__" || !names.insert(t.name).second)
      throw std::runtime_error(where + ": cannot write a tensor named '" + t.name + "' (empty, reserved or twice)");
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= d >= 0 ? static_cast<uint64_t>(d) : 0;
    if (numel != t.values.size())
      throw std::runtime_error(where + ": tensor '" + t.name + "': " + std::to_string(t.values.size()) +
                               " values for its shape's " + std::to_string(numel));
    const uint64_t bytes = numel * sizeof(float);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

void write_f32_safetensors(const fs::path& path, const std::vector<F32Tensor>& tensors,
                           const std::map<std::string, std::string>& metadata) {
  static_assert(sizeof(float) == 4, "safetensors F32 is 4 bytes, little-endian like every target genplug builds for");
  const std::string where = path.string();
  const std::string text = header_text(where, tensors, metadata);
  const fs::path temp = fs::path(where + ".tmp-" + std::to_string(::getpid()));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(where + ": cannot create " + temp.string());
    char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<char>(static_cast<uint64_t>(text.size()) >> (8 * i));
    out.write(length, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : tensors)
      out.write(reinterpret_cast<const char*>(t.values.data()), static_cast<std::streamsize>(t.values.size() * 4));
    out.flush();
    if (!out) {
      out.close();
      std::error_code ignored;
      fs::remove(temp, ignored);
      throw std::runtime_error(where + ": write failed (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw std::runtime_error(where + ": cannot rename the temporary file into place: " + ec.message());
  }
}

}  // namespace genplug::cli
