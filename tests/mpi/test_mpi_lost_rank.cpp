// SPDX-License-Identifier: MIT
// A serving rank that dies, under mpirun --enable-recovery (ctest's mpi.lost_rank): rank 0 finds
// it lost by its lease, fails (or retries, per retries) exactly the tasks it held, goes on with the
// other rank, and neither run() nor the end of the program hangs.
#include <osiiso/mpi_queue.hpp>
#include <osiiso/osiiso.hpp>

#include "../helpers.hpp"

#include <signal.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using osiiso::Seconds;
using osiiso::TaskStatus;
using osiiso::test::since;

namespace losttest {

// Kills the serving rank that forked this worker (the worker then dies with it).
int kill_my_rank(int) {
  std::this_thread::sleep_for(100ms);  // the other rank's tasks are under way by then
  ::kill(::getppid(), SIGKILL);
  std::this_thread::sleep_for(30s);
  return 0;
}

int nap(double seconds) {
  std::this_thread::sleep_for(Seconds(seconds));
  return 1;
}

}  // namespace losttest

OSIISO_TASK_AS("losttest::kill_my_rank", losttest::kill_my_rank);
OSIISO_TASK_AS("losttest::nap", losttest::nap);

TEST_CASE("a lost rank fails or retries exactly the tasks it held, and the queue goes on", "[mpi_lost_rank]") {
  REQUIRE(osiiso::mpi::size() == 3);
  osiiso::MpiQueue q({.context = osiiso::get_context("fork"), .prefetch = 3, .lease = 1s});
  const auto start = osiiso::Clock::now();
  auto killer = q.submit(losttest::kill_my_rank, 0);  // the first task goes to rank 1
  std::vector<osiiso::SyncTaskHandle<int>> once;
  std::vector<osiiso::SyncTaskHandle<int>> twice;
  for (int i = 0; i < 4; ++i) {
    once.push_back(q.submit(losttest::nap, 0.2));
    twice.push_back(q.submit({.retries = 1}, losttest::nap, 0.2));
  }
  const auto summary = q.run({.timeout = 60s});
  CHECK_FALSE(summary.timed_out);
  CHECK(since(start) < 30s);

  const auto& k = killer.result();
  REQUIRE(k.status == TaskStatus::Failed);
  CHECK_THROWS_AS(std::rethrow_exception(k.exception), osiiso::WorkerDiedError);
  CHECK_THAT(k.message, Catch::Contains("MPI rank 1") && Catch::Contains("was lost"));
  CHECK(k.attempts == 1);

  // A task without retries ran once: it succeeded, or failed because its rank was lost.
  for (auto& h : once) {
    const auto& r = h.result();
    CHECK(r.attempts == 1);
    if (r.status == TaskStatus::Failed) CHECK_THAT(r.message, Catch::Contains("was lost"));
  }
  // A task with a retry held by the lost rank ran again on the other one.
  for (auto& h : twice) {
    const auto& r = h.result();
    CHECK(r.status == TaskStatus::Succeeded);
    if (r.attempts == 2) CHECK(r.rank == 2);
  }

  // The queue goes on with the rank that is left.
  auto after = q.submit(losttest::nap, 0.01);
  CHECK(after.value() == 1);
  CHECK(after.result().rank == 2);
}
