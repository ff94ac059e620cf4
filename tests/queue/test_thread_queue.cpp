// SPDX-License-Identifier: MIT
// ThreadQueue: the port of the Python tests/test_thread_queue.py, plus one case per scheduling rule.
#include <osiiso/thread_queue.hpp>

#include <osiiso/osiiso.hpp>

#include "../helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <any>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using osiiso::Clock;
using osiiso::Seconds;
using osiiso::TaskStatus;
using osiiso::test::eventually;
using osiiso::test::Gate;
using osiiso::test::gated;
using osiiso::test::since;
using osiiso::test::sleep_unless_stopped;
using osiiso::test::slow;

namespace {

int double_it(int x) { return x * 2; }

int add(int a, int b) { return a + b; }

int fail_always(const std::string& message) { throw std::invalid_argument(message); }

std::string greet(const std::string& greeting, const std::string& name) { return greeting + ", " + name + "!"; }

// Like slow(), but reports when its body has begun, so that a test acts on an attempt that is
// really executing (not one the engine has only just marked Running).
auto probed_slow(std::shared_ptr<std::atomic<bool>> entered) {
  return [entered = std::move(entered)](std::stop_token stop) {
    *entered = true;
    return slow(std::move(stop), 10s);
  };
}

// A thread-safe list that tasks and hooks append to.
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

std::size_t auto_worker_limit() { return std::min<std::size_t>(32, std::max(1U, std::thread::hardware_concurrency())); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Port of tests/test_thread_queue.py
// ---------------------------------------------------------------------------------------------

// TestSubmit.test_submit_and_run
TEST_CASE("ThreadQueue: submit and run", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 2});
  auto h1 = q.submit(double_it, 5);
  auto h2 = q.submit(double_it, 10);
  STATIC_REQUIRE(std::is_same_v<decltype(h1), osiiso::SyncTaskHandle<int>>);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(summary.succeeded == 2);
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{10, 20});
  CHECK(h1.value() == 10);
  CHECK(h2.value() == 20);
}

// TestSubmit.test_submit_with_opts
TEST_CASE("ThreadQueue: submit with options", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  const osiiso::TaskOptions opts{.priority = 1, .retries = 2};
  auto h = q.submit(opts, double_it, 7);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(h.priority() == 1);
  CHECK(h.value() == 14);
}

// TestSubmit.test_submit_with_overrides
TEST_CASE("ThreadQueue: submit with inline options", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit({.priority = 1, .name = "custom"}, double_it, 3);
  CHECK(h.name() == "custom");
  CHECK(h.priority() == 1);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(summary.results.at(0).name == "custom");
}

// TestSubmit.test_submit_partial (functools.partial -> std::bind_front)
TEST_CASE("ThreadQueue: submit a partially applied callable", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit(std::bind_front(greet, std::string("Hi")), std::string("World"));
  const auto summary = q.run();
  CHECK(summary.values<std::string>() == std::vector<std::string>{"Hi, World!"});
  CHECK(h.value() == "Hi, World!");
}

// TestMapAndGroup.test_map
TEST_CASE("ThreadQueue: map", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 4});
  const auto handles = q.map(double_it, std::vector{1, 2, 3, 4, 5});
  CHECK(handles.size() == 5);
  const auto summary = q.run();
  CHECK(summary.succeeded == 5);
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{2, 4, 6, 8, 10});
}

// TestMapAndGroup.test_map_tuples
TEST_CASE("ThreadQueue: map unpacks tuples", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 2});
  const auto handles = q.map(add, std::vector{std::tuple{1, 2}, std::tuple{3, 4}});
  REQUIRE(handles.size() == 2);
  const auto summary = q.run();
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{3, 7});
  CHECK(handles[0].value() == 3);
  CHECK(handles[1].value() == 7);
}

// TestMapAndGroup.test_group
TEST_CASE("ThreadQueue: group of calls", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 4});
  auto g = q.group({osiiso::call(double_it, 10), osiiso::call(double_it, 20), osiiso::call(double_it, 30)});
  CHECK(g.size() == 3);
  const auto summary = q.run();
  CHECK(summary.ok());
  const auto group_summary = g.wait();
  CHECK(as_set(group_summary.values<int>()) == std::multiset<int>{20, 40, 60});
}

// TestMapAndGroup.test_group_values
TEST_CASE("ThreadQueue: group values", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 2});
  auto g = q.group({osiiso::call(double_it, 5), osiiso::call(double_it, 10)});
  (void)q.run();
  const std::vector<std::any> values = g.values();
  REQUIRE(values.size() == 2);
  CHECK(std::any_cast<int>(values[0]) == 10);
  CHECK(std::any_cast<int>(values[1]) == 20);
}

