// SPDX-License-Identifier: MIT
// Construction options of both queues, and the options of run() and shutdown().
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/context.hpp>
#include <osiiso/detail/call_type.hpp>
#include <osiiso/enums.hpp>
#include <osiiso/fwd.hpp>
#include <osiiso/task_result.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>

namespace osiiso {

/// Hook called as each attempt begins.
using StartHook = std::function<void(const SyncTaskHandle<>&)>;
/// Hook called once per task with its final result.
using CompleteHook = std::function<void(const TaskResult&)>;
/// Hook called before each retry with the exception of the failed attempt.
using RetryHook = std::function<void(const SyncTaskHandle<>&, std::exception_ptr)>;

/// Options of a ThreadQueue; designated initializers follow the field order.
struct ThreadQueueOptions {
  /// Fixed worker count; nullopt scales with the backlog up to min(32, hardware threads).
  std::optional<std::size_t> workers{};
  /// Maximum outstanding tasks (0 = unbounded); a full queue blocks submit().
  std::size_t size = 0;
  /// Default time limit of run().
  std::optional<Seconds> timeout{};
  /// Finite: run() returns when idle; Infinite: run() waits for shutdown().
  Mode mode = Mode::Finite;
  /// Whether the first failure cancels the rest.
  FailPolicy fail_policy = FailPolicy::Continue;
  /// What a run timeout cancels.
  OnExit on_exit = OnExit::CompletePriority;
  /// Called as each attempt begins (exceptions are logged and swallowed).
  StartHook on_start{};
  /// Called with each final result (exceptions are logged and swallowed).
  CompleteHook on_complete{};
  /// Called before each retry (exceptions are logged and swallowed).
  RetryHook on_retry{};
  /// Queue-wide limit of attempts started per second, retries included (nullopt: unlimited).
  std::optional<double> rate{};
  /// Attempts that may start back to back after an idle period, within `rate`.
  std::size_t burst = 1;
  /// Run once in every worker thread before its first task (a failure fails the task it was to run).
  std::function<void()> initializer{};
  /// Replace a worker thread after this many tasks (0: never).
  std::size_t max_tasks_per_worker = 0;

  /// Throws std::invalid_argument with the Python library's message when a field is out of range.
  void validate() const;
};

/// Options of a ProcessQueue; designated initializers follow the field order.
struct ProcessQueueOptions {
  /// Fixed worker-process count; nullopt scales with the backlog up to min(32, hardware threads).
  std::optional<std::size_t> workers{};
  /// Maximum outstanding tasks (0 = unbounded); a full queue blocks submit().
  std::size_t size = 0;
  /// Default time limit of run().
  std::optional<Seconds> timeout{};
  /// Finite: run() returns when idle; Infinite: run() waits for shutdown().
  Mode mode = Mode::Finite;
  /// Whether the first failure cancels the rest.
  FailPolicy fail_policy = FailPolicy::Continue;
  /// What a run timeout cancels.
  OnExit on_exit = OnExit::CompletePriority;
  /// Called as each attempt begins (exceptions are logged and swallowed).
  StartHook on_start{};
  /// Called with each final result (exceptions are logged and swallowed).
  CompleteHook on_complete{};
  /// Called before each retry (exceptions are logged and swallowed).
  RetryHook on_retry{};
  /// The longest a timeout or cancellation may wait to take effect.
  Seconds poll{std::chrono::milliseconds(50)};
  /// Start method of the worker processes (default: fork).
  Context context{};
  /// Queue-wide limit of attempts started per second, retries included (nullopt: unlimited).
  std::optional<double> rate{};
  /// Attempts that may start back to back after an idle period, within `rate`.
  std::size_t burst = 1;
  /// `osiiso::call(setup, args...)` of a registered function, run once in every worker process
  /// (respawned ones included) before its first task; a failure fails the task it was to run.
  std::optional<Call> initializer{};
  /// Replace a worker process after this many tasks (0: never).
  std::size_t max_tasks_per_worker = 0;
  /// Replace a worker process whose resident memory exceeds this many bytes after a task.
  std::optional<std::size_t> max_worker_memory{};
  /// Every attempt's memory cap in bytes (TaskOptions::memory_limit overrides it; see docs).
  std::optional<std::size_t> memory_limit{};
  /// Most tasks handed to one worker at once (nullopt: sized from measured run time; 1: one at a time).
  std::optional<std::size_t> chunksize{};

  /// Throws std::invalid_argument with the Python library's message when a field is out of range.
  void validate() const;
};

/// Options of run().
struct RunOptions {
  /// Time limit of this run (overrides the queue's timeout).
  std::optional<Seconds> timeout{};
  /// Throw ExecutionError when a task failed.
  bool strict = false;
  /// Fail policy for this run only.
  std::optional<FailPolicy> fail_policy{};
  /// Draw a progress line on stderr while the run lasts (redrawn on a terminal, else one closing line).
  bool progress = false;

  /// Throws std::invalid_argument with the Python library's message when a field is out of range.
  void validate() const;
};

/// Options of shutdown().
struct ShutdownOptions {
  /// Cancel everything (must_complete included) instead of draining.
  bool force = false;
};

}  // namespace osiiso
