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

// Reads and removes the variable `name` ("a,b,..." with `count` numbers); false when it is not
// set. A malformed value ends the process: it was started as a worker but cannot serve.
bool take_env(const char* name, long* out, int count) {
  const char* value = std::getenv(name);
  if (value == nullptr) return false;
  if (!parse_ints(value, out, count)) {
    std::fprintf(stderr, "osiiso::init(): malformed %s=%s\n", name, value);
    std::_Exit(2);
  }
  ::unsetenv(name);
  return true;
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
  long v[3];
  if (take_env(detail::kWorkerEnv, v, 3)) {
    detail::become_worker(static_cast<int>(v[0]), static_cast<int>(v[1]), static_cast<pid_t>(v[2]),
                          detail::WorkerOrigin::Executed);
  }
  if (take_env(detail::kForkServerEnv, v, 2)) {
    const int socket = static_cast<int>(v[0]);
    detail::close_inherited_fds({socket});
    finish(detail::serve_fork_server(socket, static_cast<pid_t>(v[1])));
  }
}

}  // namespace osiiso
