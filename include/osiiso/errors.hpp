// SPDX-License-Identifier: MIT
// The exception hierarchy: everything osiiso throws derives from OsiisoError.
#pragma once

#include <osiiso/task_result.hpp>

#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace osiiso {

/// Base of every error osiiso throws.
class OsiisoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Submitting to, or starting, a queue that is closed or shutting down.
class ClosedError : public OsiisoError {
 public:
  using OsiisoError::OsiisoError;
};

/// A bounded queue is full (sync queues block instead of throwing this).
class QueueFullError : public OsiisoError {
 public:
  using OsiisoError::OsiisoError;
};

/// A wait, a task attempt or a run exceeded its time limit.
class TimeoutError : public OsiisoError {
 public:
  using OsiisoError::OsiisoError;
};

/// The value of a cancelled task was requested.
class CancelledError : public OsiisoError {
 public:
  using OsiisoError::OsiisoError;
};

/// A result was requested from a task that has not finished.
class InvalidStateError : public OsiisoError {
 public:
  using OsiisoError::OsiisoError;
};

/// A ProcessQueue was given a function that was never registered with OSIISO_TASK.
class RegistrationError : public OsiisoError {
 public:
  using OsiisoError::OsiisoError;
};

/// A worker process exited or was killed while running a task.
class WorkerDiedError : public OsiisoError {
 public:
  using OsiisoError::OsiisoError;
};

/// A task that ran out of memory under its memory limit (TaskOptions::memory_limit): still a
/// std::bad_alloc, whose what() names the task and the limit.
class MemoryLimitError : public std::bad_alloc {
 public:
  /// Carries the message what() returns.
  explicit MemoryLimitError(const std::string& message) : message_(std::make_shared<const std::string>(message)) {}
  /// The task, its limit, and what happened to its worker.
  [[nodiscard]] const char* what() const noexcept override { return message_->c_str(); }

 private:
  // Shared: copying an exception must not throw.
  std::shared_ptr<const std::string> message_;
};

/// A Checkpoint could not open, read or write its SQLite file, or a stored value did not decode.
class CheckpointError : public OsiisoError {
 public:
  using OsiisoError::OsiisoError;
};

/// An exception of a type the parent cannot rebuild, thrown in a worker process.
class RemoteError : public OsiisoError {
 public:
  /// Carries the demangled type name and the what() text of the remote exception.
  RemoteError(std::string type_name, const std::string& what) : OsiisoError(what), type_name_(std::move(type_name)) {}

  /// Demangled name of the exception type thrown in the worker.
  [[nodiscard]] const std::string& type_name() const noexcept { return type_name_; }

 private:
  std::string type_name_;
};

/// One or more tasks failed (or were cancelled); carries their results.
class ExecutionError : public OsiisoError {
 public:
  /// Builds the message "N task(s) failed; M task(s) cancelled" from the offending results.
  explicit ExecutionError(std::vector<TaskResult> results);

  /// The failed (and cancelled) results that caused the error.
  [[nodiscard]] const std::vector<TaskResult>& results() const noexcept { return results_; }

 private:
  std::vector<TaskResult> results_;
};

}  // namespace osiiso