// TestMapAndGroup.test_group_heterogeneous_tasks
TEST_CASE("ThreadQueue: heterogeneous group with a group id", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 2});
  auto g = q.group({.group_id = "mixed"}, {osiiso::call(double_it, 5), osiiso::call(add, 2, 3)});
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(g.group_id() == "mixed");
  const auto by_group = summary.by_group();
  REQUIRE(by_group.count(std::string("mixed")) == 1);
  CHECK(by_group.at(std::string("mixed")).size() == 2);
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{10, 5});
}

// TestContextManager.test_with: the destructor is the __exit__ of a clean scope.
TEST_CASE("ThreadQueue: scoped queue runs and shuts down", "[thread_queue]") {
  std::optional<osiiso::RunSummary> summary;
  std::optional<osiiso::SyncTaskHandle<int>> h;
  {
    osiiso::ThreadQueue q({.workers = 2});
    q.start();
    h.emplace(q.submit(double_it, 1));
    (void)q.submit(double_it, 2);
    summary = q.run();
  }
  REQUIRE(summary);
  CHECK(summary->ok());
  CHECK(h->value() == 2);
}

// TestContextManager.test_exception_cancels: leaving the scope by exception forces shutdown.
TEST_CASE("ThreadQueue: destructor cancels when the scope is left by an exception", "[thread_queue]") {
  auto entered = std::make_shared<std::atomic<bool>>(false);
  std::optional<osiiso::SyncTaskHandle<std::string>> running;
  std::optional<osiiso::SyncTaskHandle<int>> queued;
  std::optional<osiiso::SyncTaskHandle<int>> must;
  const auto start = Clock::now();
  REQUIRE_THROWS_AS(([&] {
                      osiiso::ThreadQueue q({.workers = 1});
                      running.emplace(q.submit(probed_slow(entered)));
                      queued.emplace(q.submit(double_it, 1));
                      must.emplace(q.submit({.must_complete = true}, double_it, 2));
                      q.start();
                      REQUIRE(eventually([&] { return entered->load(); }, 2s));
                      throw std::runtime_error("abort");
                    }()),
                    std::runtime_error);
  CHECK(since(start) < 2s);
  CHECK(running->cancelled());
  CHECK(queued->cancelled());
  CHECK(must->cancelled());
}

// TestRetries.test_retry_succeeds_eventually
TEST_CASE("ThreadQueue: a retried task succeeds eventually", "[thread_queue]") {
  auto calls = std::make_shared<std::atomic<int>>(0);
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit({.retries = 3}, [calls]() -> std::string {
    if (++*calls < 3) throw std::invalid_argument("not yet");
    return "ok";
  });
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(*calls == 3);
  CHECK(h.attempts() == 3);
  CHECK(h.value() == "ok");
}

// TestRetries.test_retry_exhausted
TEST_CASE("ThreadQueue: retries exhausted", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit({.retries = 2}, fail_always, "nope");
  const auto summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(h.attempts() == 3);
  CHECK_THROWS_AS(h.value(), std::invalid_argument);
  CHECK_THROWS_WITH(h.value(), "nope");
}

// TestFailPolicy.test_fail_first
TEST_CASE("ThreadQueue: fail_first policy", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1, .fail_policy = osiiso::FailPolicy::FailFirst});
  (void)q.submit(fail_always, "boom");
  (void)q.submit(double_it, 1);
  const auto summary = q.run();
  CHECK(summary.failed >= 1);
}

// TestFailPolicy.test_continue_policy
TEST_CASE("ThreadQueue: continue policy", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1, .fail_policy = osiiso::FailPolicy::Continue});
  (void)q.submit(fail_always, "boom");
  (void)q.submit(double_it, 1);
  const auto summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(summary.succeeded == 1);
}

// TestTimeout.test_task_timeout
TEST_CASE("ThreadQueue: task timeout", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  (void)q.submit({.timeout = 100ms}, slow, 10s);
  const auto start = Clock::now();
  const auto summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(since(start) < 2s);
}

// TestTimeout.test_queue_timeout
TEST_CASE("ThreadQueue: run timeout", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  (void)q.submit(slow, 10s);
  const auto start = Clock::now();
  const auto summary = q.run({.timeout = 200ms});
  CHECK(summary.timed_out);
  CHECK_FALSE(summary.ok());
  CHECK(since(start) < 2s);
}

