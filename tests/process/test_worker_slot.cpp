// SPDX-License-Identifier: MIT
// WorkerSlot's state machine and the Launcher's rules for when a pool starts workers.
#include <osiiso/detail/event_loop.hpp>
#include <osiiso/detail/launcher.hpp>
#include <osiiso/detail/worker_slot.hpp>

#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>

using osiiso::Clock;
using osiiso::detail::EventLoop;
using osiiso::detail::LaunchedWorker;
using osiiso::detail::Launcher;
using osiiso::detail::WorkerSlot;
using State = osiiso::detail::WorkerSlot::State;
using namespace std::chrono_literals;

namespace {
// A slot over a process that is not a worker (this test's own pid is never signalled: the slot
// is never killed here) and two idle pipes.
WorkerSlot slot_for_test(bool fed_before_hello) {
  auto request = osiiso::detail::make_pipe();
  auto reply = osiiso::detail::make_pipe();
  LaunchedWorker launched{::getpid(), false, std::move(request.write), std::move(reply.read)};
  return WorkerSlot(1, std::move(launched), 1024, Clock::now() + 5s, fed_before_hello);
}
}  // namespace

TEST_CASE("a worker slot goes from starting to idle to busy and back", "[worker_slot]") {
  WorkerSlot slot = slot_for_test(false);
  CHECK(slot.state() == State::Starting);
  CHECK(slot.alive());
  CHECK_FALSE(slot.serving());
  CHECK(slot.deadline());  // the start deadline
  slot.hello();
  CHECK(slot.state() == State::Idle);
  CHECK(slot.serving());
  CHECK_FALSE(slot.deadline());
  slot.assign({5, "task", nullptr});
  CHECK(slot.state() == State::Busy);
  REQUIRE(slot.job());
  CHECK(slot.job()->id == 5);
  const auto job = slot.finish();
  CHECK(job.id == 5);
  CHECK(slot.state() == State::Idle);
  CHECK_FALSE(slot.job());
  CHECK(slot.tag(osiiso::detail::SlotEvent::Reply) == (1U << 2));
}

TEST_CASE("a forked worker's slot is fed before its hello, and a slot that ends leaves the pool", "[worker_slot]") {
  WorkerSlot slot = slot_for_test(true);
  CHECK(slot.state() == State::Idle);  // fed before its hello
  CHECK(slot.deadline());              // but its start deadline still holds
  slot.assign({9, "task", nullptr});
  CHECK(slot.drop_job()->id == 9);
  slot.exiting(1s);
  CHECK(slot.state() == State::Exiting);
  CHECK_FALSE(slot.alive());
  CHECK(slot.deadline());
}

TEST_CASE("a launcher pauses after a failed start and fails the backlog only when no worker is alive", "[launcher]") {
  EventLoop loop;
  Launcher launcher({.method = osiiso::StartMethod::Fork}, loop, 1);
  launcher.failed("cannot start");
  CHECK(launcher.next_deadline());        // the pause before the next try
  CHECK_FALSE(launcher.take_failure(2));  // workers alive: only the scaling stopped
  launcher.failed("cannot start");
  CHECK(launcher.take_failure(0));  // none alive: the backlog fails with it, once
  CHECK_FALSE(launcher.take_failure(0));
  int started = 0;
  launcher.launch(4, 0, [&](LaunchedWorker) { ++started; });
  CHECK(started == 0);  // still pausing
  CHECK_FALSE(launcher.broken());
  launcher.not_ready("no osiiso::init", true);  // another worker serves: not fatal
  CHECK_FALSE(launcher.broken());
  launcher.not_ready("no osiiso::init", false);  // nobody can serve: fatal
  CHECK(launcher.broken());
}
