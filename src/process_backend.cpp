// SPDX-License-Identifier: MIT
// The poller thread of a ProcessQueue: starts workers, feeds each one request at a time, reads
// replies, kills interrupted workers and reports every outcome to the engine.
#include <osiiso/detail/process_backend.hpp>

#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/launch.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/worker.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace osiiso::detail {

namespace {

using Deadline = std::optional<Clock::time_point>;

Clock::duration to_duration(Seconds s) { return std::chrono::duration_cast<Clock::duration>(s); }

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  const char* text = ::strsignal(sig);
  if (abbrev == nullptr) return fmt::format("signal {}", sig);
  return fmt::format("SIG{} ({})", abbrev, text != nullptr ? text : "unknown");
}

std::string describe_status(std::optional<int> status, std::optional<int> reported_signal = std::nullopt) {
  if (!status && reported_signal) return fmt::format("was killed by signal {}", signal_name(*reported_signal));
  if (!status) return "exited (status unknown; SIGCHLD ignored?)";
  if (WIFSIGNALED(*status)) return fmt::format("was killed by signal {}", signal_name(WTERMSIG(*status)));
  if (WIFEXITED(*status)) return fmt::format("exited with code {}", WEXITSTATUS(*status));
  return fmt::format("ended with wait status {}", *status);
}

std::string init_hint(StartMethod method) {
  return fmt::format(
      "call osiiso::init(argc, argv) at the top of main(): with the \"{}\" start method every worker re-executes "
      "the program, and osiiso::init is where it starts serving tasks",
      to_string(method));
}

// Signals the poller thread blocks (everything asynchronous): they belong to the main thread.
void block_async_signals() {
  sigset_t set;
  sigfillset(&set);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS}) sigdelset(&set, sig);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// A write to a dead worker raised SIGPIPE (blocked on the poller thread): discard it.
void discard_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  const timespec zero{0, 0};
  while (::sigtimedwait(&set, nullptr, &zero) > 0) {
  }
}

// epoll tags: slot serial << 2 | kind; serial 0 is reserved for the eventfd and the server.
enum Kind : std::uint64_t { kReply = 0, kRequest = 1, kPidfd = 2 };
constexpr std::uint64_t kWakeTag = 0;
constexpr std::uint64_t kServerTag = 1;

// Requests up to this size are copied next to their header and written in one write() from a
// buffer the slot keeps; larger ones are written in place from their task (no copy).
constexpr std::size_t kInlineRequest = std::size_t{64} << 10;

// How long the other workers of a cold pool wait for the first one's hello (see launch_missing).
constexpr auto kFirstWorkerHold = std::chrono::milliseconds(20);
constexpr auto kAfterHello = std::chrono::milliseconds(2);

// How long the pool waits before it tries again to start a worker that failed to start.
constexpr auto kLaunchRetry = std::chrono::milliseconds(100);

std::string descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return "unknown";
  return std::to_string(limit.rlim_cur);
}

}  // namespace

struct ProcessBackend::Impl {
  enum class State {
    Starting,  // waiting for the worker's Hello
    Idle,      // ready for a request
    Busy,      // running `attempt`
    Killing,   // signalled; waiting to reap it
    Exiting,   // its reply pipe closed; waiting to reap it
  };

  struct Slot {
    std::uint64_t serial = 0;
    pid_t pid = -1;
    bool own_child = true;
    UniqueFd pidfd;
    UniqueFd request;
    UniqueFd reply;
    State state = State::Starting;
    Deadline deadline;  // start timeout, SIGKILL escalation, or reap wait
    std::optional<Attempt> attempt;
    std::any (*decode)(std::string_view) = nullptr;
    std::string out;                  // the frame header, or the whole frame when it is small
    std::string_view out_body;        // a large request payload, written in place
    std::shared_ptr<Task> out_owner;  // keeps out_body alive even if the attempt is interrupted
    std::size_t out_offset = 0;       // over out, then out_body
    bool write_armed = false;
    FrameDecoder decoder;
    std::optional<int> status;           // wait status once reaped
    std::optional<int> reported_signal;  // the fatal signal the worker said it was dying of
    bool reaped = false;
    bool hello = false;  // it reported ready once
  };

  Impl(Engine& e, ProcessBackendConfig c) : engine(e), config(std::move(c)) {
    const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    wake_fd = UniqueFd(fd);
  }

