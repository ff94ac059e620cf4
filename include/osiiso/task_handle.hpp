// SPDX-License-Identifier: MIT
// SyncTaskHandle: a cheap, copyable, blocking handle on one submitted task.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/engine_ref.hpp>
#include <osiiso/detail/hooks.hpp>
#include <osiiso/detail/process_identity.hpp>
#include <osiiso/detail/task_state.hpp>
#include <osiiso/enums.hpp>
#include <osiiso/errors.hpp>
#include <osiiso/fwd.hpp>
#include <osiiso/task_result.hpp>

#include <any>
#include <chrono>
#include <concepts>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace osiiso {

/**
 * A handle on one submitted task, typed by the task's result `R` (`SyncTaskHandle<>` is the
 * type-erased form every typed handle converts to). Copies share the task; a handle outlives its
 * queue. Thread-safe. Waiting on a handle of a queue that was never started starts it.
 */
class CompletionRange;

template <class R>
class [[nodiscard]] SyncTaskHandle {
 public:
  /// The result type of the task (`std::any` for the erased form).
  using value_type = R;

  /// Wraps the shared state of a task (used by the queues).
  explicit SyncTaskHandle(detail::TaskStatePtr state) noexcept : state_(std::move(state)) {}

  /// Converts a typed handle to the erased form.
  template <class U>
  requires(std::is_same_v<R, std::any> && !std::is_same_v<U, std::any>) SyncTaskHandle(const SyncTaskHandle<U>& other)
  noexcept : state_(other.state_) {}  // NOLINT(google-explicit-constructor)

  /// Blocks until the task finishes and returns its result.
  const TaskResult& wait() const {
    start_queue_if_idle();
    std::unique_lock lock(state_->mu);
    if (!state_->result) detail::check_blocking_wait("SyncTaskHandle::wait()", state_->name, state_->fork_generation);
    state_->cv.wait(lock, [this] { return state_->result != nullptr; });
    return *state_->result;
  }

  /// Blocks at most `timeout`; throws osiiso::TimeoutError if the task is still unfinished.
  template <class Rep, class Period>
  const TaskResult& wait(std::chrono::duration<Rep, Period> timeout) const {
    start_queue_if_idle();
    std::unique_lock lock(state_->mu);
    if (!state_->result) detail::check_blocking_wait("SyncTaskHandle::wait()", state_->name, state_->fork_generation);
    if (!state_->cv.wait_for(lock, timeout, [this] { return state_->result != nullptr; })) {
      throw TimeoutError("SyncTaskHandle::wait(): task '" + state_->name + "' did not finish within the timeout");
    }
    return *state_->result;
  }

  /// The final result; throws osiiso::InvalidStateError while the task is unfinished.
  const TaskResult& result() const {
    std::lock_guard lock(state_->mu);
    if (!state_->result) {
      throw InvalidStateError("SyncTaskHandle::result(): task '" + state_->name +
                              "' has not finished; call wait() first or check done()");
    }
    return *state_->result;
  }

  /// Waits, then returns the value; rethrows the task's exception, or osiiso::CancelledError.
  R value() const {
    const TaskResult& r = wait();
    if (r.status == TaskStatus::Cancelled) throw CancelledError("task '" + r.name + "' was " + r.message);
    if (r.exception) std::rethrow_exception(r.exception);
    if constexpr (std::is_void_v<R>) {
      return;
    } else if constexpr (std::is_same_v<R, std::any>) {
      return r.any_value();
    } else {
      return std::any_cast<R>(r.any_value());
    }
  }

  /// The exception of a failed task (null otherwise); throws osiiso::InvalidStateError while unfinished.
  [[nodiscard]] std::exception_ptr exception() const { return result().exception; }

  /// Requests cancellation; false when the task had already finished.
  bool cancel() const { return detail::cancel_task(*state_); }

  /// True once the task has a final result.
  [[nodiscard]] bool done() const {
    std::lock_guard lock(state_->mu);
    return state_->result != nullptr;
  }

  /// True if the task was cancelled.
  [[nodiscard]] bool cancelled() const {
    std::lock_guard lock(state_->mu);
    return state_->result && state_->result->status == TaskStatus::Cancelled;
  }

  /// Calls `fn(handle)` once the task finishes (at once if it already has); exceptions are logged.
  template <class F>
  requires std::invocable < F&, const SyncTaskHandle<>
  & > void add_done_callback(F&& fn) const {
    {
      std::lock_guard lock(state_->mu);
      if (!state_->result) {
        state_->callbacks.emplace_back(std::forward<F>(fn));
        return;
      }
    }
    detail::emit_hook("done callback", fn, SyncTaskHandle<>(state_));
  }

  /// Current lifecycle status.
  [[nodiscard]] TaskStatus status() const {
    std::lock_guard lock(state_->mu);
    return state_->status;
  }
  /// Attempts started so far.
  [[nodiscard]] std::size_t attempts() const {
    std::lock_guard lock(state_->mu);
    return state_->attempts;
  }
  /// Unique hexadecimal task id.
  [[nodiscard]] const std::string& task_id() const noexcept { return state_->task_id; }
  /// Task name.
  [[nodiscard]] const std::string& name() const noexcept { return state_->name; }
  /// Scheduling priority (lower runs first).
  [[nodiscard]] int priority() const noexcept { return state_->priority; }
  /// Whether the task survives ordinary cancellation.
  [[nodiscard]] bool must_complete() const noexcept { return state_->must_complete; }
  /// Group the task belongs to, if any.
  [[nodiscard]] const std::optional<std::string>& group_id() const noexcept { return state_->group_id; }
  /// Whether the task is excluded from run summaries.
  [[nodiscard]] bool detached() const noexcept { return state_->detached; }
  /// User data from TaskOptions::metadata.
  [[nodiscard]] const std::any& metadata() const noexcept { return state_->metadata; }
  /// When a delayed task is due, if it was scheduled.
  [[nodiscard]] std::optional<Clock::time_point> scheduled_for() const noexcept { return state_->scheduled_for; }
  /// When the task was submitted.
  [[nodiscard]] Clock::time_point created_at() const noexcept { return state_->created_at; }

  /// Handles are equal when they refer to the same task.
  template <class U>
  bool operator==(const SyncTaskHandle<U>& other) const noexcept {
    return state_ == other.state_;
  }

 private:
  template <class>
  friend class SyncTaskHandle;
  friend class CompletionRange;

  void start_queue_if_idle() const {
    {
      std::lock_guard lock(state_->mu);
      if (state_->result) return;
    }
    detail::start_queue_of(*state_);
  }

  detail::TaskStatePtr state_;
};

}  // namespace osiiso
