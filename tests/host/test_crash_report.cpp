// A plugin that crashes genplug is named (host/cli/crash_report.hpp): a segfault during a render, an abort() and a
// stack overflow while the plugins are listed. Each had ended genplug with the shell's bare "Segmentation fault"
// (or nothing at all), whichever of the libraries in the process was to blame. The process still ends by the
// signal, so its exit status stays what a farm or a shell knows.
#define BOOST_TEST_MODULE crash_report
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using genplug::test::run_process;
using genplug::test::TempDir;

namespace {

const std::string kGenplug = GENPLUG_BINARY_DIR "/bin/genplug";

// Under a sanitizer genplug leaves crashes to the sanitizer's own report.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

std::string hostile(const std::string& name) { return std::string(GENPLUG_HOSTILE_DIR) + "/lib" + name + ".so"; }
std::string validate_lib(const std::string& name) {
  return std::string(GENPLUG_HOSTILE_VALIDATE_DIR) + "/libhostile_validate_" + name + ".so";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The line of `err` that starts with `prefix` ("" when none).
std::string line_of(const std::string& err, const std::string& prefix) {
  const size_t at = err.find(prefix);
  if (at == std::string::npos) return "";
  return err.substr(at, err.find('\n', at) - at);
}

// `genplug plugins` over one library whose init crashes, with a cache of its own (a shared one is no concern here).
genplug::test::ProcessResult list_plugins(const std::string& library) {
  TempDir cache("crash-cache");
  return run_process({"/usr/bin/env", "GENPLUG_PLUGIN_CACHE=" + (cache.path / "plugins.json").string(), kGenplug,
                      "plugins", "--plugin-path", library});
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_segfault_in_a_plugin_during_a_render_names_its_library_and_leaves_no_file) {
  TempDir out_dir("crash-out"), work("crash-work");
  const fs::path manifest = work.path / "m.json";
  std::ofstream(manifest) << R"({"model": {"plugin": "org.genplug.test.hostile.model",
      "config": {"misbehave": "none", "count_file": ")" << (work.path / "counts.txt").string() << R"("}},
    "scheduler": {"plugin": "org.genplug.flowmatch", "config": {"sampler": "euler", "schedule": "none"}},
    "posenc": {"plugin": "org.genplug.test.hostile.crash-create", "config": {}},
    "jobs": [{"prompt": "a grey square", "seed": 7, "output": ")" << (out_dir.path / "image.exr").string() << R"("}]})";
  const auto r = run_process({kGenplug, "--plugin-path", hostile("hostile_model"), "--plugin-path",
                              hostile("hostile_process"), "run", manifest.string()});
  BOOST_TEST(fs::is_empty(out_dir.path));
  if (kSanitized) {
    BOOST_TEST(r.exit_code != 0, r.err);
    return;
  }
  BOOST_TEST(r.exit_code == 128 + SIGSEGV, r.err);
  const std::string what = line_of(r.err, "genplug: fatal: ");
  BOOST_TEST(contains(what, "genplug: fatal: SIGSEGV (Segmentation fault) at address 0x"), r.err);
  BOOST_TEST(contains(what, " in " + hostile("hostile_process") + "; nothing more was done"), r.err);
  const std::string chain = line_of(r.err, "genplug: the crashing thread's libraries, innermost first: ");
  BOOST_TEST(contains(chain, "first: libhostile_process.so <- genplug"), r.err);
  BOOST_TEST(contains(r.err, "genplug: a plugin or a library it uses crashed; `genplug validate LIBRARY`"), r.err);
}

// abort() stops in the C library; the plugin that called it is the one named.
BOOST_AUTO_TEST_CASE(an_abort_while_listing_plugins_names_the_library_that_called_it) {
  const auto r = list_plugins(validate_lib("abort"));
  if (kSanitized) {
    BOOST_TEST(r.exit_code != 0, r.err);
    return;
  }
  BOOST_TEST(r.exit_code == 128 + SIGABRT, r.err);
  BOOST_TEST(contains(r.err, "genplug: fatal: SIGABRT (Aborted), abort() called in " + validate_lib("abort") + ";"),
             r.err);
  const std::string chain = line_of(r.err, "genplug: the crashing thread's libraries, innermost first: ");
  BOOST_TEST(contains(chain, "first: libc.so.6 <- libhostile_validate_abort.so <- "), r.err);
  BOOST_TEST(r.out.empty(), r.out);
}

// The report runs on a stack of its own: on the overflowed one it would crash before a word.
BOOST_AUTO_TEST_CASE(a_stack_overflow_while_listing_plugins_is_reported_too) {
  const auto r = list_plugins(validate_lib("overflow"));
  if (kSanitized) {
    BOOST_TEST(r.exit_code != 0, r.err);
    return;
  }
  BOOST_TEST(r.exit_code == 128 + SIGSEGV, r.err);
  BOOST_TEST(contains(r.err, "genplug: fatal: SIGSEGV (Segmentation fault) at address 0x"), r.err);
  BOOST_TEST(contains(r.err, " in " + validate_lib("overflow") + "; nothing more was done"), r.err);
}
