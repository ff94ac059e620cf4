// SPDX-License-Identifier: MIT
// pmap and tmap: values in input order, tuples unpacked, options passed on, ExecutionError on
// any failure or cancellation.
#include <osiiso/one_shot.hpp>
#include <osiiso/registry.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace osiiso;
using namespace std::chrono_literals;

namespace one_shot {
int square(int x) { return x * x; }
int add(int a, int b) { return a + b; }
int fail_on_three(int x) {
  if (x == 3) throw std::runtime_error("three");
  return x;
}
std::string slow_label(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return std::to_string(ms);
}
}  // namespace one_shot
OSIISO_TASK_AS("one_shot::square", one_shot::square);
OSIISO_TASK_AS("one_shot::add", one_shot::add);
OSIISO_TASK_AS("one_shot::fail_on_three", one_shot::fail_on_three);
OSIISO_TASK_AS("one_shot::slow_label", one_shot::slow_label);

TEST_CASE("pmap returns the values in input order, whatever order they finish in", "[one_shot]") {
  CHECK(pmap(one_shot::square, std::vector{1, 2, 3, 4}) == std::vector{1, 4, 9, 16});
  CHECK(pmap({.workers = 3}, one_shot::slow_label, std::vector{60, 1, 30}) ==
        std::vector<std::string>{"60", "1", "30"});
  CHECK(pmap(one_shot::add, std::vector<std::tuple<int, int>>{{1, 2}, {3, 4}}) == std::vector{3, 7});
}

TEST_CASE("tmap takes any callable and the same options", "[one_shot]") {
  CHECK(tmap([](int x) { return x + 1; }, std::vector{1, 2, 3}) == std::vector{2, 3, 4});
  CHECK(tmap({.workers = 2}, {.retries = 1}, one_shot::square, std::vector{5}) == std::vector{25});
  int calls = 0;
  tmap(
      {.workers = 1}, [&calls](int) { ++calls; }, std::vector{1, 2, 3});
  CHECK(calls == 3);
}

TEST_CASE("pmap and tmap throw ExecutionError with the failed and cancelled results", "[one_shot]") {
  try {
    static_cast<void>(pmap(one_shot::fail_on_three, std::vector{1, 2, 3, 4}));
    FAIL("no exception");
  } catch (const ExecutionError& e) {
    REQUIRE(e.results().size() == 1);
    CHECK(e.results().front().message == "three");
    CHECK(std::string(e.what()) == "1 task(s) failed");
  }
  CHECK_THROWS_AS(
      tmap({.workers = 1, .fail_policy = FailPolicy::FailFirst}, one_shot::fail_on_three, std::vector{3, 4, 5}),
      ExecutionError);
  CHECK_THROWS_WITH(tmap({.workers = 1, .timeout = 50ms}, one_shot::slow_label, std::vector{10, 2000, 2000}),
                    Catch::Matchers::Contains("cancelled"));
}

TEST_CASE("pmap refuses an infinite queue", "[one_shot]") {
  CHECK_THROWS_AS(pmap({.mode = Mode::Infinite}, one_shot::square, std::vector{1}), std::invalid_argument);
}
