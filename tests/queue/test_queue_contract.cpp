// SPDX-License-Identifier: MIT
// The queue contract, run on ThreadQueue and ProcessQueue alike: the port of the Python
// tests/test_thread_queue.py and tests/test_process_queue.py, plus one case per scheduling rule.
#include <osiiso/process_queue.hpp>
#include <osiiso/thread_queue.hpp>

#include <osiiso/osiiso.hpp>

#include "../helpers.hpp"
#include "queue_kinds.hpp"

#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <any>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using contract::append_line;
using contract::read_lines;
using osiiso::Clock;
using osiiso::Seconds;
using osiiso::TaskStatus;
using osiiso::test::eventually;
using osiiso::test::since;

// The tasks of the contract: registered free functions, which both queues accept. State a task
// shares with the test lives in a file, since a ProcessQueue task runs in another process.
namespace contract {

int double_it(int x) { return x * 2; }
int add(int a, int b) { return a + b; }
int increment(int x) { return x + 1; }
int square(int x) { return x * x; }
int fail_always(std::string message) { throw std::invalid_argument(message); }

// Appends a line to `log` per attempt; fails until `failures` attempts have failed.
std::string flaky(std::string log, int failures) {
  append_line(log, "attempt");
  if (read_lines(log).size() <= static_cast<std::size_t>(failures)) throw std::invalid_argument("not yet");
  return "recovered";
}

// Appends the steady clock (shared by every process of the machine) to `log`, then fails.
int stamp_and_fail(std::string log) {
  append_line(log, std::to_string(Clock::now().time_since_epoch().count()));
  throw std::invalid_argument("fail");
}

// Appends `entry` to `log` as it runs: the order tasks ran in.
std::string record(std::string log, std::string entry) {
  append_line(log, entry);
  return entry;
}

// Holds a worker until the file `gate` exists (3 s at most, should a test fail before it opens).
int wait_for_gate(std::string gate) {
  const auto limit = Clock::now() + 3s;
  while (!std::filesystem::exists(gate) && Clock::now() < limit) std::this_thread::sleep_for(1ms);
  return 0;
}

std::string important_work() {
  std::this_thread::sleep_for(200ms);
  return "completed";
}

}  // namespace contract

OSIISO_TASK_AS("contract::double_it", contract::double_it);
OSIISO_TASK_AS("contract::add", contract::add);
OSIISO_TASK_AS("contract::increment", contract::increment);
OSIISO_TASK_AS("contract::square", contract::square);
OSIISO_TASK_AS("contract::fail_always", contract::fail_always);
OSIISO_TASK_AS("contract::flaky", contract::flaky);
OSIISO_TASK_AS("contract::stamp_and_fail", contract::stamp_and_fail);
OSIISO_TASK_AS("contract::record", contract::record);
OSIISO_TASK_AS("contract::wait_for_gate", contract::wait_for_gate);
OSIISO_TASK_AS("contract::important_work", contract::important_work);

namespace {

using contract::add;
using contract::double_it;
using contract::fail_always;

// A file in the temporary directory, removed when the test case ends: a task's log, or a gate
// that touch() opens.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& stem) : path_(osiiso::test::temp_path(stem)) {}
  ~ScratchFile() { std::filesystem::remove(path_); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::vector<std::string> lines() const { return read_lines(path_); }
  // Whether a task has written to it: one stat(), cheaper to poll than reading the file back.
  [[nodiscard]] bool written() const {
    struct stat st {};
    return ::stat(path_.c_str(), &st) == 0 && st.st_size > 0;
  }
  void touch() const { std::ofstream{path_}; }

 private:
  std::string path_;
};

// A thread-safe list that hooks (which run in the test's process for both queues) append to.
template <class T>
class Recorder {
 public:
  void push(T value) {
    std::lock_guard lock(mutex_);
    items_.push_back(std::move(value));
  }
  [[nodiscard]] std::vector<T> items() const {
    std::lock_guard lock(mutex_);
    return items_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<T> items_;
};

template <class T>
std::multiset<T> as_set(const std::vector<T>& values) {
  return {values.begin(), values.end()};
}

#ifndef OSIISO_CONTRACT_MPI
std::size_t auto_worker_limit() { return std::min<std::size_t>(32, std::max(1U, std::thread::hardware_concurrency())); }
#endif

}  // namespace

// A contract case runs once per queue. It carries both queues' tags, so that "[thread_queue]" and
// "[process_queue]" still select every case that tests that queue (and the other's instance too).
// The MPI test program (tests/mpi/) compiles this file again for MpiQueue alone.
#ifdef OSIISO_CONTRACT_MPI
#define OSIISO_CONTRACT_CASE(name) TEMPLATE_TEST_CASE(name, "[queue_contract][mpi_contract]", osiiso::MpiQueue)
#else
#define OSIISO_CONTRACT_CASE(name) \
  TEMPLATE_TEST_CASE(name, "[queue_contract][thread_queue][process_queue]", osiiso::ThreadQueue, osiiso::ProcessQueue)
#endif

// ---------------------------------------------------------------------------------------------
// Port of tests/test_thread_queue.py and tests/test_process_queue.py
// ---------------------------------------------------------------------------------------------

// TestSubmit.test_submit_and_run
OSIISO_CONTRACT_CASE("queue contract: submit and run") {
  auto q = make_queue<TestType>({.workers = 2});
  auto h1 = q.submit(double_it, 5);
  auto h2 = q.submit(double_it, 10);
  STATIC_REQUIRE(std::is_same_v<decltype(h1), osiiso::SyncTaskHandle<int>>);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(summary.succeeded == 2);
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{10, 20});
  CHECK(h1.value() == 10);
  CHECK(h2.value() == 20);
}

// TestSubmit.test_submit_with_opts
OSIISO_CONTRACT_CASE("queue contract: submit with options") {
  auto q = make_queue<TestType>({.workers = 1});
  const osiiso::TaskOptions opts{.priority = 1, .retries = 2};
  auto h = q.submit(opts, double_it, 7);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(h.priority() == 1);
  CHECK(h.value() == 14);
}

