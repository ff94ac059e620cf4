// SPDX-License-Identifier: MIT
// A task's backend payload together with its default name, ready for the engine.
#pragma once

#include <osiiso/detail/backend.hpp>

#include <memory>
#include <string>

namespace osiiso::detail {

struct PreparedTask {
  std::unique_ptr<Work> work;
  std::string name;
};

}  // namespace osiiso::detail
