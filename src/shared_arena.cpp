// SPDX-License-Identifier: MIT
// SharedArena: a sealed memfd mapping that carries one large payload at a time between a worker
// and its parent, and the payloads of the frames that announce and point into arenas.
#include <osiiso/detail/shared_arena.hpp>

#include <osiiso/detail/frame.hpp>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>

namespace osiiso::detail {

namespace {
// The busy word's values.
constexpr std::uint32_t kFree = 0;
constexpr std::uint32_t kBusy = 1;

// Arenas grow by whole mebibytes, so that a stream of payloads of slowly growing size does not
// remap for each one.
constexpr std::size_t kGrowStep = std::size_t{1} << 20;

std::size_t round_up(std::size_t size) noexcept { return (size + kGrowStep - 1) / kGrowStep * kGrowStep; }

std::atomic_ref<std::uint32_t> busy_word(char* base) noexcept {
  return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(base));
}

std::size_t file_size(int fd) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < 0) return 0;
  return static_cast<std::size_t>(st.st_size);
}
}  // namespace

SharedArena SharedArena::create(const char* name) noexcept {
  SharedArena arena;
  const int fd = ::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return arena;
  arena.fd_ = UniqueFd(fd);
  // Sealed before the other process can see it: a mapping checked against the size never faults.
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0 || ::ftruncate(fd, kArenaHeader) != 0 || !arena.map(kArenaHeader)) {
    return SharedArena();
  }
  return arena;
}

SharedArena SharedArena::adopt(UniqueFd fd) noexcept {
  SharedArena arena;
  if (!fd) return arena;
  const int seals = ::fcntl(fd.get(), F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) return arena;
  const auto size = file_size(fd.get());
  if (size < kArenaHeader) return arena;
  arena.fd_ = std::move(fd);
  if (!arena.map(size)) return SharedArena();
  return arena;
}

SharedArena::SharedArena(SharedArena&& other) noexcept
    : fd_(std::move(other.fd_)),
      base_(std::exchange(other.base_, nullptr)),
      mapped_(std::exchange(other.mapped_, 0)),
      viewed_(std::exchange(other.viewed_, 0)),
      holding_(std::exchange(other.holding_, false)) {}

SharedArena& SharedArena::operator=(SharedArena&& other) noexcept {
  if (this != &other) {
    unmap();
    fd_ = std::move(other.fd_);
    base_ = std::exchange(other.base_, nullptr);
    mapped_ = std::exchange(other.mapped_, 0);
    viewed_ = std::exchange(other.viewed_, 0);
    holding_ = std::exchange(other.holding_, false);
  }
  return *this;
}

bool SharedArena::map(std::size_t size) noexcept {
  void* p = base_ == nullptr ? ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0)
                             : ::mremap(base_, mapped_, size, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) return false;  // the old mapping, if any, is still in place
  // Not inherited by workers forked later (nor by a task's own children): a dead worker's arena
  // must not live on in its siblings.
  (void)::madvise(p, size, MADV_DONTFORK);
  base_ = static_cast<char*>(p);
  mapped_ = size;
  return true;
}

void SharedArena::unmap() noexcept {
  if (base_ != nullptr) ::munmap(base_, mapped_);
  base_ = nullptr;
  mapped_ = 0;
}

bool SharedArena::put(std::string_view payload, std::string_view rest) noexcept {
  if (base_ == nullptr || busy_word(base_).load(std::memory_order_acquire) != kFree) return false;
  const std::size_t size = payload.size() + rest.size();
  const std::size_t need = kArenaHeader + size;
  if (size < payload.size() || need < size) return false;
  if (need > mapped_) {
    const std::size_t grown = round_up(need);
    // The other process may have grown the file already (never shrunk: it is sealed).
    if (file_size(fd_.get()) < grown && ::ftruncate(fd_.get(), static_cast<off_t>(grown)) != 0) return false;
    if (!map(grown)) return false;
  }
  std::memcpy(base_ + kArenaHeader, payload.data(), payload.size());
  if (!rest.empty()) std::memcpy(base_ + kArenaHeader + payload.size(), rest.data(), rest.size());
  busy_word(base_).store(kBusy, std::memory_order_release);
  return true;
}

