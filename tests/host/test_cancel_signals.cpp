// SIGINT and SIGTERM as cancellation (genplug/host/cancel_signals.hpp), each case in a child process: the first
// signal sets the cancel flag and ends a system call blocked on a FIFO; a second one removes the temporary output
// being written and exits at once with 128 + signal (issue 15, cases 3 and 4); with install_exit_signals the first
// one does that.
#define BOOST_TEST_MODULE cancel_signals
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include <genplug/host/cancel_signals.hpp>

#include "atomic_output.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::atomic<bool> g_cancel{false};

// The child's wait status; it is killed (and the case fails) when it has not exited within 10 s.
int wait_for(pid_t child) {
  int status = 0;
  for (int i = 0; i < 1000; ++i) {
    if (::waitpid(child, &status, WNOHANG) == child) return status;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, &status, 0);
  BOOST_FAIL("the child did not exit within 10 s of the signal");
  return status;
}

// Whether the child wrote its next byte to the pipe (it reached a point of the case) within 10 s.
bool child_reached(int fd) {
  pollfd p{fd, POLLIN, 0};
  char c = 0;
  return ::poll(&p, 1, 10000) == 1 && ::read(fd, &c, 1) == 1;
}

// Whether the child sleeps in the kernel (state S in /proc/PID/stat), within 10 s: blocked in open().
bool child_sleeps(pid_t child) {
  for (int i = 0; i < 1000; ++i) {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string pid, name, state;
    if (stat >> pid >> name >> state && state == "S") return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// A child process with the cancel handlers installed that runs `body(ready)` and exits; `ready` is the write end
// of a pipe whose read end is returned with the child's pid, for the child to say where it is.
struct Child {
  pid_t pid;
  int ready;
};
template <class Body>
Child start_child(Body body, std::chrono::seconds grace = genplug::host::kCancelGrace) {
  int ready[2];
  BOOST_REQUIRE(::pipe(ready) == 0);
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    genplug::host::install_cancel_signals(g_cancel, grace);
    body(ready[1]);
    ::_exit(4);
  }
  return {pid, ready[0]};
}

std::size_t files_in(const fs::path& folder) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(folder)) ++n;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_first_signal_sets_cancel_and_ends_an_open_blocked_on_a_fifo) {
  genplug::test::TempDir dir("signals");
  const fs::path fifo = dir.path / "fifo";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const Child child = start_child([&](int ready) {
    if (::write(ready, "r", 1) != 1) ::_exit(3);
    const int fd = ::open(fifo.c_str(), O_RDONLY);  // no writer ever comes
    const bool interrupted = fd < 0 && errno == EINTR;
    ::_exit(interrupted && g_cancel.load() && genplug::host::cancel_signal() == SIGINT ? 0 : 1);
  });
  BOOST_REQUIRE(child_reached(child.ready));
  BOOST_REQUIRE(child_sleeps(child.pid));
  ::kill(child.pid, SIGINT);
  const int status = wait_for(child.pid);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0, "the open was not interrupted, or cancel or the signal not recorded");
}

BOOST_AUTO_TEST_CASE(a_second_signal_removes_the_temporary_output_and_exits_at_once) {
  genplug::test::TempDir dir("signals");
  const fs::path target = dir.path / "out.exr";
  const Child child = start_child([&](int ready) {
    genplug::host::TemporaryFile temporary(target);  // an output being written
    if (::write(ready, "1", 1) != 1) ::_exit(3);
    while (!g_cancel.load()) std::this_thread::sleep_for(1ms);
    if (::write(ready, "2", 1) != 1) ::_exit(3);  // the first signal only cancelled: still writing
    for (;;) std::this_thread::sleep_for(1ms);
  });
  BOOST_REQUIRE(child_reached(child.ready));
  BOOST_TEST(files_in(dir.path) == 1u);  // the temporary file
  ::kill(child.pid, SIGTERM);
  BOOST_REQUIRE(child_reached(child.ready));
  BOOST_TEST(files_in(dir.path) == 1u);
  std::this_thread::sleep_for(500ms);  // within 0.25 s it would be the first once more
  ::kill(child.pid, SIGTERM);
  const int status = wait_for(child.pid);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 128 + SIGTERM);
  BOOST_TEST(files_in(dir.path) == 0u, "the temporary file was left behind");
  BOOST_TEST(!fs::exists(target));
}

