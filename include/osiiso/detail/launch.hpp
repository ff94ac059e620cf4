// SPDX-License-Identifier: MIT
// Creating worker processes: fork, spawn (re-execution through Boost.Process), fork server.
#pragma once

#include <osiiso/detail/fd.hpp>

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>

namespace osiiso::detail {

// Pipe buffers are grown to this size when the system allows it (fewer wake-ups for large
// arguments and results).
inline constexpr std::size_t kPipeCapacity = std::size_t{1} << 20;

// The parent's ends of a new worker's pipes (non-blocking, O_CLOEXEC).
struct LaunchedWorker {
  pid_t pid = -1;
  bool own_child = true;  // false for fork-server workers: the server reaps them
  UniqueFd request;       // parent writes requests
  UniqueFd reply;         // parent reads replies
};

// fork() a worker (call from the long-lived poller thread). Throws std::system_error.
LaunchedWorker fork_worker();

// Re-executes `executable` (empty: /proc/self/exe) as a worker: osiiso::init() in its main
// finds the pipes through an environment variable. Throws on failure.
LaunchedWorker spawn_worker(const std::string& executable);

// A running fork server and the parent's end of its socket.
struct ForkServerProcess {
  pid_t pid = -1;
  UniqueFd socket;
};
ForkServerProcess spawn_fork_server(const std::string& executable);

// Messages on a fork-server socket (SOCK_SEQPACKET).
enum class ServerTag : char {
  Hello = 'H',   // server -> parent: ready
  Fork = 'F',    // parent -> server: create one worker
  Forked = 'S',  // server -> parent: pid, with the request (write) and reply (read) fds attached
  Exited = 'X',  // server -> parent: pid and wait status of a worker it reaped
};
struct ServerMessage {
  ServerTag tag = ServerTag::Hello;
  pid_t pid = -1;
  int status = 0;
  UniqueFd request;
  UniqueFd reply;
  bool descriptors_lost = false;  // a Forked message whose descriptors could not be received
};
// Sends a message (with two descriptors to pass, or -1); false when the peer is gone.
bool send_server_message(int socket, ServerTag tag, pid_t pid, int status, int fd_a = -1, int fd_b = -1) noexcept;
// Receives one message; nullopt at end of file or when nothing is pending on a non-blocking
// socket (`eof` tells which). Throws FrameError on a malformed message.
std::optional<ServerMessage> receive_server_message(int socket, bool& eof);

// pidfd_open(2), or an empty fd when the kernel lacks it.
UniqueFd open_pidfd(pid_t pid) noexcept;

}  // namespace osiiso::detail
