// genplug-scenes end to end: it writes the listed files, the list holds each seed's prompt, PNG and EXR
// renders are what they should be, and --check passes on exact renders.
#define BOOST_TEST_MODULE mini_scenes_cli
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <genplug/host/exr_writer.hpp>

#include "scene.hpp"
#include "scene_sampler.hpp"

namespace fs = std::filesystem;

namespace {

int run(const std::string& args) {
  const std::string cmd = std::string(GENPLUG_BINARY_DIR) + "/bin/genplug-scenes " + args + " > /dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

fs::path fresh_folder(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

}  // namespace

BOOST_AUTO_TEST_CASE(writes_prompts_and_renders) {
  const fs::path dir = fresh_folder("genplug-scenes-test");
  BOOST_REQUIRE_EQUAL(run("--out " + dir.string() + " --count 5 --first-seed 10 --width 80 --height 48 --sheet --check"), 0);
  std::ifstream list(dir / "scenes.tsv");
  std::string line;
  std::getline(list, line);
  BOOST_TEST(line == "seed\tfile\tprompt");
  for (int seed = 10; seed < 15; ++seed) {
    BOOST_REQUIRE(std::getline(list, line));
    const std::string file = "scene-" + std::to_string(seed) + ".png";
    BOOST_TEST(line == std::to_string(seed) + "\t" + file + "\t" + genplug::mini::prompt_of(genplug::mini::sample_scene(seed)));
    std::ifstream png(dir / file, std::ios::binary);
    char magic[8] = {};
    png.read(magic, 8);
    BOOST_TEST(std::string(magic + 1, 3) == "PNG");
  }
  BOOST_TEST(fs::exists(dir / "sheet.png"));
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(writes_exr_with_the_prompt_and_rejects_bad_options) {
  const fs::path dir = fresh_folder("genplug-scenes-exr");
  BOOST_REQUIRE_EQUAL(run("--out " + dir.string() + " --count 1 --first-seed 3 --width 7 --height 5 --format exr"), 0);
  std::map<std::string, std::string> attributes;
  const genplug::host::ImageRGB image = genplug::host::read_exr(dir / "scene-3.exr", &attributes);
  BOOST_TEST(image.width == 7);
  BOOST_TEST(image.height == 5);
  BOOST_TEST(attributes["genplug.prompt"] == genplug::mini::prompt_of(genplug::mini::sample_scene(3)));
  BOOST_TEST(attributes["genplug.seed"] == "3");
  BOOST_TEST(run("--out " + dir.string() + " --format jpeg") != 0);
  BOOST_TEST(run("--count 3") != 0);  // --out is required
  fs::remove_all(dir);
}
