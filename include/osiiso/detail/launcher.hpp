// SPDX-License-Identifier: MIT
// How a local pool starts workers: fork, spawn or fork server; the cold-start hold; the pause
// after a failed start; and when a pool can start no worker at all.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/context.hpp>
#include <osiiso/detail/event_loop.hpp>
#include <osiiso/detail/fork_server_client.hpp>
#include <osiiso/detail/launch.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>

namespace osiiso::detail {

struct LauncherConfig {
  StartMethod method = StartMethod::Fork;
  std::string executable{};  // re-executed by spawn/forkserver (empty: /proc/self/exe)
  Seconds start_timeout{5.0};
};

class Launcher {
 public:
  // `server_tag`: what the fork server's socket is watched under in `loop`.
  Launcher(LauncherConfig config, EventLoop& loop, std::uint64_t server_tag);

  [[nodiscard]] StartMethod method() const noexcept { return config_.method; }
  // Workers the fork server is forking (they count as alive).
  [[nodiscard]] std::size_t pending() const noexcept { return server_.pending(); }
  ForkServerClient& server() noexcept { return server_; }

  // Starts workers while `alive` (plus pending()) is below `want` and nothing says to wait: no
  // failed start in the last moments, the cold-start hold, a fork server not ready yet. Each new
  // worker goes to `add`; a failed start is recorded (see failure()).
  void launch(std::size_t want, std::size_t alive, const std::function<void(LaunchedWorker)>& add);
  // A worker could not be started: pause the scaling for a moment.
  void failed(const std::string& message);
  // A spawned worker never became ready. While another serves, that only stops the scaling;
  // with none serving, the program cannot serve at all (no osiiso::init, a crash at start).
  void not_ready(const std::string& message, bool others_serving);
  // The fork server ended or broke; whether before it was ready decides if that is fatal.
  void server_ended(std::optional<int> status, bool was_ready);

  // Every job fails with this from now on (no worker can ever serve), or null.
  [[nodiscard]] const std::exception_ptr& broken() const noexcept { return broken_; }
  // The last failed start while no worker is alive (the backlog must fail with it), taken once;
  // with workers alive the failure is dropped (it only paused the scaling).
  std::exception_ptr take_failure(std::size_t alive) noexcept;

  // A worker said hello / a reply arrived: the cold-start hold ends.
  void hello_seen() noexcept;
  void reply_seen() noexcept { first_served_ = true; }
  // The earliest moment the launcher wants to be asked again (retry, hold, server hello).
  [[nodiscard]] std::optional<Clock::time_point> next_deadline() const noexcept;

  // "call osiiso::init(argc, argv) ..." for this start method (spawn or forkserver: fork needs no init).
  [[nodiscard]] std::string init_hint() const;

 private:
  LauncherConfig config_;
  ForkServerClient server_;
  std::exception_ptr broken_;
  std::exception_ptr failure_;
  Clock::time_point retry_at_{};
  Clock::time_point first_worker_hold_{};
  bool first_served_ = true;
};

}  // namespace osiiso::detail
