// SPDX-License-Identifier: MIT
// The runnable tasks in the order they start: lowest priority first, then by submission order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <utility>
#include <vector>

namespace osiiso::detail {

// Items keyed by (priority, seq); single-threaded, the owner locks it. One bucket per priority in
// use: new submissions arrive in increasing seq and are appended to the bucket's FIFO (constant
// time, whatever the backlog); the rest (a retry keeps its original seq, a task put back by the
// rate gate comes before everything) go to the bucket's small heap. pop() takes the lower seq of
// the two heads.
template <class T>
class ReadyQueue {
 public:
  // Adds `item`; among equal priorities a lower `seq` is taken first.
  void push(int priority, std::uint64_t seq, T item) {
    Bucket& bucket = bucket_for(priority);
    if (bucket.in_order.empty() || bucket.in_order.back().seq < seq) {
      bucket.in_order.push_back(Entry{seq, std::move(item)});
    } else {
      bucket.out_of_order.push_back(Entry{seq, std::move(item)});
      std::push_heap(bucket.out_of_order.begin(), bucket.out_of_order.end(), Later{});
    }
    ++size_;
  }

  // Removes and returns the first item; the queue must not be empty.
  T pop() {
    const auto first = buckets_.begin();
    Bucket& bucket = first->second;
    T item = take_first(bucket);
    --size_;
    if (bucket.in_order.empty() && bucket.out_of_order.empty()) {
      // Kept as the spare node: a queue that empties and fills again allocates no bucket.
      spare_ = buckets_.extract(first);
    }
    return item;
  }

  // True when no item is queued.
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  // Items queued.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  // Drops every item.
  void clear() noexcept {
    buckets_.clear();
    spare_ = {};
    size_ = 0;
  }

  // Calls `visit(item)` for every item, in no particular order.
  template <class Visit>
  void for_each(Visit&& visit) const {
    for (const auto& [priority, bucket] : buckets_) {
      for (const auto& entry : bucket.in_order) visit(entry.item);
      for (const auto& entry : bucket.out_of_order) visit(entry.item);
    }
  }

 private:
  struct Entry {
    std::uint64_t seq;
    T item;
  };
  // The heap's comparison: true when `a` is taken after `b`.
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const { return a.seq > b.seq; }
  };
  struct Bucket {
    std::deque<Entry> in_order;       // increasing seq
    std::vector<Entry> out_of_order;  // a min-heap by seq
  };
  using Buckets = std::map<int, Bucket>;

  Bucket& bucket_for(int priority) {
    if (const auto it = buckets_.find(priority); it != buckets_.end()) return it->second;
    if (spare_.empty()) return buckets_[priority];
    spare_.key() = priority;
    return buckets_.insert(std::move(spare_)).position->second;
  }

  static T take_first(Bucket& bucket) {
    const bool from_heap = !bucket.out_of_order.empty() &&
                           (bucket.in_order.empty() || bucket.out_of_order.front().seq < bucket.in_order.front().seq);
    if (from_heap) {
      std::pop_heap(bucket.out_of_order.begin(), bucket.out_of_order.end(), Later{});
      T item = std::move(bucket.out_of_order.back().item);
      bucket.out_of_order.pop_back();
      return item;
    }
    T item = std::move(bucket.in_order.front().item);
    bucket.in_order.pop_front();
    return item;
  }

  Buckets buckets_;
  typename Buckets::node_type spare_;
  std::size_t size_ = 0;
};

}  // namespace osiiso::detail
