// SPDX-License-Identifier: MIT
// The one Catch2 runner shared by every test file.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int main(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }
