// SPDX-License-Identifier: MIT
// RequestWriter and ReplyReader: one frame written in as many turns as the pipe needs, and bytes
// read back into frames.
#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/reply_reader.hpp>
#include <osiiso/detail/request_writer.hpp>

#include <signal.h>
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

using osiiso::detail::FrameType;
using osiiso::detail::ReplyReader;
using osiiso::detail::RequestWriter;

namespace {
osiiso::detail::Pipe nonblocking_pipe() {
  auto pipe = osiiso::detail::make_pipe();
  osiiso::detail::set_nonblocking(pipe.read.get(), true);
  osiiso::detail::set_nonblocking(pipe.write.get(), true);
  return pipe;
}
}  // namespace

TEST_CASE("a request larger than the pipe is written in turns and read back as one frame", "[request_writer]") {
  auto pipe = nonblocking_pipe();
  auto arguments = std::make_shared<const std::string>(std::size_t{3} << 20, 'q');  // over any pipe buffer
  RequestWriter writer;
  writer.begin(42, {"big", *arguments}, arguments, osiiso::detail::kMaxFrameSize);
  ReplyReader reader;
  std::vector<char> buffer(1 << 16);
  std::vector<osiiso::detail::Frame> frames;
  int turns = 0;
  while (frames.empty() && turns < 10'000) {
    ++turns;
    const auto progress = writer.pump(pipe.write.get());
    CHECK(progress != RequestWriter::Progress::Broken);
    REQUIRE(reader.fill(pipe.read.get(), buffer));
    while (auto frame = reader.next()) frames.push_back(std::move(*frame));
  }
  CHECK(turns > 1);  // the pipe filled up at least once
  CHECK_FALSE(writer.pending());
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].type == FrameType::Request);
  CHECK(frames[0].id == 42);
  const auto request = osiiso::detail::decode_request(frames[0].payload);
  CHECK(request.name == "big");
  CHECK(request.arguments == *arguments);
}

TEST_CASE("a small request goes out in one write; a closed reader makes the writer report Broken", "[request_writer]") {
  auto pipe = nonblocking_pipe();
  RequestWriter writer;
  writer.begin(7, {"fn", "abc"}, nullptr, osiiso::detail::kMaxFrameSize);
  CHECK(writer.pump(pipe.write.get()) == RequestWriter::Progress::Done);
  ReplyReader reader;
  std::vector<char> buffer(4096);
  REQUIRE(reader.fill(pipe.read.get(), buffer));
  const auto frame = reader.next();
  REQUIRE(frame);
  CHECK(frame->payload == osiiso::detail::encode_request("fn", "abc"));
  pipe.read.reset();
  // The write raises SIGPIPE; blocked here as on the poller thread, and discarded by the writer.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  sigset_t old;
  ::pthread_sigmask(SIG_BLOCK, &pipe_signal, &old);
  writer.begin(8, {"fn", "abc"}, nullptr, osiiso::detail::kMaxFrameSize);
  CHECK(writer.pump(pipe.write.get()) == RequestWriter::Progress::Broken);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

TEST_CASE("a reader reports end of file and rejects a corrupt frame", "[request_writer]") {
  auto pipe = nonblocking_pipe();
  ReplyReader reader;
  std::vector<char> buffer(4096);
  const std::string junk(osiiso::detail::kFrameHeaderSize, '\0');  // bad magic byte
  REQUIRE(osiiso::detail::write_all(pipe.write.get(), junk.data(), junk.size()));
  pipe.write.reset();
  CHECK_FALSE(reader.fill(pipe.read.get(), buffer));  // end of file after the bytes
  CHECK_THROWS_AS(reader.next(), osiiso::detail::FrameError);
}
