// SPDX-License-Identifier: MIT
// Readable type names for task names and error messages.
#pragma once

#include <string>
#include <typeinfo>

namespace osiiso::detail {

// The demangled form of a mangled type name (the input itself if it cannot be demangled).
std::string demangle(const char* mangled);

// The demangled name of T (demangled once per type: task names are asked for on every submission).
template <class T>
const std::string& type_name() {
  static const std::string name = demangle(typeid(T).name());
  return name;
}

}  // namespace osiiso::detail
