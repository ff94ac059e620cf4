// SPDX-License-Identifier: MIT
// ProcessQueue's backend: a poller thread (a BackendThread) that drives a local worker pool for
// the engine. It turns attempts into pool jobs and pool outcomes into the engine's completions.
#include <osiiso/detail/process_backend.hpp>

#include <osiiso/detail/backend_thread.hpp>
#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/event_loop.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/reply_outcome.hpp>
#include <osiiso/detail/worker.hpp>
#include <osiiso/detail/worker_pool.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <unordered_map>
#include <utility>
#include <vector>

namespace osiiso::detail {

namespace {

// The poller's own tag in its event loop (the pool's are above it).
constexpr std::uint64_t kWakeTag = 0;

}  // namespace

struct ProcessBackend::Impl final : PoolListener {
  Impl(Engine& e, ProcessBackendConfig c) : engine(e), config(std::move(c)) {}

  Engine& engine;
  const ProcessBackendConfig config;

  // Poller-thread state: the attempts the pool runs, by attempt id.
  std::unordered_map<std::uint64_t, Attempt> running;

  // Last, so that it is joined before the rest goes.
  BackendThread thread{"ProcessQueue's poller thread", [this] { run(); }};

  PoolConfig pool_config() const {
    return PoolConfig{
        .launch = {.method = config.method, .executable = config.executable, .start_timeout = config.start_timeout},
        .kill_grace = config.kill_grace,
        .max_frame_size = config.max_frame_size,
        .initializer_request = config.initializer_request,
        .initializer_name = config.initializer_name,
        .max_jobs_per_worker = config.max_tasks_per_worker,
        .max_worker_memory = config.max_worker_memory,
        .max_jobs_in_flight = config.chunksize,
    };
  }

  // ---- the poller ----

  void run() {
    // A failure of the machinery itself (no epoll instance, a failing epoll_wait, no memory for
    // the poller's own state) fails what was running and queued with its cause; the next wake-up
    // (a submission, say) tries again, so the queue recovers when the cause goes away.
    for (;;) {
      try {
        serve();
        break;
      } catch (const std::exception& e) {
        fail_everything(std::make_exception_ptr(OsiisoError(
            fmt::format("ProcessQueue: the poller thread failed ({}); the running and queued tasks failed with this "
                        "error and the workers were stopped; new tasks start new workers when the cause is gone",
                        e.what()))));
      }
      if (!thread.wait_for_wake()) break;
    }
  }

  // One event loop and one pool until a stop (or a failure, thrown; the pool dies killing its
  // workers on the way out).
  void serve() {
    EventLoop loop;
    loop.watch(thread.wake_fd(), EventLoop::kReadable, kWakeTag);
    LocalWorkerPool pool(pool_config(), *this, loop);
    for (;;) {
      auto commands = thread.take();
      for (const auto& attempt : commands.interrupts) interrupt_attempt(pool, attempt);
      if (commands.stop) {
        loop.unwatch(thread.wake_fd());
        pool.stop(config.stop_timeout);
        return;
      }
      pool.prepare(commands.target);
      thread.set_live(pool.size());
      for (const auto tag : loop.wait(pool.next_timeout(to_clock_duration(config.poll)))) {
        if (tag == kWakeTag) {
          thread.drain();
        } else {
          pool.handle(tag);
        }
      }
      pool.expire();
      thread.set_live(pool.size());
    }
  }

  void interrupt_attempt(LocalWorkerPool& pool, const Attempt& attempt) {
    const auto it = running.find(attempt.id);
    if (it == running.end() || it->second.task != attempt.task) return;
    running.erase(it);  // the engine settled it already
    pool.kill_job(attempt.id);
  }

