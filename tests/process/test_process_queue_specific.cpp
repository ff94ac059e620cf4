// SPDX-License-Identifier: MIT
// What only ProcessQueue does: coroutine functions in a worker, and the failure modes of worker
// processes (crashes, kills, large payloads, start methods, leaks). The contract it shares with
// ThreadQueue is test_queue_contract.cpp.
#include <osiiso/awaitable.hpp>
#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/process_backend.hpp>
#include <osiiso/process_queue.hpp>

#include <osiiso/osiiso.hpp>

#include "../helpers.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using osiiso::Clock;
using osiiso::Seconds;
using osiiso::test::child_count;
using osiiso::test::eventually;
using osiiso::test::fd_count;

namespace pqtest {

int double_it(int x) { return x * 2; }
std::string slow(double seconds) {
  std::this_thread::sleep_for(Seconds(seconds));
  return "done";
}
std::string busy(double seconds) {
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(Seconds(seconds));
  volatile std::uint64_t spins = 0;
  while (Clock::now() < until) spins = spins + 1;
  return "done";
}
boost::asio::awaitable<int> async_double(int x) {
  co_await boost::asio::post(co_await boost::asio::this_coro::executor, boost::asio::use_awaitable);
  co_return x * 2;
}
int crash_segv(int) {
  std::raise(SIGSEGV);
  return 0;
}
int crash_abort(int) { std::abort(); }
int exit_three(int) { std::_Exit(3); }
std::size_t print_lots(std::size_t bytes) {
  const std::string line(1023, 'p');
  std::size_t written = 0;
  while (written < bytes) {
    std::cout << line << '\n';
    std::printf("%s\n", line.c_str());
    written += 2 * 1024;
  }
  return written;
}
// Output without a newline stays in the stream buffers until someone flushes them.
int print_unterminated(std::string text) {
  std::cout << "[cout:" << text << "]";
  std::printf("[printf:%s]", text.c_str());
  return 0;
}
// With sync_with_stdio(false), std::cout keeps a buffer of its own, apart from stdout's.
int print_unsynced(std::string text) {
  std::ios_base::sync_with_stdio(false);
  std::cout << "[unsynced:" << text << "]";
  return 0;
}
std::string reverse_text(std::string text) {
  std::reverse(text.begin(), text.end());
  return text;
}
std::vector<char> make_bytes(std::size_t n) { return std::vector<char>(n, 'b'); }
int my_pid(int) { return static_cast<int>(::getpid()); }
void nothing() {}

struct CustomError : std::exception {
  const char* what() const noexcept override { return "custom failure"; }
};
int throw_custom(int) { throw CustomError(); }
int throw_std(int kind) {
  switch (kind) {
    case 0: throw std::invalid_argument("invalid");
    case 1: throw std::out_of_range("out of range");
    case 2: throw std::runtime_error("runtime");
    case 3: throw std::domain_error("domain");
    case 4: throw std::overflow_error("overflow");
    default: throw std::logic_error("logic");
  }
}
int never_registered(int x) { return x; }

}  // namespace pqtest

OSIISO_TASK_AS("double", pqtest::double_it);
OSIISO_TASK_AS("slow", pqtest::slow);
OSIISO_TASK_AS("busy", pqtest::busy);
OSIISO_TASK_AS("async_double", pqtest::async_double);
OSIISO_TASK_AS("crash_segv", pqtest::crash_segv);
OSIISO_TASK_AS("crash_abort", pqtest::crash_abort);
OSIISO_TASK_AS("exit_three", pqtest::exit_three);
OSIISO_TASK_AS("print_lots", pqtest::print_lots);
OSIISO_TASK_AS("reverse_text", pqtest::reverse_text);
OSIISO_TASK_AS("print_unterminated", pqtest::print_unterminated);
OSIISO_TASK_AS("print_unsynced", pqtest::print_unsynced);
OSIISO_TASK_AS("make_bytes", pqtest::make_bytes);
OSIISO_TASK_AS("my_pid", pqtest::my_pid);
OSIISO_TASK_AS("nothing", pqtest::nothing);
OSIISO_TASK_AS("throw_custom", pqtest::throw_custom);
OSIISO_TASK_AS("throw_std", pqtest::throw_std);

