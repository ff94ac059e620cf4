// SPDX-License-Identifier: MIT
// SyncTaskHandle: the sync parts of the Python tests/test_handle.py, driven through a ThreadQueue.
#include <osiiso/task_handle.hpp>

#include <osiiso/osiiso.hpp>

#include "../helpers.hpp"

#include <fmt/core.h>
#include <catch2/catch.hpp>

#include <any>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
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

// An exception type the library has never heard of: ThreadQueue must hand it back unchanged.
struct CustomError : std::runtime_error {
  int code;
  CustomError(const std::string& message, int c) : std::runtime_error(message), code(c) {}
};

}  // namespace

TEST_CASE("SyncTaskHandle: done() is false before the task finishes and true after", "[task_handle]") {
  auto gate = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit(gated(gate, std::string("ok")));
  CHECK_FALSE(h.done());
  q.start();
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(h.done());
  gate->open();
  (void)h.wait(2s);
  CHECK(h.done());
  CHECK_FALSE(h.cancelled());
  q.shutdown();
}

TEST_CASE("SyncTaskHandle: status moves pending -> running -> retrying -> succeeded", "[task_handle]") {
  auto gate = std::make_shared<Gate>();
  auto calls = std::make_shared<std::atomic<int>>(0);
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit({.retries = 1, .retry_delay = 300ms}, [gate, calls](std::stop_token stop) {
    gate->wait(stop);
    if (++*calls == 1) throw std::runtime_error("first attempt fails");
    return 5;
  });
  CHECK(h.status() == TaskStatus::Pending);
  CHECK(h.attempts() == 0);
  q.start();
  REQUIRE(eventually([&] { return h.status() == TaskStatus::Running; }, 2s));
  CHECK(h.attempts() == 1);
  gate->open();
  REQUIRE(eventually([&] { return h.status() == TaskStatus::Retrying; }, 2s));
  CHECK(h.attempts() == 1);  // retrying does not count an attempt
  CHECK(h.wait(2s).status == TaskStatus::Succeeded);
  CHECK(h.status() == TaskStatus::Succeeded);
  CHECK(h.attempts() == 2);
  CHECK(h.value() == 5);
  q.shutdown();
}

TEST_CASE("SyncTaskHandle: result() and exception() throw InvalidStateError while pending", "[task_handle]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit(double_it, 1);
  CHECK_THROWS_AS(h.result(), osiiso::InvalidStateError);
  CHECK_THROWS_AS(h.exception(), osiiso::InvalidStateError);
  (void)q.run();
  CHECK_NOTHROW(h.result());
}

TEST_CASE("SyncTaskHandle: result() after finish is the result wait() returns", "[task_handle]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit(double_it, 21);
  const osiiso::TaskResult waited = h.wait();
  const osiiso::TaskResult& result = h.result();
  CHECK(result.task_id == waited.task_id);
  CHECK(result.task_id == h.task_id());
  CHECK(result.status == TaskStatus::Succeeded);
  CHECK(result.value<int>() == 42);
  q.shutdown();
}

TEST_CASE("SyncTaskHandle: value() returns the value of a succeeded task", "[task_handle]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit([] { return 123; });
  (void)q.run();
  CHECK(h.value() == 123);
  CHECK_FALSE(h.exception());
}

TEST_CASE("SyncTaskHandle: value() rethrows the task's exception type", "[task_handle]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto standard = q.submit([]() -> int { throw std::out_of_range("bad input"); });
  auto custom = q.submit([]() -> std::string { throw CustomError("custom boom", 7); });
  (void)q.run();
  CHECK(standard.status() == TaskStatus::Failed);
  CHECK_THROWS_AS(standard.value(), std::out_of_range);
  CHECK_THROWS_WITH(standard.value(), "bad input");
  try {
    (void)custom.value();
    FAIL("value() did not throw");
  } catch (const CustomError& e) {
    CHECK(e.code == 7);
    CHECK(std::string(e.what()) == "custom boom");
  }
}

TEST_CASE("SyncTaskHandle: exception() holds the failure of a failed task", "[task_handle]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit([]() -> int { throw std::invalid_argument("type error"); });
  (void)q.run();
  const std::exception_ptr error = h.exception();
  REQUIRE(error);
  CHECK_THROWS_AS(std::rethrow_exception(error), std::invalid_argument);
  CHECK(h.result().exception);
  CHECK(h.result().status == TaskStatus::Failed);
}