  // Fails what the pool was running and everything queued with `error` (the pool is gone).
  void fail_everything(const std::exception_ptr& error) noexcept {
    thread.set_live(0);
    try {
      (void)thread.take();  // the interrupts were for the pool that is gone
      auto stranded = std::exchange(running, {});
      for (const auto& [id, attempt] : stranded) {
        engine.begin_attempt(attempt);  // a queued one fails as an attempt, as in job_failed
        engine.complete(attempt, Outcome{{}, error});
      }
      fail_waiting(error);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "osiiso: ProcessQueue could not report its poller's failure: %s\n", e.what());
    }
  }

  // ---- PoolListener ----

  std::optional<PoolJob> next_job() override { return take(AttemptStart::AtTake); }

  // Queued behind a running attempt, it counts as pending (its timeout too) until its worker
  // reports that it begins.
  std::optional<PoolJob> next_job_ahead() override { return take(AttemptStart::Deferred); }

  std::optional<PoolJob> take(AttemptStart start) {
    auto attempt = engine.take_ready({}, GateUse::Respect, start);
    if (!attempt) return std::nullopt;
    const auto& work = static_cast<const ProcessWork&>(attempt->work());
    PoolJob job{attempt->id,
                work.request(),
                attempt->task,
                attempt->task->state->name,
                memory_limit_of(*attempt, config.memory_limit),
                start == AttemptStart::Deferred};
    running.emplace(attempt->id, std::move(*attempt));
    return job;
  }

  void job_began(std::uint64_t id) override {
    if (const auto it = running.find(id); it != running.end()) engine.begin_attempt(it->second);
  }

  void job_replied(std::uint64_t id, const Frame& reply, int worker_pid) override {
    auto node = running.extract(id);
    if (node.empty()) return;
    const Attempt& attempt = node.mapped();
    Outcome outcome =
        outcome_of_reply(attempt, reply.type, reply.payload, memory_limit_of(attempt, config.memory_limit));
    outcome.placement.worker_pid = worker_pid;
    engine.complete(attempt, std::move(outcome));
  }

  void job_failed(std::uint64_t id, std::exception_ptr error, int worker_pid) override {
    auto node = running.extract(id);
    if (node.empty()) return;
    // One that never began (its worker could not take it) fails as an attempt, as one taken at once.
    engine.begin_attempt(node.mapped());
    Outcome outcome{{}, std::move(error)};
    if (worker_pid > 0) outcome.placement.worker_pid = worker_pid;
    engine.complete(node.mapped(), std::move(outcome));
  }

  void fail_waiting(const std::exception_ptr& error) override {
    while (auto attempt = engine.take_ready({}, GateUse::Bypass)) engine.complete(*attempt, Outcome{{}, error});
  }
};

void refuse_nested_start() noexcept {
  const char* role = std::getenv(kWorkerEnv) != nullptr       ? "a ProcessQueue worker (start method \"spawn\")"
                     : std::getenv(kForkServerEnv) != nullptr ? "the fork server of a ProcessQueue (start method "
                                                                "\"forkserver\")"
                                                              : nullptr;
  if (role == nullptr) return;
  std::fprintf(stderr,
               "osiiso: this process was started as %s, but main() made a ProcessQueue before calling "
               "osiiso::init(argc, argv); make osiiso::init the first statement of main()\n",
               role);
  std::_Exit(kMissingInitExitCode);
}

ProcessBackend::ProcessBackend(Engine& engine, ProcessBackendConfig config)
    : impl_(std::make_unique<Impl>(engine, std::move(config))) {
  refuse_nested_start();
}

ProcessBackend::~ProcessBackend() = default;

void ProcessBackend::ensure_workers(std::size_t count) { impl_->thread.ensure(count); }

void ProcessBackend::notify_ready() { impl_->thread.wake(); }

void ProcessBackend::interrupt(const Attempt& attempt) { impl_->thread.interrupt(attempt); }

void ProcessBackend::stop_workers() { impl_->thread.stop(); }

std::size_t ProcessBackend::worker_count() const { return impl_->thread.live(); }

bool ProcessBackend::owns_current_thread() const { return impl_->thread.on_thread(); }

}  // namespace osiiso::detail
