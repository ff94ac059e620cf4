// SPDX-License-Identifier: MIT
// Readable type names for task names and error messages.
#pragma once

#include <string>
#include <typeinfo>

namespace osiiso::detail {

// The demangled form of a mangled type name (the input itself if it cannot be demangled).
std::string demangle(const char* mangled);

// The demangled name of T.
template <class T>
std::string type_name() {
  return demangle(typeid(T).name());
}

}  // namespace osiiso::detail
