// SPDX-License-Identifier: MIT
// The engine of a ProcessQueue, with its poller and worker pool.
#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/engine_ref.hpp>
#include <osiiso/detail/process_backend.hpp>

namespace osiiso::detail {

std::shared_ptr<Engine> make_process_queue_engine(ProcessQueueOptions options) {
  auto engine = std::make_shared<Engine>(make_engine_config(options, "ProcessQueue"));
  ProcessBackendConfig backend{.method = options.context.start_method(), .poll = options.poll};
  engine->set_backend(std::make_unique<ProcessBackend>(*engine, std::move(backend)));
  return engine;
}

}  // namespace osiiso::detail
