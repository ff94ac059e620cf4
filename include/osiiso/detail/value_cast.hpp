// SPDX-License-Identifier: MIT
// Reading a task's type-erased value as a T, and the error that names both types when it is not one.
#pragma once

#include <osiiso/enums.hpp>

#include <any>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>

namespace osiiso {

/**
 * A task's value was read as a type it does not hold (TaskResult::value<T>(),
 * RunSummary::values<T>(), SyncTaskHandle<R>::value()). It is a std::bad_any_cast, so code that
 * catches that keeps working, but what() names the task and both types:
 * `"TaskResult::value<long>(): task 'square' holds a value of type int, not long; read it as value<int>()"`.
 */
class BadValueCast : public std::bad_any_cast {
 public:
  /// Carries the whole message.
  explicit BadValueCast(const std::string& message) : message_(message) {}
  /// The message naming the task, the stored and the requested type.
  [[nodiscard]] const char* what() const noexcept override { return message_.what(); }

 private:
  // A runtime_error holds its text in a shared buffer: copying the exception cannot throw.
  std::runtime_error message_;
};

namespace detail {

// Who reads the value, for the message: "TaskResult::value<T>()" or "SyncTaskHandle<T>::value()".
enum class ValueReader { TaskResult, Handle };

// Throws the BadValueCast of a value (empty when the task failed, was cancelled or returned void)
// read as `wanted`.
[[noreturn]] void throw_bad_value_cast(ValueReader reader, std::string_view task, TaskStatus status,
                                       const std::any& value, const std::type_info& wanted);

// The value as a T, or BadValueCast.
template <class T>
const T& value_cast(ValueReader reader, std::string_view task, TaskStatus status, const std::any& value) {
  if (const T* held = std::any_cast<T>(&value)) return *held;
  throw_bad_value_cast(reader, task, status, value, typeid(T));
}

}  // namespace detail
}  // namespace osiiso
