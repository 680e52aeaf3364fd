#define BOOST_TEST_MODULE exr_writer
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <ImfChannelList.h>
#include <ImfChromaticities.h>
#include <ImfFrameBuffer.h>
#include <ImfHeader.h>
#include <ImfInputFile.h>
#include <ImfOutputFile.h>
#include <ImfStandardAttributes.h>

#include "genplug/host/color_management.hpp"
#include "genplug/host/errors.hpp"
#include "genplug/host/exr_writer.hpp"

namespace fs = std::filesystem;
using genplug::host::ErrorKind;
using genplug::host::ExrOptions;
using genplug::host::HostError;
using genplug::host::ImageRGB;

namespace {

// A fresh folder per test, removed afterwards (permissions restored first).
struct TempFolder {
  fs::path path;
  TempFolder() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("genplug-exr-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempFolder() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
};

std::vector<std::string> listing(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Random sRGB-encoded values, mostly in [0,1] with a few outside (negative, above 1) as a model may produce.
ImageRGB random_image(int width, int height, unsigned seed) {
  ImageRGB image{width, height, std::vector<float>(3 * static_cast<size_t>(width) * height)};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-0.05f, 1.1f);
  for (auto& v : image.planar) v = dist(rng);
  return image;
}

// Smooth content, the kind lossy codecs are designed for.
ImageRGB gradient_image(int width, int height) {
  ImageRGB image{width, height, std::vector<float>(3 * static_cast<size_t>(width) * height)};
  const size_t plane = static_cast<size_t>(width) * height;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const size_t i = static_cast<size_t>(y) * width + x;
      image.planar[i] = static_cast<float>(x) / (width - 1);
      image.planar[plane + i] = static_cast<float>(y) / (height - 1);
      image.planar[2 * plane + i] = 0.5f + 0.25f * std::sin(0.1f * x + 0.07f * y);
    }
  return image;
}

// Half precision: relative 2^-10 for normal values; half subnormals (below 2^-14) have an absolute step
// of 2^-24, so a small absolute floor covers them.
bool within_half(float actual, float expected) {
  return std::fabs(actual - expected) <= std::ldexp(1.0f, -10) * std::fabs(expected) + std::ldexp(1.0f, -24);
}

size_t count_outside_half(const std::vector<float>& actual, const std::vector<float>& expected) {
  size_t bad = 0;
  for (size_t i = 0; i < expected.size(); ++i) bad += !within_half(actual[i], expected[i]);
  return bad;
}

// The IEC 61966-2-1 sRGB decode with the standard's constants, mirrored for negative values: the reference the
// OCIO conversion is checked against (it uses the continuous form of the curve, see below).
float iec_srgb_decode(float encoded) {
  const double magnitude = std::fabs(static_cast<double>(encoded));
  const double linear = magnitude <= 0.04045 ? magnitude / 12.92 : std::pow((magnitude + 0.055) / 1.055, 2.4);
  return static_cast<float>(std::signbit(encoded) ? -linear : linear);
}

// The image in scene-linear Rec.709, as the pipeline converts it (OCIO, genplug's config).
ImageRGB linear_of(ImageRGB image) {
  const genplug::host::ColorConversion linear(genplug::host::ocio_config_path(""), "Linear Rec.709 (sRGB)");
  linear.apply(image);
  return image;
}
std::vector<float> decoded(const ImageRGB& image) { return linear_of(image).planar; }

ExrOptions options_with(ExrOptions::Pixel pixel, std::string compression = "zip") {
  ExrOptions options;
  options.pixel = pixel;
  options.compression = std::move(compression);
  return options;
}

// Asserts that `call` throws HostError(output) whose message names `path`.
template <class Call>
void expect_output_error(Call call, const fs::path& path) {
  try {
    call();
    BOOST_FAIL("expected HostError(output) for " + path.string());
  } catch (const HostError& e) {
    BOOST_TEST(static_cast<int>(e.kind()) == static_cast<int>(ErrorKind::output));
    BOOST_TEST(std::string(e.what()).find(path.string()) != std::string::npos, "message: " << e.what());
  }
}

}  // namespace