namespace {

using pqtest::double_it;

template <class T>
std::multiset<T> as_set(const std::vector<T>& v) {
  return {v.begin(), v.end()};
}

Seconds since(Clock::time_point start) { return Clock::now() - start; }

// Points stdout at /dev/null while alive (forked workers inherit it).
class QuietStdout {
 public:
  QuietStdout() {
    std::cout.flush();
    std::fflush(stdout);
    saved_ = ::dup(1);
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    ::dup2(null, 1);
    ::close(null);
  }
  ~QuietStdout() {
    std::fflush(stdout);
    ::dup2(saved_, 1);
    ::close(saved_);
  }

 private:
  int saved_ = -1;
};

// Points stdout at a temporary file while alive (forked workers inherit it); text() reads it.
class StdoutToFile {
 public:
  StdoutToFile() {
    std::cout.flush();
    std::fflush(stdout);
    char path[] = "/tmp/osiiso-stdout-XXXXXX";
    file_ = ::mkstemp(path);
    ::unlink(path);
    saved_ = ::dup(1);
    ::dup2(file_, 1);
  }
  StdoutToFile(const StdoutToFile&) = delete;
  StdoutToFile& operator=(const StdoutToFile&) = delete;
  ~StdoutToFile() {
    std::fflush(stdout);
    ::dup2(saved_, 1);
    ::close(saved_);
    ::close(file_);
  }
  [[nodiscard]] std::string text() const {
    std::string out(static_cast<std::size_t>(::lseek(file_, 0, SEEK_END)), '\0');
    const auto n = ::pread(file_, out.data(), out.size(), 0);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
  }

 private:
  int file_ = -1;
  int saved_ = -1;
};

std::string error_text(const osiiso::SyncTaskHandle<>& h) {
  try {
    std::rethrow_exception(h.exception());
  } catch (const std::exception& e) {
    return e.what();
  }
}

static_assert(std::is_same_v<osiiso::ProcessQueue::result_t<decltype(&pqtest::async_double), int>, int>);
// Submitting an awaitable object (rather than the coroutine function) does not compile.
static_assert(!osiiso::ProcessSubmittable<boost::asio::awaitable<int>>);

}  // namespace

// ---------------------------------------------------------------------------------------------
// Worker processes: coroutines, failures, payloads, start methods, hygiene
// ---------------------------------------------------------------------------------------------

// TestCoroutineInSubprocess.test_coroutine_function_runs (TestSubmitAwaitable is a static_assert above)
TEST_CASE("ProcessQueue: a coroutine function runs to completion in the worker", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto h = q.submit(pqtest::async_double, 7);
  STATIC_REQUIRE(std::is_same_v<decltype(h), osiiso::SyncTaskHandle<int>>);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(h.value() == 14);
}

// The contract's task timeout (test_queue_contract.cpp) ends a sleeping task; this one spins, and
// only killing its worker ends it.
TEST_CASE("ProcessQueue: a task timeout kills a busy worker and its slot respawns", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto spinning = q.submit({.timeout = 200ms}, pqtest::busy, 10.0);
  auto after = q.submit(double_it, 4);
  const auto start = Clock::now();
  const auto summary = q.run();
  CHECK(since(start) < 2s);
  CHECK(summary.failed == 1);
  CHECK_THROWS_AS(spinning.value(), osiiso::TimeoutError);
  CHECK(after.value() == 8);  // the slot was respawned
}

TEST_CASE("ProcessQueue: a worker that dies mid-task fails only that task", "[process_queue][crash]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto segv = q.submit(pqtest::crash_segv, 1);
  auto abrt = q.submit(pqtest::crash_abort, 1);
  auto exit3 = q.submit(pqtest::exit_three, 1);
  auto fine = q.submit(double_it, 21);
  const auto summary = q.run();
  CHECK(summary.failed == 3);
  CHECK(summary.succeeded == 1);
  CHECK_THROWS_AS(segv.value(), osiiso::WorkerDiedError);
  CHECK_THAT(error_text(segv), Catch::Contains("SIGSEGV") && Catch::Contains("'crash_segv'"));
  CHECK_THAT(error_text(abrt), Catch::Contains("SIGABRT"));
  CHECK_THAT(error_text(exit3), Catch::Contains("exited with code 3"));
  CHECK(fine.value() == 42);
}

