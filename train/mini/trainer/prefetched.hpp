// Items 0, 1, 2, ... of a sequence made ahead on one background thread, handed out in order.
//
// The trainer's data (scenes rendered and passed through the frozen autoencoder) is a pure function of the item's
// index, so making it on another core while the training step runs changes when it is made, not what it is:
// the consumer sees the same items in the same order as if it made them itself. A `make` that throws ends the
// sequence; next() hands out the items made before it, then rethrows.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace genplug::mini {

template <class T>
class Prefetched {
 public:
  // Starts the thread at once; it keeps up to `depth` (>= 1) finished items waiting.
  Prefetched(std::function<T(long)> make, std::size_t depth)
      : make_(std::move(make)), depth_(depth < 1 ? 1 : depth), worker_([this] { run(); }) {}
  Prefetched(const Prefetched&) = delete;
  Prefetched& operator=(const Prefetched&) = delete;

  // Waits for the worker's current item, if any, then joins it.
  ~Prefetched() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }

  // The next item in order (blocks until it is made); rethrows make's exception once the items before it are out.
  T next() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !ready_.empty() || failure_; });
    if (ready_.empty()) std::rethrow_exception(failure_);
    T item = std::move(ready_.front());
    ready_.pop_front();
    changed_.notify_all();
    return item;
  }

 private:
  void run() {
    for (long index = 0;; ++index) {
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [this] { return ready_.size() < depth_ || stopping_; });
        if (stopping_) return;
      }
      try {
        T item = make_(index);
        std::lock_guard lock(mutex_);
        ready_.push_back(std::move(item));
      } catch (...) {
        std::lock_guard lock(mutex_);
        failure_ = std::current_exception();
      }
      changed_.notify_all();
      if (failure_) return;  // written by this thread only
    }
  }

  std::function<T(long)> make_;
  std::size_t depth_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<T> ready_;
  std::exception_ptr failure_;
  bool stopping_ = false;
  std::thread worker_;  // last: starts once every other member exists
};

}  // namespace genplug::mini
