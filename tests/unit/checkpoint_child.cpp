// SPDX-License-Identifier: MIT
// Helper program for tests/unit/test_checkpoint.cpp: records entries, then dies by SIGKILL with
// the store still open, as a run killed mid-way would.
//   osiiso_checkpoint_child <path> <count> record|watch
// "record" calls Checkpoint::record(); "watch" records through Checkpoint::watch() on the handles
// of a ThreadQueue. Ends by raise(SIGKILL); exits with 1 and a line on stderr if it could not.
#include <osiiso/checkpoint.hpp>
#include <osiiso/thread_queue.hpp>

#include <csignal>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

int square(int x) { return x * x; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fputs("usage: osiiso_checkpoint_child <path> <count> record|watch\n", stderr);
    return 1;
  }
  try {
    osiiso::Checkpoint cp(argv[1]);
    const int count = std::stoi(argv[2]);
    if (std::string_view(argv[3]) == "watch") {
      osiiso::ThreadQueue q({.workers = 4});
      for (int i = 0; i < count; ++i) cp.watch(q.submit(square, i), "square", std::to_string(i));
      // run() returns after every done callback has run, so every record has returned.
      if (!q.run().ok()) throw std::runtime_error("a task failed");
    } else {
      for (int i = 0; i < count; ++i) cp.record("square", std::to_string(i), square(i));
    }
    std::raise(SIGKILL);  // no destructor, no close: the records must already be safe
  } catch (const std::exception& e) {
    std::fprintf(stderr, "osiiso_checkpoint_child: %s\n", e.what());
  }
  return 1;
}
