// SPDX-License-Identifier: MIT
// Bad input for ProcessQueue: malformed frames fed to the worker-side loop and, through a fake
// worker program, to the parent-side decoder; results whose serialization throws, hooks that
// throw, arguments that fail to build, a worker that does not know the function.
#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/process_backend.hpp>
#include <osiiso/process_queue.hpp>

#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/shared_arena.hpp>
#include <osiiso/detail/worker.hpp>
#include <osiiso/osiiso.hpp>

#include "../helpers.hpp"

#include <unistd.h>
#include <boost/serialization/access.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using osiiso::Clock;
using osiiso::detail::FrameType;
using osiiso::test::forged_frame_header;
using osiiso::test::since;

namespace badinput {

// Serializing it (as a result or as an argument) throws.
struct Poison {
  int value = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    if constexpr (Archive::is_saving::value) {
      if (value < 0) throw std::length_error("poison cannot be saved");
    }
    ar& value;
  }
};

// A negative argument gives a result that cannot be saved; others give the worker's pid.
Poison make_poison(int v) { return Poison{v < 0 ? v : static_cast<int>(::getpid())}; }
int take_poison(Poison p) { return p.value; }
int echo(int x) { return x; }
int unknown_to_helper(int x) { return x; }
int crash(int) {
  std::raise(SIGSEGV);
  return 0;
}
double sleepy(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return seconds;
}

}  // namespace badinput

OSIISO_TASK_AS("badinput::make_poison", badinput::make_poison);
OSIISO_TASK_AS("badinput::take_poison", badinput::take_poison);
// Same name as in the helper program (tests/fault_parent.cpp), so that both binaries know it.
OSIISO_TASK_AS("fault_parent::echo", badinput::echo);
OSIISO_TASK_AS("badinput::unknown_to_helper", badinput::unknown_to_helper);
OSIISO_TASK_AS("badinput::crash", badinput::crash);
OSIISO_TASK_AS("badinput::sleepy", badinput::sleepy);

namespace {

std::string frame(FrameType type, const std::string& payload) {
  std::string out;
  osiiso::detail::append_frame(out, type, 0, payload);
  return out;
}

std::size_t status_kb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoul(line.substr(field.size() + 1));
  }
  return 0;
}

struct Served {
  int code = -1;
  std::vector<osiiso::detail::Frame> replies;
};

// Runs the worker loop of this process on `input` (then end of file) and collects its replies.
Served serve(const std::string& input) {
  auto request = osiiso::detail::make_pipe(std::size_t{1} << 20);
  auto reply = osiiso::detail::make_pipe(std::size_t{1} << 20);
  REQUIRE(input.size() < (std::size_t{1} << 16));  // fits any pipe buffer: no writer thread needed
  REQUIRE(osiiso::detail::write_all(request.write.get(), input.data(), input.size()));
  request.write.reset();
  Served out;
  out.code = osiiso::detail::serve_requests(request.read.get(), reply.write.get());
  reply.write.reset();
  while (auto f = osiiso::detail::read_frame(reply.read.get())) out.replies.push_back(std::move(*f));
  return out;
}

std::string error_text(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::string decoded_error(const osiiso::detail::Frame& f) {
  REQUIRE(f.type == FrameType::Error);
  return error_text(osiiso::detail::decode_exception(f.payload));
}

std::string echo_request(int x) {
  auto prepared = osiiso::detail::make_process_work(badinput::echo, x);
  return osiiso::detail::encode_request(static_cast<osiiso::detail::ProcessWork&>(*prepared.work).request());
}

}  // namespace

