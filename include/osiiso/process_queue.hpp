// SPDX-License-Identifier: MIT
// ProcessQueue: the queue model on worker processes, for CPU-bound work.
#pragma once

#include <osiiso/call.hpp>
#include <osiiso/detail/engine_ref.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/queue_front.hpp>
#include <osiiso/init.hpp>
#include <osiiso/queue_options.hpp>
#include <osiiso/registry.hpp>

#include <memory>
#include <utility>

namespace osiiso {

/**
 * A task queue on persistent worker processes. Takes functions registered with OSIISO_TASK
 * whose arguments and result Boost.Serialization can carry; a task that times out or is
 * cancelled has its worker killed (and replaced).
 *
 * ```cpp
 * int compute(int n) { return n * n; }
 * OSIISO_TASK(compute);
 *
 * osiiso::ProcessQueue q({.workers = 4});
 * q.map(compute, std::vector{1, 2, 3});
 * osiiso::RunSummary summary = q.run();
 * ```
 */
class ProcessQueue : public detail::QueueFront<ProcessQueue> {
 public:
  /// The value type of a handle for `f(args...)`.
  template <class F, class... A>
  using result_t = process_result_t<F, A...>;

  /// Validates `options` (std::invalid_argument); workers start with start(), run() or join().
  explicit ProcessQueue(ProcessQueueOptions options = {})
      : QueueFront(detail::make_process_queue_engine(std::move(options))) {}

  /// Graceful shutdown, or forced when the scope is left by an exception.
  ~ProcessQueue() = default;

  ProcessQueue(const ProcessQueue&) = delete;
  ProcessQueue& operator=(const ProcessQueue&) = delete;

  /// The payload and default name of `f(args...)` (used by the shared front).
  template <class F, class... A>
  static detail::PreparedTask prepare(F&& f, A&&... args) {
    return detail::make_process_work(std::forward<F>(f), std::forward<A>(args)...);
  }
  /// The payload of one call of a heterogeneous group.
  static detail::PreparedTask prepare(const Call& call) { return call.prepare_for_processes(); }
};

}  // namespace osiiso
