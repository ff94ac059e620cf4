// SPDX-License-Identifier: MIT
// Frames and the transport of exceptions between a ProcessQueue and its workers.
#include <osiiso/detail/frame.hpp>

#include <osiiso/detail/fd.hpp>
#include <osiiso/errors.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <exception>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <typeinfo>

using osiiso::detail::FrameDecoder;
using osiiso::detail::FrameError;
using osiiso::detail::FrameType;

namespace {

std::string frame_bytes(FrameType type, const std::string& payload) {
  std::string out;
  osiiso::detail::append_frame(out, type, 0, payload);
  return out;
}

struct CustomError : std::exception {
  const char* what() const noexcept override { return "custom failure"; }
};

template <class E>
void check_round_trip(const E& original) {
  const auto payload = osiiso::detail::encode_exception(std::make_exception_ptr(original));
  const auto rebuilt = osiiso::detail::decode_exception(payload);
  try {
    std::rethrow_exception(rebuilt);
  } catch (const std::exception& e) {
    CHECK(typeid(e) == typeid(E));
    CHECK(std::string(e.what()) == original.what());
  }
}

}  // namespace

TEST_CASE("frames round-trip through the incremental decoder byte by byte", "[frame]") {
  const std::string big(100000, 'x');
  const auto bytes =
      frame_bytes(FrameType::Request, "hello") + frame_bytes(FrameType::Value, big) + frame_bytes(FrameType::Error, "");
  FrameDecoder decoder;
  std::vector<osiiso::detail::Frame> frames;
  for (char c : bytes) {
    decoder.feed(&c, 1);
    while (auto f = decoder.next()) frames.push_back(std::move(*f));
  }
  REQUIRE(frames.size() == 3);
  CHECK(frames[0].type == FrameType::Request);
  CHECK(frames[0].payload == "hello");
  CHECK(frames[1].payload == big);
  CHECK(frames[2].type == FrameType::Error);
  CHECK(frames[2].payload.empty());
  CHECK_FALSE(decoder.mid_frame());
}

TEST_CASE("a truncated frame is reported as mid-frame, never as a frame", "[frame]") {
  const auto bytes = frame_bytes(FrameType::Value, "0123456789");
  for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
    FrameDecoder decoder;
    decoder.feed(bytes.data(), cut);
    CHECK_FALSE(decoder.next().has_value());
    CHECK(decoder.mid_frame());
  }
}

TEST_CASE("corrupt frames raise FrameError instead of crashing", "[frame]") {
  SECTION("bad magic") {
    FrameDecoder decoder;
    const std::string junk(32, 'j');
    decoder.feed(junk.data(), junk.size());
    CHECK_THROWS_AS(decoder.next(), FrameError);
  }
  SECTION("unknown type") {
    auto bytes = frame_bytes(FrameType::Value, "abc");
    bytes[1] = 99;
    FrameDecoder decoder;
    decoder.feed(bytes.data(), bytes.size());
    CHECK_THROWS_AS(decoder.next(), FrameError);
  }
  SECTION("oversized length is rejected before any allocation") {
    auto bytes = frame_bytes(FrameType::Value, "");
    const std::uint64_t huge = std::uint64_t{1} << 60;
    std::memcpy(bytes.data() + osiiso::detail::kFrameHeaderSize - sizeof huge, &huge, sizeof huge);
    FrameDecoder decoder;
    decoder.feed(bytes.data(), bytes.size());
    CHECK_THROWS_WITH(decoder.next(), Catch::Contains("exceeds the ProcessQueue limit"));
  }
  SECTION("a small custom limit") {
    FrameDecoder decoder(16);
    const auto bytes = frame_bytes(FrameType::Value, std::string(17, 'a'));
    decoder.feed(bytes.data(), bytes.size());
    CHECK_THROWS_AS(decoder.next(), FrameError);
    std::string out;
    CHECK_THROWS_AS(osiiso::detail::append_frame(out, FrameType::Value, 0, std::string(17, 'a'), 16), FrameError);
  }
  SECTION("random garbage") {
    std::mt19937 rng(42);
    for (int round = 0; round < 200; ++round) {
      std::string junk(static_cast<std::size_t>(rng() % 64), '\0');
      for (auto& c : junk) c = static_cast<char>(rng());
      if (!junk.empty()) junk[0] = static_cast<char>(0xA5);
      FrameDecoder decoder(1024);
      decoder.feed(junk.data(), junk.size());
      try {
        while (decoder.next()) {
        }
      } catch (const FrameError&) {
      }
    }
    SUCCEED();
  }
}

