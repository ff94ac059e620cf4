// SPDX-License-Identifier: MIT
// How a ThreadQueue task is stored: the callable and its arguments, in the work itself.
#pragma once

#include <osiiso/detail/backend.hpp>
#include <osiiso/detail/demangle.hpp>
#include <osiiso/detail/prepared_task.hpp>
#include <osiiso/detail/registry.hpp>

#include <any>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace osiiso::detail {

struct ThreadWork : Work {
  // Runs one attempt; the token is stopped when the attempt times out or is cancelled.
  virtual std::any run(std::stop_token token) = 0;
  // Whether the task reads the token (other tasks need no stop state of their own).
  [[nodiscard]] virtual bool takes_stop_token() const noexcept = 0;
};

// A task whose first parameter is std::stop_token receives the attempt's token.
template <class F, class... A>
inline constexpr bool takes_stop_token_v = std::is_invocable_v<F&, std::stop_token, A&...>;

template <class F, class... A>
struct thread_result {
  using type = std::invoke_result_t<F&, A&...>;
};
template <class F, class... A>
requires takes_stop_token_v<F, A...>
struct thread_result<F, A...> {
  using type = std::invoke_result_t<F&, std::stop_token, A&...>;
};

// The value type a ThreadQueue handle carries for `f(args...)`.
template <class F, class... A>
using thread_result_t = typename thread_result<std::decay_t<F>, std::decay_t<A>...>::type;

// The callable and its arguments, stored with the work itself (one allocation per task). Every
// attempt calls it with the same stored arguments.
template <class Fn, class... A>
struct ThreadCall final : ThreadWork {
  template <class F, class... Args>
  explicit ThreadCall(F&& f, Args&&... args) : stored(std::forward<F>(f), std::forward<Args>(args)...) {}

  std::any run(std::stop_token token) override {
    using R = typename thread_result<Fn, A...>::type;
    return std::apply(
        [&token](Fn& fn, A&... a) -> std::any {
          if constexpr (takes_stop_token_v<Fn, A...>) {
            if constexpr (std::is_void_v<R>) {
              std::invoke(fn, std::move(token), a...);
              return {};
            } else {
              return std::any(std::invoke(fn, std::move(token), a...));
            }
          } else if constexpr (std::is_void_v<R>) {
            std::invoke(fn, a...);
            return {};
          } else {
            return std::any(std::invoke(fn, a...));
          }
        },
        stored);
  }
  [[nodiscard]] bool takes_stop_token() const noexcept override { return takes_stop_token_v<Fn, A...>; }

  std::tuple<Fn, A...> stored;
};

// The default name of a callable: its registered name, else its demangled type.
template <class Fn>
std::string callable_name(const Fn& fn) {
  if constexpr (std::is_pointer_v<Fn> && std::is_function_v<std::remove_pointer_t<Fn>>) {
    if (const std::string* name = registered_name(fn)) return *name;
  }
  return type_name<Fn>();
}

template <class F, class... A>
PreparedTask make_thread_work(F&& f, A&&... args) {
  using Fn = std::decay_t<F>;
  static_assert(std::is_invocable_v<Fn&, std::decay_t<A>&...> || takes_stop_token_v<Fn, std::decay_t<A>...>,
                "ThreadQueue::submit(): the callable cannot be called with these arguments");
  using R = thread_result_t<F, A...>;
  static_assert(std::is_void_v<R> || std::is_copy_constructible_v<R>,
                "ThreadQueue::submit(): task results must be copy-constructible (TaskResult stores them in std::any)");
  std::string name = callable_name<Fn>(f);
  auto work = std::make_unique<ThreadCall<Fn, std::decay_t<A>...>>(std::forward<F>(f), std::forward<A>(args)...);
  return PreparedTask{std::move(work), std::move(name)};
}

}  // namespace osiiso::detail