TEST_CASE("worker side: malformed frames end the worker with a message, never a crash or hang", "[bad_input]") {
  const auto value = static_cast<unsigned char>(FrameType::Value);
  const auto request = static_cast<unsigned char>(FrameType::Request);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"truncated header", forged_frame_header(0xA5, request, 4).substr(0, 5)},
      {"bad magic", forged_frame_header(0x00, request, 4) + "abcd"},
      {"unknown type", forged_frame_header(0xA5, 77, 4) + "abcd"},
      {"oversized length", forged_frame_header(0xA5, request, std::uint64_t{1} << 40)},
      {"maximal length, then end of file",
       forged_frame_header(0xA5, request, std::uint64_t{1} << 30) + std::string(1000, 'x')},
      {"wrong direction", forged_frame_header(0xA5, value, 4) + "abcd"},
      {"truncated payload", frame(FrameType::Request, echo_request(1)).substr(0, 14)},
      // Shared payload descriptors: nothing was put in the arena, or the size is not one.
      {"shared request never written", frame(FrameType::SharedRequest, osiiso::detail::encode_shared_size(100))},
      {"shared request beyond the limit",
       frame(FrameType::SharedRequest, osiiso::detail::encode_shared_size(std::uint64_t{1} << 40))},
      {"shared request with a short size", frame(FrameType::SharedRequest, "abc")},
  };
  for (const auto& [name, bytes] : cases) {
    CAPTURE(name);
    const auto hwm_before = status_kb("VmHWM");
    const auto served = serve(bytes);
    CHECK(served.code == 2);
    REQUIRE(served.replies.size() == 2);
    CHECK(served.replies[0].type == FrameType::Hello);
    CHECK(served.replies[1].type == FrameType::SharedArenas);
    // A length is never trusted: no 1 GiB buffer for a frame that never arrives.
    CHECK(status_kb("VmHWM") - hwm_before < 64 * 1024);
  }
}

TEST_CASE("worker side: a bad request fails that task and the worker keeps serving", "[bad_input]") {
  std::string garbage_args = echo_request(5);
  garbage_args.resize(garbage_args.size() - 2);  // cut the argument archive short
  std::string input;
  input += frame(FrameType::Request, std::string("\xff\xff\xff\x7f", 4) + "x");  // name longer than the payload
  input += frame(FrameType::Request, "");                                        // no name at all
  input += frame(FrameType::Request, osiiso::detail::encode_request("no::such_function", ""));
  input += frame(FrameType::Request, garbage_args);
  input += frame(FrameType::Request, osiiso::detail::encode_request("fault_parent::echo", ""));  // no arguments
  input += frame(FrameType::Request, echo_request(7) + "trailing");                              // extra bytes
  input += frame(FrameType::Request, echo_request(42));
  const auto served = serve(input);
  CHECK(served.code == 0);
  REQUIRE(served.replies.size() == 9);  // after its hello and its arenas
  CHECK_THAT(decoded_error(served.replies[2]), Catch::Contains("malformed"));
  CHECK_THAT(decoded_error(served.replies[3]), Catch::Contains("malformed"));
  CHECK_THROWS_AS(std::rethrow_exception(osiiso::detail::decode_exception(served.replies[4].payload)),
                  osiiso::RegistrationError);
  CHECK_THAT(decoded_error(served.replies[4]), Catch::Contains("no::such_function"));
  CHECK_THAT(decoded_error(served.replies[5]), Catch::Contains("fault_parent::echo"));
  CHECK_THAT(decoded_error(served.replies[6]), Catch::Contains("fault_parent::echo"));
  CHECK_THAT(decoded_error(served.replies[7]), Catch::Contains("unexpected bytes"));
  REQUIRE(served.replies[8].type == FrameType::Value);
  CHECK(std::any_cast<int>(osiiso::detail::decode_result<int>(served.replies[8].payload)) == 42);
}