TEST_CASE("SyncTaskHandle: value() on a cancelled task throws CancelledError", "[task_handle]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit(double_it, 1);
  CHECK(h.cancel());
  CHECK(h.done());
  CHECK(h.cancelled());
  CHECK(h.status() == TaskStatus::Cancelled);
  CHECK_THROWS_AS(h.value(), osiiso::CancelledError);
  CHECK(h.result().status == TaskStatus::Cancelled);
  CHECK(h.attempts() == 0);
  (void)q.run();
}

TEST_CASE("SyncTaskHandle: cancel() returns false once done", "[task_handle]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto finished = q.submit(double_it, 1);
  auto pending = q.submit(double_it, 2);
  CHECK(pending.cancel());
  CHECK_FALSE(pending.cancel());  // already cancelled
  (void)q.run();
  CHECK_FALSE(finished.cancel());
  CHECK(finished.status() == TaskStatus::Succeeded);  // the first result stands
  CHECK(finished.value() == 2);
}

TEST_CASE("SyncTaskHandle: cancel() of a running task stops it", "[task_handle]") {
  auto stopped = std::make_shared<std::atomic<bool>>(false);
  auto entered = std::make_shared<std::atomic<bool>>(false);
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit([stopped, entered](std::stop_token stop) {
    *entered = true;
    if (!sleep_unless_stopped(stop, 5s)) *stopped = true;
    return 0;
  });
  q.start();
  REQUIRE(eventually([&] { return entered->load(); }, 2s));
  CHECK(h.status() == TaskStatus::Running);
  const auto start = Clock::now();
  CHECK(h.cancel());
  CHECK(h.wait(1s).status == TaskStatus::Cancelled);
  CHECK(since(start) < 1s);
  CHECK(eventually([&] { return stopped->load(); }, 1s));
  q.shutdown();
}

TEST_CASE("SyncTaskHandle: wait() blocks until the task finishes", "[task_handle]") {
  auto gate = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 1});
  q.start();
  auto h = q.submit(gated(gate, std::string("ok")));
  const auto start = Clock::now();
  std::thread opener([gate] {
    std::this_thread::sleep_for(50ms);
    gate->open();
  });
  const osiiso::TaskResult result = h.wait(2s);
  opener.join();
  CHECK(since(start) >= 40ms);
  CHECK(result.status == TaskStatus::Succeeded);
  CHECK(result.value<std::string>() == "ok");
  q.shutdown();
}

TEST_CASE("SyncTaskHandle: wait(timeout) throws TimeoutError while unfinished", "[task_handle]") {
  osiiso::ThreadQueue q({.workers = 1});
  q.start();
  auto h = q.submit(slow, 5s);
  const auto start = Clock::now();
  CHECK_THROWS_AS(h.wait(50ms), osiiso::TimeoutError);
  CHECK(since(start) >= 40ms);
  CHECK(since(start) < 1s);
  CHECK_FALSE(h.done());
  q.shutdown({.force = true});
}

TEST_CASE("SyncTaskHandle: finishing wakes every waiting thread", "[task_handle]") {
  auto gate = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 1});
  q.start();
  auto h = q.submit(gated(gate, std::string("done")));
  std::mutex mutex;
  std::vector<std::string> received;
  const auto waiter = [&] {
    try {
      const auto value = h.wait(2s).value<std::string>();
      std::lock_guard lock(mutex);
      received.push_back(value);
    } catch (...) {
    }
  };
  std::thread t1(waiter);
  std::thread t2(waiter);
  std::this_thread::sleep_for(50ms);
  gate->open();
  t1.join();
  t2.join();
  CHECK(received == std::vector<std::string>{"done", "done"});
  q.shutdown();
}

TEST_CASE("SyncTaskHandle: the first blocking wait starts the queue", "[task_handle]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit(double_it, 4);
  CHECK(q.stats().workers == 0);
  CHECK(h.wait(2s).status == TaskStatus::Succeeded);
  CHECK(h.value() == 8);
  q.shutdown();
}

TEST_CASE("SyncTaskHandle: add_done_callback is called once", "[task_handle]") {
  auto gate = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit(gated(gate, std::string("x")));
  std::atomic<int> calls{0};
  std::mutex mutex;
  std::string seen_id;
  h.add_done_callback([&](const osiiso::SyncTaskHandle<>& done) {
    {
      std::lock_guard lock(mutex);
      seen_id = done.task_id();
    }
    ++calls;
  });
  CHECK(calls == 0);
  q.start();
  gate->open();
  (void)h.wait(2s);
  CHECK(eventually([&] { return calls.load() == 1; }, 1s));
  (void)q.run();
  std::this_thread::sleep_for(20ms);
  CHECK(calls == 1);
  {
    std::lock_guard lock(mutex);
    CHECK(seen_id == h.task_id());
  }

  SECTION("a callback added after completion runs immediately") {
    int late_calls = 0;
    h.add_done_callback([&](const osiiso::SyncTaskHandle<>& done) {
      CHECK(done.done());
      ++late_calls;
    });
    CHECK(late_calls == 1);
  }
}

