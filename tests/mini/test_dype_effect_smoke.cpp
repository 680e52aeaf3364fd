// genplug-dype-effect (bench/dype_effect, docs/dype-effect.md) end to end on a tiny grid: 2 units, sizes 1x and
// 2x, methods rope and yarn, 4 steps, through the real plugins and the shipped mini model. It checks the outputs'
// shape, not the model's quality (one case checks the bench's fast SWD resampling against the direct formula): every results.json key is there with a finite value where it is defined,
// results.md has the rows, the grids exist at their size, the temporary renders are gone, and at 1x (where no
// axis is scaled, so every method's spectrum equals RoPE's) the configs share one render and identical scores.
#define BOOST_TEST_MODULE dype_effect_smoke
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bootstrap_replicates.hpp"  // bench/dype_effect
#include "png_read.hpp"
#include "rng.hpp"
#include "sliced_wasserstein.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::vector<std::string> kMetrics = {"objects_right", "all_right", "count_right", "kind_right",
                                           "background_right", "layout", "duplicates", "anchored", "hf_dev",
                                           "abs_hf_dev", "mf_dev", "swd_x100", "swd_floor_x100"};
const std::set<std::string> kBinary = {"objects_right", "all_right", "count_right", "background_right"};

// One run shared by every test case.
struct Bench {
  genplug::test::TempDir dir{"dype-effect-smoke"};
  fs::path out = dir.path / "out";
  int status = -1;
  json results, run;
  std::string markdown;

  Bench() {
    status = run_bench(out, 2, dir.path / "log.txt");
    if (status != 0) return;
    std::ifstream(out / "results.json") >> results;
    std::ifstream(out / "run.json") >> run;
    std::stringstream md;
    md << std::ifstream(out / "results.md").rdbuf();
    markdown = md.str();
  }

  // The smoke set with `render_threads` render threads, one libtorch and OpenBLAS thread each (so that any thread
  // count renders with the same kernels); the exit status.
  static int run_bench(const fs::path& out, int render_threads, const fs::path& log) {
    const std::string cmd = "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 " + std::string(GENPLUG_BINARY_DIR) +
                            "/bin/genplug-dype-effect --units 2 --sizes 1x,2x --methods rope,yarn --steps 4 " +
                            "--render-threads " + std::to_string(render_threads) + " --out " + out.string() +
                            " > " + log.string() + " 2>&1";
    const int s = std::system(cmd.c_str());
    const int status = WIFEXITED(s) ? WEXITSTATUS(s) : -1;
    if (status != 0) {
      std::stringstream text;
      text << std::ifstream(log).rdbuf();
      BOOST_TEST_MESSAGE("genplug-dype-effect output:\n" << text.str());
    }
    return status;
  }
};

Bench& bench() {
  static Bench b;
  return b;
}

const json& size_entry(const std::string& label) {
  for (const json& s : bench().results.at("sizes"))
    if (s.at("size") == label) return s;
  BOOST_FAIL("no size " + label + " in results.json");
  throw;
}

bool finite_number(const json& v) { return v.is_number() && std::isfinite(v.get<double>()); }

}  // namespace

BOOST_AUTO_TEST_CASE(runs_and_cleans_up) {
  BOOST_REQUIRE_EQUAL(bench().status, 0);
  for (const char* f : {"run.json", "results.json", "results.md", "spectra.json", "grids/1x.md", "grids/2x.md",
                        "cells/2x/yarn/scores.jsonl", "cells/1x/rope/scores.jsonl"})
    BOOST_TEST(fs::exists(bench().out / f), f);
  for (const auto& entry : fs::directory_iterator(bench().out))  // the EXRs' scratch folder is gone
    BOOST_TEST(entry.path().filename().string().rfind(".dype-effect-tmp-", 0) != 0, entry.path());
  BOOST_TEST(!fs::exists(bench().out / "cells/1x/yarn"));  // rendered once at 1x, as rope
}

BOOST_AUTO_TEST_CASE(run_json_records_the_pin) {
  BOOST_REQUIRE_EQUAL(bench().status, 0);
  const json& run = bench().run;
  for (const char* key : {"arguments", "git", "machine", "sizes", "configs", "units", "mu", "mu_derivation", "steps",
                          "probe", "timings", "scheduler"})
    BOOST_TEST(run.contains(key), key);
  BOOST_TEST(run.at("steps") == 4);
  BOOST_TEST(run.at("units").size() == 2u);
  // mu is pinned to the 128 x 128 value: every size gets the same sigmas, and the scheduler config holds the pin.
  BOOST_TEST(run.at("scheduler").at("config").at("mu") == run.at("mu"));
  BOOST_TEST(run.at("sizes").at(0).at("sigmas") == run.at("sizes").at(1).at("sigmas"));
  BOOST_TEST(run.at("sizes").at(0).at("sigmas").size() == 5u);
  BOOST_TEST(run.at("sizes").at(0).at("rendered_as").at("yarn") == "rope");
  BOOST_TEST(run.at("sizes").at(1).at("rendered_as").at("yarn") == "yarn");
  BOOST_TEST(finite_number(run.at("timings").at("total_seconds")));
}