// GNU timeout sends its signal to the process and then to the process group, or passes on the one its group got,
// so the same SIGTERM comes twice within microseconds, from one or two senders: one request, which cancels; the
// run then ends on its own, with its error line. It had ended 3 runs in 25 at once, without a word. Here the
// second comes from another process (a child of the test's), a pipe round trip after the first was handled.
// Returns the child's exit code, or -1 when the repeat took 0.1 s or more to send (a loaded machine): then it
// may rightly count as a second request, and the attempt says nothing. The 0.15 s left of the 0.25 s window are
// for the child to be scheduled, which the test cannot see.
int repeat_from_another_sender() {
  genplug::test::TempDir dir("signals");
  int go[2];  // the test tells the child the repeat was sent: it is then pending or handled
  BOOST_REQUIRE(::pipe(go) == 0);
  const Child child = start_child([&](int ready) {
    genplug::host::TemporaryFile temporary(dir.path / "out.exr");
    if (::write(ready, "1", 1) != 1) ::_exit(3);
    while (!g_cancel.load()) std::this_thread::sleep_for(1ms);
    if (::write(ready, "2", 1) != 1) ::_exit(3);  // the first was handled: the repeat cannot merge with it
    char c = 0;
    while (::read(go[0], &c, 1) != 1) {  // EINTR when the repeat comes here
    }
    ::_exit(genplug::host::cancel_signal() == SIGTERM ? 0 : 1);  // ~TemporaryFile does not run: _exit
  });
  BOOST_REQUIRE(child_reached(child.ready));
  const auto first = std::chrono::steady_clock::now();
  ::kill(child.pid, SIGTERM);
  BOOST_REQUIRE(child_reached(child.ready));
  const pid_t relay = ::fork();  // within a few milliseconds of the first, from another sender
  if (relay == 0) ::_exit(::kill(child.pid, SIGTERM) == 0 ? 0 : 1);
  int relayed = 0;
  ::waitpid(relay, &relayed, 0);
  const bool in_time = std::chrono::steady_clock::now() - first < 100ms;
  BOOST_REQUIRE(::write(go[1], "g", 1) == 1);
  const int status = wait_for(child.pid);
  ::close(go[0]);
  ::close(go[1]);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST((WIFEXITED(relayed) && WEXITSTATUS(relayed) == 0), "the repeat was not sent");
  return in_time ? WEXITSTATUS(status) : -1;
}

BOOST_AUTO_TEST_CASE(the_same_signal_twice_at_once_is_one_request) {
  int code = -1;
  for (int attempt = 0; attempt < 5 && code == -1; ++attempt) code = repeat_from_another_sender();
  BOOST_TEST(code != -1, "each of 5 repeats took 0.1 s or more to send");
  BOOST_TEST(code == 0, "exit " << code << ": the repeat was taken for a second signal");
}

