// SPDX-License-Identifier: MIT
// Fork generations and dispatch-thread marks (see detail/process_identity.hpp).
#include <osiiso/detail/process_identity.hpp>

#include <osiiso/errors.hpp>

#include <fmt/format.h>
#include <pthread.h>

#include <atomic>

namespace osiiso::detail {

namespace {
std::atomic<std::uint64_t> g_fork_generation{1};
thread_local const char* t_dispatch_thread = nullptr;
}  // namespace

std::uint64_t fork_generation() noexcept {
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1, std::memory_order_relaxed); });
    return true;
  }();
  (void)registered;
  return g_fork_generation.load(std::memory_order_relaxed);
}

DispatchThread::DispatchThread(const char* description) noexcept { t_dispatch_thread = description; }

DispatchThread::~DispatchThread() { t_dispatch_thread = nullptr; }

const char* current_dispatch_thread() noexcept { return t_dispatch_thread; }

void check_blocking_wait(std::string_view caller, std::string_view name, std::uint64_t generation) {
  if (t_dispatch_thread != nullptr) {
    throw InvalidStateError(fmt::format(
        "{}: cannot wait for task '{}' on {}, where hooks and done callbacks run: the wait would stall the queue "
        "that has to finish it; wait from another thread, or react to its end with add_done_callback()",
        caller, name, t_dispatch_thread));
  }
  if (generation != fork_generation()) {
    throw InvalidStateError(fmt::format(
        "{}: task '{}' belongs to a queue of the process this one was forked from; a queue and its tasks cannot "
        "be used across fork(): create a new queue in this process",
        caller, name));
  }
}

}  // namespace osiiso::detail
