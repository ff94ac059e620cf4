// SPDX-License-Identifier: MIT
// Attempts: what a backend reports, retries with backoff, and the timer thread that starts
// delayed tasks, ends retry waits and enforces per-attempt timeouts.
#include <osiiso/detail/engine.hpp>
#include <osiiso/errors.hpp>
#include <osiiso/task_handle.hpp>

#include <fmt/format.h>

namespace osiiso::detail {

bool Engine::complete(const Attempt& attempt, Outcome outcome) {
  std::unique_lock lock(mu_);
  const TaskPtr& task = attempt.task;
  if (task->where != Where::Active || task->attempt_id != attempt.id) return false;
  if (!outcome.error) {
    settle_locked(task);
    lock.unlock();
    finalize({task, TaskStatus::Succeeded, std::move(outcome), {}});
    return true;
  }
  suspend_locked(task);
  fail_attempt(lock, task, outcome.error, std::move(outcome.placement));
  return true;
}

std::optional<Attempt> Engine::complete_and_take(const Attempt& attempt, Outcome outcome,
                                                 const std::function<void(const Attempt&)>& claim) {
  // A failure may retry, run on_retry or halt the queue: it takes the ordinary paths.
  if (outcome.error) {
    complete(attempt, std::move(outcome));
    return take_ready(claim);
  }
  std::unique_lock lock(mu_);
  const TaskPtr& task = attempt.task;
  const bool current = task->where == Where::Active && task->attempt_id == attempt.id;
  if (current) {
    settle_locked(task);
    lock.unlock();
    Settled settled;
    settled.task = task;
    settled.status = TaskStatus::Succeeded;
    settled.outcome = std::move(outcome);
    auto result = publish(settled);
    lock.lock();
    (void)count_locked(std::move(result), TaskStatus::Succeeded);  // a success never halts the queue
  }
  std::vector<Settled> dropped;
  std::optional<Attempt> next = take_locked(claim, GateUse::Respect, AttemptStart::AtTake, dropped);
  lock.unlock();
  if (current) done_cv_.notify_all();
  finalize_all(std::move(dropped));
  if (next) emit_start(next->task->state);
  return next;
}

void Engine::suspend_locked(const TaskPtr& task) {
  deactivate_locked(task);
  task->where = Where::RetryWait;
  ++retry_waiting_;
}

// Called with the lock held and the task just suspended; releases the lock.
void Engine::fail_attempt(std::unique_lock<std::mutex>& lock, const TaskPtr& task, const std::exception_ptr& error,
                          Placement placement) {
  const auto attempts = [&] {
    std::lock_guard state_lock(task->state->mu());
    return task->state->attempts;
  }();
  const bool retriable =
      attempts <= static_cast<std::size_t>(task->retries) && !(lifecycle_.halted() && !task->state->must_complete);
  if (!retriable) {
    settle_locked(task);
    lock.unlock();
    finalize({task, TaskStatus::Failed, Outcome{{}, error, std::move(placement)}, describe_error(error)});
    return;
  }
  const Seconds delay = task->next_retry_delay;
  task->next_retry_delay = delay * task->backoff;
  {
    std::lock_guard state_lock(task->state->mu());
    task->state->status = TaskStatus::Retrying;
  }
  lock.unlock();
  if (config_.on_retry) emit_hook("on_retry", config_.on_retry, SyncTaskHandle<>(task->state), error);
  lock.lock();
  if (task->where != Where::RetryWait) {  // cancelled during the hook
    lock.unlock();
    return;
  }
  if (delay.count() > 0) {
    push_timer_locked(clock_->now() + to_clock_duration(delay), task, TimerKind::Due);
  } else {
    make_ready_locked(task);
  }
  lock.unlock();
}

void Engine::push_timer_locked(Clock::time_point at, const TaskPtr& task, TimerKind kind) {
  if (timers_.push(at, task, kind, task->attempt_id)) timer_cv_.notify_all();
}

void Engine::timer_loop() {
  const DispatchThread dispatching("the queue's timer thread");
  std::unique_lock lock(mu_);
  while (!stopping_timer_) {
    const auto next = timers_.next();
    if (!next) {
      timer_cv_.wait(lock);
      continue;
    }
    if (auto timer = timers_.pop_due(clock_->now())) {
      fire_locked(lock, *timer);
    } else {
      clock_->wait_until(timer_cv_, lock, *next);
    }
  }
}

// Called and returns with the lock held; releases it while the backend interrupts an attempt.
void Engine::fire_locked(std::unique_lock<std::mutex>& lock, const Timer<TaskPtr>& timer) {
  if (timer.kind == TimerKind::GateOpen) {
    gate_armed_ = false;
    if (!ready_.empty()) backend_->notify_ready();
    return;
  }
  const TaskPtr& task = timer.item;
  if (timer.kind == TimerKind::Due) {
    if (task->where == Where::Scheduled || task->where == Where::RetryWait) make_ready_locked(task);
    return;
  }
  if (task->where != Where::Active || task->attempt_id != timer.attempt_id) return;
  const Attempt attempt{task, timer.attempt_id};
  auto error = std::make_exception_ptr(TimeoutError(
      fmt::format("task '{}' exceeded its {}s timeout", task->state->name, task->timeout.value_or(Seconds{}).count())));
  // Settle first so a late completion is ignored, then stop the attempt.
  suspend_locked(task);
  lock.unlock();
  backend_->interrupt(attempt);
  lock.lock();
  if (task->where != Where::RetryWait) return;  // cancelled meanwhile
  fail_attempt(lock, task, error);
  lock.lock();
}

}  // namespace osiiso::detail
