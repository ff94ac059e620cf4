// SPDX-License-Identifier: MIT
// Small helpers shared by the benchmark files: clocks, sample statistics, resident memory.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <vector>

namespace osiiso::bench {

using BenchClock = std::chrono::steady_clock;

// Seconds elapsed since `start`.
inline double seconds_since(BenchClock::time_point start) {
  return std::chrono::duration<double>(BenchClock::now() - start).count();
}

// The q-quantile (0..1) of `samples` (nearest rank); 0 for no samples.
inline double quantile(std::vector<double> samples, double q) {
  if (samples.empty()) return 0.0;
  std::sort(samples.begin(), samples.end());
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
  return samples[std::min(rank, samples.size() - 1)];
}

inline double median(std::vector<double> samples) { return quantile(std::move(samples), 0.5); }

// Tasks per second of `tasks` calls `fn(i)` submitted one by one to a started queue, then all
// waited on; three rounds per benchmark iteration, median of every round.
template <class Queue, class Fn>
double one_by_one_rate(benchmark::State& state, Queue& q, Fn fn, int tasks) {
  std::vector<double> rates;
  for (auto _ : state) {
    for (int round = 0; round < 3; ++round) {
      q.clear_results();
      std::vector<decltype(q.submit(fn, 0))> handles;
      handles.reserve(static_cast<std::size_t>(tasks));
      const auto start = BenchClock::now();
      for (int i = 0; i < tasks; ++i) handles.push_back(q.submit(fn, i));
      for (auto& h : handles) benchmark::DoNotOptimize(h.value());
      rates.push_back(tasks / seconds_since(start));
    }
  }
  return median(rates);
}

// Resident set size of this process in bytes (from /proc/self/statm).
inline double resident_bytes() {
  long pages_total = 0;
  long pages_resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(pages_resident) * 4096.0;
}

// Bytes per mebibyte, and a busy loop whose length is calibrated in the parent (identical work in
// every worker, so 1-worker and 2-worker runs compare the same amount of computation).
inline constexpr double kMiB = 1024.0 * 1024.0;

inline unsigned long long spin(unsigned long long iterations) {
  unsigned long long x = 88172645463325252ULL;
  for (unsigned long long i = 0; i < iterations; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

// The peak resident set size of this process in bytes (VmHWM in /proc/self/status).
inline double peak_resident_bytes() {
  double kib = 0;
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::sscanf(line, "VmHWM: %lf kB", &kib) == 1) break;
    }
    std::fclose(f);
  }
  return kib * 1024.0;
}

}  // namespace osiiso::bench
