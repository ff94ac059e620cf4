// SPDX-License-Identifier: MIT
// Calling user hooks and callbacks: whatever they throw is logged and swallowed.
#pragma once

#include <exception>
#include <type_traits>
#include <utility>

namespace osiiso::detail {

// Logs a hook's exception instead of propagating it.
void report_hook_error(const char* hook, const std::exception_ptr& error) noexcept;

// Calls a user hook, logging and swallowing whatever it throws.
template <class Hook, class... Args>
void emit_hook(const char* name, const Hook& hook, Args&&... args) noexcept {
  if constexpr (std::is_constructible_v<bool, const Hook&>) {
    if (!static_cast<bool>(hook)) return;
  }
  try {
    hook(std::forward<Args>(args)...);
  } catch (...) {
    report_hook_error(name, std::current_exception());
  }
}

}  // namespace osiiso::detail
