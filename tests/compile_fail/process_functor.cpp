// SPDX-License-Identifier: MIT
// A function object given to ProcessQueue::group: the static_assert is the first and only error.
// FIRST ERROR: ProcessQueue::submit(): a lambda or function object cannot run in another process
// ONLY ERROR
#include <osiiso/osiiso.hpp>

#include <vector>

namespace {
struct Square {
  int operator()(int x) const { return x * x; }
};
}  // namespace

int main() {
  osiiso::ProcessQueue q;
  const std::vector<int> values = q.group(Square{}, std::vector{1, 2}).values();
  return values.size() == 2 ? 0 : 1;
}
