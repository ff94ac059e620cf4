// SPDX-License-Identifier: MIT
// The control plane shared by ThreadQueue and ProcessQueue: submission, priorities, timers,
// retries, timeouts, cancellation, fail policies, runs and shutdown. Backends only run attempts.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/backend.hpp>
#include <osiiso/detail/hooks.hpp>
#include <osiiso/detail/lifecycle.hpp>
#include <osiiso/detail/process_identity.hpp>
#include <osiiso/detail/rate_gate.hpp>
#include <osiiso/detail/ready_queue.hpp>
#include <osiiso/detail/task_state.hpp>
#include <osiiso/detail/time_source.hpp>
#include <osiiso/detail/timer_queue.hpp>
#include <osiiso/enums.hpp>
#include <osiiso/queue_options.hpp>
#include <osiiso/run_summary.hpp>
#include <osiiso/stats.hpp>
#include <osiiso/task_options.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace osiiso::detail {

// Where a task is; guarded by Engine::mu_. Changed only by the engine's named moves:
// make_ready_locked (Queued), schedule_locked (Scheduled), activate_locked (Active),
// suspend_locked (Active to RetryWait) and settle_locked (Done).
enum class Where : std::uint8_t { Queued, Scheduled, RetryWait, Active, Done };

struct Task {
  TaskStatePtr state;
  // Never reset while the Task lives: an abandoned attempt may still be running it.
  std::unique_ptr<Work> work;
  std::optional<Seconds> timeout;
  Seconds next_retry_delay{0.0};
  double backoff = 1.0;
  std::optional<std::size_t> memory_limit;
  std::uint64_t seq = 0;
  // Guarded by Engine::mu_.
  std::uint64_t attempt_id = 0;
  int retries = 0;
  int priority = 3;
  // Its place in Engine::active_ while Active.
  std::uint32_t active_index = 0;
  Where where = Where::Queued;
  // Active, but its attempt waits in the backend and has not begun (see AttemptStart::Deferred).
  bool awaiting_begin = false;
};

using TaskPtr = std::shared_ptr<Task>;

inline Work& Attempt::work() const { return *task->work; }

// Whether take_ready() applies the rate gate (failing a backlog at once does not wait for it).
enum class GateUse { Respect, Bypass };

// When an attempt begins: as it is taken, or when the backend says so (Engine::begin_attempt), for
// a backend that queues attempts before they run (MpiQueue's prefetch). Until it begins an attempt
// counts as pending, not active; its status, attempt count, start time, on_start hook and timeout
// all wait for the beginning.
enum class AttemptStart { AtTake, Deferred };

// The queue options the engine needs, common to both queues.
struct EngineConfig {
  std::optional<std::size_t> workers{};
  std::size_t auto_limit = 1;
  std::size_t size = 0;
  std::optional<Seconds> timeout{};
  Mode mode = Mode::Finite;
  FailPolicy fail_policy = FailPolicy::Continue;
  OnExit on_exit = OnExit::CompletePriority;
  StartHook on_start{};
  CompleteHook on_complete{};
  RetryHook on_retry{};
  std::optional<double> rate{};
  std::size_t burst = 1;
  // Whether the backend can cap an attempt's memory (TaskOptions::memory_limit).
  bool memory_limits = false;
  std::string queue_name{};  // "ThreadQueue" or "ProcessQueue", for messages
  // Every now() and timed wait of the engine; tests drive a fake one.
  std::shared_ptr<const TimeSource> clock = steady_time_source();
};

// The engine configuration from either queue's options (their common fields), validating them.
template <class QueueOptions>
EngineConfig make_engine_config(QueueOptions& options, std::string_view queue_name) {
  options.validate();
  // Read once: hardware_concurrency() opens /sys on every call, on the way to a queue's first result.
  static const std::size_t hardware = std::max(1U, std::thread::hardware_concurrency());
  return EngineConfig{
      .workers = options.workers,
      .auto_limit = std::min<std::size_t>(32, hardware),
      .size = options.size,
      .timeout = options.timeout,
      .mode = options.mode,
      .fail_policy = options.fail_policy,
      .on_exit = options.on_exit,
      .on_start = std::move(options.on_start),
      .on_complete = std::move(options.on_complete),
      .on_retry = std::move(options.on_retry),
      .rate = options.rate,
      .burst = options.burst,
      .queue_name = std::string(queue_name),
  };
}

// Every member is defined in the file of its concern under src/engine/: admission.cpp (submit,
// backpressure, group ids), dispatch.cpp (the ready queue, scaling, take_ready), attempts.cpp
// (completion, retries, timers and timeouts), settlement.cpp (results, hooks, fail_first, cancel
// and abort) and lifecycle.cpp (start, run, join, shutdown, reset, queries, ownership checks).
class Engine : public std::enable_shared_from_this<Engine> {
 public:
  explicit Engine(EngineConfig config);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  ~Engine();

