// SPDX-License-Identifier: MIT
// The immutable record of one finished task.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/format_text.hpp>
#include <osiiso/detail/value_cast.hpp>
#include <osiiso/enums.hpp>

#include <fmt/core.h>

#include <any>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace osiiso {

/**
 * The final record of one task: identity, outcome, timings and value or exception.
 * Queues and handles only ever hand it out by const reference or by copy.
 */
struct TaskResult {
  /// Unique hexadecimal identifier of the task.
  std::string task_id;
  /// Task name (registered name, callable name, or TaskOptions::name).
  std::string name;
  /// Final status: Succeeded, Failed or Cancelled.
  TaskStatus status = TaskStatus::Cancelled;
  /// Attempts made (1 on first success, more after retries, 0 if never started).
  std::size_t attempts = 0;
  /// Priority copied from the task's options.
  int priority = 3;
  /// Whether the task was protected from ordinary cancellation.
  bool must_complete = false;
  /// Group the task belonged to, if any.
  std::optional<std::string> group_id;
  /// Whether the task was excluded from run summaries.
  bool detached = false;
  /// When a delayed task was due to start, if it was scheduled.
  std::optional<Clock::time_point> scheduled_for;
  /// When the task was submitted.
  Clock::time_point created_at{};
  /// When its first attempt began, if it ever ran.
  std::optional<Clock::time_point> started_at;
  /// When the final result was recorded.
  Clock::time_point finished_at{};
  /// Time from the first attempt to completion (zero if it never ran).
  Seconds duration{0.0};
  /// Short human-readable description of the outcome.
  std::string message;
  /// User data from TaskOptions::metadata.
  std::any metadata;
  /// The exception of a failed task (null otherwise).
  std::exception_ptr exception;
  /// The worker process that ran the last attempt (ProcessQueue and MpiQueue; unset when unknown).
  std::optional<int> worker_pid;
  /// The MPI rank that ran the last attempt (MpiQueue only).
  std::optional<int> rank;
  /// The host name of that rank (MpiQueue only).
  std::optional<std::string> host;

  /// True when the task succeeded with a non-void value.
  [[nodiscard]] bool has_value() const noexcept { return value_ != nullptr; }

  /// The task's value as T; throws osiiso::BadValueCast (a std::bad_any_cast) naming both types when it holds no T.
  template <class T>
  [[nodiscard]] const T& value() const {
    return detail::value_cast<T>(detail::ValueReader::TaskResult, name, status, any_value());
  }

  /// The value in its type-erased form (empty unless the task succeeded with a value).
  [[nodiscard]] const std::any& any_value() const noexcept {
    static const std::any none;
    return value_ != nullptr ? *value_ : none;
  }

  /// Stores the value; used by the queues when a task succeeds.
  void set_value(std::any value) {
    value_ = value.has_value() ? std::make_shared<const std::any>(std::move(value)) : nullptr;
  }

 private:
  // Shared, never changed in place: copies of a result (the handle's, results(), summaries) do
  // not copy a large value again.
  std::shared_ptr<const std::any> value_;
};

/// One line on a result: "name [task id] status", with its duration, attempts, or error type and message.
[[nodiscard]] std::string to_string(const TaskResult& result);

}  // namespace osiiso

/// Formats a TaskResult as osiiso::to_string(result).
template <>
struct fmt::formatter<osiiso::TaskResult> : fmt::formatter<std::string_view> {
  /// Writes osiiso::to_string(result).
  auto format(const osiiso::TaskResult& result, fmt::format_context& ctx) const {
    return osiiso::detail::format_text(*this, osiiso::to_string(result), ctx);
  }
};