// OCIO's ExponentWithLinearTransform (gamma 2.4, offset 0.055) is the continuous form of the sRGB curve: its
// linear segment has slope 12.92321 up to 0.0392857 where IEC 61966-2-1 rounds them to 12.92 and 0.04045. Below
// the knee the two differ by the slopes' ratio, 2.484e-4 relative (half of half precision's rounding, 2^-11);
// above it by float rounding. Negative values mirror the curve, values above 1 continue the power segment.
BOOST_AUTO_TEST_CASE(ocio_srgb_decode_follows_iec_61966_2_1_to_its_rounding) {
  ImageRGB ramp{4001, 1, {}};
  for (int i = 0; i < 4001; ++i) ramp.planar.push_back(-0.5f + 2.5f * float(i) / 4000.0f);  // -0.5 .. 2
  ramp.planar.resize(3 * 4001);
  std::copy_n(ramp.planar.begin(), 4001, ramp.planar.begin() + 4001);
  std::copy_n(ramp.planar.begin(), 4001, ramp.planar.begin() + 2 * 4001);
  const ImageRGB linear = linear_of(ramp);
  double worst = 0;
  for (size_t i = 0; i < ramp.planar.size(); ++i) {
    const double ref = iec_srgb_decode(ramp.planar[i]);
    const double err = std::fabs(linear.planar[i] - ref) / std::max(std::fabs(ref), 1e-6);
    worst = std::max(worst, err);
  }
  BOOST_TEST_MESSAGE("OCIO sRGB decode vs IEC 61966-2-1: worst relative difference " << worst);
  BOOST_TEST(worst < 2.49e-4);
  const ImageRGB points = linear_of(ImageRGB{3, 1, {0.0f, 1.0f, -1.0f, 0.5f, 0.5f, -0.5f, 2.0f, 2.0f, 2.0f}});
  BOOST_TEST(points.planar[0] == 0.0f);
  BOOST_TEST(points.planar[1] == 1.0f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(points.planar[2] == -1.0f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(points.planar[4] == -points.planar[5]);  // mirrored
}

// genplug's config is compiled into the host library (the empty path), so that a host linked to it needs no file
// beside it: it converts as host/ocio/config.ocio does, space by space and alias by alias, to the bit.
BOOST_AUTO_TEST_CASE(the_compiled_in_ocio_config_converts_as_its_file) {
  const fs::path file = GENPLUG_SOURCE_DIR "/host/ocio/config.ocio";
  ImageRGB ramp{256, 1, {}};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 256; ++i) ramp.planar.push_back(-0.25f + 1.5f * float((i * (c + 3)) % 256) / 255.0f);
  for (const char* space : {"Linear Rec.709 (sRGB)", "sRGB", "ACEScg", "aces2065_1", "CIE-XYZ-D65", "Raw", "lin_srgb"}) {
    const genplug::host::ColorConversion built_in(fs::path(), space), from_file(file, space);
    BOOST_TEST(built_in.name() == from_file.name());
    BOOST_TEST((built_in.chromaticities() == from_file.chromaticities()), space);
    ImageRGB a = ramp, b = ramp;
    built_in.apply(a);
    from_file.apply(b);
    BOOST_TEST(a.planar == b.planar, space);
  }
  try {
    genplug::host::ColorConversion(fs::path(), "Rec.2020");
    BOOST_FAIL("no error for an unknown colour space");
  } catch (const HostError& e) {
    BOOST_TEST(std::string(e.what()).find("genplug's built-in OCIO config: no colour space 'Rec.2020' (available: ") == 0,
               e.what());
  }
}

// A colour space name of a megabyte is quoted shortened (the message had been the whole name).
BOOST_AUTO_TEST_CASE(an_unknown_colour_space_is_quoted_shortened) {
  try {
    genplug::host::ColorConversion(fs::path(), std::string(1 << 20, 'x'));
    BOOST_FAIL("no error for an unknown colour space");
  } catch (const HostError& e) {
    const std::string what = e.what();
    BOOST_TEST(what.size() < 1000u, what.size());
    BOOST_TEST(what.find("no colour space '" + std::string(200, 'x') + "... (1048576 bytes)' (available: ") !=
                   std::string::npos,
               what.substr(0, 400));
  }
}

BOOST_AUTO_TEST_CASE(half_round_trip_within_half_precision) {
  TempFolder folder;
  const ImageRGB image = random_image(37, 23, 1);  // odd sizes: no hidden assumption about blocks
  const fs::path display_path = folder.path / "display.exr";
  const fs::path linear_path = folder.path / "linear.exr";
  genplug::host::write_exr(display_path, image, {}, options_with(ExrOptions::Pixel::half));
  genplug::host::write_exr(linear_path, linear_of(image), {}, {});  // defaults: half, zip

  const ImageRGB display = genplug::host::read_exr(display_path);
  BOOST_TEST(display.width == 37);
  BOOST_TEST(display.height == 23);
  BOOST_TEST(count_outside_half(display.planar, image.planar) == 0u);

  const ImageRGB linear = genplug::host::read_exr(linear_path);
  BOOST_TEST(count_outside_half(linear.planar, decoded(image)) == 0u);
  // It really is half: not every value survives exactly.
  BOOST_TEST(display.planar != image.planar);

  Imf::InputFile file(display_path.c_str());
  BOOST_TEST(file.header().channels().findChannel("R")->type == Imf::HALF);
  BOOST_TEST(file.header().compression() == Imf::ZIP_COMPRESSION);
}

BOOST_AUTO_TEST_CASE(float_round_trip_is_exact) {
  TempFolder folder;
  const ImageRGB image = random_image(16, 9, 2);
  const fs::path display_path = folder.path / "display.exr";
  const fs::path linear_path = folder.path / "linear.exr";
  genplug::host::write_exr(display_path, image, {},
                           options_with(ExrOptions::Pixel::float32));
  genplug::host::write_exr(linear_path, linear_of(image), {}, options_with(ExrOptions::Pixel::float32));
  const ImageRGB display = genplug::host::read_exr(display_path);
  BOOST_TEST(display.planar == image.planar, boost::test_tools::per_element());
  const ImageRGB linear = genplug::host::read_exr(linear_path);
  BOOST_TEST(linear.planar == decoded(image), boost::test_tools::per_element());

  Imf::InputFile file(linear_path.c_str());
  BOOST_TEST(file.header().channels().findChannel("G")->type == Imf::FLOAT);
}

BOOST_AUTO_TEST_CASE(planes_keep_their_channel_and_row_order) {
  TempFolder folder;
  ImageRGB image{3, 2, {}};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 6; ++i) image.planar.push_back(static_cast<float>(c * 10 + i));  // exact in half
  const fs::path path = folder.path / "order.exr";
  genplug::host::write_exr(path, image, {}, options_with(ExrOptions::Pixel::half));
  Imf::InputFile file(path.c_str());
  BOOST_TEST(file.header().dataWindow().max.x == 2);
  BOOST_TEST(file.header().dataWindow().max.y == 1);
  BOOST_TEST(genplug::host::read_exr(path).planar == image.planar, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(metadata_and_chromaticities_are_in_the_header) {
  TempFolder folder;
  const std::map<std::string, std::string> strings = {
      {"genplug.prompt", "a lighthouse at dusk, \"quoted\", ünïcödé"},
      {"genplug.seed", "42"},
      {"genplug.steps", "4"},
      {"genplug.manifest", R"({"jobs":[{"seed":42,"width":64}]})"},
      {"genplug.a.rather.long.attribute.name.beyond.thirty.one.characters", "long names are fine"},
      {"genplug.empty", ""},
  };
  const fs::path path = folder.path / "meta.exr";
  ExrOptions tagged;
  tagged.colorspace = "Linear Rec.709 (sRGB)";
  tagged.chromaticities = {0.64f, 0.33f, 0.30f, 0.60f, 0.15f, 0.06f, 0.3127f, 0.3290f};
  genplug::host::write_exr(path, random_image(8, 8, 3), {strings.begin(), strings.end()}, tagged);

  std::map<std::string, std::string> read_back;
  genplug::host::read_exr(path, &read_back);
  for (const auto& [key, value] : strings) {
    BOOST_TEST_CONTEXT("key " << key) {
      BOOST_REQUIRE(read_back.count(key) == 1u);
      BOOST_TEST(read_back.at(key) == value);
    }
  }
  BOOST_REQUIRE(read_back.count("software") == 1u);
  BOOST_TEST(read_back.at("software").rfind("genplug", 0) == 0u);

  Imf::InputFile file(path.c_str());
  BOOST_REQUIRE(Imf::hasChromaticities(file.header()));
  const Imf::Chromaticities& c = Imf::chromaticities(file.header());
  BOOST_TEST(c.red.x == 0.64f);
  BOOST_TEST(c.red.y == 0.33f);
  BOOST_TEST(c.green.x == 0.30f);
  BOOST_TEST(c.green.y == 0.60f);
  BOOST_TEST(c.blue.x == 0.15f);
  BOOST_TEST(c.blue.y == 0.06f);
  BOOST_TEST(c.white.x == 0.3127f);
  BOOST_TEST(c.white.y == 0.3290f);
  BOOST_TEST(read_back.at("oiio:ColorSpace") == "Linear Rec.709 (sRGB)");

  // Untagged values get neither attribute.
  genplug::host::write_exr(folder.path / "untagged.exr", random_image(4, 4, 3), {}, {});
  Imf::InputFile untagged((folder.path / "untagged.exr").c_str());
  BOOST_TEST(!Imf::hasChromaticities(untagged.header()));
  BOOST_TEST(!untagged.header().findTypedAttribute<Imf::StringAttribute>("oiio:ColorSpace"));
}

// Numbers keep their EXR type (int, float, double) and read back as such; standard attributes must have their
// standard type.
BOOST_AUTO_TEST_CASE(typed_attributes_round_trip_and_standard_types_are_enforced) {
  TempFolder folder;
  const genplug::host::ExrMetadata metadata = {
      {"genplug.steps", int32_t(28)},       {"genplug.seed", int32_t(2147483647)}, {"genplug.guidance", 3.5f},
      {"genplug.sigma", 0.123456789012345}, {"comments", std::string("a red circle")}, {"utcOffset", -3600.0f},
      {"capDate", std::string("2026:12:01 03:04:05")}, {"owner", std::string("genplug tests")}};
  const fs::path path = folder.path / "typed.exr";
  genplug::host::write_exr(path, random_image(4, 4, 5), metadata, {});
  const genplug::host::ExrMetadata back = genplug::host::read_exr_metadata(path);
  for (const auto& [key, value] : metadata) {
    BOOST_TEST_CONTEXT("key " << key) {
      BOOST_REQUIRE(back.count(key) == 1u);
      BOOST_TEST(back.at(key).index() == value.index());
      BOOST_TEST((back.at(key) == value));
    }
  }
  Imf::InputFile file(path.c_str());  // OpenEXR's own accessors see the standard attributes
  BOOST_REQUIRE(Imf::hasUtcOffset(file.header()));
  BOOST_TEST(Imf::utcOffset(file.header()) == -3600.0f);
  BOOST_TEST(Imf::owner(file.header()) == "genplug tests");

  for (const auto& [key, wrong] : std::vector<std::pair<std::string, genplug::host::ExrAttribute>>{
           {"utcOffset", std::string("+01:00")}, {"owner", int32_t(7)}, {"capDate", 1.0f}}) {
    BOOST_TEST_CONTEXT("wrongly typed " << key) {
      try {
        genplug::host::write_exr(folder.path / "wrong.exr", random_image(4, 4, 5), {{key, wrong}}, {});
        BOOST_ERROR("accepted");
      } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("'" + key + "' is a standard attribute") != std::string::npos, e.what());
      }
      BOOST_TEST(!fs::exists(folder.path / "wrong.exr"));
    }
  }
}

