// SPDX-License-Identifier: MIT
// Admission on bounded queues: a submit that finds the queue full blocks until there is room,
// and never forever on a queue nothing started.
#include <osiiso/process_queue.hpp>
#include <osiiso/registry.hpp>
#include <osiiso/thread_queue.hpp>

#include "../helpers.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace osiiso;
using namespace std::chrono_literals;

namespace admission {
int twice(int x) { return 2 * x; }
}  // namespace admission
OSIISO_TASK_AS("admission::twice", admission::twice);

TEST_CASE("a full bounded ThreadQueue that was never started starts on a blocked submit", "[admission]") {
  ThreadQueue q({.workers = 1, .size = 2});
  std::vector<SyncTaskHandle<int>> handles;
  for (int i = 0; i < 6; ++i) handles.push_back(q.submit(admission::twice, i));
  for (int i = 0; i < 6; ++i) CHECK(handles[static_cast<std::size_t>(i)].value() == 2 * i);
}

TEST_CASE("a full bounded ProcessQueue that was never started starts on a blocked submit", "[admission]") {
  ProcessQueue q({.workers = 1, .size = 2});
  std::vector<SyncTaskHandle<int>> handles;
  for (int i = 0; i < 6; ++i) handles.push_back(q.submit(admission::twice, i));
  for (int i = 0; i < 6; ++i) CHECK(handles[static_cast<std::size_t>(i)].value() == 2 * i);
  const auto summary = q.run();
  CHECK(summary.succeeded == 6);
}
