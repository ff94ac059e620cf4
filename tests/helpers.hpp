// SPDX-License-Identifier: MIT
// Small helpers shared by the test files.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/enums.hpp>
#include <osiiso/task_result.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stop_token>
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

/// Sleeps for `duration` unless a stop is requested first; true when it slept the whole time.
inline bool sleep_unless_stopped(std::stop_token stop, Seconds duration) {
  std::mutex mutex;
  std::condition_variable_any cv;
  std::unique_lock lock(mutex);
  cv.wait_for(lock, stop, duration, [] { return false; });
  return !stop.stop_requested();
}

/// A long task that ends as soon as it is asked to stop (timeouts and cancellation abandon it).
inline std::string slow(std::stop_token stop, Seconds duration) {
  sleep_unless_stopped(stop, duration);
  return "done";
}

/// A latch that tasks wait on until the test opens it; shared through shared_ptr because an
/// abandoned task may outlive the test case.
struct Gate {
  std::mutex mutex;
  std::condition_variable_any cv;
  bool is_open = false;

  void open() {
    {
      std::lock_guard lock(mutex);
      is_open = true;
    }
    cv.notify_all();
  }

  bool wait(std::stop_token stop, Seconds limit = 3s) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, stop, limit, [this] { return is_open; });
  }
};

/// A task that returns `value` once `gate` opens.
template <class T>
auto gated(std::shared_ptr<Gate> gate, T value) {
  return [gate = std::move(gate), value = std::move(value)](std::stop_token stop) {
    gate->wait(stop);
    return value;
  };
}

/// Child processes of every thread of this process.
inline std::size_t child_count() {
  std::size_t n = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "children");
    for (std::string pid; in >> pid;) ++n;
  }
  return n;
}

/// Open file descriptors of this process.
inline std::size_t fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

/// The what() of `error` ("(no error)" for none, "?" for a non-standard exception).
inline std::string error_text(const std::exception_ptr& error) {
  if (error == nullptr) return "(no error)";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "?";
  }
}

/// A path in the temporary directory, unique to this process and call.
inline std::string temp_path(const std::string& stem) {
  static std::atomic<int> serial{0};
  return (std::filesystem::temp_directory_path() /
          (stem + "_" + std::to_string(::getpid()) + "_" + std::to_string(serial++)))
      .string();
}

/// True when `pid` no longer runs (gone, or a zombie waiting for its new parent to reap it).
inline bool process_gone(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return true;
  const auto close = stat.rfind(')');
  return close == std::string::npos || stat.substr(close + 2, 1) == "Z";
}

/// Time elapsed since `start`.
inline Seconds since(Clock::time_point start) { return Clock::now() - start; }

// A frame header with any magic byte, type, payload length and attempt id, for forging malformed frames.
inline std::string forged_frame_header(unsigned char magic, unsigned char type, std::uint64_t size,
                                       std::uint64_t id = 0) {
  std::string h;
  h.push_back(static_cast<char>(magic));
  h.push_back(static_cast<char>(type));
  h.append(reinterpret_cast<const char*>(&id), sizeof id);
  h.append(reinterpret_cast<const char*>(&size), sizeof size);
  return h;
}

}  // namespace osiiso::test
