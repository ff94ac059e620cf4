// SPDX-License-Identifier: MIT
// How long a loop that polls MPI may sleep. MPI gives no descriptor to wait on, so a loop that
// slept in epoll would answer a message only when it woke, and waking from even a microsecond's
// sleep costs tens of microseconds on a virtual machine: right after traffic the loop does not
// sleep but yields the core (a round trip then costs little more than MPI's own latency), later
// it sleeps a millisecond at a time.
#pragma once

#include <osiiso/chrono.hpp>

#include <sched.h>

#include <algorithm>
#include <chrono>

namespace osiiso::detail {

class PollPacing {
 public:
  // How long the loop stays awake after traffic.
  static constexpr Clock::duration kAwake = std::chrono::milliseconds(2);
  // The longest sleep between two looks at MPI.
  static constexpr Clock::duration kNap = std::chrono::milliseconds(1);

  // A message arrived or an event was handled.
  void active(Clock::time_point now) noexcept { last_ = now; }
  // The wait before the next look at MPI, at most `cap` (zero: yield the core, then look again).
  [[nodiscard]] Clock::duration wait(Clock::time_point now, Clock::duration cap) const noexcept {
    if (now - last_ < kAwake) return Clock::duration::zero();
    return std::clamp(cap, Clock::duration::zero(), kNap);
  }

  // After a wait of `wait` that saw no event.
  static void idle_after(Clock::duration wait) noexcept {
    if (wait == Clock::duration::zero()) ::sched_yield();
  }

 private:
  Clock::time_point last_{};
};

}  // namespace osiiso::detail
