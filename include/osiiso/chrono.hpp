// SPDX-License-Identifier: MIT
// Duration and clock types shared by every osiiso component.
#pragma once

#include <chrono>

namespace osiiso {

/// Seconds as a floating-point duration; every option taking seconds converts from any std::chrono::duration.
using Seconds = std::chrono::duration<double>;

/// The monotonic clock behind every timestamp osiiso records.
using Clock = std::chrono::steady_clock;

namespace detail {
// `s` in the clock's own ticks (option values are Seconds; deadlines are Clock time points).
inline Clock::duration to_clock_duration(Seconds s) { return std::chrono::duration_cast<Clock::duration>(s); }
}  // namespace detail

}  // namespace osiiso
