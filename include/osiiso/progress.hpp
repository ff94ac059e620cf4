// SPDX-License-Identifier: MIT
// Progress: a tqdm-style progress line on stderr for a queue, a group or a set of handles.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/progress_line.hpp>
#include <osiiso/stats.hpp>
#include <osiiso/task_group.hpp>
#include <osiiso/task_handle.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace osiiso {

/// Options of a Progress line.
struct ProgressOptions {
  /// Text before the bar (default: the handles' common task name; "run" for a queue).
  std::string label{};
  /// Tasks expected (default: the handles' count; for a queue, its results since watching began
  /// plus its outstanding tasks).
  std::optional<std::size_t> total{};
  /// Count and rate only, no bar and no total: for a stream of tasks with no known end.
  bool unbounded = false;
  /// Descriptor the line is written to (default: standard error).
  int fd = 2;
  /// Least time between two redraws.
  Seconds interval{std::chrono::milliseconds(100)};
};

namespace detail {
class ProgressDisplay;
// Where a Progress takes its counts from; called on its drawing thread.
using ProgressSource = std::function<ProgressSample()>;
// The counts of a queue since `base` (a stats() snapshot taken when watching began).
[[nodiscard]] ProgressSample progress_since(const Stats& base, const Stats& now);
}  // namespace detail

/**
 * Draws one progress line, redrawn in place while the watched tasks finish, when the descriptor
 * is a terminal; otherwise it writes only the closing line. The line closes (with a newline) on
 * finish() or destruction. A watched queue must outlive the Progress.
 *
 * `osiiso::Progress progress(queue); queue.join();` or `osiiso::Progress progress(handles);`
 */
class Progress {
 public:
  /// Watches a queue (anything with `stats()`): counts the results that arrive from now on.
  template <class Queue>
  requires requires(const Queue& q) {
    { q.stats() } -> std::same_as<Stats>;
  }
  explicit Progress(const Queue& queue, ProgressOptions options = {})
      : Progress(queue_source(queue), with_label(std::move(options), "run")) {}

  /// Watches handles: the total is their count, each is counted as it finishes.
  template <class R>
  explicit Progress(const std::vector<SyncTaskHandle<R>>& handles, ProgressOptions options = {})
      : Progress(handles_source(handles, handles.size()), with_label(std::move(options), common_name(handles))) {}

  /// Watches the tasks of a group.
  template <class R>
  explicit Progress(const SyncTaskGroup<R>& group, ProgressOptions options = {})
      : Progress(group.handles(), std::move(options)) {}

  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  /// Closes the line (see finish()).
  ~Progress();

  /// Draws the closing line and stops redrawing; later calls do nothing.
  void finish();

 private:
  Progress(detail::ProgressSource source, ProgressOptions options);

  struct Finished {
    std::atomic<std::size_t> done{0};
    std::atomic<std::size_t> failed{0};
    std::atomic<std::size_t> cancelled{0};
  };

  template <class Queue>
  static detail::ProgressSource queue_source(const Queue& queue) {
    return [&queue, base = queue.stats()] { return detail::progress_since(base, queue.stats()); };
  }

  template <class R>
  static detail::ProgressSource handles_source(const std::vector<SyncTaskHandle<R>>& handles, std::size_t total) {
    auto finished = std::make_shared<Finished>();
    for (const auto& h : handles) {
      h.add_done_callback([finished](const SyncTaskHandle<>& done) {
        const TaskStatus status = done.result().status;
        if (status == TaskStatus::Failed) finished->failed.fetch_add(1, std::memory_order_relaxed);
        if (status == TaskStatus::Cancelled) finished->cancelled.fetch_add(1, std::memory_order_relaxed);
        finished->done.fetch_add(1, std::memory_order_release);
      });
    }
    return [finished, total] {
      detail::ProgressSample s;
      s.total = total;
      s.done = finished->done.load(std::memory_order_acquire);
      s.failed = finished->failed.load(std::memory_order_relaxed);
      s.cancelled = finished->cancelled.load(std::memory_order_relaxed);
      return s;
    };
  }

  template <class R>
  static std::string common_name(const std::vector<SyncTaskHandle<R>>& handles) {
    if (handles.empty()) return {};
    for (const auto& h : handles) {
      if (h.name() != handles.front().name()) return {};
    }
    return handles.front().name();
  }

  static ProgressOptions with_label(ProgressOptions options, std::string label) {
    if (options.label.empty()) options.label = std::move(label);
    return options;
  }

  std::unique_ptr<detail::ProgressDisplay> display_;
};

}  // namespace osiiso
