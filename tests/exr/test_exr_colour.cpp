// Colour management end to end (docs/exr.md): the embedded default rendered in scene-linear Rec.709 and in
// ACEScg through the genplug CLI, read by OpenEXR's API and by OpenImageIO's oiiotool (an independent reader and
// colour engine user): the ACEScg file converted back to Rec.709 by oiiotool equals the Rec.709 render within
// the rounding of the half values both files hold; each file's chromaticities and colour space name match its
// space; an unknown colour space is a manifest error that lists the known ones.
#define BOOST_TEST_MODULE exr_colour
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include <ImfChannelList.h>
#include <ImfChromaticities.h>
#include <ImfHeader.h>
#include <ImfInputFile.h>
#include <ImfStandardAttributes.h>
#include <ImfStringAttribute.h>

#include "genplug/host/exr_writer.hpp"
#include "png_read.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using genplug::test::run_process;

namespace {

const std::string kGenplug = GENPLUG_BINARY_DIR "/bin/genplug";
const std::string kConfig = GENPLUG_SOURCE_DIR "/host/ocio/config.ocio";
const std::string kDefault = GENPLUG_SOURCE_DIR "/samples/default.json";
const std::string kOiiotool = "/usr/bin/oiiotool";  // Debian's openimageio-tools (scripts/setup.sh)

// Renders the embedded default into `dir/NAME.exr` in colour space `space`; returns the CLI's result.
genplug::test::ProcessResult render(const fs::path& dir, const std::string& name, const std::string& space) {
  return run_process({kGenplug, "run", kDefault, "--force", "--progress", "none", "--set",
                      "jobs.0.output=\"" + (dir / (name + ".exr")).string() + "\"", "--set",
                      "exr.colorspace=\"" + space + "\"", "--set", "jobs.0.steps=8"});
}

Imf::Chromaticities chromaticities_of(const fs::path& path) {
  Imf::InputFile file(path.c_str());
  BOOST_REQUIRE(Imf::hasChromaticities(file.header()));
  return Imf::chromaticities(file.header());
}

std::string colorspace_of(const fs::path& path) {
  Imf::InputFile file(path.c_str());
  const auto* a = file.header().findTypedAttribute<Imf::StringAttribute>("oiio:ColorSpace");
  return a ? a->value() : "";
}

// The renders use genplug's own config whatever the environment says.
struct NoOcioFromTheEnvironment {
  NoOcioFromTheEnvironment() { ::unsetenv("OCIO"); }
};
BOOST_TEST_GLOBAL_FIXTURE(NoOcioFromTheEnvironment);

// genplug's config with `edit` applied and `more` appended (colour spaces, or a top-level section), as DIR/NAME.
fs::path config_with(const fs::path& dir, const std::string& name, const std::string& more,
                     const std::function<void(std::string&)>& edit = nullptr) {
  std::ifstream in(kConfig);
  std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (edit) edit(config);
  const fs::path path = dir / name;
  std::ofstream(path) << config << more;
  return path;
}

// The default job, small and short, with `settings` (--set values) and a 60 s bound: a hang is exit 124.
genplug::test::ProcessResult run_with(const fs::path& dir, const std::vector<std::string>& settings) {
  std::vector<std::string> argv = {"/usr/bin/timeout", "60", kGenplug, "run", kDefault, "--progress", "none",
                                   "--set", "jobs.0.output=\"" + (dir / "x.exr").string() + "\"",
                                   "--set", "jobs.0.steps=1", "--set", "jobs.0.width=64", "--set", "jobs.0.height=64"};
  for (const auto& s : settings) argv.insert(argv.end(), {"--set", s});
  return run_process(argv);
}


// An edit for config_with: OCIO looks for the config's files in `dir`.
std::function<void(std::string&)> searching(const fs::path& dir) {
  return [dir](std::string& config) {
    const std::string empty_search = "search_path: \"\"";
    BOOST_REQUIRE(config.find(empty_search) != std::string::npos);
    config.replace(config.find(empty_search), empty_search.size(), "search_path: \"" + dir.string() + "\"");
  };
}

}  // namespace

