// The DyPE plugin through its C entry (dlopen of the built library, SDK host proxies): entry and descriptor,
// create errors naming the config field, compute over every golden case, and query validation statuses.
#define BOOST_TEST_MODULE dype_plugin
#include <boost/test/unit_test.hpp>

#include <cstring>

#include <genplug/dype/config.hpp>

#include "dype_support.hpp"

using namespace dype_test;
namespace dype = genplug::dype;

namespace {

struct Fixture {
  LoadedPlugin plugin = LoadedPlugin::built();
};

// Raw compute call: returns the status and the error message.
struct RawResult {
  genplug_status status;
  std::string message;
};
RawResult raw_compute(const genplug::PosencProxy& p, const genplug_posenc_query_t* q, genplug_spectrum_t* out) {
  genplug::CallContext ctx;
  const genplug_status s = p.raw()->compute(p.raw(), q, out, ctx.get());
  return {s, ctx.error()};
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(c_entry, Fixture)

BOOST_AUTO_TEST_CASE(entry_and_descriptor) {
  const genplug_entry_t& e = plugin.entry();
  BOOST_CHECK_EQUAL(e.abi_major, unsigned(GENPLUG_ABI_MAJOR));
  BOOST_CHECK_GE(e.struct_size, sizeof(genplug_entry_t));
  BOOST_CHECK(e.get_factory(GENPLUG_KIND_SCHEDULER) == nullptr);
  BOOST_CHECK(e.get_factory(GENPLUG_KIND_MODEL) == nullptr);
  const genplug_factory_t* f = plugin.posenc_factory();
  BOOST_REQUIRE(f);
  BOOST_REQUIRE_EQUAL(f->count(f), 1u);
  BOOST_CHECK(f->descriptor(f, 1) == nullptr);
  const genplug_descriptor_t* d = f->descriptor(f, 0);
  BOOST_REQUIRE(d);
  BOOST_CHECK_EQUAL(std::string(d->id), "org.genplug.dype");
  BOOST_CHECK_EQUAL(std::string(d->config_schema), dype::config_schema());
  BOOST_CHECK_NO_THROW(json::parse(d->config_schema));
  bool dynamic = false;
  for (const char* const* f = d->features; *f; ++f) dynamic |= std::strcmp(*f, "dynamic") == 0;
  BOOST_CHECK(dynamic);
}

BOOST_AUTO_TEST_CASE(bad_configs_fail_at_create_naming_the_field) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"method":"warp"})", "config.method"},
      {R"({"lambda_s":-1})", "config.lambda_s: must be >= 0, got -1"},
      {R"({"beta_0":0.5})", "config.beta_1"},
      {R"({"gamma_0":1})", "config.gamma_1"},
      {R"({"lambda_t":"two"})", "config.lambda_t"},
      {R"({"isotropic":1})", "config.isotropic"},
      {R"({"extra":1})", "config.extra"},
  };
  for (const auto& [config, needle] : cases) {
    genplug::CallContext ctx;
    genplug::PosencProxy p;
    const genplug_status s = plugin.try_create("org.genplug.dype", config, ctx, &p);
    BOOST_CHECK_EQUAL(s, GENPLUG_E_CONFIG);
    BOOST_CHECK(!p);
    BOOST_CHECK_MESSAGE(ctx.error().find(needle) != std::string::npos, config << " -> " << ctx.error());
  }
  genplug::CallContext ctx;
  BOOST_CHECK_EQUAL(plugin.try_create("org.genplug.nope", "{}", ctx, nullptr), GENPLUG_E_INVALID_ARGUMENT);
  BOOST_CHECK_NE(ctx.error().find("org.genplug.nope"), std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_golden_case_through_the_c_entry) {
  const json doc = genplug::test::read_json(genplug::test::golden("dype/cases.json"));
  const dype::Layout layout = golden_layout(doc.at("meta"));
  const genplug::RotaryLayout host = host_layout(layout);
  double worst = 0.0;
  std::size_t checked = 0;
  for (const json& c : doc.at("cases")) {
    if (in_documented_deviation(c, layout)) continue;  // test_dype_golden counts them
    ++checked;
    const auto proxy = plugin.create(json{{"method", c.at("method")}}.dump());
    genplug::CallContext ctx;
    const genplug::Spectrum s = proxy.compute(host, golden_target(c), c.at("t").get<double>(), ctx);
    std::size_t offset = 0;
    for (std::size_t a = 0; a < layout.axis_dims.size(); ++a) {
      const std::string key = "axis" + std::to_string(a);
      const auto expected = c.at("expected").at(key + "_freqs").get<std::vector<double>>();
      BOOST_REQUIRE_EQUAL(expected.size(), layout.axis_dims[a] / 2);
      for (std::size_t j = 0; j < expected.size(); ++j) {
        const double e = relative_error(s.freqs[offset + j], expected[j]);
        worst = std::max(worst, e);
        BOOST_CHECK_MESSAGE(e <= 1e-12, describe(c) << " " << key << "[" << j << "] off by " << e);
      }
      offset += expected.size();
      const double e = relative_error(s.amplitude[a], c.at("expected").at(key + "_mscale").get<double>());
      worst = std::max(worst, e);
      BOOST_CHECK_MESSAGE(e <= 1e-12, describe(c) << " " << key << " mscale off by " << e);
    }
  }
  BOOST_TEST_MESSAGE("C entry: largest relative error over " << checked << " golden cases " << worst);
  BOOST_TEST(checked > 0u);
}

