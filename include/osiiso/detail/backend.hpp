// SPDX-License-Identifier: MIT
// The seam between the engine (every scheduling rule) and a backend (how one attempt runs).
#pragma once

#include <any>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>

namespace osiiso::detail {

struct Task;

// Backend-specific payload of a task (a closure for threads, a serialized request for processes).
struct Work {
  Work() = default;
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;
  virtual ~Work() = default;
};

// One attempt of one task. The engine ignores completions whose id is no longer current, so a
// backend may report late (an abandoned thread) without harm.
struct Attempt {
  std::shared_ptr<Task> task;
  std::uint64_t id = 0;
  // The backend payload of the task.
  [[nodiscard]] Work& work() const;
};

// Where an attempt ran, as far as the backend knows (copied into the task's result).
struct Placement {
  std::optional<int> worker_pid{};
  std::optional<int> rank{};
  std::optional<std::string> host{};
};

// What an attempt produced: a value (error null) or an exception, and where it ran.
struct Outcome {
  std::any value;
  std::exception_ptr error;
  Placement placement{};
};

// A backend owns the workers. It pulls attempts with Engine::take_ready() when a worker is idle,
// reports each with Engine::complete(), and is told by the engine when work is ready, when an
// attempt must be interrupted, and when to stop. Every method may be called from any thread.
class Backend {
 public:
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;
  virtual ~Backend() = default;

  // Grow to at least `count` workers (never shrinks); called on start and as the backlog grows.
  virtual void ensure_workers(std::size_t count) = 0;
  // Work became ready (or the queue was halted): idle workers should call take_ready() again.
  virtual void notify_ready() = 0;
  // Stop the running attempt (cancel or timeout) so that its worker can serve again soon.
  // The engine has already settled the attempt; the backend must not complete it.
  virtual void interrupt(const Attempt& attempt) = 0;
  // Stop and join every worker; no attempt is active when the engine calls this gracefully.
  virtual void stop_workers() = 0;
  // Live workers.
  [[nodiscard]] virtual std::size_t worker_count() const = 0;
  // True on a thread the backend owns (a task or hook running there must not join it).
  [[nodiscard]] virtual bool owns_current_thread() const = 0;
};

}  // namespace osiiso::detail