// TestHandle.test_handle_wait
TEST_CASE("ThreadQueue: handle wait", "[thread_queue]") {
  std::optional<osiiso::TaskResult> result;
  {
    osiiso::ThreadQueue q({.workers = 1});
    q.start();
    auto h = q.submit(double_it, 21);
    result = h.wait();
  }
  REQUIRE(result);
  CHECK(result->status == TaskStatus::Succeeded);
  CHECK(result->value<int>() == 42);
}

// TestHandle.test_handle_value
TEST_CASE("ThreadQueue: handle value", "[thread_queue]") {
  std::optional<osiiso::SyncTaskHandle<int>> h;
  {
    osiiso::ThreadQueue q({.workers = 1});
    q.start();
    h.emplace(q.submit(double_it, 5));
    (void)h->wait();
  }
  CHECK(h->value() == 10);
}

// TestHandle.test_handle_cancel
TEST_CASE("ThreadQueue: handle cancel", "[thread_queue]") {
  std::optional<osiiso::SyncTaskHandle<std::string>> h;
  {
    osiiso::ThreadQueue q({.workers = 1});
    q.start();
    h.emplace(q.submit(slow, 10s));
    std::this_thread::sleep_for(100ms);
    CHECK(h->cancel());
  }
  CHECK(h->cancelled());
}

// TestHandle.test_handle_done
TEST_CASE("ThreadQueue: handle done", "[thread_queue]") {
  std::optional<osiiso::SyncTaskHandle<int>> h;
  {
    osiiso::ThreadQueue q({.workers = 1});
    q.start();
    h.emplace(q.submit(double_it, 1));
    (void)h->wait();
  }
  CHECK(h->done());
}

// TestDecorator.test_task_decorator
TEST_CASE("ThreadQueue: task binder", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 2});
  auto work = q.task({.retries = 1})([](int x) { return x + 1; });
  auto h = work(10);
  STATIC_REQUIRE(std::is_same_v<decltype(h), osiiso::SyncTaskHandle<int>>);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(h.value() == 11);
}

// TestDecorator.test_decorator_map
TEST_CASE("ThreadQueue: task binder map", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 4});
  auto sq = q.task()([](int x) { return x * x; });
  const auto handles = sq.map(std::vector{1, 2, 3});
  CHECK(handles.size() == 3);
  const auto summary = q.run();
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{1, 4, 9});
}

// TestHooks.test_on_complete
TEST_CASE("ThreadQueue: on_complete hook", "[thread_queue]") {
  Recorder<TaskStatus> completed;
  osiiso::ThreadQueue q({.workers = 1, .on_complete = [&](const osiiso::TaskResult& r) { completed.push(r.status); }});
  (void)q.submit(double_it, 1);
  (void)q.submit(double_it, 2);
  (void)q.run();
  CHECK(completed.items() == std::vector{TaskStatus::Succeeded, TaskStatus::Succeeded});
}

// TestHooks.test_on_start
TEST_CASE("ThreadQueue: on_start hook", "[thread_queue]") {
  Recorder<std::string> started;
  osiiso::ThreadQueue q(
      {.workers = 1, .on_start = [&](const osiiso::SyncTaskHandle<>& h) { started.push(std::string(h.name())); }});
  (void)q.submit({.name = "double"}, double_it, 1);
  (void)q.run();
  CHECK(started.items() == std::vector<std::string>{"double"});
}

// TestResetAndClosed.test_reset
TEST_CASE("ThreadQueue: reset", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  (void)q.submit(double_it, 1);
  (void)q.run();
  CHECK(q.results().size() == 1);
  q.reset();
  CHECK(q.results().empty());
}

// TestResetAndClosed.test_closed_rejects
TEST_CASE("ThreadQueue: a closed queue rejects submissions", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  (void)q.submit(double_it, 1);
  (void)q.run();
  q.shutdown();
  CHECK(q.closed());
  CHECK_THROWS_AS(q.submit(double_it, 2), osiiso::ClosedError);
}

// TestConstructorValidation (size is a std::size_t, so test_negative_size_raises cannot be written).
TEST_CASE("ThreadQueue: constructor validation", "[thread_queue]") {
  const auto make = [](const osiiso::ThreadQueueOptions& options) { osiiso::ThreadQueue q(options); };
  SECTION("workers must be > 0") {
    CHECK_THROWS_AS(make({.workers = 0}), std::invalid_argument);
    CHECK_THROWS_WITH(make({.workers = 0}), Catch::Contains("workers must be > 0"));
  }
  SECTION("timeout must be > 0") {
    CHECK_THROWS_AS(make({.timeout = -1s}), std::invalid_argument);
    CHECK_THROWS_WITH(make({.timeout = -1s}), Catch::Contains("timeout must be > 0"));
    CHECK_THROWS_AS(make({.timeout = 0s}), std::invalid_argument);
  }
  SECTION("valid options construct") { CHECK_NOTHROW(make({.workers = 1, .size = 0, .timeout = 1s})); }
}

