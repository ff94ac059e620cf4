// SPDX-License-Identifier: MIT
// The physical limit on this machine: a blocking pipe ping-pong between two processes pinned to
// different CPUs (16 B, 1 MiB and 64 MiB messages, default and 1 MiB pipe buffers), one memcpy of
// 64 MiB into fresh memory, and fork/exec cost.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common.hpp"

namespace {

using osiiso::bench::BenchClock;
using osiiso::bench::seconds_since;

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % CPU_SETSIZE, &set);
  ::sched_setaffinity(0, sizeof set, &set);
}

void unpin() {
  cpu_set_t set;
  CPU_ZERO(&set);
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  for (long i = 0; i < cpus; ++i) CPU_SET(static_cast<int>(i), &set);
  ::sched_setaffinity(0, sizeof set, &set);
}

bool read_all(int fd, char* data, std::size_t size) {
  while (size > 0) {
    const auto n = ::read(fd, data, size);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const auto n = ::write(fd, data, size);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Round trips of `message` bytes out and 8 bytes back, timed one by one.
std::vector<double> ping_pong(std::size_t message, bool big_buffer, int rounds) {
  int to_child[2];
  int to_parent[2];
  if (::pipe(to_child) != 0 || ::pipe(to_parent) != 0) std::abort();
  if (big_buffer) {
    ::fcntl(to_child[1], F_SETPIPE_SZ, 1 << 20);
    ::fcntl(to_parent[1], F_SETPIPE_SZ, 1 << 20);
  }
  const int cpus = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(to_child[1]);  // so that the parent's close is our end of file
    ::close(to_parent[0]);
    pin(cpus > 1 ? 1 : 0);
    std::vector<char> buffer(message);
    char ack[8] = {};
    while (read_all(to_child[0], buffer.data(), message)) {
      if (!write_all(to_parent[1], ack, sizeof ack)) break;
    }
    ::_exit(0);
  }
  pin(0);
  std::vector<char> buffer(message, 'x');
  char ack[8];
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(rounds));
  for (int i = 0; i < rounds; ++i) {
    const auto start = BenchClock::now();
    write_all(to_child[1], buffer.data(), message);
    read_all(to_parent[0], ack, sizeof ack);
    samples.push_back(seconds_since(start));
  }
  ::close(to_child[1]);
  ::waitpid(pid, nullptr, 0);
  ::close(to_child[0]);
  ::close(to_parent[0]);
  ::close(to_parent[1]);
  unpin();
  return samples;
}

void pipe_16B(benchmark::State& state, bool big_buffer) {
  std::vector<double> samples;
  for (auto _ : state) samples = ping_pong(16, big_buffer, 20000);
  state.counters["median_us"] = osiiso::bench::median(samples) * 1e6;
  state.counters["p99_us"] = osiiso::bench::quantile(samples, 0.99) * 1e6;
}

void pipe_1MiB(benchmark::State& state, bool big_buffer) {
  std::vector<double> samples;
  for (auto _ : state) samples = ping_pong(std::size_t{1} << 20, big_buffer, 300);
  state.counters["median_us"] = osiiso::bench::median(samples) * 1e6;
  state.counters["GB_per_s"] = osiiso::bench::kMiB / osiiso::bench::median(samples) / 1e9;
}

void pipe_64MiB(benchmark::State& state) {
  std::vector<double> samples;
  for (auto _ : state) samples = ping_pong(std::size_t{64} << 20, false, 20);
  state.counters["ms"] = osiiso::bench::median(samples) * 1e3;
  state.counters["GB_per_s"] = 64 * osiiso::bench::kMiB / osiiso::bench::median(samples) / 1e9;
}

// One memcpy of 64 MiB into memory freshly mapped (each page faulted in by the copy): what any
// transfer into a new 64 MiB object costs at least.
void memcpy_64MiB_fresh(benchmark::State& state) {
  constexpr std::size_t kSize = std::size_t{64} << 20;
  const std::vector<char> source(kSize, 'x');
  std::vector<double> samples;
  for (auto _ : state) {
    for (int i = 0; i < 20; ++i) {
      void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) std::abort();
      const auto start = BenchClock::now();
      std::memcpy(p, source.data(), kSize);
      benchmark::DoNotOptimize(p);
      benchmark::ClobberMemory();
      samples.push_back(seconds_since(start) * 1e3);
      ::munmap(p, kSize);
    }
  }
  state.counters["ms"] = osiiso::bench::median(samples);
  state.counters["GB_per_s"] = static_cast<double>(kSize) / (osiiso::bench::median(samples) / 1e3) / 1e9;
}

// fork + _exit + waitpid; and fork + exec of /bin/true + waitpid.
void fork_exec(benchmark::State& state, bool exec) {
  std::vector<double> samples;
  for (auto _ : state) {
    for (int i = 0; i < 200; ++i) {
      const auto start = BenchClock::now();
      const pid_t pid = ::fork();
      if (pid == 0) {
        if (exec) {
          char* const argv[] = {const_cast<char*>("true"), nullptr};
          ::execv("/bin/true", argv);
        }
        ::_exit(0);
      }
      ::waitpid(pid, nullptr, 0);
      samples.push_back(seconds_since(start) * 1e3);
    }
  }
  state.counters["ms"] = osiiso::bench::median(samples);
}

}  // namespace

BENCHMARK_CAPTURE(pipe_16B, default_buffer, false)->Name("pipe/16B_default")->Iterations(1);
BENCHMARK_CAPTURE(pipe_16B, big_buffer, true)->Name("pipe/16B_1MiB_buffer")->Iterations(1);
BENCHMARK_CAPTURE(pipe_1MiB, default_buffer, false)->Name("pipe/1MiB_default")->Iterations(1);
BENCHMARK_CAPTURE(pipe_1MiB, big_buffer, true)->Name("pipe/1MiB_1MiB_buffer")->Iterations(1);
BENCHMARK(pipe_64MiB)->Name("pipe/64MiB_default")->Iterations(1);
BENCHMARK(memcpy_64MiB_fresh)->Name("pipe/memcpy_64MiB_fresh")->Iterations(1);
BENCHMARK_CAPTURE(fork_exec, fork, false)->Name("pipe/fork")->Iterations(1);
BENCHMARK_CAPTURE(fork_exec, exec, true)->Name("pipe/fork_exec")->Iterations(1);
