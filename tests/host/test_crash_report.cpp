// A plugin that crashes genplug is named (host/cli/crash_report.hpp): a segfault during a render; an abort(), a stack
// overflow, a call through NULL, a fault with the stack pointer wild and a crash on a thread the dynamic loader
// waits for, while the plugins are listed.
// Each had ended genplug with the shell's bare "Segmentation fault" (or nothing at all), whichever of the libraries
// in the process was to blame. The process still ends by the signal, so its exit status stays what a farm or a
// shell knows; a signal another process sends is said to be no crash.
#define BOOST_TEST_MODULE crash_report
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <genplug/internal/sanitized.hpp>

#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using genplug::test::run_process;
using genplug::test::TempDir;

namespace {

const std::string kGenplug = GENPLUG_BINARY_DIR "/bin/genplug";

using genplug::internal::kSanitized;  // under a sanitizer, genplug leaves crashes to its report

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

const std::string kChain = "genplug: the crashing thread's libraries, innermost first: ";
const std::string kCulprit = "genplug: a plugin or a library it uses crashed: ";

// A manifest of one job: the hostile model, and `posenc` (a plugin of libhostile_process.so) as its posenc.
fs::path write_manifest(const fs::path& dir, const fs::path& output, const std::string& posenc) {
  const fs::path manifest = dir / "m.json";
  std::ofstream(manifest) << R"({"model": {"plugin": "org.genplug.test.hostile.model",
      "config": {"misbehave": "none", "count_file": ")" << (dir / "counts.txt").string() << R"("}},
    "scheduler": {"plugin": "org.genplug.flowmatch", "config": {"sampler": "euler", "schedule": "none"}},
    "posenc": {"plugin": ")" << posenc << R"(", "config": {}},
    "jobs": [{"prompt": "a grey square", "seed": 7, "output": ")" << output.string() << R"("}]})";
  return manifest;
}

// `genplug plugins` over one library whose init crashes, with a cache of its own (a shared one is no concern here).
genplug::test::ProcessResult list_plugins(const std::string& library) {
  TempDir cache("crash-cache");
  return run_process({"/usr/bin/env", "GENPLUG_PLUGIN_CACHE=" + (cache.path / "plugins.json").string(), kGenplug,
                      "plugins", "--plugin-path", library});
}

// What every report of a plugin library's crash says: the exit status of `signal`, the library where the fault
// struck when it struck there (not in a runtime, as an abort() does), and the library to blame. False under a
// sanitizer, which reports instead: only a failed exit is checked then.
bool expect_blamed(const genplug::test::ProcessResult& r, int signal, const std::string& library,
                   bool struck_there = true) {
  if (kSanitized) {
    BOOST_TEST(r.exit_code != 0, r.err);
    return false;
  }
  BOOST_TEST(r.exit_code == 128 + signal, r.err);
  if (struck_there) BOOST_TEST(contains(r.err, " in " + library + "; nothing more was done\n"), r.err);
  BOOST_TEST(line_of(r.err, kCulprit) ==
                 kCulprit + library + " (`genplug validate LIBRARY` checks a plugin library in child processes)",
             r.err);
  return true;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_segfault_in_a_plugin_during_a_render_names_its_library_and_leaves_no_file) {
  TempDir out_dir("crash-out"), work("crash-work");
  const fs::path manifest =
      write_manifest(work.path, out_dir.path / "image.exr", "org.genplug.test.hostile.crash-create");
  const auto r = run_process({kGenplug, "--plugin-path", hostile("hostile_model"), "--plugin-path",
                              hostile("hostile_process"), "run", manifest.string()});
  BOOST_TEST(fs::is_empty(out_dir.path));
  if (!expect_blamed(r, SIGSEGV, hostile("hostile_process"))) return;
  BOOST_TEST(contains(line_of(r.err, "genplug: fatal: "), "genplug: fatal: SIGSEGV (Segmentation fault) at address 0x"),
             r.err);
  BOOST_TEST(contains(line_of(r.err, kChain), kChain + "libhostile_process.so <- genplug"), r.err);
  BOOST_TEST(!contains(r.err, "a stack overflow"), r.err);  // a fault far from the stack's end
}