BOOST_AUTO_TEST_CASE(acescg_converted_back_by_oiiotool_equals_the_rec709_render) {
  genplug::test::TempDir dir("colour");
  for (const auto& [name, space] : {std::pair{"rec709", "Linear Rec.709 (sRGB)"}, std::pair{"acescg", "ACEScg"}}) {
    const auto r = render(dir.path, name, space);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  }
  const fs::path rec709 = dir.path / "rec709.exr", acescg = dir.path / "acescg.exr", back = dir.path / "back.exr";
  BOOST_TEST(colorspace_of(rec709) == "Linear Rec.709 (sRGB)");
  BOOST_TEST(colorspace_of(acescg) == "ACEScg");
  const Imf::Chromaticities ap1 = chromaticities_of(acescg), r709 = chromaticities_of(rec709);
  BOOST_TEST(ap1.red.x == 0.713f);
  BOOST_TEST(ap1.green.y == 0.830f);
  BOOST_TEST(ap1.blue.x == 0.128f);
  BOOST_TEST(ap1.white.x == 0.32168f);
  BOOST_TEST(r709.red.x == 0.64f);
  BOOST_TEST(r709.white.x == 0.3127f);

  // oiiotool, with genplug's config, converts the ACEScg file to Rec.709 linear and writes float.
  const auto conv = run_process({kOiiotool, "--colorconfig", kConfig, acescg.string(), "--colorconvert", "ACEScg",
                                 "Linear Rec.709 (sRGB)", "-d", "float", "-o", back.string()});
  BOOST_REQUIRE_MESSAGE(conv.exit_code == 0, conv.out << conv.err);
  const auto a = genplug::host::read_exr(back).planar, b = genplug::host::read_exr(rec709).planar;
  const auto stored = genplug::host::read_exr(acescg).planar;
  BOOST_REQUIRE(a.size() == b.size());
  // Both files hold half values: each rounded to 2^-11 relative. Converting ACEScg back mixes three of them
  // with the inverse matrix, whose absolute row sums are at most 2.4101 (row 0: 1.70505, 0.62179, 0.08326):
  // the difference is bounded per pixel by 2^-11 (2.411 max|acescg| + |rec709|) plus float rounding.
  const size_t plane = a.size() / 3;
  size_t outside = 0;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const size_t p = i % plane;
    double largest = 0;
    for (size_t c = 0; c < 3; ++c) largest = std::max(largest, double(std::fabs(stored[c * plane + p])));
    const double bound = std::ldexp(1.0, -11) * (2.411 * largest + std::fabs(b[i])) + 1e-7;
    const double diff = std::fabs(double(a[i]) - double(b[i]));
    worst = std::max(worst, diff / bound);
    outside += diff > bound;
  }
  BOOST_TEST_MESSAGE("ACEScg -> Rec.709 (oiiotool) vs the Rec.709 render: worst difference " << worst << " of the bound");
  BOOST_TEST(outside == 0u);

  // The second reader sees what OpenEXR's API sees: oiiotool --info -v lists the colour space and the typed
  // attributes.
  const auto info = run_process({kOiiotool, "--info", "-v", acescg.string()});
  BOOST_REQUIRE(info.exit_code == 0);
  BOOST_TEST(info.out.find("oiio:ColorSpace: \"ACEScg\"") != std::string::npos, info.out);
  BOOST_TEST(info.out.find("genplug.steps: 8") != std::string::npos, info.out);
}

