// SPDX-License-Identifier: MIT
// The state one task shares between its handles, its queue and its result.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/enums.hpp>
#include <osiiso/fwd.hpp>
#include <osiiso/task_result.hpp>

#include <any>
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

// Identity is immutable after submission; the rest is guarded by `mu`. Handles own it through
// shared_ptr so that they outlive their queue; `engine` and `task` are weak for the same reason.
struct TaskState {
  std::string task_id;
  std::string name;
  int priority = 3;
  bool must_complete = false;
  std::optional<std::string> group_id;
  bool detached = false;
  std::optional<Clock::time_point> scheduled_for;
  Clock::time_point created_at{};
  std::any metadata;
  std::weak_ptr<Engine> engine;
  std::weak_ptr<Task> task;
  std::uint64_t fork_generation = 0;  // of the submitting process (detail/process_identity.hpp)

  mutable std::mutex mu;
  std::condition_variable cv;
  TaskStatus status = TaskStatus::Pending;
  std::size_t attempts = 0;
  std::optional<Clock::time_point> started_at;
  // Set once, when the task finishes; on the heap because a pending task needs no room for it.
  std::unique_ptr<const TaskResult> result;
  std::vector<std::function<void(const SyncTaskHandle<>&)>> callbacks;
};

using TaskStatePtr = std::shared_ptr<TaskState>;

// The final record of the task of `s` with `status`, as of `finished_at` (its value and exception
// are the caller's to set).
[[nodiscard]] TaskResult make_result(const TaskState& s, TaskStatus status, std::string message,
                                     Clock::time_point finished_at);

// A fresh random task id (32 hexadecimal digits).
[[nodiscard]] std::string new_task_id();

}  // namespace osiiso::detail
