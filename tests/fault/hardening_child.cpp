// SPDX-License-Identifier: MIT
// Helper program for the hardening tests (tests/test_hardening.cpp), a second binary with its own
// registry, for scenarios that need a process of their own: resource limits, ignored SIGCHLD, a
// queue in a static, a task calling exit().
//   osiiso_hardening_child <scenario> [args]
// exits with 0 when the scenario behaved, or 1 with one line per failed check on stderr.
#include <osiiso/osiiso.hpp>
#include <osiiso/process_queue.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../helpers.hpp"

using namespace std::chrono_literals;
using osiiso::Clock;
using osiiso::Seconds;
using osiiso::test::error_text;

namespace hardening {

int echo(int x) { return x; }
int trivial(int x) { return x + 1; }
int die(int code) { std::_Exit(code); }
int call_exit(int code) { std::exit(code); }
int segfault(int) {
  std::raise(SIGSEGV);
  return 0;
}

// A result of `bytes` bytes. The worker lifts its own address-space limit first (the soft limit
// is all the scenario lowered), so that only the parent has to cope with the size.
std::string big_reply(std::size_t bytes) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_AS, &limit);
  }
  return std::string(bytes, 'x');
}

}  // namespace hardening

OSIISO_TASK_AS("hardening::echo", hardening::echo);
OSIISO_TASK_AS("hardening::trivial", hardening::trivial);
OSIISO_TASK_AS("hardening::die", hardening::die);
OSIISO_TASK_AS("hardening::call_exit", hardening::call_exit);
OSIISO_TASK_AS("hardening::segfault", hardening::segfault);
OSIISO_TASK_AS("hardening::big_reply", hardening::big_reply);

namespace {

constexpr const char* kMarkerEnv = "OSIISO_HARDENING_MARKER";

// Registered during static initialization, so that every process running this program has it:
// the parent, its fork workers, and re-executed spawn workers and fork servers (which never
// reach main's code past osiiso::init). Creates the file named by $OSIISO_HARDENING_MARKER.
void create_marker_at_exit() {
  const char* path = std::getenv(kMarkerEnv);
  if (path == nullptr) return;
  const int fd = ::open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
}
[[maybe_unused]] const bool g_marker_handler = (std::atexit(create_marker_at_exit), true);

// The outcome of one scenario: every failed check is a line on stderr.
struct Checks {
  std::string scenario;
  int failures = 0;

  void expect(bool ok, const std::string& what) {
    if (ok) return;
    ++failures;
    std::fprintf(stderr, "hardening_child %s: FAILED: %s\n", scenario.c_str(), what.c_str());
  }
  void note(const std::string& what) const {
    std::fprintf(stderr, "hardening_child %s: %s\n", scenario.c_str(), what.c_str());
  }
  // A task that never settles leaves a queue that cannot shut down: stop here.
  [[noreturn]] void hung(const std::string& what) {
    expect(false, what + " did not settle in time (hang)");
    std::fflush(stderr);
    std::_Exit(1);
  }
  [[nodiscard]] int code() const { return failures == 0 ? 0 : 1; }
};

bool is_osiiso_error(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const osiiso::OsiisoError&) {
    return true;
  } catch (...) {
    return false;
  }
}

bool is_worker_died(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const osiiso::WorkerDiedError&) {
    return true;
  } catch (...) {
    return false;
  }
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

bool names_descriptor_exhaustion(const std::string& text) {
  const auto l = lower(text);
  return l.find("descriptor") != std::string::npos || l.find("emfile") != std::string::npos ||
         l.find("too many open files") != std::string::npos;
}

// Waits for `h` until `deadline`; false if it has not settled by then.
template <class H>
bool settle(const H& h, Clock::time_point deadline) {
  try {
    h.wait(std::max(Seconds(0.001), Seconds(deadline - Clock::now())));
    return true;
  } catch (const osiiso::TimeoutError&) {
    return false;
  }
}

void set_soft_limit(int resource, rlim_t value) {
  rlimit limit{};
  if (::getrlimit(resource, &limit) != 0) throw std::runtime_error(std::strerror(errno));
  limit.rlim_cur = value;
  if (::setrlimit(resource, &limit) != 0) throw std::runtime_error(std::strerror(errno));
}