TEST_CASE("ProcessQueue: a task that prints megabytes to stdout corrupts nothing", "[process_queue]") {
  QuietStdout quiet;
  osiiso::ProcessQueue q({.workers = 1});
  auto h = q.submit(pqtest::print_lots, std::size_t{4} << 20);
  auto after = q.submit(double_it, 2);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(h.value() >= (std::size_t{4} << 20));
  CHECK(after.value() == 4);
}

TEST_CASE("ProcessQueue: what a task printed is written out before its result arrives", "[process_queue]") {
  const StdoutToFile output;
  osiiso::ProcessQueue q({.workers = 1});
  CHECK(q.submit(pqtest::print_unterminated, std::string("alpha")).value() == 0);
  // The worker is still alive: only a flush after the task can have written this.
  CHECK_THAT(output.text(), Catch::Contains("[cout:alpha]") && Catch::Contains("[printf:alpha]"));
  CHECK(q.submit(pqtest::print_unsynced, std::string("beta")).value() == 0);
  CHECK_THAT(output.text(), Catch::Contains("[unsynced:beta]"));
  q.shutdown();
}

TEST_CASE("ProcessQueue: 4 MiB arguments and results both ways", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2});
  std::string big(std::size_t{4} << 20, 'a');
  big.back() = 'z';
  auto echo = q.submit(pqtest::reverse_text, big);
  auto bytes = q.submit(pqtest::make_bytes, std::size_t{4} << 20);
  auto echo2 = q.submit(pqtest::reverse_text, big);
  const auto summary = q.run();
  REQUIRE(summary.ok());
  CHECK(echo.value().size() == big.size());
  CHECK(echo.value().front() == 'z');
  CHECK(bytes.value().size() == (std::size_t{4} << 20));
  CHECK(echo2.value().front() == 'z');
}

TEST_CASE("ProcessQueue: exceptions cross the process boundary", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2});
  auto invalid = q.submit(pqtest::throw_std, 0);
  auto range = q.submit(pqtest::throw_std, 1);
  auto runtime = q.submit(pqtest::throw_std, 2);
  auto domain = q.submit(pqtest::throw_std, 3);
  auto overflow = q.submit(pqtest::throw_std, 4);
  auto custom = q.submit(pqtest::throw_custom, 0);
  (void)q.run();
  CHECK_THROWS_AS(invalid.value(), std::invalid_argument);
  CHECK_THROWS_AS(range.value(), std::out_of_range);
  CHECK_THROWS_WITH(range.value(), "out of range");
  CHECK_THROWS_AS(runtime.value(), std::runtime_error);
  CHECK_THROWS_AS(domain.value(), std::domain_error);
  CHECK_THROWS_AS(overflow.value(), std::overflow_error);
  try {
    (void)custom.value();
    FAIL("no exception");
  } catch (const osiiso::RemoteError& e) {
    CHECK(e.type_name() == "pqtest::CustomError");
    CHECK(std::string(e.what()) == "custom failure");
  }
}

TEST_CASE("ProcessQueue: an unregistered function is a RegistrationError at submit", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  CHECK_THROWS_AS(q.submit(pqtest::never_registered, 1), osiiso::RegistrationError);
  CHECK_THROWS_WITH(q.submit(pqtest::never_registered, 1), Catch::Contains("OSIISO_TASK"));
}

TEST_CASE("ProcessQueue: void tasks and default names", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto h = q.submit(pqtest::nothing);
  STATIC_REQUIRE(std::is_same_v<decltype(h), osiiso::SyncTaskHandle<void>>);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(h.name() == "nothing");
}

TEST_CASE("ProcessQueue: workers are separate, persistent processes", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto a = q.submit(pqtest::my_pid, 0);
  auto b = q.submit(pqtest::my_pid, 0);
  (void)q.run();
  CHECK(a.value() != static_cast<int>(::getpid()));
  CHECK(a.value() == b.value());
}

