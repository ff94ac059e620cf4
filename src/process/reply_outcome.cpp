// SPDX-License-Identifier: MIT
// A worker's reply as the engine's outcome.
#include <osiiso/detail/reply_outcome.hpp>

#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/proc_memory.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>

#include <new>

namespace osiiso::detail {

namespace {

// A std::bad_alloc under a memory cap stays a std::bad_alloc, and says which cap it hit.
std::exception_ptr name_memory_limit(const std::exception_ptr& error, const Attempt& attempt, std::size_t limit) {
  try {
    std::rethrow_exception(error);
  } catch (const std::bad_alloc&) {
    return std::make_exception_ptr(MemoryLimitError(
        fmt::format("task '{}' exceeded its memory limit of {} (std::bad_alloc in the worker; the worker was replaced)",
                    attempt.task->state->name, mebibytes(limit))));
  } catch (...) {
    return error;
  }
}

}  // namespace

std::optional<std::size_t> memory_limit_of(const Attempt& attempt, std::optional<std::size_t> queue_limit) {
  return attempt.task->memory_limit ? attempt.task->memory_limit : queue_limit;
}

Outcome outcome_of_reply(const Attempt& attempt, FrameType type, std::string_view payload,
                         std::optional<std::size_t> memory_limit) {
  Outcome outcome;
  if (type == FrameType::Value) {
    try {
      outcome.value = static_cast<const ProcessWork&>(attempt.work()).decode(payload);
    } catch (const std::exception& e) {
      outcome.error = std::make_exception_ptr(OsiisoError(
          fmt::format("task '{}': its result could not be deserialized: {}", attempt.task->state->name, e.what())));
    }
  } else {
    outcome.error = decode_exception(payload);
    if (memory_limit) outcome.error = name_memory_limit(outcome.error, attempt, *memory_limit);
  }
  return outcome;
}

}  // namespace osiiso::detail