// TestSubmit.test_submit_with_overrides
OSIISO_CONTRACT_CASE("queue contract: submit with inline options") {
  auto q = make_queue<TestType>({.workers = 1});
  auto h = q.submit({.priority = 1, .name = "custom"}, double_it, 3);
  CHECK(h.name() == "custom");
  CHECK(h.priority() == 1);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(summary.results.at(0).name == "custom");
}

// TestMapAndGroup.test_map
OSIISO_CONTRACT_CASE("queue contract: map") {
  auto q = make_queue<TestType>({.workers = 4});
  const auto handles = q.map(double_it, std::vector{1, 2, 3, 4, 5});
  CHECK(handles.size() == 5);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.succeeded == 5);
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{2, 4, 6, 8, 10});
}

// TestMapAndGroup.test_map_tuples
OSIISO_CONTRACT_CASE("queue contract: map unpacks tuples") {
  auto q = make_queue<TestType>({.workers = 2});
  const auto handles = q.map(add, std::vector{std::tuple{1, 2}, std::tuple{3, 4}, std::tuple{5, 6}});
  REQUIRE(handles.size() == 3);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.succeeded == 3);
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{3, 7, 11});
  CHECK(handles[0].value() == 3);
  CHECK(handles[1].value() == 7);
  CHECK(handles[2].value() == 11);
}

// TestMapAndGroup.test_group
OSIISO_CONTRACT_CASE("queue contract: group of calls") {
  auto q = make_queue<TestType>({.workers = 4});
  auto g = q.group({osiiso::call(double_it, 10), osiiso::call(double_it, 20), osiiso::call(double_it, 30)});
  CHECK(g.size() == 3);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  const osiiso::RunSummary group_summary = g.wait();
  CHECK(as_set(group_summary.values<int>()) == std::multiset<int>{20, 40, 60});
}

// TestGroupExtended.test_group_homogeneous
OSIISO_CONTRACT_CASE("queue contract: homogeneous group") {
  auto q = make_queue<TestType>({.workers = 2});
  auto g = q.group(double_it, std::vector{1, 2, 3});
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(as_set(g.wait().template values<int>()) == std::multiset<int>{2, 4, 6});
}

// TestMapAndGroup.test_group_values (a group of calls) and TestGroupExtended.test_group_values
// (a group of one function).
OSIISO_CONTRACT_CASE("queue contract: group values") {
  auto q = make_queue<TestType>({.workers = 2});
  auto calls = q.group({osiiso::call(double_it, 5), osiiso::call(double_it, 10)});
  auto mapped = q.group(double_it, std::vector{5, 10});
  (void)q.run();
  const std::vector<std::any> values = calls.values();
  REQUIRE(values.size() == 2);
  CHECK(std::any_cast<int>(values[0]) == 10);
  CHECK(std::any_cast<int>(values[1]) == 20);
  CHECK(as_set(mapped.values()) == std::multiset<int>{10, 20});
}

// TestMapAndGroup.test_group_heterogeneous_tasks
OSIISO_CONTRACT_CASE("queue contract: heterogeneous group with a group id") {
  auto q = make_queue<TestType>({.workers = 2});
  auto g = q.group({.group_id = "mixed"}, {osiiso::call(double_it, 5), osiiso::call(add, 2, 3)});
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(g.group_id() == "mixed");
  const auto by_group = summary.by_group();
  REQUIRE(by_group.count(std::string("mixed")) == 1);
  CHECK(by_group.at(std::string("mixed")).size() == 2);
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{10, 5});
}

// TestContextManager.test_with: the destructor is the __exit__ of a clean scope.
OSIISO_CONTRACT_CASE("queue contract: scoped queue runs and shuts down") {
  std::optional<osiiso::RunSummary> summary;
  std::optional<osiiso::SyncTaskHandle<int>> h;
  SECTION("the destructor shuts it down") {
    {
      auto q = make_queue<TestType>({.workers = 2});
      q.start();
      h.emplace(q.submit(double_it, 1));
      (void)q.submit(double_it, 2);
      summary = q.run();
    }
  }
  SECTION("shutdown() closes it") {
    auto q = make_queue<TestType>({.workers = 2});
    h.emplace(q.submit(double_it, 1));
    summary = q.run();
    q.shutdown();
    CHECK(q.closed());
  }
  REQUIRE(summary);
  CHECK(summary->ok());
  CHECK(h->value() == 2);
}

// TestContextManager.test_exception_cancels: leaving the scope by exception forces shutdown.
OSIISO_CONTRACT_CASE("queue contract: destructor cancels when the scope is left by an exception") {
  const ScratchFile log("osiiso_contract_nap");
  std::optional<osiiso::SyncTaskHandle<std::string>> running;
  std::optional<osiiso::SyncTaskHandle<int>> queued;
  std::optional<osiiso::SyncTaskHandle<int>> must;
  const auto start = Clock::now();
  REQUIRE_THROWS_AS(([&] {
                      auto q = make_queue<TestType>({.workers = 1});
                      running.emplace(QueueKind<TestType>::submit_nap(q, {}, 10s, log.path()));
                      queued.emplace(q.submit(double_it, 1));
                      must.emplace(q.submit({.must_complete = true}, double_it, 2));
                      q.start();
                      REQUIRE(eventually([&] { return running->status() == TaskStatus::Running; }, 2s));
                      // The attempt really executes, not only marked Running by the engine.
                      REQUIRE(eventually([&] { return log.written(); }, 2s));
                      throw std::runtime_error("abort");
                    }()),
                    std::runtime_error);
  CHECK(since(start) < 2s);
  CHECK(running->cancelled());
  CHECK(queued->cancelled());
  CHECK(must->cancelled());
}

