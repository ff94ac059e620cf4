// SPDX-License-Identifier: MIT
// How other threads wake the poller: an eventfd, written at most once per wake-up.
#pragma once

#include <osiiso/detail/fd.hpp>

#include <atomic>

namespace osiiso::detail {

class WakeEvent {
 public:
  // Throws std::system_error (eventfd).
  WakeEvent();

  // Readable while a wake-up is pending.
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  // One eventfd write per wake-up, not per call: while one is pending, further calls are free,
  // which takes a system call off every submit while the poller is busy.
  void wake() noexcept;
  // Called by the poller before it looks at what it was woken for. Drains first, then clears:
  // a wake() between the two sees the flag still set and skips its write, which is safe because
  // the poller looks afterwards. Clearing first let such a wake() write into the counter that was
  // then drained, leaving the flag set with nothing to read: every later wake() was skipped.
  void drain() noexcept;

 private:
  UniqueFd fd_;
  std::atomic<bool> pending_{false};
};

}  // namespace osiiso::detail
