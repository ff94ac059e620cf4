// SPDX-License-Identifier: MIT
// The recipes of docs/cookbook.md, one function each; main runs them all. The doc quotes this
// file verbatim (ctest checks it) and ctest runs it, so a recipe that stops working fails the tests.
#include <osiiso/osiiso.hpp>

#include <boost/serialization/access.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>
#include <algorithm>
#include <any>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// (a) A batch with crashes and timeouts

namespace batch {

std::int64_t count_primes(std::int64_t n) {
  std::int64_t count = 0;
  for (std::int64_t i = 2; i < n; ++i) {
    bool prime = true;
    for (std::int64_t d = 2; d * d <= i && prime; ++d) prime = i % d != 0;
    count += prime ? 1 : 0;
  }
  return count;
}

// A native bug: the worker running it dies of SIGSEGV; nothing else is affected.
int segfault(int) {
  std::raise(SIGSEGV);
  return 0;
}

// A hung computation that never checks anything; only killing its process stops it.
int spin(int seed) {
  volatile unsigned x = static_cast<unsigned>(seed);
  for (;;) x = x * 1664525u + 1013904223u;
}

// Fails on its first attempt and succeeds on the next. Retries may run in another worker
// process, so the attempt is remembered in a file, not in a variable.
std::string flaky(std::string marker) {
  if (!std::filesystem::exists(marker)) {
    std::ofstream(marker) << "attempted";
    throw std::runtime_error("transient failure");
  }
  std::filesystem::remove(marker);
  return "recovered";
}

}  // namespace batch

OSIISO_TASK(batch::count_primes);
OSIISO_TASK(batch::segfault);
OSIISO_TASK(batch::spin);
OSIISO_TASK(batch::flaky);