  Engine& engine;
  const ProcessBackendConfig config;
  UniqueFd wake_fd;
  mutable std::atomic<bool> wake_pending{false};

  // Commands from other threads, guarded by mu.
  mutable std::mutex mu;
  std::size_t target = 0;
  std::vector<Attempt> interrupts;
  bool stop_requested = false;
  std::thread thread;
  bool thread_done = false;
  std::atomic<std::thread::id> poller_id{};
  std::atomic<std::size_t> live{0};

  // Poller-thread state.
  UniqueFd epoll_fd;
  std::map<std::uint64_t, Slot> slots;
  std::uint64_t next_serial = 1;
  std::exception_ptr broken;        // a start failure every attempt now fails with
  std::exception_ptr launch_error;  // a start failure; fails the backlog when no worker is alive
  Clock::time_point retry_launch_at{};
  Clock::time_point first_worker_hold{};
  bool first_served = true;
  // Fork server.
  std::optional<ForkServerProcess> server;
  bool server_ready = false;
  Deadline server_deadline;
  std::size_t pending_forks = 0;
  // Left uninitialised: zero-filling it faulted in 64 pages on the way to a new queue's first result.
  static constexpr std::size_t kReadBufferSize = std::size_t{1} << 18;
  std::unique_ptr<char[]> read_buffer = std::make_unique_for_overwrite<char[]>(kReadBufferSize);

