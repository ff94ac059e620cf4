// SPDX-License-Identifier: MIT
// RunSummary: counts, queries, raise_for_errors and the display() report.
#include <osiiso/run_summary.hpp>

#include "../helpers.hpp"

#include <osiiso/errors.hpp>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <stdexcept>

#include <algorithm>
#include <any>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace osiiso;
using namespace std::chrono_literals;
using test::lines_of;
using test::make_result;
using test::make_success;

namespace {

bool has_line(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

std::vector<std::string> display_lines(const RunSummary& s) {
  std::ostringstream os;
  s.display(os);
  return lines_of(os.str());
}

// Two successes, one failure after three attempts, two cancellations, in two groups.
RunSummary mixed_summary() {
  return RunSummary::from_results({make_success("square", 1, "g1"), make_result("flaky", TaskStatus::Failed, 3, "g1"),
                                   make_success("square", 4, "g2"), make_result("slow", TaskStatus::Cancelled, 0),
                                   make_result("slow", TaskStatus::Cancelled, 1, "g2")},
                                  Clock::now(), false);
}

}  // namespace

TEST_CASE("from_results counts statuses and keeps order", "[run_summary]") {
  const auto started = Clock::now() - 2s;
  const auto s = RunSummary::from_results(
      {make_success("a", 1), make_result("b", TaskStatus::Failed), make_result("c", TaskStatus::Cancelled)}, started,
      true);
  CHECK(s.total_submitted == 3);
  CHECK(s.succeeded == 1);
  CHECK(s.failed == 1);
  CHECK(s.cancelled == 1);
  CHECK(s.timed_out);
  CHECK(s.duration >= 2s);
  REQUIRE(s.results.size() == 3);
  CHECK(s.results[0].name == "a");
  CHECK(s.results[1].name == "b");
  CHECK(s.results[2].name == "c");
}

TEST_CASE("an empty summary is ok", "[run_summary]") {
  const auto s = RunSummary::from_results({}, Clock::now(), false);
  CHECK(s.total_submitted == 0);
  CHECK(s.ok());
  CHECK(s.values<int>().empty());
  CHECK_NOTHROW(s.raise_for_errors(true));
}

TEST_CASE("ok() needs no failure, no cancellation and no timeout", "[run_summary]") {
  CHECK(RunSummary::from_results({make_success("a", 1)}, Clock::now(), false).ok());
  CHECK_FALSE(RunSummary::from_results({make_success("a", 1)}, Clock::now(), true).ok());
  CHECK_FALSE(RunSummary::from_results({make_result("a", TaskStatus::Failed)}, Clock::now(), false).ok());
  CHECK_FALSE(RunSummary::from_results({make_result("a", TaskStatus::Cancelled)}, Clock::now(), false).ok());
}

TEST_CASE("errors, successes and cancellations filter by status", "[run_summary]") {
  const auto s = mixed_summary();
  CHECK(s.total_submitted == 5);
  CHECK(s.succeeded == 2);
  CHECK(s.failed == 1);
  CHECK(s.cancelled == 2);
  CHECK_FALSE(s.ok());

  const auto errors = s.errors();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].name == "flaky");
  const auto successes = s.successes();
  REQUIRE(successes.size() == 2);
  CHECK(successes[0].value<int>() == 1);
  CHECK(successes[1].value<int>() == 4);
  const auto cancellations = s.cancellations();
  REQUIRE(cancellations.size() == 2);
  CHECK(cancellations[0].status == TaskStatus::Cancelled);
}

TEST_CASE("values<T>() gives succeeded values in result order", "[run_summary]") {
  const auto s = mixed_summary();
  CHECK(s.values<int>() == std::vector<int>{1, 4});
  CHECK_THROWS_AS(s.values<std::string>(), std::bad_any_cast);
}

