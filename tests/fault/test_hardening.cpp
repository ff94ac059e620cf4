// SPDX-License-Identifier: MIT
// Regression tests of the hardening fixes: lost wake-ups, tasks that fork or call exit(), a
// forked parent, callbacks that wait on the poller, descriptor and memory exhaustion, what
// workers inherit, run() bookkeeping, error texts. CTest label `hardening`. Scenarios that need
// a process of their own (resource limits, a static queue) run in tests/hardening_child.cpp.
#include <osiiso/process_queue.hpp>

#include <osiiso/osiiso.hpp>

#include "../helpers.hpp"
#include "baseline.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OSIISO_HARDENING_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OSIISO_HARDENING_SANITIZED 1
#endif
#endif

using namespace std::chrono_literals;
using osiiso::Clock;
using osiiso::Seconds;
using osiiso::TaskStatus;
using osiiso::test::Baseline;
using osiiso::test::child_count;
using osiiso::test::error_text;
using osiiso::test::eventually;
using osiiso::test::fd_count;
using osiiso::test::process_gone;
using osiiso::test::since;
using osiiso::test::temp_path;

namespace hardening {

int trivial(int x) { return x + 1; }

int fail_on_three(int x) {
  if (x == 3) throw std::runtime_error("three fails");
  return x;
}

int nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

int segfault(int) {
  std::raise(SIGSEGV);
  return 0;
}

int call_exit(int code) { std::exit(code); }

// The forked child "forgets _exit" and returns from the task with a wrong value.
int fork_and_return(int x) {
  const pid_t p = ::fork();
  if (p == 0) return -1 - x;
  return x;
}

// The same, the task appending the child's pid (one line, one write) to `path` before it returns.
int fork_record_and_return(int x, std::string path) {
  const pid_t p = ::fork();
  if (p == 0) return -1 - x;
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) {
    const std::string line = std::to_string(p) + "\n";
    [[maybe_unused]] const auto n = ::write(fd, line.data(), line.size());
    ::close(fd);
  }
  return x;
}

int read_stdin(int) {
  char c = 0;
  return static_cast<int>(::read(0, &c, 1));
}

std::string stdin_target(int) {
  std::error_code error;
  const auto target = std::filesystem::read_symlink("/proc/self/fd/0", error);
  return error ? "(" + error.message() + ")" : target.string();
}

int fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 ? 1 : 0; }

[[noreturn]] void sleep_forever() {
  for (;;) ::pause();
}

// Forks a grandchild that sleeps forever, publishes its pid in `path`, then sleeps itself.
int grandchild_then_sleep(std::string path) {
  const pid_t p = ::fork();
  if (p == 0) sleep_forever();
  {
    std::ofstream out(path + ".tmp");
    out << p;
  }
  std::filesystem::rename(path + ".tmp", path);
  std::this_thread::sleep_for(30s);
  return 0;
}

// Forks a grandchild that sleeps forever and returns its pid.
int grandchild_then_return(int) {
  const pid_t p = ::fork();
  if (p == 0) sleep_forever();
  return static_cast<int>(p);
}

}  // namespace hardening

OSIISO_TASK_AS("hardening::trivial", hardening::trivial);
OSIISO_TASK_AS("hardening::fail_on_three", hardening::fail_on_three);
OSIISO_TASK_AS("hardening::nap", hardening::nap);
OSIISO_TASK_AS("hardening::segfault", hardening::segfault);
OSIISO_TASK_AS("hardening::call_exit", hardening::call_exit);
OSIISO_TASK_AS("hardening::fork_and_return", hardening::fork_and_return);
OSIISO_TASK_AS("hardening::fork_record_and_return", hardening::fork_record_and_return);
OSIISO_TASK_AS("hardening::read_stdin", hardening::read_stdin);
OSIISO_TASK_AS("hardening::stdin_target", hardening::stdin_target);
OSIISO_TASK_AS("hardening::fd_is_open", hardening::fd_is_open);
OSIISO_TASK_AS("hardening::grandchild_then_sleep", hardening::grandchild_then_sleep);
OSIISO_TASK_AS("hardening::grandchild_then_return", hardening::grandchild_then_return);

