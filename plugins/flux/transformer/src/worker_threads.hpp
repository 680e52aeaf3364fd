// Running one function on several threads at once, for kernels that split their own work. No torch here.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <system_error>
#include <thread>
#include <vector>

#include <genplug/flux/blas_threads.hpp>

namespace genplug::flux {

// The threads a hand-written kernel splits its work over: the cores OpenBLAS's pool uses (its size, which
// OPENBLAS_NUM_THREADS or else OMP_NUM_THREADS sets), 1 without OpenBLAS. Those cores idle meanwhile.
inline int kernel_threads() { return std::max(1, openblas_threads()); }

// Runs `f` on `threads` threads (the caller's among them) and waits for all; on fewer when no more threads can
// be started, so `f` must take its work from a shared counter rather than by thread index. The first exception
// thrown is rethrown here once every thread has finished.
inline void run_on_threads(int threads, const std::function<void()>& f) {
  std::vector<std::exception_ptr> errors(size_t(std::max(threads, 1)));
  auto guarded = [&](size_t i) {
    try {
      f();
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  try {
    for (int i = 1; i < threads; ++i) pool.emplace_back(guarded, size_t(i));
  } catch (const std::system_error&) {
    // No more threads (a process or memory limit): the ones started, and this one, do the work.
  }
  guarded(0);
  for (auto& t : pool) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// item(i) for every i in [0, count), taken in turn from a shared counter by up to `threads` threads
// (run_on_threads); on this thread alone when one is asked for or there is one item.
template <class Item> void run_items(int threads, int64_t count, Item&& item) {
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t i = next++; i < count; i = next++) item(i);
  };
  if (threads <= 1 || count <= 1) return work();
  run_on_threads(int(std::min<int64_t>(threads, count)), work);
}

// The length of the runs that cover `total` items in as few runs of at most `most` as there can be, evened out
// (1 152 rows in at most 1 024: two of 576, not 1 024 and 128), so that whoever takes them ends together. The
// last run may be shorter by less than the number of runs.
constexpr int64_t evened_run(int64_t total, int64_t most) {
  const int64_t runs = (total + most - 1) / most;
  return (total + runs - 1) / runs;
}

// f(begin, end) over [0, total) split into equal runs, one per thread: kernel_threads() of them, fewer where a
// run would be shorter than `least` (work too small to be worth a thread).
template <class Run> void run_parts(int64_t total, int64_t least, Run&& f) {
  const int threads = int(std::clamp<int64_t>(total / std::max<int64_t>(least, 1), 1, kernel_threads()));
  run_items(threads, threads, [&](int64_t part) { f(total * part / threads, total * (part + 1) / threads); });
}

}  // namespace genplug::flux