// Every feature of an output read by both readers: OpenEXR's API (through the host's readers) and oiiotool; and
// exrcheck (OpenEXR's validator) where the system has it.
BOOST_AUTO_TEST_CASE(layers_and_typed_metadata_read_alike_by_openexr_and_oiiotool) {
  genplug::test::TempDir dir("colour-layers");
  const fs::path out = dir.path / "layers.exr";
  const auto r = run_process({kGenplug, "run", kDefault, "--force", "--progress", "none", "--set",
                              "jobs.0.output=\"" + out.string() + "\"", "--set", "exr.x0_layers=[2,4]", "--set",
                              "exr.owner=\"Studio X\"", "--set", "exr.pixel=\"float\"", "--set", "jobs.0.steps=8",
                              "--set", "jobs.0.prompt=\"a lighthouse on a cliff\""});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const auto meta = genplug::host::read_exr_metadata(out);
  BOOST_TEST(std::get<std::string>(meta.at("owner")) == "Studio X");
  BOOST_TEST(std::get<int32_t>(meta.at("genplug.steps")) == 8);
  const auto x0 = genplug::host::read_exr(out, nullptr, "x0_e2").planar;
  BOOST_TEST(x0.size() == genplug::host::read_exr(out).planar.size());

  const auto info = run_process({kOiiotool, "--info", "-v", out.string()});
  BOOST_REQUIRE(info.exit_code == 0);
  // OpenImageIO names the standard attributes its own way: owner is Copyright, comments ImageDescription.
  for (const char* expected : {"9 channel", "x0_e2.R", "x0_e4.B", "Copyright: \"Studio X\"",
                               "ImageDescription: \"a lighthouse", "genplug.steps: 8",
                               "genplug.seed: 0", "oiio:ColorSpace: \"Linear Rec.709 (sRGB)\"", "float"})
    BOOST_TEST(info.out.find(expected) != std::string::npos, expected << " not in:\n" << info.out);
  // oiiotool's pixel statistics of a layer agree with OpenEXR's values: its average of x0_e2.R.
  double mean = 0;
  const size_t plane = x0.size() / 3;
  for (size_t i = 0; i < plane; ++i) mean += x0[i];
  mean /= double(plane);
  const auto stats = run_process({kOiiotool, out.string(), "--ch", "x0_e2.R", "--printstats"});
  BOOST_REQUIRE(stats.exit_code == 0);
  const auto at = stats.out.find("Stats Avg:");
  BOOST_REQUIRE(at != std::string::npos);
  const double oiio_mean = std::stod(stats.out.substr(at + 10));
  BOOST_TEST(std::fabs(oiio_mean - mean) <= 1e-5 + 1e-4 * std::fabs(mean), oiio_mean << " vs " << mean);

  if (fs::exists("/usr/bin/exrcheck")) {
    const auto check = run_process({"/usr/bin/exrcheck", out.string()});
    BOOST_TEST(check.exit_code == 0, check.out << check.err);
  }
}

BOOST_AUTO_TEST_CASE(an_unknown_colour_space_is_a_manifest_error_listing_the_known_ones) {
  genplug::test::TempDir dir("colour-bad");
  const auto r = render(dir.path, "bad", "Rec.2020 PQ");
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(r.err.find("jobs[0].exr.colorspace") != std::string::npos, r.err);
  BOOST_TEST(r.err.find("no colour space 'Rec.2020 PQ'") != std::string::npos, r.err);
  BOOST_TEST(r.err.find("available: Linear Rec.709 (sRGB), sRGB, ACEScg, ACES2065-1") != std::string::npos, r.err);
  BOOST_TEST(!fs::exists(dir.path / "bad.exr"));
}

// A LUT that a colour space's FileTransform reads, found as a FIFO where OCIO looks for it, is refused by name before
// OCIO opens it: OCIO blocked on it for ever, and the first SIGINT did not stop it (it opens the file again for each
// format it tries).
BOOST_AUTO_TEST_CASE(a_lut_that_is_a_fifo_is_refused_before_ocio_opens_it) {
  genplug::test::TempDir dir("colour-lut-fifo");
  const fs::path lut = dir.path / "lut.spi1d";
  BOOST_REQUIRE(::mkfifo(lut.c_str(), 0600) == 0);
  const fs::path path = config_with(dir.path, "lut.ocio",
                                    "  - !<ColorSpace>\n    name: Lutted\n    isdata: false\n"
                                    "    from_scene_reference: !<FileTransform> "
                                    "{src: lut.spi1d, interpolation: linear}\n",
                                    searching(dir.path));
  const auto r = run_process({"/usr/bin/timeout", "60", kGenplug, "run", kDefault, "--progress", "none", "--set",
                              "jobs.0.output=\"" + (dir.path / "x.exr").string() + "\"", "--set",
                              "exr.ocio_config=\"" + path.string() + "\"", "--set", "exr.colorspace=\"Lutted\""});
  BOOST_TEST(r.exit_code == 3, r.err);  // 124: timeout ended it
  BOOST_TEST(r.err.find("colour space 'Lutted': its file '" + lut.string() +
                        "' is not a regular file (a device, FIFO or socket)") != std::string::npos,
             r.err);
  BOOST_TEST(!fs::exists(dir.path / "x.exr"));
}

