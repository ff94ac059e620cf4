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

namespace detail {

template <class T>
inline constexpr bool transferable_v = std::is_void_v<T> ||
                                       (is_serializable_v<T> && std::is_default_constructible_v<T> &&
                                        std::is_copy_constructible_v<T>);

// Whether make_process_work(f, args...) compiles: then a Call can also go to a ProcessQueue.
template <class F, class... A>
constexpr bool process_callable() {
  if constexpr (!is_task_function_pointer<F>) {
    return false;
  } else if constexpr (!arguments_convert<F, const A&...>()) {
    return false;
  } else {
    using Traits = FunctionTraits<F>;
    using Value = typename ResultTraits<std::remove_cvref_t<typename Traits::Result>>::Type;
    return transferable_v<Value> && []<class... P>(std::tuple<P...>*) {
      return (transferable_v<P> && ... && true);
    }(static_cast<typename Traits::Arguments*>(nullptr));
  }
}

}  // namespace detail

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
  if constexpr (detail::process_callable<std::decay_t<F>, std::decay_t<A>...>()) {
    c.processes_ = [stored] {
      return std::apply([](const auto&... xs) { return detail::make_process_work(xs...); }, *stored);
    };
  }
  return c;
}

}  // namespace osiiso