BOOST_AUTO_TEST_CASE(results_json_has_every_key) {
  BOOST_REQUIRE_EQUAL(bench().status, 0);
  BOOST_TEST(bench().results.at("units") == 2);
  BOOST_TEST(bench().results.at("resamples") == 2000);
  for (const std::string label : {"1x", "2x"}) {
    const json& s = size_entry(label);
    BOOST_TEST(finite_number(s.at("swd_floor_x100")));
    for (const std::string config : {"real", "rope", "yarn"}) {
      const json& c = s.at("configs").at(config);
      for (const std::string& m : kMetrics) {
        BOOST_TEST_CONTEXT(label << " " << config << " " << m) {
          BOOST_REQUIRE(c.contains(m));
          // Undefined only where a ratio has nothing under it: kind among no found objects, anchored at 1x.
          if (c.at(m).is_null())
            BOOST_TEST(((m == "kind_right" && config != "real") || (m == "anchored" && label == "1x")));
          else
            BOOST_TEST(finite_number(c.at(m)));
        }
      }
    }
    BOOST_TEST(s.at("configs").at("real").at("hf_dev") == 0.0);
    for (const auto& [baseline, other] : {std::pair<std::string, std::string>{"yarn", "rope"}, {"rope", "yarn"}}) {
      const json& cmp = s.at("vs_" + baseline).at(other);
      BOOST_TEST(cmp.at("n") == 2);
      BOOST_TEST(cmp.at("B") == 2000);
      for (const std::string& m : kMetrics) {
        if (m == "swd_floor_x100") continue;
        BOOST_TEST_CONTEXT(label << " " << other << " vs " << baseline << " " << m) {
          const json& e = cmp.at("metrics").at(m);
          for (const char* k : {"delta", "lo", "hi"}) BOOST_REQUIRE(e.contains(k));
          const bool defined = !s.at("configs").at(other).at(m).is_null() && !s.at("configs").at(baseline).at(m).is_null();
          if (defined) {
            BOOST_TEST(finite_number(e.at("delta")));
            BOOST_TEST(finite_number(e.at("lo")));
            BOOST_TEST(finite_number(e.at("hi")));
            BOOST_TEST(e.at("lo").get<double>() <= e.at("hi").get<double>());
          }
          BOOST_TEST(e.contains("discordant") == (kBinary.count(m) == 1));
          if (kBinary.count(m)) BOOST_TEST(e.at("discordant").size() == 2u);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(at_1x_every_config_scores_the_same) {
  BOOST_REQUIRE_EQUAL(bench().status, 0);
  const json& s = size_entry("1x");
  json rope = s.at("configs").at("rope"), yarn = s.at("configs").at("yarn");
  BOOST_TEST(yarn.at("rendered_as") == "rope");
  rope.erase("rendered_as");
  yarn.erase("rendered_as");
  BOOST_TEST(rope == yarn);
  for (const auto& [metric, e] : s.at("vs_yarn").at("rope").at("metrics").items())
    if (!e.at("delta").is_null()) BOOST_TEST(e.at("delta") == 0.0, metric);
}

BOOST_AUTO_TEST_CASE(results_md_has_the_rows) {
  BOOST_REQUIRE_EQUAL(bench().status, 0);
  const std::string& md = bench().markdown;
  for (const char* text : {"## 1x (128 × 128)", "## 2x (256 × 256)", "| real |", "| rope |", "| yarn |",
                           "| yarn (= rope) |", "### Δ vs YaRN", "### Δ vs RoPE", "| config | objects right |"})
    BOOST_TEST(md.find(text) != std::string::npos, text);
  // The 2x Δ table's row: "+d [+lo, +hi]" cells.
  const std::size_t at = md.find("### Δ vs YaRN");
  BOOST_REQUIRE(at != std::string::npos);
  BOOST_TEST(md.find("| rope | ", at) != std::string::npos);
  BOOST_TEST(md.find(" [", at) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(grids_have_a_row_per_rendered_config) {
  BOOST_REQUIRE_EQUAL(bench().status, 0);
  int w = 0, h = 0;
  // 2x: real, rope, yarn x 2 units, each 128 x 128 with 2 px gaps.
  genplug::test::read_png_rgb8(bench().out / "grids" / "2x.png", w, h);
  BOOST_TEST(w == 2 * 130 - 2);
  BOOST_TEST(h == 3 * 130 - 2);
  // 1x: real, rope (which stands for yarn too).
  genplug::test::read_png_rgb8(bench().out / "grids" / "1x.png", w, h);
  BOOST_TEST(w == 2 * 130 - 2);
  BOOST_TEST(h == 2 * 130 - 2);
}

// The bench evaluates SWD on each bootstrap resample from per-direction sorted orders and multiplicities; that must
// A cell's records without their timings, in unit order.
std::vector<json> untimed_records(const fs::path& scores) {
  std::vector<json> records;
  std::ifstream in(scores);
  for (std::string line; std::getline(in, line);) {
    json r = json::parse(line);
    for (auto it = r.begin(); it != r.end();) it = it.key().find("seconds") != std::string::npos ? r.erase(it) : std::next(it);
    records.push_back(r);
  }
  return records;
}

// Two render threads take the cells in turns; one renders them in order. The scores are the same, record by
// record: each cell is scored against its own unit's exact renders whichever thread rendered it.
BOOST_AUTO_TEST_CASE(one_render_thread_scores_the_same_as_two) {
  BOOST_REQUIRE(bench().status == 0);
  BOOST_TEST(bench().run.at("probe").at("render_threads") == 2);
  const fs::path out = bench().dir.path / "one-thread";
  BOOST_REQUIRE(Bench::run_bench(out, 1, bench().dir.path / "log-one-thread.txt") == 0);
  for (const std::string cell : {"1x/rope", "2x/rope", "2x/yarn"}) {
    const auto two = untimed_records(bench().out / "cells" / cell / "scores.jsonl");
    const auto one = untimed_records(out / "cells" / cell / "scores.jsonl");
    BOOST_TEST(two.size() == 2u, cell);
    BOOST_TEST((one == two), cell);
  }
}

// equal mini::sliced_wasserstein on the resampled sets themselves (std-only, no render).
BOOST_AUTO_TEST_CASE(swd_replicates_equal_the_direct_swd) {
  using namespace genplug;
  mini::SplitMix64 rng(7);
  const int n = 13, k = 9;
  std::vector<std::vector<double>> a(n, std::vector<double>(k)), b = a;
  for (auto& v : a)
    for (double& x : v) x = rng.unit();
  for (auto& v : b)
    for (double& x : v) x = rng.unit() + 0.25;
  a[3] = a[5];  // ties
  const dype_effect::Resampling resampling = dype_effect::make_resampling(n, 40);
  const dype_effect::Replicates r = dype_effect::replicate_swd(a, b, resampling);
  BOOST_TEST(r.full == mini::sliced_wasserstein(a, b), boost::test_tools::tolerance(1e-14));
  for (std::size_t s = 0; s < resampling.unit_indices.size(); ++s) {
    std::vector<std::vector<double>> ra, rb;
    for (int i : resampling.unit_indices[s]) ra.push_back(a[std::size_t(i)]);
    for (int i : resampling.independent_indices[s]) rb.push_back(b[std::size_t(i)]);
    BOOST_TEST(r.resampled[s] == mini::sliced_wasserstein(ra, rb), boost::test_tools::tolerance(1e-14));
  }
  // Pairing: a config compared with itself has delta 0 and interval [0, 0].
  const dype_effect::Comparison self = dype_effect::compare(r, r);
  BOOST_TEST(*self.delta == 0.0);
  BOOST_TEST(*self.lo == 0.0);
  BOOST_TEST(*self.hi == 0.0);
}

// ---- Bad flags, reruns into the same folder, signals ----

namespace {

using Args = std::vector<std::string>;

// The smallest run: unit 0 at 1x with rope, 4 steps, one render thread.
const Args kTiny = {"--units", "1", "--sizes", "1x", "--methods", "rope", "--steps", "4", "--render-threads", "1"};

genplug::test::ProcessResult run_effect(Args args, std::function<bool(const std::string&)> on_stderr = nullptr) {
  args.insert(args.begin(), std::string(GENPLUG_BINARY_DIR) + "/bin/genplug-dype-effect");
  return genplug::test::run_process(args, std::move(on_stderr));
}

Args with(Args args, const Args& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

bool holds_scratch_folder(const fs::path& out) {
  for (const auto& entry : fs::directory_iterator(out))
    if (entry.path().filename().string().rfind(".dype-effect-tmp-", 0) == 0) return true;
  return false;
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

}  // namespace

// A bad flag is refused before anything is read or written: exit 2, one line naming the flag, no nlohmann or
// CLI11 range text.
BOOST_AUTO_TEST_CASE(bad_flags_exit_2_naming_the_flag_and_write_nothing) {
  genplug::test::TempDir dir{"dype-effect-flags"};
  const std::string out = (dir.path / "out").string();
  const struct {
    Args args;
    std::string message;
  } cases[] = {{{"--model", "{bad"}, "--model: not valid JSON: "},
               {{"--model", "[1]"}, "--model: expected a JSON object, got [1]"},
               {{"--model", R"({"preset": "mini", "preset": "tiny"})"}, "--model: the key \"preset\" appears twice"},
               {{"--units", "0"}, "--units: must be at least 1, not 0"},
               {{"--units", "abc"}, "--units: 'abc' is not an integer"},
               {{"--steps", "0"}, "--steps: must be at least 1, not 0"},
               {{"--budget-min", "-1"}, "--budget-min: must be >= 0, not -1"},
               {{"--budget-min", "nan"}, "--budget-min: must be a finite number"}};
  for (const auto& c : cases) {
    const genplug::test::ProcessResult r = run_effect(with(c.args, {"--out", out}));
    BOOST_TEST_CONTEXT(c.args.at(0) << " " << c.args.at(1)) {
      BOOST_TEST(r.exit_code == 2, r.err);
      BOOST_TEST(r.err.find(c.message) != std::string::npos, r.err);
      BOOST_TEST(r.err.find("json.exception") == std::string::npos, r.err);
      BOOST_TEST(r.err.find("not in range") == std::string::npos, r.err);
      BOOST_TEST(!fs::exists(out));
    }
  }
}

// A model config that is a JSON object but one the flux plugin refuses fails when the plugins are read, before
// --out is made: no empty grids/ or scratch folder is left.
BOOST_AUTO_TEST_CASE(a_model_the_plugin_refuses_leaves_no_folder) {
  genplug::test::TempDir dir{"dype-effect-refused-model"};
  const fs::path out = dir.path / "out";
  const auto r = run_effect(with(kTiny, {"--model", R"({"preset": "no-such-preset"})", "--out", out.string()}));
  BOOST_TEST(r.exit_code == 1, r.err);
  BOOST_TEST(r.err.find("no-such-preset") != std::string::npos, r.err);
  BOOST_TEST(!fs::exists(out));
}

// A run into a folder that holds an earlier run's results removes them (by name) before it writes its run.json,
// so the folder never mixes two runs; files it does not write stay, and so do the folders holding them.
BOOST_AUTO_TEST_CASE(a_rerun_removes_the_earlier_results_and_nothing_else) {
  genplug::test::TempDir dir{"dype-effect-rerun"};
  const fs::path out = dir.path / "out";
  const std::vector<std::string> earlier = {"results.json", "results.md", "spectra.json", "cells/1x/rope/scores.jsonl",
                                            "cells/2x/yarn/scores.jsonl", "grids/2x.png", "grids/2x.md"};
  const std::vector<std::string> mine = {"notes.txt", "cells/2x/yarn/notes.txt", "grids/README",
                                         "cells/other/x/scores.jsonl"};
  for (const std::string& f : earlier) write_file(out / f, "earlier run\n");
  for (const std::string& f : mine) write_file(out / f, "mine\n");
  const auto r = run_effect(with(kTiny, {"--probe-only", "--out", out.string()}));
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(fs::is_regular_file(out / "run.json"));
  for (const std::string& f : earlier) BOOST_TEST(!fs::exists(out / f), f);
  BOOST_TEST(!fs::exists(out / "cells/1x"));  // emptied, so removed
  for (const std::string& f : mine) BOOST_TEST(fs::is_regular_file(out / f), f);
  BOOST_TEST(!holds_scratch_folder(out));
}

// SIGINT while the cells render (after the probe has written run.json): the renders stop, the scratch folder goes,
// no results are written, and the exit status says which signal ended the run.
BOOST_AUTO_TEST_CASE(an_interrupted_run_leaves_no_scratch_folder) {
  genplug::test::TempDir dir{"dype-effect-interrupted"};
  const fs::path out = dir.path / "out";
  const auto r = run_effect({"--units", "4", "--sizes", "2x", "--methods", "rope", "--steps", "4", "--render-threads",
                             "1", "--budget-min", "0", "--out", out.string()},
                            [](const std::string& err) {
                              return err.find("genplug-dype-effect: estimate") != std::string::npos;
                            });
  BOOST_TEST(r.exit_code == 130, r.err);
  BOOST_REQUIRE(fs::is_directory(out));
  BOOST_TEST(!holds_scratch_folder(out));
  BOOST_TEST(fs::is_regular_file(out / "run.json"));
  BOOST_TEST(!fs::exists(out / "results.json"));
}
