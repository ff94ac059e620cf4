// SPDX-License-Identifier: MIT
// osiiso::call: one deferred call of a heterogeneous group.
#pragma once

#include <osiiso/detail/call_type.hpp>
#include <osiiso/detail/prepared_task.hpp>
#include <osiiso/detail/process_work.hpp>
#include <osiiso/detail/thread_work.hpp>
#include <osiiso/errors.hpp>

#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace osiiso {

/// Binds `f` to `args` for a heterogeneous group; the arguments are copied.
template <class F, class... A>
Call call(F&& f, A&&... args) {
  using Stored = std::tuple<std::decay_t<F>, std::decay_t<A>...>;
  auto stored = std::make_shared<Stored>(std::forward<F>(f), std::forward<A>(args)...);
  Call c;
  c.name_ = detail::callable_name(std::get<0>(*stored));
  c.threads_ = [stored] {
    return std::apply([](const auto&... xs) { return detail::make_thread_work(xs...); }, *stored);
  };
  // Whether make_process_work(f, args...) compiles: then a Call can also go to a ProcessQueue.
  if constexpr (ProcessSubmittable<std::decay_t<F>, const std::decay_t<A>&...>) {
    c.processes_ = [stored] {
      return std::apply([](const auto&... xs) { return detail::make_process_work(xs...); }, *stored);
    };
  }
  return c;
}

}  // namespace osiiso
