// SPDX-License-Identifier: MIT
// MpiQueue beside a local ProcessQueue, in one run under mpirun -np 3 (bench/run.sh): round trip,
// one-by-one throughput and a map of 100,000 trivial items, with 2 serving ranks x 1 worker
// against 2 local workers. Rank 0 runs both; ranks 1 and 2 serve inside osiiso::mpi::init.
#include <benchmark/benchmark.h>
#include <osiiso/mpi_queue.hpp>
#include <osiiso/osiiso.hpp>

#include <vector>

#include "common.hpp"

namespace osiiso_mpi_bench_tasks {
int noop(int x) { return x; }
}  // namespace osiiso_mpi_bench_tasks

OSIISO_TASK_AS("mpi_bench.noop", osiiso_mpi_bench_tasks::noop);

namespace {

using osiiso::bench::BenchClock;
using osiiso::bench::seconds_since;
using osiiso_mpi_bench_tasks::noop;

// The two contenders: 2 serving ranks with 1 worker each, or 2 local worker processes.
template <class Body>
void with_queue(bool mpi, Body&& body) {
  if (mpi) {
    osiiso::MpiQueue q({.workers_per_rank = 1});
    q.start();
    body(q);
  } else {
    osiiso::ProcessQueue q({.workers = 2});
    q.start();
    body(q);
  }
}

template <class Queue>
void warm_up(Queue& q) {
  for (int i = 0; i < 200; ++i) benchmark::DoNotOptimize(q.submit(noop, i).value());
}

// One trivial task submitted and waited on, 2,000 times.
void mpi_roundtrip(benchmark::State& state, bool mpi) {
  std::vector<double> samples;
  with_queue(mpi, [&](auto& q) {
    warm_up(q);
    for (auto _ : state) {
      for (int i = 0; i < 2000; ++i) {
        const auto start = BenchClock::now();
        benchmark::DoNotOptimize(q.submit(noop, i).value());
        samples.push_back(seconds_since(start) * 1e6);
      }
    }
  });
  state.counters["median_us"] = osiiso::bench::median(samples);
  state.counters["p99_us"] = osiiso::bench::quantile(samples, 0.99);
  state.counters["max_us"] = osiiso::bench::quantile(samples, 1.0);
}

// 20,000 trivial tasks submitted one by one, then all waited on.
void mpi_throughput(benchmark::State& state, bool mpi) {
  with_queue(mpi, [&](auto& q) {
    warm_up(q);
    state.counters["tasks_per_s"] = osiiso::bench::one_by_one_rate(state, q, noop, 20000);
  });
}

// map() of 100,000 trivial items, then run().
void mpi_map(benchmark::State& state, bool mpi) {
  std::vector<int> inputs(100000);
  for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i] = static_cast<int>(i);
  std::vector<double> rates;
  with_queue(mpi, [&](auto& q) {
    warm_up(q);
    for (auto _ : state) {
      q.clear_results();
      const auto start = BenchClock::now();
      auto handles = q.map(noop, inputs);
      (void)q.run();
      rates.push_back(static_cast<double>(inputs.size()) / seconds_since(start));
      benchmark::DoNotOptimize(handles.back().value());
    }
  });
  state.counters["items_per_s"] = osiiso::bench::median(rates);
}

}  // namespace

BENCHMARK_CAPTURE(mpi_roundtrip, mpi, true)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(mpi_roundtrip, local, false)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(mpi_throughput, mpi, true)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(mpi_throughput, local, false)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(mpi_map, mpi, true)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(mpi_map, local, false)->Iterations(1)->Unit(benchmark::kMillisecond);
