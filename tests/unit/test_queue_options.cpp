// SPDX-License-Identifier: MIT
// Queue, run and shutdown options: defaults, designated initializers, validation, get_context.
#include <osiiso/queue_options.hpp>

#include <osiiso/context.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <stdexcept>
#include <string>

using namespace osiiso;
using namespace std::chrono_literals;
using Catch::Matchers::Message;

TEST_CASE("ThreadQueueOptions defaults", "[queue_options]") {
  const ThreadQueueOptions o;
  CHECK_FALSE(o.workers.has_value());
  CHECK(o.size == 0);
  CHECK_FALSE(o.timeout.has_value());
  CHECK(o.mode == Mode::Finite);
  CHECK(o.fail_policy == FailPolicy::Continue);
  CHECK(o.on_exit == OnExit::CompletePriority);
  CHECK_FALSE(o.on_start);
  CHECK_FALSE(o.on_complete);
  CHECK_FALSE(o.on_retry);
  CHECK_NOTHROW(o.validate());
}

TEST_CASE("ProcessQueueOptions defaults", "[queue_options]") {
  const ProcessQueueOptions o;
  CHECK_FALSE(o.workers.has_value());
  CHECK(o.size == 0);
  CHECK_FALSE(o.timeout.has_value());
  CHECK(o.mode == Mode::Finite);
  CHECK(o.fail_policy == FailPolicy::Continue);
  CHECK(o.on_exit == OnExit::CompletePriority);
  CHECK_FALSE(o.on_start);
  CHECK_FALSE(o.on_complete);
  CHECK_FALSE(o.on_retry);
  CHECK(o.poll == 50ms);
  CHECK(o.context == Context{});
  CHECK(o.context.start_method() == StartMethod::Fork);
  CHECK_FALSE(o.chunksize.has_value());
  CHECK_NOTHROW(o.validate());
}

TEST_CASE("ProcessQueueOptions::chunksize must be positive", "[queue_options]") {
  ProcessQueueOptions o;
  o.chunksize = 0;
  CHECK_THROWS_MATCHES(o.validate(), std::invalid_argument, Message("chunksize must be > 0"));
  o.chunksize = 1;
  CHECK_NOTHROW(o.validate());
  const ProcessQueueOptions designated{.memory_limit = std::size_t{1} << 30, .chunksize = 64};
  CHECK(designated.chunksize == 64U);
  CHECK_NOTHROW(designated.validate());
}

TEST_CASE("RunOptions and ShutdownOptions defaults", "[queue_options]") {
  const RunOptions r;
  CHECK_FALSE(r.timeout.has_value());
  CHECK_FALSE(r.strict);
  CHECK_FALSE(r.fail_policy.has_value());

  const ShutdownOptions s;
  CHECK_FALSE(s.force);
}

TEST_CASE("queue options take designated initializers in field order", "[queue_options]") {
  int completed = 0;
  const ProcessQueueOptions p{.workers = 4,
                              .size = 16,
                              .timeout = 30s,
                              .mode = Mode::Infinite,
                              .fail_policy = FailPolicy::FailFirst,
                              .on_exit = OnExit::Cancel,
                              .on_start = [](const SyncTaskHandle<>&) {},
                              .on_complete = [&completed](const TaskResult&) { ++completed; },
                              .on_retry = [](const SyncTaskHandle<>&, std::exception_ptr) {},
                              .poll = 10ms,
                              .context = get_context("spawn")};
  CHECK(p.workers == std::size_t{4});
  CHECK(p.size == 16);
  REQUIRE(p.timeout.has_value());
  CHECK(*p.timeout == 30s);
  CHECK(p.mode == Mode::Infinite);
  CHECK(p.fail_policy == FailPolicy::FailFirst);
  CHECK(p.on_exit == OnExit::Cancel);
  CHECK(p.on_start);
  CHECK(p.on_retry);
  REQUIRE(p.on_complete);
  p.on_complete(TaskResult{});
  CHECK(completed == 1);
  CHECK(p.poll.count() == Approx(0.01));
  CHECK(p.context.start_method() == StartMethod::Spawn);
  CHECK_NOTHROW(p.validate());

  const ThreadQueueOptions t{.workers = 8, .timeout = 1.5s, .fail_policy = FailPolicy::FailFirst};
  CHECK(t.workers == std::size_t{8});
  CHECK(t.timeout->count() == Approx(1.5));
  CHECK(t.fail_policy == FailPolicy::FailFirst);
  CHECK_NOTHROW(t.validate());

  const RunOptions r{.timeout = 300ms, .strict = true, .fail_policy = FailPolicy::FailFirst};
  CHECK(r.timeout->count() == Approx(0.3));
  CHECK(r.strict);
  CHECK(r.fail_policy == FailPolicy::FailFirst);

  const ShutdownOptions s{.force = true};
  CHECK(s.force);
}

TEST_CASE("queue options validate with Python's messages", "[queue_options]") {
  CHECK_THROWS_MATCHES(ThreadQueueOptions{.workers = 0}.validate(), std::invalid_argument,
                       Message("workers must be > 0"));
  CHECK_THROWS_MATCHES(ThreadQueueOptions{.timeout = 0s}.validate(), std::invalid_argument,
                       Message("timeout must be > 0"));
  CHECK_THROWS_MATCHES(ThreadQueueOptions{.timeout = -2s}.validate(), std::invalid_argument,
                       Message("timeout must be > 0"));
  CHECK_NOTHROW(ThreadQueueOptions{.workers = 1, .timeout = 1ms}.validate());

  CHECK_THROWS_MATCHES(ProcessQueueOptions{.workers = 0}.validate(), std::invalid_argument,
                       Message("workers must be > 0"));
  CHECK_THROWS_MATCHES(ProcessQueueOptions{.timeout = 0s}.validate(), std::invalid_argument,
                       Message("timeout must be > 0"));
  CHECK_THROWS_MATCHES(ProcessQueueOptions{.poll = 0s}.validate(), std::invalid_argument, Message("poll must be > 0"));
  CHECK_THROWS_MATCHES(ProcessQueueOptions{.poll = -1ms}.validate(), std::invalid_argument,
                       Message("poll must be > 0"));
  CHECK_NOTHROW(ProcessQueueOptions{.workers = 1, .timeout = 1ms, .poll = 1ms}.validate());
}

TEST_CASE("get_context maps Python start-method names", "[queue_options][context]") {
  CHECK(get_context("fork").start_method() == StartMethod::Fork);
  CHECK(get_context("spawn").start_method() == StartMethod::Spawn);
  CHECK(get_context("forkserver").start_method() == StartMethod::ForkServer);
  CHECK(get_context("spawn").name() == "spawn");
  CHECK(get_context("fork") == Context{});
  CHECK(get_context("spawn") == Context{StartMethod::Spawn});
  CHECK_FALSE(get_context("spawn") == get_context("fork"));
  STATIC_REQUIRE(Context{}.start_method() == StartMethod::Fork);
}

TEST_CASE("get_context rejects unknown names", "[queue_options][context]") {
  CHECK_THROWS_AS(get_context("thread"), std::invalid_argument);
  CHECK_THROWS_AS(get_context(""), std::invalid_argument);
  CHECK_THROWS_AS(get_context("Spawn"), std::invalid_argument);
  CHECK_THROWS_WITH(get_context("thread"), Catch::Matchers::Contains("thread"));
}