#ifdef OSIISO_FAULT_PARENT
namespace {

// Runs `tasks` on one spawn worker of the helper program, whose first worker misbehaves as
// `mode` says (empty: a well-behaved worker of a different binary).
osiiso::RunSummary run_with_helper(const std::string& mode, std::vector<osiiso::detail::PreparedTask> tasks,
                                   std::vector<osiiso::SyncTaskHandle<>>& handles) {
  const auto marker =
      (std::filesystem::temp_directory_path() / ("osiiso_bad_input_" + std::to_string(::getpid()))).string();
  std::filesystem::remove(marker);
  if (!mode.empty()) {
    ::setenv("OSIISO_FAULT_MODE", mode.c_str(), 1);
    ::setenv("OSIISO_FAULT_MARKER", marker.c_str(), 1);
  }
  osiiso::detail::EngineConfig config;
  config.workers = 1;
  config.queue_name = "ProcessQueue";
  auto engine = std::make_shared<osiiso::detail::Engine>(std::move(config));
  engine->set_backend(std::make_unique<osiiso::detail::ProcessBackend>(
      *engine,
      osiiso::detail::ProcessBackendConfig{.method = osiiso::StartMethod::Spawn, .executable = OSIISO_FAULT_PARENT}));
  for (auto& t : tasks) {
    handles.emplace_back(engine->submit(std::move(t.work), {.timeout = 20s}, t.name));
  }
  auto summary = engine->run({});
  engine->shutdown(false);
  ::unsetenv("OSIISO_FAULT_MODE");
  ::unsetenv("OSIISO_FAULT_MARKER");
  std::filesystem::remove(marker);
  return summary;
}

}  // namespace

TEST_CASE("parent side: a malformed reply fails that task with a clear error; the pool lives on",
          "[bad_input][process_queue]") {
  struct Case {
    std::string mode;
    std::string message;
  };
  const auto c = GENERATE(
      Case{"bad_magic", "bad magic byte"}, Case{"bad_type", "unknown type 99"},
      Case{"oversized", "exceeds the ProcessQueue limit"},
      Case{"huge_then_exit", "exited with code 0 while running task 'fault_parent::echo'"},
      Case{"truncated_header", "exited with code 0"}, Case{"unexpected_request", "unexpected frame"},
      Case{"garbage_value", "could not be deserialized"}, Case{"garbage_error", "malformed payload"},
      Case{"unknown_error_kind", "kind 99"}, Case{"shared_value_without_arena", "a shared payload without an arena"},
      Case{"shared_value_unwritten", "a shared payload that was never written"},
      Case{"corrupt_arena_announcement", "an arena announcement of 3 bytes"});
  CAPTURE(c.mode);
  std::vector<osiiso::detail::PreparedTask> tasks;
  tasks.push_back(osiiso::detail::make_process_work(badinput::echo, 1));
  tasks.push_back(osiiso::detail::make_process_work(badinput::echo, 2));
  tasks.push_back(osiiso::detail::make_process_work(badinput::echo, 3));
  std::vector<osiiso::SyncTaskHandle<>> handles;
  const auto start = Clock::now();
  const auto hwm_before = status_kb("VmHWM");
  const auto summary = run_with_helper(c.mode, std::move(tasks), handles);
  CHECK(since(start) < 10s);
  CHECK(status_kb("VmHWM") - hwm_before < 64 * 1024);
  CHECK(summary.failed == 1);
  CHECK(summary.succeeded == 2);
  REQUIRE(handles[0].exception());
  CHECK_THAT(error_text(handles[0].exception()), Catch::Contains(c.message));
  CHECK(std::any_cast<int>(handles[1].value()) == 2);
  CHECK(std::any_cast<int>(handles[2].value()) == 3);
}

TEST_CASE("a spawned worker from a different binary fails an unknown function with RegistrationError",
          "[bad_input][process_queue]") {
  std::vector<osiiso::detail::PreparedTask> tasks;
  tasks.push_back(osiiso::detail::make_process_work(badinput::unknown_to_helper, 1));
  tasks.push_back(osiiso::detail::make_process_work(badinput::echo, 2));
  std::vector<osiiso::SyncTaskHandle<>> handles;
  const auto summary = run_with_helper("", std::move(tasks), handles);
  CHECK(summary.failed == 1);
  CHECK_THROWS_AS(handles[0].value(), osiiso::RegistrationError);
  CHECK_THAT(error_text(handles[0].exception()), Catch::Contains("badinput::unknown_to_helper"));
  CHECK(std::any_cast<int>(handles[1].value()) == 2);
}
#endif

