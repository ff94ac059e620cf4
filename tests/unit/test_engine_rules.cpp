// SPDX-License-Identifier: MIT
// The engine's scheduling rules, driven by hand: a fake backend takes and completes attempts, a
// fake clock moves time. No worker, no process, no sleep; every wait is on a condition.
#include "fake_backend.hpp"
#include "fake_clock.hpp"

#include <osiiso/detail/engine.hpp>
#include <osiiso/errors.hpp>
#include <osiiso/task_handle.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace osiiso;
using namespace std::chrono_literals;
using detail::Attempt;
using detail::EngineConfig;
using detail::TaskStatePtr;
using test::FakeBackend;
using test::FakeClock;

namespace {

// Yields until `done()` holds; bounded in real time so that a broken rule fails instead of hanging.
template <class Predicate>
bool spin_until(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return done();
    std::this_thread::yield();
  }
  return true;
}

// `config` on `clock`: the clock is chosen before the engine is made.
EngineConfig on_clock(EngineConfig config, std::shared_ptr<FakeClock> clock) {
  config.clock = std::move(clock);
  return config;
}

// One engine on a fake clock and a fake backend.
struct Rig : test::EngineRig {
  std::shared_ptr<FakeClock> clock;

  explicit Rig(EngineConfig config = {}, std::shared_ptr<FakeClock> fake = std::make_shared<FakeClock>())
      : EngineRig(on_clock(std::move(config), fake)), clock(std::move(fake)) {}

  // The next attempt, which must exist.
  Attempt next() {
    auto attempt = backend->take();
    REQUIRE(attempt);
    return *attempt;
  }

  // Moves the clock and waits until the timer thread made a task ready.
  void advance_until_ready(Clock::duration step) {
    const std::size_t seen = backend->notified();
    clock->advance(step);
    REQUIRE(backend->wait_for([&](const FakeBackend& b) { return b.notified() > seen; }));
  }

  // Moves the clock and waits until the timer thread has looked at the new time and found nothing
  // due (it is the only timed waiter when this is used).
  void advance_idle(Clock::duration step) {
    const auto mark = clock->advance(step);
    REQUIRE(spin_until([&] { return clock->waited_since(mark); }));
  }
};

std::string name_of(const Attempt& attempt) { return attempt.task->state->name; }

bool finished(const TaskStatePtr& state) {
  std::lock_guard lock(state->mu());
  return state->result != nullptr;
}

TaskResult result_of(const TaskStatePtr& state) {
  std::lock_guard lock(state->mu());
  REQUIRE(state->result);
  return *state->result;
}

TaskStatus status_of(const TaskStatePtr& state) {
  std::lock_guard lock(state->mu());
  return state->status;
}

std::size_t attempts_of(const TaskStatePtr& state) {
  std::lock_guard lock(state->mu());
  return state->attempts;
}

// Runs engine->run(options) on a thread of its own.
class RunThread {
 public:
  RunThread(detail::Engine& engine, RunOptions options)
      : thread_([this, &engine, options] {
          try {
            summary_ = engine.run(options);
          } catch (...) {
            error_ = std::current_exception();
          }
        }) {}
  RunThread(const RunThread&) = delete;
  RunThread& operator=(const RunThread&) = delete;
  ~RunThread() {
    if (thread_.joinable()) thread_.join();
  }

  RunSummary join() {
    thread_.join();
    if (error_) std::rethrow_exception(error_);
    return summary_;
  }

