// SPDX-License-Identifier: MIT
// The queue-wide rate limit: a GCRA (generic cell rate algorithm) gate that every attempt,
// retries included, passes before it starts. Single-threaded: the engine holds its lock.
#pragma once

#include <osiiso/chrono.hpp>

#include <cstddef>
#include <optional>

namespace osiiso::detail {

class RateGate {
 public:
  // `rate` attempts per second sustained; `burst` of them back to back after an idle period.
  RateGate(double rate, std::size_t burst)
      : interval_(std::chrono::duration_cast<Clock::duration>(Seconds(1.0 / rate))),
        tolerance_(interval_ * static_cast<Clock::rep>(burst - 1)) {}

  // True, booking the slot, when an attempt may start at `now`; false when it must wait until
  // next_open().
  bool try_pass(Clock::time_point now) {
    if (arrival_ && *arrival_ - tolerance_ > now) return false;
    arrival_ = (arrival_ && *arrival_ > now ? *arrival_ : now) + interval_;
    return true;
  }

  // The earliest time the next attempt may pass.
  [[nodiscard]] Clock::time_point next_open() const noexcept {
    return arrival_ ? *arrival_ - tolerance_ : Clock::time_point::min();
  }

 private:
  Clock::duration interval_;
  Clock::duration tolerance_;
  // The theoretical arrival time of the next attempt; nullopt before the first.
  std::optional<Clock::time_point> arrival_;
};

}  // namespace osiiso::detail
