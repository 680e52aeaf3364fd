// write_file: GGUF version 3, written beside the target and renamed over it (no partial file under the name).
#include <genplug/gguf.hpp>

#include <unistd.h>

#include <fstream>
#include <set>
#include <system_error>

#include <genplug/internal/replaced_file.hpp>

namespace genplug::gguf {
namespace {

constexpr std::size_t kAlignment = 32;

void put(std::string& out, uint64_t v, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_string(std::string& out, const std::string& s) {
  put(out, s.size(), 8);
  out += s;
}

}  // namespace

void write_file(const std::filesystem::path& path, const std::vector<TensorData>& tensors,
                const std::map<std::string, std::string>& strings) {
  std::set<std::string> names;
  std::string header = "GGUF";
  put(header, 3, 4);
  put(header, tensors.size(), 8);
  put(header, strings.size(), 8);
  for (const auto& [key, value] : strings) {
    put_string(header, key);
    put(header, 8, 4);  // string
    put_string(header, value);
  }
  uint64_t offset = 0;
  for (const TensorData& t : tensors) {
    if (t.name.empty() || t.name.size() >= 64 || !names.insert(t.name).second)
      throw Error(path.string() + ": tensor name '" + t.name + "' is empty, 64 bytes or longer, or repeated");
    if (t.shape.empty() || t.shape.size() > 4) throw Error(path.string() + ": tensor '" + t.name + "' needs 1 to 4 dims");
    if (t.bytes.size() != byte_size(t.type, t.shape))
      throw Error(path.string() + ": tensor '" + t.name + "' has " + std::to_string(t.bytes.size()) +
                  " bytes, its type and shape need " + std::to_string(byte_size(t.type, t.shape)));
    put_string(header, t.name);
    put(header, t.shape.size(), 4);
    for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d) put(header, static_cast<uint64_t>(*d), 8);
    put(header, static_cast<uint32_t>(t.type), 4);
    put(header, offset, 8);
    offset += (t.bytes.size() + kAlignment - 1) / kAlignment * kAlignment;
  }
  header.resize((header.size() + kAlignment - 1) / kAlignment * kAlignment, '\0');

  // The rules of genplug/internal/replaced_file.hpp: links written through, only a regular file replaced.
  const std::filesystem::path destination = internal::written_path(path);
  if (const std::string why = internal::unreplaceable_reason(destination); !why.empty())
    throw Error(path.string() + ": " + why);
  std::filesystem::path tmp;
  try {
    tmp = internal::create_temporary_beside(destination);
  } catch (const std::system_error& e) {
    throw Error(path.string() + ": " + e.what());
  }
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);  // the empty file just created, ours alone
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    const std::string pad(kAlignment, '\0');
    for (const TensorData& t : tensors) {
      out.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
      out.write(pad.data(), static_cast<std::streamsize>((kAlignment - t.bytes.size() % kAlignment) % kAlignment));
    }
    out.flush();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      throw Error(path.string() + ": cannot write " + tmp.string());
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, destination, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw Error(path.string() + ": cannot rename the temporary file into place: " + ec.message());
  }
}

}  // namespace genplug::gguf
