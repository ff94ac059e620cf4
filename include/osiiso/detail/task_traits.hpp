// SPDX-License-Identifier: MIT
// What a ProcessQueue task function looks like: parameters, and the result seen by handles.
#pragma once

#include <cstddef>
#include <future>
#include <tuple>
#include <type_traits>

// Declared here so that a coroutine function's result is recognised in every translation unit,
// without Boost.Asio's headers (<osiiso/awaitable.hpp> brings what runs it).
namespace boost::asio {
template <typename T, typename Executor>
class awaitable;
}  // namespace boost::asio

namespace osiiso::detail {

template <class... T>
struct TypeList {};

// Traits of a plain function pointer; `valid` is false for anything else.
template <class F>
struct FunctionTraits {
  static constexpr bool valid = false;
};
template <class R, class... P>
struct FunctionTraits<R (*)(P...)> {
  static constexpr bool valid = true;
  static constexpr std::size_t arity = sizeof...(P);
  using Result = R;
  using Params = TypeList<P...>;
  // What travels over the pipe: each parameter decayed.
  using Arguments = std::tuple<std::decay_t<P>...>;
};
template <class R, class... P>
struct FunctionTraits<R (*)(P...) noexcept> : FunctionTraits<R (*)(P...)> {};

// How a function's return value is turned into the task's result.
enum class ResultKind { Plain, Awaitable, Future };

template <class R>
struct ResultTraits {
  static constexpr ResultKind kind = ResultKind::Plain;
  using Type = std::decay_t<R>;
};
template <>
struct ResultTraits<void> {
  static constexpr ResultKind kind = ResultKind::Plain;
  using Type = void;
};
template <class T, class E>
struct ResultTraits<boost::asio::awaitable<T, E>> {
  static constexpr ResultKind kind = ResultKind::Awaitable;
  using Type = std::decay_t<T>;
};
template <class T>
struct ResultTraits<std::future<T>> {
  static constexpr ResultKind kind = ResultKind::Future;
  using Type = std::decay_t<T>;
};

template <class T>
struct IsAwaitable : std::false_type {};
template <class T, class E>
struct IsAwaitable<boost::asio::awaitable<T, E>> : std::true_type {};

template <class>
inline constexpr bool dependent_false = false;

// Runs an awaitable to completion in the worker; specialised by <osiiso/awaitable.hpp>.
template <class Awaitable>
struct AwaitableRunner {
  static_assert(dependent_false<Awaitable>,
                "a task function returning boost::asio::awaitable<T> needs #include <osiiso/awaitable.hpp> "
                "(it brings Boost.Asio's io_context and co_spawn, which run the coroutine in the worker)");
};

template <class F>
inline constexpr bool is_task_function_pointer = FunctionTraits<std::decay_t<F>>::valid;

}  // namespace osiiso::detail

namespace osiiso {

namespace detail {
// A rejected callable (a lambda, a functor) still gets the handle type it would have on a
// ThreadQueue, and anything else void: code after the call then compiles, so the readable
// static_assert of the submission is the one error the user sees.
template <class F, class... A>
struct ProcessResult {
  using Type = void;
};
template <class F, class... A>
requires(!FunctionTraits<std::decay_t<F>>::valid &&
         std::is_invocable_v<std::decay_t<F>&, std::decay_t<A>&...>) struct ProcessResult<F, A...> {
  using Type = std::decay_t<std::invoke_result_t<std::decay_t<F>&, std::decay_t<A>&...>>;
};
template <class F, class... A>
requires FunctionTraits<std::decay_t<F>>::valid struct ProcessResult<F, A...> {
  using Type = typename ResultTraits<std::remove_cvref_t<typename FunctionTraits<std::decay_t<F>>::Result>>::Type;
};
}  // namespace detail

/// The value type a ProcessQueue handle of `fn(args...)` carries: T for a function returning
/// T, boost::asio::awaitable<T> or std::future<T>; void for void (for a rejected callable such as
/// a lambda: its result, so that the rejection is the only compile-time error).
template <class F, class... A>
using process_result_t = typename detail::ProcessResult<F, A...>::Type;

}  // namespace osiiso
