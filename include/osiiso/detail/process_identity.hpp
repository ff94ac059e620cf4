// SPDX-License-Identifier: MIT
// Which process and thread the caller is on: a queue belongs to the process that created it,
// and some threads (a poller, a timer thread) must never block on a task.
#pragma once

#include <cstdint>
#include <string_view>

namespace osiiso::detail {

// Changes in the child of every fork() (pthread_atfork), so that an object can tell whether it
// was created in this process or inherited from a parent that forked.
[[nodiscard]] std::uint64_t fork_generation() noexcept;

// Marks the current thread, for its lifetime, as one that hooks and done callbacks run on and
// that must never block on a task (it would stall the queue that has to finish it).
class DispatchThread {
 public:
  explicit DispatchThread(const char* description) noexcept;
  ~DispatchThread();
  DispatchThread(const DispatchThread&) = delete;
  DispatchThread& operator=(const DispatchThread&) = delete;
};

// The description given to DispatchThread on this thread, or nullptr.
[[nodiscard]] const char* current_dispatch_thread() noexcept;

// Throws InvalidStateError when the caller may not block waiting for task `name` here: on a
// dispatch thread, or in a forked copy of the process that submitted it (`generation`).
void check_blocking_wait(std::string_view caller, std::string_view name, std::uint64_t generation);

}  // namespace osiiso::detail
