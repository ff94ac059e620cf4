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

#include <streambuf>
#include <string>
#include <string_view>
#include <tuple>

namespace osiiso::detail {

// No header (both ends run the same binary) and no locale conversions.
inline constexpr unsigned kArchiveFlags = boost::archive::no_header | boost::archive::no_codecvt;

// An output streambuf appending to a std::string.
class StringSink final : public std::streambuf {
 public:
  explicit StringSink(std::string& out) : out_(out) {}

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) out_.push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
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

// Serializes `values` in order, appending to `out`.
template <class... T>
void save_values(std::string& out, const T&... values) {
  StringSink sink(out);
  boost::archive::binary_oarchive archive(sink, kArchiveFlags);
  (archive << ... << values);
}

// Deserializes into `values` in order; throws boost::archive::archive_exception on bad input.
// Bytes left over mean the payload is not what the other side saved (a corrupt frame, or a
// worker of another binary): an error, not a silently wrong value.
template <class... T>
void load_values(std::string_view in, T&... values) {
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

template <class... T>
void save_tuple(std::string& out, const std::tuple<T...>& values) {
  std::apply([&](const auto&... v) { save_values(out, v...); }, values);
}

template <class... T>
void load_tuple(std::string_view in, std::tuple<T...>& values) {
  std::apply([&](auto&... v) { load_values(in, v...); }, values);
}

}  // namespace osiiso::detail
