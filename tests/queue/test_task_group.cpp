// SPDX-License-Identifier: MIT
// SyncTaskGroup and iter_completed: the sync parts of the Python tests/test_group.py, plus map,
// the task binder and heterogeneous groups, driven through a ThreadQueue.
#include <osiiso/task_group.hpp>

#include <osiiso/osiiso.hpp>

#include "../helpers.hpp"

#include <catch2/catch.hpp>

#include <any>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
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
using osiiso::test::Gate;
using osiiso::test::gated;
using osiiso::test::since;
using osiiso::test::sleep_unless_stopped;
using osiiso::test::slow;

namespace {

int double_it(int x) { return x * 2; }

int add(int a, int b) { return a + b; }

int fail_always(const std::string& message) { throw std::runtime_error(message); }

std::string shout(const std::string& word) { return word + "!"; }

// Sleeps `ms` milliseconds and returns it (completion order follows the sleeps).
int nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

// The task ids of `handles`, in iteration order.
template <class Range>
std::vector<std::string> ids_of(Range&& handles) {
  std::vector<std::string> ids;
  for (const auto& h : handles) ids.push_back(h.task_id());
  return ids;
}

}  // namespace

TEST_CASE("SyncTaskGroup: size and iteration yield the handles in submission order", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 2});
  auto g = q.group(double_it, std::vector{1, 2, 3});
  STATIC_REQUIRE(std::is_same_v<decltype(g), osiiso::SyncTaskGroup<int>>);
  CHECK(g.size() == 3);
  REQUIRE(g.handles().size() == 3);
  CHECK(ids_of(g) == ids_of(g.handles()));
  std::size_t n = 0;
  for (const auto& h : g) {
    CHECK(h.group_id() == std::optional<std::string>(g.group_id()));
    ++n;
  }
  CHECK(n == 3);
  CHECK_FALSE(g.group_id().empty());
  (void)q.run();
}

TEST_CASE("SyncTaskGroup: an empty group", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto g = q.group(double_it, std::vector<int>{});
  CHECK(g.size() == 0);
  CHECK(g.begin() == g.end());
  const auto summary = g.wait();
  CHECK(summary.total_submitted == 0);
  CHECK(summary.ok());
  CHECK(g.values().empty());
  CHECK(g.cancel() == 0);
}

TEST_CASE("SyncTaskGroup: cancel() returns how many were cancelled", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto g = q.group(double_it, std::vector{1, 2, 3});
  CHECK(g.handles()[1].cancel());  // already done -> not counted again
  CHECK(g.cancel() == 2);
  for (const auto& h : g) CHECK(h.cancelled());
  CHECK(g.cancel() == 0);
  (void)q.run();
}

TEST_CASE("SyncTaskGroup: cancel() of a finished group returns 0", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto g = q.group({osiiso::call(double_it, 1), osiiso::call(fail_always, "boom")});
  (void)q.run();
  CHECK(g.cancel() == 0);
}

TEST_CASE("SyncTaskGroup: wait() returns a RunSummary in submission order", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 3});
  auto g = q.group(nap, std::vector{60, 10, 30});
  const auto summary = g.wait();
  CHECK(summary.total_submitted == 3);
  CHECK(summary.succeeded == 3);
  CHECK(summary.failed == 0);
  CHECK(summary.cancelled == 0);
  CHECK_FALSE(summary.timed_out);
  CHECK(summary.ok());
  REQUIRE(summary.results.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(summary.results[i].task_id == g.handles()[i].task_id());
  CHECK(summary.values<int>() == std::vector{60, 10, 30});
  q.shutdown();
}

TEST_CASE("SyncTaskGroup: wait() counts mixed statuses", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto g = q.group({osiiso::call(double_it, 1), osiiso::call(fail_always, "boom"), osiiso::call(double_it, 2)});
  CHECK(g.handles()[2].cancel());
  (void)q.run();
  const auto summary = g.wait();
  CHECK(summary.succeeded == 1);
  CHECK(summary.failed == 1);
  CHECK(summary.cancelled == 1);
  CHECK_FALSE(summary.ok());
}

TEST_CASE("SyncTaskGroup: values() in submission order", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 3});
  auto g = q.group(nap, std::vector{60, 10, 30});
  const std::vector<int> values = g.values();
  CHECK(values == std::vector{60, 10, 30});
  q.shutdown();
}

TEST_CASE("SyncTaskGroup: values() throws ExecutionError when a task failed", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 2});
  auto g = q.group({osiiso::call(double_it, 1), osiiso::call(fail_always, "boom")});
  (void)q.run();
  try {
    (void)g.values();
    FAIL("values() did not throw");
  } catch (const osiiso::ExecutionError& e) {
    REQUIRE(e.results().size() == 1);
    CHECK(e.results()[0].task_id == g.handles()[1].task_id());
    CHECK(e.results()[0].status == TaskStatus::Failed);
  }
}

