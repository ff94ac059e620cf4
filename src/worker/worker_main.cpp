// SPDX-License-Identifier: MIT
// The worker loop: read a request, run the registered function, write the reply (and the Begin
// of the queued request that runs next, in the same write).
#include <osiiso/detail/worker.hpp>

#include <osiiso/detail/buffer_pool.hpp>
#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/registry.hpp>
#include <osiiso/detail/request_inbox.hpp>
#include <osiiso/detail/worker_arenas.hpp>
#include <osiiso/errors.hpp>

#include <fcntl.h>
#include <fmt/format.h>
#include <stdio_ext.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

namespace osiiso::detail {

namespace {
// Replies up to this size are copied next to the Begin frame that may follow them (one write);
// larger ones are written as they are.
constexpr std::size_t kCoalescedReply = std::size_t{64} << 10;

template <class E>
std::string error_reply(const E& e) {
  return encode_exception(std::make_exception_ptr(e));
}

// After every task: what it printed reaches its destination before the reply does. The stream
// buffers are synced directly: flush()'s sentry costs more than the sync when nothing is pending.
void flush_output() noexcept {
  try {
    for (std::ostream* stream : {&std::cout, &std::cerr}) {
      if (auto* buffer = stream->rdbuf()) buffer->pubsync();
    }
  } catch (...) {
  }
  std::fflush(nullptr);
}

// The registry entry of a request's name; the last one found is kept (entries are never
// removed), since a worker mostly runs one function over and over.
class TaskLookup {
 public:
  const RegisteredTask* find(std::string_view name) {
    if (last_ == nullptr || last_->name != name) last_ = Registry::instance().find(name);
    return last_;
  }

 private:
  const RegisteredTask* last_ = nullptr;
};

// Runs one request; returns its reply type and fills `reply`.
FrameType run_request(std::string_view payload, std::string& reply, std::string& name, TaskLookup& tasks) {
  try {
    const auto request = decode_request(payload);
    name = request.name;
    const auto* task = tasks.find(request.name);
    if (task == nullptr) {
      reply = error_reply(RegistrationError(
          fmt::format("ProcessQueue worker: no function is registered as '{}' in the worker process; add "
                      "OSIISO_TASK({}) at namespace scope in a file linked into the program",
                      name, name)));
      return FrameType::Error;
    }
    task->invoke(request.arguments, reply);
    return FrameType::Value;
  } catch (const SerializationError& e) {
    reply = error_reply(OsiisoError(fmt::format("ProcessQueue task '{}': {}", name, e.what())));
  } catch (...) {
    reply = encode_exception(std::current_exception());
  }
  return FrameType::Error;
}

}  // namespace

int serve_requests(int request_fd, int reply_fd) noexcept {
  try {
    const pid_t self = ::getpid();
    if (!write_frame(reply_fd, FrameType::Hello, 0, std::to_string(self))) return 0;
    // Large payloads through shared memory (worker_arenas.hpp).
    WorkerArenas arenas;
    if (!arenas.offer(reply_fd)) return 0;
    RequestInbox inbox(request_fd);
    TaskLookup tasks;
    // A small reply waits here for the Begin of the queued request after it: one write for both.
    std::string out;
    // Whether the Begin of the request next() returns went out with the last reply. (Two plain
    // values: GCC 12 at -O3 takes an optional read here for uninitialised.)
    bool announced = false;
    std::uint64_t announced_id = 0;
    for (;;) {
      announced = false;
      if (!out.empty()) {
        // Cancel frames the parent sent meanwhile must be seen before a queued request begins.
        inbox.drain();
        if (const auto queued = inbox.next_queued()) {
          announced = true;
          announced_id = *queued;
          append_frame_header(out, FrameType::Begin, announced_id, 0);
        }
        if (!write_all(reply_fd, out.data(), out.size())) return 0;  // the queue is gone
        out.clear();
      }
      const auto request = inbox.next();
      if (!request) return 0;  // the queue closed our request pipe
      // A SharedRequest becomes the Request it stands for, its payload in the request arena.
      FrameView frame{request->type, request->id, request->payload};
      arenas.take_request(frame);
      const std::uint64_t attempt = frame.id;
      if (request->type == FrameType::Queued && !(announced && announced_id == attempt)) {
        append_frame_header(out, FrameType::Begin, attempt, 0);
        if (!write_all(reply_fd, out.data(), out.size())) return 0;
        out.clear();
      }
      std::string reply;
      std::string name;
      begin_attempt(reply_fd, attempt);
      FrameType type = run_request(frame.payload, reply, name, tasks);
      end_attempt();
      arenas.release_request(attempt);
      inbox.trim();
      // A task that forked and whose child returned from it: only the worker itself may reply.
      if (::getpid() != self) std::_Exit(0);
      flush_output();
      if (reply.size() > kMaxFrameSize) {
        type = FrameType::Error;
        reply = error_reply(OsiisoError(
            fmt::format("ProcessQueue task '{}': its serialized result of {} bytes exceeds the limit of {} bytes", name,
                        reply.size(), kMaxFrameSize)));
      }
      if (reply.size() <= kCoalescedReply) {
        append_frame(out, type, attempt, reply);
      } else if (!arenas.write_reply(reply_fd, type, attempt, reply)) {
        return 0;  // the queue is gone
      }
    }
  } catch (const FrameError& e) {
    std::fprintf(stderr, "osiiso worker %d: %s\n", static_cast<int>(::getpid()), e.what());
    return 2;
  } catch (...) {
    // Out of memory outside a task, or similar: the parent sees the worker die.
    return 3;
  }
}

void become_worker(int request_fd, int reply_fd, pid_t parent, WorkerOrigin origin) noexcept {
  if (origin == WorkerOrigin::Executed) close_inherited_fds({request_fd, reply_fd});
  prepare_worker_process(parent);
  if (origin == WorkerOrigin::Forked) {
    close_internal_fds_after_fork(request_fd, reply_fd);
    // Output the parent had buffered but not written would otherwise be written twice.
    __fpurge(stdout);
    __fpurge(stderr);
    Registry::instance().reset_after_fork();
    reset_buffer_pool_after_fork();
  } else {
    // The tasks' own child processes must not inherit the pipes.
    (void)::fcntl(request_fd, F_SETFD, FD_CLOEXEC);
    (void)::fcntl(reply_fd, F_SETFD, FD_CLOEXEC);
  }
  const int code = serve_requests(request_fd, reply_fd);
  flush_output();
  std::_Exit(code);
}

}  // namespace osiiso::detail
