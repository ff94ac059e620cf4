// SPDX-License-Identifier: MIT
// The queue-wide rate limit on real queues: spacing of attempt starts (loose bounds), bursts,
// and the validation messages. The gate's exact rules are unit tests (test_rate_gate.cpp,
// test_engine_rules.cpp).
#include <osiiso/process_queue.hpp>
#include <osiiso/registry.hpp>
#include <osiiso/thread_queue.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

using namespace osiiso;
using namespace std::chrono_literals;

namespace rate_limit {
int identity(int x) { return x; }
}  // namespace rate_limit
OSIISO_TASK_AS("rate_limit::identity", rate_limit::identity);

namespace {
// Time from the first attempt's start to the last one's.
Seconds start_span(const RunSummary& summary) {
  std::vector<Clock::time_point> starts;
  for (const auto& r : summary.results) starts.push_back(*r.started_at);
  const auto [first, last] = std::minmax_element(starts.begin(), starts.end());
  return *last - *first;
}
}  // namespace

TEST_CASE("a ThreadQueue with a rate starts attempts no faster than the rate", "[rate]") {
  ThreadQueue q({.workers = 4, .rate = 20.0});
  static_cast<void>(q.map(rate_limit::identity, std::vector{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const auto summary = q.run();
  REQUIRE(summary.succeeded == 9);
  CHECK(start_span(summary) >= 8 * 50ms * 0.9);  // eight gaps of 1/20 s
}

TEST_CASE("a ProcessQueue with a rate and a burst starts the burst at once, then spaces the rest", "[rate]") {
  ProcessQueue q({.workers = 2, .rate = 10.0, .burst = 3});
  static_cast<void>(q.map(rate_limit::identity, std::vector{1, 2, 3, 4, 5}));
  const auto summary = q.run();
  REQUIRE(summary.succeeded == 5);
  CHECK(start_span(summary) >= 2 * 100ms * 0.9);  // three at once, then two gaps of 1/10 s
}

TEST_CASE("rate and burst are validated with the Python library's messages", "[rate]") {
  using Catch::Matchers::Message;
  CHECK_THROWS_MATCHES(ThreadQueue({.rate = 0.0}), std::invalid_argument, Message("rate must be > 0"));
  CHECK_THROWS_MATCHES(ThreadQueue({.rate = -1.0}), std::invalid_argument, Message("rate must be > 0"));
  CHECK_THROWS_MATCHES(ThreadQueue({.burst = 0}), std::invalid_argument, Message("burst must be >= 1"));
  CHECK_THROWS_MATCHES(ProcessQueue({.rate = 0.0}), std::invalid_argument, Message("rate must be > 0"));
  CHECK_THROWS_MATCHES(ProcessQueue({.burst = 0}), std::invalid_argument, Message("burst must be >= 1"));
}
