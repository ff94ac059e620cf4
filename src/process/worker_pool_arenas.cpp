// SPDX-License-Identifier: MIT
// LocalWorkerPool: a worker's arenas for large payloads, fetched when it announces them.
#include <osiiso/detail/worker_pool.hpp>

#include <osiiso/detail/shared_arena.hpp>

#include <fmt/format.h>

namespace osiiso::detail {

bool LocalWorkerPool::attach_arenas(WorkerSlot& slot, std::string_view announcement) {
  ArenaNumbers numbers;
  try {
    numbers = decode_arena_numbers(announcement);
  } catch (const FrameError& e) {
    fail_slot(slot,
              fmt::format("ProcessQueue: worker (pid {}) sent a corrupt reply: {}", slot.process().pid(), e.what()));
    return false;
  }
  // When the kernel refuses (no pidfd, no pidfd_getfd, ptrace restrictions), large payloads stay
  // on the pipe; each direction on its own.
  if (auto requests = fetch_arena(slot.process().pidfd(), numbers.requests)) {
    slot.writer().attach_arena(std::move(requests));
  }
  if (auto replies = fetch_arena(slot.process().pidfd(), numbers.replies))
    slot.reader().attach_arena(std::move(replies));
  return true;
}

}  // namespace osiiso::detail
