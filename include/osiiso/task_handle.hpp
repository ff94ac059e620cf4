// SPDX-License-Identifier: MIT
// SyncTaskHandle: a cheap, copyable, blocking handle on one submitted task.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/engine_ref.hpp>
#include <osiiso/detail/format_text.hpp>
#include <osiiso/detail/hooks.hpp>
#include <osiiso/detail/process_identity.hpp>
#include <osiiso/detail/task_state.hpp>
#include <osiiso/detail/value_cast.hpp>
#include <osiiso/enums.hpp>
#include <osiiso/errors.hpp>
#include <osiiso/fwd.hpp>
#include <osiiso/task_result.hpp>

#include <fmt/core.h>

#include <any>
#include <chrono>
#include <concepts>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace osiiso {

class CompletionRange;

/**
 * A handle on one submitted task, typed by the task's result `R` (`SyncTaskHandle<>` is the
 * type-erased form every typed handle converts to). Copies share the task; a handle outlives its
 * queue. Thread-safe. Waiting on a handle of a queue that was never started starts it.
 *
 * A default-constructed handle is empty: valid() is false, and every other member but
 * comparison throws osiiso::InvalidStateError. `fmt::format("{}", handle)` prints
 * `SyncTaskHandle(square, id=..., status=running)` (`SyncTaskHandle(empty)`).
 */
template <class R>
class [[nodiscard]] SyncTaskHandle {
 public:
  /// The result type of the task (`std::any` for the erased form).
  using value_type = R;

  /// An empty handle, to be assigned one a queue returned.
  SyncTaskHandle() noexcept = default;

  /// Wraps the shared state of a task (used by the queues).
  explicit SyncTaskHandle(detail::TaskStatePtr state) noexcept : state_(std::move(state)) {}

  /// Converts a typed handle to the erased form.
  template <class U>
  requires(std::is_same_v<R, std::any> && !std::is_same_v<U, std::any>) SyncTaskHandle(const SyncTaskHandle<U>& other)
  noexcept : state_(other.state_) {}  // NOLINT(google-explicit-constructor)

