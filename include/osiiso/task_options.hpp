// SPDX-License-Identifier: MIT
// Per-task configuration: priority, retries, timeouts, scheduling and labels.
#pragma once

#include <osiiso/chrono.hpp>

#include <any>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace osiiso {

/**
 * Per-task options; every submitting call takes one as its optional first argument.
 * Designated initializers must follow the field order:
 * `q.submit({.timeout = 200ms, .retries = 3}, fn, 7)`.
 */
struct TaskOptions {
  /// Scheduling priority; lower values run first, FIFO among equals.
  int priority = 3;
  /// Survive run timeouts, fail_first aborts and graceful cancellation.
  bool must_complete = false;
  /// Time limit for each attempt; an attempt past it fails with TimeoutError.
  std::optional<Seconds> timeout{};
  /// Additional attempts after the first failure.
  int retries = 0;
  /// Wait before the first retry.
  Seconds retry_delay{0.0};
  /// Multiplier applied to retry_delay after each retry.
  double backoff = 1.0;
  /// Run the task this long after submission (exclusive with run_at).
  std::optional<Seconds> delay{};
  /// Run the task at this wall-clock time (exclusive with delay).
  std::optional<std::chrono::system_clock::time_point> run_at{};
  /// Task name; defaults to the registered or callable name.
  std::optional<std::string> name{};
  /// Group label copied onto the handle and result.
  std::optional<std::string> group_id{};
  /// Run (and be awaited by run()) but stay out of the RunSummary.
  bool detached = false;
  /// Arbitrary user data carried onto the handle and result.
  std::any metadata{};
  /// This attempt's memory cap in bytes, over the queue's (ProcessQueue only; see docs).
  std::optional<std::size_t> memory_limit{};

  /// Throws std::invalid_argument (with the Python library's message) when a field is out of range.
  void validate() const;
};

}  // namespace osiiso
