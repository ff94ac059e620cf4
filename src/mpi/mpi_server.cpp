// SPDX-License-Identifier: MIT
// A serving rank: queue sessions from rank 0, each on its own local worker pool.
#include <osiiso/detail/mpi_server.hpp>

#include <osiiso/detail/event_loop.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <utility>

namespace osiiso::detail {

PoolConfig session_pool_config(const SessionConfig& session) {
  return PoolConfig{
      .queue_name = "MpiQueue",
      .launch = {.method = session.method, .executable = {}, .start_timeout = session.start_timeout},
      .kill_grace = session.kill_grace,
      .max_frame_size = kMaxFrameSize,
      .initializer_request = session.initializer_request,
      .initializer_name = session.initializer_name,
      .max_jobs_per_worker = session.max_jobs_per_worker,
      .max_worker_memory = session.max_worker_memory,
      // Chunked dispatch, as in a local ProcessQueue: a worker's next jobs wait in its pipe.
      .max_jobs_in_flight = std::nullopt,
  };
}

void RankServer::serve() {
  EventLoop idle_loop;  // nothing to watch between sessions: it only paces the polling
  while (!exit_requested_) {
    auto message = channel_.poll();
    const auto now = Clock::now();
    if (!message) {
      channel_.progress();
      const auto wait = pacing_.wait(now, PollPacing::kNap);
      if (idle_loop.wait(wait).empty()) PollPacing::idle_after(wait);
      continue;
    }
    pacing_.active(now);
    if (message->tag == MpiTag::Exit) {
      job_lost_a_rank_ = message->bytes == "\1";
      break;
    }
    if (message->tag != MpiTag::Open) continue;  // a late message of a session that ended
    try {
      if (!run_session(decode_session(message->bytes))) break;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "osiiso: MpiQueue rank %d: the session failed: %s\n", channel_.rank(), e.what());
      channel_.send(0, MpiTag::Closed, {});
    }
  }
  channel_.flush(Seconds{2.0});
}

bool RankServer::run_session(const SessionConfig& config) {
  heartbeat_ = config.heartbeat;
  waiting_.clear();
  running_.clear();
  outbox_.clear();
  EventLoop loop;
  LocalWorkerPool pool(session_pool_config(config), *this, loop);
  last_sent_ = Clock::now();
  for (;;) {
    while (auto message = channel_.poll()) {
      pacing_.active(Clock::now());
      if (!handle(std::move(*message), pool)) {
        waiting_.clear();
        pool.stop(config.stop_timeout);
        outbox_.clear();
        channel_.send(0, MpiTag::Closed, {});
        return !exit_requested_;
      }
    }
    pool.prepare(config.workers);
    flush(Clock::now());
    const auto now = Clock::now();
    // With every worker busy the next news is a reply, which epoll reports: no need to poll MPI.
    const auto cap = pool.next_timeout(PollPacing::kNap);
    const auto wait = running_.size() >= config.workers ? cap : pacing_.wait(now, cap);
    const auto ready = loop.wait(wait);
    for (const auto tag : ready) {
      pacing_.active(Clock::now());
      pool.handle(tag);
    }
    if (ready.empty()) PollPacing::idle_after(wait);
    pool.expire();
    flush(Clock::now());
  }
}

bool RankServer::handle(MpiMessage message, LocalWorkerPool& pool) {
  switch (message.tag) {
    case MpiTag::Jobs: {
      auto batch = std::make_shared<const std::string>(std::move(message.bytes));
      for (const auto& job : decode_jobs(*batch)) waiting_.push_back({job, batch});
      return true;
    }
    case MpiTag::Kill:
      for (const auto id : decode_ids(message.bytes)) kill(id, pool);
      return true;
    case MpiTag::Close: return false;
    case MpiTag::Exit:
      exit_requested_ = true;
      job_lost_a_rank_ = message.bytes == "\1";
      return false;
    default: return true;
  }
}

void RankServer::kill(std::uint64_t id, LocalWorkerPool& pool) {
  const auto queued =
      std::find_if(waiting_.begin(), waiting_.end(), [&](const QueuedJob& q) { return q.job.id == id; });
  if (queued != waiting_.end()) {
    waiting_.erase(queued);
    return;
  }
  if (running_.erase(id) > 0) pool.kill_job(id);
}

void RankServer::reply(std::uint64_t id, ReplyKind kind, int worker_pid, std::string_view payload,
                       std::uint32_t run_us) {
  if (payload.size() > MpiChannel::kMaxPayload) {
    const std::string error = encode_exception(std::make_exception_ptr(OsiisoError(fmt::format(
        "MpiQueue: the task's result is {} bytes, more than one MPI message can carry (2 GiB)", payload.size()))));
    append_reply(outbox_, ReplyMessage{id, ReplyKind::Failed, worker_pid, run_us, error});
  } else {
    append_reply(outbox_, ReplyMessage{id, kind, worker_pid, run_us, payload});
  }
  if (outbox_.size() >= MpiChannel::kBatchBytes) channel_.send(0, MpiTag::Replies, std::exchange(outbox_, {}));
}

std::optional<std::uint32_t> RankServer::finish(std::uint64_t id) {
  const auto it = running_.find(id);
  if (it == running_.end()) return std::nullopt;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - it->second.since).count();
  running_.erase(it);
  return static_cast<std::uint32_t>(std::min<long long>(us, UINT32_MAX));
}

void RankServer::flush(Clock::time_point now) {
  channel_.progress();
  if (!outbox_.empty()) {
    channel_.send(0, MpiTag::Replies, std::exchange(outbox_, {}));
    last_sent_ = now;
  } else if (now - last_sent_ >= to_clock_duration(heartbeat_)) {
    channel_.send(0, MpiTag::Heartbeat, {});
    last_sent_ = now;
  }
}

std::optional<PoolJob> RankServer::next_job() { return take_waiting(false); }

std::optional<PoolJob> RankServer::next_job_ahead() { return take_waiting(true); }

std::optional<PoolJob> RankServer::take_waiting(bool ahead) {
  if (waiting_.empty()) return std::nullopt;
  QueuedJob queued = std::move(waiting_.front());
  waiting_.pop_front();
  running_.insert_or_assign(queued.job.id, Running{Clock::now(), ahead && queued.job.report_start});
  if (!ahead && queued.job.report_start) reply(queued.job.id, ReplyKind::Started, 0, {});
  return PoolJob{queued.job.id,   queued.job.request,      std::move(queued.batch),
                 queued.job.name, queued.job.memory_limit, ahead};
}

void RankServer::job_began(std::uint64_t id) {
  const auto it = running_.find(id);
  if (it == running_.end()) return;
  it->second.since = Clock::now();
  if (std::exchange(it->second.announce, false)) reply(id, ReplyKind::Started, 0, {});
}

void RankServer::job_replied(std::uint64_t id, const Frame& reply_frame, int worker_pid) {
  const auto run_us = finish(id);
  if (!run_us) return;
  reply(id, reply_frame.type == FrameType::Value ? ReplyKind::Value : ReplyKind::Error, worker_pid, reply_frame.payload,
        *run_us);
}

void RankServer::job_failed(std::uint64_t id, std::exception_ptr error, int worker_pid) {
  const auto run_us = finish(id);
  if (!run_us) return;
  reply(id, ReplyKind::Failed, worker_pid, encode_exception(error), *run_us);
}

void RankServer::fail_waiting(const std::exception_ptr& error) {
  const std::string encoded = encode_exception(error);
  for (const auto& queued : waiting_) reply(queued.job.id, ReplyKind::Failed, 0, encoded);
  waiting_.clear();
}

}  // namespace osiiso::detail