bool batch_with_crashes_and_timeouts() {
  std::atomic<int> retries{0};
  osiiso::ProcessQueue q({
      .workers = 2,
      .on_retry = [&retries](const osiiso::SyncTaskHandle<>&, std::exception_ptr) { ++retries; },
  });
  const std::string marker =
      (std::filesystem::temp_directory_path() / fmt::format("osiiso-cookbook-{}", ::getpid())).string();

  auto primes = q.map(batch::count_primes, std::vector<std::int64_t>{10'000, 20'000, 30'000});
  auto crashed = q.submit({.retries = 1}, batch::segfault, 0);  // dies on both attempts
  auto hung = q.submit({.timeout = 200ms}, batch::spin, 0);     // killed after 200 ms
  auto flaky = q.submit({.retries = 2, .retry_delay = 50ms}, batch::flaky, marker);

  osiiso::RunSummary summary = q.run();
  fmt::print("ok={} total={} succeeded={} failed={} retries={}\n", summary.ok(), summary.total_submitted,
             summary.succeeded, summary.failed, retries.load());
  std::vector<osiiso::TaskResult> errors = summary.errors();  // in the order the tasks failed
  std::sort(errors.begin(), errors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const osiiso::TaskResult& r : errors) {
    try {
      std::rethrow_exception(r.exception);
    } catch (const osiiso::WorkerDiedError&) {
      fmt::print("  {}: WorkerDiedError after {} attempts\n", r.name, r.attempts);
    } catch (const osiiso::TimeoutError&) {
      fmt::print("  {}: TimeoutError: {}\n", r.name, r.message);
    }
  }
  std::vector<std::int64_t> counts;
  for (const auto& h : primes) counts.push_back(h.value());  // handles keep submission order
  fmt::print("  primes below 10k, 20k, 30k: {} ({} results named batch::count_primes)\n", counts,
             summary.by_name().at("batch::count_primes").size());
  fmt::print("  flaky: {} after {} attempts\n", flaky.value(), flaky.attempts());
  return summary.succeeded == 4 && summary.failed == 2 && crashed.attempts() == 2 &&
         hung.status() == osiiso::TaskStatus::Failed && primes.size() == 3 && retries == 2;
}

// ---------------------------------------------------------------------------------------------
// (b) The spawn start method

int configured = 0;  // main sets it to 42 after osiiso::init

int read_configured() { return configured; }
OSIISO_TASK(read_configured);

bool spawn_start_method() {
  osiiso::ProcessQueue forked({.workers = 1});
  osiiso::ProcessQueue spawned({.workers = 1, .context = osiiso::get_context("spawn")});
  auto from_fork = forked.submit(read_configured);
  auto from_spawn = spawned.submit(read_configured);
  fmt::print("fork worker sees {}, spawn worker sees {}\n", from_fork.value(), from_spawn.value());
  return from_fork.value() == 42 && from_spawn.value() == 0;
}

// ---------------------------------------------------------------------------------------------
// (c) Groups and as_completed

int square(int n) { return n * n; }
std::string greet(std::string name) { return "hello " + name; }
int nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
OSIISO_TASK(square);
OSIISO_TASK(greet);
OSIISO_TASK(nap);

bool groups_and_as_completed() {
  osiiso::ProcessQueue q({.workers = 3});

  auto squares = q.group({.group_id = "squares"}, square, std::vector{1, 2, 3, 4});  // SyncTaskGroup<int>
  std::vector<int> values = squares.values();                                        // submission order
  fmt::print("{}: {}\n", squares.group_id(), values);

  auto mixed = q.group({.group_id = "mixed"}, {osiiso::call(square, 5), osiiso::call(greet, std::string("Ada"))});
  std::vector<std::any> parts = mixed.values();  // SyncTaskGroup<>: one std::any per call
  fmt::print("mixed: {} and {}\n", std::any_cast<int>(parts[0]), std::any_cast<std::string>(parts[1]));

  auto naps = q.group(nap, std::vector{600, 50, 300});  // a generated group id
  std::vector<int> finished;
  for (const osiiso::SyncTaskHandle<>& h : naps.as_completed(5s)) finished.push_back(std::any_cast<int>(h.value()));
  fmt::print("naps of 600, 50, 300 ms finished in the order {}\n", finished);

  osiiso::RunSummary summary = q.run();  // every result since the queue started
  for (const auto& [group, results] : summary.by_group()) {
    fmt::print("  group {}: {} tasks\n", group.value_or("(none)"), results.size());
  }
  return values == std::vector{1, 4, 9, 16} && finished == std::vector{50, 300, 600} && summary.succeeded == 9;
}

// ---------------------------------------------------------------------------------------------
// (d) User types as arguments and results

namespace geometry {

struct Point {
  double x = 0;
  double y = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& x& y;
  }
};

class Polygon {
 public:
  Polygon() = default;  // Boost loads into a default-constructed object
  Polygon(std::string name, std::vector<Point> vertices) : name_(std::move(name)), vertices_(std::move(vertices)) {}

  const std::string& name() const { return name_; }
  const std::vector<Point>& vertices() const { return vertices_; }

 private:
  friend class boost::serialization::access;  // a private serialize() is found through this
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& name_& vertices_;
  }

  std::string name_;
  std::vector<Point> vertices_;
};

struct Measurement {
  std::string name;
  double area = 0;
  double perimeter = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& name& area& perimeter;
  }
};

// Not a standard exception type, so it reaches the parent as osiiso::RemoteError.
class DegenerateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Polygon scale(Polygon p, double factor) {
  if (factor <= 0) throw std::invalid_argument("scale factor must be > 0");
  std::vector<Point> scaled;
  for (const Point& v : p.vertices()) scaled.push_back({v.x * factor, v.y * factor});
  return {p.name() + " x" + fmt::format("{}", factor), std::move(scaled)};
}

Measurement measure(Polygon p) {
  const auto& v = p.vertices();
  if (v.size() < 3) throw DegenerateError("'" + p.name() + "' has fewer than 3 vertices");
  Measurement m;
  m.name = p.name();
  for (std::size_t i = 0; i < v.size(); ++i) {
    const Point& a = v[i];
    const Point& b = v[(i + 1) % v.size()];
    m.area += (a.x * b.y - b.x * a.y) / 2;  // the shoelace formula
    m.perimeter += std::hypot(b.x - a.x, b.y - a.y);
  }
  m.area = std::abs(m.area);
  return m;
}

}  // namespace geometry

OSIISO_TASK(geometry::scale);
OSIISO_TASK(geometry::measure);

