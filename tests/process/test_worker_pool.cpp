// SPDX-License-Identifier: MIT
// The local worker pool driven directly, without the ProcessQueue poller or the engine: what a
// second backend (a serving MPI rank) would do with it.
#include <osiiso/detail/event_loop.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/worker_pool.hpp>
#include <osiiso/errors.hpp>
#include <osiiso/registry.hpp>

#include <fmt/format.h>
#include <signal.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "../helpers.hpp"

namespace pooltest {
int square(int x) { return x * x; }
int crash(int) {
  ::raise(SIGSEGV);
  return 0;
}
int nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int nap_then_crash(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  ::raise(SIGSEGV);
  return 0;
}
// Waits until file `release` exists.
int wait_for(std::string release) {
  while (!std::filesystem::exists(release)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return 0;
}
int touch(std::string path) {
  std::ofstream(path) << "ran";
  return 1;
}
}  // namespace pooltest

OSIISO_TASK_AS("pooltest::square", pooltest::square);
OSIISO_TASK_AS("pooltest::crash", pooltest::crash);
OSIISO_TASK_AS("pooltest::nap", pooltest::nap);
OSIISO_TASK_AS("pooltest::nap_then_crash", pooltest::nap_then_crash);
OSIISO_TASK_AS("pooltest::wait_for", pooltest::wait_for);
OSIISO_TASK_AS("pooltest::touch", pooltest::touch);

namespace {

using osiiso::Clock;
using osiiso::detail::EventLoop;
using osiiso::detail::Frame;
using osiiso::detail::FrameType;
using osiiso::detail::LocalWorkerPool;
using osiiso::detail::PoolJob;
using osiiso::detail::ProcessWork;
using namespace std::chrono_literals;

// Hands out prepared requests in order and records what the pool reports for each id.
struct Listener final : osiiso::detail::PoolListener {
  std::deque<std::uint64_t> waiting;
  std::map<std::uint64_t, std::unique_ptr<osiiso::detail::Work>> works;
  std::map<std::uint64_t, int> values;
  std::map<std::uint64_t, std::string> errors;
  std::map<std::uint64_t, int> pids;

  // Jobs handed out to queue behind a running one, and the deferred jobs reported begun.
  std::set<std::uint64_t> ahead;
  std::map<std::uint64_t, int> began;

  template <class F, class A>
  std::uint64_t add(F f, A argument) {
    const std::uint64_t id = works.size() + 1;
    works[id] = osiiso::detail::make_process_work(f, argument).work;
    waiting.push_back(id);
    return id;
  }
  std::optional<PoolJob> next_job() override {
    if (waiting.empty()) return std::nullopt;
    const auto id = waiting.front();
    waiting.pop_front();
    return PoolJob{id, static_cast<const ProcessWork&>(*works[id]).request(), nullptr, "job"};
  }
  std::optional<PoolJob> next_job_ahead() override {
    auto job = next_job();
    if (job) {
      job->deferred = true;
      ahead.insert(job->id);
    }
    return job;
  }
  void job_began(std::uint64_t id) override { ++began[id]; }
  void job_replied(std::uint64_t id, const Frame& reply, int worker_pid) override {
    REQUIRE(reply.type == FrameType::Value);
    pids[id] = worker_pid;
    values[id] = std::any_cast<int>(static_cast<const ProcessWork&>(*works[id]).decode(reply.payload));
  }
  void job_failed(std::uint64_t id, std::exception_ptr error, int worker_pid) override {
    pids[id] = worker_pid;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      errors[id] = e.what();
    }
  }
  void fail_waiting(const std::exception_ptr& error) override {
    while (!waiting.empty()) {
      job_failed(waiting.front(), error, 0);
      waiting.pop_front();
    }
  }
  [[nodiscard]] std::size_t ended() const { return values.size() + errors.size(); }
};

// One driver turn, as a backend's loop would do it.
void turn(LocalWorkerPool& pool, EventLoop& loop, std::size_t want) {
  pool.prepare(want);
  for (const auto tag : loop.wait(pool.next_timeout(50ms))) CHECK(pool.handle(tag));
  pool.expire();
}

void drive_until(LocalWorkerPool& pool, EventLoop& loop, std::size_t want, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + 20s;
  while (!done() && Clock::now() < deadline) turn(pool, loop, want);
}

osiiso::detail::PoolConfig fork_pool() { return {}; }

}  // namespace

TEST_CASE("a local worker pool runs jobs for any driver, without the poller", "[pool]") {
  const auto children = osiiso::test::child_count();
  Listener listener;
  EventLoop loop;
  {
    LocalWorkerPool pool(fork_pool(), listener, loop);
    for (int i = 0; i < 20; ++i) listener.add(pooltest::square, i);
    drive_until(pool, loop, 2, [&] { return listener.ended() == 20; });
    REQUIRE(listener.values.size() == 20);
    for (const auto& [id, value] : listener.values) CHECK(value == static_cast<int>((id - 1) * (id - 1)));
    std::set<int> pids;
    for (const auto& [id, pid] : listener.pids) pids.insert(pid);
    CHECK(pids.size() <= 2);
    CHECK(*pids.begin() > 0);
    CHECK(pool.size() == 2);
    pool.stop(osiiso::Seconds{2.0});
    CHECK(pool.size() == 0);
  }
  CHECK(osiiso::test::child_count() == children);
}

