// SPDX-License-Identifier: MIT
// The engine's timers in the order they fire: delayed starts, retry waits and attempt deadlines.
#pragma once

#include <osiiso/chrono.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace osiiso::detail {

// What a timer does when it fires.
enum class TimerKind {
  Due,       // a scheduled or retry-waiting task becomes ready
  Deadline,  // an attempt's timeout expires (the attempt id tells whether it is still current)
  GateOpen,  // the rate gate lets the next attempt pass (no item)
};

// One timer: for `item`, of `kind`, for attempt `attempt_id` (0 when the task has none yet).
template <class T>
struct Timer {
  Clock::time_point at;
  T item;
  TimerKind kind;
  std::uint64_t attempt_id;
};

// A binary heap of timers by due time, earlier-pushed first on ties; single-threaded, the owner
// locks it.
template <class T>
class TimerQueue {
 public:
  // Adds a timer; true when it is now the earliest one (a waiter must recompute its deadline).
  bool push(Clock::time_point at, T item, TimerKind kind, std::uint64_t attempt_id = 0) {
    const bool earliest = entries_.empty() || at < entries_.front().timer.at;
    entries_.push_back(Entry{Timer<T>{at, std::move(item), kind, attempt_id}, ++seq_});
    std::push_heap(entries_.begin(), entries_.end(), Later{});
    return earliest;
  }

  // When the earliest timer is due, or nullopt when there is none.
  [[nodiscard]] std::optional<Clock::time_point> next() const {
    if (entries_.empty()) return std::nullopt;
    return entries_.front().timer.at;
  }

  // Removes and returns the earliest timer if it is due at `now`.
  std::optional<Timer<T>> pop_due(Clock::time_point now) {
    if (entries_.empty() || entries_.front().timer.at > now) return std::nullopt;
    std::pop_heap(entries_.begin(), entries_.end(), Later{});
    Timer<T> timer = std::move(entries_.back().timer);
    entries_.pop_back();
    return timer;
  }

  // True when no timer is pending.
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  // Timers pending.
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

  // Calls `visit(timer)` for every pending timer, in no particular order.
  template <class Visit>
  void for_each(Visit&& visit) const {
    for (const auto& entry : entries_) visit(entry.timer);
  }

 private:
  struct Entry {
    Timer<T> timer;
    std::uint64_t seq;
  };
  // The heap's comparison: true when `a` fires after `b`.
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const {
      return a.timer.at != b.timer.at ? a.timer.at > b.timer.at : a.seq > b.seq;
    }
  };

  std::vector<Entry> entries_;
  std::uint64_t seq_ = 0;
};

}  // namespace osiiso::detail
