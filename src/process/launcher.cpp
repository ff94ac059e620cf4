// SPDX-License-Identifier: MIT
// Launcher: when and how a local pool starts its workers.
#include <osiiso/detail/launcher.hpp>

#include <osiiso/detail/child_process.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace osiiso::detail {

namespace {
// How long the other workers of a cold pool wait for the first one's hello (see launch()).
constexpr auto kFirstWorkerHold = std::chrono::milliseconds(20);
constexpr auto kAfterHello = std::chrono::milliseconds(2);
// How long the pool waits before it tries again to start a worker that failed to start.
constexpr auto kLaunchRetry = std::chrono::milliseconds(100);
}  // namespace

Launcher::Launcher(LauncherConfig config, EventLoop& loop, std::uint64_t server_tag)
    : config_(std::move(config)), server_(loop, server_tag, config_.executable, config_.start_timeout) {}

std::string Launcher::init_hint() const {
  if (config_.method == StartMethod::ForkServer) {
    return "call osiiso::init(argc, argv) as the first statement of main(): with the \"forkserver\" start method "
           "the queue re-executes the program as a fork server when it first starts workers; the server begins in "
           "osiiso::init and forks every worker from there (what main() does before it runs again in the server)";
  }
  return "call osiiso::init(argc, argv) as the first statement of main(): with the \"spawn\" start method every "
         "worker re-executes the program and starts serving tasks in osiiso::init (what main() does before it runs "
         "again in every worker)";
}

void Launcher::launch(std::size_t want, std::size_t alive, const std::function<void(LaunchedWorker)>& add) {
  if (broken_ || Clock::now() < retry_at_) return;
  // A pool with no worker starts one and feeds it the first task before it starts the others
  // (the poller is busy while it forks or spawns): the first result waits for one fork or exec,
  // not for all. The hold ends with the first reply, kAfterHello after the first hello, or
  // kFirstWorkerHold after the launch, whichever comes first.
  const bool first = config_.method != StartMethod::ForkServer && alive == 0;
  if (!first && !first_served_ && Clock::now() < first_worker_hold_) return;
  while (alive + pending() < want) {
    try {
      if (config_.method == StartMethod::ForkServer) {
        if (!server_.running()) server_.start();
        if (!server_.ready()) return;  // asked again once it says hello
        // A server that is gone reports end of file on its socket; the pool handles that.
        if (!server_.request_fork()) return;
        continue;
      }
      add(config_.method == StartMethod::Spawn ? spawn_worker(config_.executable) : fork_worker());
      ++alive;
      if (first && alive < want) {
        first_worker_hold_ = Clock::now() + kFirstWorkerHold;
        first_served_ = false;
        return;
      }
    } catch (const std::exception& e) {
      failed(fmt::format("ProcessQueue: cannot start a worker process ({}): {}", to_string(config_.method), e.what()));
      return;
    }
  }
}

void Launcher::failed(const std::string& message) {
  failure_ = std::make_exception_ptr(OsiisoError(message));
  retry_at_ = Clock::now() + kLaunchRetry;
}

void Launcher::not_ready(const std::string& message, bool others_serving) {
  if (others_serving) {
    failed(message);
  } else {
    broken_ = std::make_exception_ptr(OsiisoError(message));
  }
}

void Launcher::server_ended(std::optional<int> status, bool was_ready) {
  if (was_ready) return;  // workers it started are replaced through a new server
  broken_ = std::make_exception_ptr(OsiisoError(
      fmt::format("ProcessQueue: the fork server process {} before it was ready; {}",
                  status ? describe_end(status, std::nullopt) : "did not report ready in time", init_hint())));
}

std::exception_ptr Launcher::take_failure(std::size_t alive) noexcept {
  if (alive > 0) {
    failure_ = nullptr;
    return nullptr;
  }
  return std::exchange(failure_, nullptr);
}

void Launcher::hello_seen() noexcept { first_worker_hold_ = std::min(first_worker_hold_, Clock::now() + kAfterHello); }

std::optional<Clock::time_point> Launcher::next_deadline() const noexcept {
  std::optional<Clock::time_point> next = server_.deadline();
  const auto now = Clock::now();
  for (const auto at : {retry_at_, first_worker_hold_}) {
    if (at > now && (!next || at < *next)) next = at;
  }
  return next;
}

}  // namespace osiiso::detail