BOOST_AUTO_TEST_CASE(caller_may_set_software) {
  TempFolder folder;
  const fs::path path = folder.path / "sw.exr";
  genplug::host::write_exr(path, random_image(4, 4, 4), {{"software", "my host 1.0"}}, {});
  std::map<std::string, std::string> read_back;
  genplug::host::read_exr(path, &read_back);
  BOOST_TEST(read_back.at("software") == "my host 1.0");
}

BOOST_AUTO_TEST_CASE(every_compression_is_written_and_readable) {
  const std::vector<std::string> lossless = {"none", "rle", "zips", "zip", "piz", "pxr24"};  // pxr24: lossless on half
  const std::map<std::string, Imf::Compression> kCodecs = {
      {"none", Imf::NO_COMPRESSION},   {"rle", Imf::RLE_COMPRESSION},   {"zips", Imf::ZIPS_COMPRESSION},
      {"zip", Imf::ZIP_COMPRESSION},   {"piz", Imf::PIZ_COMPRESSION},   {"pxr24", Imf::PXR24_COMPRESSION},
      {"b44", Imf::B44_COMPRESSION},   {"b44a", Imf::B44A_COMPRESSION}, {"dwaa", Imf::DWAA_COMPRESSION},
      {"dwab", Imf::DWAB_COMPRESSION}};
  const ImageRGB image = gradient_image(64, 48);
  const std::vector<float> expected = decoded(image);
  BOOST_TEST(genplug::host::compression_names().size() == 10u);
  for (const auto& name : genplug::host::compression_names()) {
    BOOST_TEST_CONTEXT("compression " << name) {
      TempFolder folder;
      const fs::path path = folder.path / (name + ".exr");
      genplug::host::write_exr(path, linear_of(image), {{"genplug.seed", "1"}},
                               options_with(ExrOptions::Pixel::half, name));
      std::map<std::string, std::string> attributes;
      const ImageRGB back = genplug::host::read_exr(path, &attributes);
      BOOST_TEST(attributes.at("genplug.seed") == "1");
      BOOST_REQUIRE(back.planar.size() == expected.size());
      if (std::find(lossless.begin(), lossless.end(), name) != lossless.end()) {
        BOOST_TEST(count_outside_half(back.planar, expected) == 0u);
      } else {
        double error = 0.0;
        for (size_t i = 0; i < expected.size(); ++i) error += std::fabs(back.planar[i] - expected[i]);
        BOOST_TEST_MESSAGE(name << ": mean abs error " << error / expected.size());
        BOOST_TEST(error / expected.size() < 0.005, "mean abs error " << error / expected.size());
      }
      Imf::InputFile file(path.c_str());
      BOOST_TEST(file.header().compression() == kCodecs.at(name));
      BOOST_TEST(listing(folder.path) == std::vector<std::string>{name + ".exr"}, boost::test_tools::per_element());
    }
  }
  // The requested codec is the one in the header; names are case-insensitive.
  TempFolder folder;
  const fs::path path = folder.path / "piz.exr";
  genplug::host::write_exr(path, image, {}, options_with(ExrOptions::Pixel::float32, "PIZ"));
  Imf::InputFile file(path.c_str());
  BOOST_TEST(file.header().compression() == Imf::PIZ_COMPRESSION);
}

