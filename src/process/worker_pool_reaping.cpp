// SPDX-License-Identifier: MIT
// LocalWorkerPool: deadlines, reaping, and stopping the pool.
#include <osiiso/detail/worker_pool.hpp>

#include <osiiso/detail/proc_memory.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>

namespace osiiso::detail {

Clock::duration LocalWorkerPool::next_timeout(Clock::duration cap) const {
  auto timeout = cap;
  const auto now = Clock::now();
  const auto consider = [&](const std::optional<Clock::time_point>& at) {
    if (at) timeout = std::min(timeout, std::max(Clock::duration::zero(), *at - now));
  };
  consider(launcher_.next_deadline());
  for (const auto& [serial, slot] : slots_) {
    consider(slot.deadline());
    const auto state = slot.state();
    // Without a pidfd an ending worker is polled for.
    if (slot.process().pidfd() < 0 && slot.process().own_child() &&
        (state == WorkerSlot::State::Exiting || state == WorkerSlot::State::Killing)) {
      timeout = std::min<Clock::duration>(timeout, std::chrono::milliseconds(5));
    }
  }
  return timeout;
}

void LocalWorkerPool::expire() {
  deadlines();
  reap();
}

void LocalWorkerPool::deadlines() {
  const auto now = Clock::now();
  if (const auto& hello_by = launcher_.server().deadline(); hello_by && now >= *hello_by) server_failed();
  for (auto& [serial, slot] : slots_) {
    if (!slot.deadline() || now < *slot.deadline() || slot.process().reaped()) continue;
    if (slot.job() && slot.job()->initializer && slot.state() == WorkerSlot::State::Busy) {
      initializer_failed(slot, fmt::format("it did not return within {}s", config_.launch.start_timeout.count()));
      continue;
    }
    if (slot.on_deadline() && launcher_.method() != StartMethod::Fork) {
      launcher_.not_ready(
          fmt::format("ProcessQueue: the worker process (pid {}) did not report ready within {}s; {}",
                      slot.process().pid(), config_.launch.start_timeout.count(), launcher_.init_hint()),
          any_serving());
    }
  }
}

void LocalWorkerPool::reap() {
  std::vector<std::uint64_t> done;
  for (auto& [serial, slot] : slots_) {
    const auto state = slot.state();
    if (slot.process().pidfd() < 0 && (state == WorkerSlot::State::Exiting || state == WorkerSlot::State::Killing)) {
      slot.process().try_reap();
    }
    if (slot.process().reaped()) done.push_back(serial);
  }
  for (const auto serial : done) {
    auto node = slots_.extract(serial);
    WorkerSlot& slot = node.mapped();
    try {
      read_replies(slot);  // a reply written just before the end
    } catch (const std::exception&) {
      // Unreadable: its job fails below as the worker's death.
    }
    forget(slot);
    const ChildProcess& process = slot.process();
    if (!slot.said_hello() && launcher_.method() != StartMethod::Fork && !launcher_.broken()) {
      launcher_.not_ready(fmt::format("ProcessQueue: the worker process (pid {}) {} before it was ready; {}",
                                      process.pid(), process.describe_end(), launcher_.init_hint()),
                          any_serving());
    }
    if (slot.job() && slot.job()->initializer) {
      initializer_failed(slot, fmt::format("the worker {} while running it", process.describe_end()));
    } else if (auto job = slot.drop_job()) {
      const std::string cap = job->memory_limit ? fmt::format("; the task most likely exceeded its memory limit of {}",
                                                              mebibytes(*job->memory_limit))
                                                : std::string();
      listener_.job_failed(job->id,
                           std::make_exception_ptr(WorkerDiedError(
                               fmt::format("{} worker (pid {}) {} while running task '{}'{}", config_.queue_name,
                                           process.pid(), process.describe_end(), job->name, cap))),
                           process.pid());
    }
    requeue(slot);
  }
}

void LocalWorkerPool::forget(WorkerSlot& slot) noexcept {
  if (slot.write_armed) loop_.unwatch(slot.request_fd());
  loop_.unwatch(slot.reply_fd());
  loop_.unwatch(slot.process().pidfd());
}

// ---- stopping ----

void LocalWorkerPool::stop(Seconds timeout) {
  const auto deadline = Clock::now() + to_clock_duration(timeout);
  bool killed = false;
  while (!slots_.empty()) {
    // Again on each round: a fork-server worker may arrive while we stop.
    for (auto& [serial, slot] : slots_) {
      if (slot.request_fd() < 0) continue;
      if (slot.write_armed) loop_.unwatch(slot.request_fd());
      slot.close_request();
    }
    const auto now = Clock::now();
    if (now >= deadline && !killed) {
      for (auto& [serial, slot] : slots_) slot.process().signal(SIGKILL);
      killed = true;
    }
    if (killed && now >= deadline + std::chrono::seconds(2)) {
      for (auto& [serial, slot] : slots_) slot.process().reap_now();
    }
    for (const auto tag : loop_.wait(std::chrono::milliseconds(5))) handle(tag);
    // A worker interrupted just before the stop (cancel(), forced shutdown) may ignore SIGTERM:
    // escalate to SIGKILL after kill_grace, not only at `timeout`.
    deadlines();
    for (auto& [serial, slot] : slots_) slot.process().try_reap();
    reap();
  }
  launcher_.server().stop(std::chrono::seconds(1));
}

std::vector<std::uint64_t> LocalWorkerPool::kill_all() noexcept {
  std::vector<std::uint64_t> running;
  for (auto& [serial, slot] : slots_) {
    for (const auto& job : slot.jobs()) {
      if (!job.initializer && !job.cancelled) running.push_back(job.id);
    }
    slot.process().signal(SIGKILL);
    slot.process().reap_now();
    forget(slot);
  }
  slots_.clear();
  for (const auto& job : backlog_) running.push_back(job.id);
  backlog_.clear();
  launcher_.server().stop(Clock::duration::zero());
  return running;
}

}  // namespace osiiso::detail
