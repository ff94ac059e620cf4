// SPDX-License-Identifier: MIT
// One worker of a local pool: its process, its pipes and the state of the job it runs.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/child_process.hpp>
#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/launch.hpp>
#include <osiiso/detail/reply_reader.hpp>
#include <osiiso/detail/request_writer.hpp>

#include <sys/resource.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace osiiso::detail {

// The job a busy worker runs: the caller's id (echoed by the reply), its name for messages, and
// what keeps that name alive.
struct RunningJob {
  std::uint64_t id = 0;
  std::string_view name;
  std::shared_ptr<const void> owner;
  std::optional<std::size_t> memory_limit{};
  bool initializer = false;  // the pool's own first request, not a caller's job
};

// What the events of a worker's descriptors mean: epoll tags are serial << 2 | kind.
enum class SlotEvent : std::uint64_t { Reply = 0, Request = 1, Ended = 2 };

class WorkerSlot {
 public:
  enum class State {
    Starting,  // waiting for its hello
    Idle,      // ready for a request
    Busy,      // running `job`
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
  [[nodiscard]] const std::optional<RunningJob>& job() const noexcept { return job_; }

  ChildProcess& process() noexcept { return process_; }
  [[nodiscard]] const ChildProcess& process() const noexcept { return process_; }
  [[nodiscard]] int request_fd() const noexcept { return request_.get(); }
  [[nodiscard]] int reply_fd() const noexcept { return reply_.get(); }
  RequestWriter& writer() noexcept { return writer_; }
  ReplyReader& reader() noexcept { return reader_; }
  // Whether the request pipe is watched for writability (a request waits for room).
  bool write_armed = false;
  // Jobs it finished; whether it ran the pool's initializer.
  std::size_t jobs_done = 0;
  bool initialized = false;

  // The worker reported ready.
  void hello() noexcept;
  // Idle -> Busy with `job`.
  void assign(RunningJob job) noexcept;
  // Busy -> Idle; returns the finished job.
  RunningJob finish() noexcept;
  // Forgets the job (its outcome is not reported); the worker is killed by the caller.
  std::optional<RunningJob> drop_job() noexcept;
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
  std::optional<RunningJob> job_;
  RequestWriter writer_;
  ReplyReader reader_;
  bool hello_ = false;
  std::optional<std::size_t> memory_cap_;
  rlim_t uncapped_ = RLIM_INFINITY;  // its own soft limit, restored when a cap is lifted
};

}  // namespace osiiso::detail
