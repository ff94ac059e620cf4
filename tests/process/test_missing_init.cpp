// SPDX-License-Identifier: MIT
// A program that cannot serve (no osiiso::init): what each re-executing start method says to do.
#include <osiiso/detail/process_backend.hpp>

#include <osiiso/detail/engine.hpp>
#include <osiiso/osiiso.hpp>

#include "../helpers.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

using namespace std::chrono_literals;
using osiiso::Clock;
using osiiso::StartMethod;
using osiiso::test::child_count;
using osiiso::test::error_text;
using osiiso::test::since;

namespace {

int triple(int x) { return 3 * x; }

}  // namespace

OSIISO_TASK(triple);

namespace {

// Runs one task on a one-worker pool that re-executes /bin/true, a program whose main() never
// calls osiiso::init: returns the task's message and error text.
std::string missing_init_text(StartMethod method) {
  osiiso::detail::EngineConfig config;
  config.workers = 1;
  config.queue_name = "ProcessQueue";
  auto engine = std::make_shared<osiiso::detail::Engine>(std::move(config));
  engine->set_backend(std::make_unique<osiiso::detail::ProcessBackend>(
      *engine, osiiso::detail::ProcessBackendConfig{.method = method, .executable = "/bin/true"}));
  auto prepared = osiiso::detail::make_process_work(triple, 1);
  (void)engine->submit(std::move(prepared.work), {}, prepared.name);
  const auto start = Clock::now();
  const auto summary = engine->run({});
  CHECK(since(start) < 5s);
  REQUIRE(summary.failed == 1);
  return summary.results.at(0).message + error_text(summary.results.at(0).exception);
}

}  // namespace

TEST_CASE("spawn without osiiso::init: every worker re-executes the program", "[process_queue][start_method]") {
  const auto text = missing_init_text(StartMethod::Spawn);
  CHECK_THAT(text, Catch::Contains("call osiiso::init(argc, argv) as the first statement of main(): with the "
                                   "\"spawn\" start method every worker re-executes the program and starts serving "
                                   "tasks in osiiso::init"));
  CHECK(child_count() == 0);
}

TEST_CASE("forkserver without osiiso::init: the fork server re-executes the program", "[process_queue][start_method]") {
  const auto text = missing_init_text(StartMethod::ForkServer);
  CHECK_THAT(text, Catch::Contains("the fork server process exited with code 0 before it was ready"));
  CHECK_THAT(text, Catch::Contains("call osiiso::init(argc, argv) as the first statement of main(): with the "
                                   "\"forkserver\" start method the queue re-executes the program as a fork server "
                                   "when it first starts workers; the server begins in osiiso::init and forks every "
                                   "worker from there"));
  CHECK(child_count() == 0);
}
