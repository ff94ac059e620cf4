// SPDX-License-Identifier: MIT
// Validation of task and queue options, with the Python library's messages.
#include <osiiso/queue_options.hpp>
#include <osiiso/task_options.hpp>

#include <stdexcept>

namespace osiiso {

void TaskOptions::validate() const {
  if (timeout && timeout->count() <= 0) throw std::invalid_argument("timeout must be > 0");
  if (retries < 0) throw std::invalid_argument("retries must be >= 0");
  if (retry_delay.count() < 0) throw std::invalid_argument("retry_delay must be >= 0");
  if (!(backoff > 0)) throw std::invalid_argument("backoff must be > 0");
  if (delay && delay->count() < 0) throw std::invalid_argument("delay must be >= 0");
  if (delay && run_at) throw std::invalid_argument("delay and run_at are mutually exclusive");
  if (memory_limit && *memory_limit == 0) throw std::invalid_argument("memory_limit must be > 0");
}

namespace {
template <class QueueOptions>
void validate_common(const QueueOptions& o) {
  if (o.workers && *o.workers == 0) throw std::invalid_argument("workers must be > 0");
  if (o.timeout && o.timeout->count() <= 0) throw std::invalid_argument("timeout must be > 0");
  // Written so that NaN fails too.
  if (o.rate && !(*o.rate > 0)) throw std::invalid_argument("rate must be > 0");
  if (o.burst < 1) throw std::invalid_argument("burst must be >= 1");
}
}  // namespace

void ThreadQueueOptions::validate() const { validate_common(*this); }

void ProcessQueueOptions::validate() const {
  validate_common(*this);
  if (!(poll.count() > 0)) throw std::invalid_argument("poll must be > 0");
  if (max_worker_memory && *max_worker_memory == 0) throw std::invalid_argument("max_worker_memory must be > 0");
  if (memory_limit && *memory_limit == 0) throw std::invalid_argument("memory_limit must be > 0");
  if (chunksize && *chunksize == 0) throw std::invalid_argument("chunksize must be > 0");
}

void RunOptions::validate() const {
  if (timeout && timeout->count() <= 0) throw std::invalid_argument("timeout must be > 0");
}

Context get_context(std::string_view method) {
  for (auto m : {StartMethod::Fork, StartMethod::Spawn, StartMethod::ForkServer}) {
    if (to_string(m) == method) return Context(m);
  }
  throw std::invalid_argument("cannot find context for '" + std::string(method) +
                              R"('; use "fork", "spawn" or "forkserver")");
}

}  // namespace osiiso
