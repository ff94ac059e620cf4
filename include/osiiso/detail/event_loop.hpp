// SPDX-License-Identifier: MIT
// The poller's epoll instance: descriptors watched under 64-bit tags, one wait at a time.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/fd.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace osiiso::detail {

class EventLoop {
 public:
  // Readable, writable (epoll's EPOLLIN, EPOLLOUT).
  static constexpr std::uint32_t kReadable = 0x001;
  static constexpr std::uint32_t kWritable = 0x004;

  // Throws std::system_error when the kernel gives no epoll instance (EMFILE, ENOMEM).
  EventLoop();

  // Throws std::system_error (epoll_ctl).
  void watch(int fd, std::uint32_t events, std::uint64_t tag);
  void unwatch(int fd) noexcept;
  // Waits at most `timeout` (rounded up to a millisecond) and returns the tags of the ready
  // descriptors, valid until the next wait; none when interrupted. Throws on an epoll error.
  std::span<const std::uint64_t> wait(Clock::duration timeout);

 private:
  static constexpr std::size_t kBatch = 64;
  UniqueFd fd_;
  std::array<std::uint64_t, kBatch> ready_{};
};

}  // namespace osiiso::detail
