// SPDX-License-Identifier: MIT
// The shared control plane. Every scheduling rule of the Python library lives here; backends
// only run attempts and interrupt them.
#include <osiiso/detail/engine.hpp>
#include <osiiso/errors.hpp>
#include <osiiso/task_handle.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <new>
#include <random>

namespace osiiso::detail {

namespace {

std::string new_task_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

std::string describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

TaskResult make_result(const TaskState& s, TaskStatus status, std::string message) {
  TaskResult r;
  r.task_id = s.task_id;
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
  r.finished_at = Clock::now();
  std::lock_guard lock(s.mu);
  r.attempts = s.attempts;
  r.started_at = s.started_at;
  if (s.started_at) r.duration = r.finished_at - *s.started_at;
  return r;
}

}  // namespace

void abandon_engine(std::shared_ptr<Engine> engine) noexcept {
  try {
    // Reachable from a global, so leak checkers do not report it.
    static auto* abandoned = new std::vector<std::shared_ptr<Engine>>();
    abandoned->push_back(std::move(engine));
  } catch (...) {
    // Out of memory: still never destroy it.
    static_cast<void>(new (std::nothrow) std::shared_ptr<Engine>(std::move(engine)));
  }
}

void report_hook_error(const char* hook, const std::exception_ptr& error) noexcept {
  try {
    std::fprintf(stderr, "osiiso: %s hook raised (ignored): %s\n", hook, describe(error).c_str());
  } catch (...) {
    std::fprintf(stderr, "osiiso: %s hook raised (ignored)\n", hook);
  }
}

Engine::Engine(EngineConfig config)
    : config_(std::move(config)),
      fail_policy_(config_.fail_policy),
      fork_generation_(fork_generation()),
      creator_pid_(::getpid()) {
  timer_thread_ = std::thread([this] { timer_loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mu_);
    stopping_timer_ = true;
  }
  timer_cv_.notify_all();
  if (timer_thread_.get_id() == std::this_thread::get_id()) {
    timer_thread_.detach();
  } else {
    timer_thread_.join();
  }
  if (backend_) backend_->stop_workers();
  backend_.reset();  // before the mutex it may still touch is destroyed
}

bool Engine::foreign() const noexcept { return fork_generation() != fork_generation_; }

void Engine::check_owner(std::string_view caller) const {
  if (!foreign()) return;
  throw InvalidStateError(
      fmt::format("{}::{}(): this queue was created in process {}, and this process ({}) is a fork of it; a queue "
                  "cannot be used across fork(): create a new queue in this process",
                  config_.queue_name, caller, creator_pid_, ::getpid()));
}

void Engine::check_may_block(std::string_view caller) const {
  check_owner(caller);
  if (const char* thread = current_dispatch_thread()) {
    throw InvalidStateError(fmt::format(
        "{}::{}(): cannot be called on {}, where hooks and done callbacks run: it would wait for the thread it "
        "blocks; call it from another thread (cancel() is allowed anywhere)",
        config_.queue_name, caller, thread));
  }
}

void Engine::set_backend(std::unique_ptr<Backend> backend) { backend_ = std::move(backend); }

std::string Engine::next_group_id() {
  std::lock_guard lock(mu_);
  return fmt::format("group-{}", ++group_seq_);
}

void Engine::check_accepting_locked() const {
  if (closed_ || !accepting_ || halt_) {
    throw ClosedError(
        fmt::format("{}::submit(): the queue is not accepting tasks (it is shut down or halting); "
                    "submit before shutdown(), or call reset() to reuse it",
                    config_.queue_name));
  }
}

TaskStatePtr Engine::submit(std::unique_ptr<Work> work, const TaskOptions& options, std::string default_name) {
  check_owner("submit");
  options.validate();
  auto state = std::make_shared<TaskState>();
  state->task_id = new_task_id();
  state->name = options.name.value_or(std::move(default_name));
  state->priority = options.priority;
  state->must_complete = options.must_complete;
  state->group_id = options.group_id;
  state->detached = options.detached;
  state->created_at = Clock::now();
  state->metadata = options.metadata;
  state->engine = weak_from_this();
  state->fork_generation = fork_generation_;
  if (options.delay) {
    state->scheduled_for = state->created_at + std::chrono::duration_cast<Clock::duration>(*options.delay);
  } else if (options.run_at) {
    const auto wait =
        std::max(*options.run_at - std::chrono::system_clock::now(), std::chrono::system_clock::duration{});
    state->scheduled_for = state->created_at + std::chrono::duration_cast<Clock::duration>(wait);
  }

  auto task = std::make_shared<Task>();
  task->state = state;
  task->work = std::move(work);
  task->timeout = options.timeout;
  task->retries = options.retries;
  task->next_retry_delay = options.retry_delay;
  task->backoff = options.backoff;
  task->priority = options.priority;
  state->task = task;

  std::unique_lock lock(mu_);
  check_accepting_locked();
  if (config_.size > 0) {
    done_cv_.wait(lock, [&] { return outstanding_ < config_.size || closed_ || !accepting_ || halt_; });
    check_accepting_locked();
  }
  task->seq = ++seq_;
  ++outstanding_;
  if (state->scheduled_for && *state->scheduled_for > Clock::now()) {
    task->where = Where::Scheduled;
    ++scheduled_;
    push_timer_locked(*state->scheduled_for, task, TimerKind::Due);
  } else {
    push_ready_locked(task);
  }
  return state;
}

void Engine::push_ready_locked(const TaskPtr& task) {
  task->where = Where::Queued;
  ready_.push_back(Ready{task->priority, task->seq, task});
  std::push_heap(ready_.begin(), ready_.end(), ReadyOrder{});
  if (started_) {
    scale_locked();
    backend_->notify_ready();
  }
}

void Engine::push_timer_locked(Clock::time_point at, const TaskPtr& task, TimerKind kind) {
  const bool earliest = timers_.empty() || at < timers_.front().at;
  timers_.push_back(Timer{at, ++seq_, task, kind, task->attempt_id});
  std::push_heap(timers_.begin(), timers_.end(), TimerOrder{});
  if (earliest) timer_cv_.notify_all();
}

std::size_t Engine::target_workers_locked() const {
  if (config_.workers) return *config_.workers;
  const std::size_t backlog = ready_.size() + active_.size();
  const std::size_t floor = config_.mode == Mode::Infinite ? 1 : 0;
  return std::max(floor, std::min(config_.auto_limit, backlog));
}

void Engine::scale_locked() {
  if (!started_ || closed_ || halt_) return;
  backend_->ensure_workers(target_workers_locked());
}

void Engine::emit_start(const TaskStatePtr& state) const {
  if (config_.on_start) emit_hook("on_start", config_.on_start, SyncTaskHandle<>(state));
}

std::optional<Attempt> Engine::take_ready(const std::function<void(const Attempt&)>& claim) {
  std::vector<Settled> dropped;
  std::optional<Attempt> attempt;
  {
    std::lock_guard lock(mu_);
    if (!started_) return std::nullopt;
    while (!ready_.empty()) {
      std::pop_heap(ready_.begin(), ready_.end(), ReadyOrder{});
      TaskPtr task = std::move(ready_.back().task);
      ready_.pop_back();
      if (task->where != Where::Queued) continue;  // cancelled while queued
      if (halt_ && !task->state->must_complete) {
        task->where = Where::Done;
        dropped.push_back({task, TaskStatus::Cancelled, {}, "cancelled during shutdown"});
        continue;
      }
      task->where = Where::Active;
      task->attempt_id = ++attempt_seq_;
      active_.insert(task);
      {
        std::lock_guard state_lock(task->state->mu);
        ++task->state->attempts;
        task->state->status = TaskStatus::Running;
        if (!task->state->started_at) task->state->started_at = Clock::now();
      }
      if (task->timeout) {
        push_timer_locked(Clock::now() + std::chrono::duration_cast<Clock::duration>(*task->timeout), task,
                          TimerKind::Deadline);
      }
      attempt = Attempt{task, task->attempt_id};
      if (claim) claim(*attempt);
      break;
    }
  }
  finalize_all(std::move(dropped));
  if (attempt) emit_start(attempt->task->state);
  return attempt;
}

bool Engine::complete(const Attempt& attempt, Outcome outcome) {
  std::unique_lock lock(mu_);
  const TaskPtr& task = attempt.task;
  if (task->where != Where::Active || task->attempt_id != attempt.id) return false;
  active_.erase(task);
  if (!outcome.error) {
    task->where = Where::Done;
    lock.unlock();
    finalize({task, TaskStatus::Succeeded, std::move(outcome), {}});
    return true;
  }
  fail_attempt(lock, task, outcome.error);
  return true;
}

// Called with the lock held and the task just taken out of Active; releases the lock.
void Engine::fail_attempt(std::unique_lock<std::mutex>& lock, const TaskPtr& task, const std::exception_ptr& error) {
  const auto attempts = [&] {
    std::lock_guard state_lock(task->state->mu);
    return task->state->attempts;
  }();
  const bool retriable = attempts <= static_cast<std::size_t>(task->retries) && !(halt_ && !task->state->must_complete);
  if (!retriable) {
    task->where = Where::Done;
    lock.unlock();
    finalize({task, TaskStatus::Failed, Outcome{{}, error}, describe(error)});
    return;
  }
  task->where = Where::RetryWait;
  const Seconds delay = task->next_retry_delay;
  task->next_retry_delay = delay * task->backoff;
  {
    std::lock_guard state_lock(task->state->mu);
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
    push_timer_locked(Clock::now() + std::chrono::duration_cast<Clock::duration>(delay), task, TimerKind::Due);
  } else {
    push_ready_locked(task);
  }
  lock.unlock();
}

void Engine::timer_loop() {
  const DispatchThread dispatching("the queue's timer thread");
  std::unique_lock lock(mu_);
  while (!stopping_timer_) {
    if (timers_.empty()) {
      timer_cv_.wait(lock);
      continue;
    }
    const auto due = timers_.front().at;
    if (due > Clock::now()) {
      timer_cv_.wait_until(lock, due);
      continue;
    }
    std::pop_heap(timers_.begin(), timers_.end(), TimerOrder{});
    Timer timer = std::move(timers_.back());
    timers_.pop_back();
    const TaskPtr& task = timer.task;
    if (timer.kind == TimerKind::Due) {
      if (task->where == Where::Scheduled) {
        --scheduled_;
        push_ready_locked(task);
      } else if (task->where == Where::RetryWait) {
        push_ready_locked(task);
      }
      continue;
    }
    if (task->where != Where::Active || task->attempt_id != timer.attempt_id) continue;
    active_.erase(task);
    const Attempt attempt{task, timer.attempt_id};
    auto error = std::make_exception_ptr(TimeoutError(fmt::format(
        "task '{}' exceeded its {}s timeout", task->state->name, task->timeout.value_or(Seconds{}).count())));
    // Settle first so a late completion is ignored, then stop the attempt.
    task->where = Where::RetryWait;
    lock.unlock();
    backend_->interrupt(attempt);
    lock.lock();
    if (task->where != Where::RetryWait) continue;  // cancelled meanwhile
    fail_attempt(lock, task, error);
    lock.lock();
  }
}

bool Engine::cancel_task(const TaskPtr& task) {
  std::unique_lock lock(mu_);
  switch (task->where) {
    case Where::Done: return false;
    case Where::Scheduled: --scheduled_; [[fallthrough]];
    case Where::Queued:
    case Where::RetryWait:
      task->where = Where::Done;
      lock.unlock();
      finalize({task, TaskStatus::Cancelled, {}, "cancelled before execution"});
      return true;
    case Where::Active: {
      active_.erase(task);
      task->where = Where::Done;
      const Attempt attempt{task, task->attempt_id};
      lock.unlock();
      backend_->interrupt(attempt);
      finalize({task, TaskStatus::Cancelled, {}, "cancelled"});
      return true;
    }
  }
  return false;
}

void Engine::finalize(Settled settled) {
  const TaskPtr& task = settled.task;
  TaskResult result = make_result(*task->state, settled.status, std::move(settled.message));
  result.exception = settled.outcome.error;
  result.set_value(std::move(settled.outcome.value));
  auto stored = std::make_unique<const TaskResult>(result);
  std::vector<std::function<void(const SyncTaskHandle<>&)>> callbacks;
  {
    std::lock_guard state_lock(task->state->mu);
    task->state->status = settled.status;
    task->state->result = std::move(stored);
    callbacks.swap(task->state->callbacks);
  }
  task->state->cv.notify_all();
  if (config_.on_complete) emit_hook("on_complete", config_.on_complete, result);
  const SyncTaskHandle<> handle(task->state);
  for (auto& callback : callbacks) emit_hook("done callback", callback, handle);

  bool fail_abort = false;
  {
    std::lock_guard lock(mu_);
    results_.push_back(std::move(result));
    --outstanding_;
    if (settled.status == TaskStatus::Failed && fail_policy_ == FailPolicy::FailFirst && !halt_) {
      halt_ = true;
      fail_abort = true;
    }
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
    halt_ = true;
  }
  abort_tasks(kill);
}

void Engine::abort_tasks(bool kill) {
  std::vector<Settled> settled;
  std::vector<Attempt> interrupts;
  {
    std::lock_guard lock(mu_);
    const auto selected = [kill](const TaskPtr& t) { return kill || !t->state->must_complete; };
    for (const auto& timer : timers_) {
      const TaskPtr& t = timer.task;
      if (timer.kind != TimerKind::Due || !selected(t)) continue;
      if (t->where == Where::Scheduled) --scheduled_;
      if (t->where == Where::Scheduled || t->where == Where::RetryWait) {
        t->where = Where::Done;
        settled.push_back({t, TaskStatus::Cancelled, {}, "cancelled before execution"});
      }
    }
    for (const auto& entry : ready_) {
      const TaskPtr& t = entry.task;
      if (t->where == Where::Queued && selected(t)) {
        t->where = Where::Done;
        settled.push_back({t, TaskStatus::Cancelled, {}, "cancelled before execution"});
      }
    }
    for (auto it = active_.begin(); it != active_.end();) {
      const TaskPtr& t = *it;
      if (!selected(t)) {
        ++it;
        continue;
      }
      t->where = Where::Done;
      interrupts.push_back({t, t->attempt_id});
      settled.push_back({t, TaskStatus::Cancelled, {}, "cancelled"});
      it = active_.erase(it);
    }
    if (halt_) backend_->notify_ready();
  }
  for (const auto& attempt : interrupts) backend_->interrupt(attempt);
  finalize_all(std::move(settled));
}

bool Engine::await_idle(std::optional<Seconds> timeout) {
  std::unique_lock lock(mu_);
  const auto idle = [this] { return outstanding_ == 0; };
  if (!timeout) {
    done_cv_.wait(lock, idle);
    return true;
  }
  return done_cv_.wait_for(lock, *timeout, idle);
}

void Engine::start() { start_as("start"); }

void Engine::start_as(std::string_view caller) {
  check_owner(caller);
  std::lock_guard lock(mu_);
  if (closed_) {
    throw ClosedError(fmt::format("{}::{}(): the queue has been shut down; call reset() before reusing it",
                                  config_.queue_name, caller));
  }
  start_locked();
}

void Engine::start_locked() {
  halt_ = false;
  timed_out_ = false;
  started_ = true;
  scale_locked();
  if (!ready_.empty()) backend_->notify_ready();
}

void Engine::ensure_started() {
  if (foreign()) return;
  std::lock_guard lock(mu_);
  if (!started_ && !closed_ && !running_) start_locked();
}

void Engine::stop_workers() {
  backend_->stop_workers();
  std::lock_guard lock(mu_);
  started_ = false;
}

void Engine::join() {
  check_may_block("join");
  ensure_started();
  await_idle(std::nullopt);
}

RunSummary Engine::run(const RunOptions& options) {
  check_may_block("run");
  options.validate();
  std::size_t first = 0;
  FailPolicy saved = FailPolicy::Continue;
  {
    std::lock_guard lock(mu_);
    if (running_) throw std::logic_error(fmt::format("{}::run(): run() is already in progress", config_.queue_name));
    running_ = true;
    first = reported_;
    saved = fail_policy_;
    if (options.fail_policy) fail_policy_ = *options.fail_policy;
  }
  const auto started = Clock::now();
  const auto limit = options.timeout ? options.timeout : config_.timeout;
  const auto restore = [&] {
    std::lock_guard lock(mu_);
    std::vector<TaskResult> window;
    for (std::size_t i = std::min(first, results_.size()); i < results_.size(); ++i) {
      if (!results_[i].detached) window.push_back(results_[i]);
    }
    reported_ = results_.size();
    const bool timed_out = timed_out_;
    timed_out_ = false;
    halt_ = false;
    running_ = false;
    fail_policy_ = saved;
    return RunSummary::from_results(std::move(window), started, timed_out);
  };
  RunSummary summary;
  try {
    start_as("run");
    bool finished = true;
    if (config_.mode == Mode::Finite) {
      finished = await_idle(limit);
    } else {
      std::unique_lock lock(mu_);
      const auto signalled = [this] { return shutdown_signal_; };
      if (limit) {
        finished = shutdown_cv_.wait_for(lock, *limit, signalled);
      } else {
        shutdown_cv_.wait(lock, signalled);
      }
    }
    if (!finished) {
      {
        std::lock_guard lock(mu_);
        timed_out_ = true;
      }
      abort(config_.on_exit == OnExit::Cancel);
      await_idle(std::nullopt);
    }
    bool stop = config_.mode == Mode::Finite;
    {
      std::lock_guard lock(mu_);
      stop = stop || timed_out_;
    }
    if (stop) stop_workers();
  } catch (...) {
    restore();
    throw;
  }
  summary = restore();
  if (options.strict) summary.raise_for_errors();
  return summary;
}

void Engine::shutdown(bool force) {
  if (force) {
    check_owner("shutdown");
  } else {
    check_may_block("shutdown");
  }
  {
    std::lock_guard lock(mu_);
    if (closed_) {
      shutdown_signal_ = true;
      shutdown_cv_.notify_all();
      return;
    }
  }
  if (force) {
    {
      std::lock_guard lock(mu_);
      accepting_ = false;
    }
    abort(true);
  } else {
    bool need_start = false;
    {
      std::lock_guard lock(mu_);
      need_start = outstanding_ > 0 && !started_;
    }
    if (need_start) start();
    {
      std::lock_guard lock(mu_);
      accepting_ = false;
    }
    done_cv_.notify_all();  // wake submitters blocked on a full queue
    await_idle(std::nullopt);
    std::lock_guard lock(mu_);
    halt_ = true;
  }
  stop_workers();
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    shutdown_signal_ = true;
  }
  done_cv_.notify_all();
  shutdown_cv_.notify_all();
}

