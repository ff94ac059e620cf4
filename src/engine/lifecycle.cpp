// SPDX-License-Identifier: MIT
// The engine's lifecycle: construction, ownership checks, start, run, join, shutdown, reset and
// the queries.
#include <osiiso/detail/engine.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <new>

namespace osiiso::detail {

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

Engine::Engine(EngineConfig config)
    : config_(std::move(config)),
      clock_(config_.clock ? config_.clock : steady_time_source()),
      gate_(config_.rate ? std::optional<RateGate>(std::in_place, *config_.rate, config_.burst) : std::nullopt),
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

void Engine::set_backend(std::unique_ptr<Backend> backend) { backend_ = std::move(backend); }

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

bool Engine::await_idle(std::optional<Seconds> timeout) {
  std::unique_lock lock(mu_);
  const auto idle = [this] { return outstanding_ == 0; };
  if (!timeout) {
    done_cv_.wait(lock, idle);
    return true;
  }
  return wait_until(*clock_, done_cv_, lock, clock_->now() + to_clock_duration(*timeout), idle);
}

void Engine::start() { start_as("start"); }

void Engine::start_as(std::string_view caller) {
  check_owner(caller);
  std::lock_guard lock(mu_);
  if (lifecycle_.closed()) {
    throw ClosedError(fmt::format("{}::{}(): the queue has been shut down; call reset() before reusing it",
                                  config_.queue_name, caller));
  }
  start_locked();
}

void Engine::start_locked() {
  lifecycle_.start();
  scale_locked();
  if (!ready_.empty()) backend_->notify_ready();
}

void Engine::ensure_started() {
  if (foreign()) return;
  std::lock_guard lock(mu_);
  if (!lifecycle_.started() && !lifecycle_.closed() && !lifecycle_.running()) start_locked();
}

void Engine::stop_workers() {
  backend_->stop_workers();
  std::lock_guard lock(mu_);
  lifecycle_.stop_workers();
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
    if (lifecycle_.running()) {
      throw std::logic_error(fmt::format("{}::run(): run() is already in progress", config_.queue_name));
    }
    lifecycle_.begin_run();
    first = reported_;
    saved = fail_policy_;
    if (options.fail_policy) fail_policy_ = *options.fail_policy;
  }
  const auto started = clock_->now();
  const auto limit = options.timeout ? options.timeout : config_.timeout;
  bool timed_out = false;
  const auto restore = [&] {
    std::lock_guard lock(mu_);
    std::vector<TaskResult> window;
    for (std::size_t i = std::min(first, results_.size()); i < results_.size(); ++i) {
      if (!results_[i]->detached) window.push_back(*results_[i]);
    }
    reported_ = results_.size();
    lifecycle_.resume();
    lifecycle_.end_run();
    fail_policy_ = saved;
    // RunSummary times itself on the steady clock: give it the start that yields this clock's elapsed time.
    const auto elapsed = clock_->now() - started;
    return RunSummary::from_results(std::move(window), Clock::now() - elapsed, timed_out);
  };
  RunSummary summary;
  try {
    start_as("run");
    bool finished = true;
    if (config_.mode == Mode::Finite) {
      finished = await_idle(limit);
    } else {
      std::unique_lock lock(mu_);
      const auto closed = [this] { return lifecycle_.closed(); };
      if (limit) {
        finished = wait_until(*clock_, shutdown_cv_, lock, clock_->now() + to_clock_duration(*limit), closed);
      } else {
        shutdown_cv_.wait(lock, closed);
      }
    }
    if (!finished) {
      timed_out = true;
      abort(config_.on_exit == OnExit::Cancel);
      await_idle(std::nullopt);
    }
    if (config_.mode == Mode::Finite || timed_out) stop_workers();
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
    if (lifecycle_.closed()) {
      shutdown_cv_.notify_all();
      return;
    }
  }
  if (force) {
    {
      std::lock_guard lock(mu_);
      lifecycle_.begin_shutdown();
    }
    abort(true);
  } else {
    bool need_start = false;
    {
      std::lock_guard lock(mu_);
      need_start = outstanding_ > 0 && !lifecycle_.started();
    }
    if (need_start) start();
    {
      std::lock_guard lock(mu_);
      lifecycle_.begin_shutdown();
    }
    done_cv_.notify_all();  // wake submitters blocked on a full queue
    await_idle(std::nullopt);
    std::lock_guard lock(mu_);
    lifecycle_.halt();
  }
  stop_workers();
  {
    std::lock_guard lock(mu_);
    lifecycle_.close();
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
    if (lifecycle_.running()) {
      throw std::logic_error(fmt::format("{}::reset(): cannot reset during run()", config_.queue_name));
    }
    if (lifecycle_.phase() == Phase::Draining || lifecycle_.phase() == Phase::Closing) {
      throw std::logic_error(fmt::format("{}::reset(): cannot reset during shutdown()", config_.queue_name));
    }
  }
  if (backend_->worker_count() > 0) {
    throw std::logic_error(
        fmt::format("{}::reset(): cannot reset while workers are running; call shutdown() first", config_.queue_name));
  }
  abort(true);
  await_idle(std::nullopt);
  std::lock_guard lock(mu_);
  results_.clear();
  result_counts_ = {};
  reported_ = 0;
  ready_.clear();
  outstanding_ = 0;
  scheduled_ = 0;
  retry_waiting_ = 0;
  lifecycle_.reset();
  done_cv_.notify_all();
}

void Engine::clear_results() {
  check_owner("clear_results");
  std::vector<std::shared_ptr<const TaskResult>> dropped;
  {
    std::lock_guard lock(mu_);
    dropped.swap(results_);
    result_counts_ = {};
    reported_ = 0;
  }
  dropped = {};
  // A big fan-out's task states and results are freed piecemeal among live blocks, where glibc
  // keeps them mapped: hand the free pages back, so that a cleared queue shrinks the process.
  ::malloc_trim(0);
}

std::size_t Engine::active_count() const {
  check_owner("active_count");
  std::lock_guard lock(mu_);
  return active_.size() - awaiting_begin_;
}

std::size_t Engine::pending_count() const {
  check_owner("pending_count");
  std::lock_guard lock(mu_);
  return outstanding_ - (active_.size() - awaiting_begin_);
}

bool Engine::closed() const {
  check_owner("closed");
  std::lock_guard lock(mu_);
  return lifecycle_.closed();
}

std::vector<TaskResult> Engine::results() const {
  check_owner("results");
  std::lock_guard lock(mu_);
  std::vector<TaskResult> copies;
  copies.reserve(results_.size());
  for (const auto& result : results_) copies.push_back(*result);
  return copies;
}

Stats Engine::stats() const {
  check_owner("stats");
  std::lock_guard lock(mu_);
  return Stats{.pending = outstanding_ - (active_.size() - awaiting_begin_),
               .active = active_.size() - awaiting_begin_,
               .scheduled = scheduled_,
               .completed = results_.size(),
               .workers = backend_->worker_count(),
               .closed = lifecycle_.closed(),
               .succeeded = result_counts_.succeeded,
               .failed = result_counts_.failed,
               .cancelled = result_counts_.cancelled,
               .retrying = retry_waiting_};
}

}  // namespace osiiso::detail
