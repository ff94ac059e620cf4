// SPDX-License-Identifier: MIT
// The control of the compile_fail tests: correct registrations and submissions compile without a
// warning, so a failure of the others is the error they expect, not a broken setup.
#include <osiiso/osiiso.hpp>

#include <string>
#include <tuple>
#include <vector>

int add(int a, int b) { return a + b; }
double add(double a, double b) { return a + b; }
int square(int x) { return x * x; }
std::string greet(const std::string& name) { return "hello " + name; }

OSIISO_TASK_AS("add", static_cast<int (*)(int, int)>(add));
OSIISO_TASK(square);
OSIISO_TASK(greet);

int main() {
  osiiso::ProcessQueue q;
  const int one = q.submit(square, 3).value();
  const auto many = q.map(static_cast<int (*)(int, int)>(add), std::vector{std::tuple{1, 2}});
  const std::vector<std::string> words = q.group(greet, std::vector<std::string>{"a"}).values();
  osiiso::ThreadQueue t;
  const int lambda = t.submit([](int x) { return x + 1; }, 1).value();
  return one + many.at(0).value() + static_cast<int>(words.size()) + lambda > 0 ? 0 : 1;
}
