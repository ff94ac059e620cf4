// SPDX-License-Identifier: MIT
// ProcessQueue's backend: persistent worker processes driven by one parent-side poller thread.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/backend.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/enums.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace osiiso::detail {

class Engine;

struct ProcessBackendConfig {
  // How workers are created.
  StartMethod method = StartMethod::Fork;
  // Upper bound on how late a queued kill or command is acted on.
  Seconds poll{std::chrono::milliseconds(50)};
  // How long a spawned worker (or fork server) may take to report ready; past it the program is
  // assumed not to call osiiso::init().
  Seconds start_timeout{5.0};
  // SIGTERM -> SIGKILL escalation when an attempt is interrupted.
  Seconds kill_grace{std::chrono::milliseconds(100)};
  // Graceful stop: how long idle workers get to exit after their request pipe closes.
  Seconds stop_timeout{2.0};
  // Program re-executed by spawn/forkserver (empty: /proc/self/exe); for tests.
  std::string executable{};
  // Largest frame accepted in either direction.
  std::size_t max_frame_size = kMaxFrameSize;
  // The request every new worker runs first (empty: none), and its name.
  std::string initializer_request{};
  std::string initializer_name{};
  // Worker recycling (see PoolConfig).
  std::size_t max_tasks_per_worker = 0;
  std::optional<std::size_t> max_worker_memory{};
  // Every attempt's memory cap unless its task sets one.
  std::optional<std::size_t> memory_limit{};
  // Most attempts a worker holds at once (nullopt: sized from the measured run time).
  std::optional<std::size_t> chunksize = 1;
};

// Workers are created, fed (one request at a time, or several queued behind the running one:
// `chunksize`), killed and reaped by a single poller thread
// (epoll over reply pipes, pidfds and an eventfd). The poller thread also creates every worker,
// so that PR_SET_PDEATHSIG (which fires when the creating *thread* exits) stays meaningful; it
// exits only after every worker is reaped.
class ProcessBackend final : public Backend {
 public:
  ProcessBackend(Engine& engine, ProcessBackendConfig config);
  ~ProcessBackend() override;

  void ensure_workers(std::size_t count) override;
  void notify_ready() override;
  void interrupt(const Attempt& attempt) override;
  void stop_workers() override;
  [[nodiscard]] std::size_t worker_count() const override;
  [[nodiscard]] bool owns_current_thread() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Exits at once (with a message naming osiiso::init) when this process was started as a worker
// or fork server but main() did not call osiiso::init(): it must not start workers of its own.
void refuse_nested_start() noexcept;

}  // namespace osiiso::detail