  /// False for an empty (default-constructed) handle, true for every handle a queue returned.
  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }

  /// Blocks until the task finishes and returns its result.
  const TaskResult& wait() const { return wait_until_done("SyncTaskHandle::wait()"); }

  /// Blocks at most `timeout`; throws osiiso::TimeoutError if the task is still unfinished.
  template <class Rep, class Period>
  const TaskResult& wait(std::chrono::duration<Rep, Period> timeout) const {
    constexpr const char* member = "SyncTaskHandle::wait()";
    start_queue_if_idle(member);
    std::unique_lock lock(state_->mu());
    if (!state_->result) detail::check_blocking_wait(member, state_->name, state_->fork_generation);
    if (!state_->cv().wait_for(lock, timeout, [this] { return state_->result != nullptr; })) {
      throw TimeoutError("SyncTaskHandle::wait(): task '" + state_->name + "' did not finish within the timeout");
    }
    return *state_->result;
  }

  /// The final result; throws osiiso::InvalidStateError while the task is unfinished.
  const TaskResult& result() const { return finished_result("SyncTaskHandle::result()"); }

  /// Waits, then returns the value; rethrows the task's exception, or osiiso::CancelledError.
  R value() const {
    const TaskResult& r = wait_until_done("SyncTaskHandle::value()");
    if (r.status == TaskStatus::Cancelled) throw CancelledError("task '" + r.name + "' was " + r.message);
    if (r.exception) std::rethrow_exception(r.exception);
    if constexpr (std::is_void_v<R>) {
      return;
    } else if constexpr (std::is_same_v<R, std::any>) {
      return r.any_value();
    } else {
      return detail::value_cast<R>(detail::ValueReader::Handle, r.name, r.status, r.any_value());
    }
  }

  /// The exception of a failed task (null otherwise); throws osiiso::InvalidStateError while unfinished.
  [[nodiscard]] std::exception_ptr exception() const {
    return finished_result("SyncTaskHandle::exception()").exception;
  }

  /// Requests cancellation; false when the task had already finished.
  bool cancel() const { return detail::cancel_task(state("SyncTaskHandle::cancel()")); }

  /// True once the task has a final result.
  [[nodiscard]] bool done() const {
    const auto& s = state("SyncTaskHandle::done()");
    std::lock_guard lock(s.mu());
    return s.result != nullptr;
  }

  /// True if the task was cancelled.
  [[nodiscard]] bool cancelled() const {
    const auto& s = state("SyncTaskHandle::cancelled()");
    std::lock_guard lock(s.mu());
    return s.result && s.result->status == TaskStatus::Cancelled;
  }

  /// Calls `fn(handle)` once the task finishes (at once if it already has); exceptions are logged.
  template <class F>
  requires std::invocable < F&, const SyncTaskHandle<>
  & > void add_done_callback(F&& fn) const {
    auto& s = state("SyncTaskHandle::add_done_callback()");
    {
      std::lock_guard lock(s.mu());
      if (!s.result) {
        s.callbacks.emplace_back(std::forward<F>(fn));
        return;
      }
    }
    detail::emit_hook("done callback", fn, SyncTaskHandle<>(state_));
  }

  /// Current lifecycle status.
  [[nodiscard]] TaskStatus status() const {
    const auto& s = state("SyncTaskHandle::status()");
    std::lock_guard lock(s.mu());
    return s.status;
  }
  /// Attempts started so far.
  [[nodiscard]] std::size_t attempts() const {
    const auto& s = state("SyncTaskHandle::attempts()");
    std::lock_guard lock(s.mu());
    return s.attempts;
  }
  /// Unique hexadecimal task id.
  [[nodiscard]] std::string task_id() const { return state("SyncTaskHandle::task_id()").task_id.str(); }
  /// Task name.
  [[nodiscard]] const std::string& name() const { return state("SyncTaskHandle::name()").name; }
  /// Scheduling priority (lower runs first).
  [[nodiscard]] int priority() const { return state("SyncTaskHandle::priority()").priority; }
  /// Whether the task survives ordinary cancellation.
  [[nodiscard]] bool must_complete() const { return state("SyncTaskHandle::must_complete()").must_complete; }
  /// Group the task belongs to, if any.
  [[nodiscard]] const std::optional<std::string>& group_id() const {
    return state("SyncTaskHandle::group_id()").group_id;
  }
  /// Whether the task is excluded from run summaries.
  [[nodiscard]] bool detached() const { return state("SyncTaskHandle::detached()").detached; }
  /// User data from TaskOptions::metadata.
  [[nodiscard]] const std::any& metadata() const { return state("SyncTaskHandle::metadata()").metadata; }
  /// When a delayed task is due, if it was scheduled.
  [[nodiscard]] std::optional<Clock::time_point> scheduled_for() const {
    return state("SyncTaskHandle::scheduled_for()").scheduled_for;
  }
  /// When the task was submitted.
  [[nodiscard]] Clock::time_point created_at() const { return state("SyncTaskHandle::created_at()").created_at; }

  /// Handles are equal when they refer to the same task, or are both empty.
  template <class U>
  bool operator==(const SyncTaskHandle<U>& other) const noexcept {
    return state_ == other.state_;
  }

 private:
  template <class>
  friend class SyncTaskHandle;
  friend class CompletionRange;

  // The task's state; `member` names the caller in the error of an empty handle.
  detail::TaskState& state(const char* member) const {
    if (!state_) {
      throw InvalidStateError(std::string(member) +
                              ": the handle is empty (default-constructed); assign it the handle returned by submit() "
                              "first");
    }
    return *state_;
  }

  const TaskResult& wait_until_done(const char* member) const {
    start_queue_if_idle(member);
    std::unique_lock lock(state_->mu());
    if (!state_->result) detail::check_blocking_wait(member, state_->name, state_->fork_generation);
    state_->cv().wait(lock, [this] { return state_->result != nullptr; });
    return *state_->result;
  }

  const TaskResult& finished_result(const char* member) const {
    const auto& s = state(member);
    std::lock_guard lock(s.mu());
    if (!s.result) {
      throw InvalidStateError(std::string(member) + ": task '" + s.name +
                              "' has not finished; call wait() first or check done()");
    }
    return *s.result;
  }

  void start_queue_if_idle(const char* member) const {
    auto& s = state(member);
    {
      std::lock_guard lock(s.mu());
      if (s.result) return;
    }
    detail::start_queue_of(s);
  }

  detail::TaskStatePtr state_;
};

}  // namespace osiiso

/// Formats a handle as `SyncTaskHandle(name, id=..., status=...)`, or `SyncTaskHandle(empty)`.
template <class R>
struct fmt::formatter<osiiso::SyncTaskHandle<R>> : fmt::formatter<std::string_view> {
  auto format(const osiiso::SyncTaskHandle<R>& handle, fmt::format_context& ctx) const {
    if (!handle.valid()) return osiiso::detail::format_text(*this, "SyncTaskHandle(empty)", ctx);
    const std::string text =
        fmt::format("SyncTaskHandle({}, id={}, status={})", handle.name(), handle.task_id(), handle.status());
    return osiiso::detail::format_text(*this, text, ctx);
  }
};
