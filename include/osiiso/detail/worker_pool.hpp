// SPDX-License-Identifier: MIT
// A pool of local worker processes, driven by one thread: it starts workers, feeds each one job
// at a time or several (queued behind the one it runs), reads replies, kills and reaps. It knows nothing of the engine:
// jobs come from and outcomes go to a PoolListener, so any backend (the ProcessQueue poller, a serving MPI rank) can
// drive it around its own event loop.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/event_loop.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/launcher.hpp>
#include <osiiso/detail/worker_slot.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace osiiso::detail {

struct PoolConfig {
  // Names the queue in the messages of the errors tasks get.
  std::string queue_name = "ProcessQueue";
  LauncherConfig launch{};
  // SIGTERM -> SIGKILL escalation when a job is killed.
  Seconds kill_grace{std::chrono::milliseconds(100)};
  // Largest frame accepted in either direction.
  std::size_t max_frame_size = kMaxFrameSize;
  // A request every new worker runs before its first job (encode_request(); empty: none), and its
  // name.
  std::string initializer_request{};
  std::string initializer_name{};
  // A worker is replaced after this many jobs (0: never), or when its resident memory exceeds
  // max_worker_memory bytes after a job.
  std::size_t max_jobs_per_worker = 0;
  std::optional<std::size_t> max_worker_memory{};
  // Most jobs a worker holds at once: the one it runs and those queued behind it in its request
  // pipe (nullopt: sized from the measured run time; 1: one at a time).
  std::optional<std::size_t> max_jobs_in_flight = 1;
};

// One job for one worker.
struct PoolJob {
  std::uint64_t id = 0;                       // echoed by the worker's reply
  RequestView request;                        // the registered name and the argument archive
  std::shared_ptr<const void> owner;          // keeps `request` and `name` alive while the job is the pool's
  std::string_view name;                      // the task's name, for messages
  std::optional<std::size_t> memory_limit{};  // bytes the job may map beyond its idle worker
  bool deferred = false;                      // from next_job_ahead(): it begins when job_began() says
};

// Where a pool gets jobs and sends outcomes; called on the pool's thread.
class PoolListener {
 public:
  PoolListener() = default;
  PoolListener(const PoolListener&) = delete;
  PoolListener& operator=(const PoolListener&) = delete;
  virtual ~PoolListener() = default;

  // The next job for an idle worker; nullopt when there is none.
  virtual std::optional<PoolJob> next_job() = 0;
  // The next job to queue behind a running one (max_jobs_in_flight > 1): it has not begun until
  // job_began(); nullopt when there is none.
  virtual std::optional<PoolJob> next_job_ahead() { return std::nullopt; }
  // Job `id`, a deferred one, begins now.
  virtual void job_began(std::uint64_t /*id*/) {}
  // Job `id` got its reply from worker `worker_pid`: a Value or an Error frame.
  virtual void job_replied(std::uint64_t id, const Frame& reply, int worker_pid) = 0;
  // Job `id` ended without a reply (its worker died, broke the protocol, or its task called
  // exit()); `worker_pid` is the worker it was given to (0: none).
  virtual void job_failed(std::uint64_t id, std::exception_ptr error, int worker_pid) = 0;
  // No worker can run anything now: every waiting job fails with `error`.
  virtual void fail_waiting(const std::exception_ptr& error) = 0;
};

class LocalWorkerPool {
 public:
  // Tags below kFirstSlotTag are the driver's own, except kServerTag (the fork server's socket).
  static constexpr std::uint64_t kServerTag = 1;
  static constexpr std::uint64_t kFirstSlotTag = 4;

  LocalWorkerPool(PoolConfig config, PoolListener& listener, EventLoop& loop);
  LocalWorkerPool(const LocalWorkerPool&) = delete;
  LocalWorkerPool& operator=(const LocalWorkerPool&) = delete;
  // Kills and reaps whatever is left.
  ~LocalWorkerPool();

