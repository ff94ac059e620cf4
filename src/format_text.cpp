// SPDX-License-Identifier: MIT
// The one instantiation of fmt's string formatter the public formatters share.
#include <osiiso/detail/format_text.hpp>

#include <fmt/format.h>

namespace osiiso::detail {

fmt::format_context::iterator format_text(const fmt::formatter<std::string_view>& spec, std::string_view text,
                                          fmt::format_context& ctx) {
  return spec.format(text, ctx);
}

}  // namespace osiiso::detail
