#include "render_threads.hpp"

#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace genplug::dype_effect {

void run_jobs_in_order(std::size_t jobs, std::size_t threads, const std::function<void(std::size_t)>& on_take,
                       const std::function<void(std::size_t, std::size_t)>& work) {
  std::mutex mutex;
  std::size_t next = 0;
  std::exception_ptr failure;
  auto take = [&]() -> std::optional<std::size_t> {
    std::lock_guard<std::mutex> lock(mutex);
    if (failure || next >= jobs) return std::nullopt;
    try {
      on_take(next);
    } catch (...) {
      failure = std::current_exception();
      return std::nullopt;
    }
    return next++;
  };
  auto fail = [&](std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!failure) failure = e;
  };
  auto loop = [&](std::size_t thread) {
    while (const std::optional<std::size_t> job = take()) {
      try {
        work(*job, thread);
      } catch (...) {
        fail(std::current_exception());
        return;
      }
    }
  };
  std::vector<std::thread> others;
  for (std::size_t t = 1; t < threads; ++t) others.emplace_back(loop, t);
  loop(0);
  for (std::thread& t : others) t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace genplug::dype_effect
