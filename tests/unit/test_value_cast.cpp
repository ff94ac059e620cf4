// SPDX-License-Identifier: MIT
// BadValueCast: a value read as the wrong type names the task and both types.
#include <osiiso/detail/value_cast.hpp>

#include <osiiso/detail/task_state.hpp>
#include <osiiso/run_summary.hpp>
#include <osiiso/task_handle.hpp>
#include <osiiso/task_result.hpp>

#include "../helpers.hpp"

#include <catch2/catch.hpp>

#include <any>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <typeinfo>

using osiiso::TaskStatus;
using osiiso::test::make_result;
using osiiso::test::make_success;

TEST_CASE("TaskResult::value of the wrong type names the task and both types", "[value_cast]") {
  const auto r = make_success("square", 49);
  CHECK_THROWS_AS(r.value<long>(), osiiso::BadValueCast);
  CHECK_THROWS_WITH(r.value<long>(),
                    "TaskResult::value<long>(): task 'square' holds a value of type int, not long; read it as "
                    "value<int>()");
  CHECK_THROWS_WITH(r.value<double>(), Catch::Contains("holds a value of type int, not double"));
}

TEST_CASE("BadValueCast is a std::bad_any_cast, so code written against std::any_cast still catches it",
          "[value_cast]") {
  const auto r = make_success("square", 49);
  CHECK_THROWS_AS(r.value<long>(), std::bad_any_cast);
  try {
    (void)r.value<long>();
    FAIL("no exception");
  } catch (const std::exception& e) {  // one std::exception base: catching it by that type works too
    CHECK_THAT(std::string(e.what()), Catch::Contains("not long"));
  }
}

TEST_CASE("TaskResult::value of a result without a value says why", "[value_cast]") {
  CHECK_THROWS_WITH(make_result("job", TaskStatus::Succeeded).value<int>(),
                    "TaskResult::value<int>(): task 'job' holds no value (its function returns void); check "
                    "has_value() first");
  CHECK_THROWS_WITH(
      make_result("job", TaskStatus::Failed).value<int>(),
      Catch::Contains("task 'job' holds no value (it failed; its exception is in TaskResult::exception)"));
  CHECK_THROWS_WITH(make_result("job", TaskStatus::Cancelled).value<int>(),
                    Catch::Contains("task 'job' holds no value (it was cancelled)"));
}

TEST_CASE("RunSummary::values of the wrong type names the first mismatching task", "[value_cast]") {
  auto summary = osiiso::RunSummary::from_results({make_success("square", 4), make_success("label", std::string("x"))},
                                                  osiiso::Clock::now(), false);
  CHECK_THROWS_AS(summary.values<int>(), std::bad_any_cast);
  CHECK_THROWS_WITH(summary.values<int>(), Catch::StartsWith("TaskResult::value<int>(): task 'label' holds a value "
                                                             "of type std::__cxx11::basic_string<char"));
  CHECK_THROWS_WITH(summary.values<long>(), Catch::Contains("task 'square' holds a value of type int, not long"));
}

TEST_CASE("SyncTaskHandle::value of a value of another type names both types", "[value_cast]") {
  auto state = std::make_shared<osiiso::detail::TaskState>();
  state->name = "square";
  state->status = TaskStatus::Succeeded;
  state->result = std::make_unique<const osiiso::TaskResult>(make_success("square", 49));
  const osiiso::SyncTaskHandle<long> h(state);
  CHECK_THROWS_AS(h.value(), osiiso::BadValueCast);
  CHECK_THROWS_WITH(h.value(), "SyncTaskHandle<long>::value(): task 'square' holds a value of type int, not long");
  CHECK(std::any_cast<int>(osiiso::SyncTaskHandle<>(h).value()) == 49);
}
