// SPDX-License-Identifier: MIT
// ThreadQueue's backend: worker threads that run attempts in-process.
#pragma once

#include <osiiso/detail/backend.hpp>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

namespace osiiso::detail {

class Engine;

// A thread cannot be killed, so an interrupted attempt is abandoned: its thread is detached and
// replaced, runs on to completion holding the engine alive, and its outcome is discarded.
class ThreadBackend final : public Backend {
 public:
  explicit ThreadBackend(Engine& engine) : engine_(engine) {}
  ~ThreadBackend() override;

  void ensure_workers(std::size_t count) override;
  void notify_ready() override;
  void interrupt(const Attempt& attempt) override;
  void stop_workers() override;
  [[nodiscard]] std::size_t worker_count() const override;
  [[nodiscard]] bool owns_current_thread() const override;

 private:
  struct RunningAttempt {
    std::uint64_t attempt_id = 0;
    std::stop_source stop;
    bool abandoned = false;
    std::shared_ptr<Engine> keep_alive;
  };
  struct Worker {
    std::thread thread;
    std::shared_ptr<RunningAttempt> slot;
  };

  void spawn_locked();
  void worker_loop(std::shared_ptr<RunningAttempt> slot);

  Engine& engine_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t ready_generation_ = 0;
  bool stopping_ = false;
  std::vector<Worker> workers_;
};

}  // namespace osiiso::detail
