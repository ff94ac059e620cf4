// SPDX-License-Identifier: MIT
// ChildProcess: describing a process's end, signalling its group, reaping.
#include <osiiso/detail/child_process.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "../helpers.hpp"

using osiiso::detail::ChildProcess;
using osiiso::detail::describe_end;
using namespace std::chrono_literals;

namespace {
// A child in its own process group, with a grandchild in the same group; both sleep.
ChildProcess sleeping_group(pid_t& grandchild, int (&report)[2]) {
  REQUIRE(::pipe(report) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    const pid_t inner = ::fork();
    if (inner == 0) {
      for (;;) ::pause();
    }
    [[maybe_unused]] const auto n = ::write(report[1], &inner, sizeof inner);
    for (;;) ::pause();
  }
  ::close(report[1]);
  REQUIRE(::read(report[0], &grandchild, sizeof grandchild) == sizeof grandchild);
  ::close(report[0]);
  return ChildProcess(pid, true);
}
}  // namespace

TEST_CASE("a process's end reads as a signal, an exit code, or the signal it reported", "[child_process]") {
  CHECK(describe_end(SIGSEGV, std::nullopt) == "was killed by signal SIGSEGV (Segmentation fault)");
  CHECK(describe_end(3 << 8, std::nullopt) == "exited with code 3");
  CHECK(describe_end(std::nullopt, SIGABRT) == "was killed by signal SIGABRT (Aborted)");
  CHECK_THAT(describe_end(std::nullopt, std::nullopt), Catch::Contains("status unknown"));
}

TEST_CASE("signalling a child kills its process group and reaping names the signal", "[child_process]") {
  pid_t grandchild = -1;
  int report[2];
  ChildProcess child = sleeping_group(grandchild, report);
  CHECK_FALSE(child.try_reap());  // still running
  child.signal(SIGKILL);
  CHECK(osiiso::test::eventually([&] { return child.try_reap(); }, 10s));
  CHECK(child.reaped());
  CHECK(child.describe_end() == "was killed by signal SIGKILL (Killed)");
  CHECK(osiiso::test::eventually([&] { return osiiso::test::process_gone(grandchild); }, 10s));
}
