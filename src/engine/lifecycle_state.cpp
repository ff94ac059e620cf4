// SPDX-License-Identifier: MIT
// Lifecycle's checked transitions.
#include <osiiso/detail/lifecycle.hpp>

#include <fmt/format.h>

#include <stdexcept>

namespace osiiso::detail {

namespace {
[[noreturn]] void invalid(std::string_view transition, Phase from) {
  throw std::logic_error(fmt::format("osiiso: invalid lifecycle transition {}() from {}", transition, to_string(from)));
}
}  // namespace

std::string_view to_string(Phase phase) noexcept {
  switch (phase) {
    case Phase::Open: return "Open";
    case Phase::Halted: return "Halted";
    case Phase::Draining: return "Draining";
    case Phase::Closing: return "Closing";
    case Phase::Closed: return "Closed";
  }
  return "?";
}

void Lifecycle::start() {
  if (phase_ == Phase::Closed) invalid("start", phase_);
  if (phase_ == Phase::Halted) phase_ = Phase::Open;
  started_ = true;
}

bool Lifecycle::halt() noexcept {
  const bool was_halted = halted();
  if (phase_ == Phase::Open) phase_ = Phase::Halted;
  if (phase_ == Phase::Draining) phase_ = Phase::Closing;
  return !was_halted;
}

void Lifecycle::resume() noexcept {
  if (phase_ == Phase::Halted) phase_ = Phase::Open;
}

void Lifecycle::begin_shutdown() noexcept {
  if (phase_ == Phase::Open) phase_ = Phase::Draining;
  if (phase_ == Phase::Halted) phase_ = Phase::Closing;
}

void Lifecycle::close() {
  if (phase_ != Phase::Closing && phase_ != Phase::Closed) invalid("close", phase_);
  phase_ = Phase::Closed;
}

void Lifecycle::begin_run() {
  if (running_) invalid("begin_run", phase_);
  running_ = true;
}

void Lifecycle::end_run() {
  if (!running_) invalid("end_run", phase_);
  running_ = false;
}

void Lifecycle::reset() {
  if (phase_ == Phase::Draining || phase_ == Phase::Closing) invalid("reset", phase_);
  phase_ = Phase::Open;
  started_ = false;
}

}  // namespace osiiso::detail
