// SPDX-License-Identifier: MIT
// A parameter sweep across an MPI job: `mpirun -np 3 ./mpi_farm` (rank 0 submits, ranks 1 and 2
// run the tasks in their own worker processes). A few inputs hit a native bug and segfault, a few
// make the solver spin forever: each costs one worker on one rank, is reported with where it
// happened, and the sweep finishes with every other result.
#include <osiiso/mpi_queue.hpp>
#include <osiiso/osiiso.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <map>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct Sample {
  int input = 0;
  double value = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& input& value;
  }
};

// A toy solver: integrates sin(x)·x^k over [0, 1] by the midpoint rule. Inputs divisible by 17
// reach a (simulated) native bug; inputs divisible by 23 never converge.
Sample solve(int k) {
  if (k % 17 == 0) std::raise(SIGSEGV);
  if (k % 23 == 0) {
    volatile std::uint64_t state = static_cast<std::uint64_t>(k);
    for (;;) state = state * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  constexpr int steps = 200'000;
  double sum = 0;
  for (int i = 0; i < steps; ++i) {
    const double x = (i + 0.5) / steps;
    sum += std::sin(x) * std::pow(x, k % 7);
  }
  return {k, sum / steps};
}

}  // namespace

OSIISO_TASK(solve);

int main(int argc, char** argv) {
  osiiso::mpi::init(argc, argv);  // ranks other than 0 serve tasks here until rank 0 is done

  osiiso::MpiQueue q({.workers_per_rank = 1, .on_complete = [](const osiiso::TaskResult& r) {
                        if (r.status == osiiso::TaskStatus::Failed) fmt::print("  failed: {}\n", r);
                      }});
  fmt::print("sweeping 60 inputs over {} serving rank(s)\n", q.ranks());
  std::vector<int> inputs;
  for (int k = 1; k <= 60; ++k) inputs.push_back(k);
  auto handles = q.map({.timeout = 2s}, solve, inputs);
  const osiiso::RunSummary summary = q.run();

  std::map<int, int> per_rank;
  double total = 0;
  for (auto& h : handles) {
    if (h.result().status != osiiso::TaskStatus::Succeeded) continue;
    total += h.value().value;
    ++per_rank[h.result().rank.value_or(-1)];
  }
  for (const auto& [rank, count] : per_rank) fmt::print("rank {} solved {} inputs\n", rank, count);
  fmt::print("sum of the solved integrals: {:.6f}\n", total);
  summary.display();
  // 3 inputs crash (17, 34, 51) and 2 spin (23, 46): everything else must have come back.
  return summary.succeeded == 55 && summary.failed == 5 ? 0 : 1;
}
