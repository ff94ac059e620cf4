// SPDX-License-Identifier: MIT
// The text of a progress line (tqdm's layout), computed from counts and times only, so that its
// rendering is tested with a fake clock and terminal width.
#pragma once

#include <osiiso/chrono.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace osiiso::detail {

// The counts a progress line shows, at one instant.
struct ProgressSample {
  std::size_t done = 0;  // finished tasks, whatever their status
  std::size_t failed = 0;
  std::size_t cancelled = 0;
  std::size_t retrying = 0;
  std::optional<std::size_t> total;  // nullopt: count and rate only
};

class ProgressLine {
 public:
  ProgressLine(std::string label, Clock::time_point start);

  // Takes the counts at `now`, updating the smoothed rate.
  void update(const ProgressSample& sample, Clock::time_point now);
  // The live line, at most `width - 1` columns (the last column would wrap some terminals);
  // the rate is smoothed, as tqdm's.
  [[nodiscard]] std::string render(std::size_t width) const;
  // The closing line: the same layout with the average rate of the whole run.
  [[nodiscard]] std::string render_final(std::size_t width) const;

 private:
  [[nodiscard]] std::string layout(std::size_t width, double rate) const;

  std::string label_;
  Clock::time_point start_;
  Clock::time_point now_;
  Clock::time_point last_time_;
  std::size_t last_done_ = 0;
  ProgressSample sample_;
  std::optional<double> smoothed_rate_;
};

// Columns `text` takes on a terminal (UTF-8 code points; the bar's blocks are one column each).
[[nodiscard]] std::size_t display_width(std::string_view text) noexcept;
// `seconds` as tqdm writes it: MM:SS, or H:MM:SS from an hour on.
[[nodiscard]] std::string format_clock(double seconds);

}  // namespace osiiso::detail
