// SPDX-License-Identifier: MIT
// What makes a process a worker: its parent, signals, stdin, process group, inherited
// descriptors, and an exit() inside a task that must not run the application's shutdown code.
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/worker.hpp>

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace osiiso::detail {

namespace {

// The worker's own identity and the attempt it is running, for the exit guard.
std::atomic<pid_t> g_worker_pid{0};
std::atomic<int> g_reply_fd{-1};
std::atomic<std::uint64_t> g_running_attempt{0};

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};

// Tells the parent which signal is killing the worker before it dies of it: a parent that ignores
// SIGCHLD has its children reaped by the kernel and never sees their wait status. Only while a
// task runs: a reply being written is never cut by a report (its attempt has ended). The handler
// was reset on entry (SA_RESETHAND), so returning re-raises the signal with its default action.
void report_fatal_signal(int sig) {
  const int saved_errno = errno;
  const auto attempt = g_running_attempt.load();
  const int reply = g_reply_fd.load();
  if (attempt != 0 && reply >= 0 && ::getpid() == g_worker_pid.load()) {
    char frame[kFrameHeaderSize + 4];
    const int digits = sig >= 10 ? 2 : 1;
    write_frame_header(frame, FrameType::Signal, attempt, static_cast<std::size_t>(digits));
    if (digits == 2) frame[kFrameHeaderSize] = static_cast<char>('0' + sig / 10);
    frame[kFrameHeaderSize + digits - 1] = static_cast<char>('0' + sig % 10);
    [[maybe_unused]] const auto n = ::write(reply, frame, kFrameHeaderSize + static_cast<std::size_t>(digits));
  }
  ::raise(sig);
  errno = saved_errno;
}

// Room for report_fatal_signal when the task overflowed its stack.
void install_fatal_signal_reports() noexcept {
  static char alternate_stack[64 * 1024];
  stack_t stack{};
  stack.ss_sp = alternate_stack;
  stack.ss_size = sizeof alternate_stack;
  ::sigaltstack(&stack, nullptr);
  struct sigaction action {};
  action.sa_handler = report_fatal_signal;
  action.sa_flags = SA_RESETHAND | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  for (const int sig : kFatalSignals) ::sigaction(sig, &action, nullptr);
}

// Registered with on_exit() after the application's own handlers, so it runs before them (the
// list runs in reverse) and ends the process before any of them: a task that calls exit() must
// not run the parent program's atexit handlers and static destructors in the worker (they may
// join threads that do not exist here, or remove the parent's files).
void end_without_application_shutdown(int code, void*) {
  std::fflush(nullptr);
  if (::getpid() == g_worker_pid.load()) {
    const auto attempt = g_running_attempt.load();
    const int reply = g_reply_fd.load();
    // The parent reports the attempt as a WorkerDiedError naming the task and the code.
    if (attempt != 0 && reply >= 0) (void)write_frame(reply, FrameType::Exit, attempt, std::to_string(code));
  }
  ::_exit(code);
}

void stdin_from_dev_null() noexcept {
  const int fd = ::open("/dev/null", O_RDONLY);
  if (fd < 0) return;
  if (fd != STDIN_FILENO) {
    ::dup2(fd, STDIN_FILENO);
    ::close(fd);
  }
}

}  // namespace

void prepare_worker_process(pid_t parent) noexcept {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The parent may have died before prctl took effect.
  if (::getppid() != parent) std::_Exit(1);
  // Its own process group, so that killing the worker also kills what its tasks started.
  ::setpgid(0, 0);
  // As multiprocessing does: a worker must not swallow the parent's piped input.
  stdin_from_dev_null();
  g_worker_pid = ::getpid();
  ::on_exit(end_without_application_shutdown, nullptr);
  // A worker serves one request after another: keep freed memory for the next one. With glibc's
  // defaults a fresh worker returned its request and argument buffers to the kernel after every
  // task and faulted them in again. Blocks over 32 MiB are still mapped and unmapped one by one.
  ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  // Catch2 and other hosts install handlers for fatal signals; a worker must just die (after
  // saying of what) so that its parent can report the signal.
  for (int sig : {SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) ::signal(sig, SIG_DFL);
  install_fatal_signal_reports();
  ::signal(SIGINT, SIG_IGN);  // Ctrl-C is the parent's business; it stops us.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

void close_inherited_fds(std::initializer_list<int> keep) noexcept {
  std::vector<int> kept(keep.begin(), keep.end());
  kept.push_back(STDERR_FILENO);
  std::sort(kept.begin(), kept.end());
  unsigned int from = STDERR_FILENO + 1;
  for (const int fd : kept) {
    if (fd < static_cast<int>(from)) continue;
    if (static_cast<unsigned int>(fd) > from) ::syscall(SYS_close_range, from, static_cast<unsigned int>(fd) - 1, 0);
    from = static_cast<unsigned int>(fd) + 1;
  }
  ::syscall(SYS_close_range, from, ~0U, 0);
}

void begin_attempt(int reply_fd, std::uint64_t attempt) noexcept {
  g_reply_fd = reply_fd;
  g_running_attempt = attempt;
}

void end_attempt() noexcept { g_running_attempt = 0; }

}  // namespace osiiso::detail
