// SPDX-License-Identifier: MIT
// A lambda given to ProcessQueue::submit: the static_assert is the first and only error (the handle
// still has the lambda's result type, so the code after the call compiles).
// FIRST ERROR: ProcessQueue::submit(): a lambda or function object cannot run in another process
// ONLY ERROR
#include <osiiso/osiiso.hpp>

int main() {
  osiiso::ProcessQueue q;
  const int value = q.submit([](int x) { return x * x; }, 3).value();
  return value == 9 ? 0 : 1;
}
