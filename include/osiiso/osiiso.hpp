// SPDX-License-Identifier: MIT
// Umbrella header: the whole public API of osiiso (<osiiso/awaitable.hpp>, for coroutine task
// functions, is included when Boost.Asio's awaitable was included first).
#pragma once

#include <osiiso/call.hpp>
#include <osiiso/checkpoint.hpp>
#include <osiiso/chrono.hpp>
#include <osiiso/context.hpp>
#include <osiiso/enums.hpp>
#include <osiiso/errors.hpp>
#include <osiiso/init.hpp>
#include <osiiso/one_shot.hpp>
#include <osiiso/process_queue.hpp>
#include <osiiso/progress.hpp>
#include <osiiso/queue_options.hpp>
#include <osiiso/registry.hpp>
#include <osiiso/run_summary.hpp>
#include <osiiso/stats.hpp>
#include <osiiso/task_group.hpp>
#include <osiiso/task_handle.hpp>
#include <osiiso/task_options.hpp>
#include <osiiso/task_result.hpp>
#include <osiiso/thread_queue.hpp>

#if defined(BOOST_ASIO_AWAITABLE_HPP)
#include <osiiso/awaitable.hpp>
#endif