// An OCIO config that is a FIFO is refused at once (OpenColorIO would open it and wait for a writer).
BOOST_AUTO_TEST_CASE(an_ocio_config_that_is_a_fifo_is_refused_before_rendering) {
  genplug::test::TempDir dir("colour-fifo");
  const fs::path fifo = dir.path / "config.ocio";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto r = run_process({kGenplug, "run", kDefault, "--progress", "none", "--set",
                              "jobs.0.output=\"" + (dir.path / "x.exr").string() + "\"", "--set",
                              "exr.ocio_config=\"" + fifo.string() + "\"", "--set", "exr.colorspace=\"sRGB\""});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(r.err.find(".json: exr.ocio_config: OCIO config '" + fifo.string() + "': is not a regular file") !=
                 std::string::npos,
             r.err);
  BOOST_TEST(!fs::exists(dir.path / "x.exr"));
  // Named by the manifest's exr settings above (not the job's); by $OCIO here, and the message says so.
  const auto env = run_process({"/usr/bin/env", "OCIO=" + fifo.string(), kGenplug, "run", kDefault, "--progress",
                                "none", "--set", "jobs.0.output=\"" + (dir.path / "x.exr").string() + "\""});
  BOOST_TEST(env.exit_code == 3, env.err);
  BOOST_TEST(env.err.find("jobs[0]: $OCIO: OCIO config '" + fifo.string() + "': is not a regular file") !=
                 std::string::npos,
             env.err);
}



// A colour space or look defined through itself is refused, naming the loop: OpenColorIO recursed until the
// stack overflowed (a segmentation fault, no message).
BOOST_AUTO_TEST_CASE(a_colour_space_or_look_defined_through_itself_is_refused) {
  genplug::test::TempDir dir("colour-loop");
  const fs::path loop = config_with(dir.path, "loop.ocio",
                                    "  - !<ColorSpace>\n    name: Loop\n    isdata: false\n"
                                    "    from_scene_reference: !<ColorSpaceTransform> "
                                    "{src: Linear Rec.709 (sRGB), dst: Loop}\n");
  auto r = run_with(dir.path, {"exr.ocio_config=\"" + loop.string() + "\"", "exr.colorspace=\"Loop\""});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(r.err.find("colour space 'Loop' is defined through itself (colour space 'Loop' -> colour space 'Loop')") !=
                 std::string::npos,
             r.err);
  const fs::path look = config_with(dir.path, "look.ocio",
                                    "  - !<ColorSpace>\n    name: Graded\n    isdata: false\n"
                                    "    from_scene_reference: !<LookTransform> {src: Linear Rec.709 (sRGB), "
                                    "dst: Linear Rec.709 (sRGB), looks: +grade}\n"
                                    "looks:\n  - !<Look>\n    name: grade\n    process_space: Graded\n"
                                    "    transform: !<ExponentTransform> {value: [1.1, 1.1, 1.1, 1]}\n");
  r = run_with(dir.path, {"exr.ocio_config=\"" + look.string() + "\"", "exr.colorspace=\"Graded\""});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(r.err.find("colour space 'Graded' is defined through itself (colour space 'Graded' -> look 'grade' -> "
                        "colour space 'Graded')") != std::string::npos,
             r.err);
  BOOST_TEST(!fs::exists(dir.path / "x.exr"));
}

