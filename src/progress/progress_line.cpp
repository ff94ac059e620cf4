// SPDX-License-Identifier: MIT
// The progress line's layout: label, percentage, bar of eighth blocks, counts, times and rate.
#include <osiiso/detail/progress_line.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace osiiso::detail {

namespace {
// tqdm's default: the weight of the newest rate in the moving average.
constexpr double smoothing = 0.3;

constexpr std::array<std::string_view, 8> partial_blocks = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
constexpr std::string_view full_block = "█";

std::string bar(double fraction, std::size_t cells) {
  const double filled = std::clamp(fraction, 0.0, 1.0) * static_cast<double>(cells);
  const auto full = static_cast<std::size_t>(filled);
  const auto eighths = static_cast<std::size_t>((filled - static_cast<double>(full)) * 8.0);
  std::string out;
  for (std::size_t i = 0; i < full; ++i) out += full_block;
  std::size_t used = full;
  if (full < cells && eighths > 0) {
    out += partial_blocks[eighths];
    ++used;
  }
  out.append(cells - used, ' ');
  return out;
}

std::string rate_text(double rate) {
  return rate > 0.0 && std::isfinite(rate) ? fmt::format("{:.1f} task/s", rate) : std::string("? task/s");
}
}  // namespace

std::size_t display_width(std::string_view text) noexcept {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string format_clock(double seconds) {
  const auto total = static_cast<long long>(std::max(0.0, seconds));
  const long long h = total / 3600;
  const long long m = total / 60 % 60;
  const long long s = total % 60;
  return h > 0 ? fmt::format("{}:{:02}:{:02}", h, m, s) : fmt::format("{:02}:{:02}", m, s);
}

ProgressLine::ProgressLine(std::string label, Clock::time_point start)
    : label_(std::move(label)), start_(start), now_(start), last_time_(start) {}

void ProgressLine::update(const ProgressSample& sample, Clock::time_point now) {
  const double dt = Seconds(now - last_time_).count();
  if (dt > 0.0 && sample.done >= last_done_) {
    const double rate = static_cast<double>(sample.done - last_done_) / dt;
    smoothed_rate_ = smoothed_rate_ ? smoothing * rate + (1.0 - smoothing) * *smoothed_rate_ : rate;
    last_time_ = now;
    last_done_ = sample.done;
  }
  sample_ = sample;
  now_ = std::max(now_, now);
}

std::string ProgressLine::render(std::size_t width) const { return layout(width, smoothed_rate_.value_or(0.0)); }

std::string ProgressLine::render_final(std::size_t width) const {
  const double elapsed = Seconds(now_ - start_).count();
  return layout(width, elapsed > 0.0 ? static_cast<double>(sample_.done) / elapsed : 0.0);
}

std::string ProgressLine::layout(std::size_t width, double rate) const {
  const double elapsed = Seconds(now_ - start_).count();
  std::string postfix;
  if (sample_.failed > 0) postfix += fmt::format(", failed={}", sample_.failed);
  if (sample_.cancelled > 0) postfix += fmt::format(", cancelled={}", sample_.cancelled);
  if (sample_.retrying > 0) postfix += fmt::format(", retrying={}", sample_.retrying);
  const std::string label = label_.empty() ? std::string() : label_ + " ";

  if (!sample_.total) {
    return fmt::format("{}{} task [{}, {}{}]", label, sample_.done, format_clock(elapsed), rate_text(rate), postfix);
  }
  const std::size_t total = *sample_.total;
  const double fraction = total == 0 ? 1.0 : static_cast<double>(sample_.done) / static_cast<double>(total);
  const std::string eta =
      rate > 0.0 ? format_clock(static_cast<double>(total - std::min(total, sample_.done)) / rate) : "?";
  const std::string head = fmt::format("{}{:3.0f}%|", label, std::min(fraction, 1.0) * 100.0);
  const std::string tail =
      fmt::format("| {}/{} [{}<{}, {}{}]", sample_.done, total, format_clock(elapsed), eta, rate_text(rate), postfix);
  const std::size_t used = display_width(head) + display_width(tail) + 1;
  if (width <= used) return head.substr(0, head.size() - 1) + tail.substr(1);  // no room: the counts only
  return head + bar(fraction, width - used) + tail;
}

}  // namespace osiiso::detail
