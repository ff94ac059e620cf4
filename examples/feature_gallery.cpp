// SPDX-License-Identifier: MIT
// Feature gallery: every feature of both queues once, each section printing what it shows.
// Its output is in docs/feature_gallery.md.
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it

#include <boost/asio/awaitable.hpp>  // before osiiso.hpp, which then brings awaitable tasks

#include <osiiso/osiiso.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <any>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace gallery {

int square(int n) { return n * n; }
int add(int a, int b) { return a + b; }

int segfault(int) {
  std::raise(SIGSEGV);
  return 0;
}

int hang(int) {
  for (;;) std::this_thread::sleep_for(1s);
}

std::string sleepy(std::string label, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return label;
}

// A user type crosses the process boundary through its serialize() member.
struct Point {
  double x = 0;
  double y = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& x& y;
  }
};

Point midpoint(Point a, Point b) { return {(a.x + b.x) / 2, (a.y + b.y) / 2}; }

boost::asio::awaitable<int> slow_double(int n) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, 10ms);
  co_await timer.async_wait(boost::asio::use_awaitable);
  co_return 2 * n;
}

}  // namespace gallery

OSIISO_TASK_AS("square", gallery::square);
OSIISO_TASK_AS("add", gallery::add);
OSIISO_TASK_AS("segfault", gallery::segfault);
OSIISO_TASK_AS("hang", gallery::hang);
OSIISO_TASK_AS("sleepy", gallery::sleepy);
OSIISO_TASK_AS("midpoint", gallery::midpoint);
OSIISO_TASK_AS("slow_double", gallery::slow_double);