TEST_CASE("SyncTaskHandle: a typed handle converts to SyncTaskHandle<>", "[task_handle]") {
  osiiso::ThreadQueue q({.workers = 1});
  osiiso::SyncTaskHandle<int> typed = q.submit(double_it, 21);
  osiiso::SyncTaskHandle<> erased = typed;
  CHECK(erased.task_id() == typed.task_id());
  (void)q.run();
  STATIC_REQUIRE(std::is_same_v<decltype(erased.value()), std::any>);
  const std::any value = erased.value();
  CHECK(std::any_cast<int>(value) == 42);
  CHECK(erased.done());
  CHECK(erased.status() == TaskStatus::Succeeded);
}

TEST_CASE("SyncTaskHandle: a handle outlives its queue", "[task_handle]") {
  std::optional<osiiso::SyncTaskHandle<int>> h;
  std::optional<osiiso::SyncTaskHandle<int>> cancelled;
  {
    osiiso::ThreadQueue q({.workers = 1});
    h.emplace(q.submit(double_it, 4));
    cancelled.emplace(q.submit(double_it, 5));
    CHECK(cancelled->cancel());
    (void)q.run();
  }
  CHECK(h->done());
  CHECK(h->value() == 8);
  CHECK(h->result().value<int>() == 8);
  CHECK_FALSE(h->cancel());
  CHECK(h->wait(10ms).status == TaskStatus::Succeeded);
  CHECK_THROWS_AS(cancelled->value(), osiiso::CancelledError);
}

TEST_CASE("SyncTaskHandle: identity accessors mirror the options", "[task_handle]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto plain = q.submit(double_it, 1);
  auto h = q.submit(
      {.priority = 1, .must_complete = true, .name = "named", .group_id = "g", .detached = true, .metadata = 99},
      double_it, 2);
  CHECK_FALSE(plain.task_id().empty());
  CHECK(plain.task_id() != h.task_id());
  CHECK_FALSE(plain.name().empty());  // the demangled type of an unregistered callable
  CHECK(plain.priority() == 3);
  CHECK_FALSE(plain.must_complete());
  CHECK_FALSE(plain.group_id().has_value());
  CHECK_FALSE(plain.detached());
  CHECK_FALSE(plain.metadata().has_value());

  CHECK(h.name() == "named");
  CHECK(h.priority() == 1);
  CHECK(h.must_complete());
  CHECK(h.group_id() == std::optional<std::string>("g"));
  CHECK(h.detached());
  CHECK(std::any_cast<int>(h.metadata()) == 99);
  (void)q.run();
  const osiiso::TaskResult& r = h.result();
  CHECK(r.task_id == h.task_id());
  CHECK(r.name == "named");
  CHECK(r.priority == 1);
  CHECK(r.must_complete);
  CHECK(r.group_id == std::optional<std::string>("g"));
  CHECK(r.detached);
  CHECK(std::any_cast<int>(r.metadata) == 99);
}

TEST_CASE("SyncTaskHandle: the result records attempts and timings", "[task_handle]") {
  osiiso::ThreadQueue q({.workers = 1});
  auto ran = q.submit([] {
    std::this_thread::sleep_for(30ms);
    return 1;
  });
  auto never = q.submit(double_it, 1);
  auto delayed = q.submit({.delay = 20ms}, double_it, 2);
  CHECK(never.cancel());
  (void)q.run();

  const osiiso::TaskResult& r = ran.result();
  CHECK(r.attempts == 1);
  REQUIRE(r.started_at.has_value());
  CHECK(r.created_at <= *r.started_at);
  CHECK(*r.started_at <= r.finished_at);
  CHECK(r.duration >= 25ms);
  CHECK(r.duration <= Seconds(r.finished_at - *r.started_at) + 1ms);
  CHECK_FALSE(r.scheduled_for.has_value());

  const osiiso::TaskResult& n = never.result();
  CHECK(n.status == TaskStatus::Cancelled);
  CHECK(n.attempts == 0);
  CHECK_FALSE(n.started_at.has_value());
  CHECK(n.duration == Seconds(0));

  const osiiso::TaskResult& d = delayed.result();
  REQUIRE(d.scheduled_for.has_value());
  CHECK(Seconds(*d.scheduled_for - d.created_at) >= 15ms);
}

