// SPDX-License-Identifier: MIT
// EngineRef and the handle-side calls: the public headers' way into the engine.
#include <osiiso/detail/engine_ref.hpp>

#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/progress_display.hpp>

namespace osiiso::detail {

TaskStatePtr EngineRef::submit(std::unique_ptr<Work> work, const TaskOptions& options, std::string default_name) const {
  return engine_->submit(std::move(work), options, std::move(default_name));
}
std::string EngineRef::next_group_id() const { return engine_->next_group_id(); }
void EngineRef::start() const { engine_->start(); }
RunSummary EngineRef::run(const RunOptions& options) const {
  if (!options.progress) return engine_->run(options);
  ProgressDisplay progress(
      [engine = engine_, base = engine_->stats()] { return progress_since(base, engine->stats()); },
      ProgressOptions{.label = "run", .unbounded = engine_->mode() == Mode::Infinite});
  return engine_->run(options);
}
void EngineRef::join() const { engine_->join(); }
void EngineRef::shutdown(bool force) const { engine_->shutdown(force); }
void EngineRef::cancel() const { engine_->cancel(); }
void EngineRef::reset() const { engine_->reset(); }
void EngineRef::clear_results() const { engine_->clear_results(); }
std::size_t EngineRef::active_count() const { return engine_->active_count(); }
std::size_t EngineRef::pending_count() const { return engine_->pending_count(); }
bool EngineRef::closed() const { return engine_->closed(); }
std::vector<TaskResult> EngineRef::results() const { return engine_->results(); }
Stats EngineRef::stats() const { return engine_->stats(); }

void EngineRef::release(bool force) noexcept {
  if (engine_->foreign()) {
    // A forked copy: the queue's threads and workers belong to the parent; release nothing.
    abandon_engine(std::move(engine_));
    return;
  }
  try {
    engine_->shutdown(force);
  } catch (...) {
    report_hook_error("queue destructor", std::current_exception());
  }
}

bool cancel_task(const TaskState& state) {
  const std::shared_ptr<Task> task = state.task.lock();
  const std::shared_ptr<Engine> engine = state.engine.lock();
  if (!task || !engine) return false;
  return engine->cancel_task(task);
}

void start_queue_of(const TaskState& state) {
  if (auto engine = state.engine.lock()) engine->ensure_started();
}

}  // namespace osiiso::detail
