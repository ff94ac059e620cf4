// SPDX-License-Identifier: MIT
// Dispatch: the ready queue, worker scaling, and handing attempts to the backend.
#include <osiiso/detail/engine.hpp>
#include <osiiso/task_handle.hpp>

#include <algorithm>

namespace osiiso::detail {

void Engine::make_ready_locked(const TaskPtr& task) {
  if (task->where == Where::Scheduled) --scheduled_;
  if (task->where == Where::RetryWait) --retry_waiting_;
  task->where = Where::Queued;
  ready_.push(task->priority, task->seq, task);
  if (lifecycle_.started()) {
    scale_locked();
    backend_->notify_ready();
  }
}

bool Engine::pass_gate_locked() {
  if (!gate_ || gate_->try_pass(clock_->now())) return true;
  if (!gate_armed_) {
    gate_armed_ = true;
    if (timers_.push(gate_->next_open(), nullptr, TimerKind::GateOpen)) timer_cv_.notify_all();
  }
  return false;
}

std::size_t Engine::target_workers_locked() const {
  if (config_.workers) return *config_.workers;
  const std::size_t backlog = ready_.size() + active_.size();
  const std::size_t floor = config_.mode == Mode::Infinite ? 1 : 0;
  return std::max(floor, std::min(config_.auto_limit, backlog));
}

void Engine::scale_locked() {
  if (!lifecycle_.may_scale()) return;
  backend_->ensure_workers(target_workers_locked());
}

void Engine::emit_start(const TaskStatePtr& state) const {
  if (config_.on_start) emit_hook("on_start", config_.on_start, SyncTaskHandle<>(state));
}

Attempt Engine::activate_locked(const TaskPtr& task, AttemptStart start) {
  task->where = Where::Active;
  task->attempt_id = ++attempt_seq_;
  task->active_index = static_cast<std::uint32_t>(active_.size());
  active_.push_back(task);
  if (start == AttemptStart::Deferred) {
    task->awaiting_begin = true;
    ++awaiting_begin_;
  } else {
    begin_locked(task);
  }
  return Attempt{task, task->attempt_id};
}

void Engine::begin_locked(const TaskPtr& task) {
  const auto now = clock_->now();
  {
    std::lock_guard state_lock(task->state->mu());
    ++task->state->attempts;
    task->state->status = TaskStatus::Running;
    if (task->state->started_at == Clock::time_point{}) task->state->started_at = now;
  }
  if (task->timeout) push_timer_locked(now + to_clock_duration(*task->timeout), task, TimerKind::Deadline);
}

void Engine::deactivate_locked(const TaskPtr& task) {
  if (task->awaiting_begin) {
    task->awaiting_begin = false;
    --awaiting_begin_;
  }
  // Read first: `task` may be the slot that the move below overwrites.
  const std::uint32_t index = task->active_index;
  if (index + 1 != active_.size()) {
    active_[index] = std::move(active_.back());
    active_[index]->active_index = index;
  }
  active_.pop_back();
}

void Engine::begin_attempt(const Attempt& attempt) {
  {
    std::lock_guard lock(mu_);
    const TaskPtr& task = attempt.task;
    if (task->where != Where::Active || task->attempt_id != attempt.id || !task->awaiting_begin) return;
    task->awaiting_begin = false;
    --awaiting_begin_;
    begin_locked(task);
  }
  emit_start(attempt.task->state);
}

std::optional<Attempt> Engine::take_locked(const std::function<void(const Attempt&)>& claim, GateUse gate,
                                           AttemptStart start, std::vector<Settled>& dropped) {
  if (!lifecycle_.started()) return std::nullopt;
  while (!ready_.empty()) {
    TaskPtr task = ready_.pop();
    if (task->where != Where::Queued) continue;  // cancelled while queued
    if (lifecycle_.halted() && !task->state->must_complete) {
      settle_locked(task);
      dropped.push_back(cancellation(task, "cancelled during shutdown"));
      continue;
    }
    if (gate == GateUse::Respect && !pass_gate_locked()) {
      // It waits queued, holding no worker and still cancellable, until the gate opens.
      ready_.push(task->priority, task->seq, task);
      return std::nullopt;
    }
    Attempt attempt = activate_locked(task, start);
    if (claim) claim(attempt);
    return attempt;
  }
  return std::nullopt;
}

std::optional<Attempt> Engine::take_ready(const std::function<void(const Attempt&)>& claim, GateUse gate,
                                          AttemptStart start) {
  std::vector<Settled> dropped;
  std::optional<Attempt> attempt;
  {
    std::lock_guard lock(mu_);
    attempt = take_locked(claim, gate, start, dropped);
  }
  finalize_all(std::move(dropped));
  if (attempt && start == AttemptStart::AtTake) emit_start(attempt->task->state);
  return attempt;
}

}  // namespace osiiso::detail