// A FIFO read by a look inside the output space's own transform is refused as one in the space itself: OCIO
// blocked on it, past the first SIGTERM. The look's name has a space, as the ACES configs' do.
BOOST_AUTO_TEST_CASE(a_lut_fifo_behind_a_look_is_refused_before_ocio_opens_it) {
  genplug::test::TempDir dir("colour-look-fifo");
  const fs::path lut = dir.path / "grade.spi1d";
  BOOST_REQUIRE(::mkfifo(lut.c_str(), 0600) == 0);
  const fs::path config = config_with(
      dir.path, "look.ocio",
      "  - !<ColorSpace>\n    name: Looked\n    isdata: false\n"
      "    from_scene_reference: !<LookTransform> {src: Linear Rec.709 (sRGB), dst: Linear Rec.709 (sRGB), "
      "looks: \"+film grade\"}\n"
      "looks:\n  - !<Look>\n    name: film grade\n    process_space: Linear Rec.709 (sRGB)\n"
      "    transform: !<FileTransform> {src: grade.spi1d, interpolation: linear}\n",
      searching(dir.path));
  const auto r = run_with(dir.path, {"exr.ocio_config=\"" + config.string() + "\"", "exr.colorspace=\"Looked\""});
  BOOST_TEST(r.exit_code == 3, r.err);  // 124: timeout ended it
  BOOST_TEST(r.err.find("look 'film grade': its file '" + lut.string() + "' is not a regular file") != std::string::npos,
             r.err);
}

// A config whose sRGB space is marked as data converts nothing (OCIO skips data spaces): the file would hold the
// model's sRGB values under another space's name. Refused, and blamed on the setting that named the config.
BOOST_AUTO_TEST_CASE(a_config_whose_srgb_is_data_is_refused) {
  genplug::test::TempDir dir("colour-srgb-data");
  const fs::path config = config_with(dir.path, "data.ocio", "", [](std::string& c) {
    const size_t at = c.find("isdata: false", c.find("    name: sRGB\n"));
    c.replace(at, 13, "isdata: true");
  });
  const auto r = run_with(dir.path, {"exr.ocio_config=\"" + config.string() + "\"", "exr.colorspace=\"ACEScg\""});
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(r.err.find("exr.ocio_config: OCIO config '" + config.string() +
                        "': its sRGB colour space 'sRGB' is marked as data") != std::string::npos,
             r.err);
  BOOST_TEST(!fs::exists(dir.path / "x.exr"));
}

// A conversion that takes the model's pixels past half precision's range (a 1e5 gain) would store infinities:
// refused with exit 5 and no file; float pixels hold them.
BOOST_AUTO_TEST_CASE(pixels_past_half_range_after_conversion_are_refused) {
  genplug::test::TempDir dir("colour-huge");
  const fs::path config = config_with(dir.path, "gain.ocio",
                                      "  - !<ColorSpace>\n    name: Gain\n    isdata: false\n"
                                      "    from_scene_reference: !<MatrixTransform> {matrix: [100000, 0, 0, 0, 0, "
                                      "100000, 0, 0, 0, 0, 100000, 0, 0, 0, 0, 1]}\n");
  const std::vector<std::string> gain = {"exr.ocio_config=\"" + config.string() + "\"", "exr.colorspace=\"Gain\""};
  auto settings = gain;
  settings.push_back("exr.pixel=\"half\"");
  auto r = run_with(dir.path, settings);
  BOOST_TEST(r.exit_code == 5, r.err);
  BOOST_TEST(r.err.find("the image in colour space 'Gain' has ") != std::string::npos, r.err);
  BOOST_TEST(r.err.find("beyond half precision's range (65504)") != std::string::npos, r.err);
  BOOST_TEST(!fs::exists(dir.path / "x.exr"));
  settings = gain;
  settings.push_back("exr.pixel=\"float\"");
  r = run_with(dir.path, settings);
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(fs::exists(dir.path / "x.exr"));
}

