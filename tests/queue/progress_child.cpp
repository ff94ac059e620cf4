// SPDX-License-Identifier: MIT
// A program whose stderr is a terminal in tests/queue/test_progress.cpp (run under a pty): one
// ThreadQueue run with a progress line, long enough for a few redraws.
#include <osiiso/thread_queue.hpp>

#include <chrono>
#include <thread>
#include <vector>

int main() {
  using namespace std::chrono_literals;
  osiiso::ThreadQueue queue({.workers = 1});
  for (int i = 0; i < 12; ++i) static_cast<void>(queue.submit([] { std::this_thread::sleep_for(25ms); }));
  return queue.run({.progress = true}).ok() ? 0 : 1;
}
