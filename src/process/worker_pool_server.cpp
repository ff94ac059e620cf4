// SPDX-License-Identifier: MIT
// LocalWorkerPool: what the fork server reports (new workers, ended ones) and its failure.
#include <osiiso/detail/worker_pool.hpp>

#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstring>

namespace osiiso::detail {

namespace {
std::string descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return "unknown";
  return std::to_string(limit.rlim_cur);
}
}  // namespace

void LocalWorkerPool::handle_server() {
  for (;;) {
    bool gone = false;
    auto message = launcher_.server().receive(gone);
    if (gone) {
      server_failed();
      return;
    }
    if (!message) return;
    switch (message->tag) {
      case ServerTag::Forked:
        if (message->pid <= 0) {
          launcher_.failed(
              fmt::format("ProcessQueue: the fork server cannot start a worker: {}", std::strerror(-message->pid)));
        } else if (message->descriptors_lost || !message->request || !message->reply) {
          // The worker sees end of file on its request pipe and exits; the server reaps it.
          launcher_.failed(fmt::format(
              "ProcessQueue: cannot receive a new worker's pipes from the fork server: this process is out of file "
              "descriptors (limit {}); raise it (ulimit -n) or use fewer workers",
              descriptor_limit()));
        } else {
          try {
            set_nonblocking(message->request.get(), true);
            set_nonblocking(message->reply.get(), true);
            add_worker({message->pid, false, std::move(message->request), std::move(message->reply)});
          } catch (const std::exception& e) {
            launcher_.failed(fmt::format("ProcessQueue: cannot take a worker from the fork server: {}", e.what()));
          }
        }
        break;
      case ServerTag::Exited:
        for (auto& [serial, slot] : slots_) {
          ChildProcess& process = slot.process();
          if (!process.own_child() && process.pid() == message->pid && !process.reaped()) {
            process.mark_reaped(message->status);
          }
        }
        break;
      case ServerTag::Hello:
      case ServerTag::Fork: break;
    }
  }
}

// Its workers die with it (PDEATHSIG); nobody will report their status now.
void LocalWorkerPool::server_failed() {
  const bool was_ready = launcher_.server().ready();
  const auto status = launcher_.server().stop(Clock::duration::zero());
  for (auto& [serial, slot] : slots_) {
    ChildProcess& process = slot.process();
    if (process.own_child() || process.reaped()) continue;
    process.signal(SIGKILL);
    process.mark_reaped(std::nullopt);
  }
  launcher_.server_ended(status, was_ready);
}

}  // namespace osiiso::detail