namespace {

void section(const char* title) { fmt::print("\n== {} ==\n", title); }

// Hooks, priorities, must_complete, delays, retries, a bound task, a mixed group and a strict run.
void thread_queue_gallery() {
  section("ThreadQueue: hooks, priorities, retries, delays, groups");
  std::mutex mu;
  std::vector<std::string> events;
  const auto note = [&](std::string e) {
    std::lock_guard lock(mu);
    events.push_back(std::move(e));
  };
  std::atomic<int> flaky_calls{0};
  osiiso::ThreadQueue q({
      .workers = 1,
      .on_start = [&](const osiiso::SyncTaskHandle<>& h) { note("start:" + h.name()); },
      .on_complete = [&](const osiiso::TaskResult& r) { note(fmt::format("done:{}:{}", r.name, r.status)); },
      .on_retry = [&](const osiiso::SyncTaskHandle<>& h, std::exception_ptr) { note("retry:" + h.name()); },
  });
  auto later = q.submit({.priority = 5, .delay = 20ms, .name = "delayed"}, gallery::sleepy, "delayed", 1);
  auto flaky = q.submit({.priority = 1, .retries = 1, .retry_delay = 5ms, .name = "flaky"}, [&] {
    if (++flaky_calls == 1) throw std::runtime_error("first attempt fails");
    return std::string("retry-ok");
  });
  auto urgent = q.submit({.priority = 0, .must_complete = true, .name = "urgent"}, gallery::sleepy, "urgent", 1);
  auto doubled = q.task({.priority = 2, .name = "bound"})([](int n) { return 2 * n; })(21);
  auto mixed = q.group({.group_id = "mixed"}, {osiiso::call(gallery::add, 2, 3), osiiso::call(gallery::square, 4)});
  const osiiso::RunSummary summary = q.run({.strict = true});
  fmt::print("urgent={} flaky={} after {} attempts, bound={}, delayed={}\n", urgent.value(), flaky.value(),
             flaky.attempts(), doubled.value(), later.value());
  const auto values = mixed.values();  // a group of mixed calls holds std::any values
  fmt::print("group '{}': add -> {}, square -> {}\n", mixed.group_id(), std::any_cast<int>(values[0]),
             std::any_cast<int>(values[1]));
  fmt::print("first events: {}\n", std::vector(events.begin(), events.begin() + 4));
  fmt::print("summary: {} succeeded of {}, groups {}\n", summary.succeeded, summary.total_submitted,
             summary.by_group().size());
}

// A per-task timeout on a thread is cooperative: the task watches its std::stop_token.
void cooperative_timeout() {
  section("ThreadQueue: cooperative timeout and cancellation");
  osiiso::ThreadQueue q({.workers = 2});
  auto slow = q.submit({.timeout = 50ms, .name = "watcher"}, [](std::stop_token stop) {
    while (!stop.stop_requested()) std::this_thread::sleep_for(1ms);
    return 0;
  });
  auto queued = q.submit({.delay = 10s, .name = "never"}, [] { return 1; });
  queued.cancel();
  q.run();
  fmt::print("watcher: {} ({})\nnever: {} ({})\n", slow.status(), slow.result().message, queued.status(),
             queued.result().message);
}

// Crash isolation: a segfault and a hang cost one worker each, never the parent.
void process_queue_gallery() {
  section("ProcessQueue: crash isolation, timeouts, user types, coroutines");
  osiiso::ProcessQueue q({.workers = 2});
  auto squares = q.map({.name = "square"}, gallery::square, std::vector{2, 3, 4});
  auto crashed = q.submit(gallery::segfault, 0);
  auto hung = q.submit({.timeout = 200ms}, gallery::hang, 0);
  auto mid = q.submit(gallery::midpoint, gallery::Point{0, 0}, gallery::Point{4, 2});
  auto awaited = q.submit(gallery::slow_double, 21);
  const osiiso::RunSummary summary = q.run();
  std::vector<int> values;
  for (const auto& h : squares) values.push_back(h.value());
  fmt::print("squares {}, midpoint ({}, {}), coroutine {}\n", values, mid.value().x, mid.value().y, awaited.value());
  fmt::print("segfault: {}\nhang: {}\n", crashed.result().message, hung.result().message);
  summary.display({.slowest = 0});
}

// iter_completed yields handles as they finish; fail_first cancels the rest after a failure.
void completion_order_and_fail_first() {
  section("as_completed and fail_first");
  {
    osiiso::ProcessQueue q({.workers = 3});
    auto group =
        q.group(gallery::sleepy, std::vector<std::tuple<std::string, int>>{{"slow", 300}, {"fast", 10}, {"mid", 150}});
    std::vector<std::string> order;
    for (const auto& h : group.as_completed()) order.push_back(h.result().value<std::string>());
    fmt::print("completion order: {}\n", order);
  }
  osiiso::ThreadQueue q({.workers = 1, .fail_policy = osiiso::FailPolicy::FailFirst});
  static_cast<void>(q.submit({.name = "boom"}, [] { throw std::runtime_error("boom"); }));
  for (int i = 0; i < 3; ++i) static_cast<void>(q.submit({.name = "rest"}, [] { return 0; }));
  const auto summary = q.run();
  fmt::print("fail_first: {} failed, {} cancelled\n", summary.failed, summary.cancelled);
}

// A run timeout cancels what is left; a bounded queue blocks submitters; progress on stderr.
void run_windows_and_progress() {
  section("run timeout, bounded queue, progress, stats, JSON");
  {
    // A full bounded queue blocks submit() until a task finishes (and starts the queue for it).
    osiiso::ThreadQueue bounded({.workers = 2, .size = 4});
    std::vector<osiiso::SyncTaskHandle<std::string>> handles;
    for (int i = 0; i < 20; ++i) handles.push_back(bounded.submit({.name = "tick"}, gallery::sleepy, "t", 5));
    const auto now = bounded.stats();
    fmt::print("20 tasks submitted through 4 slots; outstanding now within the bound: {}\n",
               now.pending + now.active <= 4);
  }
  osiiso::ThreadQueue q({.workers = 2});
  for (int i = 0; i < 40; ++i) static_cast<void>(q.submit({.name = "tick"}, gallery::sleepy, "t", 5));
  std::fflush(stdout);  // the progress line goes to stderr
  const auto summary = q.run({.progress = true});
  fmt::print("progress drawn for {} tasks\n", summary.succeeded);

  osiiso::ThreadQueue timed({.workers = 1});
  for (int i = 0; i < 5; ++i) static_cast<void>(timed.submit({.name = "long"}, gallery::sleepy, "l", 100));
  const auto cut = timed.run({.timeout = 150ms});
  fmt::print("run timeout: timed_out={}, {} succeeded, {} cancelled\n", cut.timed_out, cut.succeeded, cut.cancelled);
  const auto stats = timed.stats();
  fmt::print("stats: completed={} cancelled={} workers={}\n", stats.completed, stats.cancelled, stats.workers);
  fmt::print("json starts: {}...\n", cut.to_json().substr(0, 60));
}

// Infinite mode: run() serves a producer until shutdown().
void infinite_mode() {
  section("infinite mode with a producer thread");
  osiiso::ThreadQueue q({.workers = 2, .mode = osiiso::Mode::Infinite});
  std::jthread producer([&q] {
    for (int i = 0; i < 10; ++i) static_cast<void>(q.submit({.name = "job"}, gallery::square, i));
    q.join();
    q.shutdown();
  });
  const auto summary = q.run();
  fmt::print("served {} jobs until shutdown\n", summary.succeeded);
}

}  // namespace

int main(int argc, char** argv) {
  osiiso::init(argc, argv);  // first: spawned workers enter here and never return
  thread_queue_gallery();
  cooperative_timeout();
  process_queue_gallery();
  completion_order_and_fail_first();
  run_windows_and_progress();
  infinite_mode();

  section("spawn start method");
  osiiso::ProcessQueue spawned({.workers = 1, .context = osiiso::get_context("spawn")});
  auto h = spawned.submit(gallery::add, 40, 2);
  fmt::print("spawned worker: {}\n", h.value());
  return 0;
}
