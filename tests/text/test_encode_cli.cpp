#define BOOST_TEST_MODULE encode_cli
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <genplug/flux/text_conditioner.hpp>

#include "golden.hpp"
#include "text_test_util.hpp"
#include "tiny_text_files.hpp"

namespace fs = std::filesystem;
namespace utf = boost::unit_test;

namespace {

fs::path cli() { return fs::path(GENPLUG_BINARY_DIR) / "bin" / "genplug"; }
fs::path flux_plugin() { return genplug::test::plugin_build_dir() / "libgenplug_flux.so"; }

struct CliBuilt {
  boost::test_tools::assertion_result operator()(utf::test_unit_id) const {
    boost::test_tools::assertion_result r(fs::exists(cli()) && fs::exists(flux_plugin()));
    if (!r) r.message() << "SKIPPED: build the genplug and genplug_flux targets first (" << cli() << ", " << flux_plugin() << ")";
    return r;
  }
};

// Runs the CLI with `args`; returns the exit code, stderr in *err.
int run(const std::string& args, std::string* err) {
  const fs::path err_file = fs::temp_directory_path() / ("genplug_encode_err_" + std::to_string(::getpid()));
  const std::string command = cli().string() + " --plugin-path " + genplug::test::plugin_build_dir().string() + " " +
                              args + " > /dev/null 2> " + err_file.string();
  const int status = std::system(command.c_str());
  std::ifstream in(err_file);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (err) *err = ss.str();
  fs::remove(err_file);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

BOOST_AUTO_TEST_CASE(encode_writes_what_the_conditioner_computes, *utf::precondition(CliBuilt())) {
  const fs::path out = fs::temp_directory_path() / ("genplug_encode_" + std::to_string(::getpid()) + ".safetensors");
  std::string err;
  const int code = run("encode --random --max-length 20 --context-dim 48 --vec-dim 32 -p 'a lighthouse at dusk' -o " +
                           out.string() + " --force",
                       &err);
  BOOST_REQUIRE_MESSAGE(code == 0, "genplug encode failed (" << code << "): " << err);
  const auto file = genplug::safetensors::File::open(out);
  BOOST_TEST(file->metadata().at("prompt") == "a lighthouse at dusk");
  const torch::Tensor txt = genplug::test::to_torch(file->at("txt"));
  const torch::Tensor vec = genplug::test::to_torch(file->at("vec"));
  BOOST_TEST(txt.sizes() == torch::IntArrayRef({1, 20, 48}));
  BOOST_TEST(vec.sizes() == torch::IntArrayRef({1, 32}));

  // The same text config in-process gives the same tensors; the reader accepts the file.
  auto cond = genplug::flux::TextConditioner::create({{"random", true}, {"max_length", 20}}, 48, 32, torch::kCPU,
                                                     torch::kFloat32, nullptr);
  const auto expected = cond->encode("a lighthouse at dusk");
  BOOST_TEST(torch::allclose(txt, expected.txt, 1e-6, 1e-6));
  BOOST_TEST(torch::allclose(vec, expected.vec, 1e-6, 1e-6));
  const auto read = genplug::flux::read_conditioning_file(out, 48, 32, torch::kCPU, torch::kFloat32);
  BOOST_TEST(torch::equal(read.txt, txt));

  // An existing file is not overwritten without --force; an invalid UTF-8 prompt is a clear error.
  BOOST_TEST(run("encode --random -p x -o " + out.string(), &err) != 0);
  BOOST_TEST(err.find("exists") != std::string::npos, err);
  BOOST_TEST(run("encode --random -p \"$(printf 'caf\\351')\" -o " + out.string() + " --force", &err) == 2);  // usage
  BOOST_TEST(err.find("not valid UTF-8") != std::string::npos, err);
  BOOST_TEST(run("encode --random -p x --max-length 0 -o " + out.string() + " --force", &err) == 2);
  fs::remove(out);
}

BOOST_AUTO_TEST_CASE(encode_with_real_tokenizers_and_encoders, *utf::precondition(CliBuilt())) {
  // The tiny golden T5 and CLIP with their tokenizer files, through the plugin's config.text.
  genplug::test::TinyFiles files;
  const fs::path config = files.dir / "text.json";
  std::ofstream(config) << files.config(16).dump();
  const fs::path out = files.dir / "cond.safetensors";
  std::string err;
  const std::string dims = " --context-dim " + std::to_string(files.t5_width) + " --vec-dim " + std::to_string(files.clip_width);
  const int code = run("encode --text @" + config.string() + dims + " -p 'a red house' -o " + out.string(), &err);
  BOOST_REQUIRE_MESSAGE(code == 0, "genplug encode failed (" << code << "): " << err);
  const auto read = genplug::flux::read_conditioning_file(out, files.t5_width, files.clip_width, torch::kCPU, torch::kFloat32);
  auto cond = genplug::flux::TextConditioner::create(files.config(16), files.t5_width, files.clip_width, torch::kCPU,
                                                     torch::kFloat32, nullptr);
  const auto expected = cond->encode("a red house");
  BOOST_TEST(read.txt.sizes() == torch::IntArrayRef({1, 16, files.t5_width}));
  BOOST_TEST(torch::allclose(read.txt, expected.txt, 1e-6, 1e-6));
  BOOST_TEST(torch::allclose(read.vec, expected.vec, 1e-6, 1e-6));

  // A tokenizer that does not fit the encoder fails with the reason.
  BOOST_TEST(run("encode --text @" + config.string() + " --clip-tokenizer " + (files.dir / "spiece.model").string() +
                     dims + " -p x -o " + out.string() + " --force",
                 &err) != 0);
  BOOST_TEST(err.find("CLIP tokenizer") != std::string::npos, err);
}
