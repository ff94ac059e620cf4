// SPDX-License-Identifier: MIT
// How osiiso's fmt formatters write their text: fmt/core.h only declares
// formatter<string_view>::format (fmt/format.h defines it), so the public headers call this
// function, compiled in the library, instead of instantiating it in every program.
#pragma once

#include <fmt/core.h>

#include <string_view>

namespace osiiso::detail {

// Writes `text` with the fill, alignment and width that `spec` parsed.
fmt::format_context::iterator format_text(const fmt::formatter<std::string_view>& spec, std::string_view text,
                                          fmt::format_context& ctx);

}  // namespace osiiso::detail
