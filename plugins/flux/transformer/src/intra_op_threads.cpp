#include <genplug/flux/intra_op_threads.hpp>

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>

namespace genplug::flux {
namespace {

bool read_id(const std::string& path, long& id) {
  std::ifstream in(path);
  return static_cast<bool>(in >> id);
}

bool user_chose_threads() { return std::getenv("OMP_NUM_THREADS") || std::getenv("MKL_NUM_THREADS"); }

std::atomic<long> raised{0};

int cores_once() {
  static const int cores = physical_cores_available();  // read from sysfs once, not at every preview
  return cores;
}

}  // namespace

int physical_cores(const std::set<int>& cpus, const char* sysfs_cpu) {
  std::set<std::pair<long, long>> cores;
  for (int cpu : cpus) {
    const std::string topology = std::string(sysfs_cpu) + "/cpu" + std::to_string(cpu) + "/topology/";
    long package = 0, core = 0;
    if (!read_id(topology + "physical_package_id", package) || !read_id(topology + "core_id", core)) return 0;
    cores.emplace(package, core);
  }
  return static_cast<int>(cores.size());
}

int physical_cores_available() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof mask, &mask) != 0) return 0;
  std::set<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &mask)) cpus.insert(cpu);
  return physical_cores(cpus);
}

int IntraOpThreads::count_in_scope(bool on_cpu) {
  const int now = at::get_num_threads();
  return !on_cpu || user_chose_threads() ? now : std::max(now, cores_once());
}

long IntraOpThreads::raises() { return raised.load(); }

bool can_start_threads(int threads) {
  std::mutex mutex;
  std::condition_variable released;
  bool release = false;
  std::vector<std::thread> pool;
  pool.reserve(size_t(std::max(threads, 0)));  // no allocation between a start and its join
  bool all = true;
  try {
    for (int i = 0; i < threads; ++i)
      pool.emplace_back([&] {  // alive together, as a pool's threads are; asleep meanwhile
        std::unique_lock<std::mutex> lock(mutex);
        released.wait(lock, [&] { return release; });
      });
  } catch (const std::system_error&) {
    all = false;  // EAGAIN: a thread limit, or no memory for a stack
  }
  {
    const std::lock_guard<std::mutex> lock(mutex);
    release = true;
  }
  released.notify_all();
  for (auto& t : pool) t.join();
  return all;
}

IntraOpThreads::IntraOpThreads(bool on_cpu) {
  const int now = at::get_num_threads(), in_scope = count_in_scope(on_cpu);
  // libtorch's pool starts a thread for each of the count (the caller's among them), in a new pool beside the old.
  if (in_scope <= now || !can_start_threads(in_scope)) return;
  previous_ = now;
  at::set_num_threads(in_scope);
  ++raised;
}

IntraOpThreads::~IntraOpThreads() {
  if (previous_ > 0) at::set_num_threads(previous_);
}

}  // namespace genplug::flux
