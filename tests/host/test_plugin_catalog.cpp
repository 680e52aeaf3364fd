#define BOOST_TEST_MODULE plugin_catalog
#include <boost/test/unit_test.hpp>

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <thread>

#include <algorithm>
#include <cmath>

#include <genplug/host/plugin_catalog.hpp>

#include "env_scope.hpp"
#include "golden.hpp"
#include "temp_dir.hpp"

using genplug::CallContext;
using genplug::host::ErrorKind;
using genplug::host::HostError;
using genplug::host::PluginCatalog;

namespace {

PluginCatalog fixtures() {
  PluginCatalog::Options o;
  o.search_path = {GENPLUG_FIXTURE_DIR};
  return PluginCatalog(o);
}

// A FLUX.1-shaped layout (index, rows, cols): any layout serves these loading tests.
genplug::RotaryLayout flux_layout() {
  return {{16, 56, 56}, 10000.0, {1, 64, 64}, 16, {0, GENPLUG_AXIS_SPATIAL, GENPLUG_AXIS_SPATIAL}};
}

bool any_line(const std::vector<std::string>& lines, const std::string& a, const std::string& b) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
    return l.find(a) != std::string::npos && l.find(b) != std::string::npos;
  });
}

// Runs f, expecting a HostError of `kind` whose message contains every fragment.
template <class F>
void expect_error(F&& f, ErrorKind kind, std::initializer_list<std::string> fragments) {
  try {
    f();
    BOOST_FAIL("no error");
  } catch (const HostError& e) {
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(static_cast<int>(e.kind()) == static_cast<int>(kind));
    for (const auto& s : fragments) BOOST_TEST(std::string(e.what()).find(s) != std::string::npos, s);
  }
}

}  // namespace

