// SPDX-License-Identifier: MIT
// A check that a test case leaves this process's descriptors and children as it found them.
#pragma once

#include <catch2/catch.hpp>

#include <cstddef>

#include "../helpers.hpp"

namespace osiiso::test {

/// Checks on destruction that the descriptors and children of this process are back to what
/// they were at construction.
struct Baseline {
  std::size_t fds = fd_count();
  std::size_t children = child_count();
  ~Baseline() {
    CHECK(fd_count() == fds);
    CHECK(child_count() == children);
  }
};

}  // namespace osiiso::test