TEST_CASE("ProcessQueue: forced shutdown with running tasks returns promptly", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2});
  auto a = q.submit(pqtest::busy, 10.0);
  auto b = q.submit(pqtest::slow, 10.0);
  q.start();
  REQUIRE(eventually([&] { return q.active_count() == 2; }, 2s));
  const auto start = Clock::now();
  q.shutdown({.force = true});
  CHECK(since(start) < 1s);
  CHECK(a.cancelled());
  CHECK(b.cancelled());
  CHECK(q.stats().workers == 0);
}

TEST_CASE("ProcessQueue: no child processes or descriptors outlive the queue", "[process_queue]") {
  const auto fds_before = fd_count();
  REQUIRE(child_count() == 0);
  {
    osiiso::ProcessQueue q({.workers = 3});
    (void)q.map(double_it, std::vector{1, 2, 3, 4, 5, 6});
    (void)q.submit({.timeout = 100ms}, pqtest::slow, 10.0);
    (void)q.submit(pqtest::crash_segv, 0);
    q.start();
    q.join();
    CHECK(child_count() > 0);
  }
  CHECK(child_count() == 0);
  CHECK(fd_count() == fds_before);
}

TEST_CASE("ProcessQueue: start methods", "[process_queue][start_method]") {
  const auto method = GENERATE(as<std::string>{}, "fork", "spawn", "forkserver");
  CAPTURE(method);
  const auto fds_before = fd_count();
  {
    osiiso::ProcessQueue q({.workers = 2, .context = osiiso::get_context(method)});
    (void)q.map(double_it, std::vector{1, 2, 3});
    auto crash = q.submit(pqtest::crash_segv, 0);
    auto async = q.submit(pqtest::async_double, 5);
    auto timed = q.submit({.timeout = 200ms}, pqtest::busy, 10.0);
    const auto start = Clock::now();
    const auto summary = q.run();
    CHECK(since(start) < 2s);
    CHECK(as_set(summary.values<int>()) == std::multiset<int>{2, 4, 6, 10});
    CHECK_THAT(error_text(crash), Catch::Contains("SIGSEGV"));
    CHECK_THROWS_AS(timed.value(), osiiso::TimeoutError);
    CHECK(async.value() == 10);
  }
  CHECK(child_count() == 0);
  CHECK(fd_count() == fds_before);
}

namespace {
// Runs one task on a one-worker spawn pool of `executable`, which cannot serve it: checks that
// it fails within 2 s and returns the task's message and error text.
std::string failed_spawn_text(const char* executable) {
  osiiso::detail::EngineConfig config;
  config.workers = 1;
  config.queue_name = "ProcessQueue";
  auto engine = std::make_shared<osiiso::detail::Engine>(std::move(config));
  engine->set_backend(std::make_unique<osiiso::detail::ProcessBackend>(
      *engine, osiiso::detail::ProcessBackendConfig{.method = osiiso::StartMethod::Spawn, .executable = executable}));
  auto prepared = osiiso::detail::make_process_work(double_it, 1);
  auto state = engine->submit(std::move(prepared.work), {}, prepared.name);
  const auto start = Clock::now();
  const auto summary = engine->run({});
  CHECK(since(start) < 2s);
  REQUIRE(summary.failed == 1);
  return summary.results.at(0).message + error_text(osiiso::SyncTaskHandle<>(state));
}
}  // namespace

TEST_CASE("ProcessQueue: spawn of a missing program fails clearly and fast, leaving no child",
          "[process_queue][start_method]") {
  const auto text = failed_spawn_text("/nonexistent/osiiso-worker");
  INFO(text);
  // With vfork the failed exec is reported by Boost.Process; where vfork runs as fork (TSan,
  // valgrind) the child exits with code 1 before it says hello.
  CHECK((text.find("/nonexistent/osiiso-worker") != std::string::npos || text.find("exit") != std::string::npos));
  CHECK(child_count() == 0);
}

TEST_CASE("ProcessQueue: spawn of a program without osiiso::init fails clearly and fast",
          "[process_queue][start_method]") {
  // /bin/true stands for a program whose main() never calls osiiso::init: it exits at once.
  CHECK_THAT(failed_spawn_text("/bin/true"), Catch::Contains("osiiso::init(argc, argv)"));
  CHECK(child_count() == 0);
}
