// One worker thread that scores while the pipeline renders: the model's evaluations use one torch thread (and
// OpenBLAS's pool for the larger products, docs/performance.md), so the detector, spectra and exact renders of
// the next pictures run beside them. Tasks run in the order they were pushed.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace genplug::dype_effect {

class WorkQueue {
 public:
  // push() blocks while `max_pending` tasks wait (bounding the pictures held in memory).
  explicit WorkQueue(std::size_t max_pending);
  ~WorkQueue();  // drops what is pending, lets the running task finish, joins
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Rethrows a failed task's exception (the first), after which no more tasks run.
  void push(std::function<void()> task);
  // Until every pushed task has run; rethrows the first failure.
  void wait();

 private:
  void work();
  void rethrow_failure();

  std::size_t max_pending_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> tasks_;
  bool running_task_ = false, stopping_ = false;
  std::exception_ptr failure_;
  std::thread worker_;
};

}  // namespace genplug::dype_effect
