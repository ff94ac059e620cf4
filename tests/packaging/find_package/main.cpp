// SPDX-License-Identifier: MIT
// Consumer of an installed (or vendored) osiiso: proves the headers, the library and its
// dependencies are all found through the osiiso::osiiso target.
#include <osiiso/osiiso.hpp>
#include <osiiso/version.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <string_view>
#include <vector>

namespace {

int failures = 0;

void check(bool condition, std::string_view what) {
  if (!condition) {
    fmt::print(stderr, "consumer check failed: {}\n", what);
    ++failures;
  }
}

int square(int n) { return n * n; }

osiiso::TaskResult result(const char* name, osiiso::TaskStatus status) {
  osiiso::TaskResult r;
  r.task_id = name;
  r.name = name;
  r.status = status;
  r.attempts = 1;
  return r;
}

}  // namespace

OSIISO_TASK(square);

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  osiiso::init(argc, argv);

  check(osiiso::version_string == OSIISO_EXPECTED_VERSION, "version.hpp matches the package version");

  const osiiso::TaskOptions options{.priority = 1, .timeout = 200ms, .retries = 2, .retry_delay = 1.5s};
  options.validate();
  check(fmt::format("{}", osiiso::Mode::Infinite) == "infinite", "enums format through fmt");

  auto ok = result("a", osiiso::TaskStatus::Succeeded);
  ok.set_value(42);
  const auto summary =
      osiiso::RunSummary::from_results({ok, result("b", osiiso::TaskStatus::Failed)}, osiiso::Clock::now(), false);
  check(summary.values<int>() == std::vector<int>{42}, "RunSummary::values");

  std::ostringstream report;
  summary.display(report);
  check(report.str().find("Run Summary: COMPLETED WITH ERRORS") != std::string::npos, "RunSummary::display");

  try {
    summary.raise_for_errors();
    check(false, "raise_for_errors throws");
  } catch (const osiiso::OsiisoError& e) {
    check(std::string_view(e.what()) == "1 task(s) failed", "ExecutionError message");
  }

  osiiso::ThreadQueue threads({.workers = 2});
  auto doubled = threads.map([](int n) { return 2 * n; }, std::vector{1, 2, 3});
  check(threads.run().values<int>().size() == 3 && doubled[2].value() == 6, "ThreadQueue runs lambdas");

  for (const char* method : {"fork", "spawn"}) {
    osiiso::ProcessQueue processes({.workers = 2, .context = osiiso::get_context(method)});
    auto squares = processes.map(square, std::vector{3, 4});
    check(processes.run().ok() && squares[1].value() == 16, fmt::format("ProcessQueue ({}) runs square", method));
  }

  if (failures == 0) fmt::print("osiiso {} consumed OK\n", osiiso::version_string);
  return failures == 0 ? 0 : 1;
}
