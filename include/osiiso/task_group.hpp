// SPDX-License-Identifier: MIT
// SyncTaskGroup (a batch of handles) and iter_completed (handles in completion order).
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/errors.hpp>
#include <osiiso/fwd.hpp>
#include <osiiso/run_summary.hpp>
#include <osiiso/task_handle.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace osiiso {

/**
 * An input range over handles in the order they finish. Each step blocks until the next handle
 * is done; throws osiiso::TimeoutError once the shared budget (if any) is spent.
 */
class CompletionRange {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<SyncTaskHandle<>> finished;
  };

 public:
  /// Watches `handles`; `timeout` is the budget of the whole iteration.
  CompletionRange(std::vector<SyncTaskHandle<>> handles, std::optional<Seconds> timeout)
      : shared_(std::make_shared<Shared>()), remaining_(handles.size()) {
    if (timeout) deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(*timeout);
    for (const auto& h : handles) {
      h.start_queue_if_idle("iter_completed()");
      h.add_done_callback([shared = shared_](const SyncTaskHandle<>& done) {
        {
          std::lock_guard lock(shared->mu);
          shared->finished.push_back(done);
        }
        shared->cv.notify_all();
      });
    }
  }

  /// Iterator yielding each handle as it finishes.
  class iterator {
   public:
    using value_type = SyncTaskHandle<>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(CompletionRange* range) : range_(range) { advance(); }
    /// The handle that finished most recently.
    const SyncTaskHandle<>& operator*() const { return *current_; }
    /// Member access on the current handle.
    const SyncTaskHandle<>* operator->() const { return &*current_; }
    /// Blocks until the next handle finishes.
    iterator& operator++() {
      advance();
      return *this;
    }
    /// Post-increment (input iterator).
    void operator++(int) { advance(); }
    /// True once every handle has been yielded.
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept { return !it.current_; }

   private:
    void advance() { current_ = range_->next(); }
    CompletionRange* range_ = nullptr;
    std::optional<SyncTaskHandle<>> current_;
  };

  /// Starts the iteration (blocks for the first handle).
  iterator begin() { return iterator(this); }
  /// End of the iteration.
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  std::optional<SyncTaskHandle<>> next() {
    if (remaining_ == 0) return std::nullopt;
    std::unique_lock lock(shared_->mu);
    const auto ready = [this] { return !shared_->finished.empty(); };
    if (!ready()) detail::check_blocking_wait("iter_completed()", "the next of its handles", detail::fork_generation());
    if (deadline_) {
      if (!shared_->cv.wait_until(lock, *deadline_, ready)) {
        throw TimeoutError("iter_completed(): handles did not complete within the timeout");
      }
    } else {
      shared_->cv.wait(lock, ready);
    }
    SyncTaskHandle<> h = shared_->finished.front();
    shared_->finished.pop_front();
    --remaining_;
    return h;
  }

  std::shared_ptr<Shared> shared_;
  std::size_t remaining_;
  std::optional<Clock::time_point> deadline_;
};

/// Handles in completion order, blocking on each step; `timeout` is a budget for the whole iteration.
template <class R>
CompletionRange iter_completed(const std::vector<SyncTaskHandle<R>>& handles,
                               std::optional<Seconds> timeout = std::nullopt) {
  return CompletionRange(std::vector<SyncTaskHandle<>>(handles.begin(), handles.end()), timeout);
}

/// A batch of tasks submitted together, in submission order.
template <class R>
class [[nodiscard]] SyncTaskGroup {
 public:
  /// Groups `handles` under `group_id` (used by the queues).
  SyncTaskGroup(std::string group_id, std::vector<SyncTaskHandle<R>> handles)
      : group_id_(std::move(group_id)), handles_(std::move(handles)) {}

  /// The group's identifier.
  [[nodiscard]] const std::string& group_id() const noexcept { return group_id_; }
  /// The handles, in submission order.
  [[nodiscard]] const std::vector<SyncTaskHandle<R>>& handles() const noexcept { return handles_; }
  /// Number of tasks in the group.
  [[nodiscard]] std::size_t size() const noexcept { return handles_.size(); }
  /// First handle.
  auto begin() const noexcept { return handles_.begin(); }
  /// Past the last handle.
  auto end() const noexcept { return handles_.end(); }

  /// Waits for every task (sharing `timeout` as one budget) and summarises them in submission order.
  RunSummary wait(std::optional<Seconds> timeout = std::nullopt) const {
    const auto started = Clock::now();
    std::vector<TaskResult> results;
    results.reserve(handles_.size());
    for (const auto& h : handles_) {
      if (timeout) {
        const auto left = std::max(Seconds(0), *timeout - Seconds(Clock::now() - started));
        results.push_back(h.wait(left));
      } else {
        results.push_back(h.wait());
      }
    }
    return RunSummary::from_results(std::move(results), started, false);
  }

  /// The values in submission order; throws osiiso::ExecutionError if any task failed or was cancelled.
  auto values(std::optional<Seconds> timeout = std::nullopt) const requires(!std::is_void_v<R>) {
    const RunSummary summary = wait(timeout);
    summary.raise_for_errors(true);
    std::vector<R> out;
    out.reserve(summary.results.size());
    for (const auto& r : summary.results) {
      if constexpr (std::is_same_v<R, std::any>) {
        out.push_back(r.any_value());
      } else {
        out.push_back(r.template value<R>());
      }
    }
    return out;
  }

  /// The handles in completion order (see iter_completed).
  CompletionRange as_completed(std::optional<Seconds> timeout = std::nullopt) const {
    return iter_completed(handles_, timeout);
  }

  /// Requests cancellation of every task; returns how many requests were accepted.
  std::size_t cancel() const {
    std::size_t n = 0;
    for (const auto& h : handles_) n += h.cancel() ? 1 : 0;
    return n;
  }

 private:
  std::string group_id_;
  std::vector<SyncTaskHandle<R>> handles_;
};

}  // namespace osiiso
