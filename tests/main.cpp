// SPDX-License-Identifier: MIT
// The one Catch2 runner shared by every test file.
#define CATCH_CONFIG_RUNNER
#include <osiiso/init.hpp>

#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  // A spawned ProcessQueue worker re-executes this binary; init() serves its tasks and never returns.
  osiiso::init(argc, argv);
  return Catch::Session().run(argc, argv);
}