// Opens /dev/null again and again until no descriptor is left (or, with `below`, until every
// descriptor number under `below` is taken); returns the descriptors opened.
std::vector<int> fill_descriptors(int below = -1) {
  std::vector<int> fds;
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) throw std::runtime_error(std::string("open /dev/null: ") + std::strerror(errno));
  fds.push_back(null_fd);
  if (below >= 0 && null_fd >= below - 1) return fds;
  for (;;) {
    const int fd = ::fcntl(null_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      if (errno != EMFILE) throw std::runtime_error(std::string("dup: ") + std::strerror(errno));
      if (below >= 0) throw std::runtime_error("ran out of descriptors before the number wanted");
      return fds;
    }
    fds.push_back(fd);
    if (below >= 0 && fd >= below - 1) return fds;
  }
}

void close_all(std::vector<int>& fds) {
  for (const int fd : fds) ::close(fd);
  fds.clear();
}

// big_reply: the parent may hold at most 1 GiB of address space; a 700 MB result cannot be
// received. It fails that task only; the queue goes on serving and shuts down.
int big_reply(Checks& checks, int, char**) {
  set_soft_limit(RLIMIT_AS, rlim_t{1} << 30);
  osiiso::ProcessQueue q({.workers = 1});
  auto big = q.submit({.name = "big"}, hardening::big_reply, std::size_t{700} << 20);
  if (!settle(big, Clock::now() + 45s)) checks.hung("the 700 MB task");
  const auto error = big.exception();
  checks.expect(error != nullptr, "the 700 MB result should fail its task");
  if (error != nullptr) {
    const auto text = error_text(error);
    checks.note("the 700 MB task failed with: " + text);
    checks.expect(is_osiiso_error(error), "the 700 MB task should fail with an osiiso error, not: " + text);
    checks.expect(!text.empty(), "the 700 MB task's error message is empty");
  }
  auto next = q.submit(hardening::echo, 5);
  if (!settle(next, Clock::now() + 20s)) checks.hung("echo(5) after the 700 MB task");
  checks.expect(next.exception() == nullptr, "echo(5) after the 700 MB task failed: " + error_text(next.exception()));
  if (next.exception() == nullptr) checks.expect(next.value() == 5, "echo(5) returned a wrong value");
  q.shutdown();
  return checks.code();
}

// epoll_emfile: the queue is constructed, then every descriptor is taken before its poller
// starts. Every task fails with an error naming the cause; shutdown and the destructor return.
int epoll_emfile(Checks& checks, int, char**) {
  set_soft_limit(RLIMIT_NOFILE, 128);
  std::vector<int> fillers;
  {
    osiiso::ProcessQueue q({.workers = 1});
    fillers = fill_descriptors();
    std::vector<osiiso::SyncTaskHandle<int>> handles;
    for (int i = 0; i < 5; ++i) handles.push_back(q.submit(hardening::echo, i));
    const auto deadline = Clock::now() + 30s;
    for (std::size_t i = 0; i < handles.size(); ++i) {
      const auto& h = handles[i];
      if (!settle(h, deadline)) checks.hung("task " + std::to_string(i) + " with no descriptor left");
      const auto error = h.exception();
      checks.expect(error != nullptr, "task " + std::to_string(i) + " succeeded with no descriptor left");
      if (error == nullptr) continue;
      const auto text = error_text(error);
      if (i == 0) checks.note("task 0 failed with: " + text);
      checks.expect(is_osiiso_error(error), "task " + std::to_string(i) + " failed with a non-osiiso error: " + text);
      checks.expect(names_descriptor_exhaustion(text),
                    "task " + std::to_string(i) + "'s error does not name the cause (descriptors): " + text);
    }
    // A later submission fails at once, or its task fails.
    try {
      auto later = q.submit(hardening::echo, 99);
      if (!settle(later, Clock::now() + 20s)) checks.hung("a later task");
      const auto error = later.exception();
      checks.expect(error != nullptr && is_osiiso_error(error), "a later task should fail with an osiiso error");
    } catch (const osiiso::OsiisoError& e) {
      checks.note(std::string("a later submission failed at once: ") + e.what());
    }
    const auto started = Clock::now();
    q.shutdown();
    checks.expect(Clock::now() - started < 20s, "shutdown() took more than 20 s");
  }
  close_all(fillers);
  return checks.code();
}

// <method>_nofile: 64 descriptors, 32 workers wanted, 200 tasks. Returns the handles' outcome
// counts after checking that every task ended and every success has its value.
struct NofileOutcome {
  std::size_t succeeded = 0;
  std::size_t failed = 0;
};

