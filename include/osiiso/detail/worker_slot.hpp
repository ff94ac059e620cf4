// SPDX-License-Identifier: MIT
// One worker of a local pool: its process, its pipes and the jobs it holds (the one it runs first,
// those queued behind it in its request pipe next).
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/child_process.hpp>
#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/launch.hpp>
#include <osiiso/detail/reply_reader.hpp>
#include <osiiso/detail/request_writer.hpp>

#include <sys/resource.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace osiiso::detail {

// A job a worker holds: the caller's id (echoed by the reply), its name for messages, and what
// keeps that name (and its request, for a job that goes to another worker) alive.
struct RunningJob {
  std::uint64_t id = 0;
  std::string_view name;
  std::shared_ptr<const void> owner;
  std::optional<std::size_t> memory_limit{};
  bool initializer = false;  // the pool's own first request, not a caller's job
  RequestView request{};
  // Running: written as a Request, or reported by the worker's Begin frame (a Queued one).
  bool began = true;
  // Withdrawn by a Cancel frame; stays until the worker's next frame shows whether it dropped it.
  bool cancelled = false;
  Clock::time_point sent{};  // when its request was handed to the writer
};

// What the events of a worker's descriptors mean: epoll tags are serial << 2 | kind.
enum class SlotEvent : std::uint64_t { Reply = 0, Request = 1, Ended = 2 };

class WorkerSlot {
 public:
  enum class State {
    Starting,  // waiting for its hello
    Idle,      // ready for a request
    Busy,      // holding jobs (running the first)
    Killing,   // signalled; waiting to reap it
    Exiting,   // its reply pipe closed; waiting to reap it
  };

  // `fed_before_hello`: a forked child runs our code from its first instruction, so it may be
  // sent its first request before its hello arrives (the start deadline still holds until then).
  WorkerSlot(std::uint64_t serial, LaunchedWorker launched, std::size_t max_frame, Clock::time_point start_deadline,
             bool fed_before_hello);

  [[nodiscard]] std::uint64_t serial() const noexcept { return serial_; }
  [[nodiscard]] std::uint64_t tag(SlotEvent event) const noexcept {
    return (serial_ << 2) | static_cast<std::uint64_t>(event);
  }
  [[nodiscard]] State state() const noexcept { return state_; }
  // Starting, idle or busy: counts as a worker of the pool.
  [[nodiscard]] bool alive() const noexcept {
    return state_ == State::Starting || state_ == State::Idle || state_ == State::Busy;
  }
  [[nodiscard]] bool serving() const noexcept { return hello_ && (state_ == State::Idle || state_ == State::Busy); }
  [[nodiscard]] bool said_hello() const noexcept { return hello_; }
  [[nodiscard]] const std::optional<Clock::time_point>& deadline() const noexcept { return deadline_; }
  // The job it runs (or runs next); nullptr when it holds none.
  [[nodiscard]] const RunningJob* job() const noexcept { return jobs_.empty() ? nullptr : &jobs_.front(); }
  // Every job it holds, in the order it runs them.
  [[nodiscard]] std::deque<RunningJob>& jobs() noexcept { return jobs_; }
  [[nodiscard]] const std::deque<RunningJob>& jobs() const noexcept { return jobs_; }
  // Jobs it holds that are not withdrawn.
  [[nodiscard]] std::size_t live() const noexcept { return live_; }

  ChildProcess& process() noexcept { return process_; }
  [[nodiscard]] const ChildProcess& process() const noexcept { return process_; }
  [[nodiscard]] int request_fd() const noexcept { return request_.get(); }
  [[nodiscard]] int reply_fd() const noexcept { return reply_.get(); }
  RequestWriter& writer() noexcept { return writer_; }
  ReplyReader& reader() noexcept { return reader_; }
  // Whether the request pipe is watched for writability (a request waits for room).
  bool write_armed = false;
  // Jobs it finished and was given; whether it ran the pool's initializer.
  std::size_t jobs_done = 0;
  std::size_t jobs_given = 0;
  bool initialized = false;
  // Worn out with jobs still queued: it takes no more and retires once they are done.
  bool retiring = false;
  // When its last reply arrived: a job queued behind that one began then.
  Clock::time_point last_reply{};

  // The worker reported ready.
  void hello() noexcept;
  // Queues `job` after those it holds (Idle -> Busy).
  void assign(RunningJob job);
  // Removes and returns the first job (Busy -> Idle when it was the last).
  RunningJob finish() noexcept;
  // Forgets the first job if it began (its outcome is not reported); the caller kills the worker.
  std::optional<RunningJob> drop_job() noexcept;
  // Removes every job that never began and was not withdrawn (a dead worker's queue), in order.
  std::vector<RunningJob> take_unstarted();
  // Marks job `job` (one it holds) withdrawn.
  void withdraw(RunningJob& job) noexcept;
  // The worker's frame is about job `before`: the withdrawn jobs ahead of it were dropped.
  void skip_withdrawn(std::uint64_t before) noexcept;
  // SIGTERM, then SIGKILL once `grace` has passed (see on_deadline).
  void kill_gently(Clock::duration grace) noexcept;
  // SIGKILL at once; reaped within `grace`.
  void kill_now(Clock::duration grace) noexcept;
  // Stops reading its replies (the caller unwatched the pipe).
  void close_reply() noexcept { reply_.reset(); }
  // Its reply pipe reached end of file: it is ending by itself (or being killed).
  void reply_closed(Clock::duration grace) noexcept;
  // The worker is going to exit by itself (it said so).
  void exiting(Clock::duration grace) noexcept;
  // Closes the request pipe (an idle worker exits at end of file); kills a starting or busy one.
  void close_request() noexcept;
  // The pool's own deadline for what the worker runs now (its initializer); nullopt clears it.
  void set_deadline(std::optional<Clock::time_point> at) noexcept;
  // An idle worker that is not to run more jobs: its request pipe closes and it exits by itself
  // (SIGKILL after `grace`); it no longer counts as alive, so a fresh one is started.
  void retire(Clock::duration grace) noexcept;
  // Caps the address space the next job may add to the worker's current one (nullopt: lifts the
  // cap); false when the kernel refused.
  bool cap_memory(std::optional<std::size_t> limit) noexcept;
  // The deadline passed: SIGKILL; true when the worker was still starting (it never said hello).
  bool on_deadline() noexcept;

 private:
  std::uint64_t serial_;
  ChildProcess process_;
  UniqueFd request_;
  UniqueFd reply_;
  State state_ = State::Starting;
  std::optional<Clock::time_point> deadline_;  // start timeout, SIGKILL escalation, or reap wait
  std::deque<RunningJob> jobs_;
  std::size_t live_ = 0;
  RequestWriter writer_;
  ReplyReader reader_;
  bool hello_ = false;
  std::optional<std::size_t> memory_cap_;
  rlim_t uncapped_ = RLIM_INFINITY;  // its own soft limit, restored when a cap is lifted
};

}  // namespace osiiso::detail