TEST_CASE("by_task_id, by_name and by_group index the results", "[run_summary]") {
  const auto s = mixed_summary();

  const auto by_id = s.by_task_id();
  REQUIRE(by_id.size() == 5);
  for (const auto& r : s.results) {
    REQUIRE(by_id.count(r.task_id) == 1);
    CHECK(by_id.at(r.task_id).name == r.name);
  }

  const auto by_name = s.by_name();
  REQUIRE(by_name.size() == 3);
  CHECK(by_name.at("square").size() == 2);
  CHECK(by_name.at("square")[1].value<int>() == 4);
  CHECK(by_name.at("flaky").size() == 1);
  CHECK(by_name.at("slow").size() == 2);

  const auto by_group = s.by_group();
  REQUIRE(by_group.size() == 3);
  CHECK(by_group.at("g1").size() == 2);
  CHECK(by_group.at("g2").size() == 2);
  REQUIRE(by_group.count(std::nullopt) == 1);
  CHECK(by_group.at(std::nullopt).size() == 1);
  CHECK(by_group.at(std::nullopt)[0].name == "slow");
}

TEST_CASE("raise_for_errors throws ExecutionError with the failed results", "[run_summary][errors]") {
  const auto s =
      RunSummary::from_results({make_success("a", 1), make_result("b", TaskStatus::Failed),
                                make_result("c", TaskStatus::Cancelled), make_result("d", TaskStatus::Cancelled)},
                               Clock::now(), false);

  SECTION("failures only by default") {
    try {
      s.raise_for_errors();
      FAIL("raise_for_errors did not throw");
    } catch (const ExecutionError& e) {
      CHECK(std::string(e.what()) == "1 task(s) failed");
      REQUIRE(e.results().size() == 1);
      CHECK(e.results()[0].name == "b");
    }
  }

  SECTION("cancellations too when asked") {
    try {
      s.raise_for_errors(true);
      FAIL("raise_for_errors did not throw");
    } catch (const ExecutionError& e) {
      CHECK(std::string(e.what()) == "1 task(s) failed; 2 task(s) cancelled");
      REQUIRE(e.results().size() == 3);
      CHECK(e.results()[0].name == "b");
      CHECK(e.results()[1].name == "c");
      CHECK(e.results()[2].name == "d");
    }
  }

  SECTION("it is an OsiisoError") { CHECK_THROWS_AS(s.raise_for_errors(), OsiisoError); }
}

TEST_CASE("raise_for_errors ignores cancellations unless asked", "[run_summary][errors]") {
  const auto s =
      RunSummary::from_results({make_success("a", 1), make_result("c", TaskStatus::Cancelled)}, Clock::now(), false);
  CHECK_NOTHROW(s.raise_for_errors());
  CHECK_THROWS_MATCHES(s.raise_for_errors(true), ExecutionError, Catch::Matchers::Message("1 task(s) cancelled"));
  CHECK_NOTHROW(RunSummary::from_results({make_success("a", 1)}, Clock::now(), false).raise_for_errors(true));
}

TEST_CASE("display() reports a passing run", "[run_summary][display]") {
  auto s =
      RunSummary::from_results({make_success("a", 1), make_success("b", 2), make_success("c", 3)}, Clock::now(), false);
  s.duration = 1.5s;
  const auto lines = display_lines(s);
  CHECK(has_line(lines, "  Run Summary: PASSED"));
  CHECK(has_line(lines, "  Total tasks : 3"));
  CHECK(has_line(lines, "  Succeeded   : 3"));
  CHECK(has_line(lines, "  Failed      : 0"));
  CHECK(has_line(lines, "  Cancelled   : 0"));
  CHECK(has_line(lines, "  Duration    : 1.500s"));
  CHECK_FALSE(has_line(lines, "  Failures:"));
}

TEST_CASE("display() lists failures with their type, message, attempts and tasks", "[run_summary][display]") {
  auto flaky = make_result("flaky", TaskStatus::Failed, 3);
  flaky.message = "bad input";
  flaky.exception = std::make_exception_ptr(std::invalid_argument("bad input"));
  auto once = make_result("once", TaskStatus::Failed, 1);
  const auto s = RunSummary::from_results({make_success("ok", 1), flaky, once}, Clock::now(), false);
  const auto lines = display_lines(s);
  CHECK(has_line(lines, "  Run Summary: COMPLETED WITH ERRORS"));
  CHECK(has_line(lines, "  Total tasks : 3"));
  CHECK(has_line(lines, "  Failed      : 2"));
  CHECK(has_line(lines, "  Failures (2 distinct):"));
  CHECK(has_line(lines, "    1 × std::invalid_argument: bad input"));
  CHECK(has_line(lines, "      tasks: flaky (3 attempts)"));
  CHECK(has_line(lines, "    1 × (no message)"));
  CHECK(has_line(lines, "      tasks: once"));
}

