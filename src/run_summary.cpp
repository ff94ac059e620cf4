// SPDX-License-Identifier: MIT
// RunSummary's counts and queries, and ExecutionError's message (the report: summary_report.cpp).
#include <osiiso/errors.hpp>
#include <osiiso/run_summary.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <string>

namespace osiiso {

namespace {
std::vector<TaskResult> with_status(const std::vector<TaskResult>& results, TaskStatus status) {
  std::vector<TaskResult> out;
  std::copy_if(results.begin(), results.end(), std::back_inserter(out),
               [status](const TaskResult& r) { return r.status == status; });
  return out;
}

std::string execution_message(const std::vector<TaskResult>& results) {
  const auto failed = static_cast<std::size_t>(std::count_if(
      results.begin(), results.end(), [](const TaskResult& r) { return r.status == TaskStatus::Failed; }));
  const auto cancelled = results.size() - failed;
  std::string msg;
  if (failed > 0) msg = fmt::format("{} task(s) failed", failed);
  if (cancelled > 0) msg += fmt::format("{}{} task(s) cancelled", msg.empty() ? "" : "; ", cancelled);
  return msg.empty() ? "0 task(s) failed" : msg;
}
}  // namespace

ExecutionError::ExecutionError(std::vector<TaskResult> results)
    : OsiisoError(execution_message(results)), results_(std::move(results)) {}

RunSummary RunSummary::from_results(std::vector<TaskResult> results, Clock::time_point started, bool timed_out) {
  RunSummary s;
  s.total_submitted = results.size();
  for (const auto& r : results) {
    if (r.status == TaskStatus::Succeeded) ++s.succeeded;
    if (r.status == TaskStatus::Failed) ++s.failed;
    if (r.status == TaskStatus::Cancelled) ++s.cancelled;
  }
  s.timed_out = timed_out;
  s.duration = Clock::now() - started;
  s.results = std::move(results);
  return s;
}

std::vector<TaskResult> RunSummary::errors() const { return with_status(results, TaskStatus::Failed); }
std::vector<TaskResult> RunSummary::successes() const { return with_status(results, TaskStatus::Succeeded); }
std::vector<TaskResult> RunSummary::cancellations() const { return with_status(results, TaskStatus::Cancelled); }

std::map<std::string, TaskResult> RunSummary::by_task_id() const {
  std::map<std::string, TaskResult> out;
  for (const auto& r : results) out.insert_or_assign(r.task_id, r);
  return out;
}

std::map<std::string, std::vector<TaskResult>> RunSummary::by_name() const {
  std::map<std::string, std::vector<TaskResult>> out;
  for (const auto& r : results) out[r.name].push_back(r);
  return out;
}

std::map<std::optional<std::string>, std::vector<TaskResult>> RunSummary::by_group() const {
  std::map<std::optional<std::string>, std::vector<TaskResult>> out;
  for (const auto& r : results) out[r.group_id].push_back(r);
  return out;
}

void RunSummary::raise_for_errors(bool include_cancelled) const {
  std::vector<TaskResult> bad = errors();
  if (include_cancelled) {
    auto c = cancellations();
    bad.insert(bad.end(), c.begin(), c.end());
  }
  if (!bad.empty()) throw ExecutionError(std::move(bad));
}

}  // namespace osiiso
