// SPDX-License-Identifier: MIT
// The striped locks of task states (detail/task_state.hpp), and their reset in a forked child.
#include <osiiso/detail/task_state.hpp>

#include <pthread.h>

#include <array>
#include <cstdint>
#include <new>

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer's annotations: the child's re-creation of the stripes must not be reported as
// racing with the parent's threads, which do not exist in the child.
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
#endif

namespace osiiso::detail {

namespace {

// Enough stripes that tasks waited on at once rarely share one; each on its own cache line.
constexpr std::size_t kStripes = 256;

struct alignas(64) Stripe {
  StateSync sync;
};

// Never destroyed: a detached thread (an abandoned ThreadQueue attempt) may use one after main().
std::array<Stripe, kStripes>& stripes() noexcept {
  // Allocated during static initialization: without the memory for it the program cannot start.
  static auto* const all = new std::array<Stripe, kStripes>();  // NOLINT(bugprone-unhandled-exception-at-new)
  return *all;
}

// A thread of the parent may have held a stripe when another forked: the child has no such
// thread, and a task there that waits on a handle must not find its stripe locked forever.
void reset_stripes_in_child() noexcept {
#if defined(__SANITIZE_THREAD__)
  AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
#endif
  for (auto& stripe : stripes()) {
    new (&stripe.sync.mu) std::mutex();
    new (&stripe.sync.cv) std::condition_variable();
  }
#if defined(__SANITIZE_THREAD__)
  AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
#endif
}

const bool registered = [] {
  (void)stripes();
  return ::pthread_atfork(nullptr, nullptr, reset_stripes_in_child) == 0;
}();

}  // namespace

StateSync& state_sync(const void* state) noexcept {
  // States are heap blocks of a few hundred bytes: the low bits carry no information.
  auto bits = reinterpret_cast<std::uintptr_t>(state) >> 6;
  bits ^= bits >> 17;
  return stripes()[bits % kStripes].sync;
}

}  // namespace osiiso::detail
