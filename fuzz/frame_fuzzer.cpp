// SPDX-License-Identifier: MIT
// libFuzzer target for the ProcessQueue wire format: the parent-side incremental decoder (and the
// reply payloads it hands on), and the worker side (blocking frame reader and the request loop).
// Built and run by scripts/fuzz.sh (clang++-14 -fsanitize=fuzzer,address,undefined); the worker
// loop reports each bad frame on stderr, which the script closes with -close_fd_mask=2.
#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/worker.hpp>
#include <osiiso/registry.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace fuzz {
int echo(int x) { return x; }
}  // namespace fuzz
OSIISO_TASK_AS("echo", fuzz::echo);

namespace {

using osiiso::detail::Frame;
using osiiso::detail::FrameType;

// The real limit, so that libFuzzer's -malloc_limit_mb catches any allocation sized from a header.
constexpr std::size_t kMaxFrame = std::size_t{1} << 30;

// Runs `f`; the exceptions the decoders are allowed to throw are part of the contract.
template <class F>
void allowing_errors(F f) {
  try {
    f();
  } catch (const std::exception&) {
  }
}

// What the parent does with a reply frame.
void consume_reply(const Frame& frame) {
  switch (frame.type) {
    case FrameType::Value:
      allowing_errors([&] { (void)osiiso::detail::decode_result<int>(frame.payload); });
      allowing_errors([&] { (void)osiiso::detail::decode_result<std::string>(frame.payload); });
      allowing_errors([&] { (void)osiiso::detail::decode_result<std::vector<double>>(frame.payload); });
      break;
    case FrameType::Error: (void)osiiso::detail::decode_exception(frame.payload); break;
    case FrameType::Request: allowing_errors([&] { (void)osiiso::detail::decode_request(frame.payload); }); break;
    case FrameType::Hello:
    case FrameType::Exit:
    case FrameType::Signal:
    case FrameType::Queued:
    case FrameType::Begin:
    case FrameType::Cancel: break;
  }
}

// Parent side: bytes arrive in chunks whose sizes the input chooses.
void fuzz_decoder(std::string_view in) {
  if (in.empty()) return;
  const std::size_t chunk = 1 + static_cast<unsigned char>(in[0]) % 64;
  in.remove_prefix(1);
  osiiso::detail::FrameDecoder decoder(kMaxFrame);
  try {
    while (!in.empty()) {
      const auto n = std::min(chunk, in.size());
      decoder.feed(in.data(), n);
      in.remove_prefix(n);
      while (auto frame = decoder.next()) consume_reply(*frame);
    }
    (void)decoder.mid_frame();
  } catch (const osiiso::detail::FrameError&) {
  }
}

// Worker side: the input is the request pipe; replies go to /dev/null.
void fuzz_worker(std::string_view in) {
  static const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  auto pipe = osiiso::detail::make_pipe(std::size_t{1} << 20);
  if (in.size() > (std::size_t{1} << 16)) in = in.substr(0, std::size_t{1} << 16);  // fits the pipe
  if (!osiiso::detail::write_all(pipe.write.get(), in.data(), in.size())) return;
  pipe.write.reset();
  (void)osiiso::detail::serve_requests(pipe.read.get(), null_fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: fuzz_decoder(in); break;
    case 1: fuzz_worker(in); break;
    case 2: (void)osiiso::detail::decode_exception(in); break;
    case 3: allowing_errors([&] { (void)osiiso::detail::decode_request(in); }); break;
  }
  return 0;
}