NofileOutcome run_with_64_descriptors(Checks& checks, const char* method) {
  set_soft_limit(RLIMIT_NOFILE, 64);
  NofileOutcome outcome;
  osiiso::ProcessQueue q({.workers = 32, .context = osiiso::get_context(method)});
  std::vector<int> inputs(200);
  for (int i = 0; i < 200; ++i) inputs[static_cast<std::size_t>(i)] = i;
  auto handles = q.map(hardening::trivial, inputs);
  const auto deadline = Clock::now() + 40s;
  std::string first_error;
  for (int i = 0; i < 200; ++i) {
    const auto& h = handles[static_cast<std::size_t>(i)];
    if (!settle(h, deadline)) checks.hung("task " + std::to_string(i));
    const auto error = h.exception();
    if (error == nullptr) {
      ++outcome.succeeded;
      const int value = h.value();
      checks.expect(value == i + 1, "task " + std::to_string(i) + " returned " + std::to_string(value));
      continue;
    }
    ++outcome.failed;
    const auto text = error_text(error);
    if (first_error.empty()) first_error = text;
    checks.expect(is_osiiso_error(error) && !text.empty(),
                  "task " + std::to_string(i) + " failed without a clear osiiso error: " + text);
  }
  checks.note(std::to_string(outcome.succeeded) + " of 200 succeeded, " + std::to_string(outcome.failed) + " failed" +
              (first_error.empty() ? std::string() : "; first error: " + first_error));
  const auto started = Clock::now();
  q.shutdown();
  checks.expect(Clock::now() - started < 20s, "shutdown() took more than 20 s");
  return outcome;
}

int forkserver_nofile(Checks& checks, int, char**) {
  const auto outcome = run_with_64_descriptors(checks, "forkserver");
  checks.expect(outcome.succeeded > 0, "no task succeeded");
  return checks.code();
}

int spawn_nofile(Checks& checks, int, char**) {
  const auto outcome = run_with_64_descriptors(checks, "spawn");
  checks.expect(outcome.succeeded == 200, "every task should succeed: scale-up failures only stop the scaling");
  return checks.code();
}

// fork_none_startable: a fork queue whose worker dies after every descriptor number the process
// may use is taken: no replacement can start. 200 tasks fail fast, naming the cause.
int fork_none_startable(Checks& checks, int, char**) {
  constexpr int kLimit = 100;
  std::vector<int> fillers;
  {
    osiiso::ProcessQueue q({.workers = 1});
    // Every number below kLimit is taken, so the poller and its first worker get numbers above.
    fillers = fill_descriptors(kLimit);
    auto first = q.submit(hardening::echo, 1);
    if (!settle(first, Clock::now() + 20s)) checks.hung("the first task");
    checks.expect(first.exception() == nullptr, "the first task failed: " + error_text(first.exception()));
    // From now on no descriptor can be created; the worker's own ones are freed above the limit.
    set_soft_limit(RLIMIT_NOFILE, kLimit);
    auto death = q.submit(hardening::die, 3);
    if (!settle(death, Clock::now() + 20s)) checks.hung("the task that ends its worker");
    checks.expect(is_worker_died(death.exception()),
                  "the task that ends its worker should fail with WorkerDiedError: " + error_text(death.exception()));

    std::vector<int> inputs(200);
    for (int i = 0; i < 200; ++i) inputs[static_cast<std::size_t>(i)] = i;
    const auto started = Clock::now();
    auto handles = q.map(hardening::echo, inputs);
    const auto deadline = started + 40s;
    std::size_t named = 0;
    std::string first_error;
    for (std::size_t i = 0; i < handles.size(); ++i) {
      if (!settle(handles[i], deadline)) checks.hung("task " + std::to_string(i));
      const auto error = handles[i].exception();
      checks.expect(error != nullptr, "task " + std::to_string(i) + " succeeded although no worker can start");
      if (error == nullptr) continue;
      const auto text = error_text(error);
      if (first_error.empty()) first_error = text;
      if (text.find("cannot start a worker") != std::string::npos) ++named;
    }
    const Seconds took = Clock::now() - started;
    checks.note("200 tasks settled in " + std::to_string(took.count()) + " s; first error: " + first_error);
    checks.expect(named == handles.size(),
                  std::to_string(handles.size() - named) + " errors do not say \"cannot start a worker\"");
    checks.expect(took < 5s, "the 200 tasks took " + std::to_string(took.count()) + " s to fail (bound: 5 s)");
    const auto stop = Clock::now();
    q.shutdown();
    checks.expect(Clock::now() - stop < 20s, "shutdown() took more than 20 s");
  }
  close_all(fillers);
  return checks.code();
}