BOOST_AUTO_TEST_CASE(existing_file_is_kept_unless_overwrite) {
  TempFolder folder;
  const fs::path path = folder.path / "out.exr";
  { std::ofstream(path, std::ios::binary) << "precious bytes"; }
  const ImageRGB image = random_image(8, 8, 5);
  expect_output_error([&] { genplug::host::write_exr(path, image, {}, {}); }, path);
  BOOST_TEST(read_bytes(path) == "precious bytes");
  BOOST_TEST(listing(folder.path) == std::vector<std::string>{"out.exr"}, boost::test_tools::per_element());

  ExrOptions overwrite;
  overwrite.overwrite = true;
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);  // 0640
  genplug::host::write_exr(path, image, {}, overwrite);
  BOOST_TEST(count_outside_half(genplug::host::read_exr(path).planar, image.planar) == 0u);
  BOOST_TEST(listing(folder.path) == std::vector<std::string>{"out.exr"}, boost::test_tools::per_element());
  // The file written over keeps its permission bits (they had become 0666 less the umask).
  BOOST_TEST(int(fs::status(path).permissions() & fs::perms::all) == 0640);
}

// An output that is a symbolic link is written through it: the file it names is replaced (only with overwrite),
// the temporary file is made in that file's folder, and the link stays a link.
BOOST_AUTO_TEST_CASE(a_linked_output_is_written_through_its_link) {
  TempFolder folder;
  const fs::path versions = folder.path / "versions", named = versions / "v003.exr", link = folder.path / "latest.exr";
  fs::create_directory(versions);
  { std::ofstream(named, std::ios::binary) << "precious bytes"; }
  fs::create_symlink(fs::path("versions") / "v003.exr", link);
  const ImageRGB image = random_image(8, 8, 11);
  expect_output_error([&] { genplug::host::write_exr(link, image, {}, {}); }, link);
  BOOST_TEST(read_bytes(named) == "precious bytes");

  ExrOptions overwrite;
  overwrite.overwrite = true;
  genplug::host::write_exr(link, image, {}, overwrite);
  BOOST_TEST(fs::is_symlink(fs::symlink_status(link)));
  BOOST_TEST(fs::read_symlink(link) == fs::path("versions") / "v003.exr");
  BOOST_TEST(count_outside_half(genplug::host::read_exr(named).planar, image.planar) == 0u);
  BOOST_TEST(listing(versions) == std::vector<std::string>{"v003.exr"}, boost::test_tools::per_element());
  BOOST_TEST(listing(folder.path) == (std::vector<std::string>{"latest.exr", "versions"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(output_that_is_a_folder_is_refused) {
  TempFolder folder;
  const fs::path path = folder.path / "taken.exr";
  fs::create_directory(path);
  ExrOptions overwrite;
  overwrite.overwrite = true;
  expect_output_error([&] { genplug::host::write_exr(path, random_image(4, 4, 6), {}, overwrite); }, path);
  BOOST_TEST(fs::is_directory(path));
  BOOST_TEST(listing(folder.path) == std::vector<std::string>{"taken.exr"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(missing_folder_is_an_output_error) {
  TempFolder folder;
  const fs::path path = folder.path / "missing" / "out.exr";
  expect_output_error([&] { genplug::host::write_exr(path, random_image(4, 4, 7), {}, {}); }, path);
  BOOST_TEST(listing(folder.path).empty());

  // A parent that is a regular file, not a folder.
  { std::ofstream(folder.path / "file") << "x"; }
  const fs::path under_file = folder.path / "file" / "out.exr";
  expect_output_error([&] { genplug::host::write_exr(under_file, random_image(4, 4, 7), {}, {}); }, under_file);
  BOOST_TEST(listing(folder.path) == std::vector<std::string>{"file"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unwritable_folder_is_an_output_error) {
  if (::geteuid() != 0) {
    TempFolder folder;
    const fs::path locked = folder.path / "locked";
    fs::create_directory(locked);
    fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
    const fs::path path = locked / "out.exr";
    expect_output_error([&] { genplug::host::write_exr(path, random_image(4, 4, 8), {}, {}); }, path);
    fs::permissions(locked, fs::perms::owner_all);
    BOOST_TEST(listing(locked).empty());
  } else {
    // Folder permissions do not bind root; sysfs refuses new files even to root.
    BOOST_TEST_MESSAGE("running as root: using /sys as the unwritable folder");
    BOOST_REQUIRE(fs::is_directory("/sys"));
    const fs::path path = "/sys/genplug-exr-test.exr";
    expect_output_error([&] { genplug::host::write_exr(path, random_image(4, 4, 8), {}, {}); }, path);
    for (const auto& name : listing("/sys")) BOOST_TEST(name.find("genplug-exr-test") == std::string::npos);
  }
}

// A write that fails half way (file size limit, as a full disk would) leaves neither the file nor a temporary.
BOOST_AUTO_TEST_CASE(failed_write_leaves_nothing_behind) {
  TempFolder folder;
  const fs::path path = folder.path / "big.exr";
  const ImageRGB image = random_image(256, 256, 9);  // ~786 KB as uncompressed float
  rlimit saved{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  rlimit small = saved;
  small.rlim_cur = 64 * 1024;
  auto* previous_handler = std::signal(SIGXFSZ, SIG_IGN);  // otherwise exceeding the limit kills the process
  BOOST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  try {
    genplug::host::write_exr(path, image, {}, options_with(ExrOptions::Pixel::float32, "none"));
    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, previous_handler);
    BOOST_FAIL("expected the write to fail under a 64 KiB file size limit");
  } catch (const HostError& e) {
    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, previous_handler);
    BOOST_TEST_MESSAGE("write under the size limit: " << e.what());
    BOOST_TEST(static_cast<int>(e.kind()) == static_cast<int>(ErrorKind::output));
    BOOST_TEST(std::string(e.what()).find(path.string()) != std::string::npos, "message: " << e.what());
  }
  BOOST_TEST(listing(folder.path).empty());
  // The same write succeeds without the limit (the failure above came from the limit alone).
  genplug::host::write_exr(path, image, {}, options_with(ExrOptions::Pixel::float32, "none"));
  BOOST_TEST(fs::file_size(path) > 64u * 1024u);
}

BOOST_AUTO_TEST_CASE(bad_options_are_rejected_before_anything_is_written) {
  TempFolder folder;
  const fs::path path = folder.path / "out.exr";
  try {
    genplug::host::write_exr(path, random_image(4, 4, 10), {}, options_with(ExrOptions::Pixel::half, "zstd"));
    BOOST_FAIL("expected std::invalid_argument for compression 'zstd'");
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    BOOST_TEST(message.find("zstd") != std::string::npos, message);
    for (const auto& name : genplug::host::compression_names())
      BOOST_TEST(message.find(name) != std::string::npos, "allowed list names " << name << ": " << message);
  }
  // Reserved attribute names and malformed images.
  BOOST_CHECK_THROW(genplug::host::write_exr(path, random_image(4, 4, 10), {{"channels", "RGB"}}, {}),
                    std::invalid_argument);
  BOOST_CHECK_THROW(genplug::host::write_exr(path, random_image(4, 4, 10), {{"", "x"}}, {}), std::invalid_argument);
  ImageRGB short_image = random_image(4, 4, 10);
  short_image.planar.pop_back();
  BOOST_CHECK_THROW(genplug::host::write_exr(path, short_image, {}, {}), std::invalid_argument);
  BOOST_CHECK_THROW(genplug::host::write_exr(path, ImageRGB{0, 4, {}}, {}, {}), std::invalid_argument);
  BOOST_TEST(listing(folder.path).empty());
}

BOOST_AUTO_TEST_CASE(manifest_values_parse) {
  using namespace genplug::host;
  BOOST_TEST((parse_pixel("half") == ExrOptions::Pixel::half));
  BOOST_TEST((parse_pixel("float") == ExrOptions::Pixel::float32));
  BOOST_TEST(parse_compression("DWAA") == "dwaa");
  BOOST_TEST(to_string(parse_pixel("float")) == "float");
  try {
    parse_pixel("double");
    BOOST_FAIL("expected std::invalid_argument");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("half, float") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(reading_a_missing_or_broken_file_names_it) {
  TempFolder folder;
  const fs::path missing = folder.path / "missing.exr";
  expect_output_error([&] { genplug::host::read_exr(missing); }, missing);
  const fs::path broken = folder.path / "broken.exr";
  { std::ofstream(broken, std::ios::binary) << "not an exr"; }
  expect_output_error([&] { genplug::host::read_exr(broken); }, broken);
}

// A greyscale EXR (luminance Y alone or with A, as a greyscale PNG plate is accepted) reads as R = G = B = Y; a
// luminance-chroma one, or X, Y, Z (read as grey Y before), is refused by its channels.
BOOST_AUTO_TEST_CASE(a_greyscale_exr_reads_as_equal_rgb) {
  TempFolder folder;
  const int w = 3, h = 2;
  const std::vector<float> y = {0.0f, 0.25f, 0.5f, 1.0f, 2.0f, 0.125f};
  const auto write_channels = [&](const fs::path& path, const std::vector<const char*>& channels) {
    Imf::Header header(w, h);
    Imf::FrameBuffer frame;
    for (const char* c : channels) {
      header.channels().insert(c, Imf::Channel(Imf::FLOAT));
      frame.insert(c, Imf::Slice(Imf::FLOAT, reinterpret_cast<char*>(const_cast<float*>(y.data())), sizeof(float),
                                 sizeof(float) * w));
    }
    Imf::OutputFile file(path.c_str(), header);
    file.setFrameBuffer(frame);
    file.writePixels(h);
  };
  const fs::path grey = folder.path / "grey.exr";
  write_channels(grey, {"Y"});
  const genplug::host::ImageRGB image = genplug::host::read_exr(grey);
  BOOST_TEST(image.width == w);
  BOOST_TEST(image.height == h);
  std::vector<float> rgb;
  for (int c = 0; c < 3; ++c) rgb.insert(rgb.end(), y.begin(), y.end());
  BOOST_TEST(image.planar == rgb, boost::test_tools::per_element());
  // Why read_exr refuses a file of `channels`; "" when it reads it.
  const auto refusal = [&](const char* name, const std::vector<const char*>& channels) -> std::string {
    const fs::path path = folder.path / name;
    write_channels(path, channels);
    try {
      genplug::host::read_exr(path);
    } catch (const genplug::host::HostError& e) {
      return e.what();
    }
    return "";
  };
  const std::string chroma = refusal("yc.exr", {"Y", "RY", "BY"});  // luminance-chroma
  BOOST_TEST(chroma.find("no channel R") != std::string::npos, chroma);
  const std::string xyz = refusal("xyz.exr", {"X", "Y", "Z"});
  BOOST_TEST(xyz.find("no channel R (Y is greyscale only alone or with A; channels: X, Y, Z)") != std::string::npos, xyz);
  const fs::path with_alpha = folder.path / "ya.exr";
  write_channels(with_alpha, {"Y", "A"});
  BOOST_TEST(genplug::host::read_exr(with_alpha).planar == rgb, boost::test_tools::per_element());
}

// An output of every compression and pixel type reads back intact, so resume skips it: with a lossy one (B44/B44A
// on half, PXR24 on float, DWAA, DWAB) the stored values are not the hashed ones, and such outputs had been
// "damaged" at every run (rendered again; a read-only archive failed). Cut short, each is damaged. The header
// names the compression, and whether it is lossy for the file's pixel type.
BOOST_AUTO_TEST_CASE(outputs_of_every_compression_read_back_intact_and_cut_short_damaged) {
  TempFolder dir;
  const ImageRGB image = random_image(96, 80, 7);
  for (const std::string& compression : genplug::host::compression_names())
    for (const auto pixel : {genplug::host::ExrOptions::Pixel::half, genplug::host::ExrOptions::Pixel::float32}) {
      BOOST_TEST_CONTEXT(compression << ", " << genplug::host::to_string(pixel)) {
        genplug::host::ExrOptions options;
        options.compression = compression;
        options.pixel = pixel;
        const fs::path out = dir.path / (compression + "-" + genplug::host::to_string(pixel) + ".exr");
        genplug::host::write_exr(out, image, {}, options);
        BOOST_TEST(genplug::host::exr_pixels_intact(out));
        const genplug::host::StoredCompression stored = genplug::host::exr_stored_compression(out);
        BOOST_TEST(stored.name == compression);
        BOOST_TEST(stored.lossy == genplug::host::compression_is_lossy(compression, pixel));
        const bool lossy = compression == "dwaa" || compression == "dwab" ||
                           (pixel == genplug::host::ExrOptions::Pixel::half ? compression.rfind("b44", 0) == 0
                                                                             : compression == "pxr24");
        BOOST_TEST(stored.lossy == lossy);
        fs::resize_file(out, fs::file_size(out) - 40);
        BOOST_TEST(!genplug::host::exr_pixels_intact(out));
      }
    }
}

// A name of up to 255 bytes is written: the temporary file beside it must not be the name that is too long.
BOOST_AUTO_TEST_CASE(a_name_of_255_bytes_is_written) {
  TempFolder dir;
  const fs::path out = dir.path / (std::string(251, 'n') + ".exr");
  genplug::host::write_exr(out, random_image(8, 8, 5), {}, {});
  BOOST_TEST(genplug::host::exr_pixels_intact(out));
  BOOST_TEST(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

// A signal during the write (the host's cancel flag) stops it between scanline chunks: HostError(cancelled), no
// output, no temporary file, and an existing output untouched.
BOOST_AUTO_TEST_CASE(a_cancelled_write_leaves_nothing_behind) {
  TempFolder dir;
  const fs::path out = dir.path / "c.exr";
  std::atomic<bool> cancel{true};
  genplug::host::ExrOptions options;
  options.cancel = &cancel;
  try {
    genplug::host::write_exr(out, random_image(96, 200, 3), {}, options);
    BOOST_ERROR("a cancelled write completed");
  } catch (const genplug::host::HostError& e) {
    BOOST_TEST(int(e.kind()) == int(genplug::host::ErrorKind::cancelled));
  }
  BOOST_TEST(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 0);
  cancel = false;
  genplug::host::write_exr(out, random_image(96, 200, 3), {}, options);
  const auto before = fs::file_size(out);
  cancel = true;
  options.overwrite = true;
  BOOST_CHECK_THROW(genplug::host::write_exr(out, gradient_image(96, 200), {}, options), genplug::host::HostError);
  BOOST_TEST(fs::file_size(out) == before);
  BOOST_TEST(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}