  // Must be called once, before the first submission.
  void set_backend(std::unique_ptr<Backend> backend);
  // The backend set by set_backend().
  [[nodiscard]] Backend& backend() const { return *backend_; }

  // Admits one task (blocking while a bounded queue is full) and returns its shared state.
  TaskStatePtr submit(std::unique_ptr<Work> work, const TaskOptions& options, std::string default_name);
  // A fresh group id ("group-N").
  std::string next_group_id();

  // Backend side: the next runnable attempt, or nullopt when nothing is runnable. `claim` runs
  // under the engine lock as the attempt becomes active, so that an interrupt can never reach the
  // backend before the backend knows where the attempt runs.
  std::optional<Attempt> take_ready(const std::function<void(const Attempt&)>& claim = {},
                                    GateUse gate = GateUse::Respect, AttemptStart start = AttemptStart::AtTake);
  // Backend side: a Deferred attempt began running (its timeout counts from now).
  void begin_attempt(const Attempt& attempt);
  // Backend side: report what an attempt produced; false when the attempt was already settled.
  bool complete(const Attempt& attempt, Outcome outcome);
  // Backend side: complete(), then take_ready(claim) for the same worker. A success is counted
  // and the next attempt taken under one hold of the engine lock.
  std::optional<Attempt> complete_and_take(const Attempt& attempt, Outcome outcome,
                                           const std::function<void(const Attempt&)>& claim);

  // Handle side: cancels one task; false when it had finished already.
  bool cancel_task(const TaskPtr& task);
  // Handle side: starts the workers before a wait, unless closed, started or inside run().
  void ensure_started();

  // True in a forked copy of the process that created the engine: it must not be used there, and
  // its threads do not exist (the queue's destructor abandons it instead of stopping it).
  [[nodiscard]] bool foreign() const noexcept;

  // Starts the workers.
  void start();
  // Runs until nothing is outstanding (Finite) or until shutdown (Infinite); see RunOptions.
  RunSummary run(const RunOptions& options);
  // Waits until nothing is outstanding.
  void join();
  // Drains (or, forced, cancels) everything, stops the workers and closes the queue.
  void shutdown(bool force);
  // A forced shutdown that may be called from any thread, tasks and hooks included.
  void cancel();
  // Makes a shut-down queue reusable.
  void reset();
  // Drops accumulated results.
  void clear_results();

  // Attempts running now.
  [[nodiscard]] std::size_t active_count() const;
  // Outstanding tasks not running now (queued, scheduled, waiting to retry).
  [[nodiscard]] std::size_t pending_count() const;
  // True once shut down, until reset().
  [[nodiscard]] bool closed() const;
  // Every result since the last reset() or clear_results().
  [[nodiscard]] std::vector<TaskResult> results() const;
  // Finite or infinite, as configured.
  [[nodiscard]] Mode mode() const noexcept { return config_.mode; }
  // A snapshot of the counters.
  [[nodiscard]] Stats stats() const;

 private:
  struct Settled {
    TaskPtr task;
    TaskStatus status = TaskStatus::Pending;
    Outcome outcome{};
    std::string message{};
  };
  // A cancellation of `task` to settle. (Built member by member: GCC 12 at -O3 takes the empty
  // exception_ptr of a braced Settled for uninitialised.)
  static Settled cancellation(TaskPtr task, const char* message) {
    Settled settled;
    settled.task = std::move(task);
    settled.status = TaskStatus::Cancelled;
    settled.message = message;
    return settled;
  }

  // lifecycle.cpp
  // InvalidStateError in a forked copy of the creating process.
  void check_owner(std::string_view caller) const;
  // Also refuses dispatch threads, where a blocking call would wait for itself.
  void check_may_block(std::string_view caller) const;
  // start() on behalf of `caller` (named in the error on a shut-down queue).
  void start_as(std::string_view caller);
  // Starts the workers and wakes them for what is ready.
  void start_locked();
  // Stops the backend's workers and marks them stopped.
  void stop_workers();
  // Waits until nothing is outstanding, at most `timeout` on the engine clock; true when idle.
  bool await_idle(std::optional<Seconds> timeout);

  // admission.cpp
  // ClosedError unless the queue admits tasks.
  void check_accepting_locked() const;
  // To Scheduled: the task waits in the timer heap until `at`.
  void schedule_locked(const TaskPtr& task, Clock::time_point at);

