// SPDX-License-Identifier: MIT
// osiiso::mpi::init and finalize: MPI set up once per process; every rank but 0 becomes a server.
#include <osiiso/mpi_queue.hpp>

#include <osiiso/detail/mpi_server.hpp>
#include <osiiso/detail/mpi_world.hpp>
#include <osiiso/errors.hpp>
#include <osiiso/init.hpp>

#include <fmt/format.h>
#include <mpi.h>
#include <boost/mpi/collectives/gather.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

namespace osiiso {

namespace detail {

namespace {

// How long a serving rank's MPI_Finalize may take once the job lost a rank (it can wait forever
// for the lost one); then the rank ends as if it had returned.
constexpr auto kFinalizeGrace = std::chrono::seconds(5);

struct Environment {
  bool initialized = false;
  std::unique_ptr<MpiChannel> channel;
  std::unique_ptr<MpiWorld> world;
  bool finalized = false;
};

Environment& environment() {
  static Environment env;
  return env;
}

// Rank 0 at exit (or osiiso::mpi::finalize()): every serving rank that is still there ends.
void end_program() noexcept {
  auto& env = environment();
  if (!env.world || env.finalized) return;
  env.finalized = true;
  bool any_lost = false;
  for (int rank = 1; rank < env.world->size(); ++rank) any_lost = any_lost || env.world->lost(rank);
  try {
    for (int rank = 1; rank < env.world->size(); ++rank) {
      if (!env.world->lost(rank)) env.channel->send(rank, MpiTag::Exit, std::string(1, any_lost ? '\1' : '\0'));
    }
    env.channel->flush(Seconds{5.0});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "osiiso: MpiQueue could not tell the serving ranks to exit: %s\n", e.what());
  }
  env.world.reset();
  env.channel.reset();
  // MPI_Finalize can wait forever for a lost rank (seen under --enable-recovery): rank 0 leaves
  // MPI unfinalized then, so that the program ends, with its own exit status.
  if (!any_lost) MPI_Finalize();
}

// A serving rank's end: finalize, bounded when the job lost a rank.
[[noreturn]] void end_serving_rank(bool job_lost_a_rank) {
  auto& env = environment();
  env.world.reset();
  env.channel.reset();
  if (job_lost_a_rank) {
    std::thread([] {
      std::this_thread::sleep_for(kFinalizeGrace);
      std::fflush(nullptr);
      std::_Exit(0);
    }).detach();
  }
  MPI_Finalize();
  std::cout.flush();
  std::fflush(nullptr);
  std::_Exit(0);
}

}  // namespace

MpiWorld* MpiWorld::get() noexcept {
  auto& env = environment();
  return env.finalized ? nullptr : env.world.get();
}

const std::string& MpiWorld::host(int rank) const {
  static const std::string unknown;
  return rank >= 0 && static_cast<std::size_t>(rank) < hosts_.size() ? hosts_[static_cast<std::size_t>(rank)] : unknown;
}

void MpiWorld::mark_lost(int rank) {
  std::lock_guard lock(mu_);
  lost_.insert(rank);
}

bool MpiWorld::lost(int rank) const {
  std::lock_guard lock(mu_);
  return lost_.count(rank) > 0;
}

void MpiWorld::claim() {
  std::lock_guard lock(mu_);
  if (claimed_) {
    throw InvalidStateError(
        "MpiQueue: another MpiQueue is using the serving ranks; one MpiQueue at a time may exist (destroy the other "
        "first)");
  }
  claimed_ = true;
}

void MpiWorld::release() noexcept {
  std::lock_guard lock(mu_);
  claimed_ = false;
}

}  // namespace detail

namespace mpi {

void init(int argc, char** argv) {
  // A worker spawned on any rank serves its tasks here and never returns: it must not join MPI.
  osiiso::init(argc, argv);
  auto& env = detail::environment();
  if (env.initialized || env.finalized) return;
  // MPI itself, not boost::mpi::environment: its destructor would finalize unconditionally.
  int provided = MPI_THREAD_SINGLE;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  env.initialized = true;
  if (provided < MPI_THREAD_SERIALIZED) {
    throw OsiisoError(
        "osiiso::mpi::init(): this MPI does not support MPI_THREAD_SERIALIZED, which MpiQueue needs (its rank 0 "
        "talks to the other ranks from a background thread)");
  }
  // A failing call reports an error to the caller instead of aborting the job (a lost rank).
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  boost::mpi::communicator world;
  env.channel = std::make_unique<detail::MpiChannel>(world);
  std::vector<std::string> hosts;
  boost::mpi::gather(world, boost::mpi::environment::processor_name(), hosts, 0);
  env.world = std::make_unique<detail::MpiWorld>(*env.channel, std::move(hosts));
  if (world.rank() == 0) {
    std::atexit(detail::end_program);
    return;
  }
  detail::RankServer server(*env.channel);
  server.serve();
  detail::end_serving_rank(server.job_lost_a_rank());
}

void finalize() { detail::end_program(); }

int rank() {
  const auto* world = detail::MpiWorld::get();
  return world != nullptr ? world->rank() : 0;
}

int size() {
  const auto* world = detail::MpiWorld::get();
  return world != nullptr ? world->size() : 1;
}

}  // namespace mpi

}  // namespace osiiso
