// SPDX-License-Identifier: MIT
// MpiQueue's backend on rank 0: a thread that owns every MPI call of a queue's session. Other
// threads leave commands (worker target, interrupts, stop) and wake it; it runs the session
// (RootSession) and, with root_runs_tasks, a local worker pool of its own.
#include <osiiso/detail/mpi_backend.hpp>

#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/event_loop.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/mpi_pacing.hpp>
#include <osiiso/detail/mpi_root_session.hpp>
#include <osiiso/detail/mpi_server.hpp>
#include <osiiso/detail/mpi_world.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/reply_outcome.hpp>
#include <osiiso/detail/wake_event.hpp>
#include <osiiso/detail/worker_pool.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

namespace osiiso::detail {

namespace {

constexpr std::uint64_t kWakeTag = 0;

// Signals the thread blocks (everything asynchronous): they belong to the main thread.
void block_async_signals() {
  sigset_t set;
  sigfillset(&set);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS}) sigdelset(&set, sig);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

// As a PoolListener it feeds rank 0's own workers (root_runs_tasks).
struct MpiBackend::Impl final : PoolListener {
  Impl(Engine& e, MpiWorld& w, MpiBackendConfig c) : engine(e), world(w), config(std::move(c)) {}

  Engine& engine;
  MpiWorld& world;
  const MpiBackendConfig config;
  WakeEvent wake_event;

  // Commands from other threads, guarded by mu.
  mutable std::mutex mu;
  std::vector<Attempt> interrupts;
  bool stop_requested = false;
  std::thread thread;
  bool thread_done = false;
  std::atomic<std::thread::id> thread_id{};
  std::atomic<std::size_t> live{0};

  // Thread state: the attempts rank 0's own workers run.
  std::unordered_map<std::uint64_t, Attempt> local_running;
  LocalWorkerPool* local = nullptr;
  PollPacing pacing;

  void wake() noexcept { wake_event.wake(); }

  void start_thread_locked() {
    if (thread.joinable() && !thread_done) return;
    if (thread.joinable()) thread.join();
    stop_requested = false;
    thread_done = false;
    thread = std::thread([this] { run(); });
  }

  void run() {
    thread_id = std::this_thread::get_id();
    const DispatchThread dispatching("MpiQueue's rank-0 messaging thread");
    block_async_signals();
    RootSession session(engine, world, config);
    try {
      serve(session);
    } catch (const std::exception& e) {
      const auto error = std::make_exception_ptr(OsiisoError(fmt::format(
          "MpiQueue: rank 0's messaging thread failed ({}); the running and queued tasks failed with this error",
          e.what())));
      fail_everything(session, error);
      wait_for_stop(error);
    }
    live = 0;
    thread_id = std::thread::id();
    std::lock_guard lock(mu);
    thread_done = true;
  }

  void serve(RootSession& session) {
    session.open();
    EventLoop loop;
    loop.watch(wake_event.fd(), EventLoop::kReadable, kWakeTag);
    std::optional<LocalWorkerPool> pool;
    if (config.root_runs_tasks) pool.emplace(session_pool_config(config.session), *this, loop);
    local = pool ? &*pool : nullptr;
    for (;;) {
      std::vector<Attempt> to_interrupt;
      bool stop = false;
      {
        std::lock_guard lock(mu);
        to_interrupt.swap(interrupts);
        stop = stop_requested;
      }
      for (const auto& attempt : to_interrupt) interrupt_attempt(session, attempt);
      if (stop) {
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
      live = session.live_workers() + (local != nullptr ? local->size() : 0);
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
          wake_event.drain();
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
    live = 0;
    try {
      session.fail_running(error);
      for (auto& [id, attempt] : std::exchange(local_running, {})) engine.complete(attempt, Outcome{{}, error});
      fail_waiting(error);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "osiiso: MpiQueue could not report its thread's failure: %s\n", e.what());
    }
  }

  // After a failure: every task submitted until the queue stops fails with `error`.
  void wait_for_stop(const std::exception_ptr& error) {
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (stop_requested) return;
      }
      pollfd p{wake_event.fd(), POLLIN, 0};
      retry_on_eintr([&] { return ::poll(&p, 1, -1); });
      wake_event.drain();
      fail_waiting(error);
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
    PoolJob job{attempt->id, work.request, attempt->task, attempt->task->state->name,
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
  stop_workers();
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->thread.joinable()) impl_->thread.detach();
  }
  impl_->world.release();
}

void MpiBackend::ensure_workers(std::size_t count) {
  std::lock_guard lock(impl_->mu);
  // The worker count is fixed: the first call starts the session, later ones change nothing.
  if (count == 0 || (impl_->thread.joinable() && !impl_->thread_done)) return;
  impl_->start_thread_locked();
  impl_->wake();
}

void MpiBackend::notify_ready() { impl_->wake(); }

void MpiBackend::interrupt(const Attempt& attempt) {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->thread.joinable() || impl_->thread_done) return;
    impl_->interrupts.push_back(attempt);
  }
  impl_->wake();
}

void MpiBackend::stop_workers() {
  std::thread thread;
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->thread.joinable()) return;
    impl_->stop_requested = true;
    impl_->wake();
    // A hook running on the thread cannot join it: it stops after the hook returns and is joined
    // by the next stop_workers() or the destructor.
    if (owns_current_thread()) return;
    thread = std::move(impl_->thread);
  }
  thread.join();
  std::lock_guard lock(impl_->mu);
  impl_->thread_done = false;
  impl_->stop_requested = false;
}

std::size_t MpiBackend::worker_count() const { return impl_->live.load(); }

bool MpiBackend::owns_current_thread() const { return impl_->thread_id.load() == std::this_thread::get_id(); }

}  // namespace osiiso::detail
