// SPDX-License-Identifier: MIT
// The engine of a ThreadQueue, with its worker threads.
#include <osiiso/detail/engine.hpp>
#include <osiiso/detail/engine_ref.hpp>
#include <osiiso/detail/thread_backend.hpp>

namespace osiiso::detail {

std::shared_ptr<Engine> make_thread_queue_engine(ThreadQueueOptions options) {
  ThreadBackendConfig backend{.initializer = std::move(options.initializer),
                              .max_tasks_per_worker = options.max_tasks_per_worker};
  auto engine = std::make_shared<Engine>(make_engine_config(options, "ThreadQueue"));
  engine->set_backend(std::make_unique<ThreadBackend>(*engine, std::move(backend)));
  return engine;
}

}  // namespace osiiso::detail
