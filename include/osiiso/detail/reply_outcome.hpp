// SPDX-License-Identifier: MIT
// A worker's reply as the engine's outcome, shared by every backend that runs registered
// functions in worker processes (ProcessQueue's poller, MpiQueue's rank 0).
#pragma once

#include <osiiso/detail/backend.hpp>
#include <osiiso/detail/frame.hpp>

#include <cstddef>
#include <optional>
#include <string_view>

namespace osiiso::detail {

// The outcome of `attempt` from a Value or Error reply payload: the value decoded, or the
// exception rebuilt (a std::bad_alloc under `memory_limit` becomes a MemoryLimitError naming it).
[[nodiscard]] Outcome outcome_of_reply(const Attempt& attempt, FrameType type, std::string_view payload,
                                       std::optional<std::size_t> memory_limit);

// The memory cap of an attempt: its task's, else the queue's.
[[nodiscard]] std::optional<std::size_t> memory_limit_of(const Attempt& attempt,
                                                         std::optional<std::size_t> queue_limit);

}  // namespace osiiso::detail