// TestRetries.test_retry_succeeds_eventually, TestRetryExtended.test_retry_succeeds_eventually
OSIISO_CONTRACT_CASE("queue contract: a retried task succeeds eventually") {
  const ScratchFile log("osiiso_contract_flaky");
  auto q = make_queue<TestType>({.workers = 1});
  auto h = q.submit({.retries = 3}, contract::flaky, log.path(), 2);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(log.lines().size() == 3);
  CHECK(h.attempts() == 3);
  CHECK(h.value() == "recovered");
  CHECK(summary.values<std::string>() == std::vector<std::string>{"recovered"});
}

// TestRetries.test_retry_exhausted
OSIISO_CONTRACT_CASE("queue contract: retries exhausted") {
  auto q = make_queue<TestType>({.workers = 1});
  auto h = q.submit({.retries = 2}, fail_always, "nope");
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(h.attempts() == 3);
  CHECK_THROWS_AS(h.value(), std::invalid_argument);
  CHECK_THROWS_WITH(h.value(), "nope");
}

// TestHandleException.test_exception_returns_error
OSIISO_CONTRACT_CASE("queue contract: handle exception keeps the type and message") {
  auto q = make_queue<TestType>({.workers = 1});
  auto h = q.submit(fail_always, "boom");
  (void)q.run();
  const auto error = h.exception();
  REQUIRE(error);
  CHECK_THROWS_AS(std::rethrow_exception(error), std::invalid_argument);
  CHECK_THROWS_WITH(std::rethrow_exception(error), "boom");
}

// TestFailPolicy.test_fail_first
OSIISO_CONTRACT_CASE("queue contract: fail_first policy") {
  auto q = make_queue<TestType>({.workers = 1, .fail_policy = osiiso::FailPolicy::FailFirst});
  (void)q.submit(fail_always, "boom");
  (void)q.submit(double_it, 1);
  (void)q.submit(double_it, 2);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.failed >= 1);
}

// TestFailPolicy.test_continue_policy
OSIISO_CONTRACT_CASE("queue contract: continue policy") {
  auto q = make_queue<TestType>({.workers = 1, .fail_policy = osiiso::FailPolicy::Continue});
  (void)q.submit(fail_always, "boom");
  (void)q.submit(double_it, 1);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(summary.succeeded == 1);
}

// TestTimeout.test_task_timeout; the worker that ran it serves the next task (a ProcessQueue
// kills it and spawns a replacement).
OSIISO_CONTRACT_CASE("queue contract: task timeout") {
  auto q = make_queue<TestType>({.workers = 1});
  auto timed = QueueKind<TestType>::submit_nap(q, {.timeout = 100ms}, 10s);
  auto after = q.submit(double_it, 4);
  const auto start = Clock::now();
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(since(start) < 2s);
  CHECK_THROWS_AS(timed.value(), osiiso::TimeoutError);
  CHECK(after.value() == 8);
}

// TestTimeout.test_queue_timeout
OSIISO_CONTRACT_CASE("queue contract: run timeout") {
  auto q = make_queue<TestType>({.workers = 1});
  (void)QueueKind<TestType>::submit_nap(q, {}, 10s);
  const auto start = Clock::now();
  const osiiso::RunSummary summary = q.run({.timeout = 200ms});
  CHECK(summary.timed_out);
  CHECK_FALSE(summary.ok());
  CHECK(since(start) < 2s);
}

// TestHandle.test_handle_wait: on a handle submitted after start(), and (with a time limit) on
// one submitted before.
OSIISO_CONTRACT_CASE("queue contract: handle wait") {
  std::optional<osiiso::TaskResult> result;
  std::optional<osiiso::SyncTaskHandle<int>> before;
  {
    auto q = make_queue<TestType>({.workers = 1});
    before.emplace(q.submit(double_it, 21));
    q.start();
    CHECK(before->wait(5s).value<int>() == 42);
    auto after = q.submit(double_it, 21);
    result = after.wait();
  }
  REQUIRE(result);
  CHECK(result->status == TaskStatus::Succeeded);
  CHECK(result->value<int>() == 42);
  CHECK(before->done());
}

// TestHandle.test_handle_value
OSIISO_CONTRACT_CASE("queue contract: handle value") {
  std::optional<osiiso::SyncTaskHandle<int>> h;
  {
    auto q = make_queue<TestType>({.workers = 1});
    q.start();
    h.emplace(q.submit(double_it, 5));
    (void)h->wait();
  }
  CHECK(h->value() == 10);
}

// TestHandle.test_handle_cancel: cancelling a running task frees its worker (a ProcessQueue
// kills the process and spawns a replacement).
OSIISO_CONTRACT_CASE("queue contract: handle cancel of a running task") {
  const ScratchFile log("osiiso_contract_nap");
  std::optional<osiiso::SyncTaskHandle<std::string>> h;
  {
    auto q = make_queue<TestType>({.workers = 1});
    q.start();
    h.emplace(QueueKind<TestType>::submit_nap(q, {}, 10s, log.path()));
    REQUIRE(eventually([&] { return log.written(); }, 2s));
    CHECK(h->cancel());
    CHECK(h->cancelled());
    auto next = q.submit(double_it, 3);
    CHECK(next.wait(2s).template value<int>() == 6);
  }
  CHECK(h->cancelled());
}

// TestHandle.test_handle_done
OSIISO_CONTRACT_CASE("queue contract: handle done") {
  std::optional<osiiso::SyncTaskHandle<int>> waited;
  {
    auto q = make_queue<TestType>({.workers = 1});
    auto h = q.submit(double_it, 1);
    CHECK_FALSE(h.done());
    (void)q.run();
    CHECK(h.done());
    q.start();
    waited.emplace(q.submit(double_it, 2));
    (void)waited->wait();
  }
  CHECK(waited->done());
}

// TestDecorator.test_task_decorator
OSIISO_CONTRACT_CASE("queue contract: task binder") {
  auto q = make_queue<TestType>({.workers = 2});
  auto work = q.task({.retries = 1})(contract::increment);
  auto h = work(10);
  STATIC_REQUIRE(std::is_same_v<decltype(h), osiiso::SyncTaskHandle<int>>);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(h.value() == 11);
}