bool user_types() {
  osiiso::ProcessQueue q({.workers = 2});
  const geometry::Polygon unit("square", {{0, 0}, {1, 0}, {1, 1}, {0, 1}});

  auto scaled = q.submit(geometry::scale, unit, 3.0);  // SyncTaskHandle<geometry::Polygon>
  auto measured = q.submit(geometry::measure, scaled.value());
  geometry::Measurement m = measured.value();
  fmt::print("{}: area {}, perimeter {}\n", m.name, m.area, m.perimeter);

  auto negative = q.submit(geometry::scale, unit, -1.0);
  auto line = q.submit(geometry::measure, geometry::Polygon("line", {{0, 0}, {1, 1}}));
  try {
    static_cast<void>(negative.value());
  } catch (const std::invalid_argument& e) {  // a standard type arrives as itself
    fmt::print("  std::invalid_argument: {}\n", e.what());
  }
  try {
    static_cast<void>(line.value());
  } catch (const osiiso::RemoteError& e) {  // any other type arrives as RemoteError
    fmt::print("  osiiso::RemoteError: {}: {}\n", e.type_name(), e.what());
  }
  return m.area == 9 && m.perimeter == 12 && negative.status() == osiiso::TaskStatus::Failed &&
         line.status() == osiiso::TaskStatus::Failed;
}

// ---------------------------------------------------------------------------------------------
// (e) Bounded queues and backpressure

bool bounded_queue() {
  osiiso::ThreadQueue q({.workers = 2, .size = 3});
  q.start();  // a full queue waits for a worker to free a slot: start the workers before filling it

  const auto work = [](int n) {
    std::this_thread::sleep_for(30ms);
    return n;
  };
  std::vector<osiiso::SyncTaskHandle<int>> handles;
  std::size_t peak = 0;
  const auto began = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    handles.push_back(q.submit(work, i));  // blocks while 3 tasks are outstanding
    const osiiso::Stats s = q.stats();
    peak = std::max(peak, s.pending + s.active);
  }
  const bool held_back = std::chrono::steady_clock::now() - began >= 90ms;

  osiiso::RunSummary summary = q.run();
  fmt::print("10 tasks through a queue of size 3: at most {} outstanding, producer held back: {}, {} succeeded\n", peak,
             held_back, summary.succeeded);
  return peak <= 3 && held_back && summary.succeeded == 10;
}

// ---------------------------------------------------------------------------------------------
// (f) Infinite mode with a producer thread

double fahrenheit(double celsius) { return celsius * 9 / 5 + 32; }
OSIISO_TASK(fahrenheit);

bool infinite_mode_with_producer() {
  std::atomic<int> completed{0};
  osiiso::ProcessQueue q({
      .workers = 2,
      .mode = osiiso::Mode::Infinite,
      .on_complete = [&completed](const osiiso::TaskResult&) { ++completed; },
  });

  std::jthread producer([&q] {
    std::vector<osiiso::SyncTaskHandle<double>> handles;
    for (int i = 0; i < 6; ++i) {
      handles.push_back(q.submit(fahrenheit, i * 20.0));
      std::this_thread::sleep_for(20ms);  // readings arrive over time
    }
    q.shutdown();  // drains what was submitted, then ends run()
  });

  osiiso::RunSummary summary = q.run();  // serves until shutdown()
  std::vector<double> values = summary.values<double>();
  std::sort(values.begin(), values.end());  // completion order may vary; show them sorted
  fmt::print("served {} readings until shutdown(): {}; on_complete ran {} times; closed: {}\n", summary.succeeded,
             values, completed.load(), q.closed());
  return summary.succeeded == 6 && completed == 6 && q.closed();
}

// ---------------------------------------------------------------------------------------------

int main(int argc, char** argv) {
  osiiso::init(argc, argv);  // first: in a spawned worker this serves tasks and never returns
  configured = 42;           // after init: spawned workers never run this line (recipe b)

  struct Recipe {
    const char* title;
    bool (*run)();
  };
  const Recipe recipes[] = {
      {"(a) a batch with crashes and timeouts", batch_with_crashes_and_timeouts},
      {"(b) the spawn start method", spawn_start_method},
      {"(c) groups and as_completed", groups_and_as_completed},
      {"(d) user types as arguments and results", user_types},
      {"(e) bounded queues and backpressure", bounded_queue},
      {"(f) infinite mode with a producer thread", infinite_mode_with_producer},
  };
  int failures = 0;
  for (const Recipe& recipe : recipes) {
    fmt::print("== {}\n", recipe.title);
    if (!recipe.run()) {
      fmt::print("!! {} did not show what it should\n", recipe.title);
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}
