// SPDX-License-Identifier: MIT
// EventLoop over epoll(7).
#include <osiiso/detail/event_loop.hpp>

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace osiiso::detail {

static_assert(EventLoop::kReadable == EPOLLIN && EventLoop::kWritable == EPOLLOUT);

EventLoop::EventLoop() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  fd_ = UniqueFd(fd);
}

void EventLoop::watch(int fd, std::uint32_t events, std::uint64_t tag) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  if (::epoll_ctl(fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl");
  }
}

void EventLoop::unwatch(int fd) noexcept {
  if (fd >= 0) ::epoll_ctl(fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

std::span<const std::uint64_t> EventLoop::wait(Clock::duration timeout) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(std::max(timeout, Clock::duration::zero())).count();
  epoll_event events[kBatch];
  const int n = ::epoll_wait(fd_.get(), events, static_cast<int>(kBatch), static_cast<int>(ms));
  if (n < 0) {
    if (errno == EINTR) return {};
    throw std::system_error(errno, std::generic_category(), "epoll_wait");
  }
  for (int i = 0; i < n; ++i) ready_[static_cast<std::size_t>(i)] = events[i].data.u64;
  return {ready_.data(), static_cast<std::size_t>(n)};
}

}  // namespace osiiso::detail
