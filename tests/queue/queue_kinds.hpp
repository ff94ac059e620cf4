// SPDX-License-Identifier: MIT
// The queue kinds the contract (test_queue_contract.cpp) runs on: how each one is built from its
// options, and how its long task is submitted.
#pragma once

#include <osiiso/context.hpp>
#ifdef OSIISO_CONTRACT_MPI
#include <osiiso/mpi_queue.hpp>
#endif
#include <osiiso/process_queue.hpp>
#include <osiiso/thread_queue.hpp>

#include "../helpers.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// Under ASan and TSan (GCC 12's runtimes) a worker forked while another thread of the parent
// allocates can deadlock (docs/reliability.md).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OSIISO_CONTRACT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OSIISO_CONTRACT_SANITIZED 1
#endif
#endif

namespace contract {

/// Appends `line` to the file `log` (nothing when `log` is empty): a file, so that a task in a
/// worker process can report to the test too.
inline void append_line(const std::string& log, const std::string& line) {
  if (!log.empty()) std::ofstream(log, std::ios::app) << line << '\n';
}

/// The lines of the file `log` (none when it does not exist).
inline std::vector<std::string> read_lines(const std::string& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A thread cannot be killed: the long task returns once its attempt is asked to stop (an
// abandoned thread would sleep on), and throws then, so that "done" means it slept to the end.
inline std::string nap_until_stopped(std::stop_token stop, osiiso::Seconds duration, std::string log) {
  append_line(log, "entered");
  if (!osiiso::test::sleep_unless_stopped(std::move(stop), duration)) throw std::runtime_error("stopped");
  return "done";
}

// A worker process is killed when its attempt times out or is cancelled: a plain sleep will do.
inline std::string nap(double seconds, std::string log) {
  append_line(log, "entered");
  std::this_thread::sleep_for(osiiso::Seconds(seconds));
  return "done";
}

}  // namespace contract

// OSIISO_TASK_AS defines a static registrar: a second includer would register the same function
// again, which the registry accepts.
OSIISO_TASK_AS("contract::nap", contract::nap);

/// What differs between the queues in the contract: how a queue is built from its options, and how
/// a long task is submitted (the one contract task that cannot be the same function for both).
template <class Queue>
struct QueueKind;

template <>
struct QueueKind<osiiso::ThreadQueue> {
  using Options = osiiso::ThreadQueueOptions;

  /// The queue built from `options`.
  static osiiso::ThreadQueue make(Options options) { return osiiso::ThreadQueue(std::move(options)); }

  /// A task that takes `duration` unless stopped; each attempt appends a line to `log` (if given).
  static osiiso::SyncTaskHandle<std::string> submit_nap(osiiso::ThreadQueue& q, const osiiso::TaskOptions& options,
                                                        osiiso::Seconds duration, std::string log = {}) {
    return q.submit(options, contract::nap_until_stopped, duration, std::move(log));
  }
};

template <>
struct QueueKind<osiiso::ProcessQueue> {
  using Options = osiiso::ProcessQueueOptions;

  /// The queue built from `options`; sanitizer builds take its workers from the single-threaded
  /// fork server, so that none can deadlock (test_process_queue_specific.cpp runs every start
  /// method in every build).
  static osiiso::ProcessQueue make(Options options) {
#ifdef OSIISO_CONTRACT_SANITIZED
    options.context = osiiso::get_context("forkserver");
#endif
    return osiiso::ProcessQueue(std::move(options));
  }

  /// A task that takes `duration` unless its worker is killed; each attempt appends a line to `log` (if given).
  static osiiso::SyncTaskHandle<std::string> submit_nap(osiiso::ProcessQueue& q, const osiiso::TaskOptions& options,
                                                        osiiso::Seconds duration, std::string log = {}) {
    return q.submit(options, contract::nap, duration.count(), std::move(log));
  }
};

#ifdef OSIISO_CONTRACT_MPI
// MpiQueue has no `workers`: the contract's worker count becomes ranks times workers per rank
// (under mpirun -np 3: one serving rank for one worker, both ranks for more).
template <>
struct QueueKind<osiiso::MpiQueue> {
  using Options = osiiso::ProcessQueueOptions;

  /// The queue built from `options`, its workers spread over the serving ranks.
  static osiiso::MpiQueue make(Options o) {
#ifdef OSIISO_CONTRACT_SANITIZED
    o.context = osiiso::get_context("forkserver");
#endif
    const std::size_t serving = static_cast<std::size_t>(osiiso::mpi::size() - 1);
    const std::size_t workers = o.workers.value_or(serving);
    std::vector<int> ranks{1};  // workers = 0 stays 0 workers per rank: the validation error
    for (std::size_t r = 2; r <= std::min(workers, serving); ++r) ranks.push_back(static_cast<int>(r));
    return osiiso::MpiQueue({.workers_per_rank = (workers + ranks.size() - 1) / ranks.size(),
                             .size = o.size,
                             .timeout = o.timeout,
                             .mode = o.mode,
                             .fail_policy = o.fail_policy,
                             .on_exit = o.on_exit,
                             .on_start = std::move(o.on_start),
                             .on_complete = std::move(o.on_complete),
                             .on_retry = std::move(o.on_retry),
                             .poll = o.poll,
                             .context = o.context,
                             .rate = o.rate,
                             .burst = o.burst,
                             .initializer = std::move(o.initializer),
                             .max_tasks_per_worker = o.max_tasks_per_worker,
                             .max_worker_memory = o.max_worker_memory,
                             .memory_limit = o.memory_limit,
                             .ranks = std::move(ranks)});
  }

  /// A task that takes `duration` unless its worker is killed; each attempt appends a line to `log` (if given).
  static osiiso::SyncTaskHandle<std::string> submit_nap(osiiso::MpiQueue& q, const osiiso::TaskOptions& options,
                                                        osiiso::Seconds duration, std::string log = {}) {
    return q.submit(options, contract::nap, duration.count(), std::move(log));
  }
};
#endif

/// A queue of kind `Queue`, built from `options` the way the contract runs it.
template <class Queue>
Queue make_queue(typename QueueKind<Queue>::Options options) {
  return QueueKind<Queue>::make(std::move(options));
}
