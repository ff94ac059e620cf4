// SPDX-License-Identifier: MIT
// Helper program for the fault and bad-input tests, a second binary with its own registry.
//   osiiso_fault_parent <fork|spawn|forkserver> <workers>: a parent whose workers run long tasks
//     (each writes its pid and a newline to stdout, then sleeps for a minute), to be SIGKILLed.
//   Started as a spawn worker with OSIISO_FAULT_MODE=<mode> and OSIISO_FAULT_MARKER=<path>: the
//     first such worker (the one that creates <path>) answers its first request with the
//     malformed reply <mode>; every other worker serves normally.
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/worker.hpp>
#include <osiiso/detail/worker_arenas.hpp>
#include <osiiso/osiiso.hpp>
#include <osiiso/process_queue.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include "../helpers.hpp"

namespace fault_parent {

int report_and_hang(int) {
  const std::string line = std::to_string(::getpid()) + "\n";
  [[maybe_unused]] const auto n = ::write(1, line.data(), line.size());
  std::this_thread::sleep_for(std::chrono::seconds(60));
  return 0;
}

int echo(int x) { return x; }

}  // namespace fault_parent

OSIISO_TASK_AS("fault_parent::report_and_hang", fault_parent::report_and_hang);
OSIISO_TASK_AS("fault_parent::echo", fault_parent::echo);

namespace {

using osiiso::detail::FrameType;
using osiiso::test::forged_frame_header;

void put(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const auto n = ::write(fd, bytes.data(), bytes.size());
    if (n <= 0) std::_Exit(9);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

[[noreturn]] void hang() {
  for (;;) ::pause();
}

// A worker that breaks the protocol once, as `mode` says.
[[noreturn]] void misbehave(std::string_view mode, int request, int reply) {
  if (mode == "no_hello") std::_Exit(0);
  osiiso::detail::write_frame(reply, FrameType::Hello, 0, std::to_string(::getpid()));
  osiiso::detail::WorkerArenas arenas;  // real arenas, announced, that the bad replies point into
  if (mode == "shared_value_unwritten" && !arenas.offer(reply)) std::_Exit(9);
  const auto asked = osiiso::detail::read_frame(request);
  const std::uint64_t id = asked ? asked->id : 0;
  constexpr unsigned char magic = 0xA5;
  const auto value = static_cast<unsigned char>(FrameType::Value);
  if (mode == "bad_magic") {
    put(reply, forged_frame_header(0x00, value, 4) + "abcd");
    hang();
  } else if (mode == "bad_type") {
    put(reply, forged_frame_header(magic, 99, 4) + "abcd");
    hang();
  } else if (mode == "oversized") {
    put(reply, forged_frame_header(magic, value, std::uint64_t{1} << 40));
    hang();
  } else if (mode == "huge_then_exit") {
    // Announces the largest allowed frame, sends 1 MiB of it and dies.
    put(reply, forged_frame_header(magic, value, std::uint64_t{1} << 30) + std::string(std::size_t{1} << 20, 'x'));
    std::_Exit(0);
  } else if (mode == "truncated_header") {
    put(reply, forged_frame_header(magic, value, 4).substr(0, 5));
    std::_Exit(0);
  } else if (mode == "unexpected_request") {
    osiiso::detail::write_frame(reply, FrameType::Request, id, "x");
    hang();
  } else if (mode == "shared_value_without_arena") {
    osiiso::detail::write_frame(reply, FrameType::SharedValue, id, osiiso::detail::encode_shared_size(100));
    hang();
  } else if (mode == "shared_value_unwritten") {
    osiiso::detail::write_frame(reply, FrameType::SharedValue, id, osiiso::detail::encode_shared_size(100));
    hang();
  } else if (mode == "corrupt_arena_announcement") {
    osiiso::detail::write_frame(reply, FrameType::SharedArenas, 0, "abc");
    hang();
  } else if (mode == "garbage_value") {
    osiiso::detail::write_frame(reply, FrameType::Value, id, "this is not a boost archive");
  } else if (mode == "garbage_error") {
    osiiso::detail::write_frame(reply, FrameType::Error, id, std::string("\x63\xff\xff\xff\x7f", 5));
  } else if (mode == "unknown_error_kind") {
    osiiso::detail::write_frame(reply, FrameType::Error, id, std::string(1, '\x63') + std::string(8, '\0'));
  } else {
    std::fprintf(stderr, "fault_parent: unknown mode %s\n", std::string(mode).c_str());
    std::_Exit(8);
  }
  // The modes that sent one well-framed bad reply go on serving correctly.
  std::_Exit(osiiso::detail::serve_requests(request, reply));
}

void maybe_misbehave() {
  const char* mode = std::getenv("OSIISO_FAULT_MODE");
  const char* marker = std::getenv("OSIISO_FAULT_MARKER");
  const char* fds = std::getenv(osiiso::detail::kWorkerEnv);
  if (mode == nullptr || marker == nullptr || fds == nullptr) return;
  const int fd = ::open(marker, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return;  // another worker misbehaved already
  ::close(fd);
  int request = -1;
  int reply = -1;
  long parent = 0;
  if (std::sscanf(fds, "%d,%d,%ld", &request, &reply, &parent) != 3) std::_Exit(7);
  osiiso::detail::prepare_worker_process(static_cast<pid_t>(parent));
  misbehave(mode, request, reply);
}

}  // namespace

int main(int argc, char** argv) {
  maybe_misbehave();
  osiiso::init(argc, argv);
  if (argc < 3) return 2;
  const std::size_t workers = std::strtoul(argv[2], nullptr, 10);
  osiiso::ProcessQueue q({.workers = workers, .context = osiiso::get_context(argv[1])});
  for (std::size_t i = 0; i < workers; ++i) (void)q.submit(fault_parent::report_and_hang, 0);
  (void)q.run();
  return 0;
}