TEST_CASE("malformed request and error payloads raise FrameError", "[frame]") {
  CHECK_THROWS_AS(osiiso::detail::decode_request("ab"), FrameError);
  CHECK_THROWS_AS(osiiso::detail::decode_request(std::string("\x10\0\0\0abc", 7)), FrameError);
  const auto rebuilt = osiiso::detail::decode_exception("\x02\x01");
  CHECK_THROWS_AS(std::rethrow_exception(rebuilt), FrameError);
  const auto req = osiiso::detail::encode_request("fn", "ARGS");
  const auto view = osiiso::detail::decode_request(req);
  CHECK(view.name == "fn");
  CHECK(view.arguments == "ARGS");
}

TEST_CASE("blocking frame I/O over a pipe, including a payload larger than the pipe", "[frame]") {
  auto pipe = osiiso::detail::make_pipe();
  const std::string big(4 << 20, 'z');
  std::thread writer([&] {
    CHECK(osiiso::detail::write_frame(pipe.write.get(), FrameType::Value, 7, big));
    CHECK(osiiso::detail::write_frame(pipe.write.get(), FrameType::Hello, 0, "1"));
    pipe.write.reset();
  });
  auto a = osiiso::detail::read_frame(pipe.read.get());
  auto b = osiiso::detail::read_frame(pipe.read.get());
  writer.join();
  REQUIRE(a);
  CHECK(a->payload == big);
  CHECK(a->id == 7);
  REQUIRE(b);
  CHECK(b->type == FrameType::Hello);
  CHECK_FALSE(osiiso::detail::read_frame(pipe.read.get()).has_value());  // clean end of file
}

TEST_CASE("a frame cut off by end of file is an error", "[frame]") {
  auto pipe = osiiso::detail::make_pipe();
  const auto bytes = frame_bytes(FrameType::Value, "0123456789");
  REQUIRE(::write(pipe.write.get(), bytes.data(), bytes.size() - 3) > 0);
  pipe.write.reset();
  CHECK_THROWS_AS(osiiso::detail::read_frame(pipe.read.get()), FrameError);
}

TEST_CASE("standard and osiiso exceptions keep their type and message", "[frame]") {
  check_round_trip(std::invalid_argument("bad arg"));
  check_round_trip(std::domain_error("domain"));
  check_round_trip(std::length_error("length"));
  check_round_trip(std::out_of_range("range"));
  check_round_trip(std::logic_error("logic"));
  check_round_trip(std::range_error("range error"));
  check_round_trip(std::overflow_error("overflow"));
  check_round_trip(std::underflow_error("underflow"));
  check_round_trip(std::runtime_error("runtime"));
  check_round_trip(osiiso::OsiisoError("osiiso"));
  check_round_trip(osiiso::TimeoutError("timeout"));
  check_round_trip(osiiso::WorkerDiedError("died"));
  check_round_trip(osiiso::RegistrationError("registration"));
  const auto alloc =
      osiiso::detail::decode_exception(osiiso::detail::encode_exception(std::make_exception_ptr(std::bad_alloc())));
  CHECK_THROWS_AS(std::rethrow_exception(alloc), std::bad_alloc);
}

TEST_CASE("other exception types arrive as RemoteError with their demangled type", "[frame]") {
  const auto rebuilt =
      osiiso::detail::decode_exception(osiiso::detail::encode_exception(std::make_exception_ptr(CustomError())));
  try {
    std::rethrow_exception(rebuilt);
    FAIL("no exception");
  } catch (const osiiso::RemoteError& e) {
    CHECK(e.type_name() == "(anonymous namespace)::CustomError");
    CHECK(std::string(e.what()) == "custom failure");
  }
  const auto from_int = osiiso::detail::decode_exception(osiiso::detail::encode_exception(std::make_exception_ptr(7)));
  try {
    std::rethrow_exception(from_int);
    FAIL("no exception");
  } catch (const osiiso::RemoteError& e) {
    CHECK(e.type_name() == "int");
  }
  // A RemoteError travelling again keeps its remote type name.
  const auto again = osiiso::detail::decode_exception(
      osiiso::detail::encode_exception(std::make_exception_ptr(osiiso::RemoteError("ns::Thing", "x"))));
  try {
    std::rethrow_exception(again);
  } catch (const osiiso::RemoteError& e) {
    CHECK(e.type_name() == "ns::Thing");
  }
}
