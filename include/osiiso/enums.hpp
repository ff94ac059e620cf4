// SPDX-License-Identifier: MIT
// The closed choices of the API, each with its Python literal and an fmt formatter.
#pragma once

#include <osiiso/detail/format_text.hpp>

#include <fmt/core.h>

#include <ostream>
#include <string_view>

namespace osiiso {

/// How `run()` decides it is finished.
enum class Mode {
  Finite,    ///< run() returns once every outstanding task has finished
  Infinite,  ///< run() blocks until shutdown() (or its timeout)
};

/// What a failed task does to the rest of the run.
enum class FailPolicy {
  Continue,   ///< collect every failure and keep going
  FailFirst,  ///< cancel the remaining tasks (must_complete ones are spared) after the first failure
};

/// What a run timeout does to the tasks still outstanding.
enum class OnExit {
  CompletePriority,  ///< cancel ordinary tasks, let must_complete tasks finish
  Cancel,            ///< cancel everything, must_complete tasks included
};

/// Lifecycle status of one task.
enum class TaskStatus {
  Pending,    ///< queued or scheduled, not started
  Running,    ///< an attempt is executing
  Retrying,   ///< an attempt failed; waiting for the next one
  Succeeded,  ///< finished with a value
  Failed,     ///< finished with an exception
  Cancelled,  ///< cancelled before or while running
};

/// How ProcessQueue creates its worker processes.
enum class StartMethod {
  Fork,        ///< fork() the parent; cheap, no osiiso::init needed
  Spawn,       ///< re-execute the current program; needs osiiso::init(argc, argv)
  ForkServer,  ///< fork workers from a re-executed, single-threaded server; needs osiiso::init(argc, argv)
};

/// The Python literal for a Mode ("finite", "infinite").
constexpr std::string_view to_string(Mode m) noexcept { return m == Mode::Finite ? "finite" : "infinite"; }

/// The Python literal for a FailPolicy ("continue", "fail_first").
constexpr std::string_view to_string(FailPolicy p) noexcept {
  return p == FailPolicy::Continue ? "continue" : "fail_first";
}

/// The Python literal for an OnExit ("complete_priority", "cancel").
constexpr std::string_view to_string(OnExit e) noexcept {
  return e == OnExit::CompletePriority ? "complete_priority" : "cancel";
}

/// The Python literal for a TaskStatus ("pending" ... "cancelled").
constexpr std::string_view to_string(TaskStatus s) noexcept {
  switch (s) {
    case TaskStatus::Pending: return "pending";
    case TaskStatus::Running: return "running";
    case TaskStatus::Retrying: return "retrying";
    case TaskStatus::Succeeded: return "succeeded";
    case TaskStatus::Failed: return "failed";
    case TaskStatus::Cancelled: return "cancelled";
  }
  return "unknown";
}

/// The Python literal for a StartMethod ("fork", "spawn", "forkserver").
constexpr std::string_view to_string(StartMethod m) noexcept {
  switch (m) {
    case StartMethod::Fork: return "fork";
    case StartMethod::Spawn: return "spawn";
    case StartMethod::ForkServer: return "forkserver";
  }
  return "unknown";
}

/// True once a status is final (succeeded, failed or cancelled).
constexpr bool is_final(TaskStatus s) noexcept {
  return s == TaskStatus::Succeeded || s == TaskStatus::Failed || s == TaskStatus::Cancelled;
}

namespace detail {
template <class E>
concept OsiisoEnum = std::is_same_v<E, Mode> || std::is_same_v<E, FailPolicy> || std::is_same_v<E, OnExit> ||
    std::is_same_v<E, TaskStatus> || std::is_same_v<E, StartMethod>;
}  // namespace detail

/// Streams the Python literal of any osiiso enum.
template <detail::OsiisoEnum E>
std::ostream& operator<<(std::ostream& os, E value) {
  return os << to_string(value);
}

}  // namespace osiiso

/// Formats any osiiso enum as its Python literal.
template <osiiso::detail::OsiisoEnum E>
struct fmt::formatter<E> : fmt::formatter<std::string_view> {
  auto format(E value, fmt::format_context& ctx) const {
    return osiiso::detail::format_text(*this, osiiso::to_string(value), ctx);
  }
};
