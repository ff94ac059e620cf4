// SPDX-License-Identifier: MIT
// Chunked dispatch (ProcessQueueOptions::chunksize): several tasks handed to a worker at once,
// each keeping its own result, retries, timeout and cancellation.
#include <osiiso/process_queue.hpp>

#include <osiiso/osiiso.hpp>

#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../helpers.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OSIISO_CHUNK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OSIISO_CHUNK_SANITIZED 1
#endif
#endif

namespace chunktest {
int triple(int x) { return 3 * x; }
int fail_seven(int x) {
  if (x == 7) throw std::runtime_error("item 7 fails");
  return x;
}
int crash_on_five(int x) {
  if (x == 5) std::raise(SIGSEGV);
  return x;
}
int pid_of(int) { return static_cast<int>(::getpid()); }
std::string sleep_long(double seconds) {
  std::this_thread::sleep_for(osiiso::Seconds(seconds));
  return "slept";
}
// Fails its first attempt (it leaves a marker file), succeeds on the next.
int fail_once(std::string marker) {
  if (!std::filesystem::exists(marker)) {
    std::ofstream(marker) << "x";
    throw std::runtime_error("first attempt fails");
  }
  return 1;
}
// Waits until `release` exists.
int wait_for_file(std::string release) {
  while (!std::filesystem::exists(release)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return 0;
}
int create_file(std::string path) {
  std::ofstream(path) << "ran";
  return 1;
}
}  // namespace chunktest

OSIISO_TASK_AS("chunktest::triple", chunktest::triple);
OSIISO_TASK_AS("chunktest::fail_seven", chunktest::fail_seven);
OSIISO_TASK_AS("chunktest::crash_on_five", chunktest::crash_on_five);
OSIISO_TASK_AS("chunktest::pid_of", chunktest::pid_of);
OSIISO_TASK_AS("chunktest::sleep_long", chunktest::sleep_long);
OSIISO_TASK_AS("chunktest::fail_once", chunktest::fail_once);
OSIISO_TASK_AS("chunktest::wait_for_file", chunktest::wait_for_file);
OSIISO_TASK_AS("chunktest::create_file", chunktest::create_file);

namespace {

using namespace std::chrono_literals;

osiiso::ProcessQueueOptions chunked(const char* method, std::size_t workers, std::optional<std::size_t> chunksize) {
  osiiso::ProcessQueueOptions options;
  options.workers = workers;
  options.context = osiiso::get_context(method);
  options.chunksize = chunksize;
  return options;
}

std::vector<int> range(int n) {
  std::vector<int> items(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) items[static_cast<std::size_t>(i)] = i;
  return items;
}

}  // namespace

TEST_CASE("chunked map gives every item its own result", "[process_queue][chunk]") {
  const char* method = GENERATE("fork", "spawn", "forkserver");
  const auto chunksize =
      GENERATE(std::optional<std::size_t>{1}, std::optional<std::size_t>{16}, std::optional<std::size_t>{});
  CAPTURE(method, chunksize.value_or(0));
  std::atomic<int> started{0};
  auto options = chunked(method, 2, chunksize);
  options.on_start = [&](const osiiso::SyncTaskHandle<>&) { ++started; };
  osiiso::ProcessQueue q(std::move(options));
  auto handles = q.map(chunktest::triple, range(3000));
  const auto summary = q.run();
  CHECK(summary.succeeded == 3000);
  for (int i = 0; i < 3000; ++i) {
    const auto& h = handles[static_cast<std::size_t>(i)];
    CHECK(h.value() == 3 * i);
    CHECK(h.attempts() == 1);
  }
  CHECK(started.load() == 3000);  // once per begun attempt, queued ones included
}

TEST_CASE("a failing item of a chunk fails alone", "[process_queue][chunk]") {
  const auto chunksize = GENERATE(std::size_t{1}, std::size_t{8});
  osiiso::ProcessQueue q(chunked("fork", 1, chunksize));
  auto handles = q.map(chunktest::fail_seven, range(40));
  const auto summary = q.run();
  CHECK(summary.succeeded == 39);
  CHECK(summary.failed == 1);
  CHECK_THROWS_WITH(handles[7].value(), "item 7 fails");
  CHECK(handles[8].value() == 8);
}

// Tests that replace workers use spawn and forkserver: under the sanitizers a fork() while another
// thread allocates can deadlock the child.
TEST_CASE("a worker that crashes on a queued item fails that item only", "[process_queue][chunk]") {
  const char* method = GENERATE("spawn", "forkserver");
  osiiso::ProcessQueue q(chunked(method, 1, 8));
  auto handles = q.map(chunktest::crash_on_five, range(30));
  const auto summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(summary.succeeded == 29);
  CHECK_THROWS_AS(handles[5].value(), osiiso::WorkerDiedError);
  for (std::size_t i = 0; i < handles.size(); ++i) {
    CHECK(handles[i].attempts() == 1);
    if (i != 5) CHECK(handles[i].value() == static_cast<int>(i));
  }
}

TEST_CASE("a timed-out item kills its worker and the items queued behind it still run once", "[process_queue][chunk]") {
  const char* method = GENERATE("spawn", "forkserver");
  std::atomic<int> started{0};
  auto options = chunked(method, 1, 8);
  options.on_start = [&](const osiiso::SyncTaskHandle<>&) { ++started; };
  osiiso::ProcessQueue q(std::move(options));
  auto stuck = q.submit({.timeout = 0.3s}, chunktest::sleep_long, 60.0);
  auto behind = q.map(chunktest::pid_of, range(6));
  const auto summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(summary.succeeded == 6);
  CHECK_THROWS_AS(stuck.value(), osiiso::TimeoutError);
  for (auto& h : behind) {
    CHECK(h.attempts() == 1);
    CHECK(h.value() > 0);
  }
  CHECK(started.load() == 7);
}

TEST_CASE("retries of chunked items are per item", "[process_queue][chunk]") {
  const std::string dir = osiiso::test::temp_path("osiiso_chunk_retry");
  std::filesystem::create_directories(dir);
  std::atomic<int> started{0};
  auto options = chunked("fork", 2, 8);
  options.on_start = [&](const osiiso::SyncTaskHandle<>&) { ++started; };
  osiiso::ProcessQueue q(std::move(options));
  std::vector<std::string> markers;
  for (int i = 0; i < 40; ++i) markers.push_back(dir + "/" + std::to_string(i));
  auto handles = q.map({.retries = 1}, chunktest::fail_once, markers);
  const auto summary = q.run();
  CHECK(summary.succeeded == 40);
  for (auto& h : handles) CHECK(h.attempts() == 2);
  CHECK(started.load() == 80);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a cancelled item that waits in a chunk is cancelled, the others run", "[process_queue][chunk]") {
  const std::string release = osiiso::test::temp_path("osiiso_chunk_release");
  osiiso::ProcessQueue q(chunked("forkserver", 1, 4));
  auto head = q.submit(chunktest::wait_for_file, release);
  auto cancelled = q.submit(chunktest::triple, 1);
  auto after = q.submit(chunktest::triple, 2);
  q.start();
  CHECK(cancelled.cancel());
  std::ofstream(release) << "go";
  CHECK(head.value() == 0);
  CHECK(after.value() == 6);
  CHECK(cancelled.cancelled());
  q.join();
  std::filesystem::remove(release);
}

TEST_CASE("chunked items respect max_tasks_per_worker exactly", "[process_queue][chunk]") {
  auto options = chunked("forkserver", 1, 8);
  options.max_tasks_per_worker = 3;
  osiiso::ProcessQueue q(std::move(options));
  auto handles = q.map(chunktest::pid_of, range(12));
  q.run();
  std::map<int, int> per_pid;
  for (auto& h : handles) ++per_pid[h.value()];
  for (const auto& [pid, count] : per_pid) CHECK(count <= 3);
  CHECK(per_pid.size() >= 4);
}

TEST_CASE("fail_first cancels the items queued in chunks", "[process_queue][chunk]") {
  auto options = chunked("forkserver", 2, 8);
  options.fail_policy = osiiso::FailPolicy::FailFirst;
  osiiso::ProcessQueue q(std::move(options));
  auto handles = q.map(chunktest::fail_seven, range(400));
  const auto summary = q.run();
  CHECK(summary.failed == 1);
  CHECK(summary.succeeded + summary.cancelled == 399);
  CHECK_THROWS_WITH(handles[7].value(), "item 7 fails");
}

TEST_CASE("tasks with a memory limit run among chunked ones, each with its own result", "[process_queue][chunk]") {
#ifdef OSIISO_CHUNK_SANITIZED
  SUCCEED("skipped: the sanitizers' allocators reserve address space an RLIMIT_AS cap cannot tell from the task's");
#else
  osiiso::ProcessQueue q(chunked("fork", 1, 8));
  auto plain = q.map(chunktest::triple, range(20));
  auto capped = q.map({.memory_limit = std::size_t{512} << 20}, chunktest::triple, range(5));
  q.run();
  for (std::size_t i = 0; i < plain.size(); ++i) CHECK(plain[i].value() == 3 * static_cast<int>(i));
  for (std::size_t i = 0; i < capped.size(); ++i) CHECK(capped[i].value() == 3 * static_cast<int>(i));
#endif
}
