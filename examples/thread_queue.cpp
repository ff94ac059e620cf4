// SPDX-License-Identifier: MIT
// ThreadQueue tour: priorities, retries, a per-task timeout honoured through std::stop_token,
// a heterogeneous group and the run summary.
#include <osiiso/osiiso.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::string fetch(int page) {
  std::this_thread::sleep_for(20ms);  // stands in for blocking I/O
  return fmt::format("page {}", page);
}

int add(int a, int b) { return a + b; }

}  // namespace

int main() {
  std::atomic<int> flaky_calls{0};
  osiiso::ThreadQueue queue({
      .workers = 4,
      .on_retry = [](const osiiso::SyncTaskHandle<>& h,
                     std::exception_ptr) { fmt::print("retrying {} after attempt {}\n", h.name(), h.attempts()); },
  });

  auto pages = queue.map({.name = "fetch"}, fetch, std::vector{1, 2, 3, 4, 5});
  auto urgent = queue.submit({.priority = 0, .name = "urgent"}, fetch, 99);
  auto flaky = queue.submit({.retries = 2, .retry_delay = 50ms, .name = "flaky"}, [&flaky_calls] {
    if (++flaky_calls < 3) throw std::runtime_error("transient failure");
    return flaky_calls.load();
  });
  auto slow = queue.submit({.timeout = 100ms, .name = "slow"}, [](std::stop_token stop) {
    while (!stop.stop_requested()) std::this_thread::sleep_for(5ms);
    return 0;
  });
  auto mixed = queue.group({.group_id = "mixed"}, {osiiso::call(fetch, 7), osiiso::call(add, 2, 3)});

  osiiso::RunSummary summary = queue.run();
  summary.display();

  fmt::print("urgent: {}\n", urgent.value());
  fmt::print("flaky succeeded after {} attempts with {}\n", flaky.attempts(), flaky.value());
  fmt::print("slow: {}\n", slow.result().message);
  fmt::print("first page: {}, group of {} tasks\n", pages.front().value(), mixed.size());
  return summary.failed == 1 ? 0 : 1;
}