// static_queue_exit <marker> <method>: a queue in a function-local static, an atexit handler
// creating <marker>; a task calls exit(4). The worker must run no atexit handler (no marker, no
// deadlock in the static queue's destructor).
osiiso::ProcessQueue& static_queue(const std::string& method) {
  static osiiso::ProcessQueue q({.workers = 1, .context = osiiso::get_context(method)});
  return q;
}

int static_queue_exit(Checks& checks, int argc, char** argv) {
  if (argc < 4) throw std::invalid_argument("usage: static_queue_exit <marker> <method>");
  const std::string marker = argv[2];
  const std::string method = argv[3];
  std::filesystem::remove(marker);
  ::setenv(kMarkerEnv, marker.c_str(), 1);  // before any worker exists
  auto& q = static_queue(method);
  auto h = q.submit(hardening::call_exit, 4);
  if (!settle(h, Clock::now() + 30s)) checks.hung("the task calling exit(4)");
  const auto error = h.exception();
  checks.expect(is_worker_died(error), "exit(4) in a task should give WorkerDiedError, not: " +
                                           (error == nullptr ? std::string("success") : error_text(error)));
  if (error != nullptr) checks.note("exit(4) gave: " + error_text(error));
  checks.expect(!std::filesystem::exists(marker), "the worker ran the program's atexit handler (marker exists)");
  auto next = q.submit(hardening::echo, 5);
  if (!settle(next, Clock::now() + 30s)) checks.hung("echo(5) after exit(4)");
  checks.expect(next.exception() == nullptr, "echo(5) after exit(4) failed: " + error_text(next.exception()));
  checks.expect(!std::filesystem::exists(marker), "the marker appeared after the next task");
  return checks.code();  // the static queue shuts down and the marker is created at exit
}

// sigchld_ignored: SIGCHLD is SIG_IGN in the parent; a worker's death still names its signal.
int sigchld_ignored(Checks& checks, int, char**) {
  ::signal(SIGCHLD, SIG_IGN);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // GCC 12's ASan and TSan runtimes do not hold their allocator's lock across fork(): a worker
  // forked while another thread allocates deadlocks in it, and here this thread reports the first
  // error just as the poller forks the replacement (seen under TSan too, 1 run in ~15). A spawned
  // worker is a child too (auto-reaped the same way).
  const char* method = "spawn";
#else
  const char* method = "fork";
#endif
  osiiso::ProcessQueue q({.workers = 1, .context = osiiso::get_context(method)});
  auto h = q.submit(hardening::segfault, 0);
  if (!settle(h, Clock::now() + 30s)) checks.hung("the segfaulting task");
  const auto error = h.exception();
  const auto text = error == nullptr ? std::string("success") : error_text(error);
  checks.note("the segfault gave: " + text);
  checks.expect(is_worker_died(error), "the segfault should give WorkerDiedError, not: " + text);
  checks.expect(text.find("SIGSEGV") != std::string::npos, "the error does not name SIGSEGV: " + text);
  auto next = q.submit(hardening::echo, 5);
  if (!settle(next, Clock::now() + 30s)) checks.hung("echo(5) after the segfault");
  checks.expect(next.exception() == nullptr, "echo(5) after the segfault failed: " + error_text(next.exception()));
  q.shutdown();
  return checks.code();
}

using Scenario = int (*)(Checks&, int, char**);

const std::map<std::string_view, Scenario>& scenarios() {
  static const std::map<std::string_view, Scenario> table{
      {"big_reply", big_reply},
      {"epoll_emfile", epoll_emfile},
      {"forkserver_nofile", forkserver_nofile},
      {"spawn_nofile", spawn_nofile},
      {"fork_none_startable", fork_none_startable},
      {"static_queue_exit", static_queue_exit},
      {"sigchld_ignored", sigchld_ignored},
  };
  return table;
}

}  // namespace

int main(int argc, char** argv) {
  osiiso::init(argc, argv);
  if (argc < 2 || scenarios().count(argv[1]) == 0) {
    std::fprintf(stderr, "usage: osiiso_hardening_child <scenario> [args]; scenarios:");
    for (const auto& [name, fn] : scenarios()) std::fprintf(stderr, " %s", std::string(name).c_str());
    std::fprintf(stderr, "\n");
    return 2;
  }
  Checks checks{argv[1]};
  try {
    return scenarios().at(argv[1])(checks, argc, argv);
  } catch (const std::exception& e) {
    checks.expect(false, std::string("uncaught exception: ") + e.what());
    return 1;
  }
}
