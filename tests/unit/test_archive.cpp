// SPDX-License-Identifier: MIT
// Argument and result encoding: the raw path for numbers, the Boost archive path for the rest,
// and the pool of large buffers that keeps big requests off fresh pages.
#include <osiiso/detail/archive.hpp>
#include <osiiso/detail/buffer_pool.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/process_queue.hpp>
#include <osiiso/registry.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace archtest {
enum class Colour : std::uint8_t { Red = 1, Blue = 7 };

std::size_t length(const std::string& s) { return s.size(); }
double scale(double x, int factor, bool negate) { return negate ? -x * factor : x * factor; }
}  // namespace archtest

OSIISO_TASK_AS("archtest.length", archtest::length);
OSIISO_TASK_AS("archtest.scale", archtest::scale);

using osiiso::detail::kept_buffer_bytes;
using osiiso::detail::kRecycleMaxBuffers;
using osiiso::detail::kRecycleMaxCapacity;
using osiiso::detail::kRecycleMinCapacity;
using osiiso::detail::load_values;
using osiiso::detail::recycle_buffer;
using osiiso::detail::save_values;
using osiiso::detail::take_buffer;

namespace {
// Empties the process-wide pool, so that each test starts from a known state.
void drain_pool() {
  while (kept_buffer_bytes() > 0) (void)take_buffer(kRecycleMinCapacity);
}

std::string with_capacity(std::size_t capacity) {
  std::string s;
  s.reserve(capacity);
  return s;
}
}  // namespace

TEST_CASE("numbers and enums travel as their bytes and round-trip", "[archive]") {
  std::string out;
  save_values(out, 42, 2.5, true, archtest::Colour::Blue, 'z', std::int64_t{-7});
  CHECK(out.size() == sizeof(int) + sizeof(double) + sizeof(bool) + 1 + 1 + sizeof(std::int64_t));

  int i = 0;
  double d = 0;
  bool b = false;
  auto c = archtest::Colour::Red;
  char ch = 0;
  std::int64_t l = 0;
  load_values(out, i, d, b, c, ch, l);
  CHECK(i == 42);
  CHECK(d == 2.5);
  CHECK(b);
  CHECK(c == archtest::Colour::Blue);
  CHECK(ch == 'z');
  CHECK(l == -7);
}

TEST_CASE("a raw payload of the wrong size is rejected, never read past its end", "[archive]") {
  std::string out;
  save_values(out, 1, 2);
  int a = 0;
  int b = 0;
  CHECK_THROWS_AS(load_values(std::string_view(out).substr(0, out.size() - 1), a, b),
                  boost::archive::archive_exception);
  CHECK_THROWS_AS(load_values(out + "x", a, b), boost::archive::archive_exception);
  CHECK_THROWS_AS(load_values(std::string_view(), a), boost::archive::archive_exception);
}

TEST_CASE("a bool byte other than 0 or 1 decodes as true", "[archive]") {
  bool value = false;
  load_values(std::string(1, '\x02'), value);
  CHECK(value);
  load_values(std::string(1, '\0'), value);
  CHECK_FALSE(value);
}

TEST_CASE("strings and vectors of numbers travel as a count and their bytes", "[archive]") {
  std::string out;
  const std::vector<double> numbers{1.5, -2.0, 3.25};
  save_values(out, 5, std::string("five"), numbers, std::string(), std::vector<int>());
  CHECK(out.size() == sizeof(int) + 8 + 4 + 8 + numbers.size() * sizeof(double) + 8 + 8);
  int i = 0;
  std::string s = "old";
  std::vector<double> v{9.0};
  std::string empty = "not empty";
  std::vector<int> none{1, 2};
  load_values(out, i, s, v, empty, none);
  CHECK(i == 5);
  CHECK(s == "five");
  CHECK(v == numbers);
  CHECK(empty.empty());
  CHECK(none.empty());
  CHECK_THROWS_AS(load_values(out + "x", i, s, v, empty, none), boost::archive::archive_exception);
}

