// SPDX-License-Identifier: MIT
// The engine of an MpiQueue, with its rank-0 backend, and the validation of its options.
#include <osiiso/mpi_queue.hpp>

#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/mpi_backend.hpp>
#include <osiiso/detail/mpi_world.hpp>
#include <osiiso/errors.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <stdexcept>

namespace osiiso {

namespace {

// The fields an MpiQueue shares with a ProcessQueue, as ProcessQueueOptions (for the shared
// validation and engine configuration).
ProcessQueueOptions shared_options(const MpiQueueOptions& o, std::size_t workers) {
  return ProcessQueueOptions{.workers = workers,
                             .size = o.size,
                             .timeout = o.timeout,
                             .mode = o.mode,
                             .fail_policy = o.fail_policy,
                             .on_exit = o.on_exit,
                             .on_start = o.on_start,
                             .on_complete = o.on_complete,
                             .on_retry = o.on_retry,
                             .poll = o.poll,
                             .context = o.context,
                             .rate = o.rate,
                             .burst = o.burst,
                             .initializer = o.initializer,
                             .max_tasks_per_worker = o.max_tasks_per_worker,
                             .max_worker_memory = o.max_worker_memory,
                             .memory_limit = o.memory_limit};
}

}  // namespace

void MpiQueueOptions::validate() const {
  if (workers_per_rank == 0) throw std::invalid_argument("workers_per_rank must be > 0");
  if (!(lease.count() > 0)) throw std::invalid_argument("lease must be > 0");
  shared_options(*this, workers_per_rank).validate();
  std::set<int> seen;
  for (const int rank : ranks) {
    if (rank < 1) throw std::invalid_argument(fmt::format("ranks: {} is not a serving rank (they are 1 and up)", rank));
    if (!seen.insert(rank).second) throw std::invalid_argument(fmt::format("ranks: {} is listed twice", rank));
  }
}

namespace detail {

MpiQueueLayout make_mpi_queue_engine(MpiQueueOptions options) {
  options.validate();
  MpiWorld* world = MpiWorld::get();
  if (world == nullptr) {
    throw InvalidStateError(
        "MpiQueue: MPI is not initialized; call osiiso::mpi::init(argc, argv) as the first statement of main() and "
        "launch the program with mpirun");
  }
  std::vector<int> ranks = options.ranks;
  if (ranks.empty()) {
    for (int r = 1; r < world->size(); ++r) ranks.push_back(r);
  }
  for (const int r : ranks) {
    if (r >= world->size()) {
      throw std::invalid_argument(
          fmt::format("ranks: {} is not in this job (it has ranks 0 to {})", r, world->size() - 1));
    }
  }
  if (ranks.empty() && !options.root_runs_tasks) {
    throw std::invalid_argument(
        "MpiQueue: no rank serves tasks: launch with mpirun -np N (N >= 2) or set root_runs_tasks = true");
  }
  const std::size_t workers = options.workers_per_rank * (ranks.size() + (options.root_runs_tasks ? 1 : 0));
  ProcessQueueOptions shared = shared_options(options, workers);
  EngineConfig config = make_engine_config(shared, "MpiQueue");
  config.memory_limits = true;
  auto engine = std::make_shared<Engine>(std::move(config));

  // Built member by member: GCC 12 at -O3 takes a designated initializer that skips `session` for
  // one that leaves it uninitialised.
  MpiBackendConfig backend;
  backend.ranks = ranks;
  backend.prefetch = options.prefetch;
  backend.lease = options.lease;
  backend.poll = options.poll;
  backend.root_runs_tasks = options.root_runs_tasks;
  backend.memory_limit = options.memory_limit;
  backend.session.method = options.context.start_method();
  backend.session.workers = options.workers_per_rank;
  backend.session.heartbeat = std::min(Seconds{1.0}, options.lease / 5);
  backend.session.max_jobs_per_worker = options.max_tasks_per_worker;
  backend.session.max_worker_memory = options.max_worker_memory;
  if (options.initializer) {
    PreparedTask setup = options.initializer->prepare_for_processes();
    backend.session.initializer_request = encode_request(static_cast<const ProcessWork&>(*setup.work).request());
    backend.session.initializer_name = std::move(setup.name);
  }
  world->claim();
  try {
    engine->set_backend(std::make_unique<MpiBackend>(*engine, *world, std::move(backend)));
  } catch (...) {
    world->release();
    throw;
  }
  return MpiQueueLayout{std::move(engine), ranks.size()};
}

}  // namespace detail

}  // namespace osiiso
