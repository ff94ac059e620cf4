// SPDX-License-Identifier: MIT
// ProcessQueue: the queue model on worker processes, for CPU-bound work.
#pragma once

#include <osiiso/call.hpp>
#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/process_backend.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/queue_front.hpp>
#include <osiiso/init.hpp>
#include <osiiso/queue_options.hpp>
#include <osiiso/registry.hpp>

#include <algorithm>
#include <memory>
#include <thread>
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
  explicit ProcessQueue(ProcessQueueOptions options = {}) : QueueFront(make_engine(std::move(options))) {}

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

 private:
  static std::shared_ptr<detail::Engine> make_engine(ProcessQueueOptions options) {
    options.validate();
    const std::size_t hardware = std::max(1U, std::thread::hardware_concurrency());
    detail::ProcessBackendConfig backend{.method = options.context.start_method(), .poll = options.poll};
    auto engine = std::make_shared<detail::Engine>(detail::EngineConfig{
        .workers = options.workers,
        .auto_limit = std::min<std::size_t>(32, hardware),
        .size = options.size,
        .timeout = options.timeout,
        .mode = options.mode,
        .fail_policy = options.fail_policy,
        .on_exit = options.on_exit,
        .on_start = std::move(options.on_start),
        .on_complete = std::move(options.on_complete),
        .on_retry = std::move(options.on_retry),
        .queue_name = "ProcessQueue",
    });
    engine->set_backend(std::make_unique<detail::ProcessBackend>(*engine, std::move(backend)));
    return engine;
  }
};

}  // namespace osiiso
