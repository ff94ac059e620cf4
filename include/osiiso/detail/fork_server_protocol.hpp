// SPDX-License-Identifier: MIT
// What a fork server and its parent say to each other over their SOCK_SEQPACKET socket.
#pragma once

#include <osiiso/detail/fd.hpp>

#include <sys/types.h>

#include <optional>

namespace osiiso::detail {

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

}  // namespace osiiso::detail
