// SPDX-License-Identifier: MIT
// ProcessQueue: the port of the Python tests/test_process_queue.py, plus the failure modes of
// worker processes (crashes, kills, large payloads, start methods, leaks).
#include <osiiso/awaitable.hpp>
#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/process_backend.hpp>
#include <osiiso/process_queue.hpp>

#include <osiiso/detail/process_backend.hpp>
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
#include <any>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using osiiso::Clock;
using osiiso::Seconds;
using osiiso::TaskStatus;
using osiiso::test::child_count;
using osiiso::test::eventually;
using osiiso::test::fd_count;

namespace pqtest {

int double_it(int x) { return x * 2; }
int add(int a, int b) { return a + b; }
int fail_always(std::string msg) { throw std::invalid_argument(msg); }
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
// Fails the first time (no marker file yet), succeeds on the retry: worker state is isolated,
// so the state lives in a file.
std::string flaky(std::string marker) {
  if (!std::filesystem::exists(marker)) {
    std::ofstream(marker) << "1";
    throw std::invalid_argument("first attempt fails");
  }
  std::filesystem::remove(marker);
  return "recovered";
}
std::string important_work() {
  std::this_thread::sleep_for(200ms);
  return "completed";
}
int work_increment(int x) { return x + 1; }
int square(int x) { return x * x; }
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
OSIISO_TASK_AS("add", pqtest::add);
OSIISO_TASK_AS("fail_always", pqtest::fail_always);
OSIISO_TASK_AS("slow", pqtest::slow);
OSIISO_TASK_AS("busy", pqtest::busy);
OSIISO_TASK_AS("flaky", pqtest::flaky);
OSIISO_TASK_AS("important_work", pqtest::important_work);
OSIISO_TASK_AS("work_increment", pqtest::work_increment);
OSIISO_TASK_AS("square", pqtest::square);
OSIISO_TASK_AS("async_double", pqtest::async_double);
OSIISO_TASK_AS("crash_segv", pqtest::crash_segv);
OSIISO_TASK_AS("crash_abort", pqtest::crash_abort);
OSIISO_TASK_AS("exit_three", pqtest::exit_three);
OSIISO_TASK_AS("print_lots", pqtest::print_lots);
OSIISO_TASK_AS("reverse_text", pqtest::reverse_text);
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

std::string marker_path() {
  return (std::filesystem::temp_directory_path() / ("osiiso_flaky_" + std::to_string(::getpid()))).string();
}

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
// Port of tests/test_process_queue.py
// ---------------------------------------------------------------------------------------------

// TestSubmit.test_submit_and_run
TEST_CASE("ProcessQueue: submit and run", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2});
  auto h1 = q.submit(double_it, 5);
  (void)q.submit(double_it, 10);
  STATIC_REQUIRE(std::is_same_v<decltype(h1), osiiso::SyncTaskHandle<int>>);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(summary.succeeded == 2);
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{10, 20});
  CHECK(h1.value() == 10);
}

// TestSubmit.test_submit_with_opts
TEST_CASE("ProcessQueue: submit with options", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  const osiiso::TaskOptions opts{.priority = 1};
  auto h = q.submit(opts, double_it, 7);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(h.priority() == 1);
  CHECK(h.value() == 14);
}

// TestMapAndGroup.test_map
TEST_CASE("ProcessQueue: map", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2});
  (void)q.map(double_it, std::vector{1, 2, 3});
  const auto summary = q.run();
  CHECK(summary.succeeded == 3);
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{2, 4, 6});
}

// TestMapAndGroup.test_group
TEST_CASE("ProcessQueue: group of calls", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2});
  auto g = q.group({osiiso::call(double_it, 10), osiiso::call(double_it, 20)});
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(as_set(g.wait().values<int>()) == std::multiset<int>{20, 40});
}

// TestMapAndGroup.test_group_heterogeneous_tasks
TEST_CASE("ProcessQueue: heterogeneous group with a group id", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2});
  auto g = q.group({.group_id = "mixed"}, {osiiso::call(double_it, 5), osiiso::call(pqtest::add, 2, 3)});
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(g.group_id() == "mixed");
  CHECK(summary.by_group().at(std::string("mixed")).size() == 2);
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{10, 5});
}

// TestContextManager.test_with
TEST_CASE("ProcessQueue: scoped queue runs and closes", "[process_queue]") {
  std::optional<osiiso::RunSummary> summary;
  {
    osiiso::ProcessQueue q({.workers = 2});
    (void)q.submit(double_it, 1);
    summary = q.run();
    q.shutdown();
    CHECK(q.closed());
  }
  CHECK(summary->ok());
}