// TestDecorator.test_decorator_map
OSIISO_CONTRACT_CASE("queue contract: task binder map") {
  auto q = make_queue<TestType>({.workers = 4});
  auto sq = q.task()(contract::square);
  const auto handles = sq.map(std::vector{1, 2, 3});
  CHECK(handles.size() == 3);
  const osiiso::RunSummary summary = q.run();
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{1, 4, 9});
}

// TestHooks.test_on_complete
OSIISO_CONTRACT_CASE("queue contract: on_complete hook") {
  Recorder<TaskStatus> completed;
  auto q = make_queue<TestType>(
      {.workers = 1, .on_complete = [&](const osiiso::TaskResult& r) { completed.push(r.status); }});
  (void)q.submit(double_it, 1);
  (void)q.submit(double_it, 2);
  (void)q.run();
  CHECK(completed.items() == std::vector{TaskStatus::Succeeded, TaskStatus::Succeeded});
}

// TestHooks.test_on_start: the handle carries the registered name, or the name given.
OSIISO_CONTRACT_CASE("queue contract: on_start hook") {
  Recorder<std::string> started;
  auto q = make_queue<TestType>(
      {.workers = 1, .on_start = [&](const osiiso::SyncTaskHandle<>& h) { started.push(std::string(h.name())); }});
  (void)q.submit(double_it, 1);
  (void)q.submit({.name = "double"}, double_it, 2);
  (void)q.run();
  CHECK(started.items() == std::vector<std::string>{"contract::double_it", "double"});
}

// TestOnRetryHook.test_on_retry_callback
OSIISO_CONTRACT_CASE("queue contract: on_retry hook") {
  const ScratchFile log("osiiso_contract_flaky");
  Recorder<std::pair<std::string, bool>> retry_calls;
  auto q =
      make_queue<TestType>({.workers = 1, .on_retry = [&](const osiiso::SyncTaskHandle<>& h, std::exception_ptr error) {
                              bool invalid_argument = false;
                              try {
                                std::rethrow_exception(error);
                              } catch (const std::invalid_argument&) {
                                invalid_argument = true;
                              } catch (...) {
                              }
                              retry_calls.push({std::string(h.name()), invalid_argument});
                            }});
  (void)q.submit({.retries = 3, .name = "flaky_for_retry"}, contract::flaky, log.path(), 2);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  const auto items = retry_calls.items();
  REQUIRE(items.size() == 2);
  for (const auto& [name, invalid_argument] : items) {
    CHECK(name == "flaky_for_retry");
    CHECK(invalid_argument);
  }
}

// TestResetAndClosed.test_reset
OSIISO_CONTRACT_CASE("queue contract: reset") {
  auto q = make_queue<TestType>({.workers = 1});
  (void)q.submit(double_it, 1);
  (void)q.run();
  CHECK(q.results().size() == 1);
  q.reset();
  CHECK(q.results().empty());
}

// TestResetAndClosed.test_closed_rejects
OSIISO_CONTRACT_CASE("queue contract: a closed queue rejects submissions") {
  auto q = make_queue<TestType>({.workers = 1});
  (void)q.submit(double_it, 1);
  (void)q.run();
  q.shutdown();
  CHECK(q.closed());
  CHECK_THROWS_AS(q.submit(double_it, 2), osiiso::ClosedError);
}

// TestConstructorValidation / TestNegativeTimeout (size is a std::size_t, so
// test_negative_size_raises cannot be written).
OSIISO_CONTRACT_CASE("queue contract: constructor validation") {
  const auto make = [](const typename QueueKind<TestType>::Options& options) {
    auto q = make_queue<TestType>(options);
  };
  SECTION("workers must be > 0") {
    CHECK_THROWS_AS(make({.workers = 0}), std::invalid_argument);
#ifdef OSIISO_CONTRACT_MPI
    CHECK_THROWS_WITH(make({.workers = 0}), "workers_per_rank must be > 0");  // MpiQueue's spelling
#else
    CHECK_THROWS_WITH(make({.workers = 0}), "workers must be > 0");
#endif
  }
  SECTION("timeout must be > 0") {
    CHECK_THROWS_AS(make({.timeout = -1s}), std::invalid_argument);
    CHECK_THROWS_WITH(make({.timeout = -1s}), "timeout must be > 0");
    CHECK_THROWS_AS(make({.timeout = 0s}), std::invalid_argument);
  }
  SECTION("valid options construct") { CHECK_NOTHROW(make({.workers = 1, .size = 0, .timeout = 1s})); }
}

// TestCancelMethod.test_cancel_stops_queue
OSIISO_CONTRACT_CASE("queue contract: cancel from another thread stops the queue") {
  const ScratchFile log("osiiso_contract_nap");
  auto q = make_queue<TestType>({.workers = 1});
  auto h = QueueKind<TestType>::submit_nap(q, {}, 10s, log.path());
  q.start();
  REQUIRE(eventually([&] { return log.written(); }, 2s));
  const auto start = Clock::now();
  std::thread t([&] { q.cancel(); });
  t.join();
  CHECK(since(start) < 2s);
  CHECK(q.closed());
  CHECK(h.cancelled());
}

// TestClearResults.test_clear_results
OSIISO_CONTRACT_CASE("queue contract: clear_results") {
  auto q = make_queue<TestType>({.workers = 1});
  (void)q.submit(double_it, 5);
  (void)q.submit(double_it, 10);
  (void)q.run();
  CHECK(q.results().size() == 2);
  q.clear_results();
  CHECK(q.results().empty());
  CHECK(q.stats().completed == 0);
}

// TestJoin.test_join_completes_work
OSIISO_CONTRACT_CASE("queue contract: join completes work") {
  auto q = make_queue<TestType>({.workers = 2});
  auto h1 = q.submit(double_it, 3);
  auto h2 = q.submit(double_it, 7);
  q.join();
  CHECK(h1.done());
  CHECK(h2.done());
  CHECK(h1.value() == 6);
  CHECK(h2.value() == 14);
  q.shutdown();
  CHECK(q.closed());
}

