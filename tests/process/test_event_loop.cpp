// SPDX-License-Identifier: MIT
// EventLoop and WakeEvent: tags of ready descriptors, timeouts, and one write per wake-up.
#include <osiiso/detail/event_loop.hpp>
#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/wake_event.hpp>

#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using osiiso::detail::EventLoop;
using osiiso::detail::WakeEvent;
using namespace std::chrono_literals;

TEST_CASE("an event loop reports the tags of ready descriptors and nothing after unwatch", "[event_loop]") {
  EventLoop loop;
  auto a = osiiso::detail::make_pipe();
  auto b = osiiso::detail::make_pipe();
  loop.watch(a.read.get(), EventLoop::kReadable, 7);
  loop.watch(b.read.get(), EventLoop::kReadable, 9);
  CHECK(loop.wait(0ms).empty());
  REQUIRE(::write(b.write.get(), "x", 1) == 1);
  const auto ready = loop.wait(1s);
  REQUIRE(ready.size() == 1);
  CHECK(ready[0] == 9);
  loop.unwatch(b.read.get());
  CHECK(loop.wait(0ms).empty());
  loop.watch(a.write.get(), EventLoop::kWritable, 11);
  const auto writable = loop.wait(1s);
  REQUIRE(writable.size() == 1);
  CHECK(writable[0] == 11);
}

TEST_CASE("a wake event is readable until drained, and a wake after the drain is never lost", "[event_loop]") {
  EventLoop loop;
  WakeEvent wake;
  loop.watch(wake.fd(), EventLoop::kReadable, 1);
  CHECK(loop.wait(0ms).empty());
  wake.wake();
  wake.wake();  // pending: no second write
  CHECK(loop.wait(1s).size() == 1);
  wake.drain();
  CHECK(loop.wait(0ms).empty());
  wake.wake();  // after a drain the flag is clear again: this one writes
  CHECK(loop.wait(1s).size() == 1);
}

TEST_CASE("a wake from another thread ends a long wait", "[event_loop]") {
  EventLoop loop;
  WakeEvent wake;
  loop.watch(wake.fd(), EventLoop::kReadable, 1);
  std::thread waker([&] { wake.wake(); });
  const auto started = std::chrono::steady_clock::now();
  const auto ready = loop.wait(30s);
  waker.join();
  CHECK(ready.size() == 1);
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}
