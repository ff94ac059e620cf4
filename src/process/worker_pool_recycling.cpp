// SPDX-License-Identifier: MIT
// LocalWorkerPool: what a worker does besides jobs: the initializer it runs first, and when it
// is worn out (jobs done, memory grown) and replaced.
#include <osiiso/detail/proc_memory.hpp>
#include <osiiso/detail/worker_pool.hpp>

#include <osiiso/errors.hpp>

#include <fmt/format.h>

namespace osiiso::detail {

void LocalWorkerPool::initialize(WorkerSlot& slot) {
  RunningJob setup;
  setup.name = config_.initializer_name;
  setup.initializer = true;
  slot.assign(std::move(setup));
  try {
    slot.writer().begin(0, decode_request(config_.initializer_request), nullptr, config_.max_frame_size);
  } catch (const std::exception& e) {
    initializer_failed(slot, fmt::format("its request could not be sent: {}", e.what()));
    return;
  }
  // An initializer that never returns would hold the worker forever: it has the start timeout.
  slot.set_deadline(Clock::now() + to_clock_duration(config_.launch.start_timeout));
  write_request(slot);
}

void LocalWorkerPool::initializer_failed(WorkerSlot& slot, const std::string& why) {
  const std::string message = fmt::format("{}: the worker initializer '{}' failed in worker (pid {}): {}",
                                          config_.queue_name, config_.initializer_name, slot.process().pid(), why);
  slot.drop_job();
  if (!slot.process().reaped()) {
    close_reply(slot);
    slot.kill_now(grace());
  }
  // The next worker starts after a pause, not at once: an initializer that always fails fails
  // one task per start, never loops (and with no worker alive the backlog fails at once).
  launcher_.failed(message);
  if (auto job = take_job(false)) {
    listener_.job_failed(job->id,
                         std::make_exception_ptr(OsiisoError(
                             fmt::format("{}; task '{}' did not run and the worker was replaced", message, job->name))),
                         0);
  }
}

bool LocalWorkerPool::worn_out(const WorkerSlot& slot, const RunningJob& job, FrameType reply) const {
  if (config_.max_jobs_per_worker > 0 && slot.jobs_done >= config_.max_jobs_per_worker) return true;
  // A job that failed under its memory cap may have left the worker's heap at the cap.
  if (job.memory_limit && reply != FrameType::Value) return true;
  if (!config_.max_worker_memory) return false;
  const auto memory = process_memory(slot.process().pid());
  return memory && memory->resident > *config_.max_worker_memory;
}

}  // namespace osiiso::detail
