// SPDX-License-Identifier: MIT
// The engine as the public headers reach it: an owning handle and a few calls whose definitions
// live beside the engine (src/engine/engine_ref.cpp), so that no public header includes
// detail/engine.hpp.
#pragma once

#include <osiiso/detail/backend.hpp>
#include <osiiso/detail/task_state.hpp>
#include <osiiso/queue_options.hpp>
#include <osiiso/run_summary.hpp>
#include <osiiso/stats.hpp>
#include <osiiso/task_options.hpp>
#include <osiiso/task_result.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace osiiso::detail {

class Engine;

// One queue's engine, owned. Every member forwards to the Engine member of the same name.
class EngineRef {
 public:
  explicit EngineRef(std::shared_ptr<Engine> engine) noexcept : engine_(std::move(engine)) {}

  [[nodiscard]] TaskStatePtr submit(std::unique_ptr<Work> work, const TaskOptions& options,
                                    std::string default_name) const;
  [[nodiscard]] std::string next_group_id() const;
  void start() const;
  [[nodiscard]] RunSummary run(const RunOptions& options) const;
  void join() const;
  void shutdown(bool force) const;
  void cancel() const;
  void reset() const;
  void clear_results() const;
  [[nodiscard]] std::size_t active_count() const;
  [[nodiscard]] std::size_t pending_count() const;
  [[nodiscard]] bool closed() const;
  [[nodiscard]] std::vector<TaskResult> results() const;
  [[nodiscard]] Stats stats() const;
  // The end of a queue's scope: a graceful shutdown (forced when `force`), errors logged; in a
  // forked copy of the creating process, the engine is abandoned untouched.
  void release(bool force) noexcept;

 private:
  std::shared_ptr<Engine> engine_;
};

// The engines of the two queues, with their backends.
std::shared_ptr<Engine> make_thread_queue_engine(ThreadQueueOptions options);
std::shared_ptr<Engine> make_process_queue_engine(ProcessQueueOptions options);

// Handle side: cancels the task of `state` (false when it had finished or its queue is gone).
bool cancel_task(const TaskState& state);
// Handle side: starts the queue of `state` if nothing started it (a wait must not hang).
void start_queue_of(const TaskState& state);

}  // namespace osiiso::detail
