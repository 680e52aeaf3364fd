// The DyPE benchmark's render threads (bench/dype_effect/render_threads.hpp): every job runs once, what on_take
// queues is in job order whatever the threads' speeds, and a failure stops the hand-out and reaches the caller.
#define BOOST_TEST_MODULE render_threads
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "render_threads.hpp"

using genplug::dype_effect::run_jobs_in_order;

namespace {
// Uneven work: job j sleeps (j * 7 % 5) ms, so the threads overtake each other.
void uneven(std::size_t job) { std::this_thread::sleep_for(std::chrono::milliseconds(job * 7 % 5)); }
}  // namespace

BOOST_AUTO_TEST_CASE(every_job_runs_once_and_takes_are_in_order) {
  for (std::size_t threads : {1, 2, 3}) {
    std::mutex mutex;
    std::vector<std::size_t> taken, done;
    std::set<std::size_t> used_threads;
    run_jobs_in_order(
        40, threads, [&](std::size_t job) { taken.push_back(job); },  // under the hand-out's lock
        [&](std::size_t job, std::size_t thread) {
          uneven(job);
          std::lock_guard<std::mutex> lock(mutex);
          done.push_back(job);
          used_threads.insert(thread);
        });
    std::vector<std::size_t> expected(40);
    for (std::size_t j = 0; j < 40; ++j) expected[j] = j;
    BOOST_TEST(taken == expected, threads << " threads");
    std::sort(done.begin(), done.end());
    BOOST_TEST(done == expected, threads << " threads");
    BOOST_TEST(*used_threads.rbegin() < threads, threads << " threads");
  }
}

// The threads really render at once: job 0 waits until another thread has run job 1 (a serial hand-out would
// never get there; the wait gives up after 20 s).
BOOST_AUTO_TEST_CASE(two_threads_work_at_once) {
  std::atomic<bool> second_ran{false};
  bool saw_second = false;
  run_jobs_in_order(
      2, 2, [](std::size_t) {},
      [&](std::size_t job, std::size_t) {
        if (job == 1) {
          second_ran = true;
          return;
        }
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!second_ran && std::chrono::steady_clock::now() < give_up)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        saw_second = second_ran;
      });
  BOOST_TEST(saw_second);
}

// What the benchmark relies on: a job's on_take has run before any later job's work starts.
BOOST_AUTO_TEST_CASE(a_jobs_take_happens_before_any_later_jobs_work) {
  std::atomic<long> last_taken{-1};
  std::atomic<bool> violated{false};
  run_jobs_in_order(
      200, 2, [&](std::size_t job) { last_taken = long(job); },
      [&](std::size_t job, std::size_t) {
        if (last_taken.load() < long(job)) violated = true;
        uneven(job % 3);
      });
  BOOST_TEST(!violated);
  BOOST_TEST(last_taken.load() == 199);
}

BOOST_AUTO_TEST_CASE(a_failing_job_stops_the_hand_out_and_is_rethrown) {
  std::atomic<int> ran{0};
  BOOST_CHECK_EXCEPTION(run_jobs_in_order(
                            1000, 2, [](std::size_t) {},
                            [&](std::size_t job, std::size_t) {
                              ++ran;
                              if (job == 5) throw std::runtime_error("job 5 failed");
                              uneven(job);
                            }),
                        std::runtime_error, [](const std::runtime_error& e) { return std::string(e.what()) == "job 5 failed"; });
  BOOST_TEST(ran.load() >= 6);   // jobs 0-5 were taken before the failure
  BOOST_TEST(ran.load() < 500);  // stopped: the other thread takes jobs only until the failure is recorded (a few,
                                 // or more if the failing thread is descheduled; not the 1 000)
}

BOOST_AUTO_TEST_CASE(a_failing_take_is_rethrown_and_no_later_job_runs) {
  std::atomic<long> highest{-1};
  BOOST_CHECK_THROW(run_jobs_in_order(
                        50, 2,
                        [](std::size_t job) {
                          if (job == 10) throw std::logic_error("take 10");
                        },
                        [&](std::size_t job, std::size_t) {
                          long h = highest.load();
                          while (long(job) > h && !highest.compare_exchange_weak(h, long(job))) {}
                        }),
                    std::logic_error);
  BOOST_TEST(highest.load() == 9);
}

BOOST_AUTO_TEST_CASE(no_jobs_run_nothing) {
  int calls = 0;
  run_jobs_in_order(0, 2, [&](std::size_t) { ++calls; }, [&](std::size_t, std::size_t) { ++calls; });
  BOOST_TEST(calls == 0);
}
