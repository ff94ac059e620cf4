// SPDX-License-Identifier: MIT
// RunSummary's text report and JSON form, and the one-line text of a TaskResult. The report
// stays short however many tasks failed: failures are grouped by exception type and message.
#include <osiiso/detail/demangle.hpp>
#include <osiiso/errors.hpp>
#include <osiiso/run_summary.hpp>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <cxxabi.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <map>
#include <string_view>
#include <typeinfo>
#include <utility>

namespace osiiso {

namespace {

// The exception's type as a reader knows it: the worker's type for a RemoteError, the library's
// own errors without their namespace; empty when there is no exception.
std::string exception_type(const std::exception_ptr& error) {
  if (!error) return {};
  try {
    std::rethrow_exception(error);
  } catch (const RemoteError& e) {
    return e.type_name();
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    if (type == nullptr) return {};
    std::string name = detail::demangle(type->name());
    constexpr std::string_view own = "osiiso::";
    if (name.starts_with(own)) name.erase(0, own.size());
    return name;
  }
}

bool is_timeout(const TaskResult& r) {
  if (r.status != TaskStatus::Failed || !r.exception) return false;
  try {
    std::rethrow_exception(r.exception);
  } catch (const TimeoutError&) {
    return true;
  } catch (...) {
    return false;
  }
}

// 2991 as "2,991".
std::string count_text(std::size_t n) {
  std::string digits = std::to_string(n);
  for (auto i = static_cast<std::ptrdiff_t>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return digits;
}

// Messages that differ only in numbers (pids, attempt counts, sizes) belong to one group.
std::string without_numbers(std::string_view message) {
  std::string out;
  for (char c : message) {
    const bool digit = std::isdigit(static_cast<unsigned char>(c)) != 0;
    if (!digit) {
      out += c;
    } else if (out.empty() || out.back() != '#') {
      out += '#';
    }
  }
  return out;
}

struct FailureGroup {
  std::string type;
  std::string message;  // the first task's
  bool messages_differ = false;
  std::vector<const TaskResult*> tasks;
};

// Failed results grouped by type and message, the largest group first (ties: first seen first).
std::vector<FailureGroup> group_failures(const std::vector<TaskResult>& results) {
  std::vector<FailureGroup> groups;
  std::map<std::pair<std::string, std::string>, std::size_t> index;
  for (const auto& r : results) {
    if (r.status != TaskStatus::Failed) continue;
    std::string type = exception_type(r.exception);
    auto [it, inserted] = index.try_emplace({type, without_numbers(r.message)}, groups.size());
    if (inserted) groups.push_back(FailureGroup{std::move(type), r.message, false, {}});
    FailureGroup& group = groups[it->second];
    if (group.message != r.message) group.messages_differ = true;
    group.tasks.push_back(&r);
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [](const FailureGroup& a, const FailureGroup& b) { return a.tasks.size() > b.tasks.size(); });
  return groups;
}

// "crash ×2,991, parse (3 attempts), and 4 more": names in first-seen order, at most `max_names`.
std::string names_text(const std::vector<const TaskResult*>& tasks, std::size_t max_names) {
  std::vector<std::pair<const TaskResult*, std::size_t>> names;
  std::map<std::string_view, std::size_t> index;
  for (const TaskResult* r : tasks) {
    auto [it, inserted] = index.try_emplace(r->name, names.size());
    if (inserted) names.emplace_back(r, 0);
    ++names[it->second].second;
  }
  std::string out;
  for (std::size_t i = 0; i < std::min(max_names, names.size()); ++i) {
    const auto& [r, count] = names[i];
    if (!out.empty()) out += ", ";
    out += r->name;
    if (count > 1) {
      out += " ×" + count_text(count);
    } else if (r->attempts > 1) {
      out += fmt::format(" ({} attempts)", r->attempts);
    }
  }
  if (names.size() > max_names) out += fmt::format(", and {} more", count_text(names.size() - max_names));
  return out;
}

std::vector<const TaskResult*> select(const std::vector<TaskResult>& results, bool (*keep)(const TaskResult&)) {
  std::vector<const TaskResult*> out;
  for (const auto& r : results) {
    if (keep(r)) out.push_back(&r);
  }
  return out;
}

void append_failures(std::string& out, const std::vector<TaskResult>& results, const DisplayOptions& options) {
  const auto groups = group_failures(results);
  out += fmt::format("  Failures ({} distinct):\n", count_text(groups.size()));
  const std::size_t listed = std::min(options.max_failures, groups.size());
  for (std::size_t i = 0; i < listed; ++i) {
    const FailureGroup& g = groups[i];
    const std::string_view message = g.message.empty() ? std::string_view("(no message)") : g.message;
    out += fmt::format("    {} × {}{}{}{}\n", count_text(g.tasks.size()), g.type, g.type.empty() ? "" : ": ", message,
                       g.messages_differ ? " (and similar)" : "");
    out += fmt::format("      tasks: {}\n", names_text(g.tasks, options.max_names));
  }
  if (groups.size() > listed) {
    std::size_t rest = 0;
    for (std::size_t i = listed; i < groups.size(); ++i) rest += groups[i].tasks.size();
    out += fmt::format("    and {} more distinct failure(s) ({} task(s))\n", count_text(groups.size() - listed),
                       count_text(rest));
  }
}

void append_slowest(std::string& out, const std::vector<TaskResult>& results, std::size_t count) {
  auto ran = select(results, [](const TaskResult& r) { return r.started_at.has_value(); });
  if (count == 0 || ran.empty()) return;
  const auto shown = std::min(count, ran.size());
  std::partial_sort(ran.begin(), ran.begin() + static_cast<std::ptrdiff_t>(shown), ran.end(),
                    [](const TaskResult* a, const TaskResult* b) { return a->duration > b->duration; });
  out += "  Slowest:\n";
  for (std::size_t i = 0; i < shown; ++i) {
    out += fmt::format("    {:.3f}s  {} [{}]\n", ran[i]->duration.count(), ran[i]->name, ran[i]->task_id);
  }
}

// "1 (node-a) ×10, 2 (node-b) ×9": the MPI ranks that ran the tasks, for MpiQueue runs.
std::string ranks_text(const std::vector<TaskResult>& results) {
  std::map<std::pair<int, std::string_view>, std::size_t> counts;
  for (const auto& r : results) {
    if (r.rank) ++counts[{*r.rank, r.host ? std::string_view(*r.host) : std::string_view("?")}];
  }
  std::string out;
  for (const auto& [where, count] : counts) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} ({}) ×{}", where.first, where.second, count_text(count));
  }
  return out;
}

void append_groups(std::string& out, const std::vector<TaskResult>& results, std::size_t max_groups) {
  struct Counts {
    std::size_t total = 0;
    std::size_t succeeded = 0;
    std::size_t failed = 0;
    std::size_t cancelled = 0;
  };
  std::vector<std::pair<std::string_view, Counts>> groups;
  std::map<std::string_view, std::size_t> index;
  for (const auto& r : results) {
    if (!r.group_id) continue;
    auto [it, inserted] = index.try_emplace(*r.group_id, groups.size());
    if (inserted) groups.emplace_back(*r.group_id, Counts{});
    Counts& c = groups[it->second].second;
    ++c.total;
    if (r.status == TaskStatus::Succeeded) ++c.succeeded;
    if (r.status == TaskStatus::Failed) ++c.failed;
    if (r.status == TaskStatus::Cancelled) ++c.cancelled;
  }
  if (groups.empty()) return;
  out += fmt::format("  Groups ({}):\n", count_text(groups.size()));
  for (std::size_t i = 0; i < std::min(max_groups, groups.size()); ++i) {
    const auto& [id, c] = groups[i];
    out += fmt::format("    {}: {} task(s), {} succeeded, {} failed, {} cancelled\n", id, count_text(c.total),
                       count_text(c.succeeded), count_text(c.failed), count_text(c.cancelled));
  }
  if (groups.size() > max_groups)
    out += fmt::format("    and {} more group(s)\n", count_text(groups.size() - max_groups));
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void append_json_optional(std::string& out, const std::optional<std::string>& text) {
  if (text) {
    append_json_string(out, *text);
  } else {
    out += "null";
  }
}

}  // namespace

std::string to_string(const TaskResult& r) {
  std::string out = fmt::format("{} [{}] {}", r.name, r.task_id, r.status);
  const std::string attempts = r.attempts > 1 ? fmt::format(" after {} attempts", r.attempts) : std::string();
  switch (r.status) {
    case TaskStatus::Succeeded: out += fmt::format(" in {:.3f}s{}", r.duration.count(), attempts); break;
    case TaskStatus::Failed: {
      const std::string type = exception_type(r.exception);
      out += fmt::format("{}: {}{}{}", attempts, type, type.empty() ? "" : ": ", r.message);
      break;
    }
    default:
      if (!r.message.empty()) out += ": " + r.message;
  }
  // A worker's death already names its rank in the message.
  if (r.rank && r.message.find("MPI rank") == std::string::npos) {
    out += fmt::format(" (rank {}, host {})", *r.rank, r.host.value_or("?"));
  }
  return out;
}

std::string RunSummary::report(const DisplayOptions& options) const {
  const char* status = timed_out ? "TIMED OUT" : (ok() ? "PASSED" : "COMPLETED WITH ERRORS");
  const std::string bar(40, '-');
  std::string out = fmt::format("{}\n  Run Summary: {}\n{}\n", bar, status, bar);
  out += fmt::format("  Total tasks : {}\n  Succeeded   : {}\n  Failed      : {}\n  Cancelled   : {}\n",
                     count_text(total_submitted), count_text(succeeded), count_text(failed), count_text(cancelled));
  const auto timeouts = select(results, is_timeout);
  if (!timeouts.empty()) {
    out +=
        fmt::format("  Timed out   : {} ({})\n", count_text(timeouts.size()), names_text(timeouts, options.max_names));
  }
  out += fmt::format("  Duration    : {:.3f}s\n", duration.count());
  if (const std::string ranks = ranks_text(results); !ranks.empty()) out += fmt::format("  Ranks       : {}\n", ranks);
  std::string details;
  if (failed > 0) append_failures(details, results, options);
  if (cancelled > 0) {
    const auto c = select(results, [](const TaskResult& r) { return r.status == TaskStatus::Cancelled; });
    details += fmt::format("  Cancelled tasks: {}\n", names_text(c, options.max_names));
  }
  append_slowest(details, results, options.slowest);
  append_groups(details, results, options.max_groups);
  if (!details.empty()) out += bar + '\n' + details;
  out += bar + '\n';
  return out;
}

void RunSummary::display(std::ostream& os, const DisplayOptions& options) const { os << report(options); }

std::string RunSummary::to_json() const {
  std::string out = fmt::format(
      R"({{"ok":{},"timed_out":{},"total_submitted":{},"succeeded":{},"failed":{},"cancelled":{},"duration":{},)", ok(),
      timed_out, total_submitted, succeeded, failed, cancelled, duration.count());
  out += R"("failures":[)";
  const auto groups = group_failures(results);
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const FailureGroup& g = groups[i];
    out += fmt::format(R"({}{{"count":{},"type":)", i == 0 ? "" : ",", g.tasks.size());
    append_json_string(out, g.type);
    out += R"(,"message":)";
    append_json_string(out, g.message);
    out += R"(,"task_ids":[)";
    for (std::size_t t = 0; t < g.tasks.size(); ++t) {
      if (t > 0) out += ',';
      append_json_string(out, g.tasks[t]->task_id);
    }
    out += "]}";
  }
  out += R"(],"results":[)";
  for (std::size_t i = 0; i < results.size(); ++i) {
    const TaskResult& r = results[i];
    if (i > 0) out += ',';
    out += R"({"task_id":)";
    append_json_string(out, r.task_id);
    out += R"(,"name":)";
    append_json_string(out, r.name);
    out += fmt::format(R"(,"status":"{}","attempts":{},"priority":{},"duration":{},"group_id":)", r.status, r.attempts,
                       r.priority, r.duration.count());
    append_json_optional(out, r.group_id);
    out += R"(,"message":)";
    append_json_string(out, r.message);
    const std::string type = exception_type(r.exception);
    out += R"(,"error_type":)";
    append_json_optional(out, type.empty() ? std::nullopt : std::optional<std::string>(type));
    out += R"(,"worker_pid":)";
    out += r.worker_pid ? std::to_string(*r.worker_pid) : std::string("null");
    out += R"(,"rank":)";
    out += r.rank ? std::to_string(*r.rank) : std::string("null");
    out += R"(,"host":)";
    append_json_optional(out, r.host);
    out += '}';
  }
  out += "]}";
  return out;
}

}  // namespace osiiso