namespace {
TaskResult worker_death(int pid) {
  auto r = make_result("crash", TaskStatus::Failed, 1, "batch");
  r.message = fmt::format("ProcessQueue worker (pid {}) was killed by signal 11 (SIGSEGV)", pid);
  r.exception = std::make_exception_ptr(WorkerDiedError(r.message));
  return r;
}
}  // namespace

TEST_CASE("display() groups thousands of failures into a few lines", "[run_summary][display]") {
  std::vector<TaskResult> results;
  for (int i = 0; i < 2991; ++i) results.push_back(worker_death(1000 + i));
  for (int i = 0; i < 9; ++i) {
    auto r = make_result(fmt::format("parse{}", i), TaskStatus::Failed, 2);
    r.message = fmt::format("line {}: unexpected token '{}'", i, static_cast<char>('a' + i));
    r.exception = std::make_exception_ptr(std::runtime_error(r.message));
    results.push_back(std::move(r));
  }
  const auto s = RunSummary::from_results(std::move(results), Clock::now(), false);
  std::ostringstream os;
  s.display(os, {.max_failures = 3, .max_names = 2});
  const auto lines = lines_of(os.str());
  CHECK(lines.size() < 30);
  CHECK(has_line(lines, "  Failed      : 3,000"));
  CHECK(has_line(lines, "  Failures (10 distinct):"));
  CHECK(has_line(lines,
                 "    2,991 × WorkerDiedError: ProcessQueue worker (pid 1000) was killed by signal 11 (SIGSEGV) (and "
                 "similar)"));
  CHECK(has_line(lines, "      tasks: crash ×2,991"));
  CHECK(has_line(lines, "    1 × std::runtime_error: line 0: unexpected token 'a'"));
  CHECK(has_line(lines, "      tasks: parse0 (2 attempts)"));
  CHECK(has_line(lines, "    and 7 more distinct failure(s) (7 task(s))"));
  CHECK(has_line(lines, "  Groups (1):"));
  CHECK(has_line(lines, "    batch: 2,991 task(s), 0 succeeded, 2,991 failed, 0 cancelled"));
}

TEST_CASE("display() names timed-out and cancelled tasks, and lists the slowest", "[run_summary][display]") {
  auto slow = make_result("slow", TaskStatus::Failed, 1);
  slow.exception = std::make_exception_ptr(TimeoutError("task 'slow' exceeded its timeout of 0.1s"));
  slow.message = "task 'slow' exceeded its timeout of 0.1s";
  std::vector<TaskResult> results{slow};
  for (int i = 0; i < 7; ++i) results.push_back(make_result(fmt::format("c{}", i), TaskStatus::Cancelled, 0));
  const auto now = Clock::now();
  for (int i = 1; i <= 4; ++i) {
    auto r = make_success(fmt::format("run{}", i), i);
    r.started_at = now;
    r.duration = Seconds(0.5 * i);
    results.push_back(std::move(r));
  }
  const auto s = RunSummary::from_results(std::move(results), now, false);
  const auto lines = display_lines(s);
  CHECK(has_line(lines, "  Timed out   : 1 (slow)"));
  CHECK(has_line(lines, "    1 × TimeoutError: task 'slow' exceeded its timeout of 0.1s"));
  CHECK(has_line(lines, "  Cancelled tasks: c0, c1, c2, c3, c4, and 2 more"));
  CHECK(has_line(lines, "  Slowest:"));
  REQUIRE(std::find(lines.begin(), lines.end(), "  Slowest:") + 3 < lines.end());
  const auto slowest = std::find(lines.begin(), lines.end(), "  Slowest:");
  CHECK(slowest[1].starts_with("    2.000s  run4 ["));
  CHECK(slowest[2].starts_with("    1.500s  run3 ["));
  CHECK(slowest[3].starts_with("    1.000s  run2 ["));
}

