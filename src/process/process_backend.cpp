// SPDX-License-Identifier: MIT
// ProcessQueue's backend: a poller thread that drives a local worker pool for the engine. Other
// threads leave commands (worker target, interrupts, stop) and wake it; it turns attempts into
// pool jobs and pool outcomes into the engine's completions.
#include <osiiso/detail/process_backend.hpp>

#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/event_loop.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/reply_outcome.hpp>
#include <osiiso/detail/wake_event.hpp>
#include <osiiso/detail/worker.hpp>
#include <osiiso/detail/worker_pool.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace osiiso::detail {

namespace {

// The poller's own tag in its event loop (the pool's are above it).
constexpr std::uint64_t kWakeTag = 0;

// Signals the poller thread blocks (everything asynchronous): they belong to the main thread.
void block_async_signals() {
  sigset_t set;
  sigfillset(&set);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS}) sigdelset(&set, sig);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

struct ProcessBackend::Impl final : PoolListener {
  Impl(Engine& e, ProcessBackendConfig c) : engine(e), config(std::move(c)) {}

  Engine& engine;
  const ProcessBackendConfig config;
  WakeEvent wake_event;

  // Commands from other threads, guarded by mu.
  mutable std::mutex mu;
  std::size_t target = 0;
  std::vector<Attempt> interrupts;
  bool stop_requested = false;
  std::thread thread;
  bool thread_done = false;
  std::atomic<std::thread::id> poller_id{};
  std::atomic<std::size_t> live{0};

  // Poller-thread state: the attempts the pool runs, by attempt id.
  std::unordered_map<std::uint64_t, Attempt> running;

  void wake() noexcept { wake_event.wake(); }

  void start_thread_locked() {
    if (thread.joinable() && !thread_done) return;
    if (thread.joinable()) thread.join();  // it already finished its stop
    stop_requested = false;
    thread_done = false;
    thread = std::thread([this] { run(); });
  }

  PoolConfig pool_config() const {
    return PoolConfig{
        .launch = {.method = config.method, .executable = config.executable, .start_timeout = config.start_timeout},
        .kill_grace = config.kill_grace,
        .max_frame_size = config.max_frame_size,
        .initializer_request = config.initializer_request,
        .initializer_name = config.initializer_name,
        .max_jobs_per_worker = config.max_tasks_per_worker,
        .max_worker_memory = config.max_worker_memory,
    };
  }

  // ---- the poller ----

  void run() {
    poller_id = std::this_thread::get_id();
    const DispatchThread dispatching("ProcessQueue's poller thread");
    block_async_signals();
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
      if (!wait_for_wake()) break;
    }
    live = 0;
    poller_id = std::thread::id();
    std::lock_guard lock(mu);
    thread_done = true;
  }

  // One event loop and one pool until a stop (or a failure, thrown; the pool dies killing its
  // workers on the way out).
  void serve() {
    EventLoop loop;
    loop.watch(wake_event.fd(), EventLoop::kReadable, kWakeTag);
    LocalWorkerPool pool(pool_config(), *this, loop);
    for (;;) {
      std::size_t want = 0;
      std::vector<Attempt> to_interrupt;
      bool stop = false;
      {
        std::lock_guard lock(mu);
        want = target;
        to_interrupt.swap(interrupts);
        stop = stop_requested;
      }
      for (const auto& attempt : to_interrupt) interrupt_attempt(pool, attempt);
      if (stop) {
        loop.unwatch(wake_event.fd());
        pool.stop(config.stop_timeout);
        return;
      }
      pool.prepare(want);
      live = pool.size();
      for (const auto tag : loop.wait(pool.next_timeout(to_clock_duration(config.poll)))) {
        if (tag == kWakeTag) {
          wake_event.drain();
        } else {
          pool.handle(tag);
        }
      }
      pool.expire();
      live = pool.size();
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
    {
      std::lock_guard lock(mu);
      interrupts.clear();
    }
    live = 0;
    try {
      auto stranded = std::exchange(running, {});
      for (const auto& [id, attempt] : stranded) engine.complete(attempt, Outcome{{}, error});
      fail_waiting(error);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "osiiso: ProcessQueue could not report its poller's failure: %s\n", e.what());
    }
  }

  // After a failure: waits for the next wake-up without epoll; false when asked to stop.
  bool wait_for_wake() {
    pollfd p{wake_event.fd(), POLLIN, 0};
    retry_on_eintr([&] { return ::poll(&p, 1, -1); });
    wake_event.drain();
    std::lock_guard lock(mu);
    return !stop_requested;
  }

  // ---- PoolListener ----

  std::optional<PoolJob> next_job() override {
    auto attempt = engine.take_ready();
    if (!attempt) return std::nullopt;
    const auto& work = static_cast<const ProcessWork&>(attempt->work());
    PoolJob job{attempt->id, work.request, attempt->task, attempt->task->state->name,
                memory_limit_of(*attempt, config.memory_limit)};
    running.emplace(attempt->id, std::move(*attempt));
    return job;
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

ProcessBackend::~ProcessBackend() {
  stop_workers();
  std::lock_guard lock(impl_->mu);
  // Destroyed from a hook on the poller itself: it cannot join itself.
  if (impl_->thread.joinable()) impl_->thread.detach();
}

void ProcessBackend::ensure_workers(std::size_t count) {
  std::lock_guard lock(impl_->mu);
  if (count <= impl_->target && impl_->thread.joinable() && !impl_->thread_done) return;
  impl_->target = std::max(impl_->target, count);
  if (impl_->target == 0) return;
  if (impl_->stop_requested && impl_->thread.joinable() && !impl_->thread_done) return;  // stopping
  impl_->start_thread_locked();
  impl_->wake();
}

void ProcessBackend::notify_ready() { impl_->wake(); }

void ProcessBackend::interrupt(const Attempt& attempt) {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->thread.joinable() || impl_->thread_done) return;
    impl_->interrupts.push_back(attempt);
  }
  impl_->wake();
}

void ProcessBackend::stop_workers() {
  std::thread thread;
  {
    std::lock_guard lock(impl_->mu);
    impl_->target = 0;
    if (!impl_->thread.joinable()) return;
    impl_->stop_requested = true;
    impl_->wake();
    // A hook running on the poller cannot join it: the poller stops after the hook returns and
    // is joined by the next stop_workers() or the destructor.
    if (owns_current_thread()) return;
    thread = std::move(impl_->thread);
  }
  thread.join();
  std::lock_guard lock(impl_->mu);
  impl_->thread_done = false;
  impl_->stop_requested = false;
}

std::size_t ProcessBackend::worker_count() const { return impl_->live.load(); }

bool ProcessBackend::owns_current_thread() const { return impl_->poller_id.load() == std::this_thread::get_id(); }

}  // namespace osiiso::detail