// TestRetries.test_retry_exhausted
TEST_CASE("ProcessQueue: retries exhausted", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto h = q.submit({.retries = 1}, pqtest::fail_always, "nope");
  const auto summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(h.attempts() == 2);
  CHECK_THROWS_AS(h.value(), std::invalid_argument);
}

// TestTimeout.test_task_timeout (a sleeping task) and the same on a busy loop.
TEST_CASE("ProcessQueue: task timeout kills the worker", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto sleeping = q.submit({.timeout = 200ms}, pqtest::slow, 10.0);
  auto spinning = q.submit({.timeout = 200ms}, pqtest::busy, 10.0);
  auto after = q.submit(double_it, 4);
  const auto start = Clock::now();
  const auto summary = q.run();
  CHECK(since(start) < 2s);
  CHECK(summary.failed == 2);
  CHECK_THROWS_AS(sleeping.value(), osiiso::TimeoutError);
  CHECK_THROWS_AS(spinning.value(), osiiso::TimeoutError);
  CHECK(after.value() == 8);  // the slot was respawned
}

// TestTimeout.test_queue_timeout
TEST_CASE("ProcessQueue: run timeout", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  (void)q.submit(pqtest::slow, 10.0);
  const auto start = Clock::now();
  const auto summary = q.run({.timeout = 300ms});
  CHECK(summary.timed_out);
  CHECK(since(start) < 2s);
}

// TestHandle.test_handle_wait
TEST_CASE("ProcessQueue: handle wait", "[process_queue]") {
  std::optional<osiiso::SyncTaskHandle<int>> h;
  {
    osiiso::ProcessQueue q({.workers = 1});
    h.emplace(q.submit(double_it, 21));
    q.start();
    CHECK(h->wait(5s).value<int>() == 42);
  }
  CHECK(h->done());
}

// TestResetAndClosed.test_reset
TEST_CASE("ProcessQueue: reset", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  (void)q.submit(double_it, 1);
  (void)q.run();
  q.reset();
  CHECK(q.results().empty());
}

// TestResetAndClosed.test_closed_rejects
TEST_CASE("ProcessQueue: a closed queue rejects submissions", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  (void)q.submit(double_it, 1);
  (void)q.run();
  q.shutdown();
  CHECK_THROWS_AS(q.submit(double_it, 2), osiiso::ClosedError);
}

// TestRetryExtended.test_retry_succeeds_eventually
TEST_CASE("ProcessQueue: a retried task succeeds eventually", "[process_queue]") {
  const auto marker = marker_path();
  std::filesystem::remove(marker);
  osiiso::ProcessQueue q({.workers = 1});
  (void)q.submit({.retries = 2}, pqtest::flaky, marker);
  const auto summary = q.run();
  std::filesystem::remove(marker);
  CHECK(summary.ok());
  CHECK(summary.values<std::string>() == std::vector<std::string>{"recovered"});
}

// TestFailPolicies.test_fail_first_stops_queue
TEST_CASE("ProcessQueue: fail_first policy", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1, .fail_policy = osiiso::FailPolicy::FailFirst});
  (void)q.submit(pqtest::fail_always, "boom");
  (void)q.submit(double_it, 1);
  (void)q.submit(double_it, 2);
  const auto summary = q.run();
  CHECK(summary.failed >= 1);
}

// TestFailPolicies.test_continue_policy
TEST_CASE("ProcessQueue: continue policy", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1, .fail_policy = osiiso::FailPolicy::Continue});
  (void)q.submit(pqtest::fail_always, "boom");
  (void)q.submit(double_it, 1);
  const auto summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(summary.succeeded == 1);
}

// TestContextManagerExtended.test_exception_cancels
TEST_CASE("ProcessQueue: leaving the scope by an exception forces shutdown", "[process_queue]") {
  std::optional<osiiso::SyncTaskHandle<std::string>> running;
  const auto start = Clock::now();
  REQUIRE_THROWS_AS(([&] {
                      osiiso::ProcessQueue q({.workers = 1});
                      running.emplace(q.submit(pqtest::slow, 10.0));
                      q.start();
                      REQUIRE(eventually([&] { return running->status() == TaskStatus::Running; }, 2s));
                      throw std::runtime_error("abort");
                    }()),
                    std::runtime_error);
  CHECK(since(start) < 2s);
  CHECK(running->cancelled());
}

