// SPDX-License-Identifier: MIT
// The non-template parts of resuming a fan-out from a Checkpoint: restored handles and keys.
#include <osiiso/detail/resume.hpp>

#include <fmt/format.h>

#include <cstdio>

namespace osiiso::detail {

TaskStatePtr restored_task(const TaskOptions& options, std::string name, std::any value) {
  auto state = std::make_shared<TaskState>();
  state->task_id = new_task_id();
  state->name = std::move(name);
  state->priority = options.priority;
  state->must_complete = options.must_complete;
  state->group_id = options.group_id;
  state->detached = options.detached;
  state->created_at = Clock::now();
  state->metadata = options.metadata;
  state->status = TaskStatus::Succeeded;
  auto result = std::make_shared<TaskResult>(
      make_result(*state, TaskStatus::Succeeded, "restored from checkpoint", state->created_at));
  result->set_value(std::move(value));
  state->result = std::move(result);
  return state;
}

std::string hex_key(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) fmt::format_to(std::back_inserter(out), "{:02x}", static_cast<unsigned char>(c));
  return out;
}

void report_undecodable(const std::string& ns, const std::string& key) noexcept {
  std::fprintf(stderr,
               "osiiso: checkpoint record '%s' in namespace '%s' does not decode as the task's result type; the "
               "input runs again\n",
               key.c_str(), ns.c_str());
}

}  // namespace osiiso::detail
