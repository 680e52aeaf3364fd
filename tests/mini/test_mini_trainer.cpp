// genplug-train-mini in miniature (a few steps; training itself is not part of the tests): it writes the folder
// layout "preset": "mini" reads, the plugin renders from that folder, and two runs from one seed write
// byte-identical weights.
#define BOOST_TEST_MODULE mini_trainer
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include <genplug/flux/mini_model_files.hpp>

#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using genplug::test::run_process;

namespace {

const std::string kTrainer = GENPLUG_BINARY_DIR "/bin/genplug-train-mini";
const std::string kGenplug = GENPLUG_BINARY_DIR "/bin/genplug";
const std::string kDefault = GENPLUG_SOURCE_DIR "/samples/default.json";

genplug::test::ProcessResult train(const fs::path& out) {
  return run_process({kTrainer, "--out", out.string(), "--vae-steps", "3", "--transformer-steps", "3",
                      "--factor-scenes", "16", "--checkpoint-every", "0"});
}

std::string bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// samples/default.json, 2 steps, through the CLI with "preset": "mini" pointed at `model`.
void expect_default_sample_renders(const fs::path& model, const fs::path& exr) {
  ::setenv("GENPLUG_MINI_MODEL", model.c_str(), 1);
  const auto render = run_process({kGenplug, "run", kDefault, "--progress", "none", "--set", "jobs.0.steps=2",
                                   "--set", "jobs.0.output=\"" + exr.string() + "\""});
  ::unsetenv("GENPLUG_MINI_MODEL");
  BOOST_TEST(render.exit_code == 0, render.err);
  BOOST_TEST(fs::is_regular_file(exr));
}

}  // namespace

BOOST_AUTO_TEST_CASE(trainer_writes_a_model_the_plugin_renders_and_is_deterministic) {
  genplug::test::TempDir dir("mini-trainer");
  const auto first = train(dir.path / "a"), second = train(dir.path / "b");
  BOOST_TEST_REQUIRE(first.exit_code == 0, first.err);
  BOOST_TEST_REQUIRE(second.exit_code == 0, second.err);
  BOOST_TEST(first.out.find("transformer  step      3/3") != std::string::npos, first.out);

  const genplug::flux::MiniModelFiles a{dir.path / "a"}, b{dir.path / "b"};
  for (const fs::path& file : {a.transformer(), a.vae(), a.vae_config(), a.t5(), a.t5_tokenizer(), a.clip(),
                               a.clip_tokenizer() / "vocab.json", a.clip_tokenizer() / "merges.txt"})
    BOOST_TEST(fs::is_regular_file(file), file);
  BOOST_TEST(bytes(a.transformer()) == bytes(b.transformer()));
  BOOST_TEST(bytes(a.vae()) == bytes(b.vae()));
  BOOST_TEST(fs::is_regular_file(a.folder / "training" / "loss.svg"));

  expect_default_sample_renders(a.folder, dir.path / "render.exr");
}

// Scene reuse changes which scenes a step sees (so the weights), deterministically; a reuse that does not divide
// the scenes per step is refused before anything is written.
BOOST_AUTO_TEST_CASE(scene_reuse_is_deterministic_and_checked) {
  genplug::test::TempDir dir("mini-reuse");
  const auto base = train(dir.path / "base");
  BOOST_TEST_REQUIRE(base.exit_code == 0, base.err);
  auto retrain = [&](const std::string& name, const std::string& reuse) {
    fs::copy(dir.path / "base", dir.path / name, fs::copy_options::recursive);
    return run_process({kTrainer, "--out", (dir.path / name).string(), "--only", "transformer",
                        "--transformer-steps", "3", "--checkpoint-every", "0", "--scene-reuse", reuse});
  };
  const auto once = retrain("once", "1"), first = retrain("first", "2"), second = retrain("second", "2");
  BOOST_TEST_REQUIRE(first.exit_code == 0, first.err);
  BOOST_TEST_REQUIRE(second.exit_code == 0, second.err);
  BOOST_TEST_REQUIRE(once.exit_code == 0, once.err);
  const genplug::flux::MiniModelFiles a{dir.path / "first"}, b{dir.path / "second"}, c{dir.path / "once"};
  BOOST_TEST(bytes(a.transformer()) == bytes(b.transformer()));
  BOOST_TEST(bytes(a.transformer()) != bytes(c.transformer()));

  const auto refused = run_process({kTrainer, "--out", (dir.path / "bad").string(), "--scene-reuse", "3"});
  BOOST_TEST(refused.exit_code == 2, refused.err);
  BOOST_TEST(refused.err.find("--scene-reuse 3 must divide --scenes 8") != std::string::npos, refused.err);
  BOOST_TEST(!fs::exists(dir.path / "bad"));
}

// --text-rate fine-tunes T5 with the transformer: the T5 file changes, deterministically, starting from the random
// weights of the seed (so a second --only transformer run on the same folder writes the same file), CLIP stays as
// written, and the plugin renders from the folder.
BOOST_AUTO_TEST_CASE(text_rate_trains_t5_deterministically) {
  genplug::test::TempDir dir("mini-text-rate");
  const auto base = train(dir.path / "base");
  BOOST_TEST_REQUIRE(base.exit_code == 0, base.err);
  const genplug::flux::MiniModelFiles frozen{dir.path / "base"}, tuned{dir.path / "tuned"};
  fs::copy(frozen.folder, tuned.folder, fs::copy_options::recursive);
  auto retrain = [&] {
    return run_process({kTrainer, "--out", tuned.folder.string(), "--only", "transformer", "--transformer-steps", "3",
                        "--checkpoint-every", "0", "--text-rate", "1e-3"});
  };
  const auto first = retrain();
  BOOST_TEST_REQUIRE(first.exit_code == 0, first.err);
  const std::string t5_once = bytes(tuned.t5()), transformer_once = bytes(tuned.transformer());
  const auto second = retrain();
  BOOST_TEST_REQUIRE(second.exit_code == 0, second.err);
  BOOST_TEST(bytes(tuned.t5()) == t5_once);
  BOOST_TEST(bytes(tuned.transformer()) == transformer_once);
  BOOST_TEST(t5_once != bytes(frozen.t5()));
  BOOST_TEST(bytes(tuned.clip()) == bytes(frozen.clip()));
  BOOST_TEST(transformer_once != bytes(frozen.transformer()));

  expect_default_sample_renders(tuned.folder, dir.path / "render.exr");
}

BOOST_AUTO_TEST_CASE(preset_mini_says_where_it_looked_when_the_model_is_missing) {
  genplug::test::TempDir dir("mini-missing");
  const fs::path nowhere = dir.path / "no-model-here";
  ::setenv("GENPLUG_MINI_MODEL", nowhere.c_str(), 1);
  const auto r = run_process({kGenplug, "run", kDefault, "--progress", "none", "--set",
                              "jobs.0.output=\"" + (dir.path / "x.exr").string() + "\""});
  ::unsetenv("GENPLUG_MINI_MODEL");
  BOOST_TEST(r.exit_code == 3, r.err);  // a config error, before anything renders
  BOOST_TEST(r.err.find("GENPLUG_MINI_MODEL is '" + nowhere.string() + "'") != std::string::npos, r.err);
  BOOST_TEST(!fs::exists(dir.path / "x.exr"));
}
