// genplug host — PNG previews (png_writer.hpp), with libpng's simplified API.
#include "genplug/host/png_writer.hpp"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "atomic_output.hpp"
#include "genplug/host/errors.hpp"

namespace genplug::host {
namespace {

// Interleaved 8-bit RGB rows from planar floats: clamp to [0, 1], round to the nearest level, NaN -> 0.
std::vector<png_byte> interleaved_8bit(const ImageRGB& image) {
  const size_t plane = size_t(image.width) * size_t(image.height);
  std::vector<png_byte> rgb(3 * plane);
  for (size_t c = 0; c < 3; ++c)
    for (size_t i = 0; i < plane; ++i) {
      const float v = image.planar[c * plane + i];
      rgb[3 * i + c] = std::isnan(v) ? 0 : png_byte(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f));
    }
  return rgb;
}

std::vector<png_byte> encode_png(const ImageRGB& image, const std::filesystem::path& path) {
  const std::vector<png_byte> rgb = interleaved_8bit(image);
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = png_uint_32(image.width);
  png.height = png_uint_32(image.height);
  png.format = PNG_FORMAT_RGB;  // 8-bit components: libpng tags the file sRGB
  // One compression: a buffer of libpng's bound on any PNG of this image (asking for the exact size first, with a
  // NULL buffer, compresses the whole image to count its bytes). Should the bound be short, libpng says how much.
  png_alloc_size_t bytes = PNG_IMAGE_PNG_SIZE_MAX(png);
  std::vector<png_byte> out(bytes);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const png_alloc_size_t capacity = bytes;
    if (png_image_write_to_memory(&png, out.data(), &bytes, 0, rgb.data(), 0, nullptr)) {
      out.resize(bytes);
      return out;
    }
    if (bytes <= capacity) break;  // not a buffer too small: an error
    out.resize(bytes);
  }
  fail_output(path, std::string("PNG encoding failed: ") + png.message);
}

}  // namespace

void write_png(const std::filesystem::path& path, const ImageRGB& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.planar.size() != 3 * size_t(image.width) * size_t(image.height))
    throw std::invalid_argument("write_png: image size and planar data disagree");
  const std::vector<png_byte> bytes = encode_png(image, path);
  TemporaryFile temporary(path);
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(temporary.fd(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : EIO;
      fail_write(path, std::string("write failed: ") + std::strerror(error), error);
    }
    done += size_t(n);
  }
  temporary.sync_and_close();
  temporary.commit(/*overwrite=*/true);
}

ImageRGB shrink_to_fit(const ImageRGB& image, int max_side) {
  const int longer = std::max(image.width, image.height);
  if (longer <= max_side) return image;
  const double s = double(max_side) / double(longer);
  const int w = std::max(1, int(std::lround(image.width * s))), h = std::max(1, int(std::lround(image.height * s)));
  ImageRGB out{w, h, std::vector<float>(3 * size_t(w) * size_t(h))};
  const size_t in_plane = size_t(image.width) * size_t(image.height), out_plane = size_t(w) * size_t(h);
  for (int y = 0; y < h; ++y) {  // box filter: each output pixel averages the input pixels it covers
    const int y0 = int(int64_t(y) * image.height / h), y1 = std::max(y0 + 1, int(int64_t(y + 1) * image.height / h));
    for (int x = 0; x < w; ++x) {
      const int x0 = int(int64_t(x) * image.width / w), x1 = std::max(x0 + 1, int(int64_t(x + 1) * image.width / w));
      for (size_t c = 0; c < 3; ++c) {
        double sum = 0;
        for (int yy = y0; yy < y1; ++yy)
          for (int xx = x0; xx < x1; ++xx) sum += image.planar[c * in_plane + size_t(yy) * image.width + xx];
        out.planar[c * out_plane + size_t(y) * w + x] = float(sum / double((y1 - y0) * (x1 - x0)));
      }
    }
  }
  return out;
}

std::filesystem::path preview_path(const std::filesystem::path& output) {
  std::filesystem::path p = output;
  return p.replace_extension(".png");
}

}  // namespace genplug::host
