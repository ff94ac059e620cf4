// SPDX-License-Identifier: MIT
// ThreadQueue's backend: worker threads that run attempts in-process.
#pragma once

#include <osiiso/detail/backend.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

namespace osiiso::detail {

class Engine;

struct ThreadBackendConfig {
  // Run once in every worker thread before its first task.
  std::function<void()> initializer{};
  // A worker thread is replaced after this many tasks (0: never).
  std::size_t max_tasks_per_worker = 0;
};

// A thread cannot be killed, so an interrupted attempt is abandoned: its thread is detached and
// replaced, runs on to completion holding the engine alive, and its outcome is discarded.
class ThreadBackend final : public Backend {
 public:
  ThreadBackend(Engine& engine, ThreadBackendConfig config) : engine_(engine), config_(std::move(config)) {}
  ~ThreadBackend() override;

  void ensure_workers(std::size_t count) override;
  void notify_ready() override;
  void interrupt(const Attempt& attempt) override;
  void stop_workers() override;
  [[nodiscard]] std::size_t worker_count() const override;
  [[nodiscard]] bool owns_current_thread() const override;

 private:
  // One worker's attempt; guarded by its own `mu`, so that workers do not contend with each
  // other (interrupt() takes the backend's mu_ first, then this one).
  struct RunningAttempt {
    std::mutex mu;
    std::uint64_t attempt_id = 0;
    // Without a stop state unless the task takes a std::stop_token (a stop state is an allocation).
    std::stop_source stop{std::nostopstate};
    bool abandoned = false;
    std::shared_ptr<Engine> keep_alive;
  };
  struct Worker {
    std::thread thread;
    std::shared_ptr<RunningAttempt> slot;
  };

  void spawn_locked();
  // Sleeps until notify_ready() was called after `seen` was read, or until a stop.
  void wait_for_work(std::uint64_t seen);
  void worker_loop(std::shared_ptr<RunningAttempt> slot);
  // Runs the initializer; the error it threw, for the next task, or null.
  [[nodiscard]] std::exception_ptr initialize() const noexcept;
  // This worker ran its last task: it leaves the pool (joined later) and a fresh thread takes its
  // place.
  void retire(const std::shared_ptr<RunningAttempt>& slot);

  Engine& engine_;
  const ThreadBackendConfig config_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Bumped by notify_ready() without the lock; a worker sleeps only while it is unchanged. With
  // idle_ (guarded by mu_, read without it) this lets notify_ready() skip the lock and the wake-up
  // when no worker sleeps: the seq_cst bump and the idle count cannot both be missed.
  std::atomic<std::uint64_t> ready_generation_{0};
  std::atomic<std::size_t> idle_{0};
  std::atomic<bool> stopping_{false};
  std::vector<Worker> workers_;
  // workers_.size(), readable without the lock (ensure_workers' fast path).
  std::atomic<std::size_t> worker_total_{0};
  // Workers that ran their last task (max_tasks_per_worker), to be joined.
  std::vector<std::thread> retired_;
};

}  // namespace osiiso::detail
