// SPDX-License-Identifier: MIT
// map/group/pmap/tmap over a Checkpoint: inputs already recorded come back as finished handles
// with the stored value; the others are submitted and recorded when they succeed.
#pragma once

#include <osiiso/detail/archive.hpp>
#include <osiiso/detail/queue_front.hpp>
#include <osiiso/detail/serializable.hpp>
#include <osiiso/detail/task_state.hpp>
#include <osiiso/detail/thread_work.hpp>
#include <osiiso/task_handle.hpp>
#include <osiiso/task_options.hpp>

#include <any>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace osiiso {

class Checkpoint;

/// Where map, group, pmap and tmap resume from: made by osiiso::resume().
template <class KeyFn>
struct Resume {
  /// The store consulted and recorded into (it must outlive the call; its records outlive it).
  Checkpoint* checkpoint = nullptr;
  /// The namespace (default: the task's name).
  std::optional<std::string> ns;
  /// `key(input) -> std::string`; nullptr_t: the serialized input.
  KeyFn key;
};

namespace detail {

// A succeeded handle that never ran: its value came from a checkpoint.
TaskStatePtr restored_task(const TaskOptions& options, std::string name, std::any value);

// The default key: the input's bytes as the library serializes arguments, in hexadecimal.
std::string hex_key(std::string_view bytes);

template <class E>
std::string serialized_key(const E& element) {
  std::string bytes;
  if constexpr (is_tuple_like<E>::value) {
    std::apply([&bytes](const auto&... parts) { save_values(bytes, parts...); }, element);
  } else {
    static_assert(is_serializable_v<E>,
                  "osiiso::resume(cp): the default checkpoint key is the serialized input, and this input type "
                  "cannot be serialized; pass a key function: osiiso::resume(cp, \"namespace\", key_fn)");
    save_values(bytes, element);
  }
  return hex_key(bytes);
}

template <class R>
std::optional<std::any> decode_restored(const std::string& bytes) {
  if constexpr (std::is_void_v<R>) {
    return std::any();
  } else {
    static_assert(std::is_default_constructible_v<R>,
                  "osiiso::resume(cp): restored results must be default-constructible");
    try {
      R value{};
      load_values(bytes, value);
      return std::any(std::move(value));
    } catch (const std::exception&) {
      // Recorded with another type (a garbage length, a user serialize() that throws): the
      // input runs again.
      return std::nullopt;
    }
  }
}

void report_undecodable(const std::string& ns, const std::string& key) noexcept;

template <class R, class Derived, class F, class Range, class KeyFn>
std::vector<SyncTaskHandle<R>> resume_map(QueueFront<Derived>& queue, const TaskOptions& options, F& f, Range&& range,
                                          const Resume<KeyFn>& from) {
  static_assert(std::is_void_v<R> || is_serializable_v<R>,
                "osiiso::resume(cp): a checkpoint records the task's value, and this result type cannot be serialized");
  using E = std::remove_cvref_t<std::ranges::range_reference_t<Range>>;
  std::vector<E> inputs(std::ranges::begin(range), std::ranges::end(range));
  const std::string name = options.name.value_or(callable_name<std::decay_t<F>>(f));
  const std::string ns = from.ns.value_or(name);
  std::vector<std::string> keys;
  keys.reserve(inputs.size());
  for (const E& input : inputs) {
    if constexpr (std::is_same_v<KeyFn, std::nullptr_t>) {
      keys.push_back(serialized_key(input));
    } else {
      keys.push_back(std::string(from.key(input)));
    }
  }
  const auto hits = from.checkpoint->lookup_encoded(ns, keys);
  std::vector<SyncTaskHandle<R>> handles;
  handles.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (const auto hit = hits.find(keys[i]); hit != hits.end()) {
      if (auto value = decode_restored<R>(hit->second)) {
        handles.emplace_back(restored_task(options, name, std::move(*value)));
        continue;
      }
      report_undecodable(ns, keys[i]);
    }
    auto handle = [&] {
      if constexpr (is_tuple_like<E>::value) {
        return std::apply([&](auto&... args) { return queue.submit(options, f, args...); }, inputs[i]);
      } else {
        return queue.submit(options, f, inputs[i]);
      }
    }();
    from.checkpoint->watch(handle, ns, keys[i]);
    handles.push_back(std::move(handle));
  }
  return handles;
}

}  // namespace detail
}  // namespace osiiso