namespace {

// Kills `pid` if it still runs: a failed check must not leave a process behind.
void kill_if_alive(pid_t pid) {
  if (pid > 0 && !process_gone(pid)) ::kill(pid, SIGKILL);
}

// Waits for `h` up to `limit` (a hang fails the check instead of the whole run).
template <class H>
bool settles(const H& h, Seconds limit = 30s) {
  try {
    h.wait(limit);
    return true;
  } catch (const osiiso::TimeoutError&) {
    return false;
  }
}

// Waits for child `pid` up to `limit`, killing it then; its wait status, or nullopt on timeout.
std::optional<int> wait_child(pid_t pid, Seconds limit) {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(limit);
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(5ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return std::nullopt;
}

std::string describe_status(const std::optional<int>& status) {
  if (!status) return "timed out (killed)";
  if (WIFEXITED(*status)) return "exited with code " + std::to_string(WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) return "killed by signal " + std::to_string(WTERMSIG(*status));
  return "wait status " + std::to_string(*status);
}

#ifdef OSIISO_HARDENING_CHILD
struct ChildRun {
  std::optional<int> status;  // nullopt: it did not finish in time and was killed
  std::string err;            // its stderr
  Seconds took{};
};

// Runs `osiiso_hardening_child args...` in a process group of its own, collecting its stderr;
// kills the group when it is done, or after `limit` when it hangs.
ChildRun run_child(const std::vector<std::string>& args, Seconds limit = 60s) {
  ChildRun run;
  int err[2];
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  ::posix_spawnattr_init(&attr);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  ::posix_spawnattr_setpgroup(&attr, 0);
  std::vector<std::string> storage{OSIISO_HARDENING_CHILD};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const auto started = Clock::now();
  const int rc = ::posix_spawn(&pid, OSIISO_HARDENING_CHILD, &actions, &attr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  ::close(err[1]);
  if (rc != 0) ::close(err[0]);
  REQUIRE(rc == 0);
  ::fcntl(err[0], F_SETFL, O_NONBLOCK);
  const auto drain = [&] {
    char chunk[4096];
    for (ssize_t n; (n = ::read(err[0], chunk, sizeof chunk)) > 0;) {
      if (run.err.size() < (std::size_t{1} << 16)) run.err.append(chunk, static_cast<std::size_t>(n));
    }
  };
  const auto deadline = started + std::chrono::duration_cast<Clock::duration>(limit);
  bool finished = false;
  while (!finished && Clock::now() < deadline) {
    pollfd p{err[0], POLLIN, 0};
    ::poll(&p, 1, 20);
    drain();
    siginfo_t info{};
    // WNOWAIT: its pid (and process group id) stay taken until the group is killed below.
    finished = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
  }
  run.took = since(started);
  ::kill(-pid, SIGKILL);  // whatever is left of its process group (all of it if it hangs)
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (finished) run.status = status;
  drain();
  ::close(err[0]);
  return run;
}

// Runs a child scenario and checks that it exited with 0 in time.
void check_child(const std::vector<std::string>& args, Seconds limit = 60s) {
  const auto run = run_child(args, limit);
  INFO("osiiso_hardening_child " << args.front() << ": " << describe_status(run.status) << " after " << run.took.count()
                                 << " s; its stderr:\n"
                                 << run.err);
  CHECK(run.status.has_value());
  CHECK((run.status && WIFEXITED(*run.status) && WEXITSTATUS(*run.status) == 0));
}
#endif

// Restores the descriptor 0 of this process on destruction.
struct StdinGuard {
  int saved = ::dup(0);
  ~StdinGuard() {
    if (saved >= 0) {
      ::dup2(saved, 0);
      ::close(saved);
    }
  }
};

}  // namespace

TEST_CASE("hardening: no round trip waits for a poll interval after a burst", "[hardening]") {
  Baseline baseline;
  const std::string method = GENERATE(as<std::string>{}, "fork", "spawn", "forkserver");
  CAPTURE(method);
  osiiso::ProcessQueue q({.workers = 2, .poll = 2s, .context = osiiso::get_context(method)});
#ifdef OSIISO_HARDENING_SANITIZED
  constexpr int kBurst = 5'000;  // the same race at the end of a burst, within the test's time limit
#else
  constexpr int kBurst = 20'000;
#endif
  std::vector<int> inputs(kBurst);
  for (int i = 0; i < kBurst; ++i) inputs[static_cast<std::size_t>(i)] = i;
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    {
      auto handles = q.map(hardening::trivial, inputs);
      q.join();
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < handles.size(); ++i) wrong += handles[i].value() == inputs[i] + 1 ? 0 : 1;
      REQUIRE(wrong == 0);
    }
    std::size_t slow = 0;
    Seconds slowest{0};
    for (int i = 0; i < 50; ++i) {
      const auto start = Clock::now();
      REQUIRE(q.submit(hardening::trivial, i).value() == i + 1);
      const Seconds took = since(start);
      slowest = std::max(slowest, took);
      if (took >= 1s) {
        ++slow;
        break;  // one stall is the bug; the next round may show it again
      }
    }
    INFO("slowest round trip: " << slowest.count() << " s");
    CHECK(slow == 0);
    q.clear_results();
  }
}

