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
#include <cstring>
#include <streambuf>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace osiiso::detail {

// No header (both ends run the same binary) and no locale conversions.
inline constexpr unsigned kArchiveFlags = boost::archive::no_header | boost::archive::no_codecvt;

// An output streambuf appending to a std::string; a string that grows large moves into a
// recycled buffer (see buffer_pool.hpp) instead of a freshly allocated one.
class StringSink final : public std::streambuf {
 public:
  explicit StringSink(std::string& out) : out_(out) {}

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      make_room(1);
      out_.push_back(traits_type::to_char_type(c));
    }
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    make_room(static_cast<std::size_t>(n));
    out_.append(s, static_cast<std::size_t>(n));
    return n;
  }

 private:
  void make_room(std::size_t n) {
    const auto need = out_.size() + n;
    if (need <= out_.capacity() || need < kRecycleMinCapacity) return;
    std::string larger = take_buffer(std::max(need, 2 * out_.capacity()));
    larger.append(out_);
    recycle_buffer(std::exchange(out_, std::move(larger)));
  }

  std::string& out_;
};

// Arithmetic and enumeration values travel as their bytes, without a Boost archive (whose
// construction builds a std::locale: most of the cost of a task with a few numbers).
template <class T>
concept RawValue = std::is_arithmetic_v<T> || std::is_enum_v<T>;

template <RawValue T>
void append_raw(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

template <RawValue T>
void read_raw(const char*& in, T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    value = *in != 0;  // any other byte pattern in a bool would be undefined behaviour
  } else {
    std::memcpy(&value, in, sizeof value);
  }
  in += sizeof value;
}

// An input streambuf reading a string_view in place.
class ViewSource final : public std::streambuf {
 public:
  explicit ViewSource(std::string_view in) {
    auto* p = const_cast<char*>(in.data());
    setg(p, p, p + in.size());
  }
};

// Serializes `values` in order, appending to `out`.
template <class... T>
void save_values(std::string& out, const T&... values) {
  if constexpr ((RawValue<T> && ...)) {
    out.reserve(out.size() + (sizeof(T) + ... + 0));
    (append_raw(out, values), ...);
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
  if constexpr ((RawValue<T> && ...)) {
    constexpr std::size_t size = (sizeof(T) + ... + 0);
    if (in.size() != size) {
      throw boost::archive::archive_exception(
          boost::archive::archive_exception::input_stream_error,
          in.size() < size ? "payload too short for the values' types" : "unexpected bytes after the values");
    }
    const char* p = in.data();
    (read_raw(p, values), ...);
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