TEST_CASE("SyncTaskGroup: values() throws ExecutionError when a task was cancelled", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto g = q.group(double_it, std::vector{1, 2});
  CHECK(g.handles()[0].cancel());
  (void)q.run();
  CHECK_THROWS_AS(g.values(), osiiso::ExecutionError);
  CHECK_NOTHROW(g.wait());  // wait() itself reports, it does not throw
}

TEST_CASE("SyncTaskGroup: wait(timeout) throws TimeoutError when the budget runs out", "[task_group]") {
  auto gate = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 2});
  auto g = q.group({osiiso::call(double_it, 1), osiiso::call(gated(gate, 2))});
  q.start();
  const auto start = Clock::now();
  CHECK_THROWS_AS(g.wait(100ms), osiiso::TimeoutError);
  CHECK(since(start) >= 80ms);
  CHECK(since(start) < 1s);
  gate->open();
  (void)q.run();
}

TEST_CASE("SyncTaskGroup: wait(timeout) succeeds when everything finishes in time", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 2});
  auto g = q.group(nap, std::vector{20, 40});
  const auto summary = g.wait(2s);
  CHECK(summary.succeeded == 2);
  q.shutdown();
}

TEST_CASE("SyncTaskGroup: values(timeout) throws TimeoutError when the budget runs out", "[task_group]") {
  auto gate = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 2});
  auto g = q.group({osiiso::call(double_it, 1), osiiso::call(gated(gate, 2))});
  q.start();
  CHECK_THROWS_AS(g.values(100ms), osiiso::TimeoutError);
  gate->open();
  (void)q.run();
}

TEST_CASE("SyncTaskGroup: wait() blocks until every task finished", "[task_group]") {
  auto gate1 = std::make_shared<Gate>();
  auto gate2 = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 2});
  auto g = q.group({osiiso::call(gated(gate1, 1)), osiiso::call(gated(gate2, 2))});
  q.start();
  std::thread t1([gate1] {
    std::this_thread::sleep_for(30ms);
    gate1->open();
  });
  std::thread t2([gate2] {
    std::this_thread::sleep_for(60ms);
    gate2->open();
  });
  const auto start = Clock::now();
  const auto summary = g.wait(2s);
  t1.join();
  t2.join();
  CHECK(since(start) >= 50ms);
  CHECK(summary.total_submitted == 2);
  CHECK(summary.succeeded == 2);
  CHECK(summary.values<int>() == std::vector{1, 2});
  q.shutdown();
}

TEST_CASE("SyncTaskGroup: as_completed() yields handles in completion order", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 3});
  auto g = q.group(nap, std::vector{250, 10, 120});
  std::vector<std::string> order;
  for (const auto& h : g.as_completed(2s)) {
    CHECK(h.done());
    order.push_back(h.task_id());
  }
  CHECK(order ==
        std::vector<std::string>{g.handles()[1].task_id(), g.handles()[2].task_id(), g.handles()[0].task_id()});
  q.shutdown();
}

TEST_CASE("SyncTaskGroup: as_completed(timeout) throws TimeoutError when the budget runs out", "[task_group]") {
  auto gate = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 2});
  auto g = q.group({osiiso::call(double_it, 1), osiiso::call(gated(gate, 2))});
  std::vector<std::string> seen;
  CHECK_THROWS_AS(
      [&] {
        for (const auto& h : g.as_completed(150ms)) seen.push_back(h.task_id());
      }(),
      osiiso::TimeoutError);
  CHECK(seen == std::vector<std::string>{g.handles()[0].task_id()});
  gate->open();
  (void)q.run();
}

TEST_CASE("SyncTaskGroup: group ids", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 2});
  auto named = q.group({.group_id = "batch"}, double_it, std::vector{1, 2});
  auto first = q.group(double_it, std::vector{3});
  auto second = q.group({osiiso::call(double_it, 4)});
  CHECK(named.group_id() == "batch");
  for (const auto& h : named) CHECK(h.group_id() == std::optional<std::string>("batch"));
  CHECK_FALSE(first.group_id().empty());
  CHECK_FALSE(second.group_id().empty());
  CHECK(first.group_id() != second.group_id());
  const auto summary = q.run();
  const auto by_group = summary.by_group();
  CHECK(by_group.at(std::string("batch")).size() == 2);
  CHECK(by_group.at(first.group_id()).size() == 1);
  CHECK(by_group.at(second.group_id()).size() == 1);
}

