// SPDX-License-Identifier: MIT
// Shared memory for large payloads: the arenas themselves, the writer and reader that use them
// (and fall back to the pipe), and large arguments and results through real workers.
#include <osiiso/detail/shared_arena.hpp>

#include <osiiso/detail/event_loop.hpp>
#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/reply_reader.hpp>
#include <osiiso/detail/request_writer.hpp>
#include <osiiso/detail/worker_pool.hpp>
#include <osiiso/osiiso.hpp>

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "../helpers.hpp"

namespace shmtest {
std::string echo(const std::string& s) { return s; }
std::size_t length(const std::string& s) { return s.size(); }
std::string make(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 4099) & 0xff);
  return s;
}
}  // namespace shmtest

OSIISO_TASK_AS("shmtest::echo", shmtest::echo);
OSIISO_TASK_AS("shmtest::length", shmtest::length);
OSIISO_TASK_AS("shmtest::make", shmtest::make);

namespace {

using osiiso::detail::FrameError;
using osiiso::detail::FrameType;
using osiiso::detail::kArenaHeader;
using osiiso::detail::kMaxFrameSize;
using osiiso::detail::kSharedPayloadMin;
using osiiso::detail::ReplyReader;
using osiiso::detail::RequestView;
using osiiso::detail::RequestWriter;
using osiiso::detail::SharedArena;
using osiiso::detail::UniqueFd;
using namespace std::chrono_literals;

// A byte pattern that a shifted or truncated copy cannot match.
std::string pattern(std::size_t n) { return shmtest::make(n); }

// This process's pidfd: fetch_arena() on it stands for the parent fetching a worker's arena.
UniqueFd own_pidfd() {
  const long fd = ::syscall(SYS_pidfd_open, ::getpid(), 0);
  REQUIRE(fd >= 0);
  return UniqueFd(static_cast<int>(fd));
}

// The other side of `arena`, as the parent sees a worker's arena.
SharedArena other_side(const SharedArena& arena) {
  auto pidfd = own_pidfd();
  auto fetched = osiiso::detail::fetch_arena(pidfd.get(), arena.fd());
  REQUIRE(fetched);
  return fetched;
}

osiiso::detail::Pipe nonblocking_pipe() {
  auto pipe = osiiso::detail::make_pipe(std::size_t{1} << 20);
  osiiso::detail::set_nonblocking(pipe.read.get(), true);
  osiiso::detail::set_nonblocking(pipe.write.get(), true);
  return pipe;
}

// The frame `writer` sends, read back by a plain reader.
osiiso::detail::Frame sent(RequestWriter& writer) {
  auto pipe = nonblocking_pipe();
  ReplyReader reader;
  std::vector<char> buffer(1 << 16);
  for (int turn = 0; turn < 100'000; ++turn) {
    REQUIRE(writer.pump(pipe.write.get()) != RequestWriter::Progress::Broken);
    REQUIRE(reader.fill(pipe.read.get(), buffer));
    if (auto frame = reader.next()) return *frame;
  }
  FAIL("no frame");
  return {};
}

// Descriptors of this process that are arenas.
std::size_t arena_fds() {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (target.find("memfd:osiiso-") != std::string::npos) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("shared arena: a payload put on one side is viewed on the other, one at a time", "[shared_payload]") {
  auto sender = SharedArena::create("osiiso-test");
  REQUIRE(sender);
  auto receiver = other_side(sender);
  const auto first = pattern(3 << 20);  // grows the arena
  REQUIRE(sender.put(first));
  CHECK_FALSE(sender.put("busy"));  // not yet released
  CHECK(receiver.view(first.size(), kMaxFrameSize) == first);
  receiver.release();
  const auto second = pattern(100'000);
  REQUIRE(sender.put(second));
  CHECK(receiver.view(second.size(), kMaxFrameSize) == second);
  receiver.release();
  receiver.release();  // nothing viewed: the arena stays free, not freed twice
  CHECK(sender.put(first));
}

TEST_CASE("shared arena: a forked child does not inherit the mapping", "[shared_payload]") {
  auto arena = SharedArena::create("osiiso-inherited");
  REQUIRE(arena);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
      if (line.find("memfd:osiiso-inherited") != std::string::npos) std::_Exit(1);
    }
    std::_Exit(0);
  }
  int status = -1;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("shared arena: malformed descriptors are FrameErrors, never a fault", "[shared_payload]") {
  auto sender = SharedArena::create("osiiso-test");
  REQUIRE(sender);
  auto receiver = other_side(sender);
  CHECK_THROWS_AS(receiver.view(10, kMaxFrameSize), FrameError);  // nothing was put
  REQUIRE(sender.put(pattern(1000)));
  // Beyond the file: mapping it would fault on access.
  CHECK_THROWS_WITH(receiver.view(std::size_t{64} << 20, kMaxFrameSize), Catch::Contains("in an arena of"));
  CHECK_THROWS_WITH(receiver.view(std::size_t{2} << 20, std::size_t{1} << 20), Catch::Contains("exceeds"));
  CHECK_THROWS_AS(SharedArena().view(10, kMaxFrameSize), FrameError);
  CHECK(receiver.view(1000, kMaxFrameSize) == pattern(1000));

  CHECK_THROWS_AS(osiiso::detail::decode_shared_size("abc"), FrameError);
  CHECK(osiiso::detail::decode_shared_size(osiiso::detail::encode_shared_size(12345)) == 12345);
  CHECK_THROWS_AS(osiiso::detail::decode_arena_numbers("abcd"), FrameError);
  CHECK_THROWS_AS(osiiso::detail::decode_arena_numbers(osiiso::detail::encode_arena_numbers({-1, 3})), FrameError);
  const auto numbers = osiiso::detail::decode_arena_numbers(osiiso::detail::encode_arena_numbers({5, 9}));
  CHECK(numbers.requests == 5);
  CHECK(numbers.replies == 9);
}

TEST_CASE("shared arena: only a sealed memfd is adopted, and a refused fetch yields none", "[shared_payload]") {
  const auto fds = osiiso::test::fd_count();
  {
    auto pidfd = own_pidfd();
    const int unsealed = ::memfd_create("osiiso-unsealed", MFD_CLOEXEC);
    REQUIRE(unsealed >= 0);
    REQUIRE(::ftruncate(unsealed, 4096) == 0);
    CHECK_FALSE(SharedArena::adopt(UniqueFd(unsealed)));
    auto pipe = osiiso::detail::make_pipe();
    CHECK_FALSE(osiiso::detail::fetch_arena(pidfd.get(), pipe.read.get()));
    CHECK_FALSE(osiiso::detail::fetch_arena(pidfd.get(), 1 << 20));  // no such descriptor
    CHECK_FALSE(osiiso::detail::fetch_arena(-1, pipe.read.get()));
    auto arena = SharedArena::create("osiiso-test");
    CHECK(osiiso::detail::fetch_arena(pidfd.get(), arena.fd()));
  }
  CHECK(osiiso::test::fd_count() == fds);  // what was refused was closed
}

TEST_CASE("request writer: large requests go through a free arena, else through the pipe", "[shared_payload]") {
  // What matters is the encoded request's size (the name, its length and the archive) against the threshold.
  const std::string name = "t";
  const auto overhead = RequestView{name, {}}.encoded_size();
  const auto at = pattern(kSharedPayloadMin - overhead);
  const auto above = pattern(kSharedPayloadMin - overhead + 1);
  const auto big = pattern(std::size_t{5} << 20);
  const auto encoded = [&](const std::string& arguments) { return osiiso::detail::encode_request(name, arguments); };
  RequestWriter writer;
  SECTION("without an arena (memfd or pidfd_getfd unavailable), everything takes the pipe") {
    writer.begin(1, {name, above}, nullptr, kMaxFrameSize);
    const auto frame = sent(writer);
    CHECK(frame.type == FrameType::Request);
    CHECK(frame.payload == encoded(above));
  }
  SECTION("with an arena") {
    auto worker_side = SharedArena::create("osiiso-requests");
    REQUIRE(worker_side);
    writer.attach_arena(other_side(worker_side));
    writer.begin(2, {name, at}, nullptr, kMaxFrameSize);
    auto frame = sent(writer);
    CHECK(frame.type == FrameType::Request);  // exactly at the threshold: the pipe
    CHECK(frame.payload == encoded(at));

    writer.begin(3, {name, above}, nullptr, kMaxFrameSize);
    frame = sent(writer);
    REQUIRE(frame.type == FrameType::SharedRequest);
    CHECK(frame.id == 3);
    CHECK(worker_side.view(osiiso::detail::decode_shared_size(frame.payload), kMaxFrameSize) == encoded(above));

    // Not released yet (a request still being read): the next one takes the pipe.
    writer.begin(4, {name, big}, nullptr, kMaxFrameSize);
    frame = sent(writer);
    CHECK(frame.type == FrameType::Request);
    CHECK(frame.payload == encoded(big));

    worker_side.release();
    writer.begin(5, {name, big}, nullptr, kMaxFrameSize);
    frame = sent(writer);
    REQUIRE(frame.type == FrameType::SharedRequest);
    CHECK(worker_side.view(osiiso::detail::decode_shared_size(frame.payload), kMaxFrameSize) == encoded(big));

    // The limit holds on either path.
    worker_side.release();
    CHECK_THROWS_AS(writer.begin(6, {name, big}, nullptr, std::size_t{1} << 20), FrameError);
  }
}

TEST_CASE("reply reader: a SharedValue becomes its Value, and a malformed one is a FrameError", "[shared_payload]") {
  auto pipe = nonblocking_pipe();
  std::vector<char> buffer(1 << 16);
  auto worker_side = SharedArena::create("osiiso-replies");
  REQUIRE(worker_side);
  const auto value = pattern(std::size_t{2} << 20);
  auto send = [&](FrameType type, std::uint64_t id, const std::string& payload) {
    std::string out;
    osiiso::detail::append_frame(out, type, id, payload);
    REQUIRE(osiiso::detail::write_all(pipe.write.get(), out.data(), out.size()));
  };
  SECTION("with the arena") {
    ReplyReader reader(std::size_t{4} << 20);
    reader.attach_arena(other_side(worker_side));
    REQUIRE(worker_side.put(value));
    send(FrameType::SharedValue, 9, osiiso::detail::encode_shared_size(value.size()));
    REQUIRE(reader.fill(pipe.read.get(), buffer));
    auto frame = reader.next();
    REQUIRE(frame);
    CHECK(frame->type == FrameType::Value);
    CHECK(frame->id == 9);
    CHECK(frame->payload == value);
    CHECK(worker_side.put(value));  // released: the worker may put the next result
  }
  SECTION("over the reader's limit") {
    ReplyReader reader(std::size_t{1} << 20);
    reader.attach_arena(other_side(worker_side));
    REQUIRE(worker_side.put(value));
    send(FrameType::SharedValue, 9, osiiso::detail::encode_shared_size(value.size()));
    REQUIRE(reader.fill(pipe.read.get(), buffer));
    CHECK_THROWS_WITH(reader.next(), Catch::Contains("exceeds the ProcessQueue limit"));
  }
  SECTION("without an arena") {
    ReplyReader reader;
    send(FrameType::SharedValue, 9, osiiso::detail::encode_shared_size(100));
    REQUIRE(reader.fill(pipe.read.get(), buffer));
    CHECK_THROWS_AS(reader.next(), FrameError);
  }
  SECTION("a descriptor of the wrong size") {
    ReplyReader reader;
    reader.attach_arena(other_side(worker_side));
    send(FrameType::SharedValue, 9, "12345");
    REQUIRE(reader.fill(pipe.read.get(), buffer));
    CHECK_THROWS_AS(reader.next(), FrameError);
  }
}

TEST_CASE("ProcessQueue: large arguments and results round trip byte for byte on every start method",
          "[shared_payload][process_queue]") {
  const auto method = GENERATE(as<std::string>{}, "fork", "spawn", "forkserver");
  CAPTURE(method);
  const auto fds = osiiso::test::fd_count();
  {
    osiiso::ProcessQueue q({.workers = 1, .context = osiiso::get_context(method)});
    // The request payload is the encoded name (4 + 13 bytes) and the string (8 + n bytes); the
    // result payload is the string alone (8 + n bytes).
    constexpr std::size_t kRequestOverhead = 4 + 13 + 8;
    constexpr std::size_t kResultOverhead = 8;
    std::vector<std::size_t> sizes = {0, std::size_t{8} << 20, std::size_t{1} << 20};
    for (const std::size_t overhead : {kRequestOverhead, kResultOverhead}) {
      for (const std::size_t total : {kSharedPayloadMin - 1, kSharedPayloadMin, kSharedPayloadMin + 1}) {
        sizes.push_back(total - overhead);
      }
    }
    for (const auto n : sizes) {
      CAPTURE(n);
      const auto data = pattern(n);
      const auto back = q.submit(shmtest::echo, data).value();
      CHECK(back.size() == n);
      CHECK(back == data);
      CHECK(q.submit(shmtest::length, data).value() == n);
      CHECK(q.submit(shmtest::make, n).value() == data);
    }
    // The parent holds the worker's two arenas.
    CHECK(arena_fds() == 2);
  }
  CHECK(osiiso::test::fd_count() == fds);
}

namespace {

// A pool listener for string tasks: hands out prepared requests, records values and errors.
struct StringListener final : osiiso::detail::PoolListener {
  std::deque<std::uint64_t> waiting;
  std::map<std::uint64_t, std::unique_ptr<osiiso::detail::Work>> works;
  std::map<std::uint64_t, std::string> values;
  std::map<std::uint64_t, std::string> errors;

  std::uint64_t add(std::size_t n) {
    const std::uint64_t id = works.size() + 1;
    works[id] = osiiso::detail::make_process_work(shmtest::make, n).work;
    waiting.push_back(id);
    return id;
  }
  std::optional<osiiso::detail::PoolJob> next_job() override {
    if (waiting.empty()) return std::nullopt;
    const auto id = waiting.front();
    waiting.pop_front();
    return osiiso::detail::PoolJob{id, static_cast<const osiiso::detail::ProcessWork&>(*works[id]).request(), nullptr,
                                   "make"};
  }
  void job_replied(std::uint64_t id, const osiiso::detail::Frame& reply, int /*worker_pid*/) override {
    REQUIRE(reply.type == FrameType::Value);
    values[id] =
        std::any_cast<std::string>(static_cast<const osiiso::detail::ProcessWork&>(*works[id]).decode(reply.payload));
  }
  void job_failed(std::uint64_t id, std::exception_ptr error, int /*worker_pid*/) override {
    errors[id] = osiiso::test::error_text(error);
  }
  void fail_waiting(const std::exception_ptr& error) override {
    while (!waiting.empty()) {
      job_failed(waiting.front(), error, 0);
      waiting.pop_front();
    }
  }
};

}  // namespace

TEST_CASE("a result over the pool's frame limit fails alone, through the arena too", "[shared_payload][pool]") {
  const auto fds = osiiso::test::fd_count();
  {
    StringListener listener;
    osiiso::detail::EventLoop loop;
    osiiso::detail::PoolConfig config;
    config.max_frame_size = std::size_t{1} << 20;
    osiiso::detail::LocalWorkerPool pool(config, listener, loop);
    const auto small = listener.add(1000);
    const auto large = listener.add(std::size_t{2} << 20);
    const auto after = listener.add(std::size_t{512} << 10);
    const auto deadline = osiiso::Clock::now() + 20s;
    while (listener.values.size() + listener.errors.size() < 3 && osiiso::Clock::now() < deadline) {
      pool.prepare(1);
      for (const auto tag : loop.wait(pool.next_timeout(50ms))) CHECK(pool.handle(tag));
      pool.expire();
    }
    CHECK(listener.values[small] == shmtest::make(1000));
    REQUIRE(listener.errors.count(large) == 1);
    CHECK_THAT(listener.errors[large], Catch::Contains("exceeds the ProcessQueue limit of 1048576 bytes"));
    CHECK(listener.values[after] == shmtest::make(std::size_t{512} << 10));
    pool.stop(osiiso::Seconds{2.0});
  }
  CHECK(osiiso::test::fd_count() == fds);
}
