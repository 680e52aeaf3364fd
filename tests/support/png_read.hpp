// Reads an 8-bit RGB PNG with libpng's simplified API, for tests of what genplug writes: interleaved bytes.
#pragma once
#include <png.h>

#include <filesystem>
#include <vector>

#include <boost/test/unit_test.hpp>

namespace genplug::test {

inline std::vector<png_byte> read_png_rgb8(const std::filesystem::path& path, int& width, int& height) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  BOOST_REQUIRE(png_image_begin_read_from_file(&png, path.c_str()));
  png.format = PNG_FORMAT_RGB;
  std::vector<png_byte> rgb(PNG_IMAGE_SIZE(png));
  BOOST_REQUIRE(png_image_finish_read(&png, nullptr, rgb.data(), 0, nullptr));
  width = int(png.width);
  height = int(png.height);
  return rgb;
}

}  // namespace genplug::test