TEST_CASE("a result whose serialization throws fails that task; the worker keeps serving",
          "[bad_input][process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  auto bad = q.submit(badinput::make_poison, -1);
  auto good = q.submit(badinput::make_poison, 4);
  auto later = q.submit(badinput::make_poison, 1);
  const auto summary = q.run();
  CHECK(summary.failed == 1);
  CHECK_THAT(error_text(bad.exception()),
             Catch::Contains("poison cannot be saved") && Catch::Contains("badinput::make_poison"));
  CHECK(good.value().value > 0);
  CHECK(good.value().value == later.value().value);  // the same worker served on
}

TEST_CASE("an exception while building arguments reaches the submitter; the queue is unharmed",
          "[bad_input][process_queue]") {
  osiiso::ProcessQueue q({.workers = 1});
  CHECK_THROWS_WITH(q.submit(badinput::take_poison, badinput::Poison{-1}), "poison cannot be saved");
  CHECK(q.pending_count() == 0);
  auto good = q.submit(badinput::take_poison, badinput::Poison{6});
  const auto summary = q.run();
  CHECK(summary.total_submitted == 1);
  CHECK(good.value() == 6);
}

TEST_CASE("hooks that throw are swallowed and never break the queue", "[bad_input][process_queue]") {
  std::atomic<int> starts{0};
  std::atomic<int> completes{0};
  std::atomic<int> retries{0};
  osiiso::ProcessQueue q({.workers = 2,
                          .on_start =
                              [&](const osiiso::SyncTaskHandle<>&) {
                                ++starts;
                                throw std::runtime_error("on_start hook fails");
                              },
                          .on_complete =
                              [&](const osiiso::TaskResult&) {
                                ++completes;
                                throw 42;  // not even a std::exception
                              },
                          .on_retry =
                              [&](const osiiso::SyncTaskHandle<>&, std::exception_ptr) {
                                ++retries;
                                throw std::logic_error("on_retry hook fails");
                              }});
  auto handles = q.map(badinput::echo, std::vector{1, 2, 3, 4});
  auto retried = q.submit({.retries = 2}, badinput::make_poison, -1);
  handles[0].add_done_callback([](const osiiso::SyncTaskHandle<>&) { throw std::runtime_error("callback fails"); });
  const auto summary = q.run();
  CHECK(summary.total_submitted == 5);
  CHECK(summary.succeeded == 4);
  CHECK(summary.failed == 1);
  CHECK(retried.attempts() == 3);
  CHECK(starts.load() == 7);
  CHECK(completes.load() == 5);
  CHECK(retries.load() == 2);
  for (int i = 0; i < 4; ++i) CHECK(handles[static_cast<std::size_t>(i)].value() == i + 1);
}

// The smoke test scripts/valgrind.sh runs under memcheck: values, an exception, a crash, a
// timeout and a forced shutdown, in one queue.
TEST_CASE("ProcessQueue smoke test for valgrind", "[process_queue][valgrind]") {
  {
    osiiso::ProcessQueue q({.workers = 2});
    auto values = q.map(badinput::echo, std::vector{1, 2, 3});
    auto bad = q.submit(badinput::make_poison, -1);
    auto crash = q.submit(badinput::crash, 0);
    auto timed = q.submit({.timeout = 200ms}, badinput::sleepy, 10.0);
    const auto summary = q.run();
    CHECK(summary.succeeded == 3);
    CHECK(summary.failed == 3);
    CHECK_THROWS_AS(crash.value(), osiiso::WorkerDiedError);
    CHECK_THROWS_AS(timed.value(), osiiso::TimeoutError);
    CHECK(values[2].value() == 3);
  }
  osiiso::ProcessQueue q({.workers = 1});
  auto stuck = q.submit(badinput::sleepy, 10.0);
  q.start();
  CHECK(osiiso::test::eventually([&] { return q.active_count() == 1; }, 10s));
  q.shutdown({.force = true});
  CHECK(stuck.cancelled());
}
