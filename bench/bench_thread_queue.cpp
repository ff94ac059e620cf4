// SPDX-License-Identifier: MIT
// ThreadQueue against a plain std::thread + mutex + condition_variable queue: 100,000 trivial
// tasks submitted one by one and waited on, with 2 workers.
#include <benchmark/benchmark.h>
#include <osiiso/osiiso.hpp>
#include <osiiso/thread_queue.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "common.hpp"

namespace {

using osiiso::bench::BenchClock;
using osiiso::bench::seconds_since;

constexpr int kTasks = 100000;

int noop(int x) { return x; }

void thread_queue(benchmark::State& state) {
  osiiso::ThreadQueue q({.workers = 2});
  q.start();
  state.counters["tasks_per_s"] = osiiso::bench::one_by_one_rate(state, q, noop, kTasks);
}

// The baseline: what a hand-written pool with one lock and std::packaged_task costs.
class PlainPool {
 public:
  explicit PlainPool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { serve(); });
  }
  PlainPool(const PlainPool&) = delete;
  PlainPool& operator=(const PlainPool&) = delete;
  ~PlainPool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  std::future<int> submit(int x) {
    std::packaged_task<int()> task([x] { return noop(x); });
    auto future = task.get_future();
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    return future;
  }

 private:
  void serve() {
    for (;;) {
      std::packaged_task<int()> task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<int()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

void plain_threads(benchmark::State& state) {
  PlainPool pool(2);
  std::vector<double> rates;
  for (auto _ : state) {
    for (int round = 0; round < 3; ++round) {
      std::vector<std::future<int>> futures;
      futures.reserve(kTasks);
      const auto start = BenchClock::now();
      for (int i = 0; i < kTasks; ++i) futures.push_back(pool.submit(i));
      for (auto& f : futures) benchmark::DoNotOptimize(f.get());
      rates.push_back(kTasks / seconds_since(start));
    }
  }
  state.counters["tasks_per_s"] = osiiso::bench::median(rates);
}

}  // namespace

BENCHMARK(thread_queue)->Name("threads/ThreadQueue")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(plain_threads)->Name("threads/std_thread_mutex")->Iterations(1)->Unit(benchmark::kMillisecond);
