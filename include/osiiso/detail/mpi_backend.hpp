// SPDX-License-Identifier: MIT
// MpiQueue's backend on rank 0: one thread that hands the engine's attempts to the serving
// ranks (and to a local pool when rank 0 runs tasks too), turns their replies into completions,
// and notices ranks that stop answering.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/backend.hpp>
#include <osiiso/detail/mpi_protocol.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

namespace osiiso::detail {

class Engine;
class MpiWorld;

struct MpiBackendConfig {
  // What every serving rank (and rank 0's own pool) runs its workers with.
  SessionConfig session{};
  // The serving ranks.
  std::vector<int> ranks{};
  // Jobs a rank may hold beyond one per worker (nullopt: from the measured task time).
  std::optional<std::size_t> prefetch{};
  // A rank silent for this long is lost.
  Seconds lease{5.0};
  // Upper bound on how late a queued kill or command is acted on.
  Seconds poll{std::chrono::milliseconds(50)};
  // Whether rank 0 runs tasks in a local pool too.
  bool root_runs_tasks = false;
  // Every attempt's memory cap unless its task sets one.
  std::optional<std::size_t> memory_limit{};
};

class MpiBackend final : public Backend {
 public:
  MpiBackend(Engine& engine, MpiWorld& world, MpiBackendConfig config);
  ~MpiBackend() override;

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

}  // namespace osiiso::detail
