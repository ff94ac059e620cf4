// SPDX-License-Identifier: MIT
// Reading /proc/<pid>/statm.
#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/proc_memory.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <charconv>

namespace osiiso::detail {

std::optional<ProcessMemory> process_memory(pid_t pid) noexcept {
  std::array<char, 64> path{};
  std::array<char, 128> text{};
  const auto end = fmt::format_to_n(path.data(), path.size() - 1, "/proc/{}/statm", pid).out;
  *end = '\0';
  const UniqueFd fd(retry_on_eintr([&] { return ::open(path.data(), O_RDONLY | O_CLOEXEC); }));
  if (fd.get() < 0) return std::nullopt;
  const long n = read_full(fd.get(), text.data(), text.size() - 1);
  if (n <= 0) return std::nullopt;
  // "size resident shared text lib data dt", in pages.
  std::size_t pages[2] = {0, 0};
  const char* at = text.data();
  const char* stop = text.data() + n;
  for (auto& value : pages) {
    const auto [next, error] = std::from_chars(at, stop, value);
    if (error != std::errc()) return std::nullopt;
    at = next + 1;
  }
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return ProcessMemory{pages[0] * page, pages[1] * page};
}

std::string mebibytes(std::size_t bytes) {
  constexpr std::size_t mib = std::size_t{1} << 20;
  if (bytes % mib == 0) return fmt::format("{} MiB", bytes / mib);
  return fmt::format("{:.2f} MiB", static_cast<double>(bytes) / static_cast<double>(mib));
}

}  // namespace osiiso::detail
