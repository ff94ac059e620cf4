// SPDX-License-Identifier: MIT
// The message of a value read as the wrong type.
#include <osiiso/detail/value_cast.hpp>

#include <osiiso/detail/demangle.hpp>

#include <fmt/format.h>

namespace osiiso::detail {

void throw_bad_value_cast(ValueReader reader, std::string_view task, TaskStatus status, const std::any& value,
                          const std::type_info& wanted) {
  const std::string type = demangle(wanted.name());
  const std::string reading = reader == ValueReader::TaskResult ? fmt::format("TaskResult::value<{}>()", type)
                                                                : fmt::format("SyncTaskHandle<{}>::value()", type);
  if (value.has_value()) {
    const std::string held = demangle(value.type().name());
    // A handle's type comes from the submission, so only a TaskResult reader can choose another one.
    const std::string advice = reader == ValueReader::TaskResult ? fmt::format("; read it as value<{}>()", held) : "";
    throw BadValueCast(
        fmt::format("{}: task '{}' holds a value of type {}, not {}{}", reading, task, held, type, advice));
  }
  const char* why = status == TaskStatus::Succeeded ? "its function returns void"
                    : status == TaskStatus::Failed  ? "it failed; its exception is in TaskResult::exception"
                                                    : "it was cancelled";
  throw BadValueCast(fmt::format("{}: task '{}' holds no value ({}); check has_value() first", reading, task, why));
}

}  // namespace osiiso::detail
