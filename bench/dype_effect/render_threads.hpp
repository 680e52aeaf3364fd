// Jobs handed out in order to several render threads. The mini model's forward runs on one core (its products
// are too small for libtorch's or OpenBLAS's pools to help: the reduced set used 31 min of CPU in 35 min), so the
// benchmark renders one cell per core, each thread with a pipeline of its own.
#pragma once
#include <cstddef>
#include <functional>

namespace genplug::dype_effect {

// Runs work(job, thread) for every job in [0, jobs) on `threads` threads (thread 0 is this one), each thread
// taking the next job in order when it is free. on_take(job) runs while the job is taken, under the hand-out's
// lock: what it queues is queued in job order, before any later job is taken. The first exception (of on_take or
// work) stops the hand-out; the other threads finish their job, and it is rethrown here.
void run_jobs_in_order(std::size_t jobs, std::size_t threads, const std::function<void(std::size_t job)>& on_take,
                       const std::function<void(std::size_t job, std::size_t thread)>& work);

}  // namespace genplug::dype_effect
