// SPDX-License-Identifier: MIT
// The generated version header agrees with itself and with project(osiiso VERSION ...).
#include <osiiso/version.hpp>

#include <fmt/format.h>
#include <catch2/catch.hpp>

TEST_CASE("version macros and constants agree", "[version]") {
  STATIC_REQUIRE(osiiso::version_major == OSIISO_VERSION_MAJOR);
  STATIC_REQUIRE(osiiso::version_minor == OSIISO_VERSION_MINOR);
  STATIC_REQUIRE(osiiso::version_patch == OSIISO_VERSION_PATCH);
  STATIC_REQUIRE(OSIISO_VERSION == OSIISO_VERSION_MAJOR * 10000 + OSIISO_VERSION_MINOR * 100 + OSIISO_VERSION_PATCH);
  CHECK(fmt::format("{}.{}.{}", osiiso::version_major, osiiso::version_minor, osiiso::version_patch) ==
        osiiso::version_string);
  CHECK(osiiso::version_string == OSIISO_VERSION_STRING);
}