// TestInfiniteMode.test_infinite_mode
OSIISO_CONTRACT_CASE("queue contract: infinite mode with start and shutdown") {
  auto q = make_queue<TestType>({.workers = 1, .mode = osiiso::Mode::Infinite});
  q.start();
  auto h = q.submit(double_it, 21);
  (void)h.wait(2s);
  CHECK(h.done());
  CHECK(h.value() == 42);
  std::thread t([&] { q.shutdown(); });
  t.join();
  CHECK(q.closed());
}

// TestStatsProperty.test_stats_returns_dict
OSIISO_CONTRACT_CASE("queue contract: stats") {
  auto q = make_queue<TestType>({.workers = 1});
  (void)q.submit(double_it, 1);
  (void)q.run();
  const osiiso::Stats s = q.stats();
  CHECK(s.pending == 0);
  CHECK(s.active == 0);
  CHECK(s.scheduled == 0);
  CHECK(s.completed == 1);
  CHECK(s.workers == 0);  // a finite run stops its workers when idle
  CHECK_FALSE(s.closed);
}

// TestHandleTimeout.test_handle_wait_timeout_raises
OSIISO_CONTRACT_CASE("queue contract: handle wait timeout") {
  auto q = make_queue<TestType>({.workers = 1});
  q.start();
  auto h = QueueKind<TestType>::submit_nap(q, {}, 10s);
  CHECK_THROWS_AS(h.wait(10ms), osiiso::TimeoutError);
  q.shutdown({.force = true});
  CHECK(h.cancelled());
}

// TestScheduling.test_delay_scheduling
OSIISO_CONTRACT_CASE("queue contract: delay scheduling") {
  auto q = make_queue<TestType>({.workers = 1});
  const auto start = Clock::now();
  auto h = q.submit({.delay = 300ms}, double_it, 5);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(summary.values<int>() == std::vector{10});
  CHECK(h.value() == 10);
  CHECK(since(start) >= 250ms);
}

// TestRunAtScheduling.test_run_at_delays_execution
OSIISO_CONTRACT_CASE("queue contract: run_at scheduling") {
  auto q = make_queue<TestType>({.workers = 1});
  const auto start = Clock::now();
  auto h = q.submit({.run_at = std::chrono::system_clock::now() + 300ms}, double_it, 5);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(summary.values<int>() == std::vector{10});
  CHECK(h.value() == 10);
  CHECK(since(start) >= 250ms);
}

// TestRetryMechanics.test_retry_with_delay_and_backoff (the retry_delay/backoff rule: gaps grow).
OSIISO_CONTRACT_CASE("queue contract: retry delay and backoff") {
  const ScratchFile log("osiiso_contract_stamps");
  auto q = make_queue<TestType>({.workers = 1});
  auto h = q.submit({.retries = 2, .retry_delay = 100ms, .backoff = 2.0}, contract::stamp_and_fail, log.path());
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(h.attempts() == 3);
  const auto lines = log.lines();
  REQUIRE(lines.size() == 3);
  const auto at = [&](std::size_t i) { return Clock::time_point(Clock::duration(std::stoll(lines[i]))); };
  const Seconds gap1 = at(1) - at(0);
  const Seconds gap2 = at(2) - at(1);
  CHECK(gap1 >= 80ms);
  CHECK(gap2 >= 150ms);
  CHECK(gap2 > gap1);
  CHECK(gap1 < 1s);
  CHECK(gap2 < 1.5s);
}

// TestMustComplete.test_must_complete_survives_cancel, TestMustCompleteProcess.test_must_complete_survives_timeout
OSIISO_CONTRACT_CASE("queue contract: must_complete survives a run timeout") {
  auto q = make_queue<TestType>({.workers = 2, .on_exit = osiiso::OnExit::CompletePriority});
  (void)QueueKind<TestType>::submit_nap(q, {}, 10s);
  auto h = q.submit({.must_complete = true}, contract::important_work);
  const osiiso::RunSummary summary = q.run({.timeout = 300ms});
  CHECK(summary.timed_out);
  CHECK(std::any_of(summary.results.begin(), summary.results.end(), [](const osiiso::TaskResult& r) {
    return r.status == TaskStatus::Succeeded && r.value<std::string>() == "completed";
  }));
  CHECK(h.done());
  CHECK(h.status() == TaskStatus::Succeeded);
  CHECK(h.value() == "completed");  // returned only once the body has run to its end
}

// TestDetachedThread.test_detached_flag_on_result: detached results stay out of the summary.
OSIISO_CONTRACT_CASE("queue contract: detached tasks") {
  auto q = make_queue<TestType>({.workers = 2});
  auto detached = q.submit({.detached = true}, double_it, 5);
  auto normal = q.submit(double_it, 10);
  CHECK(detached.detached());
  CHECK_FALSE(normal.detached());
  const osiiso::RunSummary summary = q.run();
  CHECK(detached.done());  // run() awaited it
  CHECK(summary.total_submitted == 1);
  REQUIRE(summary.results.size() == 1);
  CHECK_FALSE(summary.results[0].detached);
  CHECK(summary.results[0].value<int>() == 20);
  const std::vector<osiiso::TaskResult> all = q.results();
  REQUIRE(all.size() == 2);
  const std::vector<osiiso::TaskResult>::const_iterator it =
      std::find_if(all.begin(), all.end(), [](const osiiso::TaskResult& r) { return r.detached; });
  REQUIRE(it != all.end());
  CHECK(it->value<int>() == 10);
  CHECK(detached.result().detached);
}

// ---------------------------------------------------------------------------------------------
// Scheduling rules
// ---------------------------------------------------------------------------------------------

OSIISO_CONTRACT_CASE("queue contract: lower priority runs first, FIFO among equals") {
  const ScratchFile order("osiiso_contract_order");
  auto q = make_queue<TestType>({.workers = 1});
  const std::vector<std::pair<int, std::string>> tasks{{3, "1"}, {1, "2"}, {2, "3"}, {1, "4"}, {3, "5"}, {0, "6"}};
  for (const auto& [priority, id] : tasks) (void)q.submit({.priority = priority}, contract::record, order.path(), id);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(order.lines() == std::vector<std::string>{"6", "2", "4", "3", "1", "5"});
}

