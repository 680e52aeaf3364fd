// Plates (host/src/plate.cpp): sizes adapted as the job says, EXR plates converted to the model's sRGB.
#define BOOST_TEST_MODULE plate
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "genplug/host/color_management.hpp"
#include "genplug/host/errors.hpp"
#include "genplug/host/plate.hpp"
#include "genplug/host/png_writer.hpp"

namespace fs = std::filesystem;
using genplug::host::ImageRGB;
using genplug::host::PlateResize;

namespace {

struct TempFolder {
  fs::path path = fs::temp_directory_path() / ("genplug_plate_" + std::to_string(::getpid()));
  TempFolder() { fs::create_directories(path); }
  ~TempFolder() { fs::remove_all(path); }
};

// Values that survive 8-bit PNG storage exactly: k / 255.
ImageRGB levels(int w, int h) {
  ImageRGB image{w, h, std::vector<float>(3 * size_t(w) * h)};
  for (size_t i = 0; i < image.planar.size(); ++i) image.planar[i] = float((i * 7 + 3) % 256) / 255.0f;
  return image;
}

float at(const ImageRGB& im, int c, int x, int y) { return im.planar[size_t(c) * im.width * im.height + size_t(y) * im.width + x]; }

}  // namespace

BOOST_AUTO_TEST_CASE(fit_letterboxes_and_fill_crops_the_centre) {
  TempFolder folder;
  const ImageRGB plate = levels(4, 2);
  const fs::path png = folder.path / "plate.png";
  genplug::host::write_png(png, plate);
  BOOST_TEST((genplug::host::plate_size(png) == std::pair<int, int>{4, 2}));
  // fit into 4 x 4: scale 1, rows 1 and 2 hold the plate, rows 0 and 3 are black.
  const ImageRGB fit = genplug::host::load_plate(png, 4, 4, PlateResize::fit, nullptr);
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 4; ++x) {
      BOOST_TEST(at(fit, c, x, 0) == 0.0f);
      BOOST_TEST(at(fit, c, x, 3) == 0.0f);
      BOOST_TEST(at(fit, c, x, 1) == at(plate, c, x, 0));
      BOOST_TEST(at(fit, c, x, 2) == at(plate, c, x, 1));
    }
  // fill 2 x 2: scale 1, the two middle columns.
  const ImageRGB fill = genplug::host::load_plate(png, 2, 2, PlateResize::fill, nullptr);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 2; ++x) BOOST_TEST(at(fill, c, x, y) == at(plate, c, x + 1, y));
  // error: the message names the plate, both sizes and the way out.
  try {
    genplug::host::load_plate(png, 8, 8, PlateResize::error, nullptr);
    BOOST_ERROR("a plate of another size was accepted");
  } catch (const genplug::host::HostError& e) {
    BOOST_TEST(int(e.kind()) == int(genplug::host::ErrorKind::manifest));
    BOOST_TEST(std::string(e.what()).find("4 x 2 is not the job's 8 x 8 (resize:") != std::string::npos, e.what());
  }
  BOOST_CHECK_THROW(genplug::host::load_plate(folder.path / "none.png", 4, 2, PlateResize::error, nullptr),
                    genplug::host::HostError);
}

// Fill computes only the part of the scaled plate that lands in the frame, bit for bit what cropping the whole
// scaling gives; so a 16384 x 1 plate filling 16 x 16 needs a 16 x 16 window of a 262144 x 16 scaling.
BOOST_AUTO_TEST_CASE(fill_computes_only_the_kept_window_bit_for_bit) {
  for (const auto& [pw, ph, width, height] : std::vector<std::array<int, 4>>{{7, 3, 5, 5}, {3, 7, 6, 4}, {9, 4, 4, 9}}) {
    const ImageRGB plate = levels(pw, ph);
    const ImageRGB fill = genplug::host::adapt_plate(plate, width, height, PlateResize::fill, "p.png");
    const double s = std::max(double(width) / pw, double(height) / ph);
    const int w = int(std::lround(pw * s)), h = int(std::lround(ph * s));
    const ImageRGB whole = genplug::host::resample(plate, w, h);
    const int ox = (w - width) / 2, oy = (h - height) / 2;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
          BOOST_TEST(at(fill, c, x, y) == at(whole, c, x + ox, y + oy), pw << "x" << ph << " -> " << width << "x" << height);
  }
  const ImageRGB wide = genplug::host::adapt_plate(levels(16384, 1), 16, 16, PlateResize::fill, "wide.png");
  BOOST_TEST(wide.planar.size() == 3u * 16 * 16);
}