TEST_CASE("hardening: a task's forked child that returns from the task changes no result", "[hardening]") {
  const std::string method = GENERATE(as<std::string>{}, "fork", "spawn", "forkserver");
  CAPTURE(method);
  const auto fds = fd_count();
  const auto children = child_count();
  const auto path = temp_path("osiiso_hardening_copies");
  std::filesystem::remove(path);
  {
    osiiso::ProcessQueue q({.workers = 1, .context = osiiso::get_context(method)});
    std::size_t wrong = 0;
    for (int i = 0; i < 50; ++i) {
      auto h = q.submit(hardening::fork_and_return, i);
      REQUIRE(settles(h));
      if (h.exception() != nullptr || h.value() != i) {
        ++wrong;
        UNSCOPED_INFO("sequential task " << i << ": "
                                         << (h.exception() ? error_text(h.exception()) : std::to_string(h.value())));
      }
    }
    CHECK(wrong == 0);

    std::vector<int> inputs(50);
    for (int i = 0; i < 50; ++i) inputs[static_cast<std::size_t>(i)] = i;
    auto batch = q.map(hardening::fork_and_return, inputs);
    wrong = 0;
    for (int i = 0; i < 50; ++i) {
      const auto& h = batch[static_cast<std::size_t>(i)];
      REQUIRE(settles(h));
      if (h.exception() != nullptr || h.value() != i) ++wrong;
    }
    CHECK(wrong == 0);

    // The tasks record their copies' pids, to check that each copy ended at once.
    std::vector<osiiso::SyncTaskHandle<int>> recorded;
    for (int i = 0; i < 20; ++i) recorded.push_back(q.submit(hardening::fork_record_and_return, i, path));
    wrong = 0;
    for (int i = 0; i < 20; ++i) {
      const auto& h = recorded[static_cast<std::size_t>(i)];
      REQUIRE(settles(h));
      if (h.exception() != nullptr || h.value() != i) ++wrong;
    }
    CHECK(wrong == 0);
  }
  std::vector<pid_t> copies;
  {
    std::ifstream in(path);
    for (long pid; in >> pid;) copies.push_back(static_cast<pid_t>(pid));
  }
  CHECK(copies.size() == 20);
  CHECK(
      eventually([&] { return std::all_of(copies.begin(), copies.end(), [](pid_t pid) { return process_gone(pid); }); },
                 10s, 10ms));
  for (const pid_t pid : copies) kill_if_alive(pid);
  std::filesystem::remove(path);
  CHECK(fd_count() == fds);
  CHECK(child_count() == children);
}