// A call that never comes back to look at the flag (OpenBLAS 0.3.21 retrying a failed allocation for ever under
// ulimit -v spun so, and the one SIGTERM of GNU timeout, delivered twice at once, made no second signal): when the
// grace after the first signal is over, the process ends as at a second signal, the temporary output removed, and
// says why on stderr. Not before: the grace is given.
BOOST_AUTO_TEST_CASE(a_call_that_never_returns_ends_when_the_grace_is_over) {
  genplug::test::TempDir dir("signals"), logs("signals-log");
  const fs::path log = logs.path / "stderr";
  const fs::path out_log = logs.path / "stdout";
  const Child child = start_child(
      [&](int ready) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int out = ::open(out_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || out < 0 || ::dup2(fd, STDERR_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0) ::_exit(3);
        genplug::host::set_cancel_grace_lines("interrupted\n", "terminated\n", "library\n");  // a monitor's event
        genplug::host::TemporaryFile temporary(dir.path / "out.exr");
        if (::write(ready, "1", 1) != 1) ::_exit(3);
        for (volatile unsigned spin = 0;; spin = spin + 1) {  // never looks at the flag
        }
      },
      1s);
  BOOST_REQUIRE(child_reached(child.ready));
  BOOST_TEST(files_in(dir.path) == 1u);
  const auto sent = std::chrono::steady_clock::now();
  ::kill(child.pid, SIGTERM);  // one request, as GNU timeout's (its repeat within 0.25 s is the same one)
  const int status = wait_for(child.pid);
  const auto waited = std::chrono::steady_clock::now() - sent;
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 128 + SIGTERM);
  BOOST_TEST(std::chrono::duration<double>(waited).count() >= 0.9, "it ended before the grace was over");
  BOOST_TEST(files_in(dir.path) == 0u, "the temporary file was left behind");
  std::ifstream in(log);
  const std::string said((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(said == "\ngenplug: stopped 1 s after the signal, without waiting for the plugin call under way to "
                     "return (GENPLUG_CANCEL_GRACE)\n");
  std::ifstream out(out_log);
  BOOST_TEST(std::string((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>()) == "terminated\n");
}

// A caller that has come back and ends on its own (a slow clean-up) is not cut short: disarmed, the grace ends
// nothing, and the exit is the caller's own.
BOOST_AUTO_TEST_CASE(a_disarmed_grace_ends_nothing) {
  const Child child = start_child(
      [&](int ready) {
        if (::write(ready, "1", 1) != 1) ::_exit(3);
        while (!g_cancel.load()) std::this_thread::sleep_for(1ms);
        genplug::host::disarm_cancel_grace();
        std::this_thread::sleep_for(4s);  // twice the grace
        ::_exit(7);
      },
      2s);
  BOOST_REQUIRE(child_reached(child.ready));
  ::kill(child.pid, SIGINT);
  const int status = wait_for(child.pid);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 7, "the grace ended the child (exit " << WEXITSTATUS(status) << ")");
}

// A signal the process sends itself is a library giving up (OpenBLAS raises SIGINT when it cannot start its threads),
// not a request: it cancels, is told apart (cancel_signal_from_self), and the grace then ends the process with 4,
// a plugin's failure, not 130 "cancelled" (which a farm retries, to fail alike). A signal from elsewhere is not.
BOOST_AUTO_TEST_CASE(a_signal_the_process_raises_itself_is_a_failure_not_a_cancel) {
  const Child child = start_child(
      [&](int) {
        ::raise(SIGINT);
        if (!g_cancel.load() || !genplug::host::cancel_signal_from_self()) ::_exit(1);
        for (volatile unsigned spin = 0;; spin = spin + 1) {  // the library's call goes on, as OpenBLAS's did
        }
      },
      1s);
  const int status = wait_for(child.pid);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 4, "exit " << WEXITSTATUS(status) << " (1: not cancelled or not told apart)");
  const Child other = start_child([&](int ready) {
    if (::write(ready, "1", 1) != 1) ::_exit(3);
    while (!g_cancel.load()) std::this_thread::sleep_for(1ms);
    ::_exit(genplug::host::cancel_signal_from_self() ? 1 : 0);
  });
  BOOST_REQUIRE(child_reached(other.ready));
  ::kill(other.pid, SIGINT);
  const int from_parent = wait_for(other.pid);
  BOOST_TEST((WIFEXITED(from_parent) && WEXITSTATUS(from_parent) == 0), "another process's signal taken as its own");
}

// A command that does not stop part-way says so for its own signal and exits 4.
BOOST_AUTO_TEST_CASE(with_exit_signals_a_signal_the_process_raises_itself_exits_4) {
  genplug::test::TempDir logs("signals-log");
  const fs::path log = logs.path / "stderr";
  const Child child = start_child([&](int) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ::dup2(fd, STDERR_FILENO) < 0) ::_exit(3);
    genplug::host::install_exit_signals();
    ::raise(SIGTERM);
    ::_exit(1);
  });
  const int status = wait_for(child.pid);
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 4), "status " << status);
  std::ifstream in(log);
  const std::string said((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(said.rfind("\ngenplug: error: a library raised SIGINT or SIGTERM in genplug's own process", 0) == 0, said);
}

// Commands that do not stop part-way (genplug encode) end at the first signal, without their temporary output.
BOOST_AUTO_TEST_CASE(with_exit_signals_the_first_signal_removes_the_temporary_output_and_exits) {
  genplug::test::TempDir dir("signals");
  const Child child = start_child([&](int ready) {
    genplug::host::install_exit_signals();
    genplug::host::TemporaryFile temporary(dir.path / "out.safetensors");
    if (::write(ready, "1", 1) != 1) ::_exit(3);
    for (;;) std::this_thread::sleep_for(1ms);
  });
  BOOST_REQUIRE(child_reached(child.ready));
  BOOST_TEST(files_in(dir.path) == 1u);
  ::kill(child.pid, SIGINT);
  const int status = wait_for(child.pid);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 128 + SIGINT);
  BOOST_TEST(files_in(dir.path) == 0u, "the temporary file was left behind");
}
