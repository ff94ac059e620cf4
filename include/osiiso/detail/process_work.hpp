// SPDX-License-Identifier: MIT
// What a ProcessQueue submission becomes: its registered name, its serialized arguments and a typed
// result decoder.
#pragma once

#include <osiiso/detail/archive.hpp>
#include <osiiso/detail/backend.hpp>
#include <osiiso/detail/buffer_pool.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/prepared_task.hpp>
#include <osiiso/detail/registry.hpp>
#include <osiiso/detail/task_traits.hpp>
#include <osiiso/registry.hpp>

#include <any>
#include <concepts>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace osiiso::detail {

// The backend payload of one ProcessQueue task.
struct ProcessWork final : Work {
  // A large argument buffer serves a later submission (see buffer_pool.hpp).
  ~ProcessWork() override { recycle_buffer(std::move(arguments)); }

  // The Request frame payload, in its two parts.
  [[nodiscard]] RequestView request() const noexcept { return {*function, arguments}; }

  // The registered name (the registry's, which outlives every task).
  const std::string* function = nullptr;
  // The argument archive.
  std::string arguments;
  // Rebuilds the value from a Value frame payload (empty std::any for void).
  std::any (*decode)(std::string_view payload) = nullptr;
};

template <class R>
std::any decode_result(std::string_view payload) {
  if constexpr (std::is_void_v<R>) {
    return {};
  } else {
    R value{};
    load_values(payload, value);
    return std::any(std::move(value));
  }
}

template <class F, class... A>
constexpr bool arguments_convert() {
  using Traits = FunctionTraits<std::decay_t<F>>;
  if constexpr (Traits::arity != sizeof...(A)) {
    return false;
  } else {
    return []<class... P>(std::tuple<P...>*) {
      return (std::is_convertible_v<A&&, P> && ... && true);
    }(static_cast<typename Traits::Arguments*>(nullptr));
  }
}

// A type that can cross the pipe: serializable, default-constructible to be loaded, copyable to be
// held in std::any (void results need none of it).
template <class T>
inline constexpr bool transferable_v = std::is_void_v<T> ||
                                       (is_serializable_v<T> && std::is_default_constructible_v<T> &&
                                        std::is_copy_constructible_v<T>);

// Whether every parameter and the result of the function pointer F can cross the pipe.
template <class F>
constexpr bool signature_transferable() {
  using Traits = FunctionTraits<F>;
  using Value = typename ResultTraits<std::remove_cvref_t<typename Traits::Result>>::Type;
  return transferable_v<Value> && []<class... P>(std::tuple<P...>*) {
    return (transferable_v<P> && ... && true);
  }(static_cast<typename Traits::Arguments*>(nullptr));
}

// An argument as the parameter type P: the argument itself when it already is a P (so a large
// argument is serialized from the caller's object, not from a copy), else a converted P.
template <class P, class A>
decltype(auto) as_parameter(A&& argument) {
  if constexpr (std::is_same_v<std::remove_cvref_t<A>, P>) {
    return static_cast<const P&>(argument);
  } else {
    return static_cast<P>(std::forward<A>(argument));
  }
}

// Appends the argument archive of a function with parameters `P...` to `out`.
template <class... P, class... A>
void save_arguments(std::string& out, std::tuple<P...>* /*parameters*/, A&&... arguments) {
  save_values(out, as_parameter<P>(std::forward<A>(arguments))...);
}

// The readable compile-time errors of ProcessQueue submission, in the order a user meets them.
// Always true: each failure is its own static_assert, reported once, never a second time by the caller.
template <class F, class... A>
constexpr bool check_process_submission() {
  using D = std::decay_t<F>;
  static_assert(!IsAwaitable<D>::value,
                "ProcessQueue::submit(): process tasks must be callable, not awaitable: pass the coroutine "
                "function registered with OSIISO_TASK (and its arguments), not the awaitable it returned");
  static_assert(IsAwaitable<D>::value || is_task_function_pointer<D>,
                "ProcessQueue::submit(): a lambda or function object cannot run in another process: pass a function "
                "registered with OSIISO_TASK (a ThreadQueue takes any callable)");
  if constexpr (is_task_function_pointer<D>) {
    using Traits = FunctionTraits<D>;
    static_assert(Traits::arity == sizeof...(A),
                  "ProcessQueue::submit(): wrong number of arguments for the task function (default arguments are "
                  "not available through a function pointer)");
    if constexpr (Traits::arity == sizeof...(A)) {
      static_assert(arguments_convert<F, A...>(),
                    "ProcessQueue::submit(): an argument does not convert to the task function's parameter type");
    }
    check_signature<D>();
  }
  return true;
}

}  // namespace osiiso::detail

namespace osiiso {

/// A plain function pointer whose arguments and result can cross a process boundary, called
/// with arguments convertible to its parameters.
template <class F, class... A>
concept ProcessSubmittable = detail::is_task_function_pointer<std::decay_t<F>> &&
    detail::arguments_convert<F, A...>() && detail::signature_transferable<std::decay_t<F>>();

}  // namespace osiiso

namespace osiiso::detail {

/**
 * Prepares `fn(args...)` for a ProcessQueue: checks the types at compile time, looks up the
 * registered name (RegistrationError when there is none), converts the arguments to the
 * parameter types and serializes them.
 */
template <class F, class... A>
PreparedTask make_process_work(F&& fn, A&&... args) {
  static_assert(check_process_submission<F, A...>());
  if constexpr (ProcessSubmittable<F, A...>) {
    using D = std::decay_t<F>;
    using Traits = FunctionTraits<D>;
    using Value = typename ResultTraits<std::remove_cvref_t<typename Traits::Result>>::Type;
    const D function = fn;
    const auto* entry = Registry::instance().find(reinterpret_cast<AnyFunction>(function));
    if (entry == nullptr) throw_unregistered(reinterpret_cast<AnyFunction>(function), typeid(D).name());

    auto work = std::make_unique<ProcessWork>();
    work->function = &entry->name;
    if constexpr (Traits::arity > 0) {
      save_arguments(work->arguments, static_cast<typename Traits::Arguments*>(nullptr), std::forward<A>(args)...);
    }
    work->decode = &decode_result<Value>;
    return PreparedTask{std::move(work), entry->name};
  } else {
    return PreparedTask{};
  }
}

}  // namespace osiiso::detail