TEST_CASE("a RunSummary, a TaskResult and a status format through fmt", "[run_summary][display]") {
  auto flaky = make_result("flaky", TaskStatus::Failed, 3);
  flaky.message = "bad input";
  flaky.exception = std::make_exception_ptr(std::invalid_argument("bad input"));
  const auto s = RunSummary::from_results({make_success("ok", 1), flaky}, Clock::now(), false);
  std::ostringstream os;
  s.display(os);
  CHECK(fmt::format("{}", s) == os.str());
  CHECK(fmt::format("{}", s.results[1]) ==
        fmt::format("flaky [{}] failed after 3 attempts: std::invalid_argument: bad input", s.results[1].task_id));
  CHECK(fmt::format("{}", s.results[0]) == fmt::format("ok [{}] succeeded in 0.000s", s.results[0].task_id));
  CHECK(fmt::format("{}", TaskStatus::Retrying) == "retrying");
}

TEST_CASE("to_json() gives the counts, the failure groups and every result", "[run_summary][json]") {
  auto bad = make_result("quote\"d", TaskStatus::Failed, 2, "g1");
  bad.message = "line\nbreak";
  bad.exception = std::make_exception_ptr(std::runtime_error(bad.message));
  auto s = RunSummary::from_results({make_success("ok", 1), bad}, Clock::now(), false);
  s.duration = Seconds(1.5);
  const std::string json = s.to_json();
  CHECK(json.starts_with(
      R"({"ok":false,"timed_out":false,"total_submitted":2,"succeeded":1,"failed":1,"cancelled":0,"duration":1.5,)"));
  CHECK_THAT(json,
             Catch::Matchers::Contains(fmt::format(
                 R"("failures":[{{"count":1,"type":"std::runtime_error","message":"line\nbreak","task_ids":["{}"]}}])",
                 bad.task_id)));
  CHECK_THAT(json,
             Catch::Matchers::Contains(
                 R"("name":"quote\"d","status":"failed","attempts":2,"priority":3,"duration":0,"group_id":"g1")"));
  CHECK_THAT(json, Catch::Matchers::Contains(
                       R"("group_id":null,"message":"","error_type":null,"worker_pid":null,"rank":null,"host":null})"));
  CHECK(json.ends_with("}]}"));
}

TEST_CASE("where a task ran is in its text, the report and the JSON", "[run_summary][display]") {
  auto on_rank = [](std::string name, int rank, std::string host) {
    auto r = make_success(std::move(name), 1);
    r.worker_pid = 4242;
    r.rank = rank;
    r.host = std::move(host);
    return r;
  };
  const auto a = on_rank("a", 1, "node-a");
  CHECK_THAT(osiiso::to_string(a), Catch::Matchers::EndsWith(" (rank 1, host node-a)"));
  const auto s = RunSummary::from_results(
      {a, on_rank("b", 2, "node-b"), on_rank("c", 1, "node-a"), make_success("d", 1)}, Clock::now(), false);
  const auto lines = display_lines(s);
  CHECK(std::find(lines.begin(), lines.end(), "  Ranks       : 1 (node-a) ×2, 2 (node-b) ×1") != lines.end());
  CHECK_THAT(s.to_json(), Catch::Matchers::Contains(R"("worker_pid":4242,"rank":2,"host":"node-b"})"));
  const auto local = RunSummary::from_results({make_success("d", 1)}, Clock::now(), false);
  for (const auto& line : display_lines(local)) CHECK_THAT(line, !Catch::Matchers::Contains("Ranks"));
}

TEST_CASE("display() reports a timed-out run", "[run_summary][display]") {
  const auto s =
      RunSummary::from_results({make_success("a", 1), make_result("b", TaskStatus::Cancelled)}, Clock::now(), true);
  const auto lines = display_lines(s);
  CHECK(has_line(lines, "  Run Summary: TIMED OUT"));
  CHECK(has_line(lines, "  Cancelled   : 1"));
}

TEST_CASE("display() writes to std::cout by default", "[run_summary][display]") {
  const auto s = RunSummary::from_results({}, Clock::now(), false);
  std::ostringstream captured;
  auto* old = std::cout.rdbuf(captured.rdbuf());
  s.display();
  std::cout.rdbuf(old);
  CHECK(has_line(lines_of(captured.str()), "  Run Summary: PASSED"));
}
