// SPDX-License-Identifier: MIT
// One MpiQueue session on rank 0: batches of attempts out, replies in, lost ranks found by lease.
#include <osiiso/detail/mpi_root_session.hpp>

#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/mpi_channel.hpp>
#include <osiiso/detail/mpi_world.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/reply_outcome.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <thread>
#include <utility>

namespace osiiso::detail {

std::exception_ptr name_rank(const std::exception_ptr& error, int rank, const std::string& host) {
  const auto where = [&](const std::exception& e) {
    return fmt::format("{} (on MPI rank {}, host {})", e.what(), rank, host);
  };
  try {
    std::rethrow_exception(error);
  } catch (const WorkerDiedError& e) {
    return std::make_exception_ptr(WorkerDiedError(where(e)));
  } catch (const OsiisoError& e) {
    return std::make_exception_ptr(OsiisoError(where(e)));
  } catch (...) {
    return error;
  }
}

RootSession::RootSession(Engine& engine, MpiWorld& world, const MpiBackendConfig& config)
    : engine_(engine), world_(world), channel_(world.channel()), config_(config) {}

void RootSession::open() {
  const std::string session = encode_session(config_.session);
  const auto now = Clock::now();
  for (const int r : config_.ranks) {
    Rank rank;
    rank.rank = r;
    rank.host = world_.host(r);
    rank.last_heard = now;
    rank.lost = world_.lost(r);
    ranks_.push_back(std::move(rank));
  }
  for (auto& rank : ranks_) {
    if (rank.lost) continue;
    try {
      channel_.send(rank.rank, MpiTag::Open, session);
    } catch (const std::exception& e) {
      lose(rank, fmt::format("could not be sent the start of the session ({})", e.what()));
    }
  }
}

void RootSession::close() {
  for (auto& rank : ranks_) {
    if (rank.lost) continue;
    send_kills(rank);
    try {
      channel_.send(rank.rank, MpiTag::Close, {});
    } catch (const std::exception& e) {
      lose(rank, fmt::format("could not be sent the end of the session ({})", e.what()));
    }
  }
  const auto margin = config_.session.stop_timeout + config_.session.kill_grace + Seconds{2.0};
  const auto deadline = Clock::now() + to_clock_duration(std::max(margin, config_.lease));
  while (std::any_of(ranks_.begin(), ranks_.end(), [](const Rank& r) { return !r.lost && !r.closed; })) {
    if (receive()) continue;
    if (Clock::now() >= deadline) {
      for (auto& rank : ranks_) {
        if (!rank.lost && !rank.closed) lose(rank, "did not confirm the end of the session in time");
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  channel_.flush(Seconds{2.0});
  fail_running(std::make_exception_ptr(OsiisoError("MpiQueue: the queue stopped while the task ran")));
  ranks_.clear();
}

std::size_t RootSession::prefetch() const {
  if (config_.prefetch) return *config_.prefetch;
  // About a millisecond of work per worker: latency to rank 0 then never idles a worker.
  constexpr double kBudgetUs = 1000.0;
  constexpr double kMaxPerWorker = 32.0;
  const double per_worker = run_us_ > 0 ? std::clamp(kBudgetUs / run_us_, 1.0, kMaxPerWorker) : 1.0;
  return static_cast<std::size_t>(per_worker) * config_.session.workers;
}

bool RootSession::dispatch() {
  bool took = false;
  const std::size_t workers = config_.session.workers;
  // One per worker first, round robin (a small backlog spreads over the ranks), then the window.
  for (const std::size_t cap : {workers, workers + prefetch()}) {
    bool progress = true;
    while (progress) {
      progress = false;
      for (std::size_t i = 0; i < ranks_.size(); ++i) {
        if (ranks_[i].lost || ranks_[i].outstanding >= cap) continue;
        const bool ahead = ranks_[i].outstanding >= workers;
        auto attempt = engine_.take_ready({}, GateUse::Respect, ahead ? AttemptStart::Deferred : AttemptStart::AtTake);
        if (!attempt) return took;
        took = progress = true;
        hand_over(i, std::move(*attempt), ahead);
      }
    }
  }
  return took;
}

void RootSession::hand_over(std::size_t index, Attempt attempt, bool ahead) {
  Rank& rank = ranks_[index];
  const auto& work = static_cast<const ProcessWork&>(attempt.work());
  const std::string& name = attempt.task->state->name;
  const RequestView request = work.request();
  if (request.encoded_size() > MpiChannel::kMaxPayload) {
    finish(attempt,
           Outcome{{},
                   std::make_exception_ptr(OsiisoError(fmt::format(
                       "MpiQueue: task '{}' has {} bytes of arguments, more than one MPI message can carry (2 GiB)",
                       name, request.arguments.size())))},
           rank);
    return;
  }
  if (rank.jobs.size() + request.encoded_size() > MpiChannel::kBatchBytes) send_jobs(rank);
  if (rank.lost) {  // the batch could not be sent
    finish(attempt, Outcome{{}, lost_error(rank, name, "could not be sent its tasks")}, rank);
    return;
  }
  append_job(rank.jobs, JobMessage{attempt.id, ahead, memory_limit_of(attempt, config_.memory_limit), name, request});
  const std::uint64_t id = attempt.id;
  held_.emplace(id, Held{std::move(attempt), index});
  ++rank.outstanding;
}

void RootSession::send() {
  for (auto& rank : ranks_) {
    if (rank.lost) continue;
    send_kills(rank);
    send_jobs(rank);
  }
  channel_.progress();
}

void RootSession::send_jobs(Rank& rank) {
  if (rank.jobs.empty()) return;
  try {
    channel_.send(rank.rank, MpiTag::Jobs, std::exchange(rank.jobs, {}));
  } catch (const std::exception& e) {
    lose(rank, fmt::format("could not be sent its tasks ({})", e.what()));
  }
}

void RootSession::send_kills(Rank& rank) {
  if (rank.kills.empty()) return;
  try {
    channel_.send(rank.rank, MpiTag::Kill, encode_ids(std::exchange(rank.kills, {})));
  } catch (const std::exception& e) {
    lose(rank, fmt::format("could not be told to stop a task ({})", e.what()));
  }
}

bool RootSession::interrupt(const Attempt& attempt) {
  const auto it = held_.find(attempt.id);
  if (it == held_.end() || it->second.attempt.task != attempt.task) return false;
  Rank& rank = ranks_[it->second.rank_index];
  held_.erase(it);  // the engine settled it already
  --rank.outstanding;
  if (!rank.lost) rank.kills.push_back(attempt.id);
  return true;
}

bool RootSession::receive() {
  bool any = false;
  while (auto message = channel_.poll()) {
    any = true;
    const auto index = index_of(message->source);
    if (index == ranks_.size() || ranks_[index].lost) continue;  // a lost rank is not heard again
    Rank& rank = ranks_[index];
    rank.last_heard = Clock::now();
    if (message->tag == MpiTag::Replies) {
      for (const auto& reply : decode_replies(message->bytes)) on_reply(index, reply);
    } else if (message->tag == MpiTag::Closed) {
      rank.closed = true;
    }
  }
  return any;
}

std::size_t RootSession::index_of(int source) const {
  for (std::size_t i = 0; i < ranks_.size(); ++i) {
    if (ranks_[i].rank == source) return i;
  }
  return ranks_.size();
}

void RootSession::on_reply(std::size_t index, const ReplyMessage& reply) {
  const auto it = held_.find(reply.id);
  if (it == held_.end() || it->second.rank_index != index) return;  // settled on rank 0 meanwhile
  if (reply.kind == ReplyKind::Started) {
    engine_.begin_attempt(it->second.attempt);
    return;
  }
  const Attempt attempt = std::move(it->second.attempt);
  held_.erase(it);
  constexpr double kWeight = 0.1;
  const auto ran = static_cast<double>(reply.run_us);
  run_us_ = run_us_ > 0 ? run_us_ + kWeight * (ran - run_us_) : std::max(1.0, ran);
  Rank& rank = ranks_[index];
  --rank.outstanding;
  Outcome outcome;
  if (reply.kind == ReplyKind::Failed) {
    outcome.error = name_rank(decode_exception(reply.payload), rank.rank, rank.host);
  } else {
    outcome = outcome_of_reply(attempt, reply.kind == ReplyKind::Value ? FrameType::Value : FrameType::Error,
                               reply.payload, memory_limit_of(attempt, config_.memory_limit));
  }
  if (reply.worker_pid > 0) outcome.placement.worker_pid = reply.worker_pid;
  finish(attempt, std::move(outcome), rank);
}

void RootSession::finish(const Attempt& attempt, Outcome outcome, const Rank& rank) {
  outcome.placement.rank = rank.rank;
  outcome.placement.host = rank.host;
  // An attempt the rank failed before a worker took it, or that may have reached a worker whose
  // report died with the rank, still counts: no free retries.
  engine_.begin_attempt(attempt);
  engine_.complete(attempt, std::move(outcome));
}

void RootSession::check_leases(Clock::time_point now) {
  for (auto& rank : ranks_) {
    if (!rank.lost && now - rank.last_heard > to_clock_duration(config_.lease)) {
      lose(rank, fmt::format("sent nothing for {}s (its process most likely died)", config_.lease.count()));
    }
  }
}

std::exception_ptr RootSession::lost_error(const Rank& rank, std::string_view task, const std::string& why) const {
  return std::make_exception_ptr(WorkerDiedError(fmt::format(
      "MpiQueue: MPI rank {} (host {}) was lost while it ran task '{}': it {}; the task may be retried on another "
      "rank, the lost rank is not used again",
      rank.rank, rank.host, task, why)));
}

void RootSession::lose(Rank& rank, const std::string& why) {
  rank.lost = true;
  rank.jobs.clear();
  rank.kills.clear();
  rank.outstanding = 0;
  world_.mark_lost(rank.rank);
  std::fprintf(stderr, "osiiso: MpiQueue lost MPI rank %d (host %s): it %s\n", rank.rank, rank.host.c_str(),
               why.c_str());
  const auto index = static_cast<std::size_t>(&rank - ranks_.data());
  std::vector<Attempt> stranded;
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->second.rank_index == index) {
      stranded.push_back(std::move(it->second.attempt));
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& attempt : stranded) {
    finish(attempt, Outcome{{}, lost_error(rank, attempt.task->state->name, why)}, rank);
  }
}

void RootSession::fail_running(const std::exception_ptr& error) {
  auto stranded = std::exchange(held_, {});
  for (auto& rank : ranks_) rank.outstanding = 0;
  for (auto& [id, held] : stranded) engine_.complete(held.attempt, Outcome{{}, error});
}

bool RootSession::outstanding() const {
  return std::any_of(ranks_.begin(), ranks_.end(), [](const Rank& r) { return !r.lost && r.outstanding > 0; });
}

bool RootSession::any_live() const {
  return std::any_of(ranks_.begin(), ranks_.end(), [](const Rank& r) { return !r.lost; });
}

std::size_t RootSession::live_workers() const {
  return static_cast<std::size_t>(std::count_if(ranks_.begin(), ranks_.end(), [](const Rank& r) { return !r.lost; })) *
         config_.session.workers;
}

}  // namespace osiiso::detail
