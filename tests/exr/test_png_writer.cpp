// PNG previews (host/src/png_writer.cpp): read back with libpng, the 8-bit values are the clamped, rounded
// inputs; the box filter keeps the mean and the aspect ratio; writing is atomic like the EXR writer's.
#define BOOST_TEST_MODULE png_writer
#include <boost/test/unit_test.hpp>

#include <png.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "png_read.hpp"
#include "genplug/host/errors.hpp"
#include "genplug/host/png_writer.hpp"

namespace fs = std::filesystem;
using genplug::host::ImageRGB;

namespace {

struct TempFolder {
  fs::path path = fs::temp_directory_path() / ("genplug_png_" + std::to_string(::getpid()));
  TempFolder() { fs::create_directories(path); }
  ~TempFolder() { fs::remove_all(path); }
};


ImageRGB ramp(int w, int h) {
  ImageRGB image{w, h, std::vector<float>(3 * size_t(w) * size_t(h))};
  for (size_t i = 0; i < image.planar.size(); ++i) image.planar[i] = float(i % 97) / 96.0f * 1.2f - 0.1f;
  return image;
}

}  // namespace

BOOST_AUTO_TEST_CASE(values_are_clamped_rounded_and_interleaved) {
  TempFolder folder;
  ImageRGB image = ramp(7, 5);
  image.planar[3] = std::numeric_limits<float>::quiet_NaN();
  const fs::path path = folder.path / "ramp.png";
  genplug::host::write_png(path, image);
  int w = 0, h = 0;
  const auto rgb = genplug::test::read_png_rgb8(path, w, h);
  BOOST_TEST(w == 7);
  BOOST_TEST(h == 5);
  const size_t plane = 35;
  for (size_t c = 0; c < 3; ++c)
    for (size_t i = 0; i < plane; ++i) {
      const float v = image.planar[c * plane + i];
      const int expected = std::isnan(v) ? 0 : int(std::lround(std::fmin(1.0f, std::fmax(0.0f, v)) * 255.0f));
      BOOST_TEST(int(rgb[3 * i + c]) == expected, "channel " << c << " pixel " << i);
    }
  for (const auto& entry : fs::directory_iterator(folder.path))  // no temporary file left
    BOOST_TEST(entry.path().filename() == "ramp.png");
}

BOOST_AUTO_TEST_CASE(shrink_keeps_aspect_and_mean) {
  const ImageRGB image = ramp(300, 120);
  const ImageRGB small = genplug::host::shrink_to_fit(image, 100);
  BOOST_TEST(small.width == 100);
  BOOST_TEST(small.height == 40);
  // 300 x 120 -> 100 x 40 is an exact 3 x 3 box: the means agree to rounding.
  const double mean_in = std::accumulate(image.planar.begin(), image.planar.end(), 0.0) / double(image.planar.size());
  const double mean_out = std::accumulate(small.planar.begin(), small.planar.end(), 0.0) / double(small.planar.size());
  BOOST_TEST(std::fabs(mean_in - mean_out) < 1e-6);
  const ImageRGB same = genplug::host::shrink_to_fit(image, 300);
  BOOST_TEST(same.planar == image.planar);
  const ImageRGB odd = genplug::host::shrink_to_fit(ramp(1000, 3), 64);  // a side never drops to 0
  BOOST_TEST(odd.width == 64);
  BOOST_TEST(odd.height == 1);
}

BOOST_AUTO_TEST_CASE(previews_go_beside_the_exr_and_errors_name_the_path) {
  BOOST_TEST(genplug::host::preview_path("out/frame.0001.exr") == fs::path("out/frame.0001.png"));
  BOOST_TEST(genplug::host::preview_path("render") == fs::path("render.png"));
  TempFolder folder;
  try {
    genplug::host::write_png(folder.path / "missing" / "a.png", ramp(4, 4));
    BOOST_ERROR("wrote into a missing folder");
  } catch (const genplug::host::HostError& e) {
    BOOST_TEST(int(e.kind()) == int(genplug::host::ErrorKind::output));
    BOOST_TEST(std::string(e.what()).find("missing") != std::string::npos, e.what());
  }
}

// A preview is always replaced, but only a regular file is: a link to a FIFO (as to a device such as /dev/null,
// which root could otherwise replace) or a link that leads nowhere is an output error, and stays as it was. A
// link to a regular file is written through.
BOOST_AUTO_TEST_CASE(only_a_regular_file_is_replaced_through_a_link) {
  TempFolder folder;
  const fs::path fifo = folder.path / "fifo", to_fifo = folder.path / "to_fifo.png", nowhere = folder.path / "nowhere.png";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  fs::create_symlink(fifo, to_fifo);
  fs::create_symlink(folder.path / "absent" / "x.png", nowhere);
  for (const auto& [path, why] : {std::pair{to_fifo, "not a regular file"}, std::pair{nowhere, "dangling symbolic link"}})
    try {
      genplug::host::write_png(path, ramp(4, 4));
      BOOST_ERROR("replaced " << path);
    } catch (const genplug::host::HostError& e) {
      BOOST_TEST(int(e.kind()) == int(genplug::host::ErrorKind::output));
      BOOST_TEST(std::string(e.what()).find(path.string() + "': it is ") != std::string::npos, e.what());
      BOOST_TEST(std::string(e.what()).find(why) != std::string::npos, e.what());
    }
  BOOST_TEST(fs::is_fifo(fifo));
  BOOST_TEST(fs::is_symlink(fs::symlink_status(to_fifo)));
  BOOST_TEST(fs::is_symlink(fs::symlink_status(nowhere)));
  BOOST_TEST(std::distance(fs::directory_iterator(folder.path), fs::directory_iterator()) == 3);

  const fs::path file = folder.path / "v1.png", link = folder.path / "latest.png";
  genplug::host::write_png(file, ramp(2, 2));
  fs::create_symlink(file, link);
  genplug::host::write_png(link, ramp(8, 4));
  BOOST_TEST(fs::is_symlink(fs::symlink_status(link)));
  int w = 0, h = 0;
  genplug::test::read_png_rgb8(file, w, h);
  BOOST_TEST(w == 8);
}
