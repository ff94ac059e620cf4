// SPDX-License-Identifier: MIT
// pmap and tmap: one call that builds a queue, maps a function over inputs, runs it and returns
// the values in input order.
#pragma once

#include <osiiso/errors.hpp>
#include <osiiso/process_queue.hpp>
#include <osiiso/queue_options.hpp>
#include <osiiso/task_options.hpp>
#include <osiiso/thread_queue.hpp>

#include <ranges>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace osiiso {

namespace detail {

// The values of `handles` in order; ExecutionError carrying every failed or cancelled result.
template <class R>
auto values_or_throw(const std::vector<SyncTaskHandle<R>>& handles) {
  std::vector<TaskResult> bad;
  for (const auto& h : handles) {
    if (h.result().status != TaskStatus::Succeeded) bad.push_back(h.result());
  }
  if (!bad.empty()) throw ExecutionError(std::move(bad));
  if constexpr (!std::is_void_v<R>) {
    std::vector<R> out;
    out.reserve(handles.size());
    for (const auto& h : handles) out.push_back(h.value());
    return out;
  }
}

// `from`: nothing, or the Resume of a checkpoint.
template <class Queue, class QueueOptions, class F, class Range, class... From>
auto one_shot_map(std::string_view caller, const QueueOptions& queue_options, const TaskOptions& options, F&& f,
                  Range&& inputs, const From&... from) {
  if (queue_options.mode != Mode::Finite) {
    throw std::invalid_argument(std::string(caller) + "(): mode must be Mode::Finite (an infinite run never returns)");
  }
  Queue queue(queue_options);
  auto handles = queue.map(options, std::forward<F>(f), std::forward<Range>(inputs), from...);
  static_cast<void>(queue.run());
  return values_or_throw(handles);
}

}  // namespace detail

/// Runs `f` over `inputs` on a new ProcessQueue; the values in input order (tuples are unpacked
/// into arguments); throws ExecutionError if any task failed or was cancelled.
template <class F, std::ranges::input_range Range>
auto pmap(F&& f, Range&& inputs) {
  return detail::one_shot_map<ProcessQueue>("pmap", ProcessQueueOptions{}, TaskOptions{}, std::forward<F>(f),
                                            std::forward<Range>(inputs));
}

/// pmap on a ProcessQueue built with `queue_options` (workers, context, rate, initializer, ...).
template <class F, std::ranges::input_range Range>
auto pmap(const ProcessQueueOptions& queue_options, F&& f, Range&& inputs) {
  return detail::one_shot_map<ProcessQueue>("pmap", queue_options, TaskOptions{}, std::forward<F>(f),
                                            std::forward<Range>(inputs));
}

/// pmap with `options` for every task (retries, timeout, ...).
template <class F, std::ranges::input_range Range>
auto pmap(const ProcessQueueOptions& queue_options, const TaskOptions& options, F&& f, Range&& inputs) {
  return detail::one_shot_map<ProcessQueue>("pmap", queue_options, options, std::forward<F>(f),
                                            std::forward<Range>(inputs));
}

/// Runs `f` over `inputs` on a new ThreadQueue; the values in input order; throws ExecutionError
/// if any task failed or was cancelled.
template <class F, std::ranges::input_range Range>
auto tmap(F&& f, Range&& inputs) {
  return detail::one_shot_map<ThreadQueue>("tmap", ThreadQueueOptions{}, TaskOptions{}, std::forward<F>(f),
                                           std::forward<Range>(inputs));
}

/// tmap on a ThreadQueue built with `queue_options`.
template <class F, std::ranges::input_range Range>
auto tmap(const ThreadQueueOptions& queue_options, F&& f, Range&& inputs) {
  return detail::one_shot_map<ThreadQueue>("tmap", queue_options, TaskOptions{}, std::forward<F>(f),
                                           std::forward<Range>(inputs));
}

/// tmap with `options` for every task.
template <class F, std::ranges::input_range Range>
auto tmap(const ThreadQueueOptions& queue_options, const TaskOptions& options, F&& f, Range&& inputs) {
  return detail::one_shot_map<ThreadQueue>("tmap", queue_options, options, std::forward<F>(f),
                                           std::forward<Range>(inputs));
}

/// pmap resuming from a checkpoint (`osiiso::resume(cp)`, <osiiso/checkpoint.hpp>): recorded inputs
/// are not run again and their stored values take their place.
template <class F, std::ranges::input_range Range, class KeyFn>
auto pmap(F&& f, Range&& inputs, const Resume<KeyFn>& from) {
  return detail::one_shot_map<ProcessQueue>("pmap", ProcessQueueOptions{}, TaskOptions{}, std::forward<F>(f),
                                            std::forward<Range>(inputs), from);
}

/// pmap with queue options, resuming from a checkpoint.
template <class F, std::ranges::input_range Range, class KeyFn>
auto pmap(const ProcessQueueOptions& queue_options, F&& f, Range&& inputs, const Resume<KeyFn>& from) {
  return detail::one_shot_map<ProcessQueue>("pmap", queue_options, TaskOptions{}, std::forward<F>(f),
                                            std::forward<Range>(inputs), from);
}

/// pmap with queue and task options, resuming from a checkpoint.
template <class F, std::ranges::input_range Range, class KeyFn>
auto pmap(const ProcessQueueOptions& queue_options, const TaskOptions& options, F&& f, Range&& inputs,
          const Resume<KeyFn>& from) {
  return detail::one_shot_map<ProcessQueue>("pmap", queue_options, options, std::forward<F>(f),
                                            std::forward<Range>(inputs), from);
}

/// tmap resuming from a checkpoint (`osiiso::resume(cp)`, <osiiso/checkpoint.hpp>): recorded inputs
/// are not run again and their stored values take their place.
template <class F, std::ranges::input_range Range, class KeyFn>
auto tmap(F&& f, Range&& inputs, const Resume<KeyFn>& from) {
  return detail::one_shot_map<ThreadQueue>("tmap", ThreadQueueOptions{}, TaskOptions{}, std::forward<F>(f),
                                           std::forward<Range>(inputs), from);
}

/// tmap with queue options, resuming from a checkpoint.
template <class F, std::ranges::input_range Range, class KeyFn>
auto tmap(const ThreadQueueOptions& queue_options, F&& f, Range&& inputs, const Resume<KeyFn>& from) {
  return detail::one_shot_map<ThreadQueue>("tmap", queue_options, TaskOptions{}, std::forward<F>(f),
                                           std::forward<Range>(inputs), from);
}

/// tmap with queue and task options, resuming from a checkpoint.
template <class F, std::ranges::input_range Range, class KeyFn>
auto tmap(const ThreadQueueOptions& queue_options, const TaskOptions& options, F&& f, Range&& inputs,
          const Resume<KeyFn>& from) {
  return detail::one_shot_map<ThreadQueue>("tmap", queue_options, options, std::forward<F>(f),
                                           std::forward<Range>(inputs), from);
}

}  // namespace osiiso
