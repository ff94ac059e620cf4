// SPDX-License-Identifier: MIT
// OSIISO_TASK of an overloaded function: the one error says how to register one overload.
// FIRST ERROR: register one of them with OSIISO_TASK_AS("add", static_cast<R (*)(Args...)>(add))
// ONLY ERROR
#include <osiiso/osiiso.hpp>

int add(int a, int b) { return a + b; }
double add(double a, double b) { return a + b; }

OSIISO_TASK(add);

int main() { return 0; }
