// `genplug posenc` end to end: the printed spectrum equals the golden values (one case per method, read from
// golden dype/cases.json) to 1e-12, and bad input exits with the usage / plugin codes and a clear message.
#define BOOST_TEST_MODULE dype_cli
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <map>

#include "dype_support.hpp"

using namespace dype_test;

namespace {

struct Run {
  int exit_code = -1;
  std::string out;
};

// Runs genplug with `args` (shell-quoted by the caller); stderr is merged into out.
Run genplug_cli(const std::string& args) {
  const std::string cmd = std::string(GENPLUG_BINARY_DIR) + "/bin/genplug --plugin-path '" +
                          genplug::test::plugin_build_dir().string() + "/libgenplug_dype.so' " + args + " 2>&1";
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  BOOST_REQUIRE_MESSAGE(p, "cannot run " << cmd);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(printed_spectrum_matches_golden_cases) {
  const json doc = genplug::test::read_json(genplug::test::golden("dype/cases.json"));
  std::map<std::string, json> one_per_method;  // the non-square, most-scaled case of each method
  const genplug::dype::Layout golden = golden_layout(doc.at("meta"));
  for (const json& c : doc.at("cases")) {
    if (in_documented_deviation(c, golden)) continue;  // test_dype_golden counts them
    const std::string m = c.at("method").get<std::string>();
    const double score = c.at("s_h").get<double>() + c.at("s_w").get<double>() +
                         (c.at("s_h") != c.at("s_w") ? 100.0 : 0.0) + (c.at("t").get<double>() < 1.0 ? 10.0 : 0.0);
    auto it = one_per_method.find(m);
    if (it == one_per_method.end() || score > it->second.at("score").get<double>()) {
      json copy = c;
      copy["score"] = score;
      one_per_method[m] = copy;
    }
  }
  BOOST_REQUIRE(!one_per_method.empty());
  const json& meta = doc.at("meta");
  const std::string layout = json{{"axis_dims", meta.at("axes_dim")},
                                  {"theta", meta.at("theta")},
                                  {"base_extent", json::array({1, meta.at("base_patches"), meta.at("base_patches")})},
                                  {"pixels_per_token", meta.at("patch_px")}}
                                 .dump();
  for (const auto& [method, c] : one_per_method) {
    const Run r = genplug_cli("posenc --config '{\"method\":\"" + method + "\"}' --layout '" + layout +
                              "' --height " + c.at("height_px").dump() + " --width " + c.at("width_px").dump() +
                              " --t " + c.at("t").dump());
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, describe(c) << ": exit " << r.exit_code << ": " << r.out);
    const json out = json::parse(r.out);
    const json& axes = out.at("axes");
    BOOST_REQUIRE_EQUAL(axes.size(), meta.at("axes_dim").size());
    for (std::size_t a = 0; a < axes.size(); ++a) {
      const std::string key = "axis" + std::to_string(a);
      BOOST_CHECK_EQUAL(axes[a].at("dim"), meta.at("axes_dim")[a]);
      const auto got = axes[a].at("freqs").get<std::vector<double>>();
      const auto expected = c.at("expected").at(key + "_freqs").get<std::vector<double>>();
      BOOST_REQUIRE_EQUAL(got.size(), expected.size());
      for (std::size_t j = 0; j < got.size(); ++j)
        BOOST_CHECK_MESSAGE(relative_error(got[j], expected[j]) <= 1e-12, describe(c) << " " << key << "[" << j << "]");
      BOOST_CHECK_LE(relative_error(axes[a].at("mscale").get<double>(), c.at("expected").at(key + "_mscale").get<double>()),
                     1e-12);
    }
  }
}

// `item` n times, comma-separated: a JSON array's elements.
std::string repeated(const std::string& item, int n) {
  std::string s = item;
  for (int i = 1; i < n; ++i) s += "," + item;
  return s;
}

// FLUX.1's layout as shipped in samples/layouts/flux.json: height and width go to the two spatial axes.
const std::string kFluxLayout = " --layout @" GENPLUG_SOURCE_DIR "/samples/layouts/flux.json";

BOOST_AUTO_TEST_CASE(flux_layout_file) {
  const Run r = genplug_cli("posenc --height 2048 --width 1024 --t 1" + kFluxLayout);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.out);
  const json axes = json::parse(r.out).at("axes");
  BOOST_REQUIRE_EQUAL(axes.size(), 3u);
  BOOST_CHECK_EQUAL(axes[0].at("dim"), 16);
  BOOST_CHECK_EQUAL(axes[1].at("dim"), 56);
  BOOST_CHECK_EQUAL(axes[1].at("mscale").get<double>(), 0.1 * std::log(2.0) + 1.0);  // dy-yarn, s_h = 2
  BOOST_CHECK_EQUAL(axes[2].at("mscale").get<double>(), 1.0);                        // 1024 px: untouched
  // The same size as --extent, comma separated, space separated or repeated.
  for (const char* extent : {"--extent 1,128,64", "--extent 1 128 64", "--extent 1 --extent 128 --extent 64"}) {
    const Run e = genplug_cli(std::string("posenc --t 1 ") + extent + kFluxLayout);
    BOOST_TEST(e.exit_code == 0, extent << ": " << e.out);
    BOOST_TEST(e.out == r.out, extent);
  }
}

