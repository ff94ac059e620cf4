// SPDX-License-Identifier: MIT
// The state one task shares between its handles, its queue and its result.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/enums.hpp>
#include <osiiso/fwd.hpp>
#include <osiiso/task_result.hpp>

#include <any>
#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace osiiso::detail {

class Engine;
struct Task;

// The lock and condition variable guarding tasks' mutable state: one of a fixed set of stripes,
// shared by the tasks whose states hash to it, so that a million queued tasks do not each carry a
// mutex and a condition variable. Never hold two (two tasks may share one); a waiter re-checks its
// own task (a notification may be for another task of its stripe). Reset in a forked child.
struct StateSync {
  std::mutex mu;
  std::condition_variable cv;
};
[[nodiscard]] StateSync& state_sync(const void* state) noexcept;

// A task's id, 32 hexadecimal digits kept in place (a std::string of them is an allocation).
struct TaskId {
  std::array<char, 32> hex{};
  [[nodiscard]] std::string str() const { return {hex.data(), hex.size()}; }
};

// Identity is immutable after submission; the rest is guarded by `mu()`. Handles own it through
// shared_ptr so that they outlive their queue; `engine` and `task` are weak for the same reason.
struct TaskState {
  TaskId task_id;
  std::string name;
  std::optional<std::string> group_id;
  std::optional<Clock::time_point> scheduled_for;
  Clock::time_point created_at{};
  std::any metadata;
  std::weak_ptr<Engine> engine;
  std::weak_ptr<Task> task;
  std::uint64_t fork_generation = 0;  // of the submitting process (detail/process_identity.hpp)
  int priority = 3;

  // The lock of the fields below, and the condition variable that announces the result.
  [[nodiscard]] std::mutex& mu() const noexcept { return state_sync(this).mu; }
  [[nodiscard]] std::condition_variable& cv() const noexcept { return state_sync(this).cv; }

  // (Packed beside the identity's flags: a queued task's state is one allocation of its size.)
  std::uint32_t attempts = 0;
  TaskStatus status = TaskStatus::Pending;
  bool must_complete = false;  // identity
  bool detached = false;       // identity
  // When the first attempt began; the clock's epoch until then (half the room of an optional).
  Clock::time_point started_at{};
  // Set once, when the task finishes; shared with the queue's results (one copy per task).
  std::shared_ptr<const TaskResult> result;
  std::vector<std::function<void(const SyncTaskHandle<>&)>> callbacks;
};

using TaskStatePtr = std::shared_ptr<TaskState>;

// The final record of the task of `s` with `status`, as of `finished_at` (its value and exception
// are the caller's to set).
[[nodiscard]] TaskResult make_result(const TaskState& s, TaskStatus status, std::string message,
                                     Clock::time_point finished_at);

// A fresh random task id.
[[nodiscard]] TaskId new_task_id();

}  // namespace osiiso::detail
