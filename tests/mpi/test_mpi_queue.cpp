// SPDX-License-Identifier: MIT
// What only MpiQueue does, under mpirun -np 3 (rank 0 runs the tests, ranks 1 and 2 serve):
// where each task ran, crashes, timeouts and cancels on a serving rank, the prefetch window,
// sessions one after another, and shutdown leaving no worker process on any rank.
#include <osiiso/mpi_queue.hpp>
#include <osiiso/osiiso.hpp>

#include "../helpers.hpp"

#include <signal.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using osiiso::MpiQueue;
using osiiso::Seconds;
using osiiso::TaskStatus;
using osiiso::test::since;

namespace mpitest {

int square(int x) { return x * x; }

// The pid of the process that started this worker: the serving rank (fork start method).
int rank_pid(int) { return static_cast<int>(::getppid()); }

int crash(int) {
  ::raise(SIGSEGV);
  return 0;
}

int nap(double seconds) {
  std::this_thread::sleep_for(Seconds(seconds));
  return 1;
}

// How many child processes the serving rank that forked this worker has (this worker included).
int rank_children(int) {
  const auto parent = std::to_string(::getppid());
  std::ifstream in("/proc/" + parent + "/task/" + parent + "/children");
  int count = 0;
  for (int pid = 0; in >> pid;) ++count;
  return count;
}

}  // namespace mpitest

OSIISO_TASK_AS("mpitest::square", mpitest::square);
OSIISO_TASK_AS("mpitest::rank_pid", mpitest::rank_pid);
OSIISO_TASK_AS("mpitest::crash", mpitest::crash);
OSIISO_TASK_AS("mpitest::nap", mpitest::nap);
OSIISO_TASK_AS("mpitest::rank_children", mpitest::rank_children);

namespace {

std::string this_host() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

}  // namespace

TEST_CASE("an MpiQueue runs tasks on the serving ranks and says where each ran", "[mpi_queue]") {
  MpiQueue q;
  CHECK(q.ranks() == 2);
  std::vector<int> inputs;
  for (int i = 0; i < 20; ++i) inputs.push_back(i);
  auto handles = q.map(mpitest::square, inputs);
  const auto summary = q.run();
  REQUIRE(summary.ok());
  std::set<int> ranks;
  std::set<int> pids;
  for (std::size_t i = 0; i < handles.size(); ++i) {
    CHECK(handles[i].value() == inputs[i] * inputs[i]);
    const auto& r = handles[i].result();
    REQUIRE(r.rank.has_value());
    ranks.insert(*r.rank);
    REQUIRE(r.worker_pid.has_value());
    pids.insert(*r.worker_pid);
    CHECK(r.host == this_host());
  }
  CHECK(ranks == std::set<int>{1, 2});  // a backlog is spread over the ranks, one task each first
  CHECK(pids.size() == 2);
  CHECK_THAT(summary.report(), Catch::Contains("Ranks       : 1 (" + this_host() + ")"));
}

TEST_CASE("q.ranks() counts the serving ranks chosen", "[mpi_queue]") {
  MpiQueue q({.ranks = {2}});
  CHECK(q.ranks() == 1);
  auto h = q.submit(mpitest::square, 3);
  CHECK(h.value() == 9);
  CHECK(h.result().rank == 2);
}

TEST_CASE("MpiQueue options are validated with clear messages", "[mpi_queue]") {
  using Catch::Matchers::Message;
  CHECK_THROWS_MATCHES(MpiQueue({.workers_per_rank = 0}), std::invalid_argument,
                       Message("workers_per_rank must be > 0"));
  CHECK_THROWS_MATCHES(MpiQueue({.timeout = Seconds(-1)}), std::invalid_argument, Message("timeout must be > 0"));
  CHECK_THROWS_MATCHES(MpiQueue({.ranks = {0}}), std::invalid_argument,
                       Message("ranks: 0 is not a serving rank (they are 1 and up)"));
  CHECK_THROWS_MATCHES(MpiQueue({.ranks = {1, 1}}), std::invalid_argument, Message("ranks: 1 is listed twice"));
  CHECK_THROWS_MATCHES(MpiQueue({.ranks = {5}}), std::invalid_argument,
                       Message("ranks: 5 is not in this job (it has ranks 0 to 2)"));
  CHECK_THROWS_MATCHES(MpiQueue({.lease = Seconds(0)}), std::invalid_argument, Message("lease must be > 0"));
}