// TestOnRetryHook.test_on_retry_callback
TEST_CASE("ThreadQueue: on_retry hook", "[thread_queue]") {
  Recorder<std::pair<std::string, bool>> retry_calls;
  auto calls = std::make_shared<std::atomic<int>>(0);
  osiiso::ThreadQueue q({.workers = 1, .on_retry = [&](const osiiso::SyncTaskHandle<>& h, std::exception_ptr error) {
                           bool invalid_argument = false;
                           try {
                             std::rethrow_exception(error);
                           } catch (const std::invalid_argument&) {
                             invalid_argument = true;
                           } catch (...) {
                           }
                           retry_calls.push({std::string(h.name()), invalid_argument});
                         }});
  (void)q.submit({.retries = 3, .name = "flaky_for_retry"}, [calls]() -> std::string {
    if (++*calls < 3) throw std::invalid_argument("not yet");
    return "ok";
  });
  const auto summary = q.run();
  CHECK(summary.ok());
  const auto items = retry_calls.items();
  REQUIRE(items.size() == 2);
  for (const auto& [name, invalid_argument] : items) {
    CHECK(name == "flaky_for_retry");
    CHECK(invalid_argument);
  }
}

// TestCancelMethod.test_cancel_stops_queue
TEST_CASE("ThreadQueue: cancel from another thread stops the queue", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit(slow, 10s);
  q.start();
  std::this_thread::sleep_for(100ms);
  const auto start = Clock::now();
  std::thread t([&] { q.cancel(); });
  t.join();
  CHECK(since(start) < 2s);
  CHECK(q.closed());
  CHECK(h.cancelled());
}

// TestClearResults.test_clear_results
TEST_CASE("ThreadQueue: clear_results", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  (void)q.submit(double_it, 5);
  (void)q.submit(double_it, 10);
  (void)q.run();
  CHECK(q.results().size() == 2);
  q.clear_results();
  CHECK(q.results().empty());
  CHECK(q.stats().completed == 0);
}

// TestJoin.test_join_completes_work
TEST_CASE("ThreadQueue: join completes work", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 2});
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
TEST_CASE("ThreadQueue: infinite mode with start and shutdown", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1, .mode = osiiso::Mode::Infinite});
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
TEST_CASE("ThreadQueue: stats", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
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
TEST_CASE("ThreadQueue: handle wait timeout", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  q.start();
  auto h = q.submit(slow, 10s);
  CHECK_THROWS_AS(h.wait(10ms), osiiso::TimeoutError);
  q.shutdown({.force = true});
  CHECK(h.cancelled());
}

// TestScheduling.test_delay_scheduling
TEST_CASE("ThreadQueue: delay scheduling", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  const auto start = Clock::now();
  (void)q.submit({.delay = 300ms}, double_it, 5);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(summary.values<int>() == std::vector{10});
  CHECK(since(start) >= 250ms);
}

// TestRetryMechanics.test_retry_with_delay_and_backoff (the retry_delay/backoff rule: gaps grow).
TEST_CASE("ThreadQueue: retry delay and backoff", "[thread_queue]") {
  auto times = std::make_shared<Recorder<Clock::time_point>>();
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit({.retries = 2, .retry_delay = 100ms, .backoff = 2.0}, [times]() -> int {
    times->push(Clock::now());
    throw std::invalid_argument("fail");
  });
  const auto summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(h.attempts() == 3);
  const auto calls = times->items();
  REQUIRE(calls.size() == 3);
  const Seconds gap1 = calls[1] - calls[0];
  const Seconds gap2 = calls[2] - calls[1];
  CHECK(gap1 >= 80ms);
  CHECK(gap2 >= 150ms);
  CHECK(gap2 > gap1);
  CHECK(gap1 < 1s);
  CHECK(gap2 < 1.5s);
}

// TestMustComplete.test_must_complete_survives_cancel
TEST_CASE("ThreadQueue: must_complete survives a run timeout", "[thread_queue]") {
  auto done = std::make_shared<std::atomic<bool>>(false);
  osiiso::ThreadQueue q({.workers = 2, .on_exit = osiiso::OnExit::CompletePriority});
  (void)q.submit(slow, 10s);
  (void)q.submit({.must_complete = true}, [done]() -> std::string {
    std::this_thread::sleep_for(200ms);
    *done = true;
    return "completed";
  });
  const auto summary = q.run({.timeout = 300ms});
  CHECK(std::any_of(summary.results.begin(), summary.results.end(), [](const osiiso::TaskResult& r) {
    return r.status == TaskStatus::Succeeded && r.value<std::string>() == "completed";
  }));
  CHECK(*done);
}

// TestDetachedThread.test_detached_flag_on_result: detached results stay out of the summary.
TEST_CASE("ThreadQueue: detached tasks", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 2});
  auto detached = q.submit({.detached = true}, double_it, 5);
  auto normal = q.submit(double_it, 10);
  CHECK(detached.detached());
  CHECK_FALSE(normal.detached());
  const auto summary = q.run();
  CHECK(detached.done());  // run() awaited it
  CHECK(summary.total_submitted == 1);
  REQUIRE(summary.results.size() == 1);
  CHECK_FALSE(summary.results[0].detached);
  CHECK(summary.results[0].value<int>() == 20);
  const auto all = q.results();
  REQUIRE(all.size() == 2);
  const auto it = std::find_if(all.begin(), all.end(), [](const osiiso::TaskResult& r) { return r.detached; });
  REQUIRE(it != all.end());
  CHECK(it->value<int>() == 10);
  CHECK(detached.result().detached);
}

