// SPDX-License-Identifier: MIT
// OSIISO_TASK / OSIISO_TASK_AS: registering the functions a ProcessQueue may run.
#pragma once

#include <osiiso/detail/archive.hpp>
#include <osiiso/detail/registry.hpp>
#include <osiiso/detail/serializable.hpp>
#include <osiiso/detail/task_traits.hpp>

#include <exception>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace osiiso::detail {

// Calls Fn with the decoded arguments, forwarding each as its declared parameter type (moving
// by-value and rvalue-reference parameters, binding lvalue references to the decoded copy).
template <auto Fn, class Args, class... P, std::size_t... I>
decltype(auto) call_decoded(Args& args, TypeList<P...>, std::index_sequence<I...>) {
  return Fn(static_cast<P&&>(std::get<I>(args))...);
}

// Turns what Fn returned into its final value (awaiting an awaitable, waiting on a future).
template <class R>
decltype(auto) resolve_result(R&& r) {
  if constexpr (ResultTraits<std::remove_cvref_t<R>>::kind == ResultKind::Awaitable) {
    return AwaitableRunner<std::remove_cvref_t<R>>::run(std::forward<R>(r));
  } else if constexpr (ResultTraits<std::remove_cvref_t<R>>::kind == ResultKind::Future) {
    return r.get();
  } else {
    return std::forward<R>(r);
  }
}

template <auto Fn>
void invoke_registered(std::string_view arguments, std::string& result) {
  using Traits = FunctionTraits<decltype(Fn)>;
  using Value = typename ResultTraits<std::remove_cvref_t<typename Traits::Result>>::Type;
  typename Traits::Arguments args{};
  if constexpr (Traits::arity > 0) {
    try {
      load_tuple(arguments, args);
    } catch (const std::exception& e) {
      throw SerializationError(std::string("the arguments could not be deserialized: ") + e.what());
    }
  }
  const auto seq = std::make_index_sequence<Traits::arity>{};
  if constexpr (std::is_void_v<typename Traits::Result>) {
    call_decoded<Fn>(args, typename Traits::Params{}, seq);
    result.clear();
  } else if constexpr (std::is_void_v<Value>) {
    resolve_result(call_decoded<Fn>(args, typename Traits::Params{}, seq));
    result.clear();
  } else {
    const Value value = resolve_result(call_decoded<Fn>(args, typename Traits::Params{}, seq));
    try {
      result.clear();
      save_values(result, value);
    } catch (const std::exception& e) {
      throw SerializationError(std::string("the result could not be serialized: ") + e.what());
    } catch (...) {
      throw SerializationError("the result could not be serialized (a non-standard exception was thrown)");
    }
  }
}

// The compile-time rules of a task function and its types; each check is its own template so
// that the compiler names the offending type.
template <class T>
constexpr bool check_argument_type() {
  static_assert(is_serializable_v<T>,
                "ProcessQueue: a task argument type is not serializable by Boost.Serialization; use fundamentals, "
                "std::string, standard containers, or give the type a serialize() member (or specialize "
                "osiiso::is_serializable)");
  static_assert(std::is_default_constructible_v<T>,
                "ProcessQueue: a task argument type must be default-constructible to be deserialized in the worker");
  return true;
}

template <class T>
constexpr bool check_result_type() {
  if constexpr (!std::is_void_v<T>) {
    static_assert(is_serializable_v<T>,
                  "ProcessQueue: the task's result type is not serializable by Boost.Serialization; use fundamentals, "
                  "std::string, standard containers, or give the type a serialize() member (or specialize "
                  "osiiso::is_serializable)");
    static_assert(std::is_default_constructible_v<T>,
                  "ProcessQueue: the task's result type must be default-constructible to be deserialized");
    static_assert(std::is_copy_constructible_v<T>,
                  "ProcessQueue: the task's result type must be copy-constructible (results are held in std::any)");
  }
  return true;
}

template <class F>
constexpr bool check_signature() {
  using Traits = FunctionTraits<F>;
  using Value = typename ResultTraits<std::remove_cvref_t<typename Traits::Result>>::Type;
  return []<class... T>(std::tuple<T...>*) {
    return (check_argument_type<T>() && ... && true);
  }(static_cast<typename Traits::Arguments*>(nullptr)) &&
         check_result_type<Value>();
}

