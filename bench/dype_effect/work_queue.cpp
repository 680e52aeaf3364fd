#include "work_queue.hpp"

namespace genplug::dype_effect {

WorkQueue::WorkQueue(std::size_t max_pending) : max_pending_(max_pending < 1 ? 1 : max_pending) {
  worker_ = std::thread([this] { work(); });
}

WorkQueue::~WorkQueue() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    tasks_.clear();  // only wait() promises that pushed tasks ran; here (an error, say) they are dropped
  }
  changed_.notify_all();
  worker_.join();
}

void WorkQueue::rethrow_failure() {
  if (failure_) std::rethrow_exception(failure_);
}

void WorkQueue::push(std::function<void()> task) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return failure_ || tasks_.size() < max_pending_; });
  rethrow_failure();
  tasks_.push_back(std::move(task));
  changed_.notify_all();
}

void WorkQueue::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return failure_ || (tasks_.empty() && !running_task_); });
  rethrow_failure();
}

void WorkQueue::work() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    if (stopping_) return;
    if (failure_) {
      tasks_.clear();
      changed_.notify_all();
      continue;
    }
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    running_task_ = true;
    lock.unlock();
    std::exception_ptr failed;
    try {
      task();
    } catch (...) {
      failed = std::current_exception();
    }
    lock.lock();
    running_task_ = false;
    if (failed && !failure_) failure_ = failed;
    changed_.notify_all();
  }
}

}  // namespace genplug::dype_effect
