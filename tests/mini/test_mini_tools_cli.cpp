// The mini model's evaluation and measurement programs refuse bad flags before any work: exit 2, the flag named
// on one line (no libtorch backtrace, no std::terminate), nothing written. genplug-mini-eval always; the libtorch
// programs (genplug-mini-precision, genplug-mini-autoencoder-ceiling) where they are built.
#define BOOST_TEST_MODULE mini_tools_cli
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using genplug::test::run_process;

namespace {

const std::string kBin = GENPLUG_BINARY_DIR "/bin/";
const std::string kPrompts = GENPLUG_SOURCE_DIR "/samples/mini/prompts.txt";
const std::string kModel = GENPLUG_SOURCE_DIR "/models/mini";

// Runs `program` with `args`; expects exit 2 and `flag` in its message, and no backtrace.
void expect_refused(const std::string& program, const std::vector<std::string>& args, const std::string& flag) {
  std::vector<std::string> argv = {kBin + program};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = run_process(argv);
  std::string line = program;
  for (const std::string& a : args) line += " " + a;
  BOOST_TEST(r.exit_code == 2, line << ": exit " << r.exit_code << ", " << r.err);
  BOOST_TEST(r.err.find(flag) != std::string::npos, line << ": " << r.err);
  BOOST_TEST(r.err.find("frame #") == std::string::npos, line << ": " << r.err);
}

// A folder with an empty prompts file, a folder where a file belongs, and a place for outputs.
struct Inputs {
  genplug::test::TempDir dir{"mini-tools-cli"};
  fs::path empty = dir.path / "empty.txt", folder = dir.path / "folder", out = dir.path / "out";
  Inputs() {
    std::ofstream(empty) << "# only a comment\n\n";
    fs::create_directories(folder);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(mini_eval_checks_its_flags_before_writing) {
  Inputs in;
  const std::string out = in.out.string();
  expect_refused("genplug-mini-eval", {"--out", out, "--prompts", kPrompts, "--seeds", "0"}, "--seeds");
  expect_refused("genplug-mini-eval", {"--out", out, "--prompts", in.empty.string()}, "--prompts");
  expect_refused("genplug-mini-eval", {"--out", out, "--prompts", in.folder.string()}, "--prompts");
  expect_refused("genplug-mini-eval", {"--out", out, "--prompts", kPrompts, "--model", "{bad"}, "--model");
  expect_refused("genplug-mini-eval", {"--out", out, "--prompts", kPrompts, "--posenc", "[1]"}, "--posenc");
  expect_refused("genplug-mini-eval",
                 {"--out", out, "--prompts", kPrompts, "--first-seed", "18446744073709551615", "--seeds", "2"},
                 "--first-seed");
  expect_refused("genplug-mini-eval", {"--out", out, "--prompts", kPrompts, "--first-seed", "-1"}, "--first-seed");
  expect_refused("genplug-mini-eval", {"--out", out, "--prompts", kPrompts, "--width", "0"}, "--width");
  BOOST_TEST(!fs::exists(in.out));
  std::ofstream(in.dir.path / "a-file") << "x";
  expect_refused("genplug-mini-eval", {"--out", (in.dir.path / "a-file").string(), "--prompts", kPrompts}, "--out");
}

#ifdef GENPLUG_TEST_MINI_TORCH_TOOLS
BOOST_AUTO_TEST_CASE(mini_precision_needs_prompts_steps_and_a_model) {
  Inputs in;
  expect_refused("genplug-mini-precision", {"--model", kModel, "--prompts", kPrompts, "--steps", "0"}, "--steps");
  expect_refused("genplug-mini-precision", {"--model", kModel, "--prompts", kPrompts, "--steps", "-4"}, "--steps");
  expect_refused("genplug-mini-precision", {"--model", kModel, "--prompts", (in.dir.path / "none.txt").string()},
                 "--prompts");
  expect_refused("genplug-mini-precision", {"--model", kModel, "--prompts", in.folder.string()}, "--prompts");
  expect_refused("genplug-mini-precision", {"--model", kModel, "--prompts", in.empty.string()}, "--prompts");
  expect_refused("genplug-mini-precision", {"--model", (in.dir.path / "no-model").string(), "--prompts", kPrompts},
                 "--model");
  expect_refused("genplug-mini-precision", {"--model", kModel, "--prompts", kPrompts, "--seed", "-1"}, "--seed");
}

BOOST_AUTO_TEST_CASE(autoencoder_ceiling_checks_size_scenes_and_sheet) {
  Inputs in;
  expect_refused("genplug-mini-autoencoder-ceiling", {"--model", kModel, "--size", "100"}, "--size");
  expect_refused("genplug-mini-autoencoder-ceiling", {"--model", kModel, "--size", "0"}, "--size");
  expect_refused("genplug-mini-autoencoder-ceiling", {"--model", kModel, "--scenes", "0"}, "--scenes");
  expect_refused("genplug-mini-autoencoder-ceiling", {"--model", kModel, "--threads", "0"}, "--threads");
  expect_refused("genplug-mini-autoencoder-ceiling",
                 {"--model", kModel, "--sheet", (in.dir.path / "no-folder" / "sheet.png").string()}, "--sheet");
  expect_refused("genplug-mini-autoencoder-ceiling", {"--model", kModel, "--sheet", in.folder.string()}, "--sheet");
  expect_refused("genplug-mini-autoencoder-ceiling", {"--model", (in.dir.path / "no-model").string()}, "--model");
}
#endif