TEST_CASE("a corrupt element count is rejected before anything is allocated", "[archive]") {
  for (const std::uint64_t count : {std::uint64_t{5}, std::uint64_t{1} << 62, ~std::uint64_t{0}}) {
    std::string out(reinterpret_cast<const char*>(&count), sizeof count);
    out += "abcd";  // four bytes where the count announces more
    std::string s;
    std::vector<std::int64_t> v;
    CHECK_THROWS_AS(load_values(out, s), boost::archive::archive_exception);
    CHECK_THROWS_AS(load_values(out, v), boost::archive::archive_exception);
  }
}

TEST_CASE("other values go through a Boost archive and reject leftover bytes", "[archive]") {
  std::string out;
  const std::map<std::string, int> table{{"a", 1}, {"b", 2}};
  const std::vector<std::string> words{"x", "yz"};
  save_values(out, 5, table, words);
  int i = 0;
  std::map<std::string, int> t;
  std::vector<std::string> w;
  load_values(out, i, t, w);
  CHECK(i == 5);
  CHECK(t == table);
  CHECK(w == words);
  CHECK_THROWS_AS(load_values(out + "x", i, t, w), boost::archive::archive_exception);
}

TEST_CASE("an argument that already has the parameter type is serialized from the caller's object", "[archive]") {
  const std::string big(std::size_t{1} << 16, 'q');
  std::string direct;
  osiiso::detail::save_arguments(direct, static_cast<std::tuple<std::string>*>(nullptr), big);
  std::string converted;
  osiiso::detail::save_arguments(converted, static_cast<std::tuple<std::string>*>(nullptr), big.c_str());
  CHECK(direct == converted);
  std::string back;
  load_values(direct, back);
  CHECK(back == big);
}

TEST_CASE("the buffer pool keeps large buffers, the largest ones, and not too many", "[archive][buffer_pool]") {
  drain_pool();
  SECTION("a recycled buffer serves the next request that fits") {
    auto buffer = with_capacity(kRecycleMinCapacity * 3 + 17);
    const auto capacity = buffer.capacity();
    const auto* data = buffer.data();
    recycle_buffer(std::move(buffer));
    CHECK(kept_buffer_bytes() == capacity);
    const auto again = take_buffer(kRecycleMinCapacity * 2);
    CHECK(again.data() == data);
    CHECK(again.empty());
    CHECK(kept_buffer_bytes() == 0);
  }
  SECTION("small and huge buffers are left to the allocator") {
    recycle_buffer(with_capacity(kRecycleMinCapacity / 2));
    recycle_buffer(with_capacity(kRecycleMaxCapacity + 1));
    CHECK(kept_buffer_bytes() == 0);
  }
  SECTION("a full pool keeps its largest buffers") {
    std::size_t expected = 0;
    for (std::size_t i = 0; i <= kRecycleMaxBuffers; ++i) {
      auto buffer = with_capacity(kRecycleMinCapacity * (i + 1));
      if (i > 0) expected += buffer.capacity();
      recycle_buffer(std::move(buffer));
    }
    CHECK(kept_buffer_bytes() == expected);
  }
  SECTION("a request too large for every kept buffer gets a fresh one") {
    recycle_buffer(with_capacity(kRecycleMinCapacity));
    const auto before = kept_buffer_bytes();
    const auto fresh = take_buffer(kRecycleMinCapacity * 4);
    CHECK(fresh.capacity() >= kRecycleMinCapacity * 4);
    CHECK(kept_buffer_bytes() == before);
  }
  drain_pool();
}

TEST_CASE("a large serialization grows into a recycled buffer", "[archive][buffer_pool]") {
  drain_pool();
  auto buffer = with_capacity(std::size_t{1} << 21);
  const auto* data = buffer.data();
  recycle_buffer(std::move(buffer));
  std::string out = "header";
  save_values(out, std::string(std::size_t{1} << 20, 'x'));
  CHECK(out.data() == data);
  CHECK(out.substr(0, 6) == "header");
  drain_pool();
}

TEST_CASE("ProcessQueue requests of large arguments are recycled after their task", "[archive][buffer_pool]") {
  drain_pool();
  osiiso::ProcessQueue q({.workers = 1});
  const std::string big(std::size_t{1} << 20, 'y');
  CHECK(q.submit(archtest::length, big).value() == big.size());
  CHECK(q.submit(archtest::scale, 1.5, 2, true).value() == -3.0);
  q.shutdown();
  CHECK(kept_buffer_bytes() >= big.size());
  drain_pool();
}
