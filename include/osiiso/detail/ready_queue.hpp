// SPDX-License-Identifier: MIT
// The runnable tasks in the order they start: lowest priority first, then by submission order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace osiiso::detail {

// A binary heap of items keyed by (priority, seq); single-threaded, the owner locks it. The keys
// are stored beside the item so that sifting never dereferences an item.
template <class T>
class ReadyQueue {
 public:
  // Adds `item`; among equal priorities a lower `seq` is taken first.
  void push(int priority, std::uint64_t seq, T item) {
    entries_.push_back(Entry{priority, seq, std::move(item)});
    std::push_heap(entries_.begin(), entries_.end(), Later{});
  }

  // Removes and returns the first item; the queue must not be empty.
  T pop() {
    std::pop_heap(entries_.begin(), entries_.end(), Later{});
    T item = std::move(entries_.back().item);
    entries_.pop_back();
    return item;
  }

  // True when no item is queued.
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  // Items queued.
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  // Drops every item.
  void clear() noexcept { entries_.clear(); }

  // Calls `visit(item)` for every item, in no particular order.
  template <class Visit>
  void for_each(Visit&& visit) const {
    for (const auto& entry : entries_) visit(entry.item);
  }

 private:
  struct Entry {
    int priority;
    std::uint64_t seq;
    T item;
  };
  // The heap's comparison: true when `a` is taken after `b`.
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const {
      return a.priority != b.priority ? a.priority > b.priority : a.seq > b.seq;
    }
  };

  std::vector<Entry> entries_;
};

}  // namespace osiiso::detail
