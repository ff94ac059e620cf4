// SPDX-License-Identifier: MIT
// osiiso::init: turns a re-executed program into a worker or a fork server.
#include <osiiso/init.hpp>

#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/worker.hpp>

#include <sys/types.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace osiiso {

namespace {

// Parses "a,b,...": exactly `count` non-negative integers.
bool parse_ints(const char* text, long* out, int count) {
  const char* p = text;
  for (int i = 0; i < count; ++i) {
    char* end = nullptr;
    out[i] = std::strtol(p, &end, 10);
    if (end == p || out[i] < 0) return false;
    p = end;
    if (i + 1 < count) {
      if (*p != ',') return false;
      ++p;
    }
  }
  return *p == '\0';
}

[[noreturn]] void finish(int code) {
  std::cout.flush();
  std::fflush(nullptr);
  std::_Exit(code);
}

}  // namespace

void init(int argc, char** argv) {
  (void)argc;
  (void)argv;
  if (const char* worker = std::getenv(detail::kWorkerEnv)) {
    long v[3];
    if (!parse_ints(worker, v, 3)) {
      std::fprintf(stderr, "osiiso::init(): malformed %s=%s\n", detail::kWorkerEnv, worker);
      std::_Exit(2);
    }
    ::unsetenv(detail::kWorkerEnv);
    const int request = static_cast<int>(v[0]);
    const int reply = static_cast<int>(v[1]);
    detail::close_inherited_fds({request, reply});
    detail::prepare_worker_process(static_cast<pid_t>(v[2]));
    // Our tasks' own child processes must not inherit the pipes.
    detail::set_cloexec(request, true);
    detail::set_cloexec(reply, true);
    finish(detail::serve_requests(request, reply));
  }
  if (const char* server = std::getenv(detail::kForkServerEnv)) {
    long v[2];
    if (!parse_ints(server, v, 2)) {
      std::fprintf(stderr, "osiiso::init(): malformed %s=%s\n", detail::kForkServerEnv, server);
      std::_Exit(2);
    }
    ::unsetenv(detail::kForkServerEnv);
    detail::close_inherited_fds({static_cast<int>(v[0])});
    finish(detail::serve_fork_server(static_cast<int>(v[0]), static_cast<pid_t>(v[1])));
  }
}

}  // namespace osiiso
