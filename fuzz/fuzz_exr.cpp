// libFuzzer target: the EXR readers of host/src/exr_writer.cpp that the tests and `genplug run --resume` use
// (read_exr, read_exr_attributes, exr_pixels_intact: OpenEXR's InputFile underneath) on arbitrary bytes.
#include <cstdint>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include <genplug/host/errors.hpp>
#include <genplug/host/exr_writer.hpp>

#include "fuzz_support.hpp"

namespace gh = genplug::host;
namespace gf = genplug::fuzz;

namespace {

gf::MemFile* input = nullptr;

// Whether a single-part header declares a size that OpenEXR 3.1 allocates (and zero-fills, up to 2 GiB) before it
// reads, beyond the end of the file: a string, opaque or vector attribute's size, a string of a stringvector, a
// preview's pixels. That is OpenEXR's behaviour (bounded, not genplug's code: 11 s and 1.9 GB under ASan for a
// 956 MB string attribute); such inputs are skipped so that the fuzzing time goes to the readers around it. The
// walk follows OpenEXR's: typed attributes take their own size whatever the declared one, a channel list runs to
// its empty name, names are at most 255 bytes.
uint32_t le32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

bool declares_oversized_field(const uint8_t* data, size_t size) {
  static const std::map<std::string, size_t> fixed = {
      {"box2i", 16}, {"box2f", 16}, {"chromaticities", 32}, {"compression", 1}, {"lineOrder", 1}, {"envmap", 1},
      {"deepImageState", 1}, {"float", 4}, {"int", 4}, {"double", 8}, {"v2i", 8}, {"v2f", 8}, {"v2d", 16},
      {"v3i", 12}, {"v3f", 12}, {"v3d", 24}, {"m33f", 36}, {"m33d", 72}, {"m44f", 64}, {"m44d", 128},
      {"rational", 8}, {"timecode", 8}, {"keycode", 28}, {"tiledesc", 9}};
  auto read_name = [&](size_t& i, std::string& name) {  // false at the end of the data or past 255 bytes
    const size_t start = i;
    while (i < size && data[i] != 0 && i - start < 256) ++i;
    if (i >= size || data[i] != 0) return false;
    name.assign(reinterpret_cast<const char*>(data + start), i - start);
    ++i;
    return true;
  };
  size_t i = 8;  // magic number and version
  std::string name, type;
  while (i < size && data[i] != 0) {
    if (!read_name(i, name) || !read_name(i, type) || size - i < 4) return false;
    const int32_t length = int32_t(le32(data + i));
    i += 4;
    if (length < 0) return false;
    if (const auto it = fixed.find(type); it != fixed.end()) {
      if (size - i < it->second) return false;
      i += it->second;
    } else if (type == "chlist") {
      while (i < size && data[i] != 0) {
        if (!read_name(i, name) || size - i < 16) return false;
        i += 16;
      }
      ++i;
    } else if (type == "preview") {
      if (size - i < 8) return false;
      if (uint64_t(le32(data + i)) * le32(data + i + 4) * 4 > size - i - 8) return true;
      i += 8 + size_t(le32(data + i)) * le32(data + i + 4) * 4;
    } else {  // string, stringvector, floatvector, opaque: the declared size
      if (size_t(length) > size - i) return true;
      if (type == "stringvector")
        for (size_t k = i; k + 4 <= i + size_t(length);) {
          const int32_t n = int32_t(le32(data + k));
          if (n < 0 || size_t(n) > size - k - 4) return true;
          k += 4 + size_t(n);
        }
      i += size_t(length);
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  input = new gf::MemFile("image.exr");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (declares_oversized_field(data, size)) return -1;  // not added to the corpus
  input->write(data, size);
  try {
    (void)gh::read_exr_attributes(input->path());
  } catch (const gh::HostError& e) {
    if (e.kind() != gh::ErrorKind::output) gf::finding("exr", std::string("HostError kind: ") + e.what(), data, size);
  }
  (void)gh::exr_pixels_intact(input->path());  // never throws: false for anything unreadable
  try {
    std::map<std::string, std::string> attributes;
    const gh::ImageRGB image = gh::read_exr(input->path(), &attributes);
    if (image.planar.size() != 3 * std::size_t(image.width) * std::size_t(image.height)) __builtin_trap();
  } catch (const gh::HostError& e) {
    if (e.kind() != gh::ErrorKind::output) gf::finding("exr", std::string("HostError kind: ") + e.what(), data, size);
  }
  return 0;
}