// TestRunAtScheduling.test_run_at_delays_execution
TEST_CASE("ThreadQueue: run_at scheduling", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  const auto start = Clock::now();
  (void)q.submit({.run_at = std::chrono::system_clock::now() + 300ms}, double_it, 5);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(summary.values<int>() == std::vector{10});
  CHECK(since(start) >= 250ms);
}

// ---------------------------------------------------------------------------------------------
// Scheduling rules
// ---------------------------------------------------------------------------------------------

TEST_CASE("ThreadQueue: lower priority runs first, FIFO among equals", "[thread_queue]") {
  Recorder<int> order;
  osiiso::ThreadQueue q({.workers = 1});
  const auto record = [&order](int id) {
    order.push(id);
    return id;
  };
  (void)q.submit({.priority = 3}, record, 1);
  (void)q.submit({.priority = 1}, record, 2);
  (void)q.submit({.priority = 2}, record, 3);
  (void)q.submit({.priority = 1}, record, 4);
  (void)q.submit({.priority = 3}, record, 5);
  (void)q.submit({.priority = 0}, record, 6);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(order.items() == std::vector{6, 2, 4, 3, 1, 5});
}

TEST_CASE("ThreadQueue: delayed tasks wait on a timer, not on a worker", "[thread_queue]") {
  Recorder<std::string> finished;
  osiiso::TaskOptions late_options;
  SECTION("delay") { late_options.delay = 300ms; }
  SECTION("run_at") { late_options.run_at = std::chrono::system_clock::now() + 300ms; }
  osiiso::ThreadQueue q({.workers = 1});
  const auto start = Clock::now();
  auto late = q.submit(late_options, [&finished] {
    finished.push("late");
    return 1;
  });
  auto early = q.submit([&finished] {
    finished.push("early");
    return 2;
  });
  CHECK(q.stats().scheduled == 1);
  CHECK(q.pending_count() == 2);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(finished.items() == std::vector<std::string>{"early", "late"});
  CHECK(Seconds(early.result().finished_at - start) < 250ms);
  REQUIRE(late.result().started_at.has_value());
  CHECK(Seconds(*late.result().started_at - start) >= 250ms);
  CHECK(late.result().scheduled_for.has_value());
}

TEST_CASE("ThreadQueue: cancelling a task during its retry wait", "[thread_queue]") {
  auto calls = std::make_shared<std::atomic<int>>(0);
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit({.retries = 3, .retry_delay = 2s}, [calls]() -> int {
    ++*calls;
    throw std::runtime_error("fail");
  });
  q.start();
  REQUIRE(eventually([&] { return h.status() == TaskStatus::Retrying; }, 2s));
  const auto start = Clock::now();
  CHECK(h.cancel());
  const auto result = h.wait(1s);
  CHECK(since(start) < 1s);
  CHECK(result.status == TaskStatus::Cancelled);
  CHECK(h.cancelled());
  CHECK(*calls == 1);
  CHECK(h.attempts() == 1);
  CHECK_THROWS_AS(h.value(), osiiso::CancelledError);
  q.shutdown();
}

