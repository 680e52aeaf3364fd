// How many threads the work that runs in oneDNN gets on a CPU: the autoencoder's convolutions, and the
// transformer's products in bf16 (or another compute dtype than f32). oneDNN runs on libtorch's intra-op (OpenMP)
// threads, and libtorch 1.x defaults those to hardware_concurrency / 2 on x86-64, assuming two hyperthreads per
// core: one thread on a 2-vCPU machine with one thread per core, where a FLUX 512² decode then took 21.1 s against
// 12.4 s with two, and a bf16 forward of the peer checkpoint 3.1-3.5 s against 1.9 s. The f32 transformer keeps
// libtorch's default: its products run on OpenBLAS's own pool, and two OpenMP threads on top of it made the bench
// forward 15 % slower (docs/performance.md, "Thread settings"). libtorch 2.x counts physical cores itself
// (c10's defaultNumThreads through cpuinfo), so there the raise usually finds nothing to change.
#pragma once
#include <cstdint>
#include <set>
#include <utility>

namespace genplug::flux {

// The physical cores among `cpus` (Linux CPU numbers), told apart by their (package, core) ids in sysfs under
// `sysfs_cpu` (/sys/devices/system/cpu); 0 when a CPU's topology cannot be read.
int physical_cores(const std::set<int>& cpus, const char* sysfs_cpu = "/sys/devices/system/cpu");
// The physical cores this process may run on (its affinity mask); 0 when unknown.
int physical_cores_available();

// Whether `threads` more threads can run at once now: started together, then ended. A thread limit (ulimit -u)
// that leaves fewer says no, where libtorch's thread pool, asked for them, waited for ever for the ones it could not
// start (caffe2's pthreadpool_create: a decode as a user of ulimit -u 2 or 3 hung until SIGKILL).
bool can_start_threads(int threads);

// For the scope of a decode, an encode or a bf16 forward on the CPU: libtorch's intra-op threads raised to the
// physical cores available, then put back. Does nothing when OMP_NUM_THREADS or MKL_NUM_THREADS is set (the user
// chose, and libtorch already follows it), on other devices, when libtorch already has as many, or when the threads
// it would add cannot be started (can_start_threads).
// Thread: libtorch's count is process-wide; the model's calls run on one thread at a time ([thread: render]).
class IntraOpThreads {
 public:
  explicit IntraOpThreads(bool on_cpu);
  ~IntraOpThreads();
  IntraOpThreads(const IntraOpThreads&) = delete;
  IntraOpThreads& operator=(const IntraOpThreads&) = delete;

  int previous() const { return previous_; }  // 0 when nothing was changed

  // The count libtorch would run with inside such a scope, now (what a bench reports as a forward's threads).
  static int count_in_scope(bool on_cpu);
  // How many scopes have raised the count in this process (tests: that a forward opened one).
  static long raises();

 private:
  int previous_ = 0;
};

}  // namespace genplug::flux
