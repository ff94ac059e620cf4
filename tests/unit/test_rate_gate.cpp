// SPDX-License-Identifier: MIT
// RateGate: GCRA spacing and bursts on a fake timeline.
#include <osiiso/detail/rate_gate.hpp>

#include <catch2/catch.hpp>

#include <chrono>

using namespace osiiso;
using namespace std::chrono_literals;
using detail::RateGate;

namespace {
const Clock::time_point t0 = Clock::time_point{} + 1h;
}

TEST_CASE("a gate of rate r passes one attempt every 1/r seconds", "[rate_gate]") {
  RateGate gate(10.0, 1);
  CHECK(gate.try_pass(t0));
  CHECK_FALSE(gate.try_pass(t0));
  CHECK(gate.next_open() == t0 + 100ms);
  CHECK_FALSE(gate.try_pass(t0 + 99ms));
  CHECK(gate.try_pass(t0 + 100ms));
  CHECK(gate.next_open() == t0 + 200ms);
}

TEST_CASE("after an idle period a burst passes back to back, then the rate holds", "[rate_gate]") {
  RateGate gate(4.0, 3);
  for (int i = 0; i < 3; ++i) CHECK(gate.try_pass(t0));
  CHECK_FALSE(gate.try_pass(t0));
  CHECK(gate.next_open() == t0 + 250ms);
  CHECK(gate.try_pass(t0 + 250ms));
  CHECK_FALSE(gate.try_pass(t0 + 250ms));
  // Idle long enough to earn the whole burst back, and no more.
  const auto later = t0 + 10s;
  for (int i = 0; i < 3; ++i) CHECK(gate.try_pass(later));
  CHECK_FALSE(gate.try_pass(later));
}

TEST_CASE("a late attempt does not earn extra passes beyond the burst", "[rate_gate]") {
  RateGate gate(2.0, 1);
  CHECK(gate.try_pass(t0));
  CHECK(gate.try_pass(t0 + 2s));  // late: its slot starts from now
  CHECK_FALSE(gate.try_pass(t0 + 2s + 499ms));
  CHECK(gate.try_pass(t0 + 2500ms));
}