BOOST_AUTO_TEST_CASE(bad_queries_return_statuses_with_messages) {
  const auto proxy = plugin.create("{}");
  std::vector<uint32_t> dims = {16, 56, 56}, base = {1, 64, 64}, target = {1, 128, 128};
  genplug_rotary_layout_t layout{sizeof(genplug_rotary_layout_t), 3, dims.data(), 10000.0, base.data(), 16};
  genplug_posenc_query_t q{sizeof(genplug_posenc_query_t), &layout, target.data(), 0.5};
  std::vector<double> freqs(64, -1.0), amplitude(3, -1.0);
  genplug_spectrum_t out{sizeof(genplug_spectrum_t), freqs.data(), 64, amplitude.data(), 3, 0};

  BOOST_CHECK_EQUAL(raw_compute(proxy, &q, &out).status, GENPLUG_OK);
  BOOST_CHECK_GT(amplitude[1], 1.0);

  auto expect = [&](genplug_status code, const std::string& needle) {
    const RawResult r = raw_compute(proxy, &q, &out);
    BOOST_CHECK_EQUAL(r.status, code);
    BOOST_CHECK_MESSAGE(r.message.find(needle) != std::string::npos, "'" << r.message << "' lacks '" << needle << "'");
  };
  dims[2] = 55;
  expect(GENPLUG_E_INVALID_ARGUMENT, "layout.axis_dims[2]");
  dims[2] = 56;
  target[1] = 0;
  expect(GENPLUG_E_INVALID_ARGUMENT, "query.target_extent[1]");
  target[1] = 128;
  q.t = 1.25;
  expect(GENPLUG_E_INVALID_ARGUMENT, "query.t");
  q.t = 0.5;
  out.freq_capacity = 63;
  expect(GENPLUG_E_BUFFER_TOO_SMALL, "64 needed");
  out.freq_capacity = 64;
  out.amplitude_capacity = 1;
  expect(GENPLUG_E_BUFFER_TOO_SMALL, "3 needed");
  out.amplitude_capacity = 3;
  q.struct_size = 8;
  expect(GENPLUG_E_INVALID_ARGUMENT, "query.struct_size");
  q.struct_size = sizeof(q);
  q.layout = nullptr;
  expect(GENPLUG_E_INVALID_ARGUMENT, "query.layout");
  q.layout = &layout;
  genplug::CallContext ctx;
  BOOST_CHECK_EQUAL(proxy.raw()->compute(proxy.raw(), nullptr, &out, ctx.get()), GENPLUG_E_INVALID_ARGUMENT);
  BOOST_CHECK_EQUAL(raw_compute(proxy, &q, &out).status, GENPLUG_OK);  // still usable after errors
  // A dynamic factor s^kappa beyond a double (a lambda_s the schema takes): refused, not every frequency but f_0
  // silently 0. The default lambda_s at the same query computes.
  for (const char* method : {"dy-ntk", "dy-pi"}) {
    const auto huge = plugin.create(std::string(R"({"lambda_s": 65536, "method": ")") + method + "\"}");
    const RawResult r = raw_compute(huge, &q, &out);
    BOOST_CHECK_EQUAL(r.status, GENPLUG_E_INVALID_ARGUMENT);
    BOOST_CHECK_MESSAGE(r.message.find("config.lambda_s: 65536 is too large for this size") != std::string::npos,
                        method << ": " << r.message);
    BOOST_CHECK_EQUAL(raw_compute(plugin.create(std::string(R"({"method": ")") + method + "\"}"), &q, &out).status,
                      GENPLUG_OK);
  }
}

BOOST_AUTO_TEST_SUITE_END()
