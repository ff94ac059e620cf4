// SPDX-License-Identifier: MIT
// The process-wide table of task functions registered with OSIISO_TASK / OSIISO_TASK_AS.
#pragma once

#include <osiiso/errors.hpp>

#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace osiiso::detail {

// Any function pointer, as a lookup key (function pointers do not convert to void*).
using AnyFunction = void (*)();

// Runs the registered function inside a worker: decodes `arguments`, calls the function and
// encodes its result into `result`. Whatever the function throws propagates; a failure to
// encode the result is reported as SerializationError.
using Invoker = void (*)(std::string_view arguments, std::string& result);

// Thrown by an invoker when the arguments cannot be decoded or the result cannot be encoded; the
// worker reports it as an osiiso::OsiisoError naming the task.
class SerializationError : public OsiisoError {
 public:
  using OsiisoError::OsiisoError;
};

struct RegisteredTask {
  std::string name;
  AnyFunction function = nullptr;
  Invoker invoke = nullptr;
};

class Registry {
 public:
  // The one registry of this process (safe to use during static initialization).
  static Registry& instance();
  // Adds an entry; a second registration under the same name must be the same function
  // (otherwise RegistrationError). Entries are never removed, so pointers to them stay valid.
  void add(RegisteredTask task);
  // The entry for a function pointer, or nullptr.
  [[nodiscard]] const RegisteredTask* find(AnyFunction function) const;
  // The entry for a name, or nullptr.
  [[nodiscard]] const RegisteredTask* find(std::string_view name) const;
  // In a freshly forked child: the mutex may have been held by a thread that does not exist
  // there, so it is rebuilt.
  void reset_after_fork() noexcept;

 private:
  Registry() = default;
  mutable std::mutex mu_;
  std::deque<RegisteredTask> entries_;
  std::unordered_map<std::string_view, const RegisteredTask*> by_name_;
  std::unordered_map<AnyFunction, const RegisteredTask*> by_function_;
};

// A static object whose construction registers a task (what OSIISO_TASK expands to). A
// conflicting registration is reported on stderr and aborts: it is a programming error that
// must not go unnoticed.
struct Registrar {
  explicit Registrar(RegisteredTask task) noexcept;
};

// The registered name of `fn`, or nullptr when it was never registered.
template <class R, class... A>
const std::string* registered_name(R (*fn)(A...)) {
  const auto* entry = Registry::instance().find(reinterpret_cast<AnyFunction>(fn));
  return entry != nullptr ? &entry->name : nullptr;
}

// Throws the RegistrationError of ProcessQueue::submit() for an unregistered function;
// `type_name` is the mangled name of the function pointer type.
[[noreturn]] void throw_unregistered(AnyFunction fn, const char* type_name);

}  // namespace osiiso::detail
