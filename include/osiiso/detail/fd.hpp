// SPDX-License-Identifier: MIT
// File descriptors of the process plumbing: an owning handle, full read/write loops, pipes.
#pragma once

#include <cerrno>
#include <cstddef>
#include <utility>

namespace osiiso::detail {

// Owns one descriptor. Every descriptor osiiso creates is O_CLOEXEC and is recorded in a
// process-wide bitmap, so that a forked worker can close the plumbing of other workers (and of
// other queues) without touching descriptors that belong to the user.
class UniqueFd {
 public:
  UniqueFd() = default;
  // Adopts `fd` and records it as osiiso's own.
  explicit UniqueFd(int fd) noexcept;
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
  // Gives up ownership (and forgets the descriptor in the bitmap).
  int release() noexcept;
  void reset() noexcept;

 private:
  int fd_ = -1;
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

// An O_CLOEXEC pipe; throws std::system_error. Tries to grow the buffer to `capacity` bytes.
Pipe make_pipe(std::size_t capacity = 0);

// Closes, in a freshly forked child, every descriptor osiiso recorded except `keep_a`/`keep_b`.
// Async-signal-safe.
void close_internal_fds_after_fork(int keep_a, int keep_b) noexcept;

// Writes all of `data`, retrying on EINTR and waiting on EAGAIN; false on any other error
// (errno is kept).
bool write_all(int fd, const void* data, std::size_t size) noexcept;
// Reads exactly `size` bytes; returns the count read (less than `size` only at end of file) or
// -1 on error (errno is kept). Retries on EINTR and waits on EAGAIN.
long read_full(int fd, void* data, std::size_t size) noexcept;

// Calls `call` until it does not fail with EINTR; returns its last result.
template <class Call>
auto retry_on_eintr(Call&& call) {
  for (;;) {
    const auto result = call();
    if (result >= 0 || errno != EINTR) return result;
  }
}

void set_nonblocking(int fd, bool on);
void set_cloexec(int fd, bool on);

}  // namespace osiiso::detail
