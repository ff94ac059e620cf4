// SPDX-License-Identifier: MIT
// A worker's memory as the kernel counts it (/proc/<pid>/statm), for memory limits and recycling.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>

namespace osiiso::detail {

struct ProcessMemory {
  std::size_t mapped = 0;    // address space, what RLIMIT_AS counts
  std::size_t resident = 0;  // resident set
};

// Nullopt when the process is gone or /proc cannot be read.
[[nodiscard]] std::optional<ProcessMemory> process_memory(pid_t pid) noexcept;

// "64 MiB" (or "1.50 MiB") for messages.
[[nodiscard]] std::string mebibytes(std::size_t bytes);

}  // namespace osiiso::detail
