// SPDX-License-Identifier: MIT
// Workers by fork() from the poller thread.
#include <osiiso/detail/launch.hpp>

#include <osiiso/detail/worker.hpp>

#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace osiiso::detail {

LaunchedWorker fork_worker() {
  Pipe request = make_pipe(kPipeCapacity);
  Pipe reply = make_pipe(kPipeCapacity);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) become_worker(request.read.get(), reply.write.get(), parent, WorkerOrigin::Forked);
  set_nonblocking(request.write.get(), true);
  set_nonblocking(reply.read.get(), true);
  return {pid, true, std::move(request.write), std::move(reply.read)};
}

}  // namespace osiiso::detail
