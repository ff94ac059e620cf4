// SPDX-License-Identifier: MIT
// A first look at osiiso's value types: a RunSummary built from hand-made results.
#include <osiiso/enums.hpp>
#include <osiiso/errors.hpp>
#include <osiiso/run_summary.hpp>
#include <osiiso/task_result.hpp>
#include <osiiso/version.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace {

osiiso::TaskResult make_result(int n, osiiso::TaskStatus status, std::size_t attempts) {
  osiiso::TaskResult r;
  r.task_id = fmt::format("{:08x}", n);
  r.name = "compute";
  r.status = status;
  r.attempts = attempts;
  if (status == osiiso::TaskStatus::Succeeded) r.set_value(n * n);
  if (status == osiiso::TaskStatus::Failed) r.message = fmt::format("std::invalid_argument: bad input {}", n);
  return r;
}

}  // namespace

int main() {
  using namespace std::chrono_literals;
  fmt::print("osiiso {}\n", osiiso::version_string);

  std::vector<osiiso::TaskResult> results;
  for (int n = 1; n <= 5; ++n) results.push_back(make_result(n, osiiso::TaskStatus::Succeeded, 1));
  results.push_back(make_result(6, osiiso::TaskStatus::Failed, 3));

  const auto summary = osiiso::RunSummary::from_results(std::move(results), osiiso::Clock::now() - 250ms, false);
  summary.display();

  fmt::print("values:");
  for (int v : summary.values<int>()) fmt::print(" {}", v);
  fmt::print("\n");

  try {
    summary.raise_for_errors();
  } catch (const osiiso::ExecutionError& e) {
    fmt::print("raise_for_errors(): {} (first: {}, {})\n", e.what(), e.results().front().task_id,
               e.results().front().status);
  }
  return 0;
}