std::string_view SharedArena::view(std::uint64_t size, std::size_t max_size) {
  if (base_ == nullptr) throw FrameError("corrupt frame on a ProcessQueue pipe (a shared payload without an arena)");
  if (size > max_size) {
    throw FrameError(
        fmt::format("frame of {} bytes exceeds the ProcessQueue limit of {} bytes; pass smaller arguments/results",
                    size, max_size));
  }
  if (busy_word(base_).load(std::memory_order_acquire) != kBusy) {
    throw FrameError("corrupt frame on a ProcessQueue pipe (a shared payload that was never written)");
  }
  const std::size_t need = kArenaHeader + static_cast<std::size_t>(size);
  if (need > mapped_) {
    const auto available = file_size(fd_.get());
    if (available < need) {
      throw FrameError(
          fmt::format("corrupt frame on a ProcessQueue pipe (a shared payload of {} bytes in an arena of {} bytes)",
                      size, available > kArenaHeader ? available - kArenaHeader : 0));
    }
    // Only what the payload needs: the other process may have grown the file to any size.
    if (!map(std::min(available, round_up(need)))) {
      throw FrameError(fmt::format("cannot map a shared payload of {} bytes: {}", size, std::strerror(errno)));
    }
  }
  viewed_ = static_cast<std::size_t>(size);
  holding_ = true;
  return {base_ + kArenaHeader, viewed_};
}

void SharedArena::release() noexcept {
  // Only a payload this side viewed: the sender may have put the next one meanwhile.
  if (!std::exchange(holding_, false)) return;
  if (viewed_ > kArenaKept) {
    // The file keeps its size (it is sealed) but gives its pages back; reading them gives zeros.
    (void)::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, kArenaHeader + kArenaKept,
                      static_cast<off_t>(viewed_ - kArenaKept));
  }
  viewed_ = 0;
  busy_word(base_).store(kFree, std::memory_order_release);
}

std::string encode_shared_size(std::uint64_t size) {
  std::string out(sizeof size, '\0');
  std::memcpy(out.data(), &size, sizeof size);
  return out;
}

std::uint64_t decode_shared_size(std::string_view payload) {
  std::uint64_t size = 0;
  if (payload.size() != sizeof size) {
    throw FrameError(
        fmt::format("corrupt frame on a ProcessQueue pipe (a shared payload descriptor of {} bytes)", payload.size()));
  }
  std::memcpy(&size, payload.data(), sizeof size);
  return size;
}

std::string encode_arena_numbers(ArenaNumbers numbers) {
  const std::int32_t both[2] = {numbers.requests, numbers.replies};
  return std::string(reinterpret_cast<const char*>(both), sizeof both);
}

ArenaNumbers decode_arena_numbers(std::string_view payload) {
  std::int32_t both[2];
  if (payload.size() != sizeof both) {
    throw FrameError(
        fmt::format("corrupt frame on a ProcessQueue pipe (an arena announcement of {} bytes)", payload.size()));
  }
  std::memcpy(both, payload.data(), sizeof both);
  if (both[0] < 0 || both[1] < 0)
    throw FrameError("corrupt frame on a ProcessQueue pipe (a negative arena descriptor)");
  ArenaNumbers numbers;
  numbers.requests = both[0];
  numbers.replies = both[1];
  return numbers;
}

SharedArena fetch_arena(int pidfd, int number) noexcept {
#ifdef SYS_pidfd_getfd
  if (pidfd < 0) return {};
  // The new descriptor is close-on-exec (pidfd_getfd sets it).
  const long fd = ::syscall(SYS_pidfd_getfd, pidfd, number, 0);
  if (fd < 0) return {};
  return SharedArena::adopt(UniqueFd(static_cast<int>(fd)));
#else
  (void)pidfd;
  (void)number;
  return {};
#endif
}

}  // namespace osiiso::detail