TEST_CASE("a local worker pool reports a crashed job and replaces its worker", "[pool]") {
  Listener listener;
  EventLoop loop;
  LocalWorkerPool pool(fork_pool(), listener, loop);
  const auto crashed = listener.add(pooltest::crash, 0);
  const auto after = listener.add(pooltest::square, 7);
  drive_until(pool, loop, 1, [&] { return listener.ended() == 2; });
  REQUIRE(listener.errors.count(crashed) == 1);
  CHECK_THAT(listener.errors[crashed], Catch::Contains("SIGSEGV"));
  CHECK_THAT(listener.errors[crashed], Catch::Contains(fmt::format("pid {}", listener.pids[crashed])));
  CHECK(listener.values[after] == 49);
  CHECK(listener.pids[after] != listener.pids[crashed]);
}

TEST_CASE("a local worker pool kills a job on request and reports nothing for it", "[pool]") {
  Listener listener;
  EventLoop loop;
  LocalWorkerPool pool(fork_pool(), listener, loop);
  const auto slow = listener.add(pooltest::nap, 30'000);
  drive_until(pool, loop, 1, [&] { return listener.waiting.empty(); });
  pool.kill_job(slow);
  const auto next = listener.add(pooltest::square, 3);
  drive_until(pool, loop, 1, [&] { return listener.ended() == 1; });
  CHECK(listener.values[next] == 9);
  CHECK(listener.values.count(slow) == 0);
  CHECK(listener.errors.count(slow) == 0);
  const auto ids = pool.kill_all();
  CHECK(ids.empty());
  CHECK(pool.size() == 0);
}

namespace {
osiiso::detail::PoolConfig chunked_pool(std::size_t depth) {
  osiiso::detail::PoolConfig config;
  config.max_jobs_in_flight = depth;
  return config;
}
}  // namespace

TEST_CASE("a chunked pool withdraws a queued job that never runs, and keeps its worker", "[pool][chunk]") {
  const std::string release = osiiso::test::temp_path("osiiso_pool_release");
  const std::string ran = osiiso::test::temp_path("osiiso_pool_ran");
  Listener listener;
  EventLoop loop;
  LocalWorkerPool pool(chunked_pool(4), listener, loop);
  const auto head = listener.add(pooltest::wait_for, release);
  const auto queued = listener.add(pooltest::touch, ran);
  drive_until(pool, loop, 1, [&] { return listener.waiting.empty(); });
  REQUIRE(listener.ahead.count(queued) == 1);
  // The Cancel frame is in the worker's pipe before the head can return.
  pool.kill_job(queued);
  std::ofstream(release) << "go";
  drive_until(pool, loop, 1, [&] { return listener.ended() == 1; });
  const auto after = listener.add(pooltest::square, 3);
  drive_until(pool, loop, 1, [&] { return listener.ended() == 2; });
  CHECK(listener.values[head] == 0);
  CHECK(listener.values[after] == 9);
  CHECK(listener.pids[after] == listener.pids[head]);  // the worker was not replaced
  CHECK(listener.values.count(queued) == 0);
  CHECK(listener.errors.count(queued) == 0);
  CHECK(listener.began.count(queued) == 0);
  CHECK_FALSE(std::filesystem::exists(ran));
  std::filesystem::remove(release);
}

TEST_CASE("a chunked pool gives the queued jobs of a dead worker to another, begun once", "[pool][chunk]") {
  Listener listener;
  EventLoop loop;
  LocalWorkerPool pool(chunked_pool(8), listener, loop);
  const auto crashed = listener.add(pooltest::nap_then_crash, 300);
  std::vector<std::uint64_t> behind;
  for (int i = 0; i < 6; ++i) behind.push_back(listener.add(pooltest::square, i));
  drive_until(pool, loop, 1, [&] { return listener.ended() == 7; });
  REQUIRE(listener.errors.count(crashed) == 1);
  CHECK_THAT(listener.errors[crashed], Catch::Contains("SIGSEGV"));
  for (std::size_t i = 0; i < behind.size(); ++i) {
    CHECK(listener.values[behind[i]] == static_cast<int>(i * i));
    CHECK(listener.pids[behind[i]] != listener.pids[crashed]);
    // Each deferred job began once, on the worker that ran it.
    if (listener.ahead.count(behind[i]) == 1) CHECK(listener.began[behind[i]] == 1);
  }
  CHECK_FALSE(listener.ahead.empty());
}

TEST_CASE("a pool sized automatically never queues a 20 ms job behind another", "[pool][chunk]") {
  Listener listener;
  EventLoop loop;
  osiiso::detail::PoolConfig config;
  config.max_jobs_in_flight = std::nullopt;
  LocalWorkerPool pool(config, listener, loop);
  for (int i = 0; i < 8; ++i) listener.add(pooltest::nap, 20);
  drive_until(pool, loop, 2, [&] { return listener.ended() == 8; });
  CHECK(listener.values.size() == 8);
  // Every measured run is over 20 ms, far past the millisecond a worker may hold.
  CHECK(listener.ahead.empty());
}
