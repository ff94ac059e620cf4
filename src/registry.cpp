// SPDX-License-Identifier: MIT
// The registry of task functions, and the diagnostics of registration mistakes.
#include <osiiso/detail/registry.hpp>

#include <osiiso/detail/demangle.hpp>
#include <osiiso/errors.hpp>

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <new>

namespace osiiso::detail {

Registry& Registry::instance() {
  // Never destroyed: workers and late static destructors may still look tasks up.
  static auto* registry = new Registry();
  return *registry;
}

void Registry::add(RegisteredTask task) {
  if (task.name.empty()) throw RegistrationError("OSIISO_TASK_AS(): the task name must not be empty");
  if (task.function == nullptr || task.invoke == nullptr) {
    throw RegistrationError(fmt::format("OSIISO_TASK_AS(\"{}\", ...): the function is null", task.name));
  }
  std::lock_guard lock(mu_);
  if (const auto it = by_name_.find(task.name); it != by_name_.end()) {
    if (it->second->function == task.function) return;
    throw RegistrationError(fmt::format(
        "OSIISO_TASK(): the name '{}' is already registered for a different function; use OSIISO_TASK_AS(\"unique "
        "name\", fn) to give one of them another name",
        task.name));
  }
  const auto& entry = entries_.emplace_back(std::move(task));
  by_name_.emplace(entry.name, &entry);
  by_function_.emplace(entry.function, &entry);  // the first name of a function is its default name
}

const RegisteredTask* Registry::find(AnyFunction function) const {
  std::lock_guard lock(mu_);
  const auto it = by_function_.find(function);
  return it != by_function_.end() ? it->second : nullptr;
}

const RegisteredTask* Registry::find(std::string_view name) const {
  std::lock_guard lock(mu_);
  const auto it = by_name_.find(name);
  return it != by_name_.end() ? it->second : nullptr;
}

void Registry::reset_after_fork() noexcept { new (&mu_) std::mutex(); }

Registrar::Registrar(RegisteredTask task) noexcept {
  try {
    Registry::instance().add(std::move(task));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "osiiso: fatal: %s\n", e.what());
    std::abort();
  }
}

void throw_unregistered(AnyFunction fn, const char* type_name) {
  const std::string type = demangle(type_name);
  // The symbol name, when the dynamic symbol table has it: functions of shared libraries, or of
  // a program linked with -rdynamic (ENABLE_EXPORTS). Functions with internal linkage never are.
  std::string name;
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(fn), &info) != 0 && info.dli_sname != nullptr &&
      info.dli_saddr == reinterpret_cast<void*>(fn)) {
    name = demangle(info.dli_sname);
    if (const auto paren = name.find('('); paren != std::string::npos) name.resize(paren);
  }
  if (name.empty()) {
    throw RegistrationError(fmt::format(
        "ProcessQueue::submit(): a function of type '{}' is not registered: add OSIISO_TASK(<its name>) at namespace "
        "scope in a source file linked into the program (its name is not known here: only functions exported from "
        "a shared library, or from a program linked with -rdynamic, can be named)",
        type));
  }
  throw RegistrationError(
      fmt::format("ProcessQueue::submit(): function '{}' ({}) is not registered: add OSIISO_TASK({}) at namespace "
                  "scope in a source file linked into the program",
                  name, type, name));
}

}  // namespace osiiso::detail
