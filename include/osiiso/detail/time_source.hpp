// SPDX-License-Identifier: MIT
// The engine's clock: every now() and timed wait goes through it, so tests can drive time.
#pragma once

#include <osiiso/chrono.hpp>

#include <condition_variable>
#include <memory>
#include <mutex>

namespace osiiso::detail {

// A source of Clock time points and of waits until one of them. Thread-safe.
class TimeSource {
 public:
  TimeSource() = default;
  TimeSource(const TimeSource&) = delete;
  TimeSource& operator=(const TimeSource&) = delete;
  virtual ~TimeSource() = default;

  // The current time.
  [[nodiscard]] virtual Clock::time_point now() const = 0;
  // Blocks on `cv`, whose mutex `lock` holds, until `at` has passed, a notification arrives or
  // the wait wakes spuriously; callers re-check their condition.
  virtual void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                          Clock::time_point at) const = 0;
};

// The real steady clock, shared by every queue.
[[nodiscard]] std::shared_ptr<const TimeSource> steady_time_source();

// Waits on `cv` until `done()` holds or `clock` reaches `at`; returns done().
template <class Predicate>
bool wait_until(const TimeSource& clock, std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                Clock::time_point at, Predicate done) {
  while (!done()) {
    if (clock.now() >= at) return false;
    clock.wait_until(cv, lock, at);
  }
  return true;
}

}  // namespace osiiso::detail