// An output up to date is not rendered again for its preview: a PNG missing beside it (deleted, or never asked
// for) is made from the EXR, converted back to sRGB through the output's colour space. It agrees with the render's
// own preview in every byte when the EXR holds the model's values as float, within one 8-bit step through half
// floats in a linear space or in ACEScg.
BOOST_AUTO_TEST_CASE(a_missing_preview_of_an_up_to_date_output_is_made_from_it) {
  for (const auto& [space, pixel, tolerance] : {std::tuple<std::string, std::string, int>{"sRGB", "float", 0},
                                                {"Linear Rec.709 (sRGB)", "half", 1}, {"ACEScg", "half", 1}}) {
    BOOST_TEST_CONTEXT(space << ", " << pixel) {
      genplug::test::TempDir dir("colour-missing-preview");
      const fs::path out = dir.path / "x.exr", png = dir.path / "x.png";
      auto render = [&](const std::string& force) {
        std::vector<std::string> argv = {kGenplug, "run", kDefault, "--preview", "--preview-size", "4096"};
        if (!force.empty()) argv.push_back(force);
        for (const std::string& set : {"jobs.0.output=\"" + out.string() + "\"", std::string("jobs.0.steps=2"),
                                       std::string("jobs.0.width=256"), std::string("jobs.0.height=256"),
                                       "exr.colorspace=\"" + space + "\"", "exr.pixel=\"" + pixel + "\""})
          argv.insert(argv.end(), {"--set", set});
        return run_process(argv);
      };
      auto r = render("--force");
      BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      int w = 0, h = 0;
      const auto rendered = genplug::test::read_png_rgb8(png, w, h);
      const auto rendered_at = fs::last_write_time(out);
      fs::remove(png);
      r = render("");
      BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      BOOST_TEST((fs::last_write_time(out) == rendered_at));  // skipped, not rendered again
      BOOST_TEST(r.err.find("missing preview could not be made") == std::string::npos, r.err);
      int rw = 0, rh = 0;
      const auto remade = genplug::test::read_png_rgb8(png, rw, rh);
      BOOST_TEST_REQUIRE((rw == w && rh == h));
      int worst = 0;
      for (size_t i = 0; i < rendered.size(); ++i) worst = std::max(worst, std::abs(int(rendered[i]) - int(remade[i])));
      BOOST_TEST_MESSAGE(space << ", " << pixel << ": largest difference " << worst << " of 255");
      BOOST_TEST(worst <= tolerance);
    }
  }
}

// A final preview that cannot be written must not leave an earlier one (another seed's) beside the new EXR, where
// it would pass for it: removed, with the warning. The failure is a file size limit that the EXR stays under (its
// space makes every pixel zero in half precision: a few kilobytes) and the PNG of the model's image does not; the
// limit is set between the two sizes as a first render measures them.
BOOST_AUTO_TEST_CASE(a_preview_that_cannot_be_written_leaves_no_earlier_one) {
  genplug::test::TempDir dir("colour-stale-preview");
  const fs::path out = dir.path / "x.exr", png = dir.path / "x.png";
  const fs::path config =
      config_with(dir.path, "zero.ocio",
                  "  - !<ColorSpace>\n    name: Zero\n    isdata: false\n"
                  "    from_scene_reference: !<MatrixTransform> {matrix: [1e-30, 0, 0, 0, 0, 1e-30, "
                  "0, 0, 0, 0, 1e-30, 0, 0, 0, 0, 1]}\n");  // invertible; zero in half
  auto render = [&](int seed, const std::vector<std::string>& before) {
    std::vector<std::string> argv = before;
    for (const std::string& a : {std::string("/usr/bin/timeout"), std::string("60"), kGenplug, std::string("run"),
                                 kDefault, std::string("--force"), std::string("--preview")})
      argv.push_back(a);
    for (const std::string& set :
         {"jobs.0.output=\"" + out.string() + "\"", std::string("jobs.0.steps=2"), std::string("jobs.0.width=256"),
          std::string("jobs.0.height=256"), "jobs.0.seed=" + std::to_string(seed),
          "exr.ocio_config=\"" + config.string() + "\"", std::string("exr.colorspace=\"Zero\"")})
      argv.insert(argv.end(), {"--set", set});
    return run_process(argv);
  };
  auto r = render(1, {});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const uintmax_t exr_size = fs::file_size(out), png_size = fs::file_size(png);
  BOOST_REQUIRE_MESSAGE(4 * exr_size < png_size, "the premise: the EXR (" << exr_size << " bytes) is much smaller "
                                                                          "than the preview (" << png_size << ")");
  const uintmax_t limit = uintmax_t(std::sqrt(double(exr_size) * double(png_size)));
  r = render(2, {"/usr/bin/prlimit", "--fsize=" + std::to_string(limit)});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(std::get<int32_t>(genplug::host::read_exr_metadata(out).at("genplug.seed")) == 2);
  BOOST_TEST(r.err.find("File too large") != std::string::npos, r.err);
  BOOST_TEST(r.err.find("; the earlier preview there was removed, as it is not this image") != std::string::npos,
             r.err);
  BOOST_TEST(!fs::exists(png));
}

