// SPDX-License-Identifier: MIT
// Engine::complete_and_take, the worker thread's path: it settles an attempt as complete() does
// and hands out the next one as take_ready() does.
#include "fake_backend.hpp"

#include <osiiso/detail/engine.hpp>
#include <osiiso/task_handle.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace osiiso;
using detail::TaskStatePtr;

namespace {

using Rig = test::EngineRig;

std::shared_ptr<const TaskResult> result_of(const TaskStatePtr& state) {
  std::lock_guard lock(state->mu());
  return state->result;
}

}  // namespace

TEST_CASE("engine: complete_and_take settles a success and takes the next attempt in order", "[engine]") {
  std::vector<std::string> started;
  std::vector<std::string> completed;
  Rig rig({.on_start = [&](const SyncTaskHandle<>& h) { started.push_back(h.name()); },
           .on_complete = [&](const TaskResult& r) { completed.push_back(r.name); }});
  const auto a = rig.submit("a");
  const auto b = rig.submit("b");
  rig.engine->start();
  auto attempt = rig.backend->take();
  REQUIRE(attempt);
  auto next = rig.backend->succeed_and_take(*attempt, 7);
  REQUIRE(next);
  CHECK(next->task->state->name == "b");
  REQUIRE(result_of(a));
  CHECK(result_of(a)->status == TaskStatus::Succeeded);
  CHECK(result_of(a)->value<int>() == 7);
  CHECK(result_of(a)->attempts == 1);
  CHECK(rig.engine->active_count() == 1);
  CHECK(rig.engine->stats().completed == 1);
  CHECK_FALSE(rig.backend->succeed_and_take(*next, 8));  // nothing left to take
  CHECK(result_of(b)->value<int>() == 8);
  CHECK(rig.engine->active_count() == 0);
  CHECK(rig.engine->pending_count() == 0);
  CHECK(rig.engine->results().size() == 2);
  CHECK(started == std::vector<std::string>{"a", "b"});
  CHECK(completed == std::vector<std::string>{"a", "b"});
}

TEST_CASE("engine: complete_and_take retries a failure before taking the next attempt", "[engine]") {
  Rig rig;
  const auto a = rig.submit("a", {.retries = 1});
  rig.submit("b");
  rig.engine->start();
  auto attempt = rig.backend->take();
  REQUIRE(attempt);
  auto retry = rig.engine->complete_and_take(
      *attempt, detail::Outcome{{}, std::make_exception_ptr(std::runtime_error("once"))}, {});
  REQUIRE(retry);
  CHECK(retry->task->state->name == "a");  // a retry keeps its place ahead of b
  CHECK_FALSE(result_of(a));
  auto next = rig.backend->succeed_and_take(*retry);
  REQUIRE(next);
  CHECK(next->task->state->name == "b");
  CHECK(result_of(a)->attempts == 2);
  CHECK(rig.backend->succeed(*next));
}

TEST_CASE("engine: complete_and_take ignores a settled attempt and still takes the next", "[engine]") {
  Rig rig;
  const auto a = rig.submit("a");
  rig.submit("b");
  rig.engine->start();
  auto attempt = rig.backend->take();
  REQUIRE(attempt);
  REQUIRE(rig.engine->cancel_task(attempt->task));
  auto next = rig.backend->succeed_and_take(*attempt, 1);
  REQUIRE(next);
  CHECK(next->task->state->name == "b");
  CHECK(result_of(a)->status == TaskStatus::Cancelled);
  CHECK(rig.backend->interrupted() == std::vector<std::uint64_t>{attempt->id});
  CHECK(rig.backend->succeed(*next));
  CHECK(rig.engine->stats().succeeded == 1);
  CHECK(rig.engine->stats().cancelled == 1);
}

TEST_CASE("engine: complete_and_take hands out nothing before start or after a halt", "[engine]") {
  Rig rig({.fail_policy = FailPolicy::FailFirst});
  rig.submit("a");
  const auto b = rig.submit("b");
  const auto c = rig.submit("c");
  rig.engine->start();
  auto first = rig.backend->take();
  auto second = rig.backend->take();
  REQUIRE(first);
  REQUIRE(second);
  rig.backend->fail(*first, std::runtime_error("halts"));
  // b was cancelled by the halt; c, still queued, was cancelled too.
  CHECK_FALSE(rig.backend->succeed_and_take(*second, 2));
  CHECK(result_of(b)->status == TaskStatus::Cancelled);
  CHECK(result_of(c)->status == TaskStatus::Cancelled);
}