// TestCancelMethod.test_cancel_stops_queue
TEST_CASE("ProcessQueue: cancel from another thread stops the queue", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  (void)q.submit(pqtest::slow, 10.0);
  q.start();
  std::this_thread::sleep_for(300ms);
  const auto start = Clock::now();
  std::thread([&] { q.cancel(); }).join();
  CHECK(q.closed());
  CHECK(since(start) < 2s);
}

// TestHandleExtended.test_handle_value
TEST_CASE("ProcessQueue: handle value", "[process_queue]") {
  std::optional<osiiso::SyncTaskHandle<int>> h;
  {
    osiiso::ProcessQueue q({.workers = 1});
    h.emplace(q.submit(double_it, 5));
    q.start();
    (void)h->wait(5s);
  }
  CHECK(h->value() == 10);
}

// TestHandleExtended.test_handle_done
TEST_CASE("ProcessQueue: handle done", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto h = q.submit(double_it, 1);
  CHECK_FALSE(h.done());
  (void)q.run();
  CHECK(h.done());
}

// TestHandleExtended.test_handle_cancel
TEST_CASE("ProcessQueue: handle cancel of a running task", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto h = q.submit(pqtest::slow, 10.0);
  q.start();
  std::this_thread::sleep_for(300ms);
  const bool cancelled = h.cancel();
  CHECK((cancelled || h.done()));
  CHECK(h.cancelled());
  // The worker was killed and replaced: the queue still serves.
  auto next = q.submit(double_it, 3);
  CHECK(next.wait(2s).value<int>() == 6);
}

// TestDecorator.test_task_decorator
TEST_CASE("ProcessQueue: task binder", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto bound = q.task({.retries = 1})(pqtest::work_increment);
  auto h = bound(10);
  STATIC_REQUIRE(std::is_same_v<decltype(h), osiiso::SyncTaskHandle<int>>);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(h.value() == 11);
}

// TestDecorator.test_decorator_map
TEST_CASE("ProcessQueue: task binder map", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2});
  auto bound = q.task()(pqtest::square);
  (void)bound.map(std::vector{1, 2, 3});
  const auto summary = q.run();
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{1, 4, 9});
}

// TestHooks.test_on_start
TEST_CASE("ProcessQueue: on_start hook", "[process_queue]") {
  std::mutex mu;
  std::vector<std::string> started;
  osiiso::ProcessQueue q({.workers = 1, .on_start = [&](const osiiso::SyncTaskHandle<>& h) {
                            std::lock_guard lock(mu);
                            started.push_back(h.name());
                          }});
  (void)q.submit(double_it, 1);
  (void)q.run();
  std::lock_guard lock(mu);
  CHECK(started == std::vector<std::string>{"double"});
}

// TestHooks.test_on_complete
TEST_CASE("ProcessQueue: on_complete hook", "[process_queue]") {
  std::mutex mu;
  std::vector<TaskStatus> completed;
  osiiso::ProcessQueue q({.workers = 1, .on_complete = [&](const osiiso::TaskResult& r) {
                            std::lock_guard lock(mu);
                            completed.push_back(r.status);
                          }});
  (void)q.submit(double_it, 1);
  (void)q.submit(double_it, 2);
  (void)q.run();
  std::lock_guard lock(mu);
  CHECK(completed == std::vector<TaskStatus>{TaskStatus::Succeeded, TaskStatus::Succeeded});
}

// TestHooks.test_on_retry
TEST_CASE("ProcessQueue: on_retry hook", "[process_queue]") {
  const auto marker = marker_path();
  std::filesystem::remove(marker);
  std::mutex mu;
  std::vector<bool> invalid_argument;
  osiiso::ProcessQueue q({.workers = 1, .on_retry = [&](const osiiso::SyncTaskHandle<>&, std::exception_ptr e) {
                            std::lock_guard lock(mu);
                            try {
                              std::rethrow_exception(e);
                            } catch (const std::invalid_argument&) {
                              invalid_argument.push_back(true);
                            } catch (...) {
                              invalid_argument.push_back(false);
                            }
                          }});
  (void)q.submit({.retries = 2}, pqtest::flaky, marker);
  (void)q.run();
  std::filesystem::remove(marker);
  std::lock_guard lock(mu);
  REQUIRE(invalid_argument.size() >= 1);
  CHECK(invalid_argument[0]);
}

// TestMapExtended.test_map_tuples
TEST_CASE("ProcessQueue: map unpacks tuples", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2});
  (void)q.map(pqtest::add, std::vector{std::tuple{1, 2}, std::tuple{3, 4}, std::tuple{5, 6}});
  const auto summary = q.run();
  CHECK(summary.succeeded == 3);
  CHECK(as_set(summary.values<int>()) == std::multiset<int>{3, 7, 11});
}

