// The C++ wrappers on both sides compile under -Wall -Wextra -Werror, and the plugin-side exception firewall
// turns every kind of exception into a status plus message.
#define BOOST_TEST_MODULE sdk_wrappers
#include <boost/test/unit_test.hpp>

#include <genplug/host.hpp>
#include <genplug/plugin.hpp>

namespace {

genplug_status run(std::function<void()> f, genplug::CallContext& ctx) {
  return genplug::guarded(ctx.get(), [&] { f(); });
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_firewall_maps_exceptions_to_status_and_message) {
  genplug::CallContext ctx;
  BOOST_TEST(run([] {}, ctx) == GENPLUG_OK);
  BOOST_TEST(run([] { throw genplug::ConfigError("config.x: bad"); }, ctx) == GENPLUG_E_CONFIG);
  BOOST_TEST(ctx.error() == "config.x: bad");
  BOOST_TEST(run([] { throw std::bad_alloc(); }, ctx) == GENPLUG_E_OUT_OF_MEMORY);
  BOOST_TEST(run([] { throw std::runtime_error("boom"); }, ctx) == GENPLUG_E_INTERNAL);
  BOOST_TEST(ctx.error() == "boom");
  BOOST_TEST(run([] { throw 42; }, ctx) == GENPLUG_E_INTERNAL);
  BOOST_TEST(!ctx.error().empty());
}

BOOST_AUTO_TEST_CASE(call_context_check_names_the_call_and_the_missing_message) {
  genplug::CallContext ctx;
  ctx.get();
  try {
    ctx.check(GENPLUG_E_DEVICE, "org.x: predict");
    BOOST_FAIL("no throw");
  } catch (const genplug::PluginError& e) {
    BOOST_TEST(std::string(e.what()) == "org.x: predict: device error (the plugin gave no message)");
    BOOST_TEST(e.code() == GENPLUG_E_DEVICE);
  }
}

BOOST_AUTO_TEST_CASE(progress_can_ask_to_stop_and_cancel_is_pollable) {
  genplug::CallContext ctx;
  std::atomic<bool> cancel{false};
  ctx.cancel_flag(&cancel);
  uint64_t seen = 0;
  ctx.on_progress([&](uint64_t done, uint64_t, const std::string&) {
    seen = done;
    return done >= 3;
  });
  genplug::Context plugin_side(ctx.get());
  BOOST_TEST(!plugin_side.progress(1, 5, "x"));
  BOOST_TEST(plugin_side.progress(3, 5, "x"));
  BOOST_TEST(seen == 3u);
  BOOST_TEST(!plugin_side.cancelled());
  cancel = true;
  BOOST_TEST(plugin_side.cancelled());
  BOOST_CHECK_THROW(plugin_side.check_cancelled(), genplug::Cancelled);
}

BOOST_AUTO_TEST_CASE(a_context_from_an_older_host_without_services_is_safe) {
  genplug_context_t old{};
  old.struct_size = offsetof(genplug_context_t, log);  // only set_error... not even that fits
  genplug::Context c(&old);
  c.info("ignored");
  BOOST_TEST(!c.progress(1, 2, "x"));
  BOOST_TEST(!c.cancelled());
  genplug::Context none(nullptr);
  none.set_error(GENPLUG_E_FAILED, "ignored");
  BOOST_TEST(!none.cancelled());
}

namespace {
class NullPosenc : public genplug::Posenc {
 public:
  int calls = 0;
  void compute(const genplug_posenc_query_t&, genplug_spectrum_t&, genplug::Context&) override { ++calls; }
};
}  // namespace

BOOST_AUTO_TEST_CASE(structs_too_small_for_what_the_plugin_reads_are_refused) {
  auto impl = std::make_unique<NullPosenc>();
  NullPosenc* raw = impl.get();
  auto* inst = new genplug::detail::PosencInstance(std::move(impl));
  genplug_posenc_t* p = &inst->c;
  const uint32_t dims[3] = {16, 56, 56}, base[3] = {1, 64, 64}, target[3] = {1, 64, 64};
  genplug_rotary_layout_t layout{sizeof(layout), 3, dims, 10000.0, base, 16, nullptr};
  genplug_posenc_query_t q{sizeof(q), &layout, target, 0.5};
  double freqs[64], amp[3];
  genplug_spectrum_t out{sizeof(out), freqs, 64, amp, 3, 0};
  genplug::CallContext ctx;
  BOOST_TEST(p->compute(p, &q, &out, ctx.get()) == GENPLUG_OK);
  BOOST_TEST(raw->calls == 1);
  q.struct_size = offsetof(genplug_posenc_query_t, t);  // a host built before `t` existed
  BOOST_TEST(p->compute(p, &q, &out, ctx.get()) == GENPLUG_E_INVALID_ARGUMENT);
  BOOST_TEST(ctx.error().find("query.struct_size") != std::string::npos);
  BOOST_TEST(raw->calls == 1);
  q.struct_size = sizeof(q);
  out.struct_size = 8;
  BOOST_TEST(p->compute(p, &q, &out, ctx.get()) == GENPLUG_E_INVALID_ARGUMENT);
  BOOST_TEST(ctx.error().find("spectrum.struct_size") != std::string::npos);
  p->destroy(p);
}

namespace {
genplug::PluginInfo info_with_id(const std::string& id) {
  genplug::PluginInfo info;
  info.id = id;
  info.config_schema = R"({"type": "object"})";
  return info;
}
auto no_posenc = [](const std::string&, genplug::Context&) { return std::unique_ptr<genplug::Posenc>(); };
auto no_scheduler = [](const std::string&, genplug::Context&) { return std::unique_ptr<genplug::Scheduler>(); };

void register_one_id_twice(genplug::Registry& r) {
  r.add_posenc(info_with_id("org.example.same"), no_posenc);
  r.add_scheduler(info_with_id("org.example.same"), no_scheduler);  // another kind: hosts still take it as taken
}
void register_without_id(genplug::Registry& r) { r.add_posenc(info_with_id(""), no_posenc); }
void register_two_ids(genplug::Registry& r) {
  r.add_posenc(info_with_id("org.example.one"), no_posenc);
  r.add_scheduler(info_with_id("org.example.two"), no_scheduler);
}
}  // namespace

// A library that adds one id twice, or none, fails its init with the reason, as a host would reject it anyway.
BOOST_AUTO_TEST_CASE(a_registry_refuses_an_id_twice_or_none_and_init_says_so) {
  genplug::CallContext ctx;
  using Twice = genplug::detail::EntryThunks<&register_one_id_twice>;
  BOOST_TEST(Twice::init("/x/libsame.so", ctx.get()) == GENPLUG_E_INVALID_ARGUMENT);
  BOOST_TEST(ctx.error() == "plugin id 'org.example.same' was added twice by this library");
  BOOST_TEST(Twice::get_factory(GENPLUG_KIND_POSENC) == nullptr);  // nothing registered, nothing to deinit
  using Unnamed = genplug::detail::EntryThunks<&register_without_id>;
  BOOST_TEST(Unnamed::init("/x/libunnamed.so", ctx.get()) == GENPLUG_E_INVALID_ARGUMENT);
  BOOST_TEST(ctx.error() == "a plugin was added without an id");

  using Two = genplug::detail::EntryThunks<&register_two_ids>;
  BOOST_TEST_REQUIRE(Two::init("/x/libtwo.so", ctx.get()) == GENPLUG_OK);
  const genplug_factory_t* posenc = Two::get_factory(GENPLUG_KIND_POSENC);
  const genplug_factory_t* scheduler = Two::get_factory(GENPLUG_KIND_SCHEDULER);
  BOOST_TEST_REQUIRE((posenc && scheduler));
  BOOST_TEST(posenc->count(posenc) == 1u);
  BOOST_TEST(std::string(posenc->descriptor(posenc, 0)->id) == "org.example.one");
  BOOST_TEST(std::string(scheduler->descriptor(scheduler, 0)->id) == "org.example.two");
  Two::deinit();
}

namespace {
class OtherPosenc : public genplug::Posenc {
 public:
  void compute(const genplug_posenc_query_t&, genplug_spectrum_t&, genplug::Context&) override {}
};
void register_null_posenc(genplug::Registry& r) {
  r.add_posenc(info_with_id("org.example.null"),
               [](const std::string&, genplug::Context&) { return std::make_unique<NullPosenc>(); });
}
}  // namespace

// entry.h: a config is JSON object text, never NULL; the wrapper had taken "" (and NULL) for "{}".
// An extension function gets back to the plugin object from the handle with instance_of, by its class.
BOOST_AUTO_TEST_CASE(create_refuses_empty_config_text_and_instance_of_finds_the_object) {
  genplug::CallContext ctx;
  using Null = genplug::detail::EntryThunks<&register_null_posenc>;
  BOOST_TEST_REQUIRE(Null::init("/x/libnull.so", ctx.get()) == GENPLUG_OK);
  const genplug_factory_t* f = Null::get_factory(GENPLUG_KIND_POSENC);
  BOOST_TEST_REQUIRE(f != nullptr);
  void* out = nullptr;
  BOOST_TEST(f->create(f, "org.example.null", "", ctx.get(), &out) == GENPLUG_E_CONFIG);
  BOOST_TEST(ctx.error() == "config: empty text is not a JSON object (every default is \"{}\")");
  BOOST_TEST(f->create(f, "org.example.null", nullptr, ctx.get(), &out) == GENPLUG_E_INVALID_ARGUMENT);
  BOOST_TEST(out == nullptr);
  BOOST_TEST_REQUIRE(f->create(f, "org.example.null", "{}", ctx.get(), &out) == GENPLUG_OK);
  auto* handle = static_cast<genplug_posenc_t*>(out);
  BOOST_TEST(genplug::instance_of<NullPosenc>(handle) != nullptr);
  BOOST_TEST(genplug::instance_of<genplug::Posenc>(handle) != nullptr);
  BOOST_TEST(genplug::instance_of<OtherPosenc>(handle) == nullptr);
  BOOST_TEST(genplug::instance_of<NullPosenc>(static_cast<genplug_posenc_t*>(nullptr)) == nullptr);
  handle->destroy(handle);
  Null::deinit();
}

// A 1.1 function missing from a struct that holds it is a broken contract, not an older plugin: the proxies say so
// (a NULL geometry had read as "an ABI 1.0 model", a NULL count_evaluations fell back to evaluation_count).
BOOST_AUTO_TEST_CASE(a_null_function_inside_struct_size_is_a_contract_error) {
  static genplug_model_t model{};
  model.struct_size = sizeof(model);
  model.destroy = [](genplug_model_t*) {};
  genplug::ModelProxy proxy(&model, "org.example.no-geometry", nullptr);
  genplug::CallContext ctx;
  BOOST_CHECK_EXCEPTION(proxy.geometry(0, 0, 0, ctx), genplug::ContractError, [](const genplug::ContractError& e) {
    return std::string(e.what()) == "org.example.no-geometry: geometry is NULL in a struct of " +
                                        std::to_string(sizeof(genplug_model_t)) +
                                        " bytes, which holds it: a model of ABI 1.1 or later provides it";
  });
  // A 1.0 model's struct stops before geometry: unsupported, not a broken contract.
  model.struct_size = offsetof(genplug_model_t, geometry);
  BOOST_CHECK_EXCEPTION(proxy.geometry(0, 0, 0, ctx), genplug::PluginError, [](const genplug::PluginError& e) {
    return e.code() == GENPLUG_E_UNSUPPORTED;
  });
  BOOST_TEST(proxy.extension("org.example.any") == nullptr);  // a NULL get_extension: no extensions
}

// A geometry of more axes than its arrays hold is a broken contract (it had been an internal error).
BOOST_AUTO_TEST_CASE(a_geometry_of_too_many_axes_is_a_contract_error) {
  static genplug_model_t model{};
  model.struct_size = sizeof(model);
  model.destroy = [](genplug_model_t*) {};
  model.geometry = [](genplug_model_t*, const genplug_geometry_query_t*, genplug_geometry_t* g,
                      const genplug_context_t*) {
    g->axis_count = GENPLUG_MAX_AXES + 1;
    g->latent_ndim = 4;
    return GENPLUG_OK;
  };
  genplug::ModelProxy proxy(&model, "org.example.many-axes", nullptr);
  genplug::CallContext ctx;
  BOOST_CHECK_EXCEPTION(proxy.geometry(0, 0, 0, ctx), genplug::ContractError, [](const genplug::ContractError& e) {
    return std::string(e.what()) == "org.example.many-axes: geometry returned success with axis_count " +
                                        std::to_string(GENPLUG_MAX_AXES + 1) +
                                        " and latent_ndim 4 (each at most GENPLUG_MAX_AXES, " +
                                        std::to_string(GENPLUG_MAX_AXES) + ")";
  });
}