TEST_CASE("one MpiQueue at a time may use the serving ranks", "[mpi_queue]") {
  {
    MpiQueue first;
    CHECK_THROWS_AS(MpiQueue(), osiiso::InvalidStateError);
    CHECK(first.submit(mpitest::square, 2).value() == 4);
  }
  MpiQueue second;
  CHECK(second.submit(mpitest::square, 5).value() == 25);
}

TEST_CASE("a worker crash on a serving rank fails only its task and the rank replaces the worker", "[mpi_queue]") {
  MpiQueue q({.ranks = {1}});
  auto before = q.submit(mpitest::rank_pid, 0);
  auto crashed = q.submit(mpitest::crash, 0);
  std::vector<osiiso::SyncTaskHandle<int>> after;
  for (int i = 0; i < 5; ++i) after.push_back(q.submit(mpitest::square, i));
  q.run();
  CHECK(before.result().status == TaskStatus::Succeeded);
  const auto& r = crashed.result();
  REQUIRE(r.status == TaskStatus::Failed);
  CHECK_THROWS_AS(std::rethrow_exception(r.exception), osiiso::WorkerDiedError);
  CHECK_THAT(r.message, Catch::Contains("SIGSEGV") && Catch::Contains("MPI rank 1") &&
                            Catch::Contains("host " + this_host()) && Catch::Contains("MpiQueue worker"));
  CHECK(r.rank == 1);
  for (int i = 0; i < 5; ++i) {
    CHECK(after[static_cast<std::size_t>(i)].value() == i * i);
    CHECK(after[static_cast<std::size_t>(i)].result().worker_pid != r.worker_pid);
  }
}

TEST_CASE("a timeout on a serving rank kills that worker and the rank goes on", "[mpi_queue]") {
  MpiQueue q({.ranks = {1}});
  const auto start = osiiso::Clock::now();
  auto slow = q.submit({.timeout = 300ms}, mpitest::nap, 30.0);
  auto next = q.submit(mpitest::square, 6);
  q.run();
  CHECK(since(start) < 10s);
  REQUIRE(slow.result().status == TaskStatus::Failed);
  CHECK_THROWS_AS(std::rethrow_exception(slow.result().exception), osiiso::TimeoutError);
  CHECK(next.value() == 36);
  CHECK(next.result().rank == 1);
}

namespace {

// Trivial tasks make the rank's pool queue the next jobs in its worker's pipe (chunked dispatch):
// what follows then waits there, not on the rank, and must behave the same.
void warm_up(MpiQueue& q) {
  std::vector<int> items(200);
  for (int i = 0; i < 200; ++i) items[static_cast<std::size_t>(i)] = i;
  for (auto& h : q.map(mpitest::square, items)) REQUIRE(h.value() >= 0);
}

// Cancels a running task and one that has not begun; the rank goes on. Returns the one not begun.
osiiso::SyncTaskHandle<int> cancel_running_and_waiting(MpiQueue& q) {
  auto running = q.submit(mpitest::nap, 30.0);
  auto waiting = q.submit(mpitest::nap, 30.0);
  REQUIRE(osiiso::test::eventually([&] {
    const auto s = q.stats();
    return s.active == 1 && s.pending == 1;  // the second one waits, not begun
  }));
  const auto start = osiiso::Clock::now();
  CHECK(waiting.cancel());
  CHECK(running.cancel());
  auto after = q.submit(mpitest::square, 7);
  CHECK(after.value() == 49);
  CHECK(since(start) < 10s);
  CHECK(running.result().status == TaskStatus::Cancelled);
  CHECK(waiting.result().status == TaskStatus::Cancelled);
  return waiting;
}

// Three 0.1 s tasks with 0.45 s timeouts behind a 0.6 s one: each timeout counts from its own start.
void check_timeouts_count_from_start(MpiQueue& q) {
  auto first = q.submit(mpitest::nap, 0.6);
  std::vector<osiiso::SyncTaskHandle<int>> queued;
  for (int i = 0; i < 3; ++i) queued.push_back(q.submit({.timeout = 450ms}, mpitest::nap, 0.1));
  q.run();
  CHECK(first.result().status == TaskStatus::Succeeded);
  for (auto& h : queued) CHECK(h.result().status == TaskStatus::Succeeded);
}

}  // namespace