// A 65-byte PNG whose header claims 60 000 x 60 000: refused from its header, before its 10.8 GB are allocated.
BOOST_AUTO_TEST_CASE(a_plate_is_bounded_by_its_headers_pixel_count) {
  TempFolder folder;
  const fs::path png = folder.path / "huge.png";
  const unsigned char bytes[] = {
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
      0x00, 0xea, 0x60, 0x00, 0x00, 0xea, 0x60, 0x08, 0x02, 0x00, 0x00, 0x00, 0x0f, 0xb0, 0xe2, 0x15, 0x00,
      0x00, 0x00, 0x08, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01, 0x48, 0x06,
      0x89, 0xd2, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
  std::ofstream(png, std::ios::binary).write(reinterpret_cast<const char*>(bytes), sizeof bytes);
  const std::string expected = "plate '" + png.string() + "': 60000 x 60000 is more than a plate may have (16384 x "
                               "16384 = 268 M pixels)";
  for (int call = 0; call < 2; ++call) {
    try {
      if (call == 0) genplug::host::plate_size(png);
      else genplug::host::load_plate(png, 16, 16, PlateResize::fill, nullptr);
      BOOST_ERROR("a plate of 3.6 G pixels was accepted");
    } catch (const genplug::host::HostError& e) {
      BOOST_TEST(int(e.kind()) == int(genplug::host::ErrorKind::manifest));
      BOOST_TEST(e.what() == expected);
    }
  }
  // 16384 x 16384 itself is a plate's size: the same header with that size (and its IHDR CRC) passes.
  unsigned char edge[sizeof bytes];
  std::copy(std::begin(bytes), std::end(bytes), edge);
  const unsigned char side[4] = {0x00, 0x00, 0x40, 0x00}, crc[4] = {0x26, 0xaa, 0x87, 0xd3};
  std::copy(side, side + 4, edge + 16);  // width
  std::copy(side, side + 4, edge + 20);  // height
  std::copy(crc, crc + 4, edge + 29);
  std::ofstream(folder.path / "edge.png", std::ios::binary).write(reinterpret_cast<const char*>(edge), sizeof edge);
  BOOST_TEST((genplug::host::plate_size(folder.path / "edge.png") == std::pair<int, int>{16384, 16384}));
}

// A plate that is no regular file says what it is instead (it had been "not a readable file" for all of them).
BOOST_AUTO_TEST_CASE(a_plate_that_is_no_file_says_what_it_is) {
  TempFolder folder;
  const fs::path fifo = folder.path / "pipe.png";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (const auto& [path, why] : {std::pair{folder.path / "missing.png", "does not exist"},
                                  std::pair{folder.path, "is not a regular file (a folder)"},
                                  std::pair{fifo, "is not a regular file (a device, pipe or socket)"}}) {
    try {
      genplug::host::load_plate(path, 16, 16, PlateResize::fill, nullptr);
      BOOST_ERROR("accepted " << path);
    } catch (const genplug::host::HostError& e) {
      BOOST_TEST(int(e.kind()) == int(genplug::host::ErrorKind::manifest));
      BOOST_TEST(e.what() == "plate '" + path.string() + "': " + why);
    }
  }
}

// A file that is no PNG says what it is, not libpng's "Read Error": empty, shorter than the signature, or another
// format; a PNG cut short keeps libpng's reason.
BOOST_AUTO_TEST_CASE(a_plate_that_is_no_png_says_so) {
  TempFolder folder;
  std::ofstream(folder.path / "empty.png");
  std::ofstream(folder.path / "short.png") << "\x89PNG";
  std::ofstream(folder.path / "text.png") << "this is a text file, not an image\n";
  std::ofstream(folder.path / "cut.png", std::ios::binary).write("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
  const std::pair<const char*, std::string> cases[] = {
      {"empty.png", "is empty (0 bytes), not a PNG"},
      {"short.png", "is 4 bytes, shorter than a PNG's 8-byte signature"},
      {"text.png", "is not a PNG (it does not start with the PNG signature)"},
      {"cut.png", "not a readable PNG: "}};
  for (const auto& [name, why] : cases) {
    const fs::path path = folder.path / name;
    for (int reader = 0; reader < 2; ++reader) {
      try {
        if (reader == 0) genplug::host::plate_size(path);
        if (reader == 1) genplug::host::load_plate(path, 16, 16, PlateResize::fill, nullptr);
        BOOST_ERROR("accepted " << path);
      } catch (const genplug::host::HostError& e) {
        BOOST_TEST(int(e.kind()) == int(genplug::host::ErrorKind::manifest));
        BOOST_TEST(std::string(e.what()).rfind("plate '" + path.string() + "': " + why, 0) == 0, e.what());
      }
    }
  }
}

// diffusers' FluxImg2ImgPipeline.get_timesteps: t_start = int(max(steps - min(steps * strength, steps), 0)),
// in floating point; values computed with Python's float arithmetic.
BOOST_AUTO_TEST_CASE(the_schedule_is_cut_where_diffusers_cuts_it) {
  BOOST_TEST(genplug::host::img2img_start(28, 0.6) == 11u);    // 28 - 16.8 = 11.2: 17 steps run
  BOOST_TEST(genplug::host::img2img_start(100, 0.29) == 71u);  // 100 * 0.29 = 28.999999999999996
  BOOST_TEST(genplug::host::img2img_start(4, 0.2) == 3u);      // one step
  BOOST_TEST(genplug::host::img2img_start(8, 1.0) == 0u);      // the whole schedule
  BOOST_TEST(genplug::host::img2img_start(4, 1e-17) == 4u);    // 4 - 4e-17 rounds to 4: no step left
  BOOST_TEST(genplug::host::is_png_path("a/b.PnG"));
  BOOST_TEST(!genplug::host::is_png_path("a/b.exr"));
}

BOOST_AUTO_TEST_CASE(resampling_keeps_constants_and_order) {
  ImageRGB flat{5, 3, std::vector<float>(45, 0.25f)};
  for (const auto& [w, h] : {std::pair{11, 7}, std::pair{2, 1}, std::pair{5, 9}}) {
    const ImageRGB r = genplug::host::resample(flat, w, h);
    for (float v : r.planar) BOOST_TEST(v == 0.25f, boost::test_tools::tolerance(1e-6f));
  }
  ImageRGB ramp{16, 1, std::vector<float>(48)};
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 16; ++x) ramp.planar[c * 16 + x] = float(x);
  for (int w : {5, 37}) {
    const ImageRGB r = genplug::host::resample(ramp, w, 1);
    for (int x = 1; x < w; ++x) BOOST_TEST(r.planar[x] > r.planar[x - 1]);  // a ramp stays a ramp
  }
}

// Chromaticities of the shipped spaces: AP0 with the ACES white; XYZ as OpenEXR tags it (white 1/3, 1/3); data
// spaces get none.
BOOST_AUTO_TEST_CASE(chromaticities_of_the_shipped_spaces) {
  const fs::path config = genplug::host::ocio_config_path("");
  const auto ap0 = genplug::host::ColorConversion(config, "ACES2065-1").chromaticities();
  BOOST_REQUIRE(ap0.has_value());
  BOOST_TEST((*ap0)[0] == 0.7347f);
  BOOST_TEST((*ap0)[5] == -0.0770f);
  BOOST_TEST((*ap0)[6] == 0.32168f);
  const auto xyz = genplug::host::ColorConversion(config, "cie_xyz_d65").chromaticities();  // by alias
  BOOST_REQUIRE(xyz.has_value());
  BOOST_TEST((*xyz)[6] == 1.0f / 3);
  BOOST_TEST((*xyz)[7] == 1.0f / 3);
  BOOST_TEST(!genplug::host::ColorConversion(config, "Raw").chromaticities().has_value());
}

BOOST_AUTO_TEST_CASE(an_acescg_exr_plate_comes_back_to_the_models_srgb) {
  TempFolder folder;
  const ImageRGB srgb = levels(6, 4);
  const fs::path config = genplug::host::ocio_config_path("");
  const genplug::host::ColorConversion to_aces(config, "ACEScg");
  ImageRGB aces = srgb;
  to_aces.apply(aces);
  genplug::host::ExrOptions o;
  o.pixel = genplug::host::ExrOptions::Pixel::float32;
  o.colorspace = to_aces.name();
  const fs::path exr = folder.path / "plate.exr";
  genplug::host::write_exr(exr, aces, {}, o);
  const auto back_conv = genplug::host::ColorConversion::to_model(config, "ACEScg");
  const ImageRGB back = genplug::host::load_plate(exr, 6, 4, PlateResize::error, &back_conv);
  // Float rounding through the curve and the two matrices (AP1 rows mix channels up to 1.0): absolute.
  for (size_t i = 0; i < srgb.planar.size(); ++i) BOOST_TEST(std::fabs(back.planar[i] - srgb.planar[i]) <= 2e-6f);
}
