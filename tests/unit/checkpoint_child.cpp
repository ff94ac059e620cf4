// SPDX-License-Identifier: MIT
// Helper program for tests/unit/test_checkpoint.cpp: records entries, then dies by SIGKILL with
// the store still open, as a run killed mid-way would.
//   osiiso_checkpoint_child <path> <count> record|watch|resume
// "record" calls Checkpoint::record(); "watch" records through Checkpoint::watch() on the handles
// of a ThreadQueue; "resume" maps over 0..count-1 with osiiso::resume(cp, "square") and is killed
// half-way through the run. Ends by raise(SIGKILL); exits with 1 and a line on stderr if it could not.
#include <osiiso/checkpoint.hpp>
#include <osiiso/thread_queue.hpp>

#include <csignal>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

int square(int x) { return x * x; }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fputs("usage: osiiso_checkpoint_child <path> <count> record|watch|resume\n", stderr);
    return 1;
  }
  try {
    osiiso::Checkpoint cp(argv[1]);
    const int count = std::stoi(argv[2]);
    if (std::string_view(argv[3]) == "resume") {
      int finished = 0;
      // Killed from the hook of the task at half-way: a run cut short by a crash.
      osiiso::ThreadQueue q({.workers = 1, .on_complete = [&](const osiiso::TaskResult&) {
                               if (++finished == count / 2) std::raise(SIGKILL);
                             }});
      std::vector<int> inputs;
      for (int i = 0; i < count; ++i) inputs.push_back(i);
      static_cast<void>(q.map(square, inputs, osiiso::resume(cp, "square")));
      static_cast<void>(q.run());
    } else if (std::string_view(argv[3]) == "watch") {
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