  // dispatch.cpp
  // True when the rate gate lets an attempt start now; otherwise arms a timer for when it opens.
  bool pass_gate_locked();
  // To Queued (from a new, scheduled or retry-waiting task), waking idle workers.
  void make_ready_locked(const TaskPtr& task);
  // To Active: a new attempt, begun at once unless Deferred.
  Attempt activate_locked(const TaskPtr& task, AttemptStart start);
  // The attempt of an Active task begins: running status, attempt count, deadline timer.
  void begin_locked(const TaskPtr& task);
  // Leaving Active: forgets the attempt (and that it had not begun).
  void deactivate_locked(const TaskPtr& task);
  // Asks the backend for the target worker count while the queue may scale.
  void scale_locked();
  // The configured workers, or one per backlogged task up to auto_limit.
  [[nodiscard]] std::size_t target_workers_locked() const;
  // Calls on_start for an attempt that began.
  void emit_start(const TaskStatePtr& state) const;
  // take_ready() under the lock; tasks cancelled by a halt go to `dropped`, to be finalized.
  std::optional<Attempt> take_locked(const std::function<void(const Attempt&)>& claim, GateUse gate, AttemptStart start,
                                     std::vector<Settled>& dropped);

  // attempts.cpp
  // Active to RetryWait: the attempt is over (failed or timed out), its outcome pending.
  void suspend_locked(const TaskPtr& task);
  // Retries a suspended task (after retry_delay) or fails it for good; releases the lock.
  void fail_attempt(std::unique_lock<std::mutex>& lock, const TaskPtr& task, const std::exception_ptr& error,
                    Placement placement = {});
  // Adds a timer, waking the timer thread when it is the earliest.
  void push_timer_locked(Clock::time_point at, const TaskPtr& task, TimerKind kind);
  // The timer thread.
  void timer_loop();
  // What one due timer does: a task becomes ready, or an attempt times out.
  void fire_locked(std::unique_lock<std::mutex>& lock, const Timer<TaskPtr>& timer);

  // settlement.cpp
  // To Done, from anywhere; false when the task was Done already.
  bool settle_locked(const TaskPtr& task);
  // Publishes a settled task's result; a failure under fail_first halts the queue.
  void finalize(Settled settled);
  // finalize() up to its counters: the result reaches the handle, the hooks and the callbacks.
  std::shared_ptr<const TaskResult> publish(Settled& settled);
  // finalize()'s counters; true when this failure halts the queue under fail_first.
  [[nodiscard]] bool count_locked(std::shared_ptr<const TaskResult> result, TaskStatus status);
  // finalize() for each, in order.
  void finalize_all(std::vector<Settled> settled);
  // Halts the queue, then abort_tasks().
  void abort(bool kill);
  // Cancels everything outstanding when `kill`, else all but must_complete tasks.
  void abort_tasks(bool kill);

  EngineConfig config_;
  const std::shared_ptr<const TimeSource> clock_;
  std::unique_ptr<Backend> backend_;

  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  std::condition_variable timer_cv_;
  std::condition_variable shutdown_cv_;
  Lifecycle lifecycle_;
  ReadyQueue<TaskPtr> ready_;
  TimerQueue<TaskPtr> timers_;
  // The Active tasks, each knowing its index (no allocation per attempt; removal swaps the last in).
  std::vector<TaskPtr> active_;
  // Shared with the tasks' states: a finished task's result exists once, however it is reached.
  std::vector<std::shared_ptr<const TaskResult>> results_;
  // results_[0, reported_) were in an earlier run's summary; the next run() reports the rest.
  std::size_t reported_ = 0;
  std::size_t outstanding_ = 0;
  std::size_t scheduled_ = 0;
  // The rate limit (nullopt without one); a GateOpen timer is pending while gate_armed_.
  std::optional<RateGate> gate_;
  bool gate_armed_ = false;
  // Tasks between a failed attempt and their next one.
  std::size_t retry_waiting_ = 0;
  // The statuses of results_, kept so that stats() does not scan the results.
  struct ResultCounts {
    std::size_t succeeded = 0;
    std::size_t failed = 0;
    std::size_t cancelled = 0;
    void count(TaskStatus status) noexcept {
      if (status == TaskStatus::Succeeded) ++succeeded;
      if (status == TaskStatus::Failed) ++failed;
      if (status == TaskStatus::Cancelled) ++cancelled;
    }
  } result_counts_;
  std::uint64_t seq_ = 0;
  std::uint64_t attempt_seq_ = 0;
  // Active tasks whose attempt has not begun (counted as pending).
  std::size_t awaiting_begin_ = 0;
  std::uint64_t group_seq_ = 0;
  FailPolicy fail_policy_;
  // Not part of the Lifecycle: it only tells the timer thread that ~Engine runs, in any phase.
  bool stopping_timer_ = false;
  const std::uint64_t fork_generation_;
  const int creator_pid_;
  std::thread timer_thread_;
};

// Keeps `engine` alive, untouched, until the process ends: a forked copy of a queue cannot stop
// threads and workers that exist only in its parent.
void abandon_engine(std::shared_ptr<Engine> engine) noexcept;

// The message of an exception ("unknown exception" when it is not a std::exception).
[[nodiscard]] std::string describe_error(const std::exception_ptr& error);

}  // namespace osiiso::detail