TEST_CASE("cancel stops a task running on a serving rank and one waiting in its prefetch window", "[mpi_queue]") {
  MpiQueue q({.ranks = {1}, .prefetch = 2});
  q.start();
  (void)cancel_running_and_waiting(q);
}

TEST_CASE("a prefetched task's timeout counts from when it reaches a worker", "[mpi_queue]") {
  MpiQueue q({.ranks = {1}, .prefetch = 4});
  check_timeouts_count_from_start(q);
}

TEST_CASE("tasks queued in a rank worker's pipe time out from their own start", "[mpi_queue]") {
  MpiQueue q({.ranks = {1}, .prefetch = 4});
  warm_up(q);
  check_timeouts_count_from_start(q);
}

TEST_CASE("a task queued in a rank worker's pipe is cancelled without running", "[mpi_queue]") {
  MpiQueue q({.ranks = {1}, .prefetch = 2});
  warm_up(q);
  const auto waiting = cancel_running_and_waiting(q);
  CHECK(waiting.result().attempts == 0);
}

TEST_CASE("rank 0 runs tasks in its own workers when root_runs_tasks is set", "[mpi_queue]") {
  MpiQueue q({.ranks = {1}, .root_runs_tasks = true});
  std::vector<double> naps(6, 0.05);
  auto handles = q.map(mpitest::nap, naps);
  q.run();
  std::set<int> ranks;
  for (auto& h : handles) ranks.insert(h.result().rank.value_or(-1));
  CHECK(ranks == std::set<int>{0, 1});
}

TEST_CASE("shutdown leaves no worker process on any rank", "[mpi_queue]") {
  {
    MpiQueue q({.workers_per_rank = 2, .context = osiiso::get_context("fork")});
    std::vector<int> inputs(8, 1);
    auto handles = q.map(mpitest::square, inputs);
    auto crashed = q.submit(mpitest::crash, 0);
    auto slow = q.submit({.timeout = 200ms}, mpitest::nap, 30.0);
    q.run();
    CHECK(crashed.result().status == TaskStatus::Failed);
    CHECK(slow.result().status == TaskStatus::Failed);
  }
  // A new session: each rank's only child is the worker asking.
  MpiQueue q({.context = osiiso::get_context("fork")});
  auto counts = q.map(mpitest::rank_children, std::vector{0, 0});
  q.run();
  std::set<int> ranks;
  for (auto& h : counts) {
    CHECK(h.value() == 1);
    ranks.insert(h.result().rank.value_or(-1));
  }
  CHECK(ranks == std::set<int>{1, 2});
}

TEST_CASE("spawn and forkserver workers serve on the ranks too", "[mpi_queue]") {
  for (const char* method : {"spawn", "forkserver"}) {
    INFO(method);
    MpiQueue q({.context = osiiso::get_context(method)});
    auto handles = q.map(mpitest::square, std::vector{2, 3, 4});
    q.run();
    CHECK(handles[0].value() == 4);
    CHECK(handles[2].value() == 16);
  }
}