TEST_CASE("SyncTaskHandle: a default-constructed handle is empty", "[task_handle][empty_handle]") {
  const osiiso::SyncTaskHandle<int> empty;
  CHECK_FALSE(empty.valid());
  CHECK(empty == osiiso::SyncTaskHandle<int>());
  CHECK(osiiso::SyncTaskHandle<>(empty) == osiiso::SyncTaskHandle<>());
  CHECK_FALSE(osiiso::SyncTaskHandle<>(empty).valid());

  osiiso::ThreadQueue q({.workers = 1});
  osiiso::SyncTaskHandle<int> h;
  h = q.submit(double_it, 2);
  CHECK(h.valid());
  CHECK_FALSE(h == empty);
  CHECK(h.value() == 4);
}

TEST_CASE("SyncTaskHandle: every member of an empty handle throws InvalidStateError naming it",
          "[task_handle][empty_handle]") {
  const osiiso::SyncTaskHandle<int> h;
  const auto says_empty = [](const std::string& member) {
    return Catch::StartsWith("SyncTaskHandle::" + member +
                             "(): the handle is empty (default-constructed); assign it the handle returned by "
                             "submit() first");
  };
  CHECK_THROWS_AS(h.wait(), osiiso::InvalidStateError);
  CHECK_THROWS_WITH(h.wait(), says_empty("wait"));
  CHECK_THROWS_WITH(h.wait(10ms), says_empty("wait"));
  CHECK_THROWS_WITH(h.result(), says_empty("result"));
  CHECK_THROWS_WITH(h.value(), says_empty("value"));
  CHECK_THROWS_WITH(h.exception(), says_empty("exception"));
  CHECK_THROWS_WITH(h.cancel(), says_empty("cancel"));
  CHECK_THROWS_WITH(h.done(), says_empty("done"));
  CHECK_THROWS_WITH(h.cancelled(), says_empty("cancelled"));
  CHECK_THROWS_WITH(h.add_done_callback([](const osiiso::SyncTaskHandle<>&) {}), says_empty("add_done_callback"));
  CHECK_THROWS_WITH(h.status(), says_empty("status"));
  CHECK_THROWS_WITH(h.attempts(), says_empty("attempts"));
  CHECK_THROWS_WITH(h.task_id(), says_empty("task_id"));
  CHECK_THROWS_WITH(h.name(), says_empty("name"));
  CHECK_THROWS_WITH(h.priority(), says_empty("priority"));
  CHECK_THROWS_WITH(h.must_complete(), says_empty("must_complete"));
  CHECK_THROWS_WITH(h.group_id(), says_empty("group_id"));
  CHECK_THROWS_WITH(h.detached(), says_empty("detached"));
  CHECK_THROWS_WITH(h.metadata(), says_empty("metadata"));
  CHECK_THROWS_WITH(h.scheduled_for(), says_empty("scheduled_for"));
  CHECK_THROWS_WITH(h.created_at(), says_empty("created_at"));
  CHECK_THROWS_AS(osiiso::iter_completed(std::vector{h}), osiiso::InvalidStateError);
}

TEST_CASE("SyncTaskHandle: fmt formats name, id and status", "[task_handle][format]") {
  CHECK(fmt::format("{}", osiiso::SyncTaskHandle<int>()) == "SyncTaskHandle(empty)");
  CHECK(fmt::format("{:>23}", osiiso::SyncTaskHandle<>()) == "  SyncTaskHandle(empty)");

  auto gate = std::make_shared<Gate>();
  osiiso::ThreadQueue q({.workers = 1});
  auto h = q.submit({.name = "square"}, gated(gate, 9));
  CHECK(fmt::format("{}", h) == "SyncTaskHandle(square, id=" + h.task_id() + ", status=pending)");
  q.start();
  REQUIRE(eventually([&] { return h.status() == TaskStatus::Running; }));
  CHECK(fmt::format("{}", h) == "SyncTaskHandle(square, id=" + h.task_id() + ", status=running)");
  gate->open();
  (void)h.wait(2s);
  CHECK(fmt::format("{}", osiiso::SyncTaskHandle<>(h)) ==
        "SyncTaskHandle(square, id=" + h.task_id() + ", status=succeeded)");
}
