// The trainer's prefetch thread (train/mini/trainer/prefetched.hpp): items come out in index order whatever the
// timing, a failure reaches the consumer after the items made before it, and destruction never waits on a
// consumer that stopped asking.
#define BOOST_TEST_MODULE prefetched
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "trainer/prefetched.hpp"

using genplug::mini::Prefetched;

BOOST_AUTO_TEST_CASE(items_come_out_in_index_order_made_once_each) {
  std::atomic<int> calls{0};
  Prefetched<long> squares(
      [&](long i) {
        ++calls;
        if (i % 3 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // uneven making times
        return i * i;
      },
      2);
  for (long i = 0; i < 50; ++i) {
    if (i % 7 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(3));  // and uneven asking
    BOOST_TEST(squares.next() == i * i);
  }
  BOOST_TEST(calls.load() <= 50 + 2 + 1);  // at most `depth` waiting plus the one being made
}

BOOST_AUTO_TEST_CASE(a_failure_follows_the_items_made_before_it) {
  Prefetched<std::string> items(
      [](long i) {
        if (i == 2) throw std::runtime_error("scene 2 failed");
        return std::to_string(i);
      },
      4);
  BOOST_TEST(items.next() == "0");
  BOOST_TEST(items.next() == "1");
  BOOST_CHECK_EXCEPTION(items.next(), std::runtime_error,
                        [](const std::runtime_error& e) { return std::string(e.what()) == "scene 2 failed"; });
  BOOST_CHECK_THROW(items.next(), std::runtime_error);  // the sequence stays ended
}

BOOST_AUTO_TEST_CASE(destruction_stops_a_worker_that_is_waiting_for_room) {
  std::atomic<long> made{0};
  {
    Prefetched<long> items(
        [&](long i) {
          made = i + 1;
          return i;
        },
        1);
    BOOST_TEST(items.next() == 0);
    while (made.load() < 2) std::this_thread::yield();  // item 1 made, the worker now waits for room
  }  // joins without hanging
  BOOST_TEST(made.load() == 2);
}
