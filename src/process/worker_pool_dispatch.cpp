// SPDX-License-Identifier: MIT
// LocalWorkerPool: handing jobs to workers, one at a time or several queued behind the one a
// worker runs (chunked dispatch): the backlog, the automatic depth, Begin and Cancel frames.
#include <osiiso/detail/worker_pool.hpp>

#include <osiiso/errors.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace osiiso::detail {

namespace {
// Automatic depth: about a millisecond of work per worker, so that the parent's latency between a
// reply and the next request never idles a worker, while a long job is never hoarded.
constexpr double kBudgetUs = 1000.0;
constexpr double kMaxAutoDepth = 64.0;
constexpr double kRunWeight = 0.1;
// Larger requests are only written to a worker that holds nothing: a Cancel frame must be able to
// follow a queued request at once, never behind a payload written in place.
constexpr std::size_t kMaxQueuedRequest = std::size_t{64} << 10;
}  // namespace

std::size_t LocalWorkerPool::jobs_in_flight() const noexcept {
  if (config_.max_jobs_in_flight) return *config_.max_jobs_in_flight;
  if (run_us_ <= 0) return 1;
  return static_cast<std::size_t>(std::clamp(kBudgetUs / run_us_, 1.0, kMaxAutoDepth));
}

void LocalWorkerPool::measure(WorkerSlot& slot, const RunningJob& job, Clock::time_point now) noexcept {
  // A queued job began when the reply before it was written: its run time counts from then.
  const auto since = std::max(job.sent, slot.last_reply);
  slot.last_reply = now;
  if (config_.max_jobs_in_flight) return;
  const double ran = std::chrono::duration<double, std::micro>(now - since).count();
  run_us_ = run_us_ > 0 ? run_us_ + kRunWeight * (ran - run_us_) : std::max(1.0, ran);
}

void LocalWorkerPool::fail_all_waiting(const std::exception_ptr& error) {
  for (auto waiting = std::exchange(backlog_, {}); auto& job : waiting) listener_.job_failed(job.id, error, 0);
  listener_.fail_waiting(error);
}

void LocalWorkerPool::feed(std::size_t want) {
  if (const auto& broken = launcher_.broken()) {
    if (want > 0 || !backlog_.empty()) fail_all_waiting(broken);
    return;
  }
  if (const auto failure = launcher_.take_failure(alive() + launcher_.pending())) {
    fail_all_waiting(failure);
    return;
  }
  // One job for every worker first, so that a short backlog spreads over them; then the queues
  // behind the running jobs, once every wanted worker serves.
  if (!fill(1)) return;
  const std::size_t depth = jobs_in_flight();
  if (depth <= 1 || launcher_.pending() > 0 || alive() < want) return;
  if (std::any_of(slots_.begin(), slots_.end(), [](const auto& entry) { return !entry.second.said_hello(); })) return;
  fill(depth);
}

bool LocalWorkerPool::fill(std::size_t limit) {
  const auto now = Clock::now();
  for (auto& [serial, slot] : slots_) {
    const auto state = slot.state();
    if (state != WorkerSlot::State::Idle && state != WorkerSlot::State::Busy) continue;
    if (state == WorkerSlot::State::Idle && !config_.initializer_request.empty() && !slot.initialized) {
      initialize(slot);
      continue;
    }
    if (slot.retiring || (slot.job() && (slot.job()->initializer || slot.job()->memory_limit))) continue;
    bool wrote = false;
    bool more = true;
    while (slot.live() < limit && (config_.max_jobs_per_worker == 0 || slot.jobs_given < config_.max_jobs_per_worker)) {
      auto job = take_job(!slot.jobs().empty());
      if (!job) {
        more = false;
        break;
      }
      const auto given = give(slot, *job, now);
      if (given == Given::Refused) {
        backlog_.push_front(std::move(*job));
        break;
      }
      wrote = wrote || given == Given::Yes;
    }
    if (wrote) write_request(slot);
    if (!more) return false;
  }
  return true;
}

std::optional<PoolJob> LocalWorkerPool::take_job(bool ahead) {
  if (!backlog_.empty()) {
    auto job = std::move(backlog_.front());
    backlog_.pop_front();
    return job;
  }
  return ahead ? listener_.next_job_ahead() : listener_.next_job();
}

