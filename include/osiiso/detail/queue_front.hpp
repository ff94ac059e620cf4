// SPDX-License-Identifier: MIT
// The API both queues share: submission (submit, map, group, task) and lifecycle, over the engine.
#pragma once

#include <osiiso/detail/call_type.hpp>
#include <osiiso/detail/engine_ref.hpp>
#include <osiiso/queue_options.hpp>
#include <osiiso/run_summary.hpp>
#include <osiiso/stats.hpp>
#include <osiiso/task_group.hpp>
#include <osiiso/task_handle.hpp>
#include <osiiso/task_options.hpp>

#include <any>
#include <exception>
#include <initializer_list>
#include <memory>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace osiiso {
template <class KeyFn>
struct Resume;
}  // namespace osiiso

namespace osiiso::detail {

template <class T>
struct is_tuple_like : std::false_type {};
template <class... T>
struct is_tuple_like<std::tuple<T...>> : std::true_type {};
template <class A, class B>
struct is_tuple_like<std::pair<A, B>> : std::true_type {};

// The result type of one map/group element: tuples and pairs are unpacked into arguments.
template <class Derived, class F, class E>
struct element_result {
  using type = typename Derived::template result_t<F, E>;
};
template <class Derived, class F, class... T>
struct element_result<Derived, F, std::tuple<T...>> {
  using type = typename Derived::template result_t<F, T...>;
};
template <class Derived, class F, class A, class B>
struct element_result<Derived, F, std::pair<A, B>> {
  using type = typename Derived::template result_t<F, A, B>;
};

template <class Derived, class Fn>
class BoundTask;
template <class Derived>
class QueueFront;

// map over a checkpoint (defined in detail/resume.hpp, which <osiiso/checkpoint.hpp> includes).
template <class R, class Derived, class F, class Range, class KeyFn>
std::vector<SyncTaskHandle<R>> resume_map(QueueFront<Derived>& queue, const TaskOptions& options, F& f, Range&& range,
                                          const Resume<KeyFn>& from);

// Derived provides `result_t<F, A...>` (the handle's value type) and `static PreparedTask
// prepare(F&&, A&&...)` and `static PreparedTask prepare(const Call&)`.
template <class Derived>
class QueueFront {
 public:
  QueueFront(const QueueFront&) = delete;
  QueueFront& operator=(const QueueFront&) = delete;

  /// Submits `f(args...)` with default options.
  template <class F, class... A>
  requires(!std::is_same_v<std::remove_cvref_t<F>, TaskOptions>) auto submit(F&& f, A&&... args) {
    return submit(TaskOptions{}, std::forward<F>(f), std::forward<A>(args)...);
  }

  /// Submits `f(args...)` with `options`; throws std::invalid_argument or ClosedError.
  template <class F, class... A>
  auto submit(const TaskOptions& options, F&& f, A&&... args) {
    using R = typename Derived::template result_t<F, A...>;
    PreparedTask prepared = Derived::prepare(std::forward<F>(f), std::forward<A>(args)...);
    return SyncTaskHandle<R>(engine_.submit(std::move(prepared.work), options, std::move(prepared.name)));
  }

  /// Submits `f` once per element (tuples are unpacked into arguments).
  template <class F, std::ranges::input_range Range>
  requires(!std::is_same_v<std::remove_cvref_t<F>, TaskOptions>) auto map(F&& f, Range&& range) {
    return map(TaskOptions{}, std::forward<F>(f), std::forward<Range>(range));
  }

  /// Submits `f` once per element with `options`.
  template <class F, std::ranges::input_range Range>
  auto map(const TaskOptions& options, F&& f, Range&& range) {
    using E = std::remove_cvref_t<std::ranges::range_reference_t<Range>>;
    using R = typename element_result<Derived, F, E>::type;
    std::vector<SyncTaskHandle<R>> handles;
    if constexpr (std::ranges::sized_range<Range>) handles.reserve(std::ranges::size(range));
    for (auto&& element : range) handles.push_back(submit_element<R>(options, f, element));
    return handles;
  }

