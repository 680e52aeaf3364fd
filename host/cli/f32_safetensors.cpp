// See f32_safetensors.hpp.
#include "f32_safetensors.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "atomic_output.hpp"

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

// All of `bytes` to `fd` (a write may take only part, or be interrupted before it starts).
void write_all(int fd, const fs::path& path, const void* data, std::size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) host::fail_write(path, std::string("write failed: ") + std::strerror(errno), errno);
    p += n;
    bytes -= std::size_t(n);
  }
}

}  // namespace

void write_f32_safetensors(const fs::path& path, const std::vector<F32Tensor>& tensors,
                           const std::map<std::string, std::string>& metadata, bool overwrite) {
  static_assert(sizeof(float) == 4, "safetensors F32 is 4 bytes, little-endian like every target genplug builds for");
  const std::string text = header_text(path.string(), tensors, metadata);
  // Beside the target, under a name of its own, and removed by every error and by a signal's clean-up
  // (cancel_signals.hpp); renamed into place only when complete.
  host::TemporaryFile temporary(path);
  char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>(static_cast<uint64_t>(text.size()) >> (8 * i));
  write_all(temporary.fd(), path, length, 8);
  write_all(temporary.fd(), path, text.data(), text.size());
  for (const auto& t : tensors) write_all(temporary.fd(), path, t.values.data(), t.values.size() * sizeof(float));
  temporary.sync_and_close();
  // Without overwrite, also a file that appeared since the command looked (another encode of the same output, a
  // user's copy): the rename refuses to replace it.
  temporary.commit(overwrite);
}

}  // namespace genplug::cli
