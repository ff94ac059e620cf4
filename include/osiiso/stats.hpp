// SPDX-License-Identifier: MIT
// A snapshot of a queue's counters.
#pragma once

#include <cstddef>

namespace osiiso {

/// Queue metrics at one instant, as returned by stats().
struct Stats {
  /// Tasks waiting to execute (queued or scheduled).
  std::size_t pending = 0;
  /// Tasks currently executing.
  std::size_t active = 0;
  /// Tasks held by the timer until their delay or run_at.
  std::size_t scheduled = 0;
  /// Results accumulated so far.
  std::size_t completed = 0;
  /// Live workers.
  std::size_t workers = 0;
  /// Whether shutdown() has completed.
  bool closed = false;
  /// Of the results accumulated so far: the succeeded ones.
  std::size_t succeeded = 0;
  /// Of the results accumulated so far: the failed ones.
  std::size_t failed = 0;
  /// Of the results accumulated so far: the cancelled ones.
  std::size_t cancelled = 0;
  /// Tasks waiting between a failed attempt and their retry (counted in pending too).
  std::size_t retrying = 0;
};

}  // namespace osiiso