#ifdef OSIISO_HARDENING_CHILD
TEST_CASE("hardening: a result too large for the parent's memory fails only its task", "[hardening]") {
#ifdef OSIISO_HARDENING_SANITIZED
  SUCCEED("skipped under sanitizers (RLIMIT_AS)");
  return;
#endif
  check_child({"big_reply"});
}

TEST_CASE("hardening: a poller that cannot get a descriptor fails every task clearly", "[hardening]") {
  check_child({"epoll_emfile"});
}

TEST_CASE("hardening: a fork server short of descriptors still ends every task", "[hardening]") {
  check_child({"forkserver_nofile"});
}

TEST_CASE("hardening: spawn short of descriptors runs every task on the workers it has", "[hardening]") {
  check_child({"spawn_nofile"});
}

TEST_CASE("hardening: a fork queue that cannot start any worker fails its tasks fast", "[hardening]") {
  check_child({"fork_none_startable"});
}
#endif

TEST_CASE("hardening: a task calling exit() fails with WorkerDiedError naming exit(code)", "[hardening]") {
  Baseline baseline;
#ifdef OSIISO_HARDENING_SANITIZED
  // The sanitizer runtimes (GCC 12) do not hold their allocator locks across fork(): the
  // replacement worker, forked while this thread formats the first error, can deadlock in them
  // (seen under TSan). Spawned workers and the single-threaded fork server are not affected.
  const std::string method = GENERATE(as<std::string>{}, "spawn", "forkserver");
#else
  const std::string method = GENERATE(as<std::string>{}, "fork", "spawn", "forkserver");
#endif
  CAPTURE(method);
  osiiso::ProcessQueue q({.workers = 1, .context = osiiso::get_context(method)});
  auto h = q.submit(hardening::call_exit, 4);
  REQUIRE(settles(h));
  CHECK_THROWS_AS(h.value(), osiiso::WorkerDiedError);
  CHECK_THAT(error_text(h.exception()), Catch::Contains("exit(4)"));
  auto next = q.submit(hardening::trivial, 1);
  REQUIRE(settles(next));
  CHECK(next.value() == 2);
}

#ifdef OSIISO_HARDENING_CHILD
TEST_CASE("hardening: exit() in a task runs none of the program's atexit handlers or static destructors",
          "[hardening]") {
  const std::string method = GENERATE(as<std::string>{}, "fork", "spawn", "forkserver");
  CAPTURE(method);
  const auto marker = temp_path("osiiso_hardening_marker");
  std::filesystem::remove(marker);
  check_child({"static_queue_exit", marker, method});
  // The child's own exit ran the handler: proof that it was installed.
  CHECK(std::filesystem::exists(marker));
  std::filesystem::remove(marker);
}
#endif

TEST_CASE("hardening: a forked child cannot use its parent's queues and destroying them there returns", "[hardening]") {
  Baseline baseline;
  std::optional<osiiso::ProcessQueue> pq;
  std::optional<osiiso::ThreadQueue> tq;
  pq.emplace(osiiso::ProcessQueueOptions{.workers = 1});
  tq.emplace(osiiso::ThreadQueueOptions{.workers = 1});
  REQUIRE(pq->submit(hardening::trivial, 1).value() == 2);
  REQUIRE(tq->submit([] { return 7; }).value() == 7);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // No Catch2 here: the outcome is the exit code.
    int code = 0;
    try {
      (void)pq->submit(hardening::trivial, 2);
      code = 10;  // accepted
    } catch (const osiiso::InvalidStateError&) {
    } catch (...) {
      code = 11;  // another error
    }
    if (code == 0) {
      try {
        (void)tq->submit([] { return 8; });
        code = 20;
      } catch (const osiiso::InvalidStateError&) {
      } catch (...) {
        code = 21;
      }
    }
    pq.reset();
    tq.reset();
    ::_exit(code);
  }
  const auto status = wait_child(child, 10s);
  INFO("the forked child " << describe_status(status)
                           << " (10/11: ProcessQueue::submit accepted/threw another error; 20/21: ThreadQueue)");
  CHECK((status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0));
  // The parent's queues are untouched.
  auto p = pq->submit(hardening::trivial, 3);
  REQUIRE(settles(p));
  CHECK(p.value() == 4);
  auto t = tq->submit([] { return 9; });
  REQUIRE(settles(t));
  CHECK(t.value() == 9);
  pq.reset();
  tq.reset();
}

