// SPDX-License-Identifier: MIT
// Enums: Python literals through to_string, fmt and iostreams.
#include <osiiso/enums.hpp>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <sstream>
#include <string>

using namespace osiiso;

TEST_CASE("to_string gives the Python literal of every value", "[enums]") {
  STATIC_REQUIRE(to_string(Mode::Finite) == "finite");
  CHECK(to_string(Mode::Finite) == "finite");
  CHECK(to_string(Mode::Infinite) == "infinite");

  CHECK(to_string(FailPolicy::Continue) == "continue");
  CHECK(to_string(FailPolicy::FailFirst) == "fail_first");

  CHECK(to_string(OnExit::CompletePriority) == "complete_priority");
  CHECK(to_string(OnExit::Cancel) == "cancel");

  CHECK(to_string(TaskStatus::Pending) == "pending");
  CHECK(to_string(TaskStatus::Running) == "running");
  CHECK(to_string(TaskStatus::Retrying) == "retrying");
  CHECK(to_string(TaskStatus::Succeeded) == "succeeded");
  CHECK(to_string(TaskStatus::Failed) == "failed");
  CHECK(to_string(TaskStatus::Cancelled) == "cancelled");

  CHECK(to_string(StartMethod::Fork) == "fork");
  CHECK(to_string(StartMethod::Spawn) == "spawn");
  CHECK(to_string(StartMethod::ForkServer) == "forkserver");
}

TEST_CASE("enums format with fmt as their Python literal", "[enums]") {
  CHECK(fmt::format("{}", Mode::Infinite) == "infinite");
  CHECK(fmt::format("{}", FailPolicy::FailFirst) == "fail_first");
  CHECK(fmt::format("{}", OnExit::CompletePriority) == "complete_priority");
  CHECK(fmt::format("{}", TaskStatus::Retrying) == "retrying");
  CHECK(fmt::format("{}", StartMethod::ForkServer) == "forkserver");
}

TEST_CASE("enum formatting accepts string format specs", "[enums]") {
  CHECK(fmt::format("[{:>8}]", TaskStatus::Failed) == "[  failed]");
  CHECK(fmt::format("[{:<8}]", Mode::Finite) == "[finite  ]");
}

TEST_CASE("enums stream as their Python literal", "[enums]") {
  std::ostringstream os;
  os << Mode::Finite << ' ' << FailPolicy::Continue << ' ' << OnExit::Cancel << ' ' << TaskStatus::Cancelled << ' '
     << StartMethod::Spawn;
  CHECK(os.str() == "finite continue cancel cancelled spawn");
}

TEST_CASE("is_final holds for succeeded, failed and cancelled only", "[enums]") {
  STATIC_REQUIRE(is_final(TaskStatus::Succeeded));
  CHECK_FALSE(is_final(TaskStatus::Pending));
  CHECK_FALSE(is_final(TaskStatus::Running));
  CHECK_FALSE(is_final(TaskStatus::Retrying));
  CHECK(is_final(TaskStatus::Succeeded));
  CHECK(is_final(TaskStatus::Failed));
  CHECK(is_final(TaskStatus::Cancelled));
}
