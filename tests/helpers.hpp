// SPDX-License-Identifier: MIT
// Small helpers shared by the test files.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/enums.hpp>
#include <osiiso/task_result.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace osiiso::test {

using namespace std::chrono_literals;

/// A finished result as a queue would record it; succeeded results get `value` if one is given.
inline TaskResult make_result(std::string name, TaskStatus status, std::size_t attempts = 1,
                              std::optional<std::string> group_id = std::nullopt) {
  static std::atomic<std::size_t> next_id{0};
  TaskResult r;
  r.task_id = "t" + std::to_string(next_id++);
  r.name = std::move(name);
  r.status = status;
  r.attempts = attempts;
  r.group_id = std::move(group_id);
  return r;
}

/// A succeeded result holding `value`.
template <class T>
TaskResult make_success(std::string name, T value, std::optional<std::string> group_id = std::nullopt) {
  TaskResult r = make_result(std::move(name), TaskStatus::Succeeded, 1, std::move(group_id));
  r.set_value(std::move(value));
  return r;
}

/// The lines of `text`, without their newlines.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

/// Polls `predicate` until it holds or `timeout` passes; returns its last value.
template <class Predicate>
bool eventually(Predicate predicate, Seconds timeout = 5s, Seconds interval = 1ms) {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  while (!predicate()) {
    if (Clock::now() >= deadline) return predicate();
    std::this_thread::sleep_for(interval);
  }
  return true;
}

}  // namespace osiiso::test
