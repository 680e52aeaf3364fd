// `genplug schedule` end to end: the CLI binary, the host's plugin catalog and the flowmatch plugin print
// the golden BFL schedules exactly, and bad input fails with the documented exit code and a clear message.
#define BOOST_TEST_MODULE flowmatch_cli
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "golden.hpp"
#include "torch_schedule_replay.hpp"

using namespace genplug::test;
using nlohmann::json;

namespace {

struct Output {
  int exit_code = -1;
  std::string out, err;
};

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Output run_schedule(const std::string& args) {
  const std::filesystem::path err_file =
      std::filesystem::temp_directory_path() / ("flowmatch_cli_" + std::to_string(::getpid()) + ".err");
  const std::string cmd = quoted(std::string(GENPLUG_BINARY_DIR) + "/bin/genplug") + " --plugin-path " +
                          quoted(plugin_build_dir().string()) + " schedule " + args + " 2>" + quoted(err_file.string());
  Output o;
  FILE* pipe = popen(cmd.c_str(), "r");
  BOOST_REQUIRE(pipe);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) o.out.append(buf, n);
  const int status = pclose(pipe);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  std::stringstream ss;
  ss << in.rdbuf();
  o.err = ss.str();
  std::filesystem::remove(err_file);
  return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(prints_the_golden_bfl_schedules) {
  const json golden_set = read_json(golden("schedule/schedules.json"));
  for (const json& e : golden_set.at("bfl_get_schedule")) {
    const json config = e.at("shift").get<bool>()
                            ? json{{"base_shift", e.at("base_shift")}, {"max_shift", e.at("max_shift")}}
                            : json{{"schedule", "none"}};
    const Output o = run_schedule("--config " + quoted(config.dump()) + " --steps " + e.at("num_steps").dump() +
                                  " --image-tokens " + e.at("image_seq_len").dump());
    BOOST_TEST_CONTEXT(e.at("num_steps") << " steps, " << e.at("image_seq_len") << " tokens") {
      BOOST_REQUIRE_MESSAGE(o.exit_code == 0, o.err);
      const json printed = json::parse(o.out);
      // The set's values, or torch's AVX2 kernel's where the set came from another (torch_schedule_replay.hpp).
      double mu = 0;
      const auto sigmas = plugin_sigmas_for(e.at("sigmas").get<std::vector<double>>(), e.at("num_steps"),
                                            entry_mu(e, mu));
      BOOST_REQUIRE_MESSAGE(!sigmas.empty(), "no torch kernel's linspace gives the set's sigmas");
      BOOST_TEST(printed.at("sigmas").get<std::vector<double>>() == sigmas, boost::test_tools::per_element());
      BOOST_TEST(printed.at("evaluations").get<uint64_t>() == e.at("num_steps").get<uint64_t>());  // Euler
      // BFL's float32 schedule at a large mu repeats values (zero-length steps): run, and warned about once.
      size_t zero_length = 0;
      for (size_t i = 1; i < sigmas.size(); ++i) zero_length += sigmas[i] == sigmas[i - 1];
      const std::string warning = std::to_string(zero_length) + " of " + e.at("num_steps").dump() +
                                  " steps have zero length";
      size_t warnings = 0;
      for (size_t at = o.err.find("zero length"); at != std::string::npos; at = o.err.find("zero length", at + 1))
        ++warnings;
      BOOST_TEST(warnings == (zero_length ? 1u : 0u), o.err);
      if (zero_length) BOOST_TEST(o.err.find(warning) != std::string::npos, o.err);
    }
  }
}

BOOST_AUTO_TEST_CASE(heun_reports_its_evaluations) {
  const Output o = run_schedule("--config '{\"sampler\":\"heun\"}' --steps 28 --image-tokens 4096");
  BOOST_REQUIRE_MESSAGE(o.exit_code == 0, o.err);
  BOOST_TEST(json::parse(o.out).at("evaluations").get<uint64_t>() == 55u);
}

BOOST_AUTO_TEST_CASE(bad_input_fails_clearly) {
  struct Case {
    std::string args;
    int exit_code;
    std::string message;  // part of stderr
  };
  const std::vector<Case> cases = {
      {"--config '{\"sampler\":\"lms\"}' --steps 4 --image-tokens 4096", 2, "sampler"},
      {"--config '{\"schedule\":\"custom\",\"sigmas\":[1,0.5,0.7,0]}' --steps 3 --image-tokens 1", 2, "config.sigmas[2]"},
      {"--config '[1' --steps 4 --image-tokens 4096", 2, "--config"},
      {"--steps 4 --image-tokens -1", 2, "--image-tokens: must be 1 or more, got -1"},
      {"--steps 4 --image-tokens 0", 2, "--image-tokens: must be 1 or more, got 0"},  // no image has none
      {"--steps -1 --image-tokens 16", 2, "--steps: must be 0 or more, got -1"},
      // Decimal digits only: CLI11 alone read 0x10 as 16 (and 010 as octal 8), and '' as 0.
      {"--steps 4 --image-tokens 0x10", 2, "--image-tokens: must be a whole number in decimal digits, got '0x10'"},
      {"--steps '' --image-tokens 16", 2, "--steps: must be a whole number in decimal digits, got ''"},
      {"--steps 4 --image-tokens 1e3", 2, "got '1e3'"},
      // Past the option's type: said so (CLI11 had saturated a uint64_t at 2^64 - 1 and said "Could not convert"
      // for a uint32_t).
      {"--steps 4 --image-tokens 18446744073709551616", 2,
       "--image-tokens: must be from 1 to 18446744073709551615, got 18446744073709551616"},
      {"--steps 4294967296 --image-tokens 4096", 2, "--steps: must be at most 4294967295, got 4294967296"},
      // The type's largest values pass the command line; the plugin then says what it takes.
      {"--steps 4294967295 --image-tokens 4096", 2, "steps: at most 1000000, got 4294967295"},
      {"--steps 4 --image-tokens 18446744073709551615", 2, "image_tokens: 18446744073709551615 tokens give mu"},
      {"--steps 0 --image-tokens 4096", 2, "steps"},
      {"--steps 1000000000 --image-tokens 4096", 2, "steps"},  // refused before any buffer of that size exists
      {"--image-tokens 4096", 2, "--steps"},
      {"--plugin org.example.missing --steps 4 --image-tokens 4096", 4, "org.example.missing"},
  };
  for (const Case& c : cases) {
    const Output o = run_schedule(c.args);
    BOOST_TEST(o.exit_code == c.exit_code, c.args << ": " << o.err);
    BOOST_TEST(o.err.find(c.message) != std::string::npos, c.args << ": \"" << o.err << "\" lacks " << c.message);
    BOOST_TEST(o.out.empty(), c.args);
  }
  // A leading zero is a decimal number's, not an octal prefix.
  const Output padded = run_schedule("--steps 010 --image-tokens 01000"), plain = run_schedule("--steps 10 --image-tokens 1000");
  BOOST_TEST(padded.exit_code == 0, padded.err);
  BOOST_TEST(!plain.out.empty());
  BOOST_TEST(padded.out == plain.out);
}
