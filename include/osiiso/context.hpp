// SPDX-License-Identifier: MIT
// Start-method selection for ProcessQueue, the analog of multiprocessing.get_context.
#pragma once

#include <osiiso/enums.hpp>

#include <string_view>

namespace osiiso {

/// Chooses how a ProcessQueue starts its workers; obtain one with get_context().
class Context {
 public:
  /// The platform default: fork on Linux.
  constexpr Context() noexcept = default;
  /// A context for the given start method.
  constexpr explicit Context(StartMethod method) noexcept : method_(method) {}

  /// The start method this context selects.
  [[nodiscard]] constexpr StartMethod start_method() const noexcept { return method_; }
  /// The Python name of the start method ("fork", "spawn", "forkserver").
  [[nodiscard]] constexpr std::string_view name() const noexcept { return to_string(method_); }

  /// Contexts compare equal when they select the same start method.
  friend constexpr bool operator==(Context, Context) noexcept = default;

 private:
  StartMethod method_ = StartMethod::Fork;
};

/// The context for "fork", "spawn" or "forkserver"; any other name throws std::invalid_argument.
[[nodiscard]] Context get_context(std::string_view method);

}  // namespace osiiso