OSIISO_CONTRACT_CASE("queue contract: delayed tasks wait on a timer, not on a worker") {
  const ScratchFile finished("osiiso_contract_order");
  osiiso::TaskOptions late_options;
  SECTION("delay") { late_options.delay = 300ms; }
  SECTION("run_at") { late_options.run_at = std::chrono::system_clock::now() + 300ms; }
  auto q = make_queue<TestType>({.workers = 1});
  const auto start = Clock::now();
  auto late = q.submit(late_options, contract::record, finished.path(), "late");
  auto early = q.submit(contract::record, finished.path(), "early");
  CHECK(q.stats().scheduled == 1);
  CHECK(q.pending_count() == 2);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(finished.lines() == std::vector<std::string>{"early", "late"});
  CHECK(Seconds(early.result().finished_at - start) < 250ms);
  REQUIRE(late.result().started_at.has_value());
  CHECK(Seconds(*late.result().started_at - start) >= 250ms);
  CHECK(late.result().scheduled_for.has_value());
}

OSIISO_CONTRACT_CASE("queue contract: cancelling a task during its retry wait") {
  const ScratchFile log("osiiso_contract_flaky");
  auto q = make_queue<TestType>({.workers = 1});
  auto h = q.submit({.retries = 3, .retry_delay = 2s}, contract::flaky, log.path(), 100);
  q.start();
  REQUIRE(eventually([&] { return h.status() == TaskStatus::Retrying; }, 2s));
  const auto start = Clock::now();
  CHECK(h.cancel());
  const auto result = h.wait(1s);
  CHECK(since(start) < 1s);
  CHECK(result.status == TaskStatus::Cancelled);
  CHECK(h.cancelled());
  CHECK(log.lines().size() == 1);
  CHECK(h.attempts() == 1);
  CHECK_THROWS_AS(h.value(), osiiso::CancelledError);
  q.shutdown();
}

OSIISO_CONTRACT_CASE("queue contract: per-attempt timeout fails with TimeoutError after the retries") {
  const ScratchFile log("osiiso_contract_nap");
  auto q = make_queue<TestType>({.workers = 1});
  auto h = QueueKind<TestType>::submit_nap(q, {.timeout = 50ms, .retries = 2}, 5s, log.path());
  const auto start = Clock::now();
  const osiiso::RunSummary summary = q.run();
  CHECK(since(start) < 2s);
  CHECK(summary.failed == 1);
  CHECK(h.status() == TaskStatus::Failed);
  CHECK(h.attempts() == 3);
  CHECK(log.lines().size() == 3);
  CHECK_THROWS_AS(h.value(), osiiso::TimeoutError);
  CHECK_THROWS_AS(std::rethrow_exception(h.exception()), osiiso::TimeoutError);
}

OSIISO_CONTRACT_CASE("queue contract: must_complete and the run-timeout exit policy") {
  using Kind = QueueKind<TestType>;
  SECTION("CompletePriority lets must_complete tasks finish") {
    auto q = make_queue<TestType>({.workers = 2, .on_exit = osiiso::OnExit::CompletePriority});
    auto ordinary = Kind::submit_nap(q, {}, 10s);
    auto kept = Kind::submit_nap(q, {.must_complete = true}, 600ms);
    const auto start = Clock::now();
    const osiiso::RunSummary summary = q.run({.timeout = 150ms});
    CHECK(summary.timed_out);
    CHECK(since(start) >= 500ms);
    CHECK(ordinary.status() == TaskStatus::Cancelled);
    CHECK(kept.status() == TaskStatus::Succeeded);
    CHECK(kept.value() == "done");  // slept its whole 600 ms
  }
  SECTION("Cancel cancels must_complete tasks too") {
    auto q = make_queue<TestType>({.workers = 2, .on_exit = osiiso::OnExit::Cancel});
    auto ordinary = Kind::submit_nap(q, {}, 10s);
    auto kept = Kind::submit_nap(q, {.must_complete = true}, 600ms);
    const auto start = Clock::now();
    const osiiso::RunSummary summary = q.run({.timeout = 150ms});
    CHECK(summary.timed_out);
    CHECK(since(start) < 500ms);
    CHECK(ordinary.status() == TaskStatus::Cancelled);
    CHECK(kept.status() == TaskStatus::Cancelled);
    CHECK(summary.cancelled == 2);
  }
}

OSIISO_CONTRACT_CASE("queue contract: metadata travels on the handle and the result") {
  auto q = make_queue<TestType>({.workers = 1});
  auto h = q.submit({.metadata = std::string("tag")}, double_it, 1);
  REQUIRE(h.metadata().has_value());
  CHECK(std::any_cast<std::string>(h.metadata()) == "tag");
  const osiiso::RunSummary summary = q.run();
  REQUIRE(summary.results.size() == 1);
  CHECK(std::any_cast<std::string>(summary.results[0].metadata) == "tag");
  CHECK(std::any_cast<std::string>(h.result().metadata) == "tag");
  auto plain = q.submit(double_it, 2);
  CHECK_FALSE(plain.metadata().has_value());
  q.shutdown();
}

OSIISO_CONTRACT_CASE("queue contract: a full bounded queue blocks submit") {
  const ScratchFile gate("osiiso_contract_gate");
  auto q = make_queue<TestType>({.workers = 1, .size = 1});
  q.start();
  auto first = q.submit(contract::wait_for_gate, gate.path());
  std::atomic<bool> submitted{false};
  std::optional<osiiso::SyncTaskHandle<int>> second;
  std::exception_ptr error;
  std::thread producer([&] {
    try {
      second.emplace(q.submit(double_it, 2));
    } catch (...) {
      error = std::current_exception();
    }
    submitted = true;
  });
  std::this_thread::sleep_for(150ms);
  CHECK_FALSE(submitted);
  CHECK(q.pending_count() + q.active_count() == 1);
  gate.touch();
  producer.join();
  REQUIRE_FALSE(error);
  CHECK(submitted);
  CHECK(first.wait(1s).status == TaskStatus::Succeeded);
  REQUIRE(second);
  CHECK(second->wait(2s).status == TaskStatus::Succeeded);
  CHECK(second->value() == 4);
  q.shutdown();
}

