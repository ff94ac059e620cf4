// SPDX-License-Identifier: MIT
// Settlement: a task's result is published (handle, hooks, callbacks, then the counters), a
// failure under fail_first halts the queue, and cancel/abort settle what they select.
#include <osiiso/detail/engine.hpp>
#include <osiiso/task_handle.hpp>

#include <cstdio>

namespace osiiso::detail {

namespace {

// A result's identity and outcome, from the immutable part of the state.
void fill_identity(TaskResult& r, const TaskState& s, TaskStatus status, std::string message,
                   Clock::time_point finished_at) {
  r.task_id = s.task_id.str();
  r.name = s.name;
  r.status = status;
  r.priority = s.priority;
  r.must_complete = s.must_complete;
  r.group_id = s.group_id;
  r.detached = s.detached;
  r.scheduled_for = s.scheduled_for;
  r.created_at = s.created_at;
  r.metadata = s.metadata;
  r.message = std::move(message);
  r.finished_at = finished_at;
}

// What the attempts changed; called with s.mu() held, after fill_identity().
void fill_attempts_locked(TaskResult& r, const TaskState& s) {
  r.attempts = s.attempts;
  if (s.started_at != Clock::time_point{}) {
    r.started_at = s.started_at;
    r.duration = r.finished_at - s.started_at;
  }
}

}  // namespace

TaskResult make_result(const TaskState& s, TaskStatus status, std::string message, Clock::time_point finished_at) {
  TaskResult r;
  fill_identity(r, s, status, std::move(message), finished_at);
  std::lock_guard lock(s.mu());
  fill_attempts_locked(r, s);
  return r;
}

std::string describe_error(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

void report_hook_error(const char* hook, const std::exception_ptr& error) noexcept {
  try {
    std::fprintf(stderr, "osiiso: %s hook raised (ignored): %s\n", hook, describe_error(error).c_str());
  } catch (...) {
    std::fprintf(stderr, "osiiso: %s hook raised (ignored)\n", hook);
  }
}

// The one move to Done: leaves the counters of where the task was; false if it was Done already.
bool Engine::settle_locked(const TaskPtr& task) {
  switch (task->where) {
    case Where::Done: return false;
    case Where::Scheduled: --scheduled_; break;
    case Where::Active: deactivate_locked(task); break;
    case Where::RetryWait: --retry_waiting_; break;
    case Where::Queued: break;
  }
  task->where = Where::Done;
  return true;
}

bool Engine::cancel_task(const TaskPtr& task) {
  std::unique_lock lock(mu_);
  const bool was_active = task->where == Where::Active;
  const Attempt attempt{task, task->attempt_id};
  if (!settle_locked(task)) return false;
  lock.unlock();
  if (was_active) {
    backend_->interrupt(attempt);
    finalize(cancellation(task, "cancelled"));
  } else {
    finalize(cancellation(task, "cancelled before execution"));
  }
  return true;
}

std::shared_ptr<const TaskResult> Engine::publish(Settled& settled) {
  const TaskPtr& task = settled.task;
  // Filled in its own block (a result moved there would be built twice), and completed under the
  // state lock that publishes it.
  auto made = std::make_shared<TaskResult>();
  fill_identity(*made, *task->state, settled.status, std::move(settled.message), clock_->now());
  made->exception = settled.outcome.error;
  made->set_value(std::move(settled.outcome.value));
  made->worker_pid = settled.outcome.placement.worker_pid;
  made->rank = settled.outcome.placement.rank;
  made->host = std::move(settled.outcome.placement.host);
  std::vector<std::function<void(const SyncTaskHandle<>&)>> callbacks;
  {
    std::lock_guard state_lock(task->state->mu());
    fill_attempts_locked(*made, *task->state);
    task->state->status = settled.status;
    task->state->result = made;
    callbacks.swap(task->state->callbacks);
  }
  std::shared_ptr<const TaskResult> result = std::move(made);
  task->state->cv().notify_all();
  if (config_.on_complete) emit_hook("on_complete", config_.on_complete, *result);
  const SyncTaskHandle<> handle(task->state);
  for (auto& callback : callbacks) emit_hook("done callback", callback, handle);
  return result;
}

bool Engine::count_locked(std::shared_ptr<const TaskResult> result, TaskStatus status) {
  results_.push_back(std::move(result));
  result_counts_.count(status);
  --outstanding_;
  // halt() is true only for the first failure: later ones find the queue halted.
  return status == TaskStatus::Failed && fail_policy_ == FailPolicy::FailFirst && lifecycle_.halt();
}

void Engine::finalize(Settled settled) {
  auto result = publish(settled);
  bool fail_abort = false;
  {
    std::lock_guard lock(mu_);
    fail_abort = count_locked(std::move(result), settled.status);
  }
  done_cv_.notify_all();
  if (fail_abort) abort_tasks(false);
}

void Engine::finalize_all(std::vector<Settled> settled) {
  for (auto& s : settled) finalize(std::move(s));
}

void Engine::abort(bool kill) {
  {
    std::lock_guard lock(mu_);
    lifecycle_.halt();
  }
  abort_tasks(kill);
}

void Engine::abort_tasks(bool kill) {
  std::vector<Settled> settled;
  std::vector<Attempt> interrupts;
  {
    std::lock_guard lock(mu_);
    const auto selected = [kill](const TaskPtr& t) { return kill || !t->state->must_complete; };
    const auto cancel_waiting = [&](const TaskPtr& t) {
      if (settle_locked(t)) settled.push_back(cancellation(t, "cancelled before execution"));
    };
    timers_.for_each([&](const Timer<TaskPtr>& timer) {
      const TaskPtr& t = timer.item;
      if (timer.kind != TimerKind::Due || !selected(t)) return;
      if (t->where == Where::Scheduled || t->where == Where::RetryWait) cancel_waiting(t);
    });
    ready_.for_each([&](const TaskPtr& t) {
      if (t->where == Where::Queued && selected(t)) cancel_waiting(t);
    });
    std::vector<TaskPtr> running;
    for (const auto& t : active_) {
      if (selected(t)) running.push_back(t);
    }
    for (const auto& t : running) {
      interrupts.push_back({t, t->attempt_id});
      settle_locked(t);
      settled.push_back(cancellation(t, "cancelled"));
    }
    if (lifecycle_.halted()) backend_->notify_ready();
  }
  for (const auto& attempt : interrupts) backend_->interrupt(attempt);
  finalize_all(std::move(settled));
}

}  // namespace osiiso::detail
