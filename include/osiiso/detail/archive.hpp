// SPDX-License-Identifier: MIT
// Boost.Serialization binary archives over in-memory strings: how arguments and results travel.
#pragma once

#include <boost/archive/basic_archive.hpp>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/array.hpp>
#include <boost/serialization/bitset.hpp>
#include <boost/serialization/complex.hpp>
#include <boost/serialization/deque.hpp>
#include <boost/serialization/forward_list.hpp>
#include <boost/serialization/list.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/shared_ptr.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/unique_ptr.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/unordered_set.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/valarray.hpp>
#include <boost/serialization/vector.hpp>

#include <osiiso/detail/buffer_pool.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <streambuf>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace osiiso::detail {

// No header (both ends run the same binary) and no locale conversions.
inline constexpr unsigned kArchiveFlags = boost::archive::no_header | boost::archive::no_codecvt;

// Makes room in `out` for `n` more bytes; a string that grows large moves into a recycled buffer
// (see buffer_pool.hpp) instead of a freshly allocated one.
inline void reserve_for_append(std::string& out, std::size_t n) {
  const auto need = out.size() + n;
  if (need <= out.capacity()) return;
  if (need < kRecycleMinCapacity) {
    out.reserve(std::max(need, 2 * out.capacity()));
    return;
  }
  std::string larger = take_buffer(std::max(need, 2 * out.capacity()));
  larger.append(out);
  recycle_buffer(std::exchange(out, std::move(larger)));
}

// An output streambuf appending to a std::string.
class StringSink final : public std::streambuf {
 public:
  explicit StringSink(std::string& out) : out_(out) {}

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      reserve_for_append(out_, 1);
      out_.push_back(traits_type::to_char_type(c));
    }
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    reserve_for_append(out_, static_cast<std::size_t>(n));
    out_.append(s, static_cast<std::size_t>(n));
    return n;
  }

 private:
  std::string& out_;
};

// An input streambuf reading a string_view in place.
class ViewSource final : public std::streambuf {
 public:
  explicit ViewSource(std::string_view in) {
    auto* p = const_cast<char*>(in.data());
    setg(p, p, p + in.size());
  }
};

// Plain values travel without a Boost archive: a Boost 1.74 binary archive builds a std::locale
// in its constructor (most of the cost of a task with a few numbers), and loads a string by
// zero-filling it before copying into it. Numbers and enumerations travel as their bytes;
// strings and vectors of numbers as a 64-bit element count followed by their bytes.
template <class T>
concept RawValue = std::is_arithmetic_v<T> || std::is_enum_v<T>;

template <class T>
struct IsRawVector : std::false_type {};
template <RawValue T>
struct IsRawVector<std::vector<T>> : std::bool_constant<!std::is_same_v<T, bool>> {};

template <class T>
concept PlainValue = RawValue<T> || std::is_same_v<T, std::string> || IsRawVector<T>::value;

template <PlainValue T>
std::size_t plain_size(const T& value) {
  if constexpr (RawValue<T>) {
    return sizeof value;
  } else {
    return sizeof(std::uint64_t) + value.size() * sizeof(typename T::value_type);
  }
}

template <PlainValue T>
void append_plain(std::string& out, const T& value) {
  if constexpr (RawValue<T>) {
    out.append(reinterpret_cast<const char*>(&value), sizeof value);
  } else {
    const std::uint64_t count = value.size();
    out.append(reinterpret_cast<const char*>(&count), sizeof count);
    if (!value.empty()) {  // data() may be null when empty
      out.append(reinterpret_cast<const char*>(value.data()), value.size() * sizeof(typename T::value_type));
    }
  }
}

// Reads plain values from an untrusted payload: every length is checked against the bytes left
// before anything is allocated.
class PlainReader {
 public:
  explicit PlainReader(std::string_view in) : p_(in.data()), left_(in.size()) {}

  template <RawValue T>
  void read(T& value) {
    need(sizeof value);
    if constexpr (std::is_same_v<T, bool>) {
      value = *p_ != 0;  // any other byte pattern in a bool would be undefined behaviour
    } else {
      std::memcpy(&value, p_, sizeof value);
    }
    advance(sizeof value);
  }
  void read(std::string& value) {
    const auto count = read_count(1);
    value.assign(p_, count);  // allocates and copies: no zero-filling first
    advance(count);
  }
  template <class T>
  void read(std::vector<T>& value) {
    const auto count = read_count(sizeof(T));
    value.resize(count);
    if (count > 0) std::memcpy(value.data(), p_, count * sizeof(T));  // data() may be null when empty
    advance(count * sizeof(T));
  }
  [[nodiscard]] std::size_t left() const noexcept { return left_; }

 private:
  std::size_t read_count(std::size_t element_size) {
    std::uint64_t count = 0;
    read(count);
    if (count > left_ / element_size) throw_short();
    return static_cast<std::size_t>(count);
  }
  void need(std::size_t n) const {
    if (left_ < n) throw_short();
  }
  [[noreturn]] static void throw_short() {
    throw boost::archive::archive_exception(boost::archive::archive_exception::input_stream_error,
                                            "payload too short for the values' types");
  }
  void advance(std::size_t n) noexcept {
    p_ += n;
    left_ -= n;
  }

  const char* p_;
  std::size_t left_;
};

// Serializes `values` in order, appending to `out`.
template <class... T>
void save_values(std::string& out, const T&... values) {
  if constexpr ((PlainValue<T> && ...)) {
    reserve_for_append(out, (plain_size(values) + ... + 0));
    (append_plain(out, values), ...);
  } else {
    StringSink sink(out);
    boost::archive::binary_oarchive archive(sink, kArchiveFlags);
    (archive << ... << values);
  }
}

// Deserializes into `values` in order; throws boost::archive::archive_exception on bad input.
// Bytes left over mean the payload is not what the other side saved (a corrupt frame, or a
// worker of another binary): an error, not a silently wrong value.
template <class... T>
void load_values(std::string_view in, T&... values) {
  if constexpr ((PlainValue<T> && ...)) {
    PlainReader reader(in);
    (reader.read(values), ...);
    if (reader.left() != 0) {
      throw boost::archive::archive_exception(boost::archive::archive_exception::input_stream_error,
                                              "unexpected bytes after the values");
    }
  } else {
    ViewSource source(in);
    {
      boost::archive::binary_iarchive archive(source, kArchiveFlags);
      (archive >> ... >> values);
    }
    if (source.in_avail() != 0) {
      throw boost::archive::archive_exception(boost::archive::archive_exception::input_stream_error,
                                              "unexpected bytes after the archive");
    }
  }
}

template <class... T>
void load_tuple(std::string_view in, std::tuple<T...>& values) {
  std::apply([&](auto&... v) { load_values(in, v...); }, values);
}

}  // namespace osiiso::detail