// An MpiQueue has a fixed worker count (ranks times workers per rank): no scaling to check.
#ifndef OSIISO_CONTRACT_MPI
OSIISO_CONTRACT_CASE("queue contract: unset workers scale with the backlog up to the limit") {
  const ScratchFile gate("osiiso_contract_gate");
  const auto limit = auto_worker_limit();
  auto q = make_queue<TestType>({});
  (void)q.submit(contract::wait_for_gate, gate.path());
  CHECK(q.stats().workers == 0);  // nothing starts before start()
  q.start();
  REQUIRE(eventually([&] { return q.active_count() == 1; }, 2s));
  // A ProcessQueue counts a task active as it hands it to a worker that may still be starting.
  CHECK(eventually([&] { return q.stats().workers == 1; }, 2s));
  for (std::size_t i = 0; i < limit + 1; ++i) (void)q.submit(contract::wait_for_gate, gate.path());
  CHECK(eventually([&] { return q.stats().workers == limit; }, 2s));
  std::size_t most = 0;
  for (int i = 0; i < 20; ++i) {
    most = std::max(most, q.stats().workers);
    std::this_thread::sleep_for(5ms);
  }
  CHECK(most <= limit);
  CHECK(q.active_count() == limit);
  gate.touch();
  (void)q.run();
  CHECK(q.results().size() == limit + 2);
}
#endif

OSIISO_CONTRACT_CASE("queue contract: infinite mode run blocks until shutdown") {
  auto q = make_queue<TestType>({.workers = 1, .mode = osiiso::Mode::Infinite});
  std::atomic<bool> returned{false};
  osiiso::RunSummary summary;
  std::exception_ptr error;
  std::thread runner([&] {
    try {
      summary = q.run();
    } catch (...) {
      error = std::current_exception();
    }
    returned = true;
  });
  REQUIRE(eventually([&] { return q.stats().workers >= 1; }, 2s));
  auto h = q.submit(double_it, 21);
  CHECK(h.wait(2s).status == TaskStatus::Succeeded);
  std::this_thread::sleep_for(150ms);
  CHECK_FALSE(returned);  // idle, but an infinite run waits for shutdown()
  q.shutdown();
  runner.join();
  REQUIRE_FALSE(error);
  CHECK(returned);
  CHECK(summary.succeeded == 1);
  CHECK(q.closed());
}

OSIISO_CONTRACT_CASE("queue contract: fail_first cancels the rest but spares must_complete") {
  auto q = make_queue<TestType>({.workers = 1, .fail_policy = osiiso::FailPolicy::FailFirst});
  auto bad = q.submit({.priority = 1}, fail_always, "boom");
  auto normal = q.submit(double_it, 1);
  auto kept = q.submit({.must_complete = true}, double_it, 2);
  const osiiso::RunSummary summary = q.run();
  CHECK(bad.status() == TaskStatus::Failed);
  CHECK(normal.status() == TaskStatus::Cancelled);
  CHECK(kept.status() == TaskStatus::Succeeded);
  CHECK(kept.value() == 4);
  CHECK(summary.failed == 1);
  CHECK(summary.cancelled == 1);
  CHECK(summary.succeeded == 1);
}

OSIISO_CONTRACT_CASE("queue contract: run overrides the fail policy for that run only") {
  auto q = make_queue<TestType>({.workers = 1});
  (void)q.submit({.priority = 1}, fail_always, "boom");
  (void)q.submit(double_it, 1);
  const osiiso::RunSummary first = q.run({.fail_policy = osiiso::FailPolicy::FailFirst});
  CHECK(first.failed == 1);
  CHECK(first.cancelled == 1);
  CHECK(first.succeeded == 0);

  (void)q.submit({.priority = 1}, fail_always, "boom");
  (void)q.submit(double_it, 1);
  const osiiso::RunSummary second = q.run();
  CHECK(second.failed == 1);
  CHECK(second.cancelled == 0);
  CHECK(second.succeeded == 1);
}

OSIISO_CONTRACT_CASE("queue contract: hooks that throw are swallowed") {
  const ScratchFile log("osiiso_contract_flaky");
  auto q = make_queue<TestType>(
      {.workers = 1,
       .on_start = [](const osiiso::SyncTaskHandle<>&) { throw std::runtime_error("on_start"); },
       .on_complete = [](const osiiso::TaskResult&) { throw std::runtime_error("on_complete"); },
       .on_retry = [](const osiiso::SyncTaskHandle<>&, std::exception_ptr) { throw std::runtime_error("on_retry"); }});
  auto flaky = q.submit({.retries = 1}, contract::flaky, log.path(), 1);
  auto plain = q.submit(double_it, 4);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(flaky.value() == "recovered");
  CHECK(plain.value() == 8);
  // The queue is still usable afterwards.
  auto again = q.submit(double_it, 5);
  CHECK(q.run().ok());
  CHECK(again.value() == 10);
}

OSIISO_CONTRACT_CASE("queue contract: strict run throws ExecutionError") {
  auto q = make_queue<TestType>({.workers = 1});
  (void)q.submit(fail_always, "boom");
  (void)q.submit(double_it, 1);
  try {
    (void)q.run({.strict = true});
    FAIL("run({.strict = true}) did not throw");
  } catch (const osiiso::ExecutionError& e) {
    REQUIRE(e.results().size() == 1);
    CHECK(e.results()[0].status == TaskStatus::Failed);
  }
  (void)q.submit(double_it, 2);
  CHECK_NOTHROW((void)q.run({.strict = true}));
}

