// SPDX-License-Identifier: MIT
// Progress and its display: sampling on a thread, terminal detection and width, writing the line.
#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/progress_display.hpp>
#include <osiiso/progress.hpp>

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>

namespace osiiso {

namespace detail {

namespace {
std::size_t saturating_sub(std::size_t a, std::size_t b) noexcept { return a > b ? a - b : 0; }
}  // namespace

ProgressSample progress_since(const Stats& base, const Stats& now) {
  ProgressSample s;
  s.done = saturating_sub(now.completed, base.completed);  // clear_results() may lower it
  s.failed = saturating_sub(now.failed, base.failed);
  s.cancelled = saturating_sub(now.cancelled, base.cancelled);
  s.retrying = now.retrying;
  s.total = s.done + now.pending + now.active;
  return s;
}

std::size_t terminal_width(int fd) noexcept {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    std::size_t value = 0;
    const auto [end, error] = std::from_chars(columns, columns + std::strlen(columns), value);
    if (error == std::errc() && *end == '\0' && value > 0) return value;
  }
  return 80;
}

ProgressDisplay::ProgressDisplay(ProgressSource source, ProgressOptions options)
    : source_(std::move(source)),
      options_(std::move(options)),
      line_(options_.label, Clock::now()),
      terminal_(::isatty(options_.fd) == 1) {
  // Off a terminal only the closing line is written: nothing to redraw, no thread.
  if (terminal_) thread_ = std::thread([this] { draw_loop(); });
}

ProgressDisplay::~ProgressDisplay() { finish(); }

void ProgressDisplay::finish() noexcept {
  {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  draw(true);
}

void ProgressDisplay::draw_loop() {
  std::unique_lock lock(mu_);
  while (!finished_) {
    lock.unlock();
    draw(false);
    lock.lock();
    cv_.wait_for(lock, options_.interval, [this] { return finished_; });
  }
}

void ProgressDisplay::draw(bool closing) noexcept {
  try {
    ProgressSample sample = source_();
    if (options_.total) sample.total = options_.total;
    if (options_.unbounded) sample.total.reset();
    line_.update(sample, Clock::now());
    const std::size_t width = terminal_ ? terminal_width(options_.fd) : 80;
    std::string text = closing ? line_.render_final(width) : line_.render(width);
    const std::size_t columns = display_width(text);
    if (terminal_) {
      // Blank what a longer previous line left behind.
      text.append(saturating_sub(drawn_width_, columns), ' ');
      text.insert(0, "\r");
    }
    drawn_width_ = columns;
    if (closing) text += '\n';
    // write(2), not stdio: a fork on another thread never inherits a held stream lock.
    static_cast<void>(write_all(options_.fd, text.data(), text.size()));
  } catch (...) {
    // A progress line must never break the run it shows: a failing source or an allocation
    // failure only costs this redraw.
  }
}

}  // namespace detail

Progress::Progress(detail::ProgressSource source, ProgressOptions options)
    : display_(std::make_unique<detail::ProgressDisplay>(std::move(source), std::move(options))) {}

Progress::~Progress() = default;

void Progress::finish() { display_->finish(); }

}  // namespace osiiso
