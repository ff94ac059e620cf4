// SPDX-License-Identifier: MIT
// Where a queue is in its life: what it admits, whether it cancels, whether its workers run.
#pragma once

#include <string_view>

namespace osiiso::detail {

// What a queue admits and whether it cancels what comes up. The path of a queue:
//
//   Open --halt--> Halted --start/resume--> Open         (fail_first, a run timeout, an abort)
//   Open --begin_shutdown--> Draining --halt--> Closing --close--> Closed --reset--> Open
//   Halted --begin_shutdown--> Closing                   (a forced shutdown halts first)
enum class Phase {
  Open,      // admits tasks and runs them
  Halted,    // refuses tasks; cancels all but must_complete ones as they come up
  Draining,  // a graceful shutdown: refuses tasks, runs every outstanding one
  Closing,   // a shutdown past its drain (or forced): refuses and cancels, workers stopping
  Closed,    // shut down; only reset() reopens it
};

// The phase's name, for messages.
[[nodiscard]] std::string_view to_string(Phase phase) noexcept;

// The engine's lifecycle as one value with checked transitions (std::logic_error on an invalid
// one); single-threaded, guarded by the engine's mutex. Two facts are deliberately not part of
// the phase because they are orthogonal to it: whether workers are started (a Finite run stops
// them and the next wait starts them again, in any phase but Closed) and whether a run() is in
// progress (a run can start, halt, drain or close while it waits).
class Lifecycle {
 public:
  // The current phase.
  [[nodiscard]] Phase phase() const noexcept { return phase_; }
  // True when submit() may admit a task.
  [[nodiscard]] bool accepting() const noexcept { return phase_ == Phase::Open; }
  // True when tasks that come up are cancelled unless must_complete.
  [[nodiscard]] bool halted() const noexcept {
    return phase_ == Phase::Halted || phase_ == Phase::Closing || phase_ == Phase::Closed;
  }
  // True once shut down, until reset().
  [[nodiscard]] bool closed() const noexcept { return phase_ == Phase::Closed; }
  // True while workers may take attempts.
  [[nodiscard]] bool started() const noexcept { return started_; }
  // True while run() is in progress.
  [[nodiscard]] bool running() const noexcept { return running_; }
  // True when the backend may be asked for more workers.
  [[nodiscard]] bool may_scale() const noexcept {
    return started_ && (phase_ == Phase::Open || phase_ == Phase::Draining);
  }

  // Starts the workers; a Halted queue reopens, a shutdown in progress stays one. Not when Closed.
  void start();
  // Marks the workers stopped.
  void stop_workers() noexcept { started_ = false; }
  // Cancels what comes up from now on; true when the queue was not halted already.
  bool halt() noexcept;
  // Reopens a Halted queue at the end of a run; a shutdown in progress is left alone.
  void resume() noexcept;
  // Refuses submissions from now on (Open to Draining, Halted to Closing); a racing shutdown may
  // find the queue Closed already.
  void begin_shutdown() noexcept;
  // Ends a shutdown: only from Closing (or Closed, for a racing second shutdown).
  void close();
  // A run() begins; not while one is in progress.
  void begin_run();
  // The run() in progress ends.
  void end_run();
  // Back to a fresh Open queue with stopped workers; not during a shutdown.
  void reset();

 private:
  Phase phase_ = Phase::Open;
  bool started_ = false;
  bool running_ = false;
};

}  // namespace osiiso::detail
