// SPDX-License-Identifier: MIT
// The one thread a process backend works on (ProcessQueue's poller, MpiQueue's rank-0 thread),
// and the commands other threads leave for it: a worker target, attempts to interrupt, a stop.
// Other threads call ensure(), interrupt() and stop(); the thread runs the backend's body, which
// reads the commands with take(). The thread blocks asynchronous signals (they belong to the main
// thread) and is a dispatch thread (hooks run on it).
#pragma once

#include <osiiso/detail/backend.hpp>
#include <osiiso/detail/wake_event.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace osiiso::detail {

class BackendThread {
 public:
  struct Commands {
    std::size_t target = 0;           // the workers wanted (a level, not consumed)
    std::vector<Attempt> interrupts;  // consumed by take()
    bool stop = false;
  };

  // `description` names the thread in errors; `body` runs on it until it returns.
  BackendThread(const char* description, std::function<void()> body);
  BackendThread(const BackendThread&) = delete;
  BackendThread& operator=(const BackendThread&) = delete;
  // Stops and joins the thread (detaches it when destroyed from the thread itself).
  ~BackendThread();

  // Raises the worker target to `count` (never lowers it) and starts the thread if it is not running.
  void ensure(std::size_t count);
  // Leaves `attempt` to be interrupted; nothing when the thread is not running.
  void interrupt(const Attempt& attempt);
  // Asks the thread to stop and joins it; from the thread itself (a hook) it only asks, and the
  // next stop() or the destructor joins.
  void stop();
  // Wakes the thread for new work.
  void wake() noexcept { wake_.wake(); }

  // On the thread: the commands left since the last take().
  [[nodiscard]] Commands take();
  // On the thread: the descriptor to watch for wake-ups, and what to call when it is readable.
  [[nodiscard]] int wake_fd() const noexcept { return wake_.fd(); }
  void drain() noexcept { wake_.drain(); }
  // On the thread, after a failure: waits for the next wake-up; false when asked to stop.
  [[nodiscard]] bool wait_for_wake();

  // True on the thread.
  [[nodiscard]] bool on_thread() const noexcept { return id_.load() == std::this_thread::get_id(); }
  // Live workers, as the thread last counted them.
  [[nodiscard]] std::size_t live() const noexcept { return live_.load(); }
  void set_live(std::size_t n) noexcept { live_ = n; }

 private:
  void start_locked();
  void run();

  const char* description_;
  std::function<void()> body_;
  WakeEvent wake_;
  mutable std::mutex mu_;
  Commands commands_;
  std::thread thread_;
  bool done_ = false;
  std::atomic<std::thread::id> id_{};
  std::atomic<std::size_t> live_{0};
};

}  // namespace osiiso::detail
