// SPDX-License-Identifier: MIT
// ForkServerClient: the parent's side of the fork server.
#include <osiiso/detail/fork_server_client.hpp>

#include <osiiso/detail/launch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <thread>

namespace osiiso::detail {

ForkServerClient::ForkServerClient(EventLoop& loop, std::uint64_t tag, std::string executable, Seconds start_timeout)
    : loop_(loop), tag_(tag), executable_(std::move(executable)), start_timeout_(start_timeout) {}

ForkServerClient::~ForkServerClient() { stop(Clock::duration::zero()); }

void ForkServerClient::start() {
  server_ = spawn_fork_server(executable_);
  ready_ = false;
  pending_ = 0;
  deadline_ = Clock::now() + to_clock_duration(start_timeout_);
  try {
    loop_.watch(server_.socket.get(), EventLoop::kReadable, tag_);
  } catch (...) {
    stop(Clock::duration::zero());
    throw;
  }
}

bool ForkServerClient::request_fork() {
  if (!send_server_message(server_.socket.get(), ServerTag::Fork, 0, 0)) return false;
  ++pending_;
  return true;
}

std::optional<ServerMessage> ForkServerClient::receive(bool& gone) {
  auto message = receive_server_message(server_.socket.get(), gone);
  if (!message) return message;
  if (message->tag == ServerTag::Hello) {
    ready_ = true;
    deadline_.reset();
  } else if (message->tag == ServerTag::Forked && pending_ > 0) {
    --pending_;
  }
  return message;
}

std::optional<int> ForkServerClient::stop(Clock::duration grace) noexcept {
  if (!running()) return std::nullopt;
  loop_.unwatch(server_.socket.get());
  server_.socket.reset();
  const auto until = Clock::now() + grace;
  std::optional<int> seen;
  int status = 0;
  for (;;) {
    const pid_t r = retry_on_eintr([&] { return ::waitpid(server_.pid, &status, WNOHANG); });
    if (r == server_.pid) {
      seen = status;
      break;
    }
    if (r < 0) break;  // not ours to reap (SIGCHLD ignored)
    if (Clock::now() >= until) {
      ::kill(server_.pid, SIGKILL);
      if (retry_on_eintr([&] { return ::waitpid(server_.pid, &status, 0); }) == server_.pid) seen = status;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_ = {};
  ready_ = false;
  deadline_.reset();
  pending_ = 0;
  return seen;
}

}  // namespace osiiso::detail
