// SPDX-License-Identifier: MIT
// TaskOptions: defaults, designated initializers and validation messages.
#include <osiiso/task_options.hpp>

#include <catch2/catch.hpp>

#include <any>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

using namespace osiiso;
using namespace std::chrono_literals;
using Catch::Matchers::Message;

TEST_CASE("TaskOptions defaults match the Python library", "[task_options]") {
  const TaskOptions o;
  CHECK(o.priority == 3);
  CHECK_FALSE(o.must_complete);
  CHECK_FALSE(o.timeout.has_value());
  CHECK(o.retries == 0);
  CHECK(o.retry_delay == 0s);
  CHECK(o.backoff == 1.0);
  CHECK_FALSE(o.delay.has_value());
  CHECK_FALSE(o.run_at.has_value());
  CHECK_FALSE(o.name.has_value());
  CHECK_FALSE(o.group_id.has_value());
  CHECK_FALSE(o.detached);
  CHECK_FALSE(o.metadata.has_value());
  CHECK_NOTHROW(o.validate());
}

TEST_CASE("TaskOptions takes designated initializers with any duration", "[task_options]") {
  const TaskOptions o{.priority = 1,
                      .must_complete = true,
                      .timeout = 200ms,
                      .retries = 3,
                      .retry_delay = 1.5s,
                      .backoff = 2.0,
                      .delay = 250ms,
                      .name = "job",
                      .group_id = "batch",
                      .detached = true,
                      .metadata = std::string("meta")};
  CHECK(o.priority == 1);
  CHECK(o.must_complete);
  REQUIRE(o.timeout.has_value());
  CHECK(o.timeout->count() == Approx(0.2));
  CHECK(o.retries == 3);
  CHECK(o.retry_delay.count() == Approx(1.5));
  CHECK(o.backoff == 2.0);
  REQUIRE(o.delay.has_value());
  CHECK(o.delay->count() == Approx(0.25));
  CHECK(o.name == "job");
  CHECK(o.group_id == "batch");
  CHECK(o.detached);
  CHECK(std::any_cast<std::string>(o.metadata) == "meta");
  CHECK_NOTHROW(o.validate());

  const TaskOptions at{.run_at = std::chrono::system_clock::now() + 1min};
  CHECK_NOTHROW(at.validate());
}

TEST_CASE("TaskOptions::validate rejects out-of-range fields with Python's messages", "[task_options]") {
  CHECK_THROWS_MATCHES((TaskOptions{.timeout = 0s}.validate()), std::invalid_argument, Message("timeout must be > 0"));
  CHECK_THROWS_MATCHES((TaskOptions{.timeout = -1s}.validate()), std::invalid_argument, Message("timeout must be > 0"));
  CHECK_THROWS_MATCHES((TaskOptions{.retries = -1}.validate()), std::invalid_argument, Message("retries must be >= 0"));
  CHECK_THROWS_MATCHES((TaskOptions{.retry_delay = -10ms}.validate()), std::invalid_argument,
                       Message("retry_delay must be >= 0"));
  CHECK_THROWS_MATCHES((TaskOptions{.backoff = 0.0}.validate()), std::invalid_argument, Message("backoff must be > 0"));
  CHECK_THROWS_MATCHES((TaskOptions{.backoff = -1.0}.validate()), std::invalid_argument,
                       Message("backoff must be > 0"));
  CHECK_THROWS_MATCHES((TaskOptions{.backoff = std::numeric_limits<double>::quiet_NaN()}.validate()),
                       std::invalid_argument, Message("backoff must be > 0"));
  CHECK_THROWS_MATCHES((TaskOptions{.delay = -1ms}.validate()), std::invalid_argument, Message("delay must be >= 0"));
  CHECK_THROWS_MATCHES((TaskOptions{.delay = 1s, .run_at = std::chrono::system_clock::now()}.validate()),
                       std::invalid_argument, Message("delay and run_at are mutually exclusive"));
}

TEST_CASE("TaskOptions::validate accepts the boundary values", "[task_options]") {
  CHECK_NOTHROW(TaskOptions{.retries = 0, .retry_delay = 0s}.validate());
  CHECK_NOTHROW(TaskOptions{.delay = 0s}.validate());
  CHECK_NOTHROW(TaskOptions{.timeout = 1ns}.validate());
  CHECK_NOTHROW(TaskOptions{.priority = -5}.validate());
}