// TestGroupExtended.test_group_homogeneous
TEST_CASE("ProcessQueue: homogeneous group", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2});
  auto g = q.group(double_it, std::vector{1, 2, 3});
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(as_set(g.wait().values<int>()) == std::multiset<int>{2, 4, 6});
}

// TestGroupExtended.test_group_values
TEST_CASE("ProcessQueue: group values", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2});
  auto g = q.group(double_it, std::vector{5, 10});
  (void)q.run();
  CHECK(as_set(g.values()) == std::multiset<int>{10, 20});
}

// TestClearResults.test_clear_results
TEST_CASE("ProcessQueue: clear_results", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  (void)q.submit(double_it, 5);
  (void)q.submit(double_it, 10);
  (void)q.run();
  CHECK(q.results().size() == 2);
  q.clear_results();
  CHECK(q.results().empty());
}

// TestConstructorValidation / TestNegativeTimeout (a negative size does not type-check: size_t).
TEST_CASE("ProcessQueue: constructor validation", "[process_queue]") {
  CHECK_THROWS_WITH(osiiso::ProcessQueue({.workers = 0}), "workers must be > 0");
  CHECK_THROWS_AS(osiiso::ProcessQueue({.workers = 0}), std::invalid_argument);
  CHECK_THROWS_WITH(osiiso::ProcessQueue({.timeout = Seconds(-1)}), "timeout must be > 0");
}

// TestStatsProperty.test_stats_returns_dict
TEST_CASE("ProcessQueue: stats", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  (void)q.submit(double_it, 1);
  (void)q.run();
  const auto s = q.stats();
  CHECK(s.completed == 1);
  CHECK(s.pending == 0);
  CHECK(s.active == 0);
  CHECK_FALSE(s.closed);
}

// TestJoin.test_join_completes_work
TEST_CASE("ProcessQueue: join completes work", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2});
  auto h1 = q.submit(double_it, 3);
  auto h2 = q.submit(double_it, 7);
  q.join();
  CHECK(h1.done());
  CHECK(h2.done());
  CHECK(h1.value() == 6);
  CHECK(h2.value() == 14);
  q.shutdown();
}

// TestCoroutineInSubprocess.test_coroutine_function_runs (TestSubmitAwaitable is a static_assert above)
TEST_CASE("ProcessQueue: a coroutine function runs to completion in the worker", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto h = q.submit(pqtest::async_double, 7);
  STATIC_REQUIRE(std::is_same_v<decltype(h), osiiso::SyncTaskHandle<int>>);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(h.value() == 14);
}

// TestSchedulingProcess.test_delay
TEST_CASE("ProcessQueue: delay", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  const auto start = Clock::now();
  auto h = q.submit({.delay = 300ms}, double_it, 3);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(h.value() == 6);
  CHECK(since(start) >= 250ms);
}

// TestSchedulingProcess.test_run_at
TEST_CASE("ProcessQueue: run_at", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  const auto start = Clock::now();
  auto h = q.submit({.run_at = std::chrono::system_clock::now() + 300ms}, double_it, 4);
  const auto summary = q.run();
  CHECK(summary.ok());
  CHECK(h.value() == 8);
  CHECK(since(start) >= 250ms);
}

// TestMustCompleteProcess.test_must_complete_survives_timeout
TEST_CASE("ProcessQueue: must_complete survives a run timeout", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 2, .on_exit = osiiso::OnExit::CompletePriority});
  (void)q.submit(pqtest::slow, 10.0);
  auto h = q.submit({.must_complete = true}, pqtest::important_work);
  const auto summary = q.run({.timeout = 500ms});
  CHECK(summary.timed_out);
  CHECK(h.done());
  CHECK(h.status() == TaskStatus::Succeeded);
  CHECK(h.value() == "completed");
}

// TestHandleException.test_exception_returns_error
TEST_CASE("ProcessQueue: handle exception keeps the remote type and message", "[process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto h = q.submit(pqtest::fail_always, "boom");
  (void)q.run();
  const auto error = h.exception();
  REQUIRE(error);
  CHECK_THROWS_AS(std::rethrow_exception(error), std::invalid_argument);
  CHECK_THROWS_WITH(std::rethrow_exception(error), "boom");
}

// ---------------------------------------------------------------------------------------------
// Worker processes: failures, payloads, start methods, hygiene
// ---------------------------------------------------------------------------------------------

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
