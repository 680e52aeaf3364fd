// The two-pass render through the CLI (docs/exr.md, "refine"): one EXR at the refine size, skipped as up to
// date on a second run, rendered again when the refine settings change; a refine size the job cannot reach
// with resize "error" is a manifest error before anything is written.
#define BOOST_TEST_MODULE two_pass_cli
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <sstream>
#include <string>

#include <ImfChannelList.h>
#include <ImfHeader.h>
#include <ImfInputFile.h>
#include <nlohmann/json.hpp>

#include "genplug/host/exr_writer.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using genplug::test::run_process;

namespace {
const std::string kGenplug = GENPLUG_BINARY_DIR "/bin/genplug";
const std::string kDefault = GENPLUG_SOURCE_DIR "/samples/default.json";

genplug::test::ProcessResult run(const fs::path& out, const std::string& refine) {
  return run_process({kGenplug, "run", kDefault, "--progress", "none", "--set", "jobs.0.output=\"" + out.string() + "\"",
                      "--set", "jobs.0.refine=" + refine});
}
}  // namespace

BOOST_AUTO_TEST_CASE(refine_writes_the_larger_image_resumes_and_refuses_what_it_cannot_do) {
  genplug::test::TempDir dir("two-pass");
  const fs::path out = dir.path / "two.exr";
  const std::string refine = R"({"width": 256, "height": 192, "strength": 0.5})";
  auto r = run(out, refine);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST((genplug::host::exr_size(out) == std::pair<int, int>{256, 192}));
  const auto meta = genplug::host::read_exr_metadata(out);
  BOOST_TEST(std::get<float>(meta.at("genplug.strength")) == 0.5f);
  const auto written = fs::last_write_time(out);

  r = run(out, refine);  // same item: up to date, not rendered again
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST((fs::last_write_time(out) == written));

  r = run(out, R"({"width": 256, "height": 192, "strength": 0.25})");  // another item: not ours to replace
  BOOST_TEST(r.exit_code == 6, r.err);

  const fs::path refused = dir.path / "refused.exr";
  r = run(refused, R"({"width": 256, "height": 192, "resize": "error"})");
  BOOST_TEST(r.exit_code == 3, r.err);
  BOOST_TEST(r.err.find("jobs[0].refine.resize: the first pass's 128 x 128 is not 256 x 192") != std::string::npos, r.err);
  BOOST_TEST(!fs::exists(refused));
}

// A refine job's progress is the item's (docs/cli.md: --progress jsonl): the step events count both passes' model
// evaluations up to the total that item_done reports, with the same total in every event, so that eta_seconds is
// 0 only at the last one. Each pass had counted from 1 to its own total. Its x0 layers stay the second pass's,
// numbered and padded in that pass (x0_e1 of 2, not x0_e01 of the item's 10).
BOOST_AUTO_TEST_CASE(a_refine_jobs_progress_counts_both_passes) {
  genplug::test::TempDir dir("two-pass-progress");
  const fs::path out = dir.path / "p.exr";
  const auto r = run_process({kGenplug, "run", kDefault, "--progress", "jsonl", "--set",
                              "jobs.0.output=\"" + out.string() + "\"", "--set", "jobs.0.steps=8", "--set",
                              R"(jobs.0.refine={"width": 192, "height": 192, "strength": 0.5, "steps": 4})", "--set",
                              "exr.x0_layers=[1,2]"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::istringstream lines(r.out);
  std::vector<uint64_t> evaluation, evaluations;
  std::vector<double> eta;
  uint64_t done = 0;
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json e = nlohmann::json::parse(line);
    if (e.at("event") == "step") {
      evaluation.push_back(e.at("evaluation").get<uint64_t>());
      evaluations.push_back(e.at("evaluations").get<uint64_t>());
      eta.push_back(e.at("eta_seconds").get<double>());
    } else if (e.at("event") == "item_done") {
      done = e.at("evaluations").get<uint64_t>();
    }
  }
  BOOST_TEST(done == 10u);  // 8 steps, then 4 from the plate at strength 0.5: 2
  BOOST_REQUIRE_EQUAL(evaluation.size(), done);
  for (size_t i = 0; i < evaluation.size(); ++i) {
    BOOST_TEST(evaluation[i] == i + 1);
    BOOST_TEST(evaluations[i] == done);
    BOOST_TEST((eta[i] > 0) == (i + 1 < done));
  }
  Imf::InputFile file(out.c_str());
  for (const char* channel : {"x0_e1.R", "x0_e2.B"})
    BOOST_TEST(file.header().channels().findChannel(channel) != nullptr, channel);
}