// An x0 layer is a diagnostic: one that a conversion takes past half's range is left out with a warning, and the
// image, which fits, is written. The first evaluation's prediction reaches further below zero than the final
// image, so a space that keeps only negative values and multiplies them splits the two. The gain is
// chosen from a float render of the same job in the reference space, halfway (geometrically) between the
// image's and the layer's limits, so the test does not depend on the model's exact values.
BOOST_AUTO_TEST_CASE(an_x0_layer_past_half_range_is_left_out_and_the_image_written) {
  genplug::test::TempDir dir("colour-layer-drop");
  const fs::path out = dir.path / "x.exr";
  auto render_into = [&](const std::vector<std::string>& settings) {
    std::vector<std::string> argv = {"/usr/bin/timeout", "60", kGenplug, "run", kDefault, "--force",
                                     "--set", "jobs.0.output=\"" + out.string() + "\"", "--set", "jobs.0.steps=4",
                                     "--set", "jobs.0.width=64", "--set", "jobs.0.height=64",
                                     "--set", "exr.x0_layers=[1]"};
    for (const auto& s : settings) argv.insert(argv.end(), {"--set", s});
    return run_process(argv);
  };
  auto r = render_into({"exr.pixel=\"float\"", "exr.colorspace=\"Linear Rec.709 (sRGB)\""});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto lowest = [](const std::vector<float>& v) { return double(*std::min_element(v.begin(), v.end())); };
  const double image_low = lowest(genplug::host::read_exr(out).planar);
  const double layer_low = lowest(genplug::host::read_exr(out, nullptr, "x0_e1").planar);
  BOOST_REQUIRE_MESSAGE(layer_low < 0 && layer_low < 2 * std::min(image_low, -1e-6),
                        "the premise: the layer reaches twice as far below zero as the image (" << layer_low
                                                                                               << " vs " << image_low
                                                                                               << ")");
  const double gain = 65504.0 / std::sqrt(-layer_low * -std::min(image_low, -1e-6));
  const std::string g = std::to_string(gain);
  const fs::path config = config_with(
      dir.path, "negative-gain.ocio",
      "  - !<ColorSpace>\n    name: NegativeGain\n    isdata: false\n"
      "    from_scene_reference: !<GroupTransform> {children: [!<RangeTransform> {min_in_value: -1, max_in_value: 0,"
      " min_out_value: -1, max_out_value: 0}, !<MatrixTransform> {matrix: [" + g + ", 0, 0, 0, 0, " + g +
      ", 0, 0, 0, 0, " + g + ", 0, 0, 0, 0, 1]}]}\n");
  fs::remove(out);
  r = render_into({"exr.ocio_config=\"" + config.string() + "\"", "exr.colorspace=\"NegativeGain\"",
                   "exr.pixel=\"half\""});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(r.err.find("warning: " + kDefault + ": jobs[0]: layer x0_e1 in colour space 'NegativeGain' has ") !=
                 std::string::npos,
             r.err);
  BOOST_TEST(r.err.find("beyond half precision's range (65504) or not finite after the OCIO conversion") !=
                 std::string::npos,
             r.err);
  BOOST_TEST(r.err.find("; the layer is left out") != std::string::npos, r.err);
  Imf::InputFile file(out.c_str());
  BOOST_TEST(file.header().channels().findChannel("R") != nullptr);
  BOOST_TEST(file.header().channels().findChannel("x0_e1.R") == nullptr);
  const auto image = genplug::host::read_exr(out).planar;
  BOOST_TEST(lowest(image) < -1000.0);  // the image went through the gain, and fits
  BOOST_TEST(std::all_of(image.begin(), image.end(), [](float v) { return std::isfinite(v); }));
}