TEST_CASE("hardening: a hook or done callback that waits on an unfinished task gets InvalidStateError", "[hardening]") {
  Baseline baseline;
  std::atomic<int> refused{0};      // blocking waits that threw InvalidStateError
  std::atomic<int> other{0};        // blocking waits that did anything else
  std::atomic<int> finished_ok{0};  // waits on a finished task that returned normally
  std::atomic<int> finished_bad{0};
  std::atomic<int> early{0};  // hook or callback calls before both handles were set
  // Both handles are set before the queue starts (submit does not start it); the mutex makes
  // them visible to the poller thread, and a call that came too early is counted, not followed.
  std::mutex mutex;
  std::optional<osiiso::SyncTaskHandle<int>> a;
  std::optional<osiiso::SyncTaskHandle<int>> b;
  const auto set_handles = [&](osiiso::SyncTaskHandle<int> first, osiiso::SyncTaskHandle<int> second) {
    std::lock_guard lock(mutex);
    a = std::move(first);
    b = std::move(second);
  };
  const auto handles = [&] {
    std::lock_guard lock(mutex);
    return std::pair{a, b};
  };
  const auto wait_on_b = [&](bool use_value) {
    const auto [ha, hb] = handles();
    if (!hb) {
      ++early;
      return;
    }
    try {
      if (use_value) {
        (void)hb->value();
      } else {
        (void)hb->wait();
      }
      ++other;
    } catch (const osiiso::InvalidStateError&) {
      ++refused;
    } catch (...) {
      ++other;
    }
  };
  const auto wait_on_finished_a = [&] {
    const auto [ha, hb] = handles();
    if (!ha) {
      ++early;
      return;
    }
    try {
      if (ha->wait().status == TaskStatus::Succeeded && ha->value() == 2) {
        ++finished_ok;
      } else {
        ++finished_bad;
      }
    } catch (...) {
      ++finished_bad;
    }
  };
  Clock::time_point started;
  osiiso::RunSummary summary;
  SECTION("on_complete calls wait()") {
    osiiso::ProcessQueue q({.workers = 1, .on_complete = [&](const osiiso::TaskResult& r) {
                              const auto [ha, hb] = handles();
                              if (!ha || !hb) {
                                ++early;
                              } else if (r.task_id == ha->task_id()) {
                                wait_on_b(false);
                              } else if (r.task_id == hb->task_id()) {
                                wait_on_finished_a();
                              }
                            }});
    auto first = q.submit(hardening::trivial, 1);
    auto second = q.submit(hardening::nap, 300);
    set_handles(first, second);
    started = Clock::now();
    summary = q.run();
  }
  SECTION("a done callback calls value()") {
    osiiso::ProcessQueue q({.workers = 1});
    auto first = q.submit(hardening::trivial, 1);
    auto second = q.submit(hardening::nap, 300);
    set_handles(first, second);
    first.add_done_callback([&](const osiiso::SyncTaskHandle<>&) { wait_on_b(true); });
    second.add_done_callback([&](const osiiso::SyncTaskHandle<>&) { wait_on_finished_a(); });
    started = Clock::now();
    summary = q.run();
  }
  CHECK(since(started) < 10s);
  CHECK(summary.succeeded == 2);
  REQUIRE(b->done());
  CHECK(b->value() == 300);
  CHECK(early.load() == 0);
  CHECK(refused.load() == 1);
  CHECK(other.load() == 0);
  CHECK(finished_ok.load() == 1);
  CHECK(finished_bad.load() == 0);
}

