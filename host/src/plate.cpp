// genplug host — plates (plate.hpp).
#include "genplug/host/plate.hpp"

#include <png.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <vector>

#include "genplug/host/color_management.hpp"
#include "genplug/host/errors.hpp"
#include "genplug/internal/regular_file.hpp"

namespace genplug::host {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail_plate(const fs::path& path, const std::string& why) {
  throw HostError(ErrorKind::manifest, "plate '" + path.string() + "': " + why);
}

// Fails unless `path` is a regular file, saying what it is instead (as files read whole are named:
// internal/regular_file.hpp).
void require_regular_file(const fs::path& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (fs::is_regular_file(st)) return;
  if (st.type() == fs::file_type::not_found) fail_plate(path, genplug::internal::missing_file_text(path));
  if (ec) fail_plate(path, "cannot be examined: " + ec.message());
  if (fs::is_directory(st)) fail_plate(path, "is not a regular file (a folder)");
  fail_plate(path, "is not a regular file (a device, pipe or socket)");
}

// Why libpng could not open `path` (a regular file): what the file is when that says more than libpng's "Read
// Error" (empty, shorter than the signature, not a PNG at all), else libpng's own message.
std::string not_readable_png(const fs::path& path, const char* libpng_message) {
  static constexpr unsigned char kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  char head[8] = {};
  std::ifstream in(path, std::ios::binary);
  const auto got = in.read(head, sizeof head).gcount();
  if (got == 0 && in.eof()) return "is empty (0 bytes), not a PNG";
  if (in.eof()) return "is " + std::to_string(got) + " bytes, shorter than a PNG's 8-byte signature";
  if (in && std::memcmp(head, kSignature, sizeof head) != 0)
    return "is not a PNG (it does not start with the PNG signature)";
  return std::string("not a readable PNG: ") + libpng_message;
}

// Plates are decoded whole, as 8-bit RGB and then float planes (15 bytes a pixel): bounded by pixels, checked
// from the header before anything is allocated (a 74-byte PNG can claim 60 000 x 60 000).
constexpr uint64_t kMaxPlatePixels = uint64_t(1) << 28;  // 16 384 x 16 384
void check_plate_pixels(const fs::path& path, uint64_t width, uint64_t height) {
  if (width * height > kMaxPlatePixels)
    fail_plate(path, std::to_string(width) + " x " + std::to_string(height) +
                   " is more than a plate may have (16384 x 16384 = 268 M pixels)");
}


// A PNG as planar sRGB-encoded floats in [0, 1], RGB whatever its colour type (grey, palette, alpha dropped;
// 16-bit files are read at 8 bits: libpng's simplified API gives 16-bit samples only linearised).
ImageRGB read_png(const fs::path& path) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&png, path.c_str())) fail_plate(path, not_readable_png(path, png.message));
  png.format = PNG_FORMAT_RGB;  // its size was bounded from the header by load_plate (plate_size)
  std::vector<png_byte> rgb(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, rgb.data(), 0, nullptr))
    fail_plate(path, std::string("PNG data: ") + png.message);
  ImageRGB image{int(png.width), int(png.height), std::vector<float>(rgb.size())};
  const size_t plane = size_t(png.width) * png.height;
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) image.planar[c * plane + i] = float(rgb[3 * i + c]) / 255.0f;
  return image;
}

// Tent-filter weights of output sample `o` (of `out` samples) over `in` input samples.
void tent(int o, int in, int out, std::vector<std::pair<int, float>>& taps) {
  taps.clear();
  const double scale = double(in) / double(out), support = std::max(1.0, scale);
  const double centre = (o + 0.5) * scale - 0.5;
  double total = 0;
  for (int i = int(std::floor(centre - support)); i <= int(std::ceil(centre + support)); ++i) {
    const double w = 1.0 - std::fabs(double(i) - centre) / support;
    if (w <= 0) continue;
    taps.emplace_back(std::clamp(i, 0, in - 1), float(w));
    total += w;
  }
  for (auto& t : taps) t.second = float(t.second / total);
}

}  // namespace

bool is_png_path(const fs::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".png";
}

uint32_t img2img_start(uint32_t steps, double strength) {
  const double init = std::min(double(steps) * strength, double(steps));
  return uint32_t(std::max(double(steps) - init, 0.0));  // int() in Python: towards zero
}

std::vector<double> plate_schedule(std::vector<double> sigmas, double strength) {
  if (sigmas.size() < 2) return sigmas;
  const uint32_t steps = uint32_t(sigmas.size() - 1);
  sigmas.erase(sigmas.begin(), sigmas.begin() + std::ptrdiff_t(std::min(img2img_start(steps, strength), steps)));
  return sigmas;
}

PlateResize parse_plate_resize(const std::string& name) {
  if (name == "error") return PlateResize::error;
  if (name == "fit") return PlateResize::fit;
  if (name == "fill") return PlateResize::fill;
  throw std::invalid_argument("unknown resize '" + name + "' (allowed: error, fit, fill)");
}

