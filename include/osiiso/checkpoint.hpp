// SPDX-License-Identifier: MIT
// Checkpoint: a SQLite record of which inputs of a fan-out completed, so a rerun can skip them.
#pragma once

#include <osiiso/detail/archive.hpp>
#include <osiiso/detail/demangle.hpp>
#include <osiiso/enums.hpp>
#include <osiiso/errors.hpp>
#include <osiiso/task_handle.hpp>
#include <osiiso/task_result.hpp>

#include <boost/archive/archive_exception.hpp>

#include <any>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace osiiso {

/**
 * Remembers which inputs of a fan-out succeeded, and their values, in one SQLite file, so a rerun
 * after a crash skips them. Entries are keyed by (namespace, key); values use the same encoding as
 * task results (`detail::save_values`). Not a durable queue: nothing about the callable is stored.
 *
 * The file is in WAL mode with `synchronous=NORMAL`: a record that returned survives a crash or
 * `kill -9` of the process, though not necessarily a power loss.
 *
 *     osiiso::Checkpoint cp("run.db");
 *     cp.record("fetch", url, page);
 *     if (auto page = cp.lookup<std::string>("fetch", url)) use(*page);
 *
 * Thread-safety: every member may be called from any thread; one mutex serializes the connection.
 * Several Checkpoint objects (or processes) may open the same file; SQLite locks it between them.
 */
class Checkpoint {
 public:
  /// Opens the store at `path`, creating it if needed; ":memory:" is private to this object.
  explicit Checkpoint(std::string path = ":memory:");
  /// Closes the store once the last watch() callback holding it is gone.
  ~Checkpoint();
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;
  /// Takes over the open store; the moved-from object may only be destroyed or assigned to.
  Checkpoint(Checkpoint&& other) noexcept;
  /// Takes over the open store, releasing this one's.
  Checkpoint& operator=(Checkpoint&& other) noexcept;

  /// The path the store was opened with.
  [[nodiscard]] const std::string& path() const;

  /// Records `key` under `ns` as done with `value` (replacing an earlier record).
  template <class T>
  void record(std::string_view ns, std::string_view key, const T& value) {
    std::string bytes;
    detail::save_values(bytes, value);
    record_encoded(ns, key, bytes);
  }

  /// Records `key` under `ns` as done with already encoded `bytes` (replacing an earlier record).
  void record_encoded(std::string_view ns, std::string_view key, std::string_view bytes);

  /// The value recorded for `key` under `ns`, if any; throws CheckpointError if it does not decode as T.
  template <class T>
  [[nodiscard]] std::optional<T> lookup(std::string_view ns, std::string_view key) const {
    auto bytes = lookup_encoded(ns, key);
    if (!bytes) return std::nullopt;
    T value{};
    try {
      detail::load_values(*bytes, value);
    } catch (const boost::archive::archive_exception& e) {
      throw_undecodable(ns, key, detail::type_name<T>(), e.what());
    }
    return value;
  }

  /// The encoded value recorded for `key` under `ns`, if any.
  [[nodiscard]] std::optional<std::string> lookup_encoded(std::string_view ns, std::string_view key) const;

  /// The encoded values of those of `keys` recorded under `ns`, by key (any number of keys).
  [[nodiscard]] std::unordered_map<std::string, std::string> lookup_encoded(std::string_view ns,
                                                                            const std::vector<std::string>& keys) const;

  /// True if `key` is recorded under `ns`.
  [[nodiscard]] bool is_done(std::string_view ns, std::string_view key) const;

  /// Number of keys recorded under `ns`.
  [[nodiscard]] std::size_t count(std::string_view ns) const;

  /// Number of keys recorded under every namespace.
  [[nodiscard]] std::size_t count() const;

  /// Every namespace with at least one record, sorted.
  [[nodiscard]] std::vector<std::string> namespaces() const;

  /// Forgets every record under `ns`, so those inputs run again; returns how many were removed.
  std::size_t clear(std::string_view ns);

  /// Forgets every record; returns how many were removed.
  std::size_t clear();

  /**
   * Records `key` under `ns` with the task's value once `handle` succeeds; a failed or cancelled
   * task is not recorded, so it runs again next time. The callback keeps the store open, so the
   * Checkpoint may be destroyed before the queue. A record that fails is logged as a done
   * callback's error (the task's result is unaffected).
   */
  template <class R>
  void watch(const SyncTaskHandle<R>& handle, std::string ns, std::string key) {
    static_assert(!std::is_same_v<R, std::any>,
                  "Checkpoint::watch() needs a typed handle: the value's type decides its encoding");
    handle.add_done_callback([held = store(), ns = std::move(ns), key = std::move(key)](const SyncTaskHandle<>& done) {
      const TaskResult& result = done.result();
      if (result.status != TaskStatus::Succeeded) return;
      std::string bytes;
      if constexpr (!std::is_void_v<R>) detail::save_values(bytes, result.value<R>());
      record_into(*held, ns, key, bytes);
    });
  }

 private:
  struct Store;

  [[nodiscard]] const std::shared_ptr<Store>& store() const;
  static void record_into(Store& store, std::string_view ns, std::string_view key, std::string_view bytes);
  [[noreturn]] static void throw_undecodable(std::string_view ns, std::string_view key, const std::string& type,
                                             const char* why);

  // Shared with watch() callbacks, which may outlive this object.
  std::shared_ptr<Store> store_;
};

}  // namespace osiiso

// After the class: resuming a fan-out uses a complete Checkpoint.
#include <osiiso/detail/resume.hpp>

namespace osiiso {

/// Resume a map, group, pmap or tmap from `checkpoint`, in the namespace of the task's name, keyed
/// by the serialized input.
inline Resume<std::nullptr_t> resume(Checkpoint& checkpoint) { return {&checkpoint, std::nullopt, nullptr}; }

/// Resume from `checkpoint` in namespace `ns`, keyed by the serialized input.
inline Resume<std::nullptr_t> resume(Checkpoint& checkpoint, std::string ns) {
  return {&checkpoint, std::move(ns), nullptr};
}

/// Resume from `checkpoint` in namespace `ns`, keyed by `key(input) -> std::string`.
template <class KeyFn>
Resume<std::decay_t<KeyFn>> resume(Checkpoint& checkpoint, std::string ns, KeyFn&& key) {
  return {&checkpoint, std::move(ns), std::forward<KeyFn>(key)};
}

}  // namespace osiiso