BOOST_AUTO_TEST_CASE(bad_input_exits_with_a_clear_message) {
  const std::pair<std::string, std::string> usage[] = {
      {"posenc --config '{\"lambda_s\":-1}' --height 4096 --width 4096" + kFluxLayout, "lambda_s"},
      {"posenc --config '{\"method\":\"warp\"}' --height 4096 --width 4096" + kFluxLayout, "method"},
      {"posenc --config 'not json' --height 4096 --width 4096" + kFluxLayout, "--config"},
      {"posenc --height 4096 --width 4096 --t 1.5" + kFluxLayout, "--t"},
      {"posenc --layout '{\"axis_dims\":[16,55,56],\"theta\":10000,\"base_extent\":[1,64,64],\"pixels_per_token\":16}'"
       " --height 4096 --width 4096", "axis_dims[1]"},
      {"posenc --layout '{\"heads\":3}' --height 4096 --width 4096", "--layout.heads"},
      // Bounded before the spectrum's buffers are allocated (2e9 dims had taken 8 GB before DyPE refused them).
      {"posenc --layout '{\"axis_dims\":[2000000000],\"theta\":10000,\"base_extent\":[64],\"pixels_per_token\":16}'"
       " --extent 64", "--layout.axis_dims[0]: must be <= 65536, got 2000000000"},
      {"posenc --layout '{\"axis_dims\":[16,56,56]}' --height 4096 --width 4096", "--layout.theta: missing"},
      // Any per-axis array is refused by its length before its elements are read (a 100 000-axis layout had taken
      // two minutes: each element's read copied the whole array).
      {"posenc --layout '{\"axis_dims\":[64],\"theta\":10000,\"base_extent\":[" + repeated("1", 65) +
           "],\"pixels_per_token\":16}' --extent 64",
       "--layout.base_extent: 1 to 64 axes, got 65"},
      {"posenc --layout '{\"axis_dims\":[64],\"theta\":10000,\"base_extent\":[64],\"pixels_per_token\":16,"
       "\"axis_flags\":[" + repeated("\"spatial\"", 5000) + "]}' --extent 64",
       "--layout.axis_flags: 1 to 64 axes, got 5000"},
      // Integers out of a uint32's range, or not integers, are refused, not wrapped or truncated.
      {"posenc --layout '{\"axis_dims\":[64],\"theta\":10000,\"base_extent\":[4294967360],\"pixels_per_token\":16}'"
       " --extent 64", "--layout.base_extent[0]: expected an integer from 0 to 4294967295, got 4294967360"},
      {"posenc --layout '{\"axis_dims\":[-2],\"theta\":10000,\"base_extent\":[64],\"pixels_per_token\":16}'"
       " --extent 64", "--layout.axis_dims[0]: expected an integer from 0 to 4294967295, got -2"},
      {"posenc --layout '{\"axis_dims\":[64],\"theta\":10000,\"base_extent\":[64],\"pixels_per_token\":1.5}'"
       " --extent 64", "--layout.pixels_per_token: expected an integer from 0 to 4294967295, got 1.5"},
      {"posenc --height 4096 --width 4096", "--layout is required"},
      {"posenc --layout @/nonexistent.json --height 4096 --width 4096", "cannot read"},
      {"posenc --height 4096" + kFluxLayout, "--width"},
      {"posenc --height 8 --width 4096" + kFluxLayout, "--height: 8 px is less than one of the layout's 16 px tokens"},
      {"posenc --height 0 --width 0" + kFluxLayout, "--height: 0 px is less than one"},
      // Not floored to the spectrum of another size: a render of that size is refused too.
      {"posenc --height 1024 --width 100" + kFluxLayout, "--width: 100 px is not a whole number of the layout's 16 px"
                                                          " tokens (96 or 112 is; --extent gives tokens)"},
      {"posenc --height 4294967295 --width 64" + kFluxLayout, "tokens (4294967280 is; --extent"},  // 2^32 is refused
      {"posenc --height '' --width 64" + kFluxLayout, "--height: must be a whole number in decimal digits, got ''"},
      {"posenc --height 0x40 --width 64" + kFluxLayout, "got '0x40'"},
      // Out of a uint32's range, or negative: said so, not CLI11's "Could not convert".
      {"posenc --height 4294967296 --width 64" + kFluxLayout, "--height: must be at most 4294967295, got 4294967296"},
      {"posenc --height -64 --width 64" + kFluxLayout, "--height: must be 0 or more, got -64"},
      // Each item of --extent as a whole-number option reads it; an empty one is refused, not skipped.
      {"posenc --extent 64,,64" + kFluxLayout, "--extent: item 2 must be a whole number in decimal digits, got ''"},
      {"posenc --extent 1,64,64," + kFluxLayout, "--extent: item 4 must be a whole number in decimal digits, got ''"},
      {"posenc --extent 1,64,0x40" + kFluxLayout, "--extent: item 3 must be a whole number in decimal digits"},
      {"posenc --extent 1,64,4294967296" + kFluxLayout, "--extent: item 3 must be at most 4294967295"},
      {"posenc --extent '' --extent 64 --extent 64" + kFluxLayout, "--extent: item 1 must be a whole number"},
      {"posenc --extent 1,64,64 --height 1024 --width 1024" + kFluxLayout,
       "--extent replaces --height/--width: give one or the other"},
      // Not a number in range: refused as given, not printed as null nor read as 0.
      {"posenc --height 4096 --width 4096 --t nan" + kFluxLayout, "--t: must be a number in [0, 1], got 'nan'"},
      {"posenc --height 4096 --width 4096 --t ''" + kFluxLayout, "--t: must be a number in [0, 1], got ''"},
      {"posenc --height 4096 --width 4096 --t 0.5x" + kFluxLayout, "got '0.5x'"},
      // A key given twice is refused, as in manifests (JSON would keep only the last).
      {"posenc --config '{\"method\":\"yarn\",\"method\":\"dy-yarn\"}' --height 4096 --width 4096" + kFluxLayout,
       "--config: the key \"method\" appears twice in one object"},
      {"posenc --height 4096 --width 4096 --layout '{\"axis_dims\":[64],\"theta\":1,\"theta\":2}'",
       "--layout: the key \"theta\" appears twice"},
  };
  for (const auto& [args, needle] : usage) {
    const Run r = genplug_cli(args);
    BOOST_CHECK_MESSAGE(r.exit_code == 2, args << " -> exit " << r.exit_code << ": " << r.out);
    BOOST_CHECK_MESSAGE(r.out.find(needle) != std::string::npos, args << " -> " << r.out);
  }
  const Run missing = genplug_cli("posenc --plugin org.example.none --height 4096 --width 4096" + kFluxLayout);
  BOOST_CHECK_EQUAL(missing.exit_code, 4);
  BOOST_CHECK_NE(missing.out.find("org.example.none"), std::string::npos);
}
