// SPDX-License-Identifier: MIT
// A clock that only moves when a test advances it, waking the engine's timed waits.
#pragma once

#include <osiiso/detail/time_source.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

namespace osiiso::test {

// Starts at the real steady time so timestamps stay plausible. Every engine waiting on it must
// outlive the advance() calls that may wake it.
class FakeClock final : public detail::TimeSource {
 public:
  // The fake time.
  [[nodiscard]] Clock::time_point now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }

  // Waits for a notification only: time passes in advance(), which notifies every waiter.
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  Clock::time_point at) const override {
    const Waiter waiter{&cv, lock.mutex()};
    {
      std::lock_guard clock_lock(mu_);
      if (now_ >= at) return;
      // Registered before `lock` is released: advance() notifies only after taking that mutex.
      waiters_.push_back(waiter);
      ++begun_;
    }
    cv.wait(lock);
    std::lock_guard clock_lock(mu_);
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), waiter));
  }

  // Moves time forward by `step` and wakes every timed wait; returns the mark to give
  // waited_since() to learn when a waiter has re-checked the new time and blocked again.
  std::uint64_t advance(Clock::duration step) {
    std::vector<Waiter> waiters;
    std::uint64_t mark = 0;
    {
      std::lock_guard lock(mu_);
      now_ += step;
      waiters = waiters_;
      mark = begun_;
    }
    for (const auto& waiter : waiters) {
      // Taking the waiter's mutex orders this notification after its wait began.
      std::lock_guard lock(*waiter.mutex);
      waiter.cv->notify_all();
    }
    return mark;
  }

  // Moves time forward by `step`, in any duration type.
  template <class Rep, class Period>
  std::uint64_t advance(std::chrono::duration<Rep, Period> step) {
    return advance(std::chrono::duration_cast<Clock::duration>(step));
  }

  // True once a timed wait began after `mark` (from advance()): that waiter saw the new time and
  // found nothing due yet.
  [[nodiscard]] bool waited_since(std::uint64_t mark) const {
    std::lock_guard lock(mu_);
    return begun_ > mark;
  }

  // Timed waits in progress (blocked on this clock).
  [[nodiscard]] std::size_t waiters() const {
    std::lock_guard lock(mu_);
    return waiters_.size();
  }

 private:
  struct Waiter {
    std::condition_variable* cv;
    std::mutex* mutex;
    bool operator==(const Waiter&) const = default;
  };

  mutable std::mutex mu_;
  Clock::time_point now_ = Clock::now();
  mutable std::vector<Waiter> waiters_;
  mutable std::uint64_t begun_ = 0;  // timed waits begun
};

}  // namespace osiiso::test
