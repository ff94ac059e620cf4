// SPDX-License-Identifier: MIT
// ThreadQueue: the queue model on worker threads, for blocking I/O-bound work.
#pragma once

#include <osiiso/detail/call_type.hpp>
#include <osiiso/detail/engine_ref.hpp>
#include <osiiso/detail/queue_front.hpp>
#include <osiiso/detail/thread_work.hpp>
#include <osiiso/queue_options.hpp>

#include <memory>
#include <utility>

namespace osiiso {

/**
 * A task queue on worker threads. Takes any callable, lambdas with captures included. A task
 * whose first parameter is `std::stop_token` is asked to stop when it times out or is cancelled;
 * any other timed-out or cancelled attempt is abandoned (its thread runs on, its result is dropped).
 *
 * ```cpp
 * osiiso::ThreadQueue q({.workers = 4});
 * q.map(fetch, urls);
 * osiiso::RunSummary summary = q.run();
 * ```
 */
class ThreadQueue : public detail::QueueFront<ThreadQueue> {
 public:
  /// The value type of a handle for `f(args...)`.
  template <class F, class... A>
  using result_t = detail::thread_result_t<F, A...>;

  /// Validates `options` (std::invalid_argument); workers start with start(), run() or join().
  explicit ThreadQueue(ThreadQueueOptions options = {})
      : QueueFront(detail::make_thread_queue_engine(std::move(options))) {}

  /// Graceful shutdown, or forced when the scope is left by an exception.
  ~ThreadQueue() = default;

  ThreadQueue(const ThreadQueue&) = delete;
  ThreadQueue& operator=(const ThreadQueue&) = delete;

  /// The payload and default name of `f(args...)` (used by the shared front).
  template <class F, class... A>
  static detail::PreparedTask prepare(F&& f, A&&... args) {
    return detail::make_thread_work(std::forward<F>(f), std::forward<A>(args)...);
  }
  /// The payload of one call of a heterogeneous group.
  static detail::PreparedTask prepare(const Call& call) { return call.prepare_for_threads(); }
};

}  // namespace osiiso
