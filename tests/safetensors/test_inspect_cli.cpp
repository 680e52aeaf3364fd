#define BOOST_TEST_MODULE inspect_cli
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <memory>

#include <genplug/safetensors.hpp>
#include <nlohmann/json.hpp>

#include "golden.hpp"

namespace st = genplug::safetensors;

namespace {

// Runs `genplug <args>`; returns stdout and sets the exit status.
std::string run_cli(const std::string& args, int* status) {
  const std::string command = std::string("\"") + GENPLUG_CLI + "\" " + args + " 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  BOOST_REQUIRE(pipe);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe.get())) > 0) out.append(buf, n);
  const int rc = pclose(pipe.release());
  *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

nlohmann::json inspect_json(const std::string& file) {
  int status = 0;
  const std::string out = run_cli("inspect --json \"" + genplug::test::golden(file).string() + "\"", &status);
  BOOST_REQUIRE_EQUAL(status, 0);
  return nlohmann::json::parse(out);
}

}  // namespace

BOOST_AUTO_TEST_CASE(transformer_files_report_layout_and_the_golden_config) {
  const auto params = genplug::test::read_json(genplug::test::golden("flux/flux_tiny_info.json")).at("meta").at("params");
  for (const char* file : {"flux/flux_tiny_bfl.safetensors", "flux/flux_tiny_diffusers.safetensors"}) {
    BOOST_TEST_CONTEXT(file) {
      const auto j = inspect_json(file);
      const auto ckpt = st::Checkpoint(genplug::test::golden(file));
      BOOST_TEST(j.at("tensor_count").get<size_t>() == ckpt.tensors().size());
      BOOST_TEST(j.at("total_bytes").get<uint64_t>() == ckpt.total_bytes());
      BOOST_TEST(j.at("tensors").size() == ckpt.tensors().size());
      BOOST_REQUIRE_EQUAL(j.at("components").size(), 1u);
      const auto& c = j["components"][0];
      BOOST_TEST(c.at("kind").get<std::string>() == "flux-transformer");
      BOOST_TEST(c.at("layout").get<std::string>() ==
                 (std::string(file).find("diffusers") != std::string::npos ? "diffusers" : "bfl"));
      for (const char* field : {"in_channels", "out_channels", "vec_in_dim", "context_in_dim", "hidden_size",
                                "num_heads", "depth", "depth_single_blocks", "qkv_bias", "guidance_embed"})
        BOOST_TEST(c.at("config").at(field) == params.at(field), field);
    }
  }
}

BOOST_AUTO_TEST_CASE(vae_and_unknown_files) {
  const auto vae = inspect_json("vae/vae_tiny_bfl.safetensors");
  const auto params = genplug::test::read_json(genplug::test::golden("vae/vae_tiny_info.json")).at("params");
  BOOST_REQUIRE_EQUAL(vae.at("components").size(), 1u);
  BOOST_TEST(vae["components"][0].at("kind").get<std::string>() == "autoencoder");
  BOOST_TEST(vae["components"][0]["config"].at("z_channels") == params.at("z_channels"));
  BOOST_TEST(vae["components"][0]["config"].at("ch") == params.at("ch"));
  BOOST_TEST(vae["components"][0]["config"].at("ch_mult") == params.at("ch_mult"));
  const auto io = inspect_json("flux/flux_tiny_io.safetensors");
  BOOST_TEST(io.at("components").empty());
}

BOOST_AUTO_TEST_CASE(text_output_and_errors) {
  int status = 0;
  const std::string text =
      run_cli("inspect \"" + genplug::test::golden("flux/flux_tiny_bfl.safetensors").string() + "\"", &status);
  BOOST_TEST(status == 0);
  BOOST_TEST(text.find("layout: flux-transformer (bfl keys") != std::string::npos);
  BOOST_TEST(text.find("double_blocks.0.img_attn.qkv.weight") != std::string::npos);
  run_cli("inspect /nonexistent/genplug-test.safetensors", &status);
  BOOST_TEST(status == 5);  // runtime error, message on stderr
}
