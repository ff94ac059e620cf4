// SPDX-License-Identifier: MIT
// Creating worker processes: fork, spawn (re-execution through Boost.Process), a fork server.
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

}  // namespace osiiso::detail
