// SPDX-License-Identifier: MIT
// Worker threads for ThreadQueue.
#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/thread_backend.hpp>
#include <osiiso/detail/thread_work.hpp>

#include <osiiso/errors.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace osiiso::detail {

namespace {
thread_local const ThreadBackend* current_backend = nullptr;
}  // namespace

ThreadBackend::~ThreadBackend() { stop_workers(); }

void ThreadBackend::spawn_locked() {
  auto slot = std::make_shared<RunningAttempt>();
  workers_.push_back(Worker{std::thread([this, slot] { worker_loop(slot); }), slot});
  worker_total_ = workers_.size();
}

void ThreadBackend::ensure_workers(std::size_t count) {
  // Called on every submission: nothing to do is the common case, and it takes no lock.
  if (worker_total_.load() >= count) return;
  std::lock_guard lock(mu_);
  if (stopping_) return;
  while (workers_.size() < count) spawn_locked();
}

void ThreadBackend::notify_ready() {
  ++ready_generation_;
  if (idle_.load() == 0) return;
  // Taken so that a worker between its last look at the generation and its sleep is asleep by now.
  { const std::lock_guard lock(mu_); }
  cv_.notify_one();
}

void ThreadBackend::wait_for_work(std::uint64_t seen) {
  std::unique_lock lock(mu_);
  ++idle_;
  cv_.wait(lock, [&] { return ready_generation_.load() != seen || stopping_.load(); });
  --idle_;
}

std::exception_ptr ThreadBackend::initialize() const noexcept {
  try {
    config_.initializer();
    return nullptr;
  } catch (...) {
    return std::current_exception();
  }
}

void ThreadBackend::worker_loop(std::shared_ptr<RunningAttempt> slot) {
  current_backend = this;
  bool initialized = !config_.initializer;
  std::exception_ptr init_error;
  std::size_t tasks_run = 0;
  // Claimed under the engine lock, so interrupt() always finds the attempt in this slot.
  const std::function<void(const Attempt&)> claim = [&slot](const Attempt& claimed) {
    const bool wants_token = static_cast<const ThreadWork&>(claimed.work()).takes_stop_token();
    std::lock_guard lock(slot->mu);
    slot->attempt_id = claimed.id;
    slot->stop = wants_token ? std::stop_source() : std::stop_source(std::nostopstate);
  };
  // Taken with the completion of the previous one, or by take_ready().
  std::optional<Attempt> attempt;
  for (;;) {
    if (!attempt) {
      const std::uint64_t seen = ready_generation_.load();
      if (stopping_.load()) return;
      // Until it succeeds, every task this worker takes runs the initializer first; a failure is
      // the outcome of the task it was to run.
      if (!initialized && !init_error) {
        init_error = initialize();
        initialized = init_error == nullptr;
      }
      attempt = engine_.take_ready(claim);
      if (!attempt) {
        wait_for_work(seen);
        continue;
      }
    }
    std::stop_token token;
    {
      std::lock_guard lock(slot->mu);
      if (slot->abandoned) return;  // interrupted before it started; keep_alive dies with the slot
      token = slot->stop.get_token();
    }
    Outcome outcome;
    if (init_error) {
      outcome.error = std::make_exception_ptr(OsiisoError(
          fmt::format("ThreadQueue: the worker initializer failed ({}); task '{}' did not run, and the next task "
                      "on this worker runs the initializer again",
                      describe_error(init_error), attempt->task->state->name)));
      init_error = nullptr;
    } else {
      try {
        outcome.value = static_cast<ThreadWork&>(attempt->work()).run(std::move(token));
      } catch (...) {
        outcome.error = std::current_exception();
      }
    }
    std::shared_ptr<Engine> keep_alive;
    {
      std::lock_guard lock(slot->mu);
      slot->attempt_id = 0;
      if (slot->abandoned) keep_alive = std::move(slot->keep_alive);
    }
    if (keep_alive) {
      // Abandoned: the engine settled this attempt already and a replacement thread took the slot.
      attempt.reset();
      outcome = Outcome{};
      return;
    }
    const bool last = config_.max_tasks_per_worker > 0 && ++tasks_run >= config_.max_tasks_per_worker;
    if (last || !initialized || stopping_.load()) {
      // Retiring, stopping, or the initializer still to run before the next take.
      engine_.complete(*attempt, std::move(outcome));
      attempt.reset();
    } else {
      attempt = engine_.complete_and_take(*attempt, std::move(outcome), claim);
    }
    if (last) {
      retire(slot);
      return;
    }
  }
}

void ThreadBackend::retire(const std::shared_ptr<RunningAttempt>& slot) {
  std::vector<std::thread> finished;
  {
    std::lock_guard lock(mu_);
    const auto it = std::find_if(workers_.begin(), workers_.end(), [&](const Worker& w) { return w.slot == slot; });
    if (it == workers_.end()) return;  // stop_workers() took it and joins it
    // Joined, not detached: by the next retirement or by stop_workers(), so that no thread of
    // the queue outlives it.
    finished.swap(retired_);
    retired_.push_back(std::move(it->thread));
    workers_.erase(it);
    worker_total_ = workers_.size();
    if (!stopping_) spawn_locked();
  }
  // Earlier retired threads only return from worker_loop: joining them is short.
  for (auto& thread : finished) thread.join();
}

void ThreadBackend::interrupt(const Attempt& attempt) {
  std::lock_guard lock(mu_);
  for (auto it = workers_.begin(); it != workers_.end(); ++it) {
    {
      // Matched and abandoned under one hold of the slot's lock: the worker cannot finish this
      // attempt and claim the next one in between.
      std::lock_guard slot_lock(it->slot->mu);
      if (it->slot->attempt_id != attempt.id) continue;
      it->slot->abandoned = true;
      it->slot->keep_alive = engine_.shared_from_this();
      it->slot->stop.request_stop();
    }
    it->thread.detach();
    workers_.erase(it);
    worker_total_ = workers_.size();
    if (!stopping_) spawn_locked();
    return;
  }
  // Not found: it finished meanwhile; the engine ignores its outcome.
}

void ThreadBackend::stop_workers() {
  std::vector<Worker> workers;
  std::vector<std::thread> retired;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    workers.swap(workers_);
    worker_total_ = 0;
    retired.swap(retired_);
  }
  cv_.notify_all();
  for (auto& thread : retired) {
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();  // the queue stopped from the last task of a retiring worker's hook
    } else {
      thread.join();
    }
  }
  for (auto& w : workers) {
    if (w.thread.get_id() == std::this_thread::get_id()) {
      w.thread.detach();  // a task stopping its own queue
    } else if (w.thread.joinable()) {
      w.thread.join();
    }
  }
  std::lock_guard lock(mu_);
  stopping_ = false;
}

std::size_t ThreadBackend::worker_count() const {
  std::lock_guard lock(mu_);
  return workers_.size();
}

bool ThreadBackend::owns_current_thread() const { return current_backend == this; }

}  // namespace osiiso::detail