void Engine::cancel() {
  check_owner("cancel");
  const bool inside = backend_->owns_current_thread() || std::this_thread::get_id() == timer_thread_.get_id();
  if (!inside) {
    shutdown(true);
    return;
  }
  // A task or hook cannot join the thread it runs on: finish the shutdown from a helper thread.
  std::thread([self = shared_from_this()] { self->shutdown(true); }).detach();
}

void Engine::reset() {
  check_owner("reset");
  {
    std::lock_guard lock(mu_);
    if (running_) throw std::logic_error(fmt::format("{}::reset(): cannot reset during run()", config_.queue_name));
  }
  if (backend_->worker_count() > 0) {
    throw std::logic_error(
        fmt::format("{}::reset(): cannot reset while workers are running; call shutdown() first", config_.queue_name));
  }
  abort(true);
  await_idle(std::nullopt);
  std::lock_guard lock(mu_);
  results_.clear();
  reported_ = 0;
  ready_.clear();
  outstanding_ = 0;
  scheduled_ = 0;
  accepting_ = true;
  halt_ = false;
  closed_ = false;
  started_ = false;
  timed_out_ = false;
  shutdown_signal_ = false;
  done_cv_.notify_all();
}

void Engine::clear_results() {
  check_owner("clear_results");
  std::lock_guard lock(mu_);
  results_.clear();
  results_.shrink_to_fit();
  reported_ = 0;
}

std::size_t Engine::active_count() const {
  check_owner("active_count");
  std::lock_guard lock(mu_);
  return active_.size();
}

std::size_t Engine::pending_count() const {
  check_owner("pending_count");
  std::lock_guard lock(mu_);
  return outstanding_ - active_.size();
}

bool Engine::closed() const {
  check_owner("closed");
  std::lock_guard lock(mu_);
  return closed_;
}

std::vector<TaskResult> Engine::results() const {
  check_owner("results");
  std::lock_guard lock(mu_);
  return results_;
}

Stats Engine::stats() const {
  check_owner("stats");
  std::lock_guard lock(mu_);
  return Stats{outstanding_ - active_.size(), active_.size(), scheduled_, results_.size(),
               backend_->worker_count(),      closed_};
}

}  // namespace osiiso::detail