TEST_CASE("ThreadQueue: per-attempt timeout fails with TimeoutError after the retries", "[thread_queue]") {
  auto calls = std::make_shared<std::atomic<int>>(0);
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit({.timeout = 50ms, .retries = 2}, [calls](std::stop_token stop) {
    ++*calls;
    sleep_unless_stopped(stop, 5s);
    return 0;
  });
  const auto start = Clock::now();
  const auto summary = q.run();
  CHECK(since(start) < 2s);
  CHECK(summary.failed == 1);
  CHECK(h.status() == TaskStatus::Failed);
  CHECK(h.attempts() == 3);
  CHECK(*calls == 3);
  CHECK_THROWS_AS(h.value(), osiiso::TimeoutError);
  CHECK_THROWS_AS(std::rethrow_exception(h.exception()), osiiso::TimeoutError);
}

TEST_CASE("ThreadQueue: must_complete and the run-timeout exit policy", "[thread_queue]") {
  const auto important = [](std::stop_token stop) -> std::string {
    if (!sleep_unless_stopped(stop, 600ms)) throw std::runtime_error("stopped");
    return "completed";
  };
  SECTION("CompletePriority lets must_complete tasks finish") {
    osiiso::ThreadQueue q({.workers = 2, .on_exit = osiiso::OnExit::CompletePriority});
    auto ordinary = q.submit(slow, 10s);
    auto kept = q.submit({.must_complete = true}, important);
    const auto start = Clock::now();
    const auto summary = q.run({.timeout = 150ms});
    CHECK(summary.timed_out);
    CHECK(since(start) >= 500ms);
    CHECK(ordinary.status() == TaskStatus::Cancelled);
    CHECK(kept.status() == TaskStatus::Succeeded);
    CHECK(kept.value() == "completed");
  }
  SECTION("Cancel cancels must_complete tasks too") {
    osiiso::ThreadQueue q({.workers = 2, .on_exit = osiiso::OnExit::Cancel});
    auto ordinary = q.submit(slow, 10s);
    auto kept = q.submit({.must_complete = true}, important);
    const auto start = Clock::now();
    const auto summary = q.run({.timeout = 150ms});
    CHECK(summary.timed_out);
    CHECK(since(start) < 500ms);
    CHECK(ordinary.status() == TaskStatus::Cancelled);
    CHECK(kept.status() == TaskStatus::Cancelled);
    CHECK(summary.cancelled == 2);
  }
}

TEST_CASE("ThreadQueue: a task cancelled as it starts is stopped and frees its worker", "[thread_queue]") {
  // The slow on_start hook holds the task in Running before its attempt body begins.
  auto ran = std::make_shared<std::atomic<bool>>(false);
  auto stopped = std::make_shared<std::atomic<bool>>(false);
  osiiso::ThreadQueue q(
      {.workers = 1, .on_start = [](const osiiso::SyncTaskHandle<>&) { std::this_thread::sleep_for(100ms); }});
  auto h = q.submit([ran, stopped](std::stop_token stop) {
    *ran = true;
    if (!sleep_unless_stopped(stop, 2s)) *stopped = true;
    return 0;
  });
  q.start();
  REQUIRE(eventually([&] { return h.status() == TaskStatus::Running; }, 2s));
  CHECK(h.cancel());
  CHECK(h.cancelled());
  auto next = q.submit(double_it, 1);
  CHECK(next.wait(1s).status == TaskStatus::Succeeded);
  // Either the body never ran, or it ran and received its stop request.
  CHECK(eventually([&] { return !ran->load() || stopped->load(); }, 1s));
  q.shutdown({.force = true});
}

TEST_CASE("ThreadQueue: metadata travels on the handle and the result", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit({.metadata = std::string("tag")}, double_it, 1);
  REQUIRE(h.metadata().has_value());
  CHECK(std::any_cast<std::string>(h.metadata()) == "tag");
  const auto summary = q.run();
  REQUIRE(summary.results.size() == 1);
  CHECK(std::any_cast<std::string>(summary.results[0].metadata) == "tag");
  CHECK(std::any_cast<std::string>(h.result().metadata) == "tag");
  auto plain = q.submit(double_it, 2);
  CHECK_FALSE(plain.metadata().has_value());
  q.shutdown();
}

TEST_CASE("ThreadQueue: a full bounded queue blocks submit", "[thread_queue]") {
  auto gate = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 1, .size = 1});
  q.start();
  auto first = q.submit([gate](std::stop_token stop) {
    gate->wait(stop);
    return 1;
  });
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
  gate->open();
  producer.join();
  REQUIRE_FALSE(error);
  CHECK(submitted);
  CHECK(first.wait(1s).status == TaskStatus::Succeeded);
  REQUIRE(second);
  CHECK(second->wait(2s).status == TaskStatus::Succeeded);
  CHECK(second->value() == 4);
  q.shutdown();
}

