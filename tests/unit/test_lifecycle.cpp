// SPDX-License-Identifier: MIT
// Lifecycle: the phases a queue goes through and the transitions it refuses.
#include <osiiso/detail/lifecycle.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

using osiiso::detail::Lifecycle;
using osiiso::detail::Phase;

TEST_CASE("Lifecycle: a fresh queue is open and stopped", "[lifecycle]") {
  const Lifecycle life;
  CHECK(life.phase() == Phase::Open);
  CHECK(life.accepting());
  CHECK_FALSE(life.halted());
  CHECK_FALSE(life.closed());
  CHECK_FALSE(life.started());
  CHECK_FALSE(life.running());
  CHECK_FALSE(life.may_scale());
}

TEST_CASE("Lifecycle: start, halt, resume", "[lifecycle]") {
  Lifecycle life;
  life.start();
  CHECK(life.started());
  CHECK(life.may_scale());

  CHECK(life.halt());        // the first halt (fail_first aborts once)
  CHECK_FALSE(life.halt());  // already halted
  CHECK(life.phase() == Phase::Halted);
  CHECK_FALSE(life.accepting());
  CHECK(life.halted());
  CHECK_FALSE(life.may_scale());

  life.resume();  // the end of a run
  CHECK(life.phase() == Phase::Open);
  life.halt();
  life.start();  // an explicit start reopens too
  CHECK(life.phase() == Phase::Open);

  life.stop_workers();
  CHECK_FALSE(life.started());
  CHECK(life.phase() == Phase::Open);
}

TEST_CASE("Lifecycle: graceful shutdown drains, then closes", "[lifecycle]") {
  Lifecycle life;
  life.start();
  life.begin_shutdown();
  CHECK(life.phase() == Phase::Draining);
  CHECK_FALSE(life.accepting());
  CHECK_FALSE(life.halted());  // a drain runs everything
  CHECK(life.may_scale());
  life.start();  // a wait during the drain may restart stopped workers
  CHECK(life.phase() == Phase::Draining);
  life.resume();
  CHECK(life.phase() == Phase::Draining);

  CHECK(life.halt());
  CHECK(life.phase() == Phase::Closing);
  life.start();   // a shutdown in progress is not undone
  life.resume();  // nor by the end of a run
  CHECK(life.phase() == Phase::Closing);
  life.stop_workers();
  life.close();
  CHECK(life.closed());
  CHECK(life.halted());
  CHECK_FALSE(life.accepting());
  life.begin_shutdown();  // a racing second shutdown finds it closed
  life.close();
  CHECK(life.closed());
}

TEST_CASE("Lifecycle: forced shutdown of a halted queue", "[lifecycle]") {
  Lifecycle life;
  life.halt();
  life.begin_shutdown();
  CHECK(life.phase() == Phase::Closing);
  life.close();
  CHECK(life.closed());
}

TEST_CASE("Lifecycle: reset reopens a closed queue", "[lifecycle]") {
  Lifecycle life;
  life.start();
  life.begin_shutdown();
  life.halt();
  life.close();
  CHECK(life.halt() == false);  // reset aborts first; a closed queue is halted already
  life.reset();
  CHECK(life.phase() == Phase::Open);
  CHECK_FALSE(life.started());
  life.start();
  CHECK(life.started());
}

TEST_CASE("Lifecycle: runs are orthogonal to the phase", "[lifecycle]") {
  Lifecycle life;
  life.begin_run();
  CHECK(life.running());
  life.halt();
  life.begin_shutdown();
  life.close();
  CHECK(life.running());
  life.end_run();
  CHECK_FALSE(life.running());
  CHECK(life.closed());
}

TEST_CASE("Lifecycle: invalid transitions are logic errors", "[lifecycle]") {
  SECTION("start a closed queue") {
    Lifecycle life;
    life.begin_shutdown();
    life.halt();
    life.close();
    CHECK_THROWS_AS(life.start(), std::logic_error);
    CHECK(life.closed());
  }
  SECTION("close without a shutdown") {
    Lifecycle life;
    CHECK_THROWS_AS(life.close(), std::logic_error);
    life.halt();
    CHECK_THROWS_AS(life.close(), std::logic_error);
    CHECK(life.phase() == Phase::Halted);
  }
  SECTION("close before the drain ends") {
    Lifecycle life;
    life.begin_shutdown();
    CHECK_THROWS_AS(life.close(), std::logic_error);
    CHECK(life.phase() == Phase::Draining);
  }
  SECTION("two runs at once, or ending none") {
    Lifecycle life;
    CHECK_THROWS_AS(life.end_run(), std::logic_error);
    life.begin_run();
    CHECK_THROWS_AS(life.begin_run(), std::logic_error);
    CHECK(life.running());
  }
  SECTION("reset during a shutdown") {
    Lifecycle life;
    life.begin_shutdown();
    CHECK_THROWS_AS(life.reset(), std::logic_error);
    life.halt();
    CHECK_THROWS_AS(life.reset(), std::logic_error);
    CHECK(life.phase() == Phase::Closing);
  }
}

TEST_CASE("Lifecycle: phases have names", "[lifecycle]") {
  CHECK(osiiso::detail::to_string(Phase::Open) == "Open");
  CHECK(osiiso::detail::to_string(Phase::Closing) == "Closing");
}
