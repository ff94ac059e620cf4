// SPDX-License-Identifier: MIT
// A backend without workers: it records what the engine asks of it, and the test takes and
// completes attempts by hand.
#pragma once

#include <osiiso/detail/engine.hpp>

#include <algorithm>
#include <any>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace osiiso::test {

// The payload of a fake task: nothing runs it.
struct FakeWork final : detail::Work {};

// Records every call of the engine; attempts are taken and completed by the test.
class FakeBackend final : public detail::Backend {
 public:
  // A backend of `engine`, which calls it back.
  explicit FakeBackend(detail::Engine& engine) : engine_(engine) {}

  // Records the count; the worker count only grows, as a real backend's does.
  void ensure_workers(std::size_t count) override {
    record([&] {
      workers_ = std::max(workers_, count);
      ensured_.push_back(count);
    });
  }
  // Counts the call.
  void notify_ready() override {
    record([&] { ++notified_; });
  }
  // Records the attempt id.
  void interrupt(const detail::Attempt& attempt) override {
    record([&] { interrupted_.push_back(attempt.id); });
  }
  // Counts the call; no worker is left.
  void stop_workers() override {
    record([&] {
      workers_ = 0;
      ++stopped_;
    });
  }
  // The largest count ensured since the last stop_workers().
  [[nodiscard]] std::size_t worker_count() const override {
    std::lock_guard lock(mu_);
    return workers_;
  }
  // No thread is the backend's.
  [[nodiscard]] bool owns_current_thread() const override { return false; }

  // The next runnable attempt, as an idle worker would take it.
  std::optional<detail::Attempt> take() { return engine_.take_ready(); }
  // Reports that `attempt` returned `value`; false when the engine had settled it already.
  bool succeed(const detail::Attempt& attempt, std::any value = {}) {
    return engine_.complete(attempt, detail::Outcome{std::move(value), nullptr});
  }
  // Reports that `attempt` returned `value` and takes the next attempt, as a worker thread does.
  std::optional<detail::Attempt> succeed_and_take(const detail::Attempt& attempt, std::any value = {}) {
    return engine_.complete_and_take(attempt, detail::Outcome{std::move(value), nullptr}, {});
  }
  // Reports that `attempt` threw `error`; false when the engine had settled it already.
  template <class Error>
  bool fail(const detail::Attempt& attempt, Error error) {
    return engine_.complete(attempt, detail::Outcome{{}, std::make_exception_ptr(std::move(error))});
  }

  // notify_ready() calls so far.
  [[nodiscard]] std::size_t notified() const {
    std::lock_guard lock(mu_);
    return notified_;
  }
  // The attempt ids passed to interrupt(), in order.
  [[nodiscard]] std::vector<std::uint64_t> interrupted() const {
    std::lock_guard lock(mu_);
    return interrupted_;
  }
  // The counts passed to ensure_workers(), in order.
  [[nodiscard]] std::vector<std::size_t> ensured() const {
    std::lock_guard lock(mu_);
    return ensured_;
  }
  // stop_workers() calls so far.
  [[nodiscard]] std::size_t stopped() const {
    std::lock_guard lock(mu_);
    return stopped_;
  }

  // Waits until `done(*this)` holds, re-checking after each call from the engine; at most a few
  // real seconds, so that a broken rule fails the test instead of hanging it. Returns done(*this).
  template <class Predicate>
  bool wait_for(Predicate done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      std::uint64_t seen = 0;
      {
        std::lock_guard lock(mu_);
        seen = calls_;
      }
      if (done(*this)) return true;
      std::unique_lock lock(mu_);
      if (!cv_.wait_until(lock, deadline, [&] { return calls_ != seen; })) break;
    }
    return done(*this);
  }

 private:
  // Runs `change` under the lock, then wakes wait_for(); never calls the engine (it holds its lock).
  template <class Change>
  void record(Change change) {
    {
      std::lock_guard lock(mu_);
      change();
      ++calls_;
    }
    cv_.notify_all();
  }

  detail::Engine& engine_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::size_t workers_ = 0;
  std::vector<std::size_t> ensured_;
  std::size_t notified_ = 0;
  std::vector<std::uint64_t> interrupted_;
  std::size_t stopped_ = 0;
  std::uint64_t calls_ = 0;
};

// An engine on a FakeBackend, its queue named "FakeQueue".
struct EngineRig {
  std::shared_ptr<detail::Engine> engine;
  FakeBackend* backend = nullptr;

  explicit EngineRig(detail::EngineConfig config = {}) {
    config.queue_name = "FakeQueue";
    engine = std::make_shared<detail::Engine>(std::move(config));
    auto owned = std::make_unique<FakeBackend>(*engine);
    backend = owned.get();
    engine->set_backend(std::move(owned));
  }

  // Submits a FakeWork task named `name`.
  detail::TaskStatePtr submit(std::string name, TaskOptions options = {}) {
    options.name = std::move(name);
    return engine->submit(std::make_unique<FakeWork>(), options, "task");
  }
};

}  // namespace osiiso::test