 private:
  RunSummary summary_;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("engine: lower priority runs first", "[engine]") {
  Rig rig;
  rig.submit("p5", {.priority = 5});
  rig.submit("p1", {.priority = 1});
  rig.submit("p3", {.priority = 3});
  CHECK_FALSE(rig.backend->take());  // not started: nothing is handed out
  rig.engine->start();
  CHECK(rig.backend->notified() >= 1);
  std::vector<std::string> order;
  for (int i = 0; i < 3; ++i) {
    const Attempt attempt = rig.next();
    order.push_back(name_of(attempt));
    CHECK(rig.backend->succeed(attempt, i));
  }
  CHECK(order == std::vector<std::string>{"p1", "p3", "p5"});
  CHECK_FALSE(rig.backend->take());
  CHECK(rig.engine->stats().completed == 3);
}

TEST_CASE("engine: FIFO within a priority; a retried task keeps its place", "[engine]") {
  Rig rig;
  rig.submit("a", {.retries = 1});
  rig.submit("b");
  rig.submit("c");
  rig.engine->start();
  const Attempt first = rig.next();
  CHECK(name_of(first) == "a");
  CHECK(rig.backend->fail(first, std::runtime_error("once")));  // no retry_delay: ready at once
  std::vector<std::string> order;
  while (auto attempt = rig.backend->take()) {
    order.push_back(name_of(*attempt));
    rig.backend->succeed(*attempt);
  }
  CHECK(order == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("engine: auto-scaling asks for one worker per backlogged task, up to the limit", "[engine]") {
  Rig rig({.auto_limit = 3});
  for (int i = 0; i < 5; ++i) rig.submit("t");
  CHECK(rig.backend->ensured().empty());  // nothing before start
  rig.engine->start();
  REQUIRE_FALSE(rig.backend->ensured().empty());
  CHECK(rig.backend->ensured().back() == 3);
}

TEST_CASE("engine: retries wait retry_delay, growing by backoff, and only as the clock moves", "[engine]") {
  std::atomic<int> retried{0};
  Rig rig({.on_retry = [&](const SyncTaskHandle<>&, const std::exception_ptr&) { ++retried; }});
  const auto state = rig.submit("flaky", {.retries = 2, .retry_delay = 1s, .backoff = 3.0});
  rig.engine->start();

  CHECK(rig.backend->fail(rig.next(), std::runtime_error("first")));
  CHECK(status_of(state) == TaskStatus::Retrying);
  CHECK(retried == 1);
  CHECK_FALSE(rig.backend->take());  // the wait holds no worker
  CHECK(rig.engine->stats().pending == 1);

  rig.advance_idle(999ms);
  CHECK_FALSE(rig.backend->take());
  rig.advance_until_ready(1ms);
  const Attempt second = rig.next();
  CHECK(attempts_of(state) == 2);
  CHECK(rig.backend->fail(second, std::runtime_error("second")));

  rig.advance_idle(2999ms);  // backoff: the second wait is 3 s
  CHECK_FALSE(rig.backend->take());
  rig.advance_until_ready(1ms);
  CHECK(rig.backend->fail(rig.next(), std::runtime_error("third")));

  const TaskResult result = result_of(state);  // out of retries
  CHECK(result.status == TaskStatus::Failed);
  CHECK(result.attempts == 3);
  CHECK(result.message == "third");
  CHECK(retried == 2);
}

TEST_CASE("engine: a timed-out attempt is interrupted and retried; its late report is ignored", "[engine]") {
  Rig rig;
  const auto state = rig.submit("slow", {.timeout = 2s, .retries = 1});
  rig.engine->start();
  const Attempt first = rig.next();

  const std::size_t seen = rig.backend->notified();
  rig.clock->advance(2s);
  REQUIRE(
      rig.backend->wait_for([&](const FakeBackend& b) { return b.interrupted().size() == 1 && b.notified() > seen; }));
  CHECK(rig.backend->interrupted().front() == first.id);
  CHECK_FALSE(rig.backend->succeed(first, 1));  // settled by the timeout already

  const Attempt second = rig.next();
  CHECK(second.id != first.id);
  CHECK(rig.backend->succeed(second, 2));
  const TaskResult result = result_of(state);
  CHECK(result.status == TaskStatus::Succeeded);
  CHECK(result.attempts == 2);
  CHECK(result.value<int>() == 2);
}

TEST_CASE("engine: out of retries, a timeout fails the task with TimeoutError", "[engine]") {
  Rig rig;
  const auto state = rig.submit("slow", {.timeout = 500ms});
  rig.engine->start();
  const Attempt attempt = rig.next();
  rig.clock->advance(500ms);
  REQUIRE(spin_until([&] { return finished(state); }));
  CHECK(rig.backend->interrupted() == std::vector<std::uint64_t>{attempt.id});
  const TaskResult result = result_of(state);
  CHECK(result.status == TaskStatus::Failed);
  CHECK_THROWS_AS(std::rethrow_exception(result.exception), TimeoutError);
}

TEST_CASE("engine: an attempt that finishes in time is never interrupted", "[engine]") {
  Rig rig;
  rig.submit("quick", {.timeout = 1s});
  rig.submit("sentinel", {.delay = 1h});  // keeps the timer thread waiting on the clock
  rig.engine->start();
  CHECK(rig.backend->succeed(rig.next()));
  rig.advance_idle(2s);  // past the stale deadline
  CHECK(rig.backend->interrupted().empty());
}

TEST_CASE("engine: cancel a queued, a scheduled, a retry-waiting and an active task", "[engine]") {
  Rig rig;
  const auto queued = rig.submit("queued");
  const auto scheduled = rig.submit("scheduled", {.delay = 10s});
  const auto retrying = rig.submit("retrying", {.priority = 1, .retries = 1, .retry_delay = 5s});
  const auto active = rig.submit("active", {.priority = 2});
  CHECK(rig.engine->stats().scheduled == 1);

  CHECK(rig.engine->cancel_task(queued->task.lock()));
  CHECK(result_of(queued).status == TaskStatus::Cancelled);
  CHECK(result_of(queued).message == "cancelled before execution");

  CHECK(rig.engine->cancel_task(scheduled->task.lock()));
  CHECK(result_of(scheduled).message == "cancelled before execution");
  CHECK(rig.engine->stats().scheduled == 0);

  rig.engine->start();
  const Attempt retry_attempt = rig.next();
  CHECK(name_of(retry_attempt) == "retrying");
  CHECK(rig.backend->fail(retry_attempt, std::runtime_error("again")));
  CHECK(rig.engine->cancel_task(retrying->task.lock()));
  CHECK(result_of(retrying).message == "cancelled before execution");

  const Attempt running = rig.next();
  CHECK(name_of(running) == "active");
  const auto task = active->task.lock();
  CHECK(rig.engine->cancel_task(task));
  CHECK(rig.backend->interrupted() == std::vector<std::uint64_t>{running.id});
  CHECK(result_of(active).message == "cancelled");
  CHECK_FALSE(rig.backend->succeed(running));
  CHECK_FALSE(rig.engine->cancel_task(task));  // already settled

  rig.advance_idle(5s);  // the retry wait ends: a cancelled task stays cancelled
  CHECK_FALSE(rig.backend->take());
  const Stats stats = rig.engine->stats();
  CHECK(stats.pending == 0);
  CHECK(stats.active == 0);
  CHECK(stats.completed == 4);
}

TEST_CASE("engine: fail_first cancels everything outstanding but must_complete tasks", "[engine]") {
  Rig rig({.fail_policy = FailPolicy::FailFirst});
  const auto failing = rig.submit("failing");
  const auto plain = rig.submit("plain");
  const auto kept = rig.submit("kept", {.must_complete = true});
  const auto later = rig.submit("later", {.delay = 5s});
  const auto kept_later = rig.submit("kept-later", {.must_complete = true, .delay = 5s});
  rig.engine->start();

  CHECK(rig.backend->fail(rig.next(), std::runtime_error("boom")));
  CHECK(result_of(failing).status == TaskStatus::Failed);
  CHECK(result_of(plain).status == TaskStatus::Cancelled);
  CHECK(result_of(later).status == TaskStatus::Cancelled);
  CHECK_FALSE(finished(kept));
  CHECK_FALSE(finished(kept_later));
  CHECK_THROWS_AS(rig.submit("refused"), ClosedError);  // halted

  const Attempt spared = rig.next();
  CHECK(name_of(spared) == "kept");
  CHECK(rig.backend->succeed(spared));
  rig.advance_until_ready(5s);
  const Attempt spared_later = rig.next();
  CHECK(name_of(spared_later) == "kept-later");
  CHECK(rig.backend->succeed(spared_later));
  CHECK(result_of(kept).status == TaskStatus::Succeeded);
  CHECK(result_of(kept_later).status == TaskStatus::Succeeded);
}

TEST_CASE("engine: a run timeout with on_exit", "[engine]") {
  const OnExit on_exit = GENERATE(OnExit::CompletePriority, OnExit::Cancel);
  Rig rig({.on_exit = on_exit});
  const auto kept = rig.submit("kept", {.must_complete = true});
  const auto plain = rig.submit("plain");
  RunThread run(*rig.engine, {.timeout = 5s});
  // The run waits on the clock (the timer thread has no timer): then both attempts can start.
  REQUIRE(spin_until([&] { return rig.clock->waiters() == 1; }));
  const Attempt kept_attempt = rig.next();
  const Attempt plain_attempt = rig.next();
  rig.clock->advance(5s);

  if (on_exit == OnExit::CompletePriority) {
    REQUIRE(rig.backend->wait_for([&](const FakeBackend& b) { return b.interrupted().size() == 1; }));
    CHECK(rig.backend->interrupted().front() == plain_attempt.id);
    CHECK(rig.backend->succeed(kept_attempt));  // the run waits for it
  } else {
    REQUIRE(rig.backend->wait_for([&](const FakeBackend& b) { return b.interrupted().size() == 2; }));
    CHECK_FALSE(rig.backend->succeed(kept_attempt));
  }
  const RunSummary summary = run.join();
  CHECK(summary.timed_out);
  CHECK(summary.duration >= 5s);  // timed on the engine's clock
  CHECK(summary.total_submitted == 2);
  CHECK(summary.cancelled == (on_exit == OnExit::Cancel ? 2U : 1U));
  CHECK(summary.succeeded == (on_exit == OnExit::Cancel ? 0U : 1U));
  CHECK(result_of(plain).status == TaskStatus::Cancelled);
  CHECK(rig.backend->stopped() == 1);
  CHECK(status_of(rig.submit("after")) == TaskStatus::Pending);  // the run's halt ended with it
}

TEST_CASE("engine: run windows report every result no earlier run reported", "[engine]") {
  Rig rig;
  rig.submit("before-run");
  rig.engine->start();
  CHECK(rig.backend->succeed(rig.next()));  // finished before run() was called

  const RunSummary first = rig.engine->run({});
  REQUIRE(first.total_submitted == 1);
  CHECK(first.results.front().name == "before-run");
  CHECK_FALSE(first.timed_out);

  rig.submit("second");
  rig.submit("detached", {.detached = true});
  rig.engine->start();  // the Finite run stopped the workers
  while (auto attempt = rig.backend->take()) rig.backend->succeed(*attempt);
  const RunSummary second = rig.engine->run({});
  REQUIRE(second.total_submitted == 1);  // not the first run's, not the detached one
  CHECK(second.results.front().name == "second");
  CHECK(rig.engine->results().size() == 3);

  CHECK(rig.engine->run({}).total_submitted == 0);
}

TEST_CASE("engine: run() refuses a second run and restores the fail policy", "[engine]") {
  Rig rig;
  rig.submit("failing");
  rig.submit("other");
  RunThread run(*rig.engine, {.fail_policy = FailPolicy::FailFirst});
  REQUIRE(rig.backend->wait_for([](const FakeBackend& b) { return b.notified() >= 1; }));
  CHECK_THROWS_AS(rig.engine->run({}), std::logic_error);
  CHECK(rig.backend->fail(rig.next(), std::runtime_error("boom")));
  const RunSummary summary = run.join();
  CHECK(summary.failed == 1);
  CHECK(summary.cancelled == 1);

  rig.submit("failing-again");  // fail_first was for that run only
  const auto other = rig.submit("survives");
  rig.engine->start();
  CHECK(rig.backend->fail(rig.next(), std::runtime_error("boom")));
  CHECK_FALSE(finished(other));
}

TEST_CASE("engine: delay and run_at wait in the timer heap until the clock reaches them", "[engine]") {
  Rig rig;
  const auto delayed = rig.submit("delayed", {.delay = 3s});
  CHECK(delayed->scheduled_for == delayed->created_at + 3s);
  rig.submit("at", {.run_at = std::chrono::system_clock::now() + 1h});
  rig.engine->start();
  CHECK(rig.engine->stats().scheduled == 2);
  CHECK_FALSE(rig.backend->take());

  rig.advance_idle(2s);
  CHECK_FALSE(rig.backend->take());
  rig.advance_until_ready(1s);
  CHECK(name_of(rig.next()) == "delayed");
  CHECK(rig.engine->stats().scheduled == 1);

  rig.advance_idle(58min);
  CHECK_FALSE(rig.backend->take());
  rig.advance_until_ready(2min);
  CHECK(name_of(rig.next()) == "at");
  CHECK(rig.engine->stats().scheduled == 0);
}

TEST_CASE("engine: a bounded queue blocks submit until a task finishes", "[engine]") {
  Rig rig({.size = 2});
  rig.submit("a");
  rig.submit("b");
  std::atomic<bool> admitted{false};
  std::thread submitter([&] {
    rig.submit("c");
    admitted = true;
  });
  CHECK_FALSE(admitted);
  rig.engine->start();
  CHECK(rig.backend->succeed(rig.next()));
  REQUIRE(spin_until([&] { return admitted.load(); }));
  submitter.join();
  CHECK(rig.engine->stats().pending == 2);
}

TEST_CASE("engine: a forced shutdown fails a submitter blocked on a full queue", "[engine]") {
  Rig rig({.size = 1});
  rig.submit("a");
  std::exception_ptr error;
  std::thread submitter([&] {
    try {
      rig.submit("b");
    } catch (...) {
      error = std::current_exception();
    }
  });
  rig.engine->shutdown(true);
  submitter.join();
  REQUIRE(error);
  CHECK_THROWS_AS(std::rethrow_exception(error), ClosedError);
}

TEST_CASE("engine: a graceful shutdown drains everything, delayed tasks included", "[engine]") {
  Rig rig;
  const auto now = rig.submit("now");
  const auto later = rig.submit("later", {.delay = 5s});
  std::thread shutdown([&] { rig.engine->shutdown(false); });
  // The shutdown starts the workers for what is outstanding.
  REQUIRE(rig.backend->wait_for([](const FakeBackend& b) { return b.notified() >= 1; }));
  CHECK(rig.backend->succeed(rig.next()));
  CHECK_FALSE(rig.engine->closed());
  rig.advance_until_ready(5s);
  CHECK(rig.backend->succeed(rig.next()));
  shutdown.join();

  CHECK(rig.engine->closed());
  CHECK(result_of(now).status == TaskStatus::Succeeded);
  CHECK(result_of(later).status == TaskStatus::Succeeded);
  CHECK(rig.backend->stopped() == 1);
  CHECK_THROWS_AS(rig.submit("refused"), ClosedError);
  CHECK_THROWS_AS(rig.engine->start(), ClosedError);
}

TEST_CASE("engine: a forced shutdown cancels everything, must_complete included; reset reopens", "[engine]") {
  Rig rig;
  const auto running = rig.submit("running");
  const auto kept = rig.submit("kept", {.must_complete = true});
  const auto later = rig.submit("later", {.delay = 5s});
  rig.engine->start();
  const Attempt attempt = rig.next();
  rig.engine->shutdown(true);

  CHECK(rig.engine->closed());
  CHECK(rig.backend->interrupted() == std::vector<std::uint64_t>{attempt.id});
  CHECK(result_of(running).message == "cancelled");
  CHECK(result_of(kept).status == TaskStatus::Cancelled);
  CHECK(result_of(later).status == TaskStatus::Cancelled);
  CHECK_FALSE(rig.backend->succeed(attempt));
  CHECK(rig.engine->stats().scheduled == 0);
  rig.engine->shutdown(true);  // a second shutdown is a no-op
  CHECK(rig.backend->stopped() == 1);

  rig.engine->reset();
  CHECK_FALSE(rig.engine->closed());
  CHECK(rig.engine->results().empty());
  rig.submit("again");
  rig.engine->start();
  CHECK(rig.backend->succeed(rig.next()));
}

TEST_CASE("engine: an Infinite run lasts until shutdown or its timeout", "[engine]") {
  Rig rig({.mode = Mode::Infinite});
  SECTION("shutdown") {
    RunThread run(*rig.engine, {});
    // Infinite mode keeps one worker even with nothing to do.
    REQUIRE(rig.backend->wait_for([](const FakeBackend& b) { return !b.ensured().empty(); }));
    CHECK(rig.backend->ensured().back() == 1);
    rig.submit("served");
    CHECK(rig.backend->succeed(rig.next()));
    rig.engine->shutdown(false);
    const RunSummary summary = run.join();
    CHECK_FALSE(summary.timed_out);
    CHECK(summary.succeeded == 1);
  }
  SECTION("timeout") {
    RunThread run(*rig.engine, {.timeout = 1min});
    REQUIRE(spin_until([&] { return rig.clock->waiters() == 1; }));
    rig.clock->advance(1min);
    const RunSummary summary = run.join();
    CHECK(summary.timed_out);
    CHECK(rig.backend->stopped() == 1);
    CHECK_FALSE(rig.engine->closed());
  }
}

TEST_CASE("engine: the rate gate spaces attempts, retries included; a waiting task holds no worker", "[engine][rate]") {
  Rig rig({.rate = 10.0, .burst = 2});
  const auto a = rig.submit("a", {.retries = 1});
  rig.submit("b");
  rig.submit("c");
  const auto d = rig.submit("d");
  rig.engine->start();
  const Attempt first = rig.next();  // the burst: two at once
  const Attempt second = rig.next();
  CHECK(name_of(first) == "a");
  CHECK(name_of(second) == "b");
  CHECK_FALSE(rig.backend->take());  // the gate is closed: c waits queued
  CHECK(rig.engine->stats().pending == 2);
  CHECK(rig.engine->stats().active == 2);

  rig.advance_idle(99ms);
  CHECK_FALSE(rig.backend->take());
  rig.advance_until_ready(1ms);
  CHECK(name_of(rig.next()) == "c");

  // A retry passes the gate like any attempt.
  CHECK(rig.backend->fail(first, std::runtime_error("once")));
  CHECK(status_of(a) == TaskStatus::Retrying);
  CHECK_FALSE(rig.backend->take());
  rig.advance_until_ready(100ms);
  const Attempt retry = rig.next();
  CHECK(name_of(retry) == "a");
  CHECK(attempts_of(a) == 2);

  // Waiting for the gate, d is still cancellable.
  CHECK(rig.engine->cancel_task(d->task.lock()));
  CHECK(result_of(d).status == TaskStatus::Cancelled);
  CHECK_FALSE(rig.backend->take());
  CHECK(rig.engine->stats().pending == 0);
}
