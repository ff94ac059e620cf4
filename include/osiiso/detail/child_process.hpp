// SPDX-License-Identifier: MIT
// A worker process seen from its parent: its pid and pidfd, its process group, its end.
#pragma once

#include <osiiso/detail/fd.hpp>

#include <sys/types.h>

#include <optional>
#include <string>

namespace osiiso::detail {

// "SIGSEGV (Segmentation fault)".
std::string signal_name(int sig);

// How a process ended: "was killed by signal SIGSEGV (...)", "exited with code 3", ... A wait
// status the parent never saw (`status` empty) falls back on the signal the worker reported.
std::string describe_end(std::optional<int> status, std::optional<int> reported_signal);

class ChildProcess {
 public:
  ChildProcess() = default;
  // `own_child`: a child of this process (false for a fork server's workers: the server reaps
  // them and reports their status). Opens a pidfd when the kernel has them.
  ChildProcess(pid_t pid, bool own_child);

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool own_child() const noexcept { return own_child_; }
  // Readable once the process ended; empty without pidfd support (or after close_pidfd()).
  [[nodiscard]] int pidfd() const noexcept { return pidfd_.get(); }
  void close_pidfd() noexcept { pidfd_.reset(); }

  // Signals the process and its process group (what its tasks started), until it is reaped
  // (a reaped pid may be reused).
  void signal(int sig) const noexcept;
  // Reaps an own child that ended, after killing its process group (its pid still names the
  // group until it is reaped). True once reaped.
  bool try_reap() noexcept;
  // Blocks until an own child (already sent SIGKILL) is reaped.
  void reap_now() noexcept;
  // The process is gone, reaped by someone else, with this wait status if it is known.
  void mark_reaped(std::optional<int> status) noexcept;
  [[nodiscard]] bool reaped() const noexcept { return reaped_; }

  // The fatal signal the worker said it was dying of (see FrameType::Signal).
  void report_signal(int sig) noexcept { reported_signal_ = sig; }
  [[nodiscard]] std::string describe_end() const;

 private:
  pid_t pid_ = -1;
  bool own_child_ = true;
  UniqueFd pidfd_;
  bool reaped_ = false;
  std::optional<int> status_;
  std::optional<int> reported_signal_;
};

}  // namespace osiiso::detail
