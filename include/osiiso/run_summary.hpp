// SPDX-License-Identifier: MIT
// The aggregate outcome of a run or of a group wait.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/format_text.hpp>
#include <osiiso/task_result.hpp>

#include <fmt/core.h>

#include <cstddef>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace osiiso {

/// How much of a run the text report lists (the counts are always complete).
struct DisplayOptions {
  /// Distinct failures listed (by exception type and message); the rest are counted as "and K more".
  std::size_t max_failures = 10;
  /// Task names listed on one line before "and K more".
  std::size_t max_names = 5;
  /// Slowest tasks listed (0: none).
  std::size_t slowest = 3;
  /// Groups listed with their counts.
  std::size_t max_groups = 10;
};

/// Counts and results of one run() or group wait, in submission order.
struct RunSummary {
  /// Tasks covered by this summary.
  std::size_t total_submitted = 0;
  /// Tasks that succeeded.
  std::size_t succeeded = 0;
  /// Tasks that failed.
  std::size_t failed = 0;
  /// Tasks that were cancelled.
  std::size_t cancelled = 0;
  /// Whether the run was cut short by its timeout.
  bool timed_out = false;
  /// Wall-clock time from the start of the run to the summary.
  Seconds duration{0.0};
  /// Every result covered, in order.
  std::vector<TaskResult> results;

  /// Builds a summary, counting statuses; duration runs from `started` to now.
  static RunSummary from_results(std::vector<TaskResult> results, Clock::time_point started, bool timed_out);

  /// True when nothing failed, nothing was cancelled and the run did not time out.
  [[nodiscard]] bool ok() const noexcept { return failed == 0 && cancelled == 0 && !timed_out; }
  /// The failed results.
  [[nodiscard]] std::vector<TaskResult> errors() const;
  /// The succeeded results.
  [[nodiscard]] std::vector<TaskResult> successes() const;
  /// The cancelled results.
  [[nodiscard]] std::vector<TaskResult> cancellations() const;

  /// Values of the succeeded results as T, in result order (osiiso::BadValueCast if one is not a T).
  template <class T>
  [[nodiscard]] std::vector<T> values() const {
    std::vector<T> out;
    out.reserve(succeeded);
    for (const auto& r : results) {
      if (r.status == TaskStatus::Succeeded) out.push_back(r.value<T>());
    }
    return out;
  }

  /// Results indexed by task id.
  [[nodiscard]] std::map<std::string, TaskResult> by_task_id() const;
  /// Results grouped by task name.
  [[nodiscard]] std::map<std::string, std::vector<TaskResult>> by_name() const;
  /// Results grouped by group id (nullopt for ungrouped tasks).
  [[nodiscard]] std::map<std::optional<std::string>, std::vector<TaskResult>> by_group() const;

  /// Throws ExecutionError carrying the failed (and, if asked, cancelled) results, if there are any.
  void raise_for_errors(bool include_cancelled = false) const;

  /// The human-readable report: status, counts, failures grouped by type and message,
  /// timed-out and cancelled tasks, the slowest tasks and the groups.
  [[nodiscard]] std::string report(const DisplayOptions& options = {}) const;
  /// Prints report(options) to `os`.
  void display(std::ostream& os = std::cout, const DisplayOptions& options = {}) const;
  /// Prints report(options) to std::cout.
  void display(const DisplayOptions& options) const { display(std::cout, options); }
  /// The whole summary as one JSON object (counts, every failure group, every result), for scripts.
  [[nodiscard]] std::string to_json() const;
};

}  // namespace osiiso

/// Formats a RunSummary as its report().
template <>
struct fmt::formatter<osiiso::RunSummary> : fmt::formatter<std::string_view> {
  /// Writes summary.report().
  auto format(const osiiso::RunSummary& summary, fmt::format_context& ctx) const {
    return osiiso::detail::format_text(*this, summary.report(), ctx);
  }
};