TEST_CASE("hardening: workers read stdin from /dev/null", "[hardening]") {
  const std::string method = GENERATE(as<std::string>{}, "fork", "spawn", "forkserver");
  CAPTURE(method);
  // Descriptor 0 is a pipe with a byte in it, its write end kept open: a worker that inherited
  // it would read the byte, or block (its task then times out).
  int in[2];
  REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(::write(in[1], "x", 1) == 1);
  {
    StdinGuard guard;
    REQUIRE(::dup2(in[0], 0) == 0);
    osiiso::ProcessQueue q({.workers = 2, .context = osiiso::get_context(method)});
    auto reader = q.submit({.timeout = 5s}, hardening::read_stdin, 0);
    auto target = q.submit({.timeout = 5s}, hardening::stdin_target, 0);
    REQUIRE(settles(reader));
    REQUIRE(settles(target));
    CHECK(reader.exception() == nullptr);
    if (reader.exception() == nullptr) CHECK(reader.value() == 0);
    CHECK(target.exception() == nullptr);
    if (target.exception() == nullptr) CHECK(target.value() == "/dev/null");
  }
  ::close(in[0]);
  ::close(in[1]);
}

TEST_CASE("hardening: spawn and forkserver workers inherit no descriptor without O_CLOEXEC", "[hardening]") {
  const std::string method = GENERATE(as<std::string>{}, "spawn", "forkserver");
  CAPTURE(method);
  // A plain pipe(), moved to high numbers that nothing else takes by chance.
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  const int high = static_cast<int>(std::min<rlim_t>(700, limit.rlim_cur - 8));
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const int read_end = ::fcntl(p[0], F_DUPFD, high);
  const int write_end = ::fcntl(p[1], F_DUPFD, high);
  ::close(p[0]);
  ::close(p[1]);
  REQUIRE(read_end >= high);
  REQUIRE(write_end >= high);
  REQUIRE(::fcntl(read_end, F_GETFD) == 0);  // no FD_CLOEXEC
  {
    osiiso::ProcessQueue q({.workers = 1, .context = osiiso::get_context(method)});
    auto r = q.submit(hardening::fd_is_open, read_end);
    auto w = q.submit(hardening::fd_is_open, write_end);
    REQUIRE(settles(r));
    REQUIRE(settles(w));
    CHECK(r.value() == 0);
    CHECK(w.value() == 0);
  }
  ::close(read_end);
  ::close(write_end);
}

TEST_CASE("hardening: a task's grandchildren die with its worker", "[hardening]") {
  Baseline baseline;
  const std::string method = GENERATE(as<std::string>{}, "fork", "spawn", "forkserver");
  CAPTURE(method);
  SECTION("the task times out") {
    const auto path = temp_path("osiiso_hardening_grandchild");
    std::filesystem::remove(path);
    pid_t grandchild = -1;
    {
      osiiso::ProcessQueue q({.workers = 1, .context = osiiso::get_context(method)});
      auto h = q.submit({.timeout = 1s}, hardening::grandchild_then_sleep, path);
      REQUIRE(settles(h));
      CHECK_THROWS_AS(h.value(), osiiso::TimeoutError);
      REQUIRE(std::filesystem::exists(path));
      std::ifstream(path) >> grandchild;
      REQUIRE(grandchild > 0);
      // The queue still runs: the grandchild must be gone while it does.
      CHECK(eventually([&] { return process_gone(grandchild); }, 10s, 10ms));
    }
    kill_if_alive(grandchild);
    std::filesystem::remove(path);
  }
  SECTION("the task returns; the queue is destroyed") {
    pid_t grandchild = -1;
    {
      osiiso::ProcessQueue q({.workers = 1, .context = osiiso::get_context(method)});
      auto h = q.submit(hardening::grandchild_then_return, 0);
      REQUIRE(settles(h));
      grandchild = static_cast<pid_t>(h.value());
      REQUIRE(grandchild > 0);
    }
    CHECK(eventually([&] { return process_gone(grandchild); }, 10s, 10ms));
    kill_if_alive(grandchild);
  }
}

