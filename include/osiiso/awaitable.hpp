// SPDX-License-Identifier: MIT
// Coroutine task functions: a registered function returning boost::asio::awaitable<T> runs to
// completion on a fresh io_context inside the worker (as Python runs asyncio.run), and its
// handle carries T. Opt-in, because it brings Boost.Asio; <osiiso/osiiso.hpp> includes it when
// Boost.Asio's awaitable was included before it.
#pragma once

#include <osiiso/registry.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <utility>

#if defined(BOOST_ASIO_HAS_CO_AWAIT)  // Boost 1.74 defines awaitable only where it detects coroutines
namespace osiiso::detail {

template <class T, class E>
struct AwaitableRunner<boost::asio::awaitable<T, E>> {
  /// Runs `awaitable` on a fresh io_context and returns its result.
  static T run(boost::asio::awaitable<T, E> awaitable) {
    boost::asio::io_context context;
    auto future = boost::asio::co_spawn(context, std::move(awaitable), boost::asio::use_future);
    context.run();
    return future.get();
  }
};

}  // namespace osiiso::detail
#endif
