// SPDX-License-Identifier: MIT
// EventLoop over epoll(7).
#include <osiiso/detail/event_loop.hpp>

#include <sys/epoll.h>
#include <time.h>

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

namespace {

// A wait shorter than a millisecond, which epoll_wait cannot express; epoll_pwait2 (Linux 5.11)
// can. Older kernels round it up to a millisecond.
int wait_briefly(int epoll_fd, epoll_event* events, int max, Clock::duration timeout) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
  const timespec brief{0, static_cast<long>(ns)};
  const int n = ::epoll_pwait2(epoll_fd, events, max, &brief, nullptr);
  if (n >= 0 || errno != ENOSYS) return n;
  return ::epoll_wait(epoll_fd, events, max, 1);
}

}  // namespace

std::span<const std::uint64_t> EventLoop::wait(Clock::duration timeout) {
  timeout = std::max(timeout, Clock::duration::zero());
  epoll_event events[kBatch];
  const int n = timeout > Clock::duration::zero() && timeout < std::chrono::milliseconds(1)
                    ? wait_briefly(fd_.get(), events, static_cast<int>(kBatch), timeout)
                    : ::epoll_wait(fd_.get(), events, static_cast<int>(kBatch),
                                   static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(timeout).count()));
  if (n < 0) {
    if (errno == EINTR) return {};
    throw std::system_error(errno, std::generic_category(), "epoll_wait");
  }
  for (int i = 0; i < n; ++i) ready_[static_cast<std::size_t>(i)] = events[i].data.u64;
  return {ready_.data(), static_cast<std::size_t>(n)};
}

}  // namespace osiiso::detail
