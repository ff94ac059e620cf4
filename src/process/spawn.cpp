// SPDX-License-Identifier: MIT
// Workers and fork servers by re-execution of the program, through Boost.Process (the only file
// that includes it).

// Boost.Process 1.74 compiles its vfork executor (posix::use_vfork) only when this is set, and
// sets it only for pre-2008 POSIX feature levels, never with _GNU_SOURCE. glibc declares vfork.
#ifndef BOOST_POSIX_HAS_VFORK
#define BOOST_POSIX_HAS_VFORK 1
#endif

#include <osiiso/detail/launch.hpp>

#include <osiiso/detail/fork_server_protocol.hpp>
#include <osiiso/detail/worker.hpp>

#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/process/child.hpp>
#include <boost/process/error.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/posix.hpp>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

namespace osiiso::detail {

namespace {

std::string self_executable(const std::string& executable) {
  if (!executable.empty()) return executable;
  char buf[4096];
  const auto n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::system_error(errno, std::generic_category(), "readlink(/proc/self/exe)");
  return {buf, static_cast<std::size_t>(n)};
}

// Blocks every signal on this thread for its lifetime.
struct BlockAllSignals {
  sigset_t old;
  BlockAllSignals() noexcept {
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
  }
  ~BlockAllSignals() { ::pthread_sigmask(SIG_SETMASK, &old, nullptr); }
  BlockAllSignals(const BlockAllSignals&) = delete;
  BlockAllSignals& operator=(const BlockAllSignals&) = delete;
};

// Re-executes `executable` with `name=value` added to the environment; `keep_a`/`keep_b` are
// inherited (their O_CLOEXEC is cleared in the child only, between vfork and exec).
//
// vfork, not fork: the child borrows our memory until it execs, so no page tables are copied,
// execve has no copied address space to tear down and we take no copy-on-write faults afterwards
// (0.5-0.6 ms less per worker for the benchmark program). The price: until execve the child may
// only make system calls on its own locals, and no handler of ours may run in it (it would run on
// our memory): every signal is blocked around vfork, and the child resets caught ones to default
// before it unblocks them (execve would reset them anyway). A failed execve is reported through
// the executor's memory, which the child shares; under valgrind or TSan, where vfork is a fork,
// it shows as a worker that exited with code 1 before it was ready.
pid_t reexecute(const std::string& executable, const char* name, const std::string& value, int keep_a, int keep_b) {
  namespace bp = boost::process;
  const pid_t parent = ::getpid();
  const std::string exe = self_executable(executable);
  // The child's environment: ours plus name=value. Built by hand and handed to the executor
  // (Boost.Process 1.74's environment lookup reads past the end of short entries).
  const std::string assignment = std::string(name) + "=" + value;
  const std::string prefix = std::string(name) + "=";
  std::vector<char*> envp;
  for (char** e = ::environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, prefix.c_str(), prefix.size()) != 0) envp.push_back(*e);
  }
  envp.push_back(const_cast<char*>(assignment.c_str()));
  envp.push_back(nullptr);

  const BlockAllSignals blocked;
  std::error_code error;
  pid_t pid = -1;
  {
    bp::child child(
        bp::exe = exe, bp::posix::use_vfork, bp::error = error,
        bp::extend::on_setup = [&envp](auto& exec) { exec.env = envp.data(); },
        bp::extend::on_exec_setup =
            [keep_a, keep_b, parent](auto&) {
              ::fcntl(keep_a, F_SETFD, 0);
              if (keep_b >= 0) ::fcntl(keep_b, F_SETFD, 0);
              ::prctl(PR_SET_PDEATHSIG, SIGKILL);
              if (::getppid() != parent) ::_exit(1);
              // Our handlers would run on the parent's memory: caught signals to default first.
              for (int sig = 1; sig < NSIG; ++sig) {
                struct sigaction action;
                if (::sigaction(sig, nullptr, &action) != 0) continue;
                if (action.sa_handler == SIG_DFL || action.sa_handler == SIG_IGN) continue;
                action.sa_handler = SIG_DFL;
                action.sa_flags = 0;
                ::sigaction(sig, &action, nullptr);
              }
              sigset_t none;
              sigemptyset(&none);
              ::sigprocmask(SIG_SETMASK, &none, nullptr);
            },
        // A failed execve: the child has called _exit; reap it (Boost only polls it once).
        bp::extend::on_error =
            [](auto& exec, const std::error_code&) {
              if (exec.pid > 0) ::waitpid(exec.pid, nullptr, 0);
            });
    pid = child.id();
    // We reap it ourselves (Boost.Process's own waiting is not used).
    child.detach();
  }
  if (error) throw std::system_error(error, "cannot execute " + exe);
  return pid;
}

}  // namespace

LaunchedWorker spawn_worker(const std::string& executable) {
  Pipe request = make_pipe(kPipeCapacity);
  Pipe reply = make_pipe(kPipeCapacity);
  const auto value = fmt::format("{},{},{}", request.read.get(), reply.write.get(), ::getpid());
  const pid_t pid = reexecute(executable, kWorkerEnv, value, request.read.get(), reply.write.get());
  set_nonblocking(request.write.get(), true);
  set_nonblocking(reply.read.get(), true);
  return {pid, true, std::move(request.write), std::move(reply.read)};
}

ForkServerProcess spawn_fork_server(const std::string& executable) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    throw std::system_error(errno, std::generic_category(), "socketpair");
  }
  UniqueFd mine(fds[0]);
  UniqueFd theirs(fds[1]);
  const auto value = fmt::format("{},{}", theirs.get(), ::getpid());
  const pid_t pid = reexecute(executable, kForkServerEnv, value, theirs.get(), -1);
  set_nonblocking(mine.get(), true);
  return {pid, std::move(mine)};
}

}  // namespace osiiso::detail