// abort() stops in the C library; the plugin that called it is the one named.
BOOST_AUTO_TEST_CASE(an_abort_while_listing_plugins_names_the_library_that_called_it) {
  const auto r = list_plugins(validate_lib("abort"));
  if (!expect_blamed(r, SIGABRT, validate_lib("abort"), /*struck_there=*/false)) return;
  BOOST_TEST(contains(r.err, "genplug: fatal: SIGABRT (Aborted), abort() called; nothing more was done\n"), r.err);
  BOOST_TEST(contains(line_of(r.err, kChain), kChain + "libc.so.6 <- libhostile_validate_abort.so <- "), r.err);
  BOOST_TEST(r.out.empty(), r.out);
}

// The report runs on a stack of its own: on the overflowed one it would crash before a word.
BOOST_AUTO_TEST_CASE(a_stack_overflow_while_listing_plugins_is_reported_too) {
  const auto r = list_plugins(validate_lib("overflow"));
  if (!expect_blamed(r, SIGSEGV, validate_lib("overflow"))) return;
  BOOST_TEST(contains(r.err, "genplug: fatal: SIGSEGV (Segmentation fault) at address 0x"), r.err);
  BOOST_TEST(contains(r.err, "genplug: the fault is at the end of the crashing thread's stack: a stack overflow "
                             "(ulimit -s is "),
             r.err);
}

// A call through NULL lands in no library, where nothing can be unwound (the unwinder itself had crashed on such
// addresses, and the report with it): the caller is read from the return address the call left.
BOOST_AUTO_TEST_CASE(a_call_through_null_names_the_caller) {
  const auto r = list_plugins(validate_lib("null_call"));
  if (!expect_blamed(r, SIGSEGV, validate_lib("null_call"), /*struck_there=*/false)) return;
  BOOST_TEST(contains(r.err, "genplug: fatal: SIGSEGV (Segmentation fault) at address 0x0 in no library (code "
                             "generated at run time, or a jump through a bad pointer); nothing more was done\n"),
             r.err);
  BOOST_TEST(line_of(r.err, kChain) == kChain + "? <- libhostile_validate_null_call.so", r.err);
}

// The thread that crashes is one a library's constructor waits for, inside dlopen, holding the dynamic loader's
// lock: a report that asked the loader (dladdr) waited for ever, until its deadline ended it with no line at all.
// Not under a sanitizer: AddressSanitizer's own report asks the loader and waits for ever there, the very hang
// genplug's report avoids.
BOOST_AUTO_TEST_CASE(a_crash_on_a_thread_the_loader_waits_for_is_reported) {
  if (kSanitized) return;
  const auto r = list_plugins(validate_lib("ctor_thread"));
  expect_blamed(r, SIGSEGV, validate_lib("ctor_thread"));
  BOOST_TEST(contains(line_of(r.err, kChain), kChain + "libhostile_validate_ctor_thread.so <- libc.so.6"), r.err);
}

// A fault with the stack pointer wild: the unwinder faults too, inside the report, which keeps its first line,
// names the library where the fault struck and says the rest of the stack could not be read (the unwinder's fault
// had ended the process before a word).
BOOST_AUTO_TEST_CASE(a_fault_with_a_wild_stack_pointer_is_reported_as_far_as_it_can_be) {
  const auto r = list_plugins(validate_lib("wild_stack"));
  if (!expect_blamed(r, SIGSEGV, validate_lib("wild_stack"))) return;
  BOOST_TEST(line_of(r.err, kChain) ==
                 kChain + "libhostile_validate_wild_stack.so (the rest of the stack could not be read)",
             r.err);
}

// A fatal signal from another process (a farm's watchdog, `timeout -s ABRT`) is no crash of anything in genplug.
BOOST_AUTO_TEST_CASE(a_fatal_signal_sent_from_outside_is_said_to_be_no_crash) {
  TempDir out_dir("crash-out"), work("crash-work");
  const fs::path manifest =
      write_manifest(work.path, out_dir.path / "image.exr", "org.genplug.test.hostile.hang-compute");
  const auto r = run_process({"/usr/bin/timeout", "--preserve-status", "-s", "ABRT", "3", kGenplug, "--plugin-path",
                              hostile("hostile_model"), "--plugin-path", hostile("hostile_process"), "run",
                              manifest.string()});
  BOOST_TEST(fs::is_empty(out_dir.path));
  if (kSanitized) return;
  BOOST_TEST(r.exit_code == 128 + SIGABRT, r.err);
  BOOST_TEST(contains(r.err, "genplug: fatal: SIGABRT (Aborted) sent by process "), r.err);
  BOOST_TEST(contains(r.err, " (not a crash); nothing more was done\n"), r.err);
  BOOST_TEST(!contains(r.err, kChain), r.err);
  BOOST_TEST(!contains(r.err, "crashed"), r.err);
}