  /// Submits `f` once per element, except the inputs `from` (osiiso::resume) has recorded: those
  /// come back as finished handles with the stored value. Needs <osiiso/checkpoint.hpp>.
  template <class F, std::ranges::input_range Range, class KeyFn>
  auto map(F&& f, Range&& range, const Resume<KeyFn>& from) {
    return map(TaskOptions{}, std::forward<F>(f), std::forward<Range>(range), from);
  }

  /// map over a checkpoint with `options`.
  template <class F, std::ranges::input_range Range, class KeyFn>
  auto map(const TaskOptions& options, F&& f, Range&& range, const Resume<KeyFn>& from) {
    using E = std::remove_cvref_t<std::ranges::range_reference_t<Range>>;
    using R = typename element_result<Derived, F, E>::type;
    return resume_map<R>(*this, options, f, std::forward<Range>(range), from);
  }

  /// group over a checkpoint (see map).
  template <class F, std::ranges::input_range Range, class KeyFn>
  auto group(F&& f, Range&& range, const Resume<KeyFn>& from) {
    return group(TaskOptions{}, std::forward<F>(f), std::forward<Range>(range), from);
  }

  /// group over a checkpoint with `options`.
  template <class F, std::ranges::input_range Range, class KeyFn>
  auto group(const TaskOptions& options, F&& f, Range&& range, const Resume<KeyFn>& from) {
    TaskOptions grouped = with_group_id(options);
    auto handles = map(grouped, std::forward<F>(f), std::forward<Range>(range), from);
    using H = typename decltype(handles)::value_type;
    return SyncTaskGroup<typename H::value_type>(*grouped.group_id, std::move(handles));
  }

  /// Submits `f` once per element as a group with a generated id.
  template <class F, std::ranges::input_range Range>
  requires(!std::is_same_v<std::remove_cvref_t<F>, TaskOptions>) auto group(F&& f, Range&& range) {
    return group(TaskOptions{}, std::forward<F>(f), std::forward<Range>(range));
  }

  /// Submits `f` once per element as a group (`options.group_id`, or a generated id).
  template <class F, std::ranges::input_range Range>
  auto group(const TaskOptions& options, F&& f, Range&& range) {
    TaskOptions grouped = with_group_id(options);
    auto handles = map(grouped, std::forward<F>(f), std::forward<Range>(range));
    using H = typename decltype(handles)::value_type;
    return SyncTaskGroup<typename H::value_type>(*grouped.group_id, std::move(handles));
  }

  /// Submits heterogeneous calls (`{osiiso::call(f, x), osiiso::call(g, y, z)}`) as one group.
  SyncTaskGroup<> group(std::initializer_list<Call> calls) { return group(TaskOptions{}, calls); }

  /// Submits heterogeneous calls as one group with `options`.
  SyncTaskGroup<> group(const TaskOptions& options, std::initializer_list<Call> calls) {
    return group_calls(options, calls);
  }

  /// Submits a vector of heterogeneous calls as one group with `options`.
  SyncTaskGroup<> group(const TaskOptions& options, const std::vector<Call>& calls) {
    return group_calls(options, calls);
  }

  /// Binds options for later submissions: `q.task({.retries = 1})(fn)(args...)`.
  auto task(const TaskOptions& options = {}) {
    return [this, options](auto fn) { return BoundTask<Derived, decltype(fn)>(derived(), options, std::move(fn)); };
  }

