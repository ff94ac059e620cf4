// SPDX-License-Identifier: MIT
// What only ThreadQueue does: any callable (lambdas, partial application, closures over the
// queue) and stop tokens. The contract it shares with ProcessQueue is test_queue_contract.cpp.
#include <osiiso/thread_queue.hpp>

#include <osiiso/osiiso.hpp>

#include "../helpers.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using osiiso::TaskStatus;
using osiiso::test::eventually;
using osiiso::test::sleep_unless_stopped;

namespace {

int double_it(int x) { return x * 2; }

std::string greet(const std::string& greeting, const std::string& name) { return greeting + ", " + name + "!"; }

}  // namespace

// TestSubmit.test_submit_partial (functools.partial -> std::bind_front)
TEST_CASE("ThreadQueue: submit a partially applied callable", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit(std::bind_front(greet, std::string("Hi")), std::string("World"));
  const auto summary = q.run();
  CHECK(summary.values<std::string>() == std::vector<std::string>{"Hi, World!"});
  CHECK(h.value() == "Hi, World!");
}

// TestDecorator.test_task_decorator as written in Python, on a lambda (the contract binds a
// registered function).
TEST_CASE("ThreadQueue: task binder of a lambda", "[thread_queue]") {
  osiiso::ThreadQueue q({.workers = 2});
  auto work = q.task({.retries = 1})([](int x) { return x + 1; });
  auto h = work(10);
  STATIC_REQUIRE(std::is_same_v<decltype(h), osiiso::SyncTaskHandle<int>>);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(h.value() == 11);
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
