// SPDX-License-Identifier: MIT
// Descriptor ownership, the bitmap of osiiso's own descriptors, and EINTR-safe I/O loops.
#include <osiiso/detail/fd.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <system_error>

namespace osiiso::detail {

namespace {
// One bit per descriptor below kTracked; lock-free so that a forked child can read it safely.
constexpr int kTracked = 1 << 16;
std::atomic<std::uint64_t> g_fd_bits[kTracked / 64];

void mark(int fd, bool on) noexcept {
  if (fd < 0 || fd >= kTracked) return;
  const auto bit = std::uint64_t{1} << (fd % 64);
  if (on) {
    g_fd_bits[fd / 64].fetch_or(bit, std::memory_order_relaxed);
  } else {
    g_fd_bits[fd / 64].fetch_and(~bit, std::memory_order_relaxed);
  }
}

void wait_for(int fd, short events) noexcept {
  pollfd p{fd, events, 0};
  (void)::poll(&p, 1, -1);
}
}  // namespace

UniqueFd::UniqueFd(int fd) noexcept : fd_(fd) { mark(fd, true); }

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

int UniqueFd::release() noexcept {
  mark(fd_, false);
  return std::exchange(fd_, -1);
}

void UniqueFd::reset() noexcept {
  if (fd_ >= 0) {
    mark(fd_, false);
    ::close(fd_);
    fd_ = -1;
  }
}

Pipe make_pipe(std::size_t capacity) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  Pipe p{UniqueFd(fds[0]), UniqueFd(fds[1])};
  // Best effort: unprivileged processes are capped by /proc/sys/fs/pipe-max-size.
  if (capacity > 0) (void)::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(capacity));
  return p;
}

void close_internal_fds_after_fork(int keep_a, int keep_b) noexcept {
  for (int word = 0; word < kTracked / 64; ++word) {
    auto bits = g_fd_bits[word].load(std::memory_order_relaxed);
    while (bits != 0) {
      const int b = __builtin_ctzll(bits);
      bits &= bits - 1;
      const int fd = word * 64 + b;
      if (fd != keep_a && fd != keep_b) {
        ::close(fd);
        mark(fd, false);
      }
    }
  }
}

bool write_all(int fd, const void* data, std::size_t size) noexcept {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const auto n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_for(fd, POLLOUT);
        continue;
      }
      return false;
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

long read_full(int fd, void* data, std::size_t size) noexcept {
  auto* p = static_cast<char*>(data);
  std::size_t got = 0;
  while (got < size) {
    const auto n = ::read(fd, p + got, size - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_for(fd, POLLIN);
        continue;
      }
      return -1;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return static_cast<long>(got);
}

void set_nonblocking(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0) {
    throw std::system_error(errno, std::generic_category(), "fcntl(F_SETFL)");
  }
}

void set_cloexec(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0 || ::fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC) < 0) {
    throw std::system_error(errno, std::generic_category(), "fcntl(F_SETFD)");
  }
}

}  // namespace osiiso::detail
