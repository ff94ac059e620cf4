// SPDX-License-Identifier: MIT
// MpiQueue: the ProcessQueue model across the ranks of an MPI job (CMake component `mpi`,
// target osiiso::mpi). Rank 0 keeps the queue; every other rank runs its tasks in local worker
// processes, so a crash or a timeout costs one worker on one rank, never the job.
#pragma once

#include <osiiso/call.hpp>
#include <osiiso/chrono.hpp>
#include <osiiso/context.hpp>
#include <osiiso/detail/engine_ref.hpp>
#include <osiiso/detail/hooks.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/queue_front.hpp>
#include <osiiso/detail/task_traits.hpp>
#include <osiiso/enums.hpp>
#include <osiiso/queue_options.hpp>
#include <osiiso/registry.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace osiiso {

/// Options of an MpiQueue: ProcessQueueOptions' fields but `workers`, in the same order, with the
/// rank layout around them.
struct MpiQueueOptions {
  /// Worker processes on every serving rank.
  std::size_t workers_per_rank = 1;
  /// Maximum outstanding tasks (0 = unbounded); a full queue blocks submit().
  std::size_t size = 0;
  /// Default time limit of run().
  std::optional<Seconds> timeout{};
  /// Finite: run() returns when idle; Infinite: run() waits for shutdown().
  Mode mode = Mode::Finite;
  /// Whether the first failure cancels the rest.
  FailPolicy fail_policy = FailPolicy::Continue;
  /// What a run timeout cancels.
  OnExit on_exit = OnExit::CompletePriority;
  /// Called as each attempt is sent to a rank (exceptions are logged and swallowed).
  StartHook on_start{};
  /// Called with each final result (exceptions are logged and swallowed).
  CompleteHook on_complete{};
  /// Called before each retry (exceptions are logged and swallowed).
  RetryHook on_retry{};
  /// The longest a timeout or cancellation may wait to take effect.
  Seconds poll{std::chrono::milliseconds(50)};
  /// Start method of the worker processes on every rank (default: fork).
  Context context{};
  /// Queue-wide limit of attempts started per second, retries included (nullopt: unlimited).
  std::optional<double> rate{};
  /// Attempts that may start back to back after an idle period, within `rate`.
  std::size_t burst = 1;
  /// `osiiso::call(setup, args...)` of a registered function, run once in every worker process
  /// on every rank before its first task; a failure fails the task it was to run.
  std::optional<Call> initializer{};
  /// Replace a worker process after this many tasks (0: never).
  std::size_t max_tasks_per_worker = 0;
  /// Replace a worker process whose resident memory exceeds this many bytes after a task.
  std::optional<std::size_t> max_worker_memory{};
  /// Every attempt's memory cap in bytes (TaskOptions::memory_limit overrides it).
  std::optional<std::size_t> memory_limit{};
  /// The serving ranks to use (empty: every rank but 0).
  std::vector<int> ranks{};
  /// Tasks a rank may hold beyond one per worker, so that no worker waits for rank 0 between tasks
  /// (nullopt: about a millisecond of work per worker, from the measured task time, 1 to 32 tasks).
  std::optional<std::size_t> prefetch{};
  /// A rank that sends nothing for this long is lost: its tasks fail (or retry) and it gets no more.
  Seconds lease{5.0};
  /// Whether rank 0 also runs tasks in `workers_per_rank` local worker processes.
  bool root_runs_tasks = false;

  /// Throws std::invalid_argument when a field is out of range (ProcessQueue's messages for the shared fields).
  void validate() const;
};

namespace mpi {

/**
 * Call at the top of `main` instead of osiiso::init. Initializes MPI (MPI_THREAD_SERIALIZED);
 * returns on rank 0; on every other rank it serves the tasks of rank 0's MpiQueues until rank 0's
 * program ends (or calls finalize()), then finalizes MPI and exits with status 0. Rank 0
 * finalizes MPI at exit.
 */
void init(int argc, char** argv);
/// Rank 0: ends the serving ranks and finalizes MPI now instead of at exit (no MpiQueue may be left).
void finalize();
/// This process's rank (0 before init).
[[nodiscard]] int rank();
/// The number of ranks in the job (1 before init).
[[nodiscard]] int size();

}  // namespace mpi

namespace detail {

struct MpiQueueLayout {
  std::shared_ptr<Engine> engine;
  std::size_t serving_ranks = 0;
};

// The engine of an MpiQueue on the serving ranks of this job; InvalidStateError before mpi::init
// or while another MpiQueue exists.
MpiQueueLayout make_mpi_queue_engine(MpiQueueOptions options);

}  // namespace detail

/**
 * A task queue whose tasks run on the other ranks of an MPI job (`mpirun -np N ./app`), each in a
 * local worker process there. Same submission, handle, group, hook, run and summary API as
 * ProcessQueue; registered functions only. One MpiQueue may exist at a time, on rank 0.
 *
 * ```cpp
 * int main(int argc, char** argv) {
 *   osiiso::mpi::init(argc, argv);            // other ranks serve here
 *   osiiso::MpiQueue q({.workers_per_rank = 2});
 *   q.map(compute, std::vector{1, 2, 3});
 *   osiiso::RunSummary summary = q.run();
 * }
 * ```
 */
class MpiQueue : public detail::QueueFront<MpiQueue> {
 public:
  /// The value type of a handle for `f(args...)`.
  template <class F, class... A>
  using result_t = process_result_t<F, A...>;

  /// Validates `options` (std::invalid_argument); the ranks start serving with start(), run() or join().
  explicit MpiQueue(MpiQueueOptions options = {}) : MpiQueue(detail::make_mpi_queue_engine(std::move(options))) {}

  /// Graceful shutdown, or forced when the scope is left by an exception.
  ~MpiQueue() = default;

  MpiQueue(const MpiQueue&) = delete;
  MpiQueue& operator=(const MpiQueue&) = delete;

  /// The number of ranks that serve this queue's tasks (rank 0 not counted).
  [[nodiscard]] std::size_t ranks() const noexcept { return serving_ranks_; }

  /// The payload and default name of `f(args...)` (used by the shared front).
  template <class F, class... A>
  static detail::PreparedTask prepare(F&& f, A&&... args) {
    return detail::make_process_work(std::forward<F>(f), std::forward<A>(args)...);
  }
  /// The payload of one call of a heterogeneous group.
  static detail::PreparedTask prepare(const Call& call) { return call.prepare_for_processes(); }

 private:
  explicit MpiQueue(detail::MpiQueueLayout layout)
      : QueueFront(std::move(layout.engine)), serving_ranks_(layout.serving_ranks) {}

  std::size_t serving_ranks_;
};

}  // namespace osiiso
