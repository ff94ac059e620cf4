// SPDX-License-Identifier: MIT
// The main demo: CPU-heavy tasks in worker processes. One task crashes with a segfault, one
// spins past its timeout and is killed, one fails once and succeeds on retry; the rest of the
// work is unaffected and the application carries on.
#include <osiiso/osiiso.hpp>

#include <fmt/format.h>

#include <unistd.h>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Counts primes below n by trial division: honest CPU work.
std::int64_t count_primes(std::int64_t n) {
  std::int64_t count = 0;
  for (std::int64_t i = 2; i < n; ++i) {
    bool prime = true;
    for (std::int64_t d = 2; d * d <= i; ++d) {
      if (i % d == 0) {
        prime = false;
        break;
      }
    }
    count += prime ? 1 : 0;
  }
  return count;
}

// A native bug: the worker process running it dies of SIGSEGV.
int crash(int) {
  std::raise(SIGSEGV);
  return 0;
}

// A hung computation: spins forever without ever checking anything.
std::int64_t spin(std::int64_t seed) {
  volatile std::int64_t x = seed;
  for (;;) x = x * 6364136223846793005LL + 1442695040888963407LL;
}

// Fails on its first attempt (leaving a marker file) and succeeds on the next one.
std::string flaky(std::string marker) {
  if (!std::filesystem::exists(marker)) {
    std::ofstream(marker) << "attempted";
    throw std::runtime_error("transient failure, try again");
  }
  std::filesystem::remove(marker);
  return "recovered on retry";
}

}  // namespace

OSIISO_TASK(count_primes);
OSIISO_TASK(crash);
OSIISO_TASK(spin);
OSIISO_TASK(flaky);

int main(int argc, char** argv) {
  osiiso::init(argc, argv);  // a no-op here; serves tasks when this binary is a spawned worker

  osiiso::ProcessQueue queue({.workers = 2});
  auto primes = queue.map({.name = "count_primes"}, count_primes, std::vector<std::int64_t>{200'000, 300'000, 400'000});
  auto crashed = queue.submit(crash, 1);
  auto hung = queue.submit({.timeout = 300ms}, spin, 7);
  const std::string marker =
      (std::filesystem::temp_directory_path() / fmt::format("osiiso-demo-{}", ::getpid())).string();
  auto retried = queue.submit({.retries = 1}, flaky, marker);

  osiiso::RunSummary summary = queue.run();
  summary.display();

  for (const auto& h : primes) fmt::print("{} -> {}\n", h.name(), h.value());
  fmt::print("crash:  {}\n", crashed.result().message);
  fmt::print("spin:   {}\n", hung.result().message);
  fmt::print("flaky:  {} after {} attempts\n", retried.value(), retried.attempts());
  return summary.succeeded == 4 && summary.failed == 2 ? 0 : 1;
}