TEST_CASE("ThreadQueue: unset workers scale with the backlog up to the limit", "[thread_queue]") {
  const auto limit = auto_worker_limit();
  auto gate = std::make_shared<Gate>();
  const auto blocker = [gate](std::stop_token stop) {
    gate->wait(stop);
    return 0;
  };
  osiiso::ThreadQueue q(osiiso::ThreadQueueOptions{});
  (void)q.submit(blocker);
  CHECK(q.stats().workers == 0);  // nothing starts before start()
  q.start();
  REQUIRE(eventually([&] { return q.active_count() == 1; }, 2s));
  CHECK(q.stats().workers == 1);
  for (std::size_t i = 0; i < limit + 1; ++i) (void)q.submit(blocker);
  CHECK(eventually([&] { return q.stats().workers == limit; }, 2s));
  std::size_t most = 0;
  for (int i = 0; i < 20; ++i) {
    most = std::max(most, q.stats().workers);
    std::this_thread::sleep_for(5ms);
  }
  CHECK(most <= limit);
  CHECK(q.active_count() == limit);
  gate->open();
  (void)q.run();
  CHECK(q.results().size() == limit + 2);
}

TEST_CASE("ThreadQueue: infinite mode run blocks until shutdown", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1, .mode = osiiso::Mode::Infinite});
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

TEST_CASE("ThreadQueue: fail_first cancels the rest but spares must_complete", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1, .fail_policy = osiiso::FailPolicy::FailFirst});
  auto bad = q.submit({.priority = 1}, fail_always, "boom");
  auto normal = q.submit(double_it, 1);
  auto kept = q.submit({.must_complete = true}, double_it, 2);
  const auto summary = q.run();
  CHECK(bad.status() == TaskStatus::Failed);
  CHECK(normal.status() == TaskStatus::Cancelled);
  CHECK(kept.status() == TaskStatus::Succeeded);
  CHECK(kept.value() == 4);
  CHECK(summary.failed == 1);
  CHECK(summary.cancelled == 1);
  CHECK(summary.succeeded == 1);
}

TEST_CASE("ThreadQueue: run overrides the fail policy for that run only", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  (void)q.submit({.priority = 1}, fail_always, "boom");
  (void)q.submit(double_it, 1);
  const auto first = q.run({.fail_policy = osiiso::FailPolicy::FailFirst});
  CHECK(first.failed == 1);
  CHECK(first.cancelled == 1);
  CHECK(first.succeeded == 0);

  (void)q.submit({.priority = 1}, fail_always, "boom");
  (void)q.submit(double_it, 1);
  const auto second = q.run();
  CHECK(second.failed == 1);
  CHECK(second.cancelled == 0);
  CHECK(second.succeeded == 1);
}

TEST_CASE("ThreadQueue: hooks that throw are swallowed", "[thread_queue]") {
  auto calls = std::make_shared<std::atomic<int>>(0);
  osiiso::ThreadQueue q(
      {.workers = 1,
       .on_start = [](const osiiso::SyncTaskHandle<>&) { throw std::runtime_error("on_start"); },
       .on_complete = [](const osiiso::TaskResult&) { throw std::runtime_error("on_complete"); },
       .on_retry = [](const osiiso::SyncTaskHandle<>&, std::exception_ptr) { throw std::runtime_error("on_retry"); }});
  auto flaky = q.submit({.retries = 1}, [calls] {
    if (++*calls < 2) throw std::invalid_argument("once");
    return 7;
  });
  auto plain = q.submit(double_it, 4);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(flaky.value() == 7);
  CHECK(plain.value() == 8);
  // The queue is still usable afterwards.
  auto again = q.submit(double_it, 5);
  CHECK(q.run().ok());
  CHECK(again.value() == 10);
}

TEST_CASE("ThreadQueue: strict run throws ExecutionError", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
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

TEST_CASE("ThreadQueue: run while another run is in progress throws logic_error", "[thread_queue]") {
  auto gate = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 1});
  (void)q.submit([gate](std::stop_token stop) {
    gate->wait(stop);
    return 0;
  });
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
  gate->open();
  runner.join();
  REQUIRE_FALSE(error);
  CHECK(summary.succeeded == 1);
}

