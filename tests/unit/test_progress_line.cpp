// SPDX-License-Identifier: MIT
// ProgressLine: the tqdm layout rendered from counts, a fake clock and a fake terminal width.
#include <osiiso/detail/progress_line.hpp>

#include <catch2/catch.hpp>

#include <chrono>

using namespace osiiso;
using namespace std::chrono_literals;
using detail::display_width;
using detail::ProgressLine;
using detail::ProgressSample;

namespace {
const Clock::time_point t0{};

ProgressSample counts(std::size_t done, std::optional<std::size_t> total, std::size_t failed = 0,
                      std::size_t retrying = 0) {
  ProgressSample s;
  s.done = done;
  s.total = total;
  s.failed = failed;
  s.retrying = retrying;
  return s;
}
}  // namespace

TEST_CASE("the progress line has tqdm's layout, its bar in eighth blocks", "[progress]") {
  ProgressLine line("count_primes", t0);
  line.update(counts(450, 1000, 3, 1), t0 + 1s);
  const std::string text = line.render(89);
  CHECK(text == "count_primes  45%|████▌     | 450/1000 [00:01<00:01, 450.0 task/s, failed=3, retrying=1]");
  CHECK(display_width(text) == 88);
}

TEST_CASE("the bar takes what the terminal width leaves", "[progress]") {
  ProgressLine line("", t0);
  line.update(counts(1, 4), t0 + 2s);
  CHECK(line.render(40) == " 25%|▊  | 1/4 [00:02<00:06, 0.5 task/s]");
  CHECK(line.render(45) == " 25%|██      | 1/4 [00:02<00:06, 0.5 task/s]");
  CHECK(display_width(line.render(60)) == 59);
  // No room for a bar: the counts alone.
  CHECK(line.render(10) == " 25% 1/4 [00:02<00:06, 0.5 task/s]");
}

TEST_CASE("the rate is an exponential moving average; the closing line uses the average", "[progress]") {
  ProgressLine line("run", t0);
  line.update(counts(10, 100), t0 + 1s);   // 10/s
  line.update(counts(110, 200), t0 + 2s);  // 100/s: 0.3 * 100 + 0.7 * 10 = 37
  CHECK(line.render(200).ends_with("110/200 [00:02<00:02, 37.0 task/s]"));
  CHECK(line.render_final(200).ends_with("110/200 [00:02<00:01, 55.0 task/s]"));
}

TEST_CASE("without a total the line shows the count and the rate", "[progress]") {
  ProgressLine line("stream", t0);
  line.update(counts(42, std::nullopt, 2), t0 + 3723s);
  CHECK(line.render(80) == "stream 42 task [1:02:03, 0.0 task/s, failed=2]");
  ProgressLine idle("stream", t0);
  CHECK(idle.render(80) == "stream 0 task [00:00, ? task/s]");
}

TEST_CASE("an unknown rate leaves the remaining time unknown", "[progress]") {
  ProgressLine line("", t0);
  line.update(counts(0, 5), t0);
  CHECK(line.render(30) == "  0% 0/5 [00:00<?, ? task/s]");
  CHECK(line.render(35) == "  0%|    | 0/5 [00:00<?, ? task/s]");
  line.update(counts(5, 5), t0 + 1s);
  CHECK(line.render(40).starts_with("100%|███"));
}

TEST_CASE("clock format switches to hours after an hour", "[progress]") {
  CHECK(detail::format_clock(0) == "00:00");
  CHECK(detail::format_clock(61.9) == "01:01");
  CHECK(detail::format_clock(3600) == "1:00:00");
  CHECK(detail::format_clock(-3) == "00:00");
}
