// libtorch's intra-op threads for oneDNN's work (genplug/flux/intra_op_threads.hpp): physical cores counted from
// sysfs topology, raised for a decode's scope and put back, and left alone when the user chose a count.
#define BOOST_TEST_MODULE intra_op_threads
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <ATen/Parallel.h>

#include <genplug/flux/intra_op_threads.hpp>
#include "env_scope.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using genplug::flux::IntraOpThreads;
using genplug::test::EnvScope;
using genplug::flux::physical_cores;
using genplug::flux::physical_cores_available;

namespace {

void add_cpu(const fs::path& root, int cpu, int package, int core) {
  const fs::path topology = root / ("cpu" + std::to_string(cpu)) / "topology";
  fs::create_directories(topology);
  std::ofstream(topology / "physical_package_id") << package << "\n";
  std::ofstream(topology / "core_id") << core << "\n";
}

}  // namespace

BOOST_AUTO_TEST_CASE(hyperthreads_of_one_core_count_once_and_packages_apart) {
  genplug::test::TempDir sysfs("cpu-topology");
  const std::string root = sysfs.path.string();
  add_cpu(sysfs.path, 0, 0, 0);
  add_cpu(sysfs.path, 1, 0, 0);  // cpu0's hyperthread
  add_cpu(sysfs.path, 2, 0, 1);
  add_cpu(sysfs.path, 3, 1, 0);  // core 0 of another package
  BOOST_TEST(physical_cores({0, 1}, root.c_str()) == 1);
  BOOST_TEST(physical_cores({0, 2}, root.c_str()) == 2);
  BOOST_TEST(physical_cores({0, 1, 2, 3}, root.c_str()) == 3);
  BOOST_TEST(physical_cores({3}, root.c_str()) == 1);
  BOOST_TEST(physical_cores({0, 7}, root.c_str()) == 0);  // cpu7 has no topology: unknown
  BOOST_TEST(physical_cores({}, root.c_str()) == 0);
}

// Where sysfs shows no CPU topology (some sandboxes), the count is unknown (0) and decodes keep libtorch's threads.
BOOST_AUTO_TEST_CASE(this_machine_has_between_one_core_and_one_per_hardware_thread) {
  const int cores = physical_cores_available();
  if (!fs::exists("/sys/devices/system/cpu/cpu0/topology/core_id")) {
    BOOST_TEST(cores == 0);
    return;
  }
  BOOST_TEST(cores >= 1);
  BOOST_TEST(cores <= int(std::thread::hardware_concurrency()));
}

BOOST_AUTO_TEST_CASE(a_decode_or_a_bf16_forward_gets_every_physical_core_for_its_scope_only) {
  const EnvScope omp("OMP_NUM_THREADS", nullptr), mkl("MKL_NUM_THREADS", nullptr);
  at::set_num_threads(1);
  const int cores = physical_cores_available();
  BOOST_TEST(IntraOpThreads::count_in_scope(true) == std::max(1, cores));  // what a scope would set, unchanged now
  BOOST_TEST(IntraOpThreads::count_in_scope(false) == 1);
  BOOST_TEST(at::get_num_threads() == 1);
  {
    const IntraOpThreads threads(true);
    BOOST_TEST(at::get_num_threads() == std::max(1, cores));
    BOOST_TEST(threads.previous() == (cores > 1 ? 1 : 0));
  }
  BOOST_TEST(at::get_num_threads() == 1);
  {
    const IntraOpThreads threads(false);  // another device: libtorch's CPU threads do not matter
    BOOST_TEST(at::get_num_threads() == 1);
    BOOST_TEST(threads.previous() == 0);
  }
  at::set_num_threads(cores + 1);  // already more than the cores: kept
  {
    const IntraOpThreads threads(true);
    BOOST_TEST(at::get_num_threads() == cores + 1);
  }
  BOOST_TEST(at::get_num_threads() == cores + 1);
  at::set_num_threads(1);
}

BOOST_AUTO_TEST_CASE(a_count_the_user_chose_is_left_alone) {
  for (const char* variable : {"OMP_NUM_THREADS", "MKL_NUM_THREADS"}) {
    const EnvScope chosen(variable, "1");
    at::set_num_threads(1);
    const IntraOpThreads threads(true);
    BOOST_TEST(at::get_num_threads() == 1, variable);
    BOOST_TEST(threads.previous() == 0, variable);
  }
}

// Under a thread limit that leaves none (RLIMIT_NPROC 1 for a user with this one process), no thread can be started,
// and a scope then changes nothing: libtorch's pool, asked for threads it could not start, had waited for ever. In a
// child as the user nobody, since RLIMIT_NPROC does not bind root; run as root (CI is), else the case says so.
BOOST_AUTO_TEST_CASE(threads_that_cannot_be_started_are_not_asked_of_libtorch) {
  BOOST_TEST(genplug::flux::can_start_threads(2));
  BOOST_TEST(genplug::flux::can_start_threads(0));
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("not root: RLIMIT_NPROC cannot be made to bind here (the case needs to become another user)");
    return;
  }
  const EnvScope omp("OMP_NUM_THREADS", nullptr), mkl("MKL_NUM_THREADS", nullptr);
  at::set_num_threads(1);
  const bool would_raise = IntraOpThreads::count_in_scope(true) > 1;  // two cores or more
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(30);  // a hang ends the child
    const rlimit one{1, 1};
    if (::setgid(65534) != 0 || ::setuid(65534) != 0 || ::setrlimit(RLIMIT_NPROC, &one) != 0) ::_exit(2);
    if (genplug::flux::can_start_threads(1)) ::_exit(3);
    {
      const IntraOpThreads scope(true);
      if (scope.previous() != 0 || at::get_num_threads() != 1) ::_exit(4);
    }
    ::_exit(0);
  }
  if (!would_raise) BOOST_TEST_MESSAGE("one core: no scope would raise the count here; the thread check alone");
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0),
             "status " << status << " (2: could not become nobody; 3: a thread started; 4: the scope raised)");
}
