// SPDX-License-Identifier: MIT
// The worker side of a ProcessQueue: the request loop and the set-up of a worker process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <initializer_list>

namespace osiiso::detail {

// Environment variables through which a re-executed program learns that it is a worker
// ("<request fd>,<reply fd>,<parent pid>") or a fork server ("<socket fd>,<parent pid>").
inline constexpr const char* kWorkerEnv = "OSIISO_WORKER_FDS";
inline constexpr const char* kForkServerEnv = "OSIISO_FORKSERVER_FD";
// Exit code of a re-executed program that reached ProcessQueue without osiiso::init().
inline constexpr int kMissingInitExitCode = 121;

// Sends a Hello frame, then serves Request frames from `request_fd` until end of file: looks the
// function up by name, runs it and writes a Value or Error frame to `reply_fd`. Returns the exit
// code for the worker (0 on a clean end of file).
int serve_requests(int request_fd, int reply_fd) noexcept;

// Makes the calling process a worker: dies with its parent (`parent`, checked against getppid()
// to close the race), leads its own process group, reads /dev/null as stdin, default
// dispositions for fatal signals, SIGINT and SIGPIPE ignored, an empty signal mask, and an
// exit() that skips the application's atexit handlers and static destructors.
void prepare_worker_process(pid_t parent) noexcept;

// Closes every descriptor above stderr except `keep` (a re-executed worker or fork server
// inherits whatever the parent opened without O_CLOEXEC).
void close_inherited_fds(std::initializer_list<int> keep) noexcept;

// Brackets one attempt in serve_requests(), so that a task calling exit() is reported on
// `reply_fd` as an Exit frame for `attempt`.
void begin_attempt(int reply_fd, std::uint64_t attempt) noexcept;
void end_attempt() noexcept;

// How a worker process came to be, which decides what it cleans up before it serves.
enum class WorkerOrigin {
  Forked,    // a copy of the parent: closes the plumbing of other workers and queues, drops the
             // parent's buffered stdio output, rebuilds the locks a fork may have left held
  Executed,  // a re-executed program (spawn): closes every descriptor it inherited but its pipes
};

// Makes this process a worker (prepare_worker_process), cleans up after its origin, serves
// requests until end of file and _Exit()s.
[[noreturn]] void become_worker(int request_fd, int reply_fd, pid_t parent, WorkerOrigin origin) noexcept;

// Body of a fork server: single-threaded; forks a worker for each request on `socket_fd` and
// reports the exit status of each. Returns when the socket closes (its owner is gone).
int serve_fork_server(int socket_fd, pid_t parent) noexcept;

}  // namespace osiiso::detail