// Always true: each failure is its own static_assert, reported once.
template <auto Fn>
constexpr bool check_task_function() {
  static_assert(is_task_function_pointer<decltype(Fn)>,
                "OSIISO_TASK(fn): fn must be a function (a namespace-scope function or a static member "
                "function); for an overload or a template use OSIISO_TASK_AS(\"name\", static_cast<R (*)(A...)>(fn))");
  if constexpr (is_task_function_pointer<decltype(Fn)>) check_signature<decltype(Fn)>();
  return true;
}

template <auto Fn>
RegisteredTask make_registered_task(std::string name) {
  static_assert(check_task_function<Fn>());
  if constexpr (is_task_function_pointer<decltype(Fn)>) {
    return {std::move(name), reinterpret_cast<AnyFunction>(Fn), &invoke_registered<Fn>};
  } else {
    return {};
  }
}

// What OSIISO_TASK_AS asks its probe (see OSIISO_DETAIL_TASK_PROBE).
struct OneFunctionQuestion {};

// Deduces from any expression with a type: an overload set or the name of a function template has
// none, which is how the probe tells them apart.
template <class T, class F>
constexpr void take_one_function(F&& /*fn*/) noexcept {}

// The probed expression itself (a function decays to its pointer).
template <class T, class F>
constexpr F the_function(F fn) noexcept {
  return fn;
}

// Whether the probe's expression names one function (a named constant, so that compilers print its
// name, not the probe's body).
template <class Probe>
inline constexpr bool names_one_function = Probe{}.template operator()<OneFunctionQuestion>();

// The registration of the probe's function; nothing for an overload set, which the static_assert of
// OSIISO_TASK_AS has already reported (so that it is the only error).
template <class Probe>
RegisteredTask make_probed_task(std::string name) {
  if constexpr (names_one_function<Probe>) {
    return make_registered_task<Probe{}.template operator()<void>()>(std::move(name));
  } else {
    return {};
  }
}

}  // namespace osiiso::detail

#define OSIISO_DETAIL_CAT2(a, b) a##b
#define OSIISO_DETAIL_CAT(a, b) OSIISO_DETAIL_CAT2(a, b)

// A closure type whose call operator, for T = OneFunctionQuestion, tells whether `fn` names one
// function, and otherwise returns it. `fn` appears only in expressions that depend on T, so an
// overload set is a false answer instead of an error.
#define OSIISO_DETAIL_TASK_PROBE(fn)                                            \
  decltype([]<class T = void>() {                                               \
    if constexpr (::std::is_same_v<T, ::osiiso::detail::OneFunctionQuestion>) { \
      return requires { ::osiiso::detail::take_one_function<T>(fn); };          \
    } else {                                                                    \
      return ::osiiso::detail::the_function<T>(fn);                             \
    }                                                                           \
  })

/**
 * Registers `fn` under the name "fn" so that a ProcessQueue can run it in a worker process.
 * Use it at namespace scope, once per function, in any translation unit of the program:
 * `int compute(int n); OSIISO_TASK(compute);`
 */
#define OSIISO_TASK(fn) OSIISO_TASK_AS(#fn, fn)

/**
 * Registers `fn` under an explicit name (needed for overloads and template instances):
 * `OSIISO_TASK_AS("square<int>", square<int>);`,
 * `OSIISO_TASK_AS("add", static_cast<int (*)(int, int)>(add));`. An overload set or a template's
 * name is a compile-time error that says so.
 */
#define OSIISO_TASK_AS(name, fn)                                                                                     \
  static_assert(::osiiso::detail::names_one_function<OSIISO_DETAIL_TASK_PROBE(fn)>,                                  \
                "OSIISO_TASK: '" #fn                                                                                 \
                "' names several functions (overloads or a template); register one of them "                         \
                "with OSIISO_TASK_AS(" #name ", static_cast<R (*)(Args...)>(" #fn "))");                             \
  [[maybe_unused]] static const ::osiiso::detail::Registrar OSIISO_DETAIL_CAT(osiiso_task_registrar_, __COUNTER__) { \
    ::osiiso::detail::make_probed_task<OSIISO_DETAIL_TASK_PROBE(fn)>(name)                                           \
  }