TEST_CASE("ThreadQueue: graceful shutdown drains scheduled tasks", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
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

TEST_CASE("ThreadQueue: forced shutdown cancels everything", "[thread_queue]") {
  auto entered = std::make_shared<std::atomic<bool>>(false);
  osiiso::ThreadQueue q({.workers = 1});
  auto running = q.submit(probed_slow(entered));
  auto queued = q.submit(double_it, 1);
  auto scheduled = q.submit({.delay = 10s}, double_it, 2);
  auto must = q.submit({.must_complete = true}, double_it, 3);
  q.start();
  REQUIRE(eventually([&] { return entered->load(); }, 2s));
  const auto start = Clock::now();
  q.shutdown({.force = true});
  CHECK(since(start) < 1s);
  CHECK(q.closed());
  CHECK(running.cancelled());
  CHECK(queued.cancelled());
  CHECK(scheduled.cancelled());
  CHECK(must.cancelled());
}

TEST_CASE("ThreadQueue: cancel from inside a task returns and closes the queue", "[thread_queue]") {
  auto returned = std::make_shared<std::atomic<bool>>(false);
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit([&q, returned] {
    q.cancel();
    *returned = true;
    return 1;
  });
  auto other = q.submit({.delay = 10s}, double_it, 1);
  q.start();
  CHECK(eventually([&] { return returned->load(); }, 2s));
  CHECK(eventually([&] { return q.closed(); }, 2s));
  CHECK(h.wait(1s).status != TaskStatus::Pending);
  CHECK(other.cancelled());
}

TEST_CASE("ThreadQueue: reset makes a closed queue usable again", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  (void)q.submit(double_it, 1);
  (void)q.run();
  q.shutdown();
  REQUIRE(q.closed());
  q.reset();
  CHECK_FALSE(q.closed());
  CHECK(q.results().empty());
  auto h = q.submit(double_it, 6);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(h.value() == 12);
}

TEST_CASE("ThreadQueue: destructor drains outstanding work gracefully", "[thread_queue]") {
  std::optional<osiiso::SyncTaskHandle<int>> now;
  std::optional<osiiso::SyncTaskHandle<int>> later;
  {
    osiiso::ThreadQueue q({.workers = 2});
    now.emplace(q.submit(double_it, 1));
    later.emplace(q.submit({.delay = 50ms}, double_it, 2));
  }
  CHECK(now->value() == 2);
  CHECK(later->value() == 4);
}

TEST_CASE("ThreadQueue: a closed queue throws ClosedError", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  q.shutdown();
  CHECK(q.closed());
  CHECK_THROWS_AS(q.submit(double_it, 1), osiiso::ClosedError);
  CHECK_THROWS_AS(q.map(double_it, std::vector{1, 2}), osiiso::ClosedError);
  CHECK_THROWS_AS(q.group(double_it, std::vector{1, 2}), osiiso::ClosedError);
  CHECK_THROWS_AS(q.start(), osiiso::ClosedError);
}

TEST_CASE("ThreadQueue: stats, active_count and pending_count", "[thread_queue]") {
  auto gate = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 1});
  CHECK(&q.start() == &q);
  (void)q.submit([gate](std::stop_token stop) {
    gate->wait(stop);
    return 0;
  });
  REQUIRE(eventually([&] { return q.active_count() == 1; }, 2s));
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
  gate->open();
  (void)q.run();  // the summary covers only what finished during run(); the counters cover everything
  CHECK(q.stats().completed == 4);
  CHECK(q.active_count() == 0);
  CHECK(q.pending_count() == 0);
  q.shutdown();
  CHECK(q.stats().closed);
}

TEST_CASE("ThreadQueue: invalid TaskOptions throw at submission", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
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

TEST_CASE("ThreadQueue: a stop_token task is asked to stop on timeout and on cancel", "[thread_queue]") {
  auto stopped = std::make_shared<std::atomic<int>>(0);
  auto entered = std::make_shared<std::atomic<bool>>(false);
  const auto task = [stopped, entered](std::stop_token stop) {
    *entered = true;
    sleep_unless_stopped(stop, 5s);
    if (stop.stop_requested()) ++*stopped;
    return 0;
  };
  osiiso::ThreadQueue q({.workers = 2});
  SECTION("timeout") {
    auto h = q.submit({.timeout = 50ms}, task);
    (void)q.run();
    CHECK(h.status() == TaskStatus::Failed);
    CHECK(eventually([&] { return *stopped == 1; }, 1s));
  }
  SECTION("cancel") {
    auto h = q.submit(task);
    q.start();
    REQUIRE(eventually([&] { return entered->load(); }, 2s));
    CHECK(h.cancel());
    CHECK(eventually([&] { return *stopped == 1; }, 1s));
    CHECK(h.cancelled());
    q.shutdown();
  }
}