LocalWorkerPool::Given LocalWorkerPool::give(WorkerSlot& slot, PoolJob& job, Clock::time_point now) {
  const bool first = slot.jobs().empty();
  // A memory cap is the whole worker's: it holds only the capped job. Large requests wait likewise.
  if (!first && (job.memory_limit || job.request.encoded_size() > kMaxQueuedRequest || !slot.said_hello())) {
    return Given::Refused;
  }
  try {
    if (first && !slot.cap_memory(job.memory_limit)) {
      throw OsiisoError(fmt::format("{}: cannot set the memory limit of worker (pid {}) for task '{}': {}",
                                    config_.queue_name, slot.process().pid(), job.name, std::strerror(errno)));
    }
    if (first && !slot.writer().pending()) {
      slot.writer().begin(job.id, job.request, job.owner, config_.max_frame_size);  // as without chunking
    } else if (!slot.writer().add(first ? FrameType::Request : FrameType::Queued, job.id, job.request, job.owner,
                                  config_.max_frame_size)) {
      return Given::Refused;
    }
  } catch (const std::exception&) {
    listener_.job_failed(job.id, std::current_exception(), slot.process().pid());
    return Given::Failed;
  }
  // A deferred job written first runs as soon as the worker reads it.
  if (first && job.deferred) listener_.job_began(job.id);
  RunningJob running;
  running.id = job.id;
  running.name = job.name;
  running.owner = std::move(job.owner);
  running.memory_limit = job.memory_limit;
  running.request = job.request;
  running.began = first;
  running.sent = now;
  slot.assign(std::move(running));
  ++slot.jobs_given;
  return Given::Yes;
}

void LocalWorkerPool::requeue(WorkerSlot& slot) {
  for (auto& job : slot.take_unstarted()) {
    PoolJob waiting;
    waiting.id = job.id;
    waiting.request = job.request;
    waiting.owner = std::move(job.owner);
    waiting.name = job.name;
    waiting.memory_limit = job.memory_limit;
    waiting.deferred = true;
    backlog_.push_back(std::move(waiting));
  }
}

bool LocalWorkerPool::take_begin(WorkerSlot& slot, std::uint64_t id) {
  if (slot.state() == WorkerSlot::State::Killing) return true;  // what it began is requeued
  slot.skip_withdrawn(id);
  auto& jobs = slot.jobs();
  if (jobs.empty() || jobs.front().id != id || jobs.front().began) {
    if (slot.state() != WorkerSlot::State::Busy) return true;  // exiting by itself: nothing to settle
    fail_slot(slot, fmt::format("ProcessQueue: worker (pid {}) began request {}, which it does not hold first; the "
                                "worker was replaced",
                                slot.process().pid(), id));
    return false;
  }
  RunningJob& job = jobs.front();
  job.began = true;
  if (job.cancelled) {
    // Withdrawn too late (also by a worker that retires): it runs a job that is settled already.
    slot.kill_gently(grace());
    return true;
  }
  listener_.job_began(id);
  return true;
}

void LocalWorkerPool::withdraw(WorkerSlot& slot, RunningJob& job) {
  if (!slot.writer().add_signal(FrameType::Cancel, job.id, config_.max_frame_size)) {
    // Not reachable (queued requests are small); a worker that begins it is killed then.
    slot.withdraw(job);
    return;
  }
  slot.withdraw(job);
  write_request(slot);
  if (slot.retiring && slot.live() == 0) slot.retire(grace() * 10);
}

void LocalWorkerPool::kill_job(std::uint64_t id) {
  if (const auto it = std::find_if(backlog_.begin(), backlog_.end(), [&](const PoolJob& job) { return job.id == id; });
      it != backlog_.end()) {
    backlog_.erase(it);
    return;
  }
  for (auto& [serial, slot] : slots_) {
    auto& jobs = slot.jobs();
    const auto it = std::find_if(jobs.begin(), jobs.end(), [&](const RunningJob& job) { return job.id == id; });
    if (it == jobs.end() || it->cancelled) continue;
    if (!it->began) {
      // Queued: withdrawn, so that it is neither run nor requeued; a dying worker needs no frame.
      if (slot.state() == WorkerSlot::State::Busy) {
        withdraw(slot, *it);
      } else {
        slot.withdraw(*it);
      }
      return;
    }
    slot.drop_job();
    slot.kill_gently(grace());
    return;
  }
}

}  // namespace osiiso::detail
