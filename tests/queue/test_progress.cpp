// SPDX-License-Identifier: MIT
// Progress on real queues: the closing line off a terminal, redraws in place on a pty, and the
// stats() counters it reads.
#include <osiiso/progress.hpp>
#include <osiiso/thread_queue.hpp>

#include "../helpers.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace osiiso;
using namespace std::chrono_literals;

namespace {
// Everything written to a pipe while `write` runs (it must not fill the pipe buffer).
template <class Write>
std::string captured(Write write) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  write(fds[1]);
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  return out;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

int fail() { throw std::runtime_error("boom"); }
}  // namespace

TEST_CASE("off a terminal, Progress writes only its closing line", "[progress]") {
  ThreadQueue q({.workers = 2});
  const auto text = captured([&](int fd) {
    std::vector<SyncTaskHandle<int>> handles;
    for (int i = 0; i < 5; ++i) handles.push_back(q.submit({.name = "square"}, [i] { return i * i; }));
    handles.push_back(q.submit({.name = "square"}, fail));
    Progress progress(handles, {.fd = fd});
    q.join();
  });
  CHECK(occurrences(text, "\n") == 1);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.starts_with("square 100%|"));
  CHECK_THAT(text, Catch::Matchers::Contains("| 6/6 [") && Catch::Matchers::Contains(", failed=1]\n"));
}

TEST_CASE("Progress on a queue counts the results that arrive after it starts watching", "[progress]") {
  ThreadQueue q({.workers = 1});
  q.submit([] { return 1; }).wait();
  // The handle finishes just before the queue counts its result.
  REQUIRE(test::eventually([&] { return q.stats().completed == 1; }));
  const auto text = captured([&](int fd) {
    Progress progress(q, {.label = "batch", .fd = fd});
    for (int i = 0; i < 3; ++i) static_cast<void>(q.submit([] { return 2; }));
    q.join();
    progress.finish();
    progress.finish();  // once only
  });
  CHECK(text.starts_with("batch 100%|"));
  CHECK_THAT(text, Catch::Matchers::Contains("| 3/3 ["));
  CHECK(occurrences(text, "\n") == 1);
}

TEST_CASE("an unbounded Progress shows the count and the rate; a total can be given", "[progress]") {
  ThreadQueue q({.workers = 1});
  const auto text = captured([&](int fd) {
    auto handles = q.map([](int x) { return x; }, std::vector<int>{1, 2});
    Progress unbounded(handles, {.label = "items", .unbounded = true, .fd = fd});
    Progress of_four(handles, {.label = "half", .total = 4, .fd = fd});
    q.join();
  });
  CHECK_THAT(text, Catch::Matchers::Contains("half  50%|") && Catch::Matchers::Contains("| 2/4 ["));
  CHECK_THAT(text, Catch::Matchers::Contains("items 2 task [00:00, "));
}

TEST_CASE("stats() counts results by status and the tasks waiting to retry", "[progress][stats]") {
  ThreadQueue q({.workers = 1});
  q.submit([] { return 1; }).wait();
  q.submit(fail).wait();
  REQUIRE(test::eventually([&] { return q.stats().completed == 2; }));
  auto waiting = q.submit({.retries = 1, .retry_delay = 60s}, fail);
  q.start();
  REQUIRE(test::eventually([&] { return q.stats().retrying == 1; }));
  CHECK(waiting.status() == TaskStatus::Retrying);
  waiting.cancel();
  REQUIRE(test::eventually([&] { return q.stats().completed == 3; }));
  const Stats s = q.stats();
  CHECK(s.succeeded == 1);
  CHECK(s.failed == 1);
  CHECK(s.cancelled == 1);
  CHECK(s.retrying == 0);
  CHECK(s.completed == 3);
  q.clear_results();
  CHECK(q.stats().failed == 0);
}

TEST_CASE("run({.progress = true}) redraws one line in place on a terminal", "[progress][pty]") {
  winsize size{};
  size.ws_col = 60;
  size.ws_row = 24;
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::execl(OSIISO_PROGRESS_CHILD, OSIISO_PROGRESS_CHILD, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string out;
  char buf[4096];
  // EIO marks the end once the child has closed the terminal.
  for (ssize_t n; (n = ::read(master, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(master);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  INFO(out);
  // The first draw at once, at least one more (the closing one), each starting with a carriage return.
  CHECK(occurrences(out, "\rrun ") >= 2);
  CHECK_THAT(out, Catch::Matchers::EndsWith("| 12/12 [00:00<00:00, " + out.substr(out.rfind(", ") + 2)));
  CHECK(out.ends_with("task/s]\r\n"));  // the terminal turns the closing newline into CR LF
  // Every drawn line fits the 60 columns (the last one is left free).
  std::size_t start = 0;
  while ((start = out.find('\r', start)) != std::string::npos) {
    const auto end = std::min(out.find('\r', start + 1), out.size());
    CHECK(osiiso::detail::display_width(std::string_view(out).substr(start + 1, end - start - 1)) <= 59);
    start = end;
  }
}
