// SPDX-License-Identifier: MIT
// TimerQueue: due order, ties in push order, only due timers pop, attempt ids and kinds kept.
#include <osiiso/detail/timer_queue.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using osiiso::Clock;
using osiiso::detail::TimerKind;
using osiiso::detail::TimerQueue;
using namespace std::chrono_literals;

TEST_CASE("TimerQueue: pops only what is due, earliest first", "[timer_queue]") {
  const Clock::time_point t0{};
  TimerQueue<std::string> timers;
  CHECK(timers.empty());
  CHECK_FALSE(timers.next());
  CHECK_FALSE(timers.pop_due(t0 + 1h));

  CHECK(timers.push(t0 + 3s, "c", TimerKind::Due));
  CHECK(timers.push(t0 + 1s, "a", TimerKind::Due));        // earlier: the waiter must re-arm
  CHECK_FALSE(timers.push(t0 + 2s, "b", TimerKind::Due));  // later than the earliest
  CHECK(timers.size() == 3);
  CHECK(timers.next() == t0 + 1s);

  CHECK_FALSE(timers.pop_due(t0 + 999ms));
  auto a = timers.pop_due(t0 + 1s);
  REQUIRE(a);
  CHECK(a->item == "a");
  CHECK(timers.next() == t0 + 2s);
  CHECK_FALSE(timers.pop_due(t0 + 1500ms));

  std::vector<std::string> fired;
  while (auto timer = timers.pop_due(t0 + 10s)) fired.push_back(timer->item);
  CHECK(fired == std::vector<std::string>{"b", "c"});
  CHECK(timers.empty());
}

TEST_CASE("TimerQueue: equal due times fire in push order", "[timer_queue]") {
  const Clock::time_point at = Clock::time_point{} + 5s;
  TimerQueue<int> timers;
  for (int i = 0; i < 20; ++i) timers.push(at, i, TimerKind::Due);
  std::vector<int> fired;
  while (auto timer = timers.pop_due(at)) fired.push_back(timer->item);
  std::vector<int> expected(20);
  for (int i = 0; i < 20; ++i) expected[static_cast<std::size_t>(i)] = i;
  CHECK(fired == expected);
}

TEST_CASE("TimerQueue: keeps kind and attempt id; for_each sees every timer", "[timer_queue]") {
  const Clock::time_point t0{};
  TimerQueue<std::string> timers;
  timers.push(t0 + 2s, "deadline", TimerKind::Deadline, 7);
  timers.push(t0 + 1s, "due", TimerKind::Due);
  std::size_t deadlines = 0;
  timers.for_each([&](const osiiso::detail::Timer<std::string>& timer) {
    if (timer.kind == TimerKind::Deadline) ++deadlines;
  });
  CHECK(deadlines == 1);

  auto due = timers.pop_due(t0 + 5s);
  REQUIRE(due);
  CHECK(due->kind == TimerKind::Due);
  CHECK(due->attempt_id == 0);
  auto deadline = timers.pop_due(t0 + 5s);
  REQUIRE(deadline);
  CHECK(deadline->item == "deadline");
  CHECK(deadline->kind == TimerKind::Deadline);
  CHECK(deadline->attempt_id == 7);
}