TEST_CASE("SyncTaskGroup: heterogeneous calls without options", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 2});
  auto g = q.group({osiiso::call(double_it, 5), osiiso::call(add, 2, 3), osiiso::call(shout, std::string("hey"))});
  STATIC_REQUIRE(std::is_same_v<decltype(g), osiiso::SyncTaskGroup<>>);
  CHECK(g.size() == 3);
  const std::vector<std::any> values = g.values(2s);
  REQUIRE(values.size() == 3);
  CHECK(std::any_cast<int>(values[0]) == 10);
  CHECK(std::any_cast<int>(values[1]) == 5);
  CHECK(std::any_cast<std::string>(values[2]) == "hey!");
  q.shutdown();
}

TEST_CASE("SyncTaskGroup: heterogeneous calls with options", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto g = q.group({.priority = 1, .group_id = "mixed"}, {osiiso::call(double_it, 5), osiiso::call(add, 2, 3)});
  CHECK(g.group_id() == "mixed");
  for (const auto& h : g) {
    CHECK(h.priority() == 1);
    CHECK(h.group_id() == std::optional<std::string>("mixed"));
  }
  const auto summary = q.run();
  CHECK(summary.by_group().at(std::string("mixed")).size() == 2);
  CHECK(std::any_cast<int>(g.values()[1]) == 5);
}

TEST_CASE("ThreadQueue::map unpacks tuples and takes options", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 2});
  const auto handles = q.map({.priority = 2}, add, std::vector{std::tuple{1, 2}, std::tuple{3, 4}});
  STATIC_REQUIRE(std::is_same_v<std::remove_cvref_t<decltype(handles)>, std::vector<osiiso::SyncTaskHandle<int>>>);
  REQUIRE(handles.size() == 2);
  for (const auto& h : handles) CHECK(h.priority() == 2);
  const auto pairs = q.map(add, std::vector{std::pair{5, 6}});
  (void)q.run();
  CHECK(handles[0].value() == 3);
  CHECK(handles[1].value() == 7);
  CHECK(pairs.at(0).value() == 11);
}

TEST_CASE("ThreadQueue::task binds options for calls, map and group", "[task_group]") {
  struct Failed {
    std::mutex mutex;
    std::set<int> once;
  };
  auto failed = std::make_shared<Failed>();
  osiiso::ThreadQueue q({.workers = 2});
  // The first attempt for each argument fails; the bound retries = 1 makes every task succeed on its second.
  auto bound = q.task({.priority = 2, .retries = 1, .name = "bound"})([failed](int x) {
    std::lock_guard lock(failed->mutex);
    if (failed->once.insert(x).second) throw std::runtime_error("first attempt");
    return x * 10;
  });
  auto h = bound(1);
  STATIC_REQUIRE(std::is_same_v<decltype(h), osiiso::SyncTaskHandle<int>>);
  CHECK(h.name() == "bound");
  CHECK(h.priority() == 2);
  CHECK(h.value() == 10);  // waiting starts the queue
  CHECK(h.attempts() == 2);

  const auto mapped = bound.map(std::vector{2, 3});
  REQUIRE(mapped.size() == 2);
  CHECK(mapped[0].name() == "bound");
  CHECK(mapped[0].value() == 20);
  CHECK(mapped[0].attempts() == 2);
  CHECK(mapped[1].value() == 30);

  auto g = bound.group(std::vector{4});
  STATIC_REQUIRE(std::is_same_v<decltype(g), osiiso::SyncTaskGroup<int>>);
  CHECK(g.values(2s) == std::vector{40});
  CHECK(g.handles()[0].priority() == 2);
  q.shutdown();
}

TEST_CASE("iter_completed yields handles in completion order", "[task_group]") {
  osiiso::ThreadQueue q({.workers = 3});
  const auto handles = q.map(nap, std::vector{250, 10, 120});
  std::vector<std::string> order;
  for (const osiiso::SyncTaskHandle<>& h : osiiso::iter_completed(handles)) order.push_back(h.task_id());
  CHECK(order == std::vector<std::string>{handles[1].task_id(), handles[2].task_id(), handles[0].task_id()});
  q.shutdown();
}

TEST_CASE("iter_completed throws TimeoutError when the budget runs out", "[task_group]") {
  auto gate = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 2});
  std::vector<osiiso::SyncTaskHandle<int>> handles{q.submit(double_it, 1), q.submit(gated(gate, 2))};
  std::vector<std::string> seen;
  const auto start = Clock::now();
  CHECK_THROWS_AS(
      [&] {
        for (const auto& h : osiiso::iter_completed(handles, 150ms)) seen.push_back(h.task_id());
      }(),
      osiiso::TimeoutError);
  CHECK(since(start) < 1s);
  CHECK(seen == std::vector<std::string>{handles[0].task_id()});
  gate->open();
  (void)q.run();
}