namespace {

// 6 tasks, one of which throws, all waited on through their handles before run().
template <class Queue>
void waited_batch(Queue& q) {
  std::vector<osiiso::SyncTaskHandle<int>> handles;
  for (int i = 0; i < 6; ++i) handles.push_back(q.submit(hardening::fail_on_three, i));
  for (const auto& h : handles) REQUIRE(settles(h));
}

template <class Queue>
void check_run_reports_finished_tasks(Queue& q) {
  waited_batch(q);
  const auto first = q.run();
  CHECK(first.total_submitted == 6);
  CHECK(first.results.size() == 6);
  CHECK(first.succeeded == 5);
  CHECK(first.failed == 1);
  CHECK_FALSE(first.ok());
  const auto second = q.run();
  CHECK(second.total_submitted == 0);
  CHECK(second.results.empty());
  waited_batch(q);
  CHECK_THROWS_AS(q.run({.strict = true}), osiiso::ExecutionError);
  const auto after_strict = q.run();
  CHECK(after_strict.total_submitted == 0);
}

}  // namespace

TEST_CASE("hardening: run() reports tasks that finished before it was called", "[hardening]") {
  SECTION("ThreadQueue") {
    osiiso::ThreadQueue q({.workers = 2});
    check_run_reports_finished_tasks(q);
  }
  SECTION("ProcessQueue") {
    osiiso::ProcessQueue q({.workers = 2});
    check_run_reports_finished_tasks(q);
  }
}

#ifdef OSIISO_HARDENING_CHILD
TEST_CASE("hardening: with SIGCHLD ignored a worker's death still names its signal", "[hardening]") {
  check_child({"sigchld_ignored"});
}
#endif

TEST_CASE("hardening: run() with a negative timeout is rejected", "[hardening]") {
  SECTION("ThreadQueue") {
    osiiso::ThreadQueue q({.workers = 1});
    CHECK_THROWS_AS(q.run({.timeout = -1s}), std::invalid_argument);
    CHECK_THROWS_WITH(q.run({.timeout = -1s}), Catch::Contains("timeout must be > 0"));
  }
  SECTION("ProcessQueue") {
    osiiso::ProcessQueue q({.workers = 1});
    CHECK_THROWS_AS(q.run({.timeout = -1s}), std::invalid_argument);
    CHECK_THROWS_WITH(q.run({.timeout = -1s}), Catch::Contains("timeout must be > 0"));
  }
}

TEST_CASE("hardening: a worker's death names the task by its given name", "[hardening]") {
  Baseline baseline;
  const std::string method = GENERATE(as<std::string>{}, "fork", "spawn", "forkserver");
  CAPTURE(method);
  osiiso::ProcessQueue q({.workers = 1, .context = osiiso::get_context(method)});
  auto h = q.submit({.name = "my-task"}, hardening::segfault, 0);
  REQUIRE(settles(h));
  CHECK_THROWS_AS(h.value(), osiiso::WorkerDiedError);
  CHECK_THAT(error_text(h.exception()), Catch::Contains("my-task") && Catch::Contains("SIGSEGV"));
}

TEST_CASE("hardening: run() after shutdown() names run() in its ClosedError", "[hardening]") {
  const auto check = [](auto& q) {
    q.shutdown();
    CHECK_THROWS_AS(q.run(), osiiso::ClosedError);
    try {
      (void)q.run();
    } catch (const osiiso::ClosedError& e) {
      CHECK_THAT(e.what(), Catch::Contains("run()") && !Catch::Contains("start()"));
    }
  };
  SECTION("ThreadQueue") {
    osiiso::ThreadQueue q({.workers = 1});
    check(q);
  }
  SECTION("ProcessQueue") {
    osiiso::ProcessQueue q({.workers = 1});
    check(q);
  }
}
