// SPDX-License-Identifier: MIT
// One MpiQueue session as rank 0 sees it: the serving ranks, what each holds, and the messages
// to and from them. Used only on rank 0's messaging thread (MpiBackend).
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/backend.hpp>
#include <osiiso/detail/mpi_backend.hpp>
#include <osiiso/detail/mpi_protocol.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace osiiso::detail {

class Engine;
class MpiChannel;
class MpiWorld;

// The same exception with "(on MPI rank R, host H)" after its message (WorkerDiedError and
// OsiisoError keep their type; others are returned as they are).
[[nodiscard]] std::exception_ptr name_rank(const std::exception_ptr& error, int rank, const std::string& host);

class RootSession {
 public:
  RootSession(Engine& engine, MpiWorld& world, const MpiBackendConfig& config);
  RootSession(const RootSession&) = delete;
  RootSession& operator=(const RootSession&) = delete;

  // Sends Open to every rank not lost before.
  void open();
  // Sends Close to every live rank and waits (bounded) until each says Closed; what is still
  // running fails. Ranks that do not answer in time are lost.
  void close();
  // Hands ready attempts to the ranks (see docs/mpi.md, "Scheduling"); true when it took any.
  bool dispatch();
  // Sends the batches dispatch() and interrupt() built.
  void send();
  // Handles every message that arrived; true when there was one.
  bool receive();
  // Stops attempt `attempt` on its rank; false when no rank holds it.
  bool interrupt(const Attempt& attempt);
  // Loses the ranks whose lease expired.
  void check_leases(Clock::time_point now);
  // Fails every attempt a rank holds with `error` (the session's machinery failed).
  void fail_running(const std::exception_ptr& error);

  // Whether any rank holds an attempt (then replies must be polled for).
  [[nodiscard]] bool outstanding() const;
  // Whether any rank is still serving.
  [[nodiscard]] bool any_live() const;
  // Workers on the live ranks.
  [[nodiscard]] std::size_t live_workers() const;

 private:
  struct Rank {
    int rank = 0;
    std::string host;
    std::size_t outstanding = 0;
    bool lost = false;
    bool closed = false;
    Clock::time_point last_heard{};
    std::string jobs;                  // the Jobs message being built
    std::vector<std::uint64_t> kills;  // the Kill message being built
  };
  struct Held {
    Attempt attempt;
    std::size_t rank_index = 0;
  };

  [[nodiscard]] std::size_t prefetch() const;
  // Adds `attempt` to the batch of `rank` (or fails it when it cannot be sent).
  void hand_over(std::size_t index, Attempt attempt, bool ahead);
  void send_jobs(Rank& rank);
  void send_kills(Rank& rank);
  [[nodiscard]] std::size_t index_of(int source) const;
  void on_reply(std::size_t index, const ReplyMessage& reply);
  // The rank gets nothing more; the attempts it held fail (or retry, per their retries).
  void lose(Rank& rank, const std::string& why);
  [[nodiscard]] std::exception_ptr lost_error(const Rank& rank, std::string_view task, const std::string& why) const;
  // Completes `attempt` with `outcome` as run on `rank`, counting it as an attempt.
  void finish(const Attempt& attempt, Outcome outcome, const Rank& rank);

  Engine& engine_;
  MpiWorld& world_;
  MpiChannel& channel_;
  const MpiBackendConfig& config_;
  std::vector<Rank> ranks_;
  std::unordered_map<std::uint64_t, Held> held_;
  // Moving average of how long a task runs on its worker, in microseconds (0: none seen yet).
  double run_us_ = 0;
};

}  // namespace osiiso::detail
