// SPDX-License-Identifier: MIT
// ProcessQueue benchmarks (fork and spawn): start-up, round trip, throughput, payload, CPU
// scaling and a million queued tasks. Each reports its numbers as Google Benchmark counters.
#include <benchmark/benchmark.h>
#include <osiiso/osiiso.hpp>
#include <osiiso/process_queue.hpp>

#include <sys/resource.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "common.hpp"

namespace osiiso_bench_tasks {
int noop(int x) { return x; }
std::size_t payload_size(const std::string& data) { return data.size(); }
std::string payload_of(std::size_t size) { return std::string(size, 'y'); }
unsigned long long burn(unsigned long long iterations) { return osiiso::bench::spin(iterations); }
}  // namespace osiiso_bench_tasks

OSIISO_TASK_AS("bench.noop", osiiso_bench_tasks::noop);
OSIISO_TASK_AS("bench.payload_size", osiiso_bench_tasks::payload_size);
OSIISO_TASK_AS("bench.payload_of", osiiso_bench_tasks::payload_of);
OSIISO_TASK_AS("bench.burn", osiiso_bench_tasks::burn);

namespace {

using osiiso::bench::BenchClock;
using osiiso::bench::seconds_since;
using osiiso_bench_tasks::noop;

osiiso::ProcessQueueOptions options(const char* method, std::size_t workers) {
  return {.workers = workers, .context = osiiso::get_context(method)};
}

std::size_t env_size(const char* name, std::size_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? static_cast<std::size_t>(std::strtoull(value, nullptr, 10)) : fallback;
}

// 1. Construct the queue -> first trivial result back (the destructor is not timed).
void startup(benchmark::State& state, const char* method) {
  std::vector<double> samples;
  for (auto _ : state) {
    for (int i = 0; i < 15; ++i) {
      const auto start = BenchClock::now();
      {
        osiiso::ProcessQueue q(options(method, 2));
        benchmark::DoNotOptimize(q.submit(noop, 1).value());
        samples.push_back(seconds_since(start) * 1e3);
      }
    }
  }
  state.counters["ms"] = osiiso::bench::median(samples);
  state.counters["min_ms"] = osiiso::bench::quantile(samples, 0.0);
}

// 2. One trivial task submitted and waited on, 2,000 times, on a started queue.
void roundtrip(benchmark::State& state, const char* method) {
  osiiso::ProcessQueue q(options(method, 2));
  q.start();
  for (int i = 0; i < 200; ++i) benchmark::DoNotOptimize(q.submit(noop, i).value());
  std::vector<double> samples;
  samples.reserve(2000);
  for (auto _ : state) {
    for (int i = 0; i < 2000; ++i) {
      const auto start = BenchClock::now();
      benchmark::DoNotOptimize(q.submit(noop, i).value());
      samples.push_back(seconds_since(start) * 1e6);
    }
  }
  state.counters["median_us"] = osiiso::bench::median(samples);
  state.counters["p99_us"] = osiiso::bench::quantile(samples, 0.99);
  state.counters["max_us"] = osiiso::bench::quantile(samples, 1.0);
}

// 2b. 500 round trips, a burst of 20,000 trivial tasks, 500 round trips again: after a burst the
// round trip must return to its idle median (a lost poller wake-up once held it at one poll).
void roundtrip_after_burst(benchmark::State& state, const char* method) {
  constexpr int kTrips = 500;
  constexpr int kBurst = 20000;
  osiiso::ProcessQueue q(options(method, 2));
  q.start();
  for (int i = 0; i < 200; ++i) benchmark::DoNotOptimize(q.submit(noop, i).value());
  const auto trips = [&q] {
    std::vector<double> samples;
    samples.reserve(kTrips);
    for (int i = 0; i < kTrips; ++i) {
      const auto start = BenchClock::now();
      benchmark::DoNotOptimize(q.submit(noop, i).value());
      samples.push_back(seconds_since(start) * 1e6);
    }
    return samples;
  };
  std::vector<int> inputs(kBurst);
  for (int i = 0; i < kBurst; ++i) inputs[static_cast<std::size_t>(i)] = i;
  std::vector<double> before;
  std::vector<double> after;
  for (auto _ : state) {
    before = trips();
    (void)q.map(noop, inputs);
    q.join();
    after = trips();
  }
  state.counters["before_median_us"] = osiiso::bench::median(before);
  state.counters["after_median_us"] = osiiso::bench::median(after);
  state.counters["after_p99_us"] = osiiso::bench::quantile(after, 0.99);
  state.counters["after_max_us"] = osiiso::bench::quantile(after, 1.0);
}

// 3. 20,000 trivial tasks submitted one by one, then all waited on.
void throughput(benchmark::State& state, const char* method) {
  constexpr int kTasks = 20000;
  osiiso::ProcessQueue q(options(method, 2));
  q.start();
  for (int i = 0; i < 200; ++i) benchmark::DoNotOptimize(q.submit(noop, i).value());
  state.counters["tasks_per_s"] = osiiso::bench::one_by_one_rate(state, q, noop, kTasks);
}

// 4. A 1 MiB argument whose size is returned, 200 times sequentially.
void payload(benchmark::State& state, const char* method) {
  constexpr int kCalls = 200;
  // OSIISO_BENCH_PAYLOAD_BYTES: another size, to compare the pipe and shared memory around the threshold.
  const std::string data(env_size("OSIISO_BENCH_PAYLOAD_BYTES", std::size_t{1} << 20), 'x');
  osiiso::ProcessQueue q(options(method, 2));
  q.start();
  for (int i = 0; i < 10; ++i) benchmark::DoNotOptimize(q.submit(osiiso_bench_tasks::payload_size, data).value());
  std::vector<double> samples;
  double total = 0;
  for (auto _ : state) {
    const auto start = BenchClock::now();
    for (int i = 0; i < kCalls; ++i) {
      const auto one = BenchClock::now();
      if (q.submit(osiiso_bench_tasks::payload_size, data).value() != data.size()) state.SkipWithError("bad size");
      samples.push_back(seconds_since(one) * 1e6);
    }
    total = seconds_since(start);
  }
  state.counters["median_us"] = osiiso::bench::median(samples);
  state.counters["GB_per_s"] = kCalls * static_cast<double>(data.size()) / total / 1e9;
}

// 4b. A 64 MiB argument whose size is returned, and a 64 MiB result, 20 times each sequentially.
constexpr std::size_t k64MiB = std::size_t{64} << 20;
constexpr int kLargeCalls = 20;

void payload_64MiB_arg(benchmark::State& state, const char* method) {
  const std::string data(k64MiB, 'x');
  osiiso::ProcessQueue q(options(method, 2));
  q.start();
  for (int i = 0; i < 3; ++i) benchmark::DoNotOptimize(q.submit(osiiso_bench_tasks::payload_size, data).value());
  std::vector<double> samples;
  for (auto _ : state) {
    for (int i = 0; i < kLargeCalls; ++i) {
      const auto one = BenchClock::now();
      if (q.submit(osiiso_bench_tasks::payload_size, data).value() != data.size()) state.SkipWithError("bad size");
      samples.push_back(seconds_since(one) * 1e3);
    }
  }
  state.counters["ms"] = osiiso::bench::median(samples);
  state.counters["GB_per_s"] = static_cast<double>(k64MiB) / (osiiso::bench::median(samples) / 1e3) / 1e9;
}

void payload_64MiB_result(benchmark::State& state, const char* method) {
  osiiso::ProcessQueue q(options(method, 2));
  q.start();
  for (int i = 0; i < 3; ++i) benchmark::DoNotOptimize(q.submit(osiiso_bench_tasks::payload_of, k64MiB).value());
  std::vector<double> samples;
  for (auto _ : state) {
    for (int i = 0; i < kLargeCalls; ++i) {
      const auto one = BenchClock::now();
      if (q.submit(osiiso_bench_tasks::payload_of, k64MiB).value().size() != k64MiB) state.SkipWithError("bad size");
      samples.push_back(seconds_since(one) * 1e3);
    }
  }
  state.counters["ms"] = osiiso::bench::median(samples);
  state.counters["GB_per_s"] = static_cast<double>(k64MiB) / (osiiso::bench::median(samples) / 1e3) / 1e9;
}

// 5. 8 CPU-bound tasks of ~0.25 s each, with 1 worker and with 2.
void cpu_scaling(benchmark::State& state, const char* method) {
  constexpr int kTasks = 8;
  // Calibrate in the parent: iterations for ~0.25 s.
  unsigned long long iterations = 1'000'000;
  for (;;) {
    const auto start = BenchClock::now();
    benchmark::DoNotOptimize(osiiso::bench::spin(iterations));
    const double took = seconds_since(start);
    if (took > 0.05) {
      iterations = static_cast<unsigned long long>(static_cast<double>(iterations) * 0.25 / took);
      break;
    }
    iterations *= 4;
  }
  double times[3] = {0, 0, 0};
  for (auto _ : state) {
    for (std::size_t workers : {1U, 2U}) {
      osiiso::ProcessQueue q(options(method, workers));
      q.start();
      benchmark::DoNotOptimize(q.submit(noop, 1).value());  // workers up
      const auto start = BenchClock::now();
      auto handles = q.map(osiiso_bench_tasks::burn, std::vector<unsigned long long>(kTasks, iterations));
      for (auto& h : handles) benchmark::DoNotOptimize(h.value());
      times[workers] = seconds_since(start);
    }
  }
  state.counters["t1_s"] = times[1];
  state.counters["t2_s"] = times[2];
  state.counters["speedup"] = times[1] / times[2];
}

// 6. 1,000,000 trivial tasks queued on a queue that is not started (parent memory per queued
// task, handles included), then started and drained (total time).
void scale(benchmark::State& state, const char* method) {
  const std::size_t tasks = env_size("OSIISO_BENCH_SCALE_N", 1'000'000);
  for (auto _ : state) {
    osiiso::ProcessQueue q(options(method, 2));
    std::vector<osiiso::SyncTaskHandle<int>> handles;
    handles.reserve(tasks);
    const double before = osiiso::bench::resident_bytes();
    const auto start = BenchClock::now();
    const std::size_t tenth = tasks / 10;
    double first_tenth = 0;
    double last_tenth_start = 0;
    for (std::size_t i = 0; i < tasks; ++i) {
      if (i == tenth) first_tenth = seconds_since(start);
      if (i == tasks - tenth) last_tenth_start = seconds_since(start);
      handles.push_back(q.submit(noop, static_cast<int>(i)));
    }
    const double submitted = seconds_since(start);
    const double after = osiiso::bench::resident_bytes();
    q.join();
    const double total = seconds_since(start);
    const double peak = osiiso::bench::peak_resident_bytes();
    handles = {};
    q.clear_results();
    const double cleared = osiiso::bench::resident_bytes();
    state.counters["bytes_per_task"] = (after - before) / static_cast<double>(tasks);
    state.counters["peak_bytes_per_task"] = (peak - before) / static_cast<double>(tasks);
    state.counters["after_clear_MiB"] = (cleared - before) / (1024.0 * 1024.0);
    state.counters["submit_first_us"] = first_tenth / static_cast<double>(tenth) * 1e6;
    state.counters["submit_last_us"] = (submitted - last_tenth_start) / static_cast<double>(tenth) * 1e6;
    state.counters["total_s"] = total;
    state.counters["tasks"] = static_cast<double>(tasks);
  }
}

// CPU seconds of this process's threads (`who`: RUSAGE_SELF) or of the calling thread.
double cpu_seconds(int who) {
  rusage usage{};
  ::getrusage(who, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}
double thread_cpu_seconds() { return cpu_seconds(RUSAGE_THREAD); }

// 7. map() of 1,000,000 trivial items with 2 workers, then run() (items/s, queue started and
// warm); automatic chunksize, and chunksize 1 for comparison.
void map_items(benchmark::State& state, std::size_t chunksize) {
  const std::size_t items = env_size("OSIISO_BENCH_MAP_N", 1'000'000);
  osiiso::ProcessQueueOptions opts = options("fork", 2);
  if (chunksize > 0) opts.chunksize = chunksize;
  osiiso::ProcessQueue q(std::move(opts));
  q.start();
  for (int i = 0; i < 200; ++i) benchmark::DoNotOptimize(q.submit(noop, i).value());
  q.join();  // the warm-up's last result is recorded after its handle wakes: not in the timed run
  std::vector<int> inputs(items);
  for (std::size_t i = 0; i < items; ++i) inputs[i] = static_cast<int>(i);
  double rate = 0;
  double process_cpu = 0;
  double main_cpu = 0;
  double submit_s = 0;
  for (auto _ : state) {
    q.clear_results();
    const double process_before = cpu_seconds(RUSAGE_SELF);
    const double main_before = thread_cpu_seconds();
    const auto start = BenchClock::now();
    auto handles = q.map(noop, inputs);
    submit_s = seconds_since(start);
    const auto summary = q.run();
    rate = static_cast<double>(items) / seconds_since(start);
    process_cpu = cpu_seconds(RUSAGE_SELF) - process_before;
    main_cpu = thread_cpu_seconds() - main_before;
    if (summary.succeeded != items) state.SkipWithError("not every item succeeded");
    benchmark::DoNotOptimize(handles.back().value());
  }
  state.counters["items_per_s"] = rate;
  // Parent CPU per item: the calling thread (map, run) and the others (the poller, mostly).
  state.counters["main_cpu_us"] = main_cpu / static_cast<double>(items) * 1e6;
  state.counters["poller_cpu_us"] = (process_cpu - main_cpu) / static_cast<double>(items) * 1e6;
  // How long map() itself took (the workers run meanwhile).
  state.counters["map_s"] = submit_s;
}

}  // namespace

BENCHMARK_CAPTURE(map_items, auto, 0) -> Iterations(1) -> Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(map_items, chunksize_1, 1)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(startup, fork, "fork")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(startup, spawn, "spawn")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(roundtrip, fork, "fork")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(roundtrip, spawn, "spawn")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(roundtrip_after_burst, fork, "fork")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(roundtrip_after_burst, spawn, "spawn")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(roundtrip_after_burst, forkserver, "forkserver")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(throughput, fork, "fork")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(throughput, spawn, "spawn")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(payload, fork, "fork")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(payload, spawn, "spawn")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(payload_64MiB_arg, fork, "fork")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(payload_64MiB_result, fork, "fork")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(cpu_scaling, fork, "fork")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(cpu_scaling, spawn, "spawn")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(scale, fork, "fork")->Iterations(1)->Unit(benchmark::kMillisecond);