// A library that is no plugin (libno_entry.so) is told so from its dynamic symbol table, without dlopen: a search
// path naming a system folder ran every library's constructors. Its constructor would create the marker file.
BOOST_AUTO_TEST_CASE(broken_libraries_are_rejected_with_one_clear_line_and_the_rest_load) {
  const genplug::test::TempDir marker_dir("loaded-marker");
  const std::filesystem::path marker = marker_dir.path / "no_entry-was-loaded";
  const genplug::test::EnvScope told("GENPLUG_TEST_LOADED_MARKER", marker.c_str());
  PluginCatalog c = fixtures();
  BOOST_TEST(!std::filesystem::exists(marker));
  const auto& rej = c.rejections();
  for (const auto& r : rej) BOOST_TEST_MESSAGE("rejected: " << r);
  BOOST_TEST(any_line(rej, "libwrong_abi.so", "ABI mismatch: host expects major 1, plugin was built with 2.0"));
  BOOST_TEST(any_line(rej, "libno_entry.so", "not a genplug plugin: it defines no 'genplug_entry' symbol (not loaded)"));
  BOOST_TEST(any_line(rej, "libentry_function.so",
                      "'genplug_entry' is a function; entry.h asks for an object: "
                      "GENPLUG_EXTERN_C GENPLUG_EXPORT const genplug_entry_t genplug_entry = {...}"));
  BOOST_TEST(any_line(rej, "libentry_ifunc.so", "'genplug_entry' is a function; entry.h asks for an object"));
  BOOST_TEST(any_line(rej, "libentry_thread_local.so", "'genplug_entry' is thread-local; entry.h asks for one const "
                                                       "object for the process (not loaded)"));
  BOOST_TEST(any_line(rej, "libentry_too_small.so", ": entry struct is 4 bytes in the library's symbol table (not "
                                                    "loaded)"));
  BOOST_TEST(any_line(rej, "libentry_short_of_its_size.so", ": entry struct is 12 bytes in the library's symbol "
                                                            "table, but says it is 40"));
  BOOST_TEST(any_line(rej, "libinit_fails.so", "data file next to the library is missing"));
  // The same library in C++: its entry was found and its init ran (a const object without C linkage would have
  // left the library without the symbol), with GENPLUG_EXTERN_C and without it (entry.h's declaration).
  BOOST_TEST(any_line(rej, "libinit_fails_cxx.so", "data file next to the library is missing"));
  BOOST_TEST(any_line(rej, "libentry_without_extern_c.so", "data file next to the library is missing"));
  BOOST_TEST(any_line(rej, "org.genplug.test.bad-schema", "invalid config schema"));
  BOOST_TEST(any_line(rej, "org.genplug.test.twice-schema", "invalid config schema: the key \"maximum\" appears twice "
                                                            "in one object (JSON keeps the last value only)"));
  BOOST_TEST(any_line(rej, "libbroken_plugins.so", "scheduler factory lists 4294967295 plugins"));
  // The well-behaved plugins of the same folder (and of the same library as a broken one) are there.
  BOOST_TEST(c.find("org.genplug.test.minimal") != nullptr);
  BOOST_TEST(c.find("org.genplug.test.silent") != nullptr);
  BOOST_TEST(c.find("org.genplug.test.throwing") != nullptr);
  BOOST_TEST(c.find("org.genplug.test.bad-schema") == nullptr);
  BOOST_TEST(c.find("org.genplug.test.twice-schema") == nullptr);
  BOOST_TEST(c.find("org.genplug.test.minimal")->kind == "posenc");
  BOOST_TEST(c.find("org.genplug.test.minimal")->features == std::vector<std::string>{"test"});
  // The marker tells a load: dlopen creates it.
  void* loaded = ::dlopen((std::filesystem::path(GENPLUG_FIXTURE_DIR) / "libno_entry.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  BOOST_TEST(loaded != nullptr);
  BOOST_TEST(std::filesystem::exists(marker));
  if (loaded) ::dlclose(loaded);
}

BOOST_AUTO_TEST_CASE(a_throwing_create_is_reported_and_the_host_goes_on) {
  PluginCatalog c = fixtures();
  CallContext ctx;
  expect_error([&] { c.create_posenc("org.genplug.test.throwing", nlohmann::json::object(), ctx); }, ErrorKind::plugin,
               {"org.genplug.test.throwing", "create failed", "internal error", "weights file is corrupt"});
  // Named by where its config came from first (a file it names may be the cause), then by its library.
  const std::string where = "m.json: posenc.config";
  expect_error([&] { c.create_posenc("org.genplug.test.throwing", nlohmann::json::object(), ctx, where); },
               ErrorKind::plugin, {where + ": org.genplug.test.throwing: create failed", "[plugin ", ".so]"});
  auto ok = c.create_posenc("org.genplug.test.minimal", nlohmann::json::object(), ctx);
  auto s = ok.compute(flux_layout(), {1, 64, 64}, 1.0, ctx);
  BOOST_TEST(s.freqs.size() == 64u);
  BOOST_TEST(s.freqs[9] == std::pow(10000.0, -2.0 * 1 / 56), boost::test_tools::tolerance(1e-15));
}

BOOST_AUTO_TEST_CASE(an_error_without_a_message_is_named_as_such) {
  PluginCatalog c = fixtures();
  CallContext ctx;
  expect_error([&] { c.create_posenc("org.genplug.test.silent", nlohmann::json::object(), ctx); },
               ErrorKind::manifest, {"org.genplug.test.silent", "config error", "the plugin gave no message"});
  expect_error([&] { c.create_posenc("org.genplug.test.no-instance", nlohmann::json::object(), ctx); },
               ErrorKind::plugin, {"org.genplug.test.no-instance", "returned no instance"});
}

BOOST_AUTO_TEST_CASE(configs_are_validated_against_the_schema_before_create) {
  PluginCatalog c = fixtures();
  CallContext ctx;
  expect_error([&] { c.create_posenc("org.genplug.test.minimal", {{"scale", "big"}}, ctx, "m.json: posenc.config"); },
               ErrorKind::manifest, {"posenc.config.scale", "org.genplug.test.minimal"});
  expect_error([&] { c.create_posenc("org.genplug.test.minimal", {{"scael", 2}}, ctx, "m.json: posenc.config"); },
               ErrorKind::manifest, {"scael"});
  BOOST_TEST(c.validate_config("org.genplug.test.minimal", {{"scale", 2.0}}).empty());
  BOOST_TEST(c.validate_config("org.genplug.test.minimal", {{"scale", -1}}).size() == 1u);
}

BOOST_AUTO_TEST_CASE(unknown_plugins_and_wrong_kinds_name_what_is_known) {
  PluginCatalog c = fixtures();
  CallContext ctx;
  expect_error([&] { c.create_posenc("org.example.nope", nlohmann::json::object(), ctx); }, ErrorKind::plugin,
               {"org.example.nope", "org.genplug.test.minimal"});
  // The libraries that could not be loaded are named too (the plugin may be in one; -q hides the scan's warnings):
  // the first two, and how many more.
  const auto& rej = c.rejections();
  BOOST_TEST_REQUIRE(rej.size() > 2u);
  expect_error([&] { c.create_posenc("org.example.nope", nlohmann::json::object(), ctx); }, ErrorKind::plugin,
               {"; not loaded: " + rej[0] + "; " + rej[1] + " (and " + std::to_string(rej.size() - 2) +
                " more: `genplug plugins` lists them)"});
  // A wrong kind is the caller's mistake, which no installation mends: a manifest error, as in a manifest.
  expect_error([&] { c.create_scheduler("org.genplug.test.minimal", nlohmann::json::object(), ctx); },
               ErrorKind::manifest, {"is a posenc plugin", "scheduler"});
}

BOOST_AUTO_TEST_CASE(instances_keep_their_library_alive_after_the_catalog_is_gone) {
  genplug::PosencProxy p;
  {
    PluginCatalog c = fixtures();
    CallContext ctx;
    p = c.create_posenc("org.genplug.test.minimal", nlohmann::json::object(), ctx);
  }
  CallContext ctx;
  auto s = p.compute(flux_layout(), {1, 128, 128}, 0.5, ctx);  // would crash if unloaded
  BOOST_TEST(s.amplitude == std::vector<double>({1.0, 1.0, 1.0}));
}

BOOST_AUTO_TEST_CASE(the_default_search_path_puts_extra_and_the_environment_first) {
  setenv("GENPLUG_PLUGIN_PATH", "/a:/b", 1);
  auto p = PluginCatalog::default_search_path({"/x"});
  BOOST_REQUIRE(p.size() >= 3u);
  BOOST_TEST(p[0] == "/x");
  BOOST_TEST(p[1] == "/a");
  BOOST_TEST(p[2] == "/b");
}

BOOST_AUTO_TEST_CASE(two_catalogs_share_one_loaded_copy_and_either_may_go_first) {
  // dlopen gives both catalogs the same copy of the library: init/deinit must pair up, and a catalog that goes
  // away must not pull the factories from under the other one (an SDK-built plugin: DyPE).
  PluginCatalog::Options o;
  o.search_path = {genplug::test::plugin_build_dir() / "libgenplug_dype.so"};
  auto first = std::make_unique<PluginCatalog>(o);
  PluginCatalog second(o);
  CallContext ctx;
  genplug::PosencProxy a = first->create_posenc("org.genplug.dype", nlohmann::json::object(), ctx);
  first.reset();
  genplug::PosencProxy b = second.create_posenc("org.genplug.dype", {{"method", "yarn"}}, ctx);
  auto s = b.compute(flux_layout(), {1, 256, 256}, 1.0, ctx);
  BOOST_TEST(s.amplitude[1] == 0.1 * std::log(4.0) + 1.0, boost::test_tools::tolerance(1e-15));
  // Reassigning a proxy destroys the old instance while its library is still loaded.
  a = std::move(b);
  s = a.compute(flux_layout(), {1, 64, 64}, 1.0, ctx);
  BOOST_TEST(s.amplitude[1] == 1.0);
  BOOST_TEST(second.instances_created("posenc") == 1);
}

// A symlink loop in a plugin folder (hostile or a mistake) is skipped with a warning; the folder's other
// plugins and every other folder still load.
BOOST_AUTO_TEST_CASE(a_symlink_loop_in_a_plugin_folder_does_not_hide_the_others) {
  const auto dir = std::filesystem::temp_directory_path() / ("genplug-loop-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::create_symlink("libloop.so", dir / "libloop.so");
  std::vector<std::string> warnings;
  PluginCatalog::Options o;
  o.search_path = {dir, GENPLUG_FIXTURE_DIR};
  o.warn = [&](const std::string& line) { warnings.push_back(line); };
  PluginCatalog c(o);
  BOOST_TEST(c.find("org.genplug.test.minimal") != nullptr);
  BOOST_TEST(any_line(warnings, "libloop.so", "symbolic links"));
  BOOST_TEST(any_line(c.rejections(), "libloop.so", "symbolic links"));  // what `genplug plugins` lists
  std::filesystem::remove_all(dir);
}

// A folder on the search path twice, once through a symbolic link: each library is scanned once, and none of its
// plugins is a "duplicate plugin id, already provided by" itself.
BOOST_AUTO_TEST_CASE(a_folder_reached_twice_through_a_link_is_scanned_once) {
  const genplug::test::TempDir dir("linked-folder");
  std::filesystem::create_directories(dir.path / "real");
  std::filesystem::copy_file(std::filesystem::path(GENPLUG_FIXTURE_DIR) / "libminimal_posenc.so",
                             dir.path / "real" / "libminimal_posenc.so");
  std::filesystem::create_directory_symlink("real", dir.path / "link");
  PluginCatalog::Options o;
  o.search_path = {dir.path / "real", dir.path / "link", dir.path / "real" / ".." / "link" / "libminimal_posenc.so"};
  PluginCatalog c(o);
  BOOST_TEST(c.find("org.genplug.test.minimal") != nullptr);
  for (const auto& r : c.rejections()) BOOST_TEST_MESSAGE("rejected: " << r);
  BOOST_TEST(c.rejections().empty());
}

// A library cut short (an interrupted copy or install) is rejected before dlopen, which would map its segments
// past the end of the file and die of SIGBUS at the first touch: every command that scans the folder crashed.
// Cut anywhere inside its loadable segments, it is named as truncated; the folder's other plugins still load.
// Only what the loader would map is judged so (elf_extent.hpp).
BOOST_AUTO_TEST_CASE(a_truncated_library_is_rejected_not_a_crash) {
  const genplug::test::TempDir dir("truncated");
  const std::filesystem::path whole = std::filesystem::path(GENPLUG_FIXTURE_DIR) / "libminimal_posenc.so";
  std::ifstream in(whole, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_REQUIRE(bytes.size() > 4096);
  for (const size_t cut : {size_t(100), size_t(2000), bytes.size() / 4, bytes.size() / 2}) {
    std::filesystem::remove_all(dir.path);
    std::filesystem::create_directories(dir.path);
    std::ofstream(dir.path / "libcut.so", std::ios::binary).write(bytes.data(), std::streamsize(cut));
    std::filesystem::copy_file(whole, dir.path / "libwhole.so");
    PluginCatalog::Options o;
    o.search_path = {dir.path};
    PluginCatalog c(o);
    BOOST_TEST_INFO("cut at " << cut << " of " << bytes.size() << " bytes");
    BOOST_TEST(c.find("org.genplug.test.minimal") != nullptr);
    BOOST_TEST(any_line(c.rejections(), "libcut.so: cannot load library: truncated", "-byte file"));
  }
  // A whole file the loader refuses before mapping anything keeps the loader's reason: big-endian, or an object
  // file (e_type ET_REL) named .so.
  std::string big_endian = bytes, object = bytes;
  big_endian[5] = 2;  // e_ident[EI_DATA] = ELFDATA2MSB
  object[16] = 1, object[17] = 0;  // e_type = ET_REL, little-endian
  std::filesystem::remove_all(dir.path);
  std::filesystem::create_directories(dir.path);
  std::ofstream(dir.path / "libbig.so", std::ios::binary) << big_endian;
  std::ofstream(dir.path / "libobject.so", std::ios::binary) << object;
  PluginCatalog::Options o;
  o.search_path = {dir.path};
  PluginCatalog c(o);
  BOOST_TEST(c.rejections().size() == 2u);
  for (const std::string& line : c.rejections())
    BOOST_TEST(line.find("cannot load library: truncated") == std::string::npos, line);
}

// The descriptor cache (plugin_index.hpp): a second catalog lists the same plugins without loading any library,
// loads one only to create from it, and scans a library again once the file changed.
BOOST_AUTO_TEST_CASE(cached_descriptors_load_a_library_only_when_a_plugin_is_created) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("genplug-cache-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(fs::path(GENPLUG_FIXTURE_DIR) / "libminimal_posenc.so", dir / "libminimal_posenc.so");
  PluginCatalog::Options o;
  o.search_path = {dir};
  o.cache_file = dir / "cache" / "plugins.json";
  {
    PluginCatalog first(o);  // scans: loads the library, writes the cache
    BOOST_TEST(first.libraries_loaded() == 1u);
    BOOST_TEST(fs::is_regular_file(o.cache_file));
  }
  PluginCatalog second(o);
  BOOST_TEST(second.libraries_loaded() == 0u);
  BOOST_REQUIRE(second.find("org.genplug.test.minimal"));
  BOOST_TEST(second.find("org.genplug.test.minimal")->kind == "posenc");
  CallContext ctx;
  auto p = second.create_posenc("org.genplug.test.minimal", nlohmann::json::object(), ctx);
  BOOST_TEST(second.libraries_loaded() == 1u);
  // A rewritten library (another modification time) is scanned, not trusted from the cache.
  fs::last_write_time(dir / "libminimal_posenc.so", fs::last_write_time(dir / "libminimal_posenc.so") + std::chrono::seconds(5));
  PluginCatalog third(o);
  BOOST_TEST(third.libraries_loaded() == 1u);
  fs::remove_all(dir);
}

// Names that are not UTF-8, which JSON cannot carry: a library's file name is listed and cached (the cache's JSON
// had failed every command, exit 5, leaving a temporary file each time); a descriptor's id is rejected.
BOOST_AUTO_TEST_CASE(names_that_are_not_utf8_neither_fail_the_catalog_nor_its_cache) {
  namespace fs = std::filesystem;
  const genplug::test::TempDir dir("not-utf8");
  fs::create_directories(dir.path / "libs");
  fs::copy_file(fs::path(GENPLUG_FIXTURE_DIR) / "libminimal_posenc.so", dir.path / "libs" / "min\xff.so");
  fs::copy_file(fs::path(GENPLUG_FIXTURE_DIR) / "bad_utf8" / "libbad_utf8_posenc.so", dir.path / "libs" / "libbad.so");
  fs::copy_file(fs::path(GENPLUG_FIXTURE_DIR) / "libthrowing_create.so", dir.path / "libs" / "libclean.so");
  PluginCatalog::Options o;
  o.search_path = {dir.path / "libs"};
  o.cache_file = dir.path / "plugins.json";
  for (int run = 0; run < 2; ++run) {  // the second reads the cache the first wrote
    PluginCatalog c(o);
    BOOST_TEST(c.find("org.genplug.test.minimal") != nullptr);
    BOOST_TEST(any_line(c.rejections(), "libbad.so: posenc plugin #0", "descriptor's id is not valid UTF-8"));
    BOOST_TEST(fs::is_regular_file(o.cache_file));  // libclean.so's entry
    BOOST_TEST(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 2);  // no .tmp-*
  }
  // The library of a name JSON cannot carry is not cached (its key would be written with U+FFFD, once per run).
  std::ifstream cache(o.cache_file);
  const std::string text((std::istreambuf_iterator<char>(cache)), std::istreambuf_iterator<char>());
  BOOST_TEST(text.find("libclean.so") != std::string::npos, text);
  BOOST_TEST(text.find("\xEF\xBF\xBD") == std::string::npos, text);
  BOOST_TEST(text.find("\\ufffd") == std::string::npos, text);
}

// An id with a control character is rejected: no manifest can name it, and a table would print it raw. Also when
// it comes from a cache (written by a genplug that took it): here the cached id of a library that had none.
BOOST_AUTO_TEST_CASE(an_id_with_a_control_character_is_rejected) {
  PluginCatalog::Options o;
  o.search_path = {std::filesystem::path(GENPLUG_FIXTURE_DIR) / "control"};
  PluginCatalog c(o);
  BOOST_TEST(c.plugins().empty());
  BOOST_TEST(any_line(c.rejections(),
                      "libcontrol_posenc.so: a plugin's id has a control character or one that reorders text: ",
                      "\"org.genplug.test.tab\\there\""));

  const genplug::test::TempDir dir("control-id-cache");
  o.search_path = {std::filesystem::path(GENPLUG_FIXTURE_DIR) / "accent"};
  o.cache_file = dir.path / "plugins.json";
  BOOST_TEST_REQUIRE(PluginCatalog(o).find("org.genplug.test.caf\xc3\xa9") != nullptr);
  std::ifstream in(o.cache_file);
  std::string cache((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const size_t at = cache.find("org.genplug.test.caf\xc3\xa9");
  BOOST_TEST_REQUIRE(at != std::string::npos, cache);
  cache.replace(at, 22, "org.genplug.test.ta\\tb");
  std::ofstream(o.cache_file) << cache;
  PluginCatalog cached(o);
  BOOST_TEST(cached.plugins().empty());
  BOOST_TEST(any_line(cached.rejections(),
                      "libaccent_posenc.so: a plugin's id has a control character or one that reorders text: ",
                      "\"org.genplug.test.ta\\tb\""));
}

// A cache path that is no regular file (a FIFO; for root, /dev/zero or /dev/null) is neither waited on nor replaced:
// the catalog scans as without a cache.
BOOST_AUTO_TEST_CASE(a_cache_that_is_no_regular_file_is_neither_read_nor_replaced) {
  const genplug::test::TempDir dir("cache-fifo");
  BOOST_REQUIRE(::mkfifo((dir.path / "plugins.json").c_str(), 0600) == 0);
  PluginCatalog::Options o;
  o.search_path = {GENPLUG_FIXTURE_DIR};
  o.cache_file = dir.path / "plugins.json";
  PluginCatalog c(o);
  BOOST_TEST(c.find("org.genplug.test.minimal") != nullptr);
  BOOST_TEST(std::filesystem::is_fifo(o.cache_file));
}

// The cache's place: GENPLUG_PLUGIN_CACHE, else an absolute XDG_CACHE_HOME, else ~/.cache (a relative
// XDG_CACHE_HOME is ignored, as the XDG spec says: it would put a cache in every folder a command runs in).
BOOST_AUTO_TEST_CASE(the_cache_file_follows_xdg_and_ignores_a_relative_cache_home) {
  using genplug::test::EnvScope;
  const EnvScope home("HOME", "/home/someone"), off("GENPLUG_PLUGIN_CACHE", nullptr);
  const std::filesystem::path in_home = "/home/someone/.cache/genplug/plugins.json";
  for (const char* relative : std::initializer_list<const char*>{"cache", "./cache", "", nullptr}) {
    const EnvScope xdg("XDG_CACHE_HOME", relative);
    BOOST_TEST(PluginCatalog::default_cache_file() == in_home, (relative ? relative : "(unset)"));
  }
  {
    const EnvScope xdg("XDG_CACHE_HOME", "/var/cache/me");
    BOOST_TEST(PluginCatalog::default_cache_file() == "/var/cache/me/genplug/plugins.json");
  }
  const EnvScope named("GENPLUG_PLUGIN_CACHE", "here.json"), xdg("XDG_CACHE_HOME", "/var/cache/me");
  BOOST_TEST(PluginCatalog::default_cache_file() == "here.json");
}

// Const members from several threads at once (PluginCatalog's contract; `genplug validate` relies on it):
// with the descriptors from the cache, the first creates load the library while the others look it up and
// count their instances. Checked for data races by scripts/sanitize.sh tsan; here, that nothing is lost.
BOOST_AUTO_TEST_CASE(const_members_may_run_on_several_threads_at_once) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("genplug-threads-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(fs::path(GENPLUG_FIXTURE_DIR) / "libminimal_posenc.so", dir / "libminimal_posenc.so");
  PluginCatalog::Options o;
  o.search_path = {dir};
  o.cache_file = dir / "cache" / "plugins.json";
  { PluginCatalog first(o); }  // writes the cache
  PluginCatalog c(o);
  BOOST_TEST(c.libraries_loaded() == 0u);
  constexpr int kThreads = 4, kRounds = 50;
  std::atomic<int> ready{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < kRounds; ++i) {
        try {
          CallContext ctx;
          auto p = c.create_posenc("org.genplug.test.minimal", nlohmann::json::object(), ctx);
          auto s = p.compute(flux_layout(), {1, 64, 64}, 0.5, ctx);
          if (s.amplitude != std::vector<double>({1.0, 1.0, 1.0}) || c.instances_created("posenc") < 1 ||
              c.libraries_loaded() != 1u || !c.factory_of("org.genplug.test.minimal"))
            ++failures;
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  for (auto& t : threads) t.join();
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(c.instances_created("posenc") == kThreads * kRounds);
  BOOST_TEST(c.libraries_loaded() == 1u);
  fs::remove_all(dir);
}

// A config the plugin itself refuses (past its schema) is named by where it came from, not by the library.
BOOST_AUTO_TEST_CASE(a_config_the_plugin_refuses_names_its_origin) {
  PluginCatalog::Options o;
  o.search_path = PluginCatalog::default_search_path();
  PluginCatalog c(o);
  CallContext ctx;
  expect_error([&] {
    c.create_posenc("org.genplug.dype", {{"base_resolution", 1024}, {"base_extent", 64}}, ctx, "shots.json: posenc.config");
  }, ErrorKind::manifest, {"shots.json: posenc.config: org.genplug.dype: config error", "base_extent", "[plugin "});
}
