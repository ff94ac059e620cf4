// SPDX-License-Identifier: MIT
// The worker loop: read a request, run the registered function, write the reply.
#include <osiiso/detail/worker.hpp>

#include <osiiso/detail/buffer_pool.hpp>
#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/registry.hpp>
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
// The largest request buffer a worker keeps for the next request (its trim threshold, see
// prepare_worker_process).
constexpr std::size_t kKeptRequestBuffer = std::size_t{64} << 20;

template <class E>
std::string error_reply(const E& e) {
  return encode_exception(std::make_exception_ptr(e));
}

void flush_output() noexcept {
  try {
    std::cout.flush();
    std::cerr.flush();
  } catch (...) {
  }
  std::fflush(nullptr);
}
}  // namespace

int serve_requests(int request_fd, int reply_fd) noexcept {
  try {
    const pid_t self = ::getpid();
    if (!write_frame(reply_fd, FrameType::Hello, 0, std::to_string(self))) return 0;
    // Large payloads through shared memory (worker_arenas.hpp).
    WorkerArenas arenas;
    if (!arenas.offer(reply_fd)) return 0;
    // Kept from one request to the next, so that a stream of large arguments is read into warm
    // memory that is not zero-filled again; released after a request over kKeptRequestBuffer.
    std::string request_buffer;
    for (;;) {
      std::optional<FrameView> frame;
      try {
        frame = read_frame_into(request_fd, request_buffer);
        if (frame) arenas.take_request(*frame);
      } catch (const FrameError& e) {
        std::fprintf(stderr, "osiiso worker %d: %s\n", static_cast<int>(::getpid()), e.what());
        return 2;
      }
      if (!frame) return 0;  // the queue closed our request pipe
      if (frame->type != FrameType::Request) {
        std::fprintf(stderr, "osiiso worker %d: unexpected frame type %d\n", static_cast<int>(::getpid()),
                     static_cast<int>(frame->type));
        return 2;
      }
      const std::uint64_t attempt = frame->id;
      std::string reply;
      FrameType type = FrameType::Error;
      std::string name;
      begin_attempt(reply_fd, attempt);
      try {
        const auto request = decode_request(frame->payload);
        name = request.name;
        const auto* task = Registry::instance().find(request.name);
        if (task == nullptr) {
          reply = error_reply(RegistrationError(
              fmt::format("ProcessQueue worker: no function is registered as '{}' in the worker process; add "
                          "OSIISO_TASK({}) at namespace scope in a file linked into the program",
                          name, name)));
        } else {
          task->invoke(request.arguments, reply);
          type = FrameType::Value;
        }
      } catch (const SerializationError& e) {
        reply = error_reply(OsiisoError(fmt::format("ProcessQueue task '{}': {}", name, e.what())));
      } catch (...) {
        reply = encode_exception(std::current_exception());
      }
      end_attempt();
      // A task that forked and whose child returned from it: only the worker itself may reply.
      if (::getpid() != self) std::_Exit(0);
      arenas.release_request(attempt);
      frame.reset();
      if (request_buffer.capacity() > kKeptRequestBuffer) std::string().swap(request_buffer);
      flush_output();
      if (reply.size() > kMaxFrameSize) {
        type = FrameType::Error;
        reply = error_reply(OsiisoError(
            fmt::format("ProcessQueue task '{}': its serialized result of {} bytes exceeds the limit of {} bytes", name,
                        reply.size(), kMaxFrameSize)));
      }
      if (!arenas.write_reply(reply_fd, type, attempt, reply)) return 0;  // the queue is gone
    }
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
