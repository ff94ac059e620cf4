// SPDX-License-Identifier: MIT
// The engine of a ProcessQueue, with its poller and worker pool.
#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/engine_ref.hpp>
#include <osiiso/detail/process_backend.hpp>
#include <osiiso/detail/process_work.hpp>

namespace osiiso::detail {

std::shared_ptr<Engine> make_process_queue_engine(ProcessQueueOptions options) {
  EngineConfig config = make_engine_config(options, "ProcessQueue");
  config.memory_limits = true;
  auto engine = std::make_shared<Engine>(std::move(config));
  ProcessBackendConfig backend{.method = options.context.start_method(),
                               .poll = options.poll,
                               .max_tasks_per_worker = options.max_tasks_per_worker,
                               .max_worker_memory = options.max_worker_memory,
                               .memory_limit = options.memory_limit,
                               .chunksize = options.chunksize};
  if (options.initializer) {
    PreparedTask setup = options.initializer->prepare_for_processes();
    backend.initializer_request = encode_request(static_cast<const ProcessWork&>(*setup.work).request());
    backend.initializer_name = std::move(setup.name);
  }
  engine->set_backend(std::make_unique<ProcessBackend>(*engine, std::move(backend)));
  return engine;
}

}  // namespace osiiso::detail