  // Before the driver waits: feed idle workers, start the missing ones (up to `want`), feed again.
  void prepare(std::size_t want);
  // The longest the driver may wait before calling expire().
  [[nodiscard]] Clock::duration next_timeout(Clock::duration cap) const;
  // Handles a ready tag; false when it is not the pool's.
  bool handle(std::uint64_t tag);
  // After the driver waited: deadlines (start, kill escalation), then reaping.
  void expire();
  // Stops job `id` (its worker is killed and replaced); nothing is reported for it.
  void kill_job(std::uint64_t id);
  // Graceful stop: idle workers exit at end of file, busy ones are killed, all are reaped (SIGKILL
  // for what is left at `timeout`); then the fork server. Blocks; ignores the driver's tags.
  void stop(Seconds timeout);
  // Kills and reaps everything at once; returns the ids of the jobs that were running.
  std::vector<std::uint64_t> kill_all() noexcept;
  // Workers alive, being started by the fork server, or not yet reaped.
  [[nodiscard]] std::size_t size() const noexcept { return slots_.size() + launcher_.pending(); }

 private:
  [[nodiscard]] std::size_t alive() const noexcept;
  [[nodiscard]] bool any_serving() const noexcept;
  void feed(std::size_t want);
  // Gives every serving worker jobs up to `limit` held; false when there were no more jobs.
  bool fill(std::size_t limit);
  enum class Given { Yes, Failed, Refused };
  // Hands `job` to `slot` (first or queued); Refused: it must wait for a worker that holds none.
  Given give(WorkerSlot& slot, PoolJob& job, Clock::time_point now);
  // The backlog's first job, else the listener's.
  std::optional<PoolJob> take_job(bool ahead);
  // The jobs a worker may hold now.
  [[nodiscard]] std::size_t jobs_in_flight() const noexcept;
  // Fails the backlog and what the listener has waiting.
  void fail_all_waiting(const std::exception_ptr& error);
  // A dead worker's jobs that never began go to the backlog (not attempts: they never ran).
  void requeue(WorkerSlot& slot);
  // The worker reports that queued job `id` begins.
  bool take_begin(WorkerSlot& slot, std::uint64_t id);
  // Withdraws queued job `job` of `slot` with a Cancel frame.
  void withdraw(WorkerSlot& slot, RunningJob& job);
  // A reply of `slot` at `now`: feeds the run-time estimate.
  void measure(WorkerSlot& slot, const RunningJob& job, Clock::time_point now) noexcept;
  void deadlines();
  void add_worker(LaunchedWorker launched);
  void on_slot_event(WorkerSlot& slot, SlotEvent event);
  void read_replies(WorkerSlot& slot);
  bool take_frames(WorkerSlot& slot);
  bool take_reply(WorkerSlot& slot, const Frame& frame);
  // The worker announced its arenas (worker_pool_arenas.cpp); false when the announcement was corrupt.
  bool attach_arenas(WorkerSlot& slot, std::string_view announcement);
  void write_request(WorkerSlot& slot);
  void fail_slot(WorkerSlot& slot, const std::string& message);
  // Idle worker `slot` runs the initializer first.
  void initialize(WorkerSlot& slot);
  // The initializer of `slot` failed (`why`): the job it was to run fails, the worker is
  // replaced after a pause.
  void initializer_failed(WorkerSlot& slot, const std::string& why);
  // After a job: replaced when it ran its last job or grew past max_worker_memory.
  [[nodiscard]] bool worn_out(const WorkerSlot& slot, const RunningJob& job, FrameType reply) const;
  void close_reply(WorkerSlot& slot) noexcept;
  void handle_server();
  void server_failed();
  void reap();
  void forget(WorkerSlot& slot) noexcept;
  [[nodiscard]] Clock::duration grace() const;

  PoolConfig config_;
  PoolListener& listener_;
  EventLoop& loop_;
  Launcher launcher_;
  std::map<std::uint64_t, WorkerSlot> slots_;
  // Deferred jobs taken from the listener that no worker holds (their worker died before they
  // began, or they wait for a worker that holds nothing): served before the listener's.
  std::deque<PoolJob> backlog_;
  // Mean run time of a job in microseconds as the pool sees it (0: none measured yet).
  double run_us_ = 0;
  std::uint64_t next_serial_ = kFirstSlotTag >> 2;
  // Left uninitialised: zero-filling it faulted in 64 pages on the way to a new pool's first result.
  static constexpr std::size_t kReadBufferSize = std::size_t{1} << 18;
  std::unique_ptr<char[]> read_buffer_ = std::make_unique_for_overwrite<char[]>(kReadBufferSize);
};

}  // namespace osiiso::detail
