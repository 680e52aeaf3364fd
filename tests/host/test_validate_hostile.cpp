// `genplug validate` against plugins that write to, close or fork over its probes' report pipe, leave their process
// group, hold no plugin, have ids that read as options or run to 70 000 bytes, crash well under the memory limit,
// or meet an environment too large to pass on (tests/host/fixtures/hostile_validate.c). Each had passed (exit 0),
// hung, aborted the run, or blamed the wrong cause.
#define BOOST_TEST_MODULE validate_hostile
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <genplug/genplug.h>

#include "subprocess.hpp"

using genplug::test::run_process;

extern char** environ;

namespace {

const std::string kGenplug = GENPLUG_BINARY_DIR "/bin/genplug";
const std::string kLoad = "load: entry symbol, ABI major " + std::to_string(GENPLUG_ABI_MAJOR) + ", init";
const std::string kId = "org.genplug.test.hostile-validate";

std::string lib(const std::string& name) {
  return std::string(GENPLUG_HOSTILE_VALIDATE_DIR) + "/libhostile_validate_" + name + ".so";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Whether `out` has `line` as a whole line.
bool has_line(const std::string& out, const std::string& line) {
  std::istringstream lines(out);
  for (std::string l; std::getline(lines, l);)
    if (l == line) return true;
  return false;
}

// How many lines of `out` start with `prefix`.
int count_lines(const std::string& out, const std::string& prefix) {
  std::istringstream lines(out);
  int n = 0;
  for (std::string l; std::getline(lines, l);) n += l.rfind(prefix, 0) == 0;
  return n;
}

genplug::test::ProcessResult validate(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {kGenplug, "validate"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

std::string wrote(const std::string& library, const std::string& bytes) {
  return library + " wrote to the probe's report, file descriptor 3, which it did not open: \"" + bytes + "\"";
}

}  // namespace

// F2: bytes without a newline on the report had merged with the next record: the descriptor's FAIL vanished and
// validate exited 0. Now the bytes are a FAIL of the check that was running, and every record still arrives.
BOOST_AUTO_TEST_CASE(bytes_a_plugin_writes_to_the_report_fail_and_lose_no_record) {
  const auto r = validate({lib("junk")});
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  BOOST_TEST(has_line(r.out, "FAIL " + kLoad + ": " + wrote(lib("junk"), "plugin log: init")), r.out);
  BOOST_TEST(has_line(r.out, "FAIL posenc " + kId + ": descriptor has name and vendor"), r.out);
  BOOST_TEST(has_line(r.out, "PASS posenc " + kId + ": create {} and compute a spectrum"), r.out);
  BOOST_TEST(contains(r.out, "\n1 plugin, "), r.out);
  BOOST_TEST(!contains(r.out, "must never call exit"), r.out);
}

// F8: a write in deinit, or fd 3 closed in init, had been blamed as "a plugin must never call exit".
BOOST_AUTO_TEST_CASE(a_report_written_in_deinit_or_closed_is_named_as_such) {
  auto r = validate({lib("deinit_junk")});
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  BOOST_TEST(has_line(r.out, "FAIL load: deinit and close the library (after the load probe): " +
                                 wrote(lib("deinit_junk"), "plugin log: deinit")),
             r.out);
  BOOST_TEST(!contains(r.out, "must never call exit"), r.out);

  r = validate({lib("closefd")});
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  const std::string closed =
      "FAIL " + kLoad + ": " + lib("closefd") + " closed the probe's report (file descriptor 3), which it did not open";
  BOOST_TEST(has_line(r.out, closed), r.out);
  // The records go on through the probe's own copy of the descriptor: the checks still pass.
  BOOST_TEST(has_line(r.out, "PASS posenc " + kId + ": create {} and compute a spectrum"), r.out);
  BOOST_TEST(!contains(r.out, "must never call exit"), r.out);
}

// F3: a fork in init without exec had doubled every record: "2 plugins, 0 failures" for a library of one, exit 0.
BOOST_AUTO_TEST_CASE(records_of_a_process_the_plugin_forked_do_not_count_and_fail) {
  const auto r = validate({lib("fork")});
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  BOOST_TEST(contains(r.out, "\n1 plugin, "), r.out);
  BOOST_TEST(count_lines(r.out, "PASS posenc " + kId + ": descriptor has name and vendor") == 1, r.out);
  // Each probe fails: by the child's records, whose first blames the step then running, or, where none came
  // before the probe ended (as the two were scheduled), by the child still in the probe's process group.
  const std::string forked = ": " + lib("fork") + " forked a process (pid ";
  const std::string left = ": " + lib("fork") + " left a process running in the probe's process group after the "
                           "probe ended (a fork without exec?); it was killed";
  std::istringstream lines(r.out);
  int blamed = 0;
  for (std::string line; std::getline(lines, line);)
    blamed += line.rfind("FAIL ", 0) == 0 && (contains(line, forked) || contains(line, left));
  BOOST_TEST(blamed >= 5, r.out);  // the load probe, the plugin's and its factory cases'
  BOOST_TEST(r.out.find("they were counted") == std::string::npos, r.out);
}

// F4: a probe that moved itself into the validator's process group escaped the group kill at the time-out, and
// validate waited for it for ever. The outer `timeout` turns such a hang into a failure of this test.
BOOST_AUTO_TEST_CASE(a_probe_that_leaves_its_process_group_is_still_killed_at_the_time_out) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run_process({"/usr/bin/timeout", "60", kGenplug, "validate", "--timeout", "2", lib("escape")});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  BOOST_TEST(has_line(r.out, "FAIL posenc " + kId + ": create {} and compute a spectrum: timed out after 2 s (killed)"),
             r.out);
  BOOST_TEST(seconds < 50.0);
}

// F5, F6: the probes are given the plugin's index, not its id: "--timeout=" on their argv had aborted the whole run
// (exit 5, no summary), and an id of 70 000 bytes, cut in the report, was "no plugin ... in the library" six times.
// F12: a descriptor's FAIL no longer skips the two-instance check.
BOOST_AUTO_TEST_CASE(ids_that_read_as_options_or_run_long_are_probed_by_index) {
  const auto r = validate({lib("odd_ids")});
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  BOOST_TEST(contains(r.out, "\n4 plugins, 3 failures\n"), r.out);
  BOOST_TEST(has_line(r.out, "FAIL posenc --timeout=: id is reverse-DNS: '--timeout='"), r.out);
  // A dot is not enough: every label between dots has something in it.
  BOOST_TEST(has_line(r.out, "FAIL posenc org..genplug.test: id is reverse-DNS: 'org..genplug.test'"), r.out);
  BOOST_TEST(has_line(r.out, "PASS posenc --timeout=: create {} and compute a spectrum"), r.out);
  BOOST_TEST(has_line(r.out, "PASS posenc --plugin-path=: NULL plugin id rejected with a message"), r.out);
  BOOST_TEST(has_line(r.out, "PASS posenc --timeout=: two instances computing on two threads agree with one alone"),
             r.out);
  const std::string long_id = "org.genplug.test.long." + std::string(256 - 22, 'a') + "... (70000 bytes)";
  BOOST_TEST(has_line(r.out, "PASS posenc " + long_id + ": destroy"), r.out.substr(0, 4000));
  BOOST_TEST(!contains(r.out, "no plugin"), r.out.substr(0, 4000));
}

// F7: a library with no plugin had passed: "0 plugins, 0 failures", exit 0. The catalog may refuse it itself (a
// rejection naming the library), else the load probe fails it.
BOOST_AUTO_TEST_CASE(a_library_without_a_plugin_fails) {
  const auto r = validate({lib("no_plugin")});
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  const bool refused =
      has_line(r.out, "FAIL " + kLoad + ": the library provides no plugin (get_factory returned no factory for any "
                                        "kind, or every factory's count() is 0)") ||
      contains(r.out, "FAIL load: " + lib("no_plugin") + ": it provides no plugin");
  BOOST_TEST(refused, r.out);
  BOOST_TEST(contains(r.out, "1 library, 0 plugins, 1 failure\n"), r.out);
}

// F12: where the two-instance check does not run, a SKIP line says why.
BOOST_AUTO_TEST_CASE(a_skipped_two_instance_check_says_why) {
  const auto r = run_process({"/usr/bin/timeout", "60", kGenplug, "validate", "--timeout", "2", lib("escape")});
  BOOST_TEST(has_line(r.out, "SKIP posenc " + kId + ": two instances on two threads: not run, since one instance "
                                                   "alone did not get through create, use and destroy (above)"),
             r.out);
  const auto junk = validate({lib("junk")});
  BOOST_TEST(has_line(junk.out, "SKIP posenc " + kId + ": two instances on two threads: not run, since the probe of "
                                                      "one instance alone failed (above)"),
             junk.out);
}

// F16: a crash at 200 MiB resident under a limit of 512 MiB had been reported as exceeding the limit.
BOOST_AUTO_TEST_CASE(a_crash_well_under_the_memory_limit_is_not_blamed_on_it) {
  const auto r = validate({"--memory-limit", "512M", lib("segv")});
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  BOOST_TEST(contains(r.out, "FAIL " + kLoad + ": crashed with SIGSEGV"), r.out);
  BOOST_TEST(contains(r.out, "resident at the peak, under the memory limit of 512 MiB)"), r.out);
  BOOST_TEST(!contains(r.out, "exceeded the memory limit"), r.out);
}

// entry.h: a config the plugin refuses is GENPLUG_E_CONFIG. Any failure with a message had passed.
BOOST_AUTO_TEST_CASE(a_config_refused_with_another_code_than_config_fails) {
  const auto r = validate({lib("config_as_internal")});
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  for (const char* what : {"config that is not JSON", "config that is not an object", "config with an unknown field"})
    BOOST_TEST(has_line(r.out, "FAIL posenc " + kId + ": " + what + " rejected with a message: internal error, where "
                               "entry.h asks for config error"),
               r.out);
  BOOST_TEST(has_line(r.out, "PASS posenc " + kId + ": unknown plugin id rejected with a message"), r.out);
}

// Outside validate, a plugin's exit() is the CLI's plugin error: exit(0) in an init had ended `genplug plugins`
// with status 0 and nothing listed.
BOOST_AUTO_TEST_CASE(a_plugins_exit_0_ends_a_command_with_exit_4_and_says_so) {
  const auto r = run_process({kGenplug, "--plugin-path", lib("exit0"), "plugins"});
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  BOOST_TEST(contains(r.err, "genplug: error: exit(0) was called by a plugin or a library it uses before genplug "
                             "finished"),
             r.err);
  const auto v = validate({lib("exit0")});  // in a probe, as before: the plugin's own status, named as an exit
  BOOST_TEST(v.exit_code == 4, v.out << v.err);
  BOOST_TEST(contains(v.out, "ended the process with exit status 0"), v.out);
}

// The guard acts inside the plugin's exit() call, before the exit handlers: one the plugin registered that never
// returns (a static destructor joining a thread of its own) had hung genplug.
BOOST_AUTO_TEST_CASE(a_plugins_exit_ends_genplug_before_its_exit_handlers_run) {
  const auto r = run_process({"/usr/bin/timeout", "20", kGenplug, "--plugin-path", lib("exit_hanging"), "plugins"});
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  BOOST_TEST(contains(r.err, "genplug: error: exit(0) was called by a plugin or a library it uses"), r.err);
}

// The hidden probe mode, run by hand, had exited 0 after a FAIL.
BOOST_AUTO_TEST_CASE(the_probe_mode_run_by_hand_exits_4_after_a_fail) {
  const auto r = validate({"--probe", "plugin", "--plugin-index", "0", lib("odd_ids")});
  BOOST_TEST(r.exit_code == 4, r.out << r.err);
  BOOST_TEST(has_line(r.out, "FAIL posenc --timeout=: id is reverse-DNS: '--timeout='"), r.out);
  BOOST_TEST(has_line(r.out, "END"), r.out);
}

namespace {

// Sets this process's environment filler to `bytes` (in variables of at most 100 000 bytes; 0 removes it).
void set_filler(size_t bytes) {
  for (int i = 0; i < 200; ++i) ::unsetenv(("GENPLUG_TEST_FILL" + std::to_string(i)).c_str());
  for (int i = 0; bytes > 0; ++i) {
    const size_t n = std::min(bytes, size_t(100000));
    ::setenv(("GENPLUG_TEST_FILL" + std::to_string(i)).c_str(), std::string(n, 'x').c_str(), 1);
    bytes -= n;
  }
}

// Whether genplug can be started with an argv of the lengths of `argv` under the current environment (execve
// refuses with E2BIG otherwise). Words of 'x' make genplug exit at once with a usage error.
bool exec_fits(const std::vector<std::string>& argv) {
  std::vector<std::string> words = {kGenplug};
  for (size_t i = 1; i < argv.size(); ++i) words.push_back(std::string(argv[i].size(), 'x'));
  std::vector<char*> p;
  for (auto& w : words) p.push_back(w.data());
  p.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execve(kGenplug.c_str(), p.data(), environ);
    ::_exit(99);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return !(WIFEXITED(status) && WEXITSTATUS(status) == 99);
}

}  // namespace

// F17: an environment that genplug starts in but its probe, with a longer argv, cannot (E2BIG) had been blamed on
// --memory-limit. The child sends execve's errno back and the error says what failed.
BOOST_AUTO_TEST_CASE(an_exec_failure_of_the_probe_says_what_failed) {
  const std::vector<std::string> argv = {kGenplug, "validate", "--timeout", "5", lib("no_plugin")};
  size_t fits = 0, fails = size_t(16) << 20;
  set_filler(fails);
  const bool unbounded = exec_fits(argv);
  if (!unbounded) {
    while (fails - fits > 1) {  // the largest environment genplug itself still starts in
      const size_t mid = fits + (fails - fits) / 2;
      set_filler(mid);
      (exec_fits(argv) ? fits : fails) = mid;
    }
    set_filler(fits);
  }
  const auto r = unbounded ? genplug::test::ProcessResult{} : run_process(argv);
  set_filler(0);
  if (unbounded) {
    BOOST_TEST_MESSAGE("execve took 16 MiB of environment: no E2BIG to provoke here");
    return;
  }
  BOOST_TEST(r.exit_code == 5, r.out << r.err);
  BOOST_TEST(contains(r.err, "genplug: error: the probe process could not be started: execve(/proc/self/exe): "
                             "Argument list too long"),
             r.err);
  BOOST_TEST(!contains(r.err, "--memory-limit"), r.err);
}
