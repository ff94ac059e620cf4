// SPDX-License-Identifier: MIT
// TaskResult: defaults, typed value access and copies.
#include <osiiso/task_result.hpp>

#include <catch2/catch.hpp>

#include <any>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

using namespace osiiso;

TEST_CASE("a default TaskResult holds no value", "[task_result]") {
  const TaskResult r;
  CHECK(r.status == TaskStatus::Cancelled);
  CHECK(r.attempts == 0);
  CHECK(r.priority == 3);
  CHECK_FALSE(r.must_complete);
  CHECK_FALSE(r.detached);
  CHECK_FALSE(r.group_id.has_value());
  CHECK_FALSE(r.started_at.has_value());
  CHECK_FALSE(r.scheduled_for.has_value());
  CHECK(r.duration.count() == 0.0);
  CHECK_FALSE(r.exception);
  CHECK_FALSE(r.has_value());
  CHECK_FALSE(r.any_value().has_value());
  CHECK_THROWS_AS(r.value<int>(), std::bad_any_cast);
}

TEST_CASE("TaskResult::value returns the stored value as its type", "[task_result]") {
  TaskResult r;
  r.status = TaskStatus::Succeeded;
  r.set_value(42);
  REQUIRE(r.has_value());
  CHECK(r.value<int>() == 42);
  CHECK(std::any_cast<int>(r.any_value()) == 42);

  r.set_value(std::vector<std::string>{"a", "b"});
  CHECK(r.value<std::vector<std::string>>() == std::vector<std::string>{"a", "b"});
}

TEST_CASE("TaskResult::value of the wrong type throws bad_any_cast", "[task_result]") {
  TaskResult r;
  r.set_value(42);
  CHECK_THROWS_AS(r.value<long>(), std::bad_any_cast);
  CHECK_THROWS_AS(r.value<std::string>(), std::bad_any_cast);
}

TEST_CASE("copies of a TaskResult carry the value and the exception", "[task_result]") {
  TaskResult r;
  r.name = "job";
  r.set_value(std::string("done"));
  r.exception = std::make_exception_ptr(std::runtime_error("boom"));

  const TaskResult copy = r;  // NOLINT(performance-unnecessary-copy-initialization): the copy is the test
  CHECK(copy.name == "job");
  CHECK(copy.value<std::string>() == "done");
  CHECK_THROWS_WITH(std::rethrow_exception(copy.exception), "boom");
}

TEST_CASE("copies of a TaskResult share its value without letting a change through", "[task_result]") {
  TaskResult r;
  r.set_value(std::vector<int>(1000, 7));
  const TaskResult copy = r;  // NOLINT(performance-unnecessary-copy-initialization): the copy is the test
  CHECK(&copy.value<std::vector<int>>() == &r.value<std::vector<int>>());
  r.set_value(1);
  CHECK(copy.value<std::vector<int>>().size() == 1000);
  r.set_value(std::any());
  CHECK_FALSE(r.has_value());
  CHECK(copy.has_value());
}