  /// Starts the workers and accepts a new run; throws ClosedError after shutdown.
  Derived& start() {
    engine_.start();
    return derived();
  }
  /// Runs every outstanding task and summarises the run (see RunOptions).
  RunSummary run(const RunOptions& options = {}) { return engine_.run(options); }
  /// Blocks until every outstanding task has finished (starts the queue if needed).
  void join() { engine_.join(); }
  /// Graceful shutdown drains everything, delayed tasks included; `{.force = true}` cancels everything.
  void shutdown(const ShutdownOptions& options = {}) { engine_.shutdown(options.force); }
  /// Forced shutdown; thread-safe, also from inside a task or hook.
  void cancel() { engine_.cancel(); }
  /// Restores a shut-down queue for reuse, cancelling leftovers and clearing results.
  void reset() { engine_.reset(); }
  /// Discards accumulated results and returns the freed memory to the system (drop handles first).
  void clear_results() { engine_.clear_results(); }

  /// Tasks currently executing.
  [[nodiscard]] std::size_t active_count() const { return engine_.active_count(); }
  /// Tasks waiting to execute (queued or scheduled).
  [[nodiscard]] std::size_t pending_count() const { return engine_.pending_count(); }
  /// True after shutdown() has completed.
  [[nodiscard]] bool closed() const { return engine_.closed(); }
  /// Every result accumulated so far (detached tasks included), in completion order.
  [[nodiscard]] std::vector<TaskResult> results() const { return engine_.results(); }
  /// A snapshot of the queue's counters.
  [[nodiscard]] Stats stats() const { return engine_.stats(); }

 protected:
  explicit QueueFront(std::shared_ptr<Engine> engine) : engine_(std::move(engine)) {}

  /// Graceful shutdown, or forced when the scope is left by an exception.
  ~QueueFront() { engine_.release(std::uncaught_exceptions() > uncaught_at_construction_); }

 private:
  template <class, class>
  friend class BoundTask;

  Derived& derived() { return static_cast<Derived&>(*this); }

  TaskOptions with_group_id(const TaskOptions& options) {
    TaskOptions grouped = options;
    if (!grouped.group_id) grouped.group_id = engine_.next_group_id();
    return grouped;
  }

  template <class R, class F, class E>
  SyncTaskHandle<R> submit_element(const TaskOptions& options, F& f, E&& element) {
    if constexpr (is_tuple_like<std::remove_cvref_t<E>>::value) {
      return std::apply([&](auto&&... args) { return submit(options, f, std::forward<decltype(args)>(args)...); },
                        std::forward<E>(element));
    } else {
      return submit(options, f, std::forward<E>(element));
    }
  }

  template <class Calls>
  SyncTaskGroup<> group_calls(const TaskOptions& options, const Calls& calls) {
    TaskOptions grouped = with_group_id(options);
    std::vector<SyncTaskHandle<>> handles;
    handles.reserve(calls.size());
    for (const Call& c : calls) {
      PreparedTask prepared = Derived::prepare(c);
      handles.emplace_back(engine_.submit(std::move(prepared.work), grouped, std::move(prepared.name)));
    }
    return SyncTaskGroup<>(*grouped.group_id, std::move(handles));
  }

  EngineRef engine_;
  int uncaught_at_construction_ = std::uncaught_exceptions();
};

// A function bound to a queue and options by `q.task(options)(fn)`.
template <class Derived, class Fn>
class BoundTask {
 public:
  BoundTask(Derived& queue, TaskOptions options, Fn fn) : queue_(&queue), options_(std::move(options)), fn_(fn) {}

  /// Submits `fn(args...)`.
  template <class... A>
  auto operator()(A&&... args) const {
    return queue_->submit(options_, fn_, std::forward<A>(args)...);
  }
  /// Submits `fn` once per element.
  template <std::ranges::input_range Range>
  auto map(Range&& range) const {
    return queue_->map(options_, fn_, std::forward<Range>(range));
  }
  /// Submits `fn` once per element as a group.
  template <std::ranges::input_range Range>
  auto group(Range&& range) const {
    return queue_->group(options_, fn_, std::forward<Range>(range));
  }

 private:
  Derived* queue_;
  TaskOptions options_;
  Fn fn_;
};

}  // namespace osiiso::detail
