// The FLUX inspector keeps the file its probe read for the inspect that follows (a large header is parsed once),
// and only while the path still names that file: a file replaced between the two calls is read again.
#define BOOST_TEST_MODULE inspector_reuse
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include <genplug/host/plugin_catalog.hpp>
#include <genplug/safetensors.hpp>
#include <nlohmann/json.hpp>

#include "temp_dir.hpp"

namespace fs = std::filesystem;
namespace st = genplug::safetensors;
using nlohmann::json;

namespace {

constexpr const char* kInspector = "org.genplug.flux.inspect";

struct Fixture {
  genplug::test::TempDir dir{"inspector-reuse"};
  genplug::host::PluginCatalog catalog{{{fs::path(GENPLUG_INSPECT_PLUGIN)}, {}, {}}};
  genplug::CallContext ctx;

  fs::path write(const std::string& file, const std::string& tensor, int64_t n) const {
    st::write_file(dir.path / file, {st::TensorData::from_floats(tensor, {n}, std::vector<float>(n, 0.25f))});
    return dir.path / file;
  }
  genplug::InspectorProxy inspector() { return catalog.create_inspector(kInspector, json::object(), ctx); }
};

bool names(const std::string& report, const std::string& tensor) { return report.find(tensor) != std::string::npos; }

}  // namespace

BOOST_FIXTURE_TEST_CASE(a_probed_file_is_reported_as_a_fresh_inspector_reports_it, Fixture) {
  const fs::path file = write("w.safetensors", "first_tensor", 3);
  const std::string fresh = inspector().inspect(file, ctx);
  genplug::InspectorProxy probed = inspector();
  BOOST_TEST(probed.probe(file, ctx) == 10u);  // valid safetensors, no FLUX keys
  BOOST_TEST(probed.inspect(file, ctx) == fresh);
  BOOST_TEST(names(fresh, "first_tensor"));
}

BOOST_FIXTURE_TEST_CASE(a_file_replaced_between_probe_and_inspect_is_read_again, Fixture) {
  const fs::path file = write("w.safetensors", "first_tensor", 3);
  const fs::path other = write("other.safetensors", "second_tensor", 5);
  genplug::InspectorProxy inspector = this->inspector();
  BOOST_REQUIRE(inspector.probe(file, ctx) > 0u);
  fs::rename(other, file);  // a new inode under the probed path
  const std::string report = inspector.inspect(file, ctx);
  BOOST_TEST(names(report, "second_tensor"), report);
  BOOST_TEST(!names(report, "first_tensor"), report);
}

BOOST_FIXTURE_TEST_CASE(an_inspect_of_another_path_reads_that_path, Fixture) {
  const fs::path probed = write("a.safetensors", "first_tensor", 3);
  const fs::path asked = write("b.safetensors", "second_tensor", 5);
  genplug::InspectorProxy inspector = this->inspector();
  BOOST_REQUIRE(inspector.probe(probed, ctx) > 0u);
  const std::string report = inspector.inspect(asked, ctx);
  BOOST_TEST(names(report, "second_tensor"), report);
  BOOST_TEST(!names(report, "first_tensor"), report);
  // What the probe kept is given up by the first inspect: a second one of the probed path reads it anew.
  BOOST_TEST(names(inspector.inspect(probed, ctx), "first_tensor"));
}

// The tokenize extension's config refuses a key given twice, as the plugin's other configs do (JSON keeps the last
// value only, and the first was meant too).
BOOST_FIXTURE_TEST_CASE(a_tokenize_config_that_gives_a_key_twice_is_refused, Fixture) {
  genplug::InspectorProxy inspector = this->inspector();
  const auto* table =
      static_cast<const genplug_inspector_tokenize_t*>(inspector.extension(GENPLUG_EXT_INSPECTOR_TOKENIZE));
  BOOST_REQUIRE(table);
  genplug::CallContext call;
  const char* out = nullptr;
  const genplug_status s = table->tokenize(inspector.raw(), R"({"clip_tokenizer": "a", "clip_tokenizer": "b"})",
                                           "a red house", &out, call.get());
  BOOST_TEST(s == GENPLUG_E_CONFIG);
  BOOST_TEST(call.error().find("text: the key \"clip_tokenizer\" appears twice in one object") != std::string::npos,
             call.error());
}
