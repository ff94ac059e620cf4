// SPDX-License-Identifier: MIT
// WakeEvent over eventfd(2).
#include <osiiso/detail/wake_event.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace osiiso::detail {

WakeEvent::WakeEvent() {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  fd_ = UniqueFd(fd);
}

void WakeEvent::wake() noexcept {
  if (pending_.exchange(true)) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(fd_.get(), &one, sizeof one);
}

void WakeEvent::drain() noexcept {
  std::uint64_t value;
  [[maybe_unused]] const auto n = ::read(fd_.get(), &value, sizeof value);
  pending_ = false;
}

}  // namespace osiiso::detail
