// What genplug-dype-calibrate leaves in --out (bench/dype_effect/calibration_report.cpp): a rerun replaces this
// method and size's three files and no others, and a write that fails midway never leaves an earlier run's posenc
// file beside a new report (the earlier three are removed before the first is written).
#define BOOST_TEST_MODULE calibration_files
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "calibration_report.hpp"  // bench/dype_effect
#include "temp_dir.hpp"

namespace de = genplug::dype_effect;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// A result with no renders behind it: the files' names and order are under test, not their figures.
de::CalibrationResult result() {
  de::CalibrationResult r;
  r.method = "dy-yarn";
  r.size = {"2x", 256, 256};
  r.units = 2;
  r.posenc = {{"plugin", "org.genplug.dype"}, {"config", {{"method", "dy-yarn"}}}};
  r.selection.reason = "this run";
  return r;
}

const char* const kOwn[] = {"dy-yarn-2x.json", "dy-yarn-2x.report.json", "dy-yarn-2x.md"};

}  // namespace

BOOST_AUTO_TEST_CASE(a_rerun_replaces_its_three_files_and_leaves_other_methods_and_sizes) {
  genplug::test::TempDir dir("calibration-rerun");
  for (const char* name : kOwn) write_text(dir.path / name, "earlier run\n");
  for (const char* name : {"dy-yarn-3x.json", "dy-ntk-2x.json", "notes.txt"}) write_text(dir.path / name, "keep\n");
  const fs::path posenc = de::write_calibration(dir.path, result(), {"--size", "2x"});
  BOOST_TEST(posenc == dir.path / "dy-yarn-2x.json");
  for (const char* name : kOwn) BOOST_TEST(read_text(dir.path / name).find("earlier run") == std::string::npos, name);
  BOOST_TEST(nlohmann::json::parse(read_text(posenc)) == result().posenc);
  BOOST_TEST(read_text(dir.path / "dy-yarn-2x.md").find("this run") != std::string::npos);
  for (const char* name : {"dy-yarn-3x.json", "dy-ntk-2x.json", "notes.txt"})
    BOOST_TEST(read_text(dir.path / name) == "keep\n", name);
  for (const auto& entry : fs::directory_iterator(dir.path))
    BOOST_TEST(entry.path().extension() != ".tmp", entry.path());
}

// The Markdown is the second file written; a folder in the way of its temporary name makes that write fail after
// the new report is in place. The earlier posenc file must be gone by then: beside the new report, it would be
// read as this run's choice.
BOOST_AUTO_TEST_CASE(a_write_that_fails_midway_leaves_no_earlier_posenc_file) {
  genplug::test::TempDir dir("calibration-midway");
  for (const char* name : kOwn) write_text(dir.path / name, "earlier run\n");
  fs::create_directories(dir.path / "dy-yarn-2x.md.tmp" / "in-the-way");
  BOOST_CHECK_EXCEPTION(de::write_calibration(dir.path, result(), {}), std::runtime_error,
                        [](const std::runtime_error& e) {
                          return std::string(e.what()).find("cannot write") != std::string::npos;
                        });
  BOOST_TEST(!fs::exists(dir.path / "dy-yarn-2x.json"));
  BOOST_TEST(!fs::exists(dir.path / "dy-yarn-2x.md"));
  BOOST_TEST_REQUIRE(fs::exists(dir.path / "dy-yarn-2x.report.json"));
  BOOST_TEST(read_text(dir.path / "dy-yarn-2x.report.json").find("earlier run") == std::string::npos);
}
