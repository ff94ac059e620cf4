// SPDX-License-Identifier: MIT
// The drawing side of a Progress: samples its source on a thread of its own and rewrites the
// line in place on a terminal; elsewhere it writes the closing line only.
#pragma once

#include <osiiso/detail/progress_line.hpp>
#include <osiiso/progress.hpp>

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

namespace osiiso::detail {

class ProgressDisplay {
 public:
  ProgressDisplay(ProgressSource source, ProgressOptions options);
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;
  ~ProgressDisplay();

  // Draws the closing line and stops the drawing thread; later calls do nothing.
  void finish() noexcept;

 private:
  void draw_loop();
  // Samples the source and writes the line (the closing one when `closing`).
  void draw(bool closing) noexcept;

  ProgressSource source_;
  ProgressOptions options_;
  ProgressLine line_;
  const bool terminal_;
  std::size_t drawn_width_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;
  std::thread thread_;
};

// Columns of the terminal on `fd` (TIOCGWINSZ; then $COLUMNS; then 80).
[[nodiscard]] std::size_t terminal_width(int fd) noexcept;

}  // namespace osiiso::detail
