// SPDX-License-Identifier: MIT
// A serving rank of an MpiQueue: between an Open and a Close from rank 0 it runs the jobs rank 0
// sends in a local worker pool (the one ProcessQueue uses), and answers with their replies.
#pragma once

#include <osiiso/detail/mpi_channel.hpp>
#include <osiiso/detail/mpi_pacing.hpp>
#include <osiiso/detail/mpi_protocol.hpp>
#include <osiiso/detail/worker_pool.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace osiiso::detail {

// The local worker pool that runs a session's tasks (on a serving rank, or on rank 0 itself).
[[nodiscard]] PoolConfig session_pool_config(const SessionConfig& session);

class RankServer final : public PoolListener {
 public:
  explicit RankServer(MpiChannel& channel) : channel_(channel) {}

  // Serves queue sessions until rank 0 says Exit.
  void serve();
  // Whether rank 0's Exit said the job lost a rank (MPI_Finalize may then never return).
  [[nodiscard]] bool job_lost_a_rank() const noexcept { return job_lost_a_rank_; }

 private:
  // A job received and not yet handed to a worker; `batch` owns the bytes it views.
  struct QueuedJob {
    JobMessage job;
    std::shared_ptr<const std::string> batch;
  };

  // Runs one session; false when the program ends (Exit arrived instead of Close).
  bool run_session(const SessionConfig& config);
  // Handles one message during a session; false when the session ends.
  bool handle(MpiMessage message, LocalWorkerPool& pool);
  void kill(std::uint64_t id, LocalWorkerPool& pool);
  void reply(std::uint64_t id, ReplyKind kind, int worker_pid, std::string_view payload, std::uint32_t run_us = 0);
  // Forgets running job `id`; how long it ran (in microseconds), nullopt when it was not running.
  std::optional<std::uint32_t> finish(std::uint64_t id);
  // Sends what accumulated (one Replies message), or a Heartbeat when nothing was sent for a while.
  void flush(Clock::time_point now);

  // A job leaves the waiting queue for a worker: to run now, or (`ahead`) queued behind the one it
  // runs, beginning when job_began() says.
  std::optional<PoolJob> take_waiting(bool ahead);

  // PoolListener
  std::optional<PoolJob> next_job() override;
  std::optional<PoolJob> next_job_ahead() override;
  void job_began(std::uint64_t id) override;
  void job_replied(std::uint64_t id, const Frame& reply, int worker_pid) override;
  void job_failed(std::uint64_t id, std::exception_ptr error, int worker_pid) override;
  void fail_waiting(const std::exception_ptr& error) override;

  MpiChannel& channel_;
  PollPacing pacing_;
  Seconds heartbeat_{1.0};
  Clock::time_point last_sent_{};
  std::deque<QueuedJob> waiting_;
  // A job handed to the pool: since when it runs, and whether rank 0 still waits to hear that it began.
  struct Running {
    Clock::time_point since;
    bool announce = false;
  };
  std::unordered_map<std::uint64_t, Running> running_;
  std::string outbox_;
  bool exit_requested_ = false;
  bool job_lost_a_rank_ = false;
};

}  // namespace osiiso::detail