namespace {

// The window [x0, x0 + ww) x [y0, y0 + wh) of `image` resampled to width x height: each of its pixels computed as
// resample() computes it (same taps, same order), and nothing outside it. A fill crop needs only what it keeps:
// a 65536 x 1 plate filling 64 x 64 is 64 x 64 of a 4 194 304 x 64 scaling (3.2 GB whole).
ImageRGB resample_window(const ImageRGB& image, int width, int height, int x0, int y0, int ww, int wh) {
  const size_t in_plane = size_t(image.width) * image.height, mid_plane = size_t(ww) * image.height;
  std::vector<float> rows(3 * mid_plane);  // horizontal pass, the window's columns only
  std::vector<std::pair<int, float>> taps;
  for (int x = 0; x < ww; ++x) {
    tent(x0 + x, image.width, width, taps);
    for (size_t c = 0; c < 3; ++c)
      for (int y = 0; y < image.height; ++y) {
        float v = 0;
        for (const auto& [i, w] : taps) v += w * image.planar[c * in_plane + size_t(y) * image.width + i];
        rows[c * mid_plane + size_t(y) * ww + x] = v;
      }
  }
  ImageRGB out{ww, wh, std::vector<float>(3 * size_t(ww) * wh)};
  const size_t out_plane = size_t(ww) * wh;
  for (int y = 0; y < wh; ++y) {  // vertical pass, the window's rows only
    tent(y0 + y, image.height, height, taps);
    for (size_t c = 0; c < 3; ++c)
      for (int x = 0; x < ww; ++x) {
        float v = 0;
        for (const auto& [i, w] : taps) v += w * rows[c * mid_plane + size_t(i) * ww + x];
        out.planar[c * out_plane + size_t(y) * ww + x] = v;
      }
  }
  return out;
}

}  // namespace

ImageRGB resample(const ImageRGB& image, int width, int height) {
  if (image.width == width && image.height == height) return image;
  return resample_window(image, width, height, 0, 0, width, height);
}

std::pair<int, int> plate_size(const fs::path& path) {
  require_regular_file(path);
  if (is_png_path(path)) {
    png_image png{};
    png.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&png, path.c_str())) fail_plate(path, not_readable_png(path, png.message));
    const uint64_t w = png.width, h = png.height;
    png_image_free(&png);
    check_plate_pixels(path, w, h);
    return {int(w), int(h)};
  }
  std::pair<int, int> size;
  try {
    size = exr_size(path);
  } catch (const HostError& e) {
    fail_plate(path, e.what());
  }
  check_plate_pixels(path, uint64_t(size.first), uint64_t(size.second));
  return size;
}

ImageRGB load_plate(const fs::path& path, int width, int height, PlateResize resize, const ColorConversion* to_srgb) {
  plate_size(path);  // a regular file, its header's size within bounds, before it is decoded
  ImageRGB plate;
  if (is_png_path(path)) {
    plate = read_png(path);
  } else {
    try {
      plate = read_exr(path);
    } catch (const HostError& e) {
      fail_plate(path, e.what());
    }
    if (to_srgb) to_srgb->apply(plate);
  }
  return adapt_plate(plate, width, height, resize, path);
}

ImageRGB adapt_plate(const ImageRGB& plate, int width, int height, PlateResize resize, const fs::path& path) {
  if (plate.width == width && plate.height == height) return plate;
  if (resize == PlateResize::error)
    fail_plate(path, std::to_string(plate.width) + " x " + std::to_string(plate.height) + " is not the job's " +
                   std::to_string(width) + " x " + std::to_string(height) + " (resize: \"fit\" or \"fill\" adapts it)");
  // fit: the smaller scale, so all of the plate shows; fill: the larger, so all of the frame is covered.
  const double sx = double(width) / plate.width, sy = double(height) / plate.height;
  const double s = resize == PlateResize::fit ? std::min(sx, sy) : std::max(sx, sy);
  const int w = std::max(1, int(std::lround(plate.width * s))), h = std::max(1, int(std::lround(plate.height * s)));
  const int ox = (width - w) / 2, oy = (height - h) / 2;  // negative for fill: the crop
  // Only the part of the scaled plate that lands in the frame is computed.
  const int vx0 = std::max(0, -ox), vy0 = std::max(0, -oy);
  const int vw = std::min(w, width - ox) - vx0, vh = std::min(h, height - oy) - vy0;
  const ImageRGB visible = resample_window(plate, w, h, vx0, vy0, vw, vh);
  ImageRGB out{width, height, std::vector<float>(3 * size_t(width) * height, 0.0f)};
  for (size_t c = 0; c < 3; ++c)
    for (int y = 0; y < vh; ++y)
      for (int x = 0; x < vw; ++x)
        out.planar[c * size_t(width) * height + size_t(y + vy0 + oy) * width + (x + vx0 + ox)] =
            visible.planar[c * size_t(vw) * vh + size_t(y) * vw + x];
  return out;
}

}  // namespace genplug::host
