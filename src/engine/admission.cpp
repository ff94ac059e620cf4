// SPDX-License-Identifier: MIT
// Admission: a submission becomes a task (queued or scheduled), a full queue blocks its
// submitter, and group ids are handed out.
#include <osiiso/detail/engine.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <stdexcept>

namespace osiiso::detail {

namespace {

// SplitMix64's output function: a bijection, so one thread's consecutive inputs never repeat an
// output, and its mixing makes ids from differently seeded threads look independent.
std::uint64_t mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The two hexadecimal digits of every byte: an id is written a byte at a time, not a digit.
constexpr std::array<std::array<char, 2>, 256> kHexPairs = [] {
  constexpr char digits[] = "0123456789abcdef";
  std::array<std::array<char, 2>, 256> pairs{};
  for (std::size_t b = 0; b < pairs.size(); ++b) pairs[b] = {digits[b >> 4], digits[b & 0xF]};
  return pairs;
}();

}  // namespace

TaskId new_task_id() {
  // A random start per thread, then a counter: ids are 128 random-looking bits at a fraction of
  // the cost of a Mersenne Twister (ids are names, not secrets).
  thread_local std::uint64_t counter = (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  thread_local const std::uint64_t stream = mix(std::uint64_t{std::random_device{}()} << 32 | std::random_device{}());
  const std::uint64_t halves[2] = {mix(++counter), mix(counter ^ stream)};
  TaskId id;
  for (std::size_t half = 0; half < 2; ++half) {
    std::uint64_t bits = halves[half];
    for (std::size_t i = 8; i-- > 0; bits >>= 8) {
      const auto& pair = kHexPairs[bits & 0xFF];
      id.hex[half * 16 + i * 2] = pair[0];
      id.hex[half * 16 + i * 2 + 1] = pair[1];
    }
  }
  return id;
}

std::string Engine::next_group_id() {
  std::lock_guard lock(mu_);
  return fmt::format("group-{}", ++group_seq_);
}

void Engine::check_accepting_locked() const {
  if (!lifecycle_.accepting()) {
    throw ClosedError(
        fmt::format("{}::submit(): the queue is not accepting tasks (it is shut down or halting); "
                    "submit before shutdown(), or call reset() to reuse it",
                    config_.queue_name));
  }
}

TaskStatePtr Engine::submit(std::unique_ptr<Work> work, const TaskOptions& options, std::string default_name) {
  check_owner("submit");
  options.validate();
  if (options.memory_limit && !config_.memory_limits) {
    throw std::invalid_argument(
        fmt::format("{}::submit(): memory_limit needs worker processes (the tasks of a {} share the program's memory); "
                    "submit the task to a ProcessQueue",
                    config_.queue_name, config_.queue_name));
  }
  auto state = std::make_shared<TaskState>();
  state->task_id = new_task_id();
  state->name = options.name.value_or(std::move(default_name));
  state->priority = options.priority;
  state->must_complete = options.must_complete;
  state->group_id = options.group_id;
  state->detached = options.detached;
  state->created_at = clock_->now();
  state->metadata = options.metadata;
  state->engine = weak_from_this();
  state->fork_generation = fork_generation_;
  if (options.delay) {
    state->scheduled_for = state->created_at + to_clock_duration(*options.delay);
  } else if (options.run_at) {
    const auto wait =
        std::max(*options.run_at - std::chrono::system_clock::now(), std::chrono::system_clock::duration{});
    state->scheduled_for = state->created_at + std::chrono::duration_cast<Clock::duration>(wait);
  }

  auto task = std::make_shared<Task>();
  task->state = state;
  task->work = std::move(work);
  task->timeout = options.timeout;
  task->retries = options.retries;
  task->next_retry_delay = options.retry_delay;
  task->backoff = options.backoff;
  task->priority = options.priority;
  task->memory_limit = options.memory_limit;
  state->task = task;

  std::unique_lock lock(mu_);
  check_accepting_locked();
  if (config_.size > 0 && outstanding_ >= config_.size) {
    // Nothing would ever drain a full queue that was never started: start it, as a wait on a
    // handle does.
    if (!lifecycle_.started() && !lifecycle_.running()) start_locked();
    done_cv_.wait(lock, [&] { return outstanding_ < config_.size || !lifecycle_.accepting(); });
    check_accepting_locked();
  }
  task->seq = ++seq_;
  ++outstanding_;
  if (state->scheduled_for && *state->scheduled_for > clock_->now()) {
    schedule_locked(task, *state->scheduled_for);
  } else {
    make_ready_locked(task);
  }
  return state;
}

void Engine::schedule_locked(const TaskPtr& task, Clock::time_point at) {
  task->where = Where::Scheduled;
  ++scheduled_;
  push_timer_locked(at, task, TimerKind::Due);
}

}  // namespace osiiso::detail
