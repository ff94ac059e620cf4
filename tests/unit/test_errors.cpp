// SPDX-License-Identifier: MIT
// The exception hierarchy: every error is an OsiisoError and a std::runtime_error.
#include <osiiso/errors.hpp>

#include "../helpers.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <type_traits>

using namespace osiiso;

TEMPLATE_TEST_CASE("every osiiso error derives from OsiisoError and std::runtime_error", "[errors]", ClosedError,
                   QueueFullError, TimeoutError, CancelledError, InvalidStateError, RegistrationError, WorkerDiedError,
                   RemoteError, ExecutionError, CheckpointError) {
  STATIC_REQUIRE(std::is_base_of_v<OsiisoError, TestType>);
  STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, TestType>);
  STATIC_REQUIRE(std::is_nothrow_destructible_v<TestType>);
}

TEMPLATE_TEST_CASE("simple osiiso errors carry their message", "[errors]", ClosedError, QueueFullError, TimeoutError,
                   CancelledError, InvalidStateError, RegistrationError, WorkerDiedError, CheckpointError) {
  try {
    throw TestType("queue is closed");
  } catch (const OsiisoError& e) {
    CHECK(std::string(e.what()) == "queue is closed");
    CHECK(dynamic_cast<const TestType*>(&e) != nullptr);
  }
  CHECK_THROWS_AS(throw TestType("x"), std::runtime_error);
}

TEST_CASE("OsiisoError is a std::runtime_error", "[errors]") {
  STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, OsiisoError>);
  CHECK_THROWS_WITH(throw OsiisoError("boom"), "boom");
}

TEST_CASE("RemoteError carries the remote type name and message", "[errors]") {
  const RemoteError e("my::CustomError", "it broke");
  CHECK(e.type_name() == "my::CustomError");
  CHECK(std::string(e.what()) == "it broke");
  CHECK_THROWS_AS(throw e, OsiisoError);
}

TEST_CASE("ExecutionError counts failures and cancellations", "[errors]") {
  using test::make_result;
  const ExecutionError failed({make_result("a", TaskStatus::Failed), make_result("b", TaskStatus::Failed)});
  CHECK(std::string(failed.what()) == "2 task(s) failed");
  CHECK(failed.results().size() == 2);

  const ExecutionError mixed({make_result("a", TaskStatus::Failed), make_result("b", TaskStatus::Cancelled)});
  CHECK(std::string(mixed.what()) == "1 task(s) failed; 1 task(s) cancelled");
  REQUIRE(mixed.results().size() == 2);
  CHECK(mixed.results()[1].name == "b");
}
