// SPDX-License-Identifier: MIT
// The real steady clock behind every queue.
#include <osiiso/detail/time_source.hpp>

namespace osiiso::detail {

namespace {
class SteadyTimeSource final : public TimeSource {
 public:
  [[nodiscard]] Clock::time_point now() const override { return Clock::now(); }
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                  Clock::time_point at) const override {
    cv.wait_until(lock, at);
  }
};
}  // namespace

std::shared_ptr<const TimeSource> steady_time_source() {
  static const auto source = std::make_shared<const SteadyTimeSource>();
  return source;
}

}  // namespace osiiso::detail