OSIISO_CONTRACT_CASE("queue contract: run while another run is in progress throws logic_error") {
  const ScratchFile gate("osiiso_contract_gate");
  auto q = make_queue<TestType>({.workers = 1});
  (void)q.submit(contract::wait_for_gate, gate.path());
  std::exception_ptr error;
  osiiso::RunSummary summary;
  std::thread runner([&] {
    try {
      summary = q.run();
    } catch (...) {
      error = std::current_exception();
    }
  });
  REQUIRE(eventually([&] { return q.active_count() == 1; }, 2s));
  CHECK_THROWS_AS(q.run(), std::logic_error);
  gate.touch();
  runner.join();
  REQUIRE_FALSE(error);
  CHECK(summary.succeeded == 1);
}

OSIISO_CONTRACT_CASE("queue contract: graceful shutdown drains scheduled tasks") {
  auto q = make_queue<TestType>({.workers = 1});
  auto delayed = q.submit({.delay = 150ms}, double_it, 4);
  auto ready = q.submit(double_it, 3);
  const auto start = Clock::now();
  q.shutdown();
  CHECK(since(start) >= 100ms);
  CHECK(q.closed());
  CHECK(delayed.status() == TaskStatus::Succeeded);
  CHECK(delayed.value() == 8);
  CHECK(ready.value() == 6);
  CHECK_NOTHROW(q.shutdown());  // idempotent
}

OSIISO_CONTRACT_CASE("queue contract: forced shutdown cancels everything") {
  const ScratchFile log("osiiso_contract_nap");
  auto q = make_queue<TestType>({.workers = 1});
  auto running = QueueKind<TestType>::submit_nap(q, {}, 10s, log.path());
  auto queued = q.submit(double_it, 1);
  auto scheduled = q.submit({.delay = 10s}, double_it, 2);
  auto must = q.submit({.must_complete = true}, double_it, 3);
  q.start();
  REQUIRE(eventually([&] { return log.written(); }, 2s));
  const auto start = Clock::now();
  q.shutdown({.force = true});
  CHECK(since(start) < 1s);
  CHECK(q.closed());
  CHECK(running.cancelled());
  CHECK(queued.cancelled());
  CHECK(scheduled.cancelled());
  CHECK(must.cancelled());
}

OSIISO_CONTRACT_CASE("queue contract: reset makes a closed queue usable again") {
  auto q = make_queue<TestType>({.workers = 1});
  (void)q.submit(double_it, 1);
  (void)q.run();
  q.shutdown();
  REQUIRE(q.closed());
  q.reset();
  CHECK_FALSE(q.closed());
  CHECK(q.results().empty());
  auto h = q.submit(double_it, 6);
  const osiiso::RunSummary summary = q.run();
  CHECK(summary.ok());
  CHECK(h.value() == 12);
}

OSIISO_CONTRACT_CASE("queue contract: destructor drains outstanding work gracefully") {
  std::optional<osiiso::SyncTaskHandle<int>> now;
  std::optional<osiiso::SyncTaskHandle<int>> later;
  {
    auto q = make_queue<TestType>({.workers = 2});
    now.emplace(q.submit(double_it, 1));
    later.emplace(q.submit({.delay = 50ms}, double_it, 2));
  }
  CHECK(now->value() == 2);
  CHECK(later->value() == 4);
}

OSIISO_CONTRACT_CASE("queue contract: a closed queue throws ClosedError") {
  auto q = make_queue<TestType>({.workers = 1});
  q.shutdown();
  CHECK(q.closed());
  CHECK_THROWS_AS(q.submit(double_it, 1), osiiso::ClosedError);
  CHECK_THROWS_AS(q.map(double_it, std::vector{1, 2}), osiiso::ClosedError);
  CHECK_THROWS_AS(q.group(double_it, std::vector{1, 2}), osiiso::ClosedError);
  CHECK_THROWS_AS(q.start(), osiiso::ClosedError);
}

OSIISO_CONTRACT_CASE("queue contract: stats, active_count and pending_count") {
  const ScratchFile gate("osiiso_contract_gate");
  auto q = make_queue<TestType>({.workers = 1});
  CHECK(&q.start() == &q);
  (void)q.submit(contract::wait_for_gate, gate.path());
  // A ProcessQueue counts a task active as it hands it to a worker that may still be starting.
  REQUIRE(eventually([&] { return q.active_count() == 1 && q.stats().workers == 1; }, 2s));
  (void)q.submit(double_it, 1);
  (void)q.submit(double_it, 2);
  (void)q.submit({.delay = 100ms}, double_it, 3);
  CHECK(q.active_count() == 1);
  CHECK(q.pending_count() == 3);
  const auto s = q.stats();
  CHECK(s.active == 1);
  CHECK(s.pending == 3);
  CHECK(s.scheduled == 1);
  CHECK(s.completed == 0);
  CHECK(s.workers == 1);
  CHECK_FALSE(s.closed);
  gate.touch();
  (void)q.run();  // the summary covers only what finished during run(); the counters cover everything
  CHECK(q.stats().completed == 4);
  CHECK(q.active_count() == 0);
  CHECK(q.pending_count() == 0);
  q.shutdown();
  CHECK(q.stats().closed);
}

OSIISO_CONTRACT_CASE("queue contract: invalid TaskOptions throw at submission") {
  auto q = make_queue<TestType>({.workers = 1});
  CHECK_THROWS_AS(q.submit({.retries = -1}, double_it, 1), std::invalid_argument);
  CHECK_THROWS_AS(q.submit({.backoff = 0.0}, double_it, 1), std::invalid_argument);
  CHECK_THROWS_AS(q.submit({.backoff = -1.0}, double_it, 1), std::invalid_argument);
  CHECK_THROWS_AS(q.submit({.delay = 1s, .run_at = std::chrono::system_clock::now() + 1s}, double_it, 1),
                  std::invalid_argument);
  CHECK_THROWS_AS(q.map({.retries = -1}, double_it, std::vector{1}), std::invalid_argument);
  CHECK(q.pending_count() == 0);
  CHECK(q.stats().scheduled == 0);
  CHECK(q.run().total_submitted == 0);
}
