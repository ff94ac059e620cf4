// SPDX-License-Identifier: MIT
// WorkerSlot: the state machine of one worker (hello, job, kill with grace, end of file, deadline).
#include <osiiso/detail/worker_slot.hpp>

#include <osiiso/detail/proc_memory.hpp>

#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <limits>

namespace osiiso::detail {

WorkerSlot::WorkerSlot(std::uint64_t serial, LaunchedWorker launched, std::size_t max_frame,
                       Clock::time_point start_deadline, bool fed_before_hello)
    : serial_(serial),
      process_(launched.pid, launched.own_child),
      request_(std::move(launched.request)),
      reply_(std::move(launched.reply)),
      state_(fed_before_hello ? State::Idle : State::Starting),
      deadline_(start_deadline),
      reader_(max_frame) {}

void WorkerSlot::hello() noexcept {
  hello_ = true;
  if (state_ == State::Starting) state_ = State::Idle;
  if (state_ == State::Idle || state_ == State::Busy) deadline_.reset();
}

void WorkerSlot::assign(RunningJob job) {
  jobs_.push_back(std::move(job));
  ++live_;
  state_ = State::Busy;
}

RunningJob WorkerSlot::finish() noexcept {
  RunningJob job = std::move(jobs_.front());
  jobs_.pop_front();
  if (!job.cancelled) --live_;
  if (jobs_.empty() && state_ == State::Busy) state_ = State::Idle;
  return job;
}

std::optional<RunningJob> WorkerSlot::drop_job() noexcept {
  if (jobs_.empty() || !jobs_.front().began) return std::nullopt;
  auto job = finish();
  if (job.cancelled) return std::nullopt;
  return job;
}

std::vector<RunningJob> WorkerSlot::take_unstarted() {
  std::vector<RunningJob> unstarted;
  for (auto& job : jobs_) {
    if (!job.began && !job.cancelled) unstarted.push_back(std::move(job));
  }
  jobs_.clear();
  live_ = 0;
  return unstarted;
}

void WorkerSlot::withdraw(RunningJob& job) noexcept {
  if (job.cancelled) return;
  job.cancelled = true;
  --live_;
}

void WorkerSlot::skip_withdrawn(std::uint64_t before) noexcept {
  while (!jobs_.empty() && jobs_.front().cancelled && jobs_.front().id != before) jobs_.pop_front();
  if (jobs_.empty() && state_ == State::Busy) state_ = State::Idle;
}

void WorkerSlot::kill_gently(Clock::duration grace) noexcept {
  if (state_ == State::Killing) return;
  process_.signal(SIGTERM);
  state_ = State::Killing;
  deadline_ = Clock::now() + grace;
}

void WorkerSlot::kill_now(Clock::duration grace) noexcept {
  process_.signal(SIGKILL);
  state_ = State::Killing;
  deadline_ = Clock::now() + grace;
}

void WorkerSlot::reply_closed(Clock::duration grace) noexcept {
  reply_.reset();
  if (state_ != State::Killing) exiting(grace);
}

void WorkerSlot::exiting(Clock::duration grace) noexcept {
  state_ = State::Exiting;
  deadline_ = Clock::now() + grace;
}

void WorkerSlot::close_request() noexcept {
  write_armed = false;
  request_.reset();
  if (state_ == State::Busy || state_ == State::Starting) {
    process_.signal(SIGKILL);
    state_ = State::Killing;
  }
}

void WorkerSlot::set_deadline(std::optional<Clock::time_point> at) noexcept { deadline_ = at; }

void WorkerSlot::retire(Clock::duration grace) noexcept {
  write_armed = false;
  request_.reset();
  exiting(grace);
}

bool WorkerSlot::cap_memory(std::optional<std::size_t> limit) noexcept {
  // Re-measured before every capped job: what an earlier job left mapped is not this one's.
  if (!limit && !memory_cap_) return true;
  rlimit current{};
  if (::prlimit(process_.pid(), RLIMIT_AS, nullptr, &current) != 0) return false;
  if (!memory_cap_) uncapped_ = current.rlim_cur;
  rlimit wanted = current;
  wanted.rlim_cur = uncapped_;
  if (limit) {
    // The cap is on what the job adds: a forked worker starts with the parent's whole mapping.
    const auto memory = process_memory(process_.pid());
    if (!memory) {
      errno = ESRCH;  // gone, or its /proc entry unreadable
      return false;
    }
    const auto room = std::numeric_limits<std::size_t>::max() - memory->mapped;
    const auto cap = *limit >= room ? RLIM_INFINITY : static_cast<rlim_t>(memory->mapped + *limit);
    wanted.rlim_cur = std::min<rlim_t>(current.rlim_max, cap);
  }
  if (::prlimit(process_.pid(), RLIMIT_AS, &wanted, nullptr) != 0) return false;
  memory_cap_ = limit;
  return true;
}

bool WorkerSlot::on_deadline() noexcept {
  const bool starting = state_ == State::Starting;
  process_.signal(SIGKILL);
  // Idle or busy past a deadline: a forked worker fed before its hello that never sent it is
  // stuck before serving (a lock held at fork time, say): killed like one that fails to start.
  if (state_ != State::Exiting) state_ = State::Killing;
  deadline_.reset();
  return starting;
}

}  // namespace osiiso::detail
