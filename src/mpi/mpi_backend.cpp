// SPDX-License-Identifier: MIT
// MpiQueue's backend on rank 0: a thread (a BackendThread) that owns every MPI call of a queue's
// session. It runs the session (RootSession) and, with root_runs_tasks, a local worker pool of
// its own.
#include <osiiso/detail/mpi_backend.hpp>

#include <osiiso/detail/backend_thread.hpp>
#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/event_loop.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/mpi_pacing.hpp>
#include <osiiso/detail/mpi_root_session.hpp>
#include <osiiso/detail/mpi_server.hpp>
#include <osiiso/detail/mpi_world.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/reply_outcome.hpp>
#include <osiiso/detail/worker_pool.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <optional>
#include <unordered_map>
#include <utility>

namespace osiiso::detail {

namespace {

constexpr std::uint64_t kWakeTag = 0;

}  // namespace

// As a PoolListener it feeds rank 0's own workers (root_runs_tasks).
struct MpiBackend::Impl final : PoolListener {
  Impl(Engine& e, MpiWorld& w, MpiBackendConfig c) : engine(e), world(w), config(std::move(c)) {}

  Engine& engine;
  MpiWorld& world;
  const MpiBackendConfig config;

  // Thread state: the attempts rank 0's own workers run.
  std::unordered_map<std::uint64_t, Attempt> local_running;
  LocalWorkerPool* local = nullptr;
  PollPacing pacing;

  // Last, so that it is joined before the rest goes.
  BackendThread thread{"MpiQueue's rank-0 messaging thread", [this] { run(); }};

  void run() {
    RootSession session(engine, world, config);
    try {
      serve(session);
    } catch (const std::exception& e) {
      const auto error = std::make_exception_ptr(OsiisoError(fmt::format(
          "MpiQueue: rank 0's messaging thread failed ({}); the running and queued tasks failed with this error",
          e.what())));
      fail_everything(session, error);
      // Every task submitted until the queue stops fails with the same error.
      while (thread.wait_for_wake()) fail_waiting(error);
    }
  }

  void serve(RootSession& session) {
    session.open();
    EventLoop loop;
    loop.watch(thread.wake_fd(), EventLoop::kReadable, kWakeTag);
    std::optional<LocalWorkerPool> pool;
    if (config.root_runs_tasks) pool.emplace(session_pool_config(config.session), *this, loop);
    local = pool ? &*pool : nullptr;
    for (;;) {
      const auto commands = thread.take();
      for (const auto& attempt : commands.interrupts) interrupt_attempt(session, attempt);
      if (commands.stop) {
        if (local != nullptr) local->stop(config.session.stop_timeout);
        local = nullptr;
        session.close();
        return;
      }
      if (local != nullptr) local->prepare(config.session.workers);
      bool busy = session.receive();
      busy = session.dispatch() || busy;
      session.send();
      const auto now = Clock::now();
      session.check_leases(now);
      if (local == nullptr && !session.any_live()) {
        fail_waiting(std::make_exception_ptr(
            OsiisoError("MpiQueue: no serving rank is left (every rank was lost); the task did not run. See "
                        "docs/mpi.md for running under mpirun --enable-recovery")));
      }
      thread.set_live(session.live_workers() + (local != nullptr ? local->size() : 0));
      if (busy) pacing.active(now);
      Clock::duration cap = to_clock_duration(config.poll);
      if (local != nullptr) cap = local->next_timeout(cap);
      // With nothing on the serving ranks only a submission (the wake event) or a local worker
      // (epoll) has news: no need to look at MPI every millisecond.
      const auto wait = session.outstanding() ? pacing.wait(now, cap) : cap;
      const auto ready = loop.wait(wait);
      for (const auto tag : ready) {
        pacing.active(Clock::now());
        if (tag == kWakeTag) {
          thread.drain();
        } else if (local != nullptr) {
          local->handle(tag);
        }
      }
      if (ready.empty()) PollPacing::idle_after(wait);
      if (local != nullptr) local->expire();
    }
  }

  void interrupt_attempt(RootSession& session, const Attempt& attempt) {
    if (session.interrupt(attempt)) return;
    const auto it = local_running.find(attempt.id);
    if (it == local_running.end() || it->second.task != attempt.task) return;
    local_running.erase(it);  // the engine settled it already
    if (local != nullptr) local->kill_job(attempt.id);
  }

  void fail_everything(RootSession& session, const std::exception_ptr& error) noexcept {
    thread.set_live(0);
    try {
      session.fail_running(error);
      for (auto& [id, attempt] : std::exchange(local_running, {})) engine.complete(attempt, Outcome{{}, error});
      fail_waiting(error);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "osiiso: MpiQueue could not report its thread's failure: %s\n", e.what());
    }
  }

  // ---- PoolListener: rank 0's own workers ----

  Placement here(int worker_pid) const {
    Placement placement;
    if (worker_pid > 0) placement.worker_pid = worker_pid;
    placement.rank = 0;
    placement.host = world.host(0);
    return placement;
  }

  std::optional<PoolJob> next_job() override {
    auto attempt = engine.take_ready();
    if (!attempt) return std::nullopt;
    const auto& work = static_cast<const ProcessWork&>(attempt->work());
    PoolJob job{attempt->id, work.request(), attempt->task, attempt->task->state->name,
                memory_limit_of(*attempt, config.memory_limit)};
    local_running.emplace(attempt->id, std::move(*attempt));
    return job;
  }

  void job_replied(std::uint64_t id, const Frame& reply, int worker_pid) override {
    auto node = local_running.extract(id);
    if (node.empty()) return;
    const Attempt& attempt = node.mapped();
    Outcome outcome =
        outcome_of_reply(attempt, reply.type, reply.payload, memory_limit_of(attempt, config.memory_limit));
    outcome.placement = here(worker_pid);
    engine.complete(attempt, std::move(outcome));
  }

  void job_failed(std::uint64_t id, std::exception_ptr error, int worker_pid) override {
    auto node = local_running.extract(id);
    if (node.empty()) return;
    Outcome outcome{{}, name_rank(error, 0, world.host(0))};
    outcome.placement = here(worker_pid);
    engine.complete(node.mapped(), std::move(outcome));
  }

  void fail_waiting(const std::exception_ptr& error) override {
    while (auto attempt = engine.take_ready({}, GateUse::Bypass)) engine.complete(*attempt, Outcome{{}, error});
  }
};

MpiBackend::MpiBackend(Engine& engine, MpiWorld& world, MpiBackendConfig config)
    : impl_(std::make_unique<Impl>(engine, world, std::move(config))) {}

MpiBackend::~MpiBackend() {
  impl_->thread.stop();
  impl_->world.release();
}

// The worker count is fixed: the first call starts the session, later ones change nothing.
void MpiBackend::ensure_workers(std::size_t count) { impl_->thread.ensure(count); }

void MpiBackend::notify_ready() { impl_->thread.wake(); }

void MpiBackend::interrupt(const Attempt& attempt) { impl_->thread.interrupt(attempt); }

void MpiBackend::stop_workers() { impl_->thread.stop(); }

std::size_t MpiBackend::worker_count() const { return impl_->thread.live(); }

bool MpiBackend::owns_current_thread() const { return impl_->thread.on_thread(); }

}  // namespace osiiso::detail
