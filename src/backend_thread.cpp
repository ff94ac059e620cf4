// SPDX-License-Identifier: MIT
// The thread of a process backend and the commands other threads leave for it.
#include <osiiso/detail/backend_thread.hpp>

#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/process_identity.hpp>

#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <utility>

namespace osiiso::detail {

namespace {

// Signals the thread blocks (everything asynchronous): they belong to the main thread.
void block_async_signals() {
  sigset_t set;
  sigfillset(&set);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS}) sigdelset(&set, sig);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

BackendThread::BackendThread(const char* description, std::function<void()> body)
    : description_(description), body_(std::move(body)) {}

BackendThread::~BackendThread() {
  stop();
  std::lock_guard lock(mu_);
  // Destroyed from a hook on the thread itself: it cannot join itself.
  if (thread_.joinable()) thread_.detach();
}

void BackendThread::start_locked() {
  if (thread_.joinable() && !done_) return;
  if (thread_.joinable()) thread_.join();  // it already finished its stop
  commands_.stop = false;
  done_ = false;
  thread_ = std::thread([this] { run(); });
}

void BackendThread::run() {
  id_ = std::this_thread::get_id();
  {
    const DispatchThread dispatching(description_);
    block_async_signals();
    body_();
  }
  live_ = 0;
  id_ = std::thread::id();
  std::lock_guard lock(mu_);
  done_ = true;
}

void BackendThread::ensure(std::size_t count) {
  std::lock_guard lock(mu_);
  const bool running = thread_.joinable() && !done_;
  if (count <= commands_.target && running) return;
  commands_.target = std::max(commands_.target, count);
  if (commands_.target == 0) return;
  if (commands_.stop && running) return;  // stopping
  start_locked();
  wake();
}

void BackendThread::interrupt(const Attempt& attempt) {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable() || done_) return;
    commands_.interrupts.push_back(attempt);
  }
  wake();
}

void BackendThread::stop() {
  std::thread thread;
  {
    std::lock_guard lock(mu_);
    commands_.target = 0;
    if (!thread_.joinable()) return;
    commands_.stop = true;
    wake();
    if (on_thread()) return;
    thread = std::move(thread_);
  }
  thread.join();
  std::lock_guard lock(mu_);
  done_ = false;
  commands_.stop = false;
}

BackendThread::Commands BackendThread::take() {
  std::lock_guard lock(mu_);
  Commands taken;
  taken.target = commands_.target;
  taken.interrupts.swap(commands_.interrupts);
  taken.stop = commands_.stop;
  return taken;
}

bool BackendThread::wait_for_wake() {
  pollfd p{wake_.fd(), POLLIN, 0};
  retry_on_eintr([&] { return ::poll(&p, 1, -1); });
  wake_.drain();
  std::lock_guard lock(mu_);
  return !commands_.stop;
}

}  // namespace osiiso::detail