  // One eventfd write per poller wake-up, not per call: while a wake-up is pending (set here,
  // cleared by the poller after it drains the eventfd and before it looks at the queue), further
  // calls are free. This takes a system call off every submit while the poller is busy.
  void wake() const noexcept {
    if (wake_pending.exchange(true)) return;
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd.get(), &one, sizeof one);
  }

  // ---- thread lifecycle (any thread) ----

  void start_thread_locked() {
    if (thread.joinable() && !thread_done) return;
    if (thread.joinable()) thread.join();  // it already finished its stop
    stop_requested = false;
    thread_done = false;
    thread = std::thread([this] { run(); });
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
    epoll_fd.reset();
    poller_id = std::thread::id();
    std::lock_guard lock(mu);
    thread_done = true;
  }

  void serve() {
    epoll_fd.reset();
    const int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    epoll_fd = UniqueFd(fd);
    watch(wake_fd.get(), EPOLLIN, kWakeTag);
    loop();
  }

  // Kills every worker, then fails the attempts they ran and everything queued with `error`.
  void fail_everything(const std::exception_ptr& error) noexcept {
    std::vector<Attempt> running;
    for (auto& [serial, s] : slots) {
      if (s.attempt) running.push_back(std::move(*s.attempt));
    }
    kill_everything();
    launch_error = nullptr;
    {
      std::lock_guard lock(mu);
      interrupts.clear();
    }
    try {
      for (const auto& attempt : running) engine.complete(attempt, Outcome{{}, error});
      while (auto attempt = engine.take_ready()) engine.complete(*attempt, Outcome{{}, error});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "osiiso: ProcessQueue could not report its poller's failure: %s\n", e.what());
    }
  }

  // After a failure: waits for the next wake-up without epoll; false when asked to stop.
  bool wait_for_wake() {
    pollfd p{wake_fd.get(), POLLIN, 0};
    while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    drain_wake();
    std::lock_guard lock(mu);
    return !stop_requested;
  }

  // Drain first, then clear: a wake() between the two sees the flag still set and skips its
  // write, which is safe because the poller looks at the queue after this. Clearing first let
  // such a wake() write into the counter that was then drained, leaving the flag set with nothing
  // to read: every later wake() was skipped until the next poll timeout.
  void drain_wake() noexcept {
    std::uint64_t value;
    [[maybe_unused]] const auto r = ::read(wake_fd.get(), &value, sizeof value);
    wake_pending = false;
  }

  void loop() {
    for (;;) {
      std::size_t want;
      std::vector<Attempt> to_interrupt;
      bool stop;
      {
        std::lock_guard lock(mu);
        want = target;
        to_interrupt.swap(interrupts);
        stop = stop_requested;
      }
      for (const auto& attempt : to_interrupt) interrupt_attempt(attempt);
      if (stop) {
        stop_all();
        return;
      }
      dispatch(want);  // first: a worker that just said hello takes a task before more are started
      launch_missing(want);
      dispatch(want);
      wait_and_handle(next_timeout());
      handle_deadlines();
      reap_finished();
    }
  }

  void watch(int fd, std::uint32_t events, std::uint64_t tag) const {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    if (::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      throw std::system_error(errno, std::generic_category(), "epoll_ctl");
    }
  }

  void unwatch(int fd) const noexcept {
    if (fd >= 0) ::epoll_ctl(epoll_fd.get(), EPOLL_CTL_DEL, fd, nullptr);
  }

  static std::uint64_t tag(const Slot& s, Kind kind) { return (s.serial << 2) | kind; }

  std::size_t alive_count() const {
    std::size_t n = pending_forks;
    for (const auto& [serial, s] : slots) {
      if (s.state == State::Starting || s.state == State::Idle || s.state == State::Busy) ++n;
    }
    return n;
  }

  void update_live() { live = slots.size() + pending_forks; }

  // ---- starting workers ----

  void launch_missing(std::size_t want) {
    if (broken || Clock::now() < retry_launch_at) return;
    // A pool with no worker starts one and feeds it the first task before it starts the others
    // (the poller is busy while it forks or spawns): the first result waits for one fork or exec,
    // not for all. The hold ends with the first reply, kAfterHello after the first hello, or
    // kFirstWorkerHold after the launch, whichever comes first.
    const bool first = config.method != StartMethod::ForkServer && alive_count() == 0;
    if (!first && !first_served && Clock::now() < first_worker_hold) return;
    while (alive_count() < want) {
      try {
        if (config.method == StartMethod::ForkServer) {
          if (!request_fork()) return;
          continue;
        }
        auto launched = config.method == StartMethod::Spawn ? spawn_worker(config.executable) : fork_worker();
        add_slot(std::move(launched));
        if (first && alive_count() < want) {
          first_worker_hold = Clock::now() + kFirstWorkerHold;
          first_served = false;
          return;
        }
      } catch (const std::exception& e) {
        launch_failed(
            fmt::format("ProcessQueue: cannot start a worker process ({}): {}", to_string(config.method), e.what()));
        return;
      }
    }
  }

  // A worker could not be started. With workers alive this only stops the scaling for a while;
  // with none, dispatch() fails the whole backlog with `message` (nothing could run it).
  void launch_failed(const std::string& message) {
    launch_error = std::make_exception_ptr(OsiisoError(message));
    retry_launch_at = Clock::now() + kLaunchRetry;
  }

  // A spawned worker never became ready. While another worker serves, that was this one's
  // trouble (out of descriptors, say) and only stops the scaling; with none, the program cannot
  // serve at all (no osiiso::init, a crash at start): every task fails with `message` from now on.
  void not_ready(const std::string& message) {
    const bool serving = std::any_of(slots.begin(), slots.end(), [](const auto& entry) {
      const Slot& other = entry.second;
      return other.hello && (other.state == State::Idle || other.state == State::Busy);
    });
    if (serving) {
      launch_failed(message);
    } else {
      broken = std::make_exception_ptr(OsiisoError(message));
    }
  }

  void add_slot(LaunchedWorker launched) {
    Slot slot;
    slot.serial = next_serial++;
    slot.pid = launched.pid;
    slot.own_child = launched.own_child;
    slot.pidfd = open_pidfd(launched.pid);
    slot.request = std::move(launched.request);
    slot.reply = std::move(launched.reply);
    slot.decoder = FrameDecoder(config.max_frame_size);
    slot.deadline = Clock::now() + to_duration(config.start_timeout);
    // A forked child runs our code from its first instruction: it can be sent its first request
    // before its hello arrives (the pipe holds it), which spares the first task a round of
    // wake-ups. The start deadline still holds until the hello (see handle_deadlines).
    if (config.method == StartMethod::Fork) slot.state = State::Idle;
    auto& s = slots.emplace(slot.serial, std::move(slot)).first->second;
    update_live();
    try {
      watch(s.reply.get(), EPOLLIN, tag(s, kReply));
      if (s.pidfd) watch(s.pidfd.get(), EPOLLIN, tag(s, kPidfd));
    } catch (...) {
      // Unwatchable (out of memory or descriptors in the kernel): it must not be fed; reaped as
      // a killed worker.
      close_reply(s);
      if (s.pidfd) unwatch(s.pidfd.get());
      s.pidfd.reset();
      signal_slot(s, SIGKILL);
      s.state = State::Killing;
      s.deadline = Clock::now() + to_duration(config.kill_grace);
      throw;
    }
  }

  bool request_fork() {
    if (!server) {
      server = spawn_fork_server(config.executable);
      server_ready = false;
      server_deadline = Clock::now() + to_duration(config.start_timeout);
      watch(server->socket.get(), EPOLLIN, kServerTag);
    }
    if (!server_ready) return false;  // asked again once it says hello
    if (!send_server_message(server->socket.get(), ServerTag::Fork, 0, 0)) {
      server_failed(std::nullopt);
      return false;
    }
    ++pending_forks;
    update_live();
    return true;
  }

  void handle_server() {
    for (;;) {
      bool eof = false;
      auto message = receive_server_message(server->socket.get(), eof);
      if (eof) {
        server_failed(std::nullopt);
        return;
      }
      if (!message) return;
      switch (message->tag) {
        case ServerTag::Hello:
          server_ready = true;
          server_deadline.reset();
          break;
        case ServerTag::Forked:
          if (pending_forks > 0) --pending_forks;
          if (message->pid <= 0) {
            launch_failed(
                fmt::format("ProcessQueue: the fork server cannot start a worker: {}", std::strerror(-message->pid)));
          } else if (message->descriptors_lost || !message->request || !message->reply) {
            // The worker sees end of file on its request pipe and exits; the server reaps it.
            launch_failed(fmt::format(
                "ProcessQueue: cannot receive a new worker's pipes from the fork server: this process is out of file "
                "descriptors (limit {}); raise it (ulimit -n) or use fewer workers",
                descriptor_limit()));
          } else {
            set_nonblocking(message->request.get(), true);
            set_nonblocking(message->reply.get(), true);
            add_slot({message->pid, false, std::move(message->request), std::move(message->reply)});
          }
          update_live();
          break;
        case ServerTag::Exited:
          for (auto& [serial, s] : slots) {
            if (!s.own_child && s.pid == message->pid && !s.reaped) {
              s.reaped = true;
              s.status = message->status;
            }
          }
          break;
        case ServerTag::Fork: break;
      }
    }
  }

  // The fork server exited (or never said hello): its workers die with it (PDEATHSIG).
  void server_failed(std::optional<int> status) {
    if (!server) return;
    unwatch(server->socket.get());
    const bool was_ready = server_ready;
    server->socket.reset();
    ::kill(server->pid, SIGKILL);
    int st = 0;
    if (::waitpid(server->pid, &st, 0) == server->pid && !status) status = st;
    server.reset();
    server_ready = false;
    server_deadline.reset();
    pending_forks = 0;
    for (auto& [serial, s] : slots) {
      if (!s.own_child && !s.reaped) {
        signal_slot(s, SIGKILL);
        s.reaped = true;  // nobody will report its status now
      }
    }
    update_live();
    if (!was_ready) {
      broken = std::make_exception_ptr(OsiisoError(fmt::format(
          "ProcessQueue: the fork server process {} before it was ready; {}",
          status ? describe_status(status) : "did not report ready in time", init_hint(StartMethod::ForkServer))));
    }
  }

  // ---- feeding workers ----

  void dispatch(std::size_t want) {
    if (broken) {
      if (want == 0) return;
      while (auto attempt = engine.take_ready()) engine.complete(*attempt, Outcome{{}, broken});
      return;
    }
    if (launch_error && alive_count() == 0) {
      const auto error = std::exchange(launch_error, nullptr);
      while (auto attempt = engine.take_ready()) engine.complete(*attempt, Outcome{{}, error});
      return;
    }
    launch_error = nullptr;  // workers are alive: the failure only stopped the scaling
    for (auto& [serial, s] : slots) {
      if (s.state != State::Idle) continue;
      auto attempt = engine.take_ready();
      if (!attempt) return;
      auto& work = static_cast<ProcessWork&>(attempt->work());
      s.out.clear();
      s.out_offset = 0;
      try {
        if (work.request.size() <= kInlineRequest) {
          append_frame(s.out, FrameType::Request, attempt->id, work.request, config.max_frame_size);
        } else {
          append_frame_header(s.out, FrameType::Request, attempt->id, work.request.size(), config.max_frame_size);
          s.out_body = work.request;
          s.out_owner = attempt->task;
        }
      } catch (const std::exception&) {
        s.out.clear();
        engine.complete(*attempt, Outcome{{}, std::current_exception()});
        continue;
      }
      s.decode = work.decode;
      s.attempt = std::move(*attempt);
      s.state = State::Busy;
      pump_write(s);
    }
  }

  void pump_write(Slot& s) {
    while (s.out_offset < s.out.size() + s.out_body.size()) {
      iovec parts[2];
      int count = 0;
      if (s.out_offset < s.out.size()) {
        parts[count++] = {s.out.data() + s.out_offset, s.out.size() - s.out_offset};
      }
      const std::size_t body_offset = s.out_offset > s.out.size() ? s.out_offset - s.out.size() : 0;
      if (body_offset < s.out_body.size()) {
        parts[count++] = {const_cast<char*>(s.out_body.data()) + body_offset, s.out_body.size() - body_offset};
      }
      const auto n = ::writev(s.request.get(), parts, count);
      if (n > 0) {
        s.out_offset += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!s.write_armed) {
          watch(s.request.get(), EPOLLOUT, tag(s, kRequest));
          s.write_armed = true;
        }
        return;
      }
      // EPIPE: the worker is gone; its death is reported through the reply pipe and pidfd.
      discard_sigpipe();
      break;
    }
    s.out.clear();
    if (s.out.capacity() > 2 * kInlineRequest) s.out.shrink_to_fit();
    s.out_body = {};
    s.out_owner.reset();
    s.out_offset = 0;
    if (s.write_armed) {
      unwatch(s.request.get());
      s.write_armed = false;
    }
  }

  // ---- reading replies ----

  void pump_read(Slot& s) {
    if (!s.reply) return;
    for (;;) {
      const auto n = ::read(s.reply.get(), read_buffer.get(), kReadBufferSize);
      if (n > 0) {
        s.decoder.feed(read_buffer.get(), static_cast<std::size_t>(n));
        if (!take_frames(s)) return;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      // End of file (or an error): the worker is exiting.
      close_reply(s);
      if (s.state != State::Killing) {
        s.state = State::Exiting;
        s.deadline = Clock::now() + to_duration(config.kill_grace) * 10;
      }
      return;
    }
  }

  void close_reply(Slot& s) const {
    unwatch(s.reply.get());
    s.reply.reset();
  }

  // Handles complete frames; false when the slot stopped reading (protocol error).
  bool take_frames(Slot& s) {
    for (;;) {
      std::optional<Frame> frame;
      try {
        frame = s.decoder.next();
      } catch (const FrameError& e) {
        fail_slot(s, std::make_exception_ptr(OsiisoError(
                         fmt::format("ProcessQueue: worker (pid {}) sent a corrupt reply: {}", s.pid, e.what()))));
        return false;
      }
      if (!frame) return true;
      switch (frame->type) {
        case FrameType::Hello:
          s.hello = true;
          first_worker_hold = std::min(first_worker_hold, Clock::now() + kAfterHello);
          if (s.state == State::Starting) s.state = State::Idle;
          if (s.state == State::Idle || s.state == State::Busy) s.deadline.reset();
          break;
        case FrameType::Value:
        case FrameType::Error:
        case FrameType::Exit:
          if (!finish_attempt(s, *frame)) return false;
          break;
        case FrameType::Signal: {
          // Its wait status says the same, unless the kernel reaps it (SIGCHLD ignored).
          int sig = 0;
          const auto* end = frame->payload.data() + frame->payload.size();
          if (frame->payload.size() <= 2 && std::from_chars(frame->payload.data(), end, sig).ptr == end && sig > 0 &&
              sig < NSIG) {
            s.reported_signal = sig;
          }
          break;
        }
        case FrameType::Request:
          fail_slot(s, std::make_exception_ptr(OsiisoError("ProcessQueue: a worker sent an unexpected frame")));
          return false;
      }
    }
  }

  // Settles the slot's attempt with its reply; false when the reply cannot be the answer to it.
  bool finish_attempt(Slot& s, const Frame& frame) {
    if (s.state != State::Busy || !s.attempt) return true;  // an interrupted attempt: dropped
    if (frame.id != s.attempt->id) {
      fail_slot(s, std::make_exception_ptr(OsiisoError(fmt::format(
                       "ProcessQueue: worker (pid {}) answered request {} while running task '{}' (request {}); a "
                       "process forked by a task and still serving the worker's pipes? The worker was replaced",
                       s.pid, frame.id, task_name(*s.attempt), s.attempt->id))));
      return false;
    }
    Attempt attempt = std::move(*s.attempt);
    s.attempt.reset();
    first_served = true;
    Outcome outcome;
    if (frame.type == FrameType::Exit) {
      int code = 0;
      const auto* end = frame.payload.data() + frame.payload.size();
      if (frame.payload.size() > 11 || std::from_chars(frame.payload.data(), end, code).ptr != end) {
        fail_slot(s, std::make_exception_ptr(
                         OsiisoError(fmt::format("ProcessQueue: worker (pid {}) sent a corrupt exit report", s.pid))));
        engine.complete(attempt, Outcome{{},
                                         std::make_exception_ptr(OsiisoError(fmt::format(
                                             "ProcessQueue: worker (pid {}) sent a corrupt exit report while "
                                             "running task '{}'",
                                             s.pid, task_name(attempt))))});
        return false;
      }
      // The worker ends itself right after this frame; it is replaced when it is reaped.
      s.state = State::Exiting;
      s.deadline = Clock::now() + to_duration(config.kill_grace) * 10;
      outcome.error = std::make_exception_ptr(WorkerDiedError(fmt::format(
          "ProcessQueue worker (pid {}) ended because task '{}' called exit({}); a task must return or throw, "
          "and the worker ran none of the program's atexit handlers or static destructors",
          s.pid, task_name(attempt), code)));
      engine.complete(attempt, std::move(outcome));
      return true;
    }
    s.state = State::Idle;
    if (frame.type == FrameType::Value) {
      try {
        outcome.value = s.decode(frame.payload);
      } catch (const std::exception& e) {
        outcome.error = std::make_exception_ptr(OsiisoError(fmt::format(
            "ProcessQueue task '{}': its result could not be deserialized: {}", task_name(attempt), e.what())));
      }
    } else {
      outcome.error = decode_exception(frame.payload);
    }
    engine.complete(attempt, std::move(outcome));
    return true;
  }

  // The name the user gave the task (or its registered name).
  static const std::string& task_name(const Attempt& attempt) { return attempt.task->state->name; }

  // A worker that broke the protocol: its attempt fails with `error` and it is killed.
  void fail_slot(Slot& s, std::exception_ptr error) {
    close_reply(s);
    signal_slot(s, SIGKILL);
    s.state = State::Killing;
    s.deadline = Clock::now() + to_duration(config.kill_grace);
    if (s.attempt) {
      Attempt attempt = std::move(*s.attempt);
      s.attempt.reset();
      engine.complete(attempt, Outcome{{}, std::move(error)});
    }
  }

  // ---- killing and reaping ----

  // Signals the worker and its process group (what its tasks started), while its pid is still
  // reserved by the unreaped worker.
  void signal_slot(Slot& s, int sig) noexcept {
    if (s.reaped) return;
    ::kill(-s.pid, sig);
#ifdef SYS_pidfd_send_signal
    if (s.pidfd && ::syscall(SYS_pidfd_send_signal, s.pidfd.get(), sig, nullptr, 0) == 0) return;
#endif
    ::kill(s.pid, sig);
  }

  void interrupt_attempt(const Attempt& attempt) {
    for (auto& [serial, s] : slots) {
      if (!s.attempt || s.attempt->id != attempt.id || s.attempt->task != attempt.task) continue;
      s.attempt.reset();  // the engine settled it already
      kill_slot(s);
      return;
    }
  }

  void kill_slot(Slot& s) {
    if (s.state == State::Killing) return;
    signal_slot(s, SIGTERM);
    s.state = State::Killing;
    s.deadline = Clock::now() + to_duration(config.kill_grace);
  }

  void handle_deadlines() {
    const auto now = Clock::now();
    if (server_deadline && now >= *server_deadline) server_failed(std::nullopt);
    for (auto& [serial, s] : slots) {
      if (!s.deadline || now < *s.deadline || s.reaped) continue;
      switch (s.state) {
        case State::Starting:
          if (config.method != StartMethod::Fork) {
            not_ready(fmt::format("ProcessQueue: the worker process (pid {}) did not report ready within {}s; {}",
                                  s.pid, config.start_timeout.count(), init_hint(config.method)));
          }
          signal_slot(s, SIGKILL);
          s.state = State::Killing;
          s.deadline.reset();
          break;
        case State::Killing:
        case State::Exiting:
          signal_slot(s, SIGKILL);
          s.deadline.reset();
          break;
        case State::Idle:
        case State::Busy:
          // A forked worker fed before its hello that never sent it is stuck before serving (a
          // lock held at fork time, say): killed like a worker that fails to start; its attempt
          // fails as if it had crashed.
          signal_slot(s, SIGKILL);
          s.state = State::Killing;
          s.deadline.reset();
          break;
      }
    }
  }

  // Collects exit statuses of our own children (pidfd readable, or polled without pidfd).
  void try_reap(Slot& s) {
    if (s.reaped || !s.own_child) return;
    siginfo_t exited{};
    if (::waitid(P_PID, static_cast<id_t>(s.pid), &exited, WEXITED | WNOHANG | WNOWAIT) == 0 && exited.si_pid == 0) {
      return;  // still running
    }
    // Ended but not yet reaped: its pid still names its process group, so what its tasks left
    // running goes with it.
    ::kill(-s.pid, SIGKILL);
    int status = 0;
    const pid_t r = ::waitpid(s.pid, &status, WNOHANG);
    if (r == s.pid) {
      s.reaped = true;
      s.status = status;
    } else if (r < 0 && errno == ECHILD) {
      s.reaped = true;  // reaped by someone else (SIGCHLD ignored?): status unknown
    }
  }

  // Removes reaped workers, failing the attempt of any that died mid-task.
  void reap_finished() {
    std::vector<std::uint64_t> done;
    for (auto& [serial, s] : slots) {
      if (!s.pidfd && s.own_child && (s.state == State::Exiting || s.state == State::Killing)) try_reap(s);
      if (s.reaped) done.push_back(serial);
    }
    for (const auto serial : done) {
      auto node = slots.extract(serial);
      Slot& s = node.mapped();
      try {
        if (s.reply) pump_read(s);  // a reply written just before the end
      } catch (const std::exception&) {
        // Unreadable: the attempt fails below as the worker's death.
      }
      if (s.request) unwatch(s.request.get());
      if (s.reply) unwatch(s.reply.get());
      if (s.pidfd) unwatch(s.pidfd.get());
      update_live();
      if (!s.hello && config.method != StartMethod::Fork && !broken) {
        not_ready(fmt::format("ProcessQueue: the worker process (pid {}) {} before it was ready; {}", s.pid,
                              describe_status(s.status, s.reported_signal), init_hint(config.method)));
      }
      if (s.attempt) {
        Attempt attempt = std::move(*s.attempt);
        engine.complete(attempt, Outcome{{},
                                         std::make_exception_ptr(WorkerDiedError(fmt::format(
                                             "ProcessQueue worker (pid {}) {} while running task '{}'", s.pid,
                                             describe_status(s.status, s.reported_signal), task_name(attempt))))});
      }
    }
  }

  // ---- waiting ----

  int next_timeout() const {
    auto timeout = to_duration(config.poll);
    const auto now = Clock::now();
    auto consider = [&](const Deadline& d) {
      if (d) timeout = std::min(timeout, std::max(Clock::duration::zero(), *d - now));
    };
    consider(server_deadline);
    for (const auto& [serial, s] : slots) {
      consider(s.deadline);
      if (!s.pidfd && s.own_child && (s.state == State::Exiting || s.state == State::Killing)) {
        timeout = std::min<Clock::duration>(timeout, std::chrono::milliseconds(5));
      }
    }
    if (retry_launch_at > now) consider(retry_launch_at);
    if (first_worker_hold > now) consider(first_worker_hold);
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(timeout).count());
  }

  void wait_and_handle(int timeout_ms) {
    epoll_event events[64];
    int n = ::epoll_wait(epoll_fd.get(), events, 64, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return;
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      const auto t = events[i].data.u64;
      if (t == kWakeTag) {
        drain_wake();
        continue;
      }
      if (t == kServerTag) {
        if (!server) continue;
        try {
          handle_server();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "osiiso: ProcessQueue restarts its fork server: %s\n", e.what());
          server_failed(std::nullopt);
        }
        continue;
      }
      const auto it = slots.find(t >> 2);
      if (it == slots.end()) continue;
      Slot& s = it->second;
      try {
        handle_slot_event(s, static_cast<Kind>(t & 3));
      } catch (const std::exception& e) {
        // Concerns this worker only (a reply too large to allocate, say): its attempt fails and
        // it is replaced; the other workers go on.
        fail_slot(s, std::make_exception_ptr(OsiisoError(
                         fmt::format("ProcessQueue: cannot receive the reply of {} from worker (pid {}): {}{}; the "
                                     "worker was replaced",
                                     s.attempt ? fmt::format("task '{}'", task_name(*s.attempt)) : "a task", s.pid,
                                     e.what(), dynamic_cast<const std::bad_alloc*>(&e) ? " (out of memory)" : ""))));
        s.decoder = FrameDecoder(config.max_frame_size);
      }
    }
  }

  void handle_slot_event(Slot& s, Kind kind) {
    switch (kind) {
      case kReply: pump_read(s); break;
      case kRequest: pump_write(s); break;
      case kPidfd:
        pump_read(s);
        try_reap(s);
        if (s.pidfd) {
          unwatch(s.pidfd.get());
          s.pidfd.reset();
        }
        break;
    }
  }

  // ---- stopping ----

  // Closes every request pipe (idle workers exit on end of file), kills busy or starting ones,
  // and reaps them all; SIGKILL for whatever is left at the deadline. Then the fork server.
  void close_requests() {
    for (auto& [serial, s] : slots) {
      if (!s.request) continue;
      if (s.write_armed) unwatch(s.request.get());
      s.write_armed = false;
      s.request.reset();
      if (s.state == State::Busy || s.state == State::Starting) {
        signal_slot(s, SIGKILL);
        s.state = State::Killing;
      }
    }
  }

  void stop_all() {
    const auto deadline = Clock::now() + to_duration(config.stop_timeout);
    bool killed = false;
    while (!slots.empty()) {
      // Again on each round: a fork-server worker may arrive while we stop.
      close_requests();
      const auto now = Clock::now();
      if (now >= deadline && !killed) {
        for (auto& [serial, s] : slots) signal_slot(s, SIGKILL);
        killed = true;
      }
      if (killed && now >= deadline + std::chrono::seconds(2)) {
        for (auto& [serial, s] : slots) {
          // Blocking reap after SIGKILL; fork-server workers die with the server below.
          if (s.own_child && !s.reaped) {
            int status = 0;
            if (::waitpid(s.pid, &status, 0) == s.pid) s.status = status;
          }
          s.reaped = true;
        }
      }
      wait_and_handle(5);
      // A worker interrupted just before the stop (cancel(), forced shutdown) may ignore SIGTERM:
      // escalate to SIGKILL after kill_grace, not only at stop_timeout.
      handle_deadlines();
      for (auto& [serial, s] : slots) {
        if (s.own_child) try_reap(s);
      }
      reap_finished();
    }
    if (server) {
      unwatch(server->socket.get());
      server->socket.reset();  // the server exits at end of file
      const auto server_deadline_at = Clock::now() + std::chrono::seconds(1);
      int status = 0;
      while (::waitpid(server->pid, &status, WNOHANG) == 0) {
        if (Clock::now() >= server_deadline_at) {
          ::kill(server->pid, SIGKILL);
          ::waitpid(server->pid, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      server.reset();
      server_ready = false;
    }
    pending_forks = 0;
    update_live();
  }

  void kill_everything() noexcept {
    for (auto& [serial, s] : slots) {
      signal_slot(s, SIGKILL);
      if (s.own_child && !s.reaped) ::waitpid(s.pid, nullptr, 0);
    }
    slots.clear();
    if (server) {
      ::kill(server->pid, SIGKILL);
      ::waitpid(server->pid, nullptr, 0);
      server.reset();
    }
    pending_forks = 0;
    update_live();
  }
};

void refuse_nested_start() noexcept {
  if (std::getenv(kWorkerEnv) == nullptr && std::getenv(kForkServerEnv) == nullptr) return;
  std::fprintf(stderr,
               "osiiso: this process was started as a ProcessQueue worker, but main() did not call "
               "osiiso::init(argc, argv) first; add it at the top of main()\n");
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
