// SPDX-License-Identifier: MIT
// The parent's side of a fork server: start it, ask it for workers, hear what it reports, stop it.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/event_loop.hpp>
#include <osiiso/detail/fork_server_protocol.hpp>
#include <osiiso/detail/launch.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace osiiso::detail {

class ForkServerClient {
 public:
  // `tag`: what the server's socket is watched under in `loop`.
  ForkServerClient(EventLoop& loop, std::uint64_t tag, std::string executable, Seconds start_timeout);
  ForkServerClient(const ForkServerClient&) = delete;
  ForkServerClient& operator=(const ForkServerClient&) = delete;
  ~ForkServerClient();

  [[nodiscard]] bool running() const noexcept { return server_.pid > 0; }
  // It said hello: it takes requests.
  [[nodiscard]] bool ready() const noexcept { return ready_; }
  // Until its hello: when it must have said it.
  [[nodiscard]] const std::optional<Clock::time_point>& deadline() const noexcept { return deadline_; }
  // Forks asked for and not yet answered.
  [[nodiscard]] std::size_t pending() const noexcept { return pending_; }

  // Starts the server process (throws on failure); ready() once its hello arrives.
  void start();
  // Asks for one worker; false when the server is gone (then stop() it).
  bool request_fork();
  // The next message the server sent (Hello and Forked update this client's counts); nullopt when
  // none is pending. `gone` is set at end of file. Throws FrameError on a malformed message.
  std::optional<ServerMessage> receive(bool& gone);
  // Closes its socket (it exits at end of file, killing its workers' process groups), waits up
  // to `grace` for it, then SIGKILL; reaps it. Returns its wait status when it was seen.
  std::optional<int> stop(Clock::duration grace) noexcept;

 private:
  EventLoop& loop_;
  std::uint64_t tag_;
  std::string executable_;
  Seconds start_timeout_;
  ForkServerProcess server_;
  bool ready_ = false;
  std::optional<Clock::time_point> deadline_;
  std::size_t pending_ = 0;
};

}  // namespace osiiso::detail
