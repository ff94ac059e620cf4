// SPDX-License-Identifier: MIT
// LocalWorkerPool: starting workers, reading their replies (feeding them: worker_pool_dispatch.cpp;
// the fork server's messages: worker_pool_server.cpp; deadlines, reaping, stopping:
// worker_pool_reaping.cpp).
#include <osiiso/detail/worker_pool.hpp>

#include <osiiso/errors.hpp>

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace osiiso::detail {

namespace {

// A small decimal payload (an exit code, a signal number); nullopt when it is not one.
std::optional<int> small_number(std::string_view text) {
  int value = 0;
  const auto* end = text.data() + text.size();
  if (text.empty() || text.size() > 11 || std::from_chars(text.data(), end, value).ptr != end) return std::nullopt;
  return value;
}

// "std::runtime_error: no config file" for the initializer's message.
std::string exception_text(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const RemoteError& e) {
    return fmt::format("{}: {}", e.type_name(), e.what());
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an unknown exception";
  }
}

std::string task_of(const WorkerSlot& slot) {
  return slot.job() ? fmt::format("task '{}'", slot.job()->name) : std::string("a task");
}

}  // namespace

LocalWorkerPool::LocalWorkerPool(PoolConfig config, PoolListener& listener, EventLoop& loop)
    : config_(std::move(config)), listener_(listener), loop_(loop), launcher_(config_.launch, loop, kServerTag) {}

LocalWorkerPool::~LocalWorkerPool() { kill_all(); }

Clock::duration LocalWorkerPool::grace() const { return to_clock_duration(config_.kill_grace); }

std::size_t LocalWorkerPool::alive() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(slots_.begin(), slots_.end(), [](const auto& entry) { return entry.second.alive(); }));
}

bool LocalWorkerPool::any_serving() const noexcept {
  return std::any_of(slots_.begin(), slots_.end(), [](const auto& entry) { return entry.second.serving(); });
}

// ---- starting and feeding ----

void LocalWorkerPool::prepare(std::size_t want) {
  feed(want);  // first: a worker that just said hello takes a job before more are started
  launcher_.launch(want, alive(), [this](LaunchedWorker launched) { add_worker(std::move(launched)); });
  feed(want);
}

void LocalWorkerPool::add_worker(LaunchedWorker launched) {
  const std::uint64_t serial = next_serial_++;
  const auto start_deadline = Clock::now() + to_clock_duration(config_.launch.start_timeout);
  auto& slot = slots_
                   .try_emplace(serial, serial, std::move(launched), config_.max_frame_size, start_deadline,
                                config_.launch.method == StartMethod::Fork)
                   .first->second;
  try {
    loop_.watch(slot.reply_fd(), EventLoop::kReadable, slot.tag(SlotEvent::Reply));
    if (slot.process().pidfd() >= 0) {
      loop_.watch(slot.process().pidfd(), EventLoop::kReadable, slot.tag(SlotEvent::Ended));
    }
  } catch (...) {
    // Unwatchable (the kernel is out of memory or descriptors): never fed, reaped as killed.
    close_reply(slot);
    loop_.unwatch(slot.process().pidfd());
    slot.process().close_pidfd();
    slot.kill_now(grace());
    throw;
  }
}

void LocalWorkerPool::write_request(WorkerSlot& slot) {
  if (slot.writer().pump(slot.request_fd()) == RequestWriter::Progress::Blocked) {
    if (!slot.write_armed) {
      loop_.watch(slot.request_fd(), EventLoop::kWritable, slot.tag(SlotEvent::Request));
      slot.write_armed = true;
    }
    return;
  }
  // Done, or the worker is gone (its end is reported by its reply pipe and pidfd).
  if (slot.write_armed) {
    loop_.unwatch(slot.request_fd());
    slot.write_armed = false;
  }
}

// ---- events ----

bool LocalWorkerPool::handle(std::uint64_t tag) {
  if (tag == kServerTag) {
    if (!launcher_.server().running()) return true;
    try {
      handle_server();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "osiiso: ProcessQueue restarts its fork server: %s\n", e.what());
      server_failed();
    }
    return true;
  }
  if (tag < kFirstSlotTag) return false;
  const auto it = slots_.find(tag >> 2);
  if (it == slots_.end()) return true;
  WorkerSlot& slot = it->second;
  try {
    on_slot_event(slot, static_cast<SlotEvent>(tag & 3));
  } catch (const std::exception& e) {
    // Concerns this worker only (a reply too large to allocate, say): its job fails and it is
    // replaced; the other workers go on.
    fail_slot(slot, fmt::format("ProcessQueue: cannot receive the reply of {} from worker (pid {}): {}{}; the worker "
                                "was replaced",
                                task_of(slot), slot.process().pid(), e.what(),
                                dynamic_cast<const std::bad_alloc*>(&e) != nullptr ? " (out of memory)" : ""));
    slot.reader().reset();
  }
  return true;
}

void LocalWorkerPool::on_slot_event(WorkerSlot& slot, SlotEvent event) {
  switch (event) {
    case SlotEvent::Reply: read_replies(slot); break;
    case SlotEvent::Request: write_request(slot); break;
    case SlotEvent::Ended:
      read_replies(slot);
      slot.process().try_reap();
      loop_.unwatch(slot.process().pidfd());
      slot.process().close_pidfd();
      break;
  }
}

void LocalWorkerPool::read_replies(WorkerSlot& slot) {
  if (slot.reply_fd() < 0) return;
  const bool open = slot.reader().fill(slot.reply_fd(), {read_buffer_.get(), kReadBufferSize});
  if (!take_frames(slot)) return;
  if (!open) {
    loop_.unwatch(slot.reply_fd());
    slot.reply_closed(grace() * 10);
  }
}

bool LocalWorkerPool::take_frames(WorkerSlot& slot) {
  for (;;) {
    std::optional<Frame> frame;
    try {
      frame = slot.reader().next();
    } catch (const FrameError& e) {
      fail_slot(slot,
                fmt::format("ProcessQueue: worker (pid {}) sent a corrupt reply: {}", slot.process().pid(), e.what()));
      return false;
    }
    if (!frame) return true;
    switch (frame->type) {
      case FrameType::Hello:
        slot.hello();
        launcher_.hello_seen();
        // A forked worker gets its initializer before it says hello, which ends the start
        // deadline: the initializer's own starts now.
        if (slot.job() && slot.job()->initializer) {
          slot.set_deadline(Clock::now() + to_clock_duration(config_.launch.start_timeout));
        }
        break;
      case FrameType::Value:
      case FrameType::Error:
      case FrameType::Exit:
        if (!take_reply(slot, *frame)) return false;
        break;
      case FrameType::Signal:
        // Its wait status says the same, unless the kernel reaps it (SIGCHLD ignored).
        if (const auto sig = small_number(frame->payload); sig && *sig > 0 && *sig < NSIG) {
          slot.process().report_signal(*sig);
        }
        break;
      case FrameType::SharedArenas:
        if (!attach_arenas(slot, frame->payload)) return false;
        break;
      case FrameType::Begin:
        if (!take_begin(slot, frame->id)) return false;
        break;
      case FrameType::Request:
      case FrameType::Queued:
      case FrameType::Cancel:
      case FrameType::SharedRequest:
      case FrameType::SharedValue:  // never returned: the reader turns it into a Value
        fail_slot(slot, "ProcessQueue: a worker sent an unexpected frame");
        return false;
    }
  }
}

bool LocalWorkerPool::take_reply(WorkerSlot& slot, const Frame& frame) {
  if (slot.state() != WorkerSlot::State::Busy || !slot.job()) return true;  // a killed job's reply: dropped
  const pid_t pid = slot.process().pid();
  slot.skip_withdrawn(frame.id);
  // Its first job, begun: a queued one is answered only after its Begin frame.
  if (!slot.job() || frame.id != slot.job()->id || !slot.job()->began) {
    fail_slot(slot, fmt::format("ProcessQueue: worker (pid {}) answered request {} while running {} (request {}); a "
                                "process forked by a task and still serving the worker's pipes? The worker was "
                                "replaced",
                                pid, frame.id, task_of(slot), slot.job() ? slot.job()->id : 0));
    return false;
  }
  if (slot.job()->initializer) {
    if (frame.type == FrameType::Value) {
      slot.finish();
      slot.set_deadline(std::nullopt);
      slot.initialized = true;
    } else {
      initializer_failed(slot, frame.type == FrameType::Exit ? fmt::format("it called exit({})", frame.payload)
                                                             : exception_text(decode_exception(frame.payload)));
    }
    return true;
  }
  launcher_.reply_seen();
  if (frame.type != FrameType::Exit) {
    const RunningJob job = slot.finish();
    measure(slot, job, Clock::now());
    ++slot.jobs_done;
    // Worn out with jobs queued behind this one: they run first (they may have begun already).
    slot.retiring = slot.retiring || worn_out(slot, job, frame.type);
    listener_.job_replied(job.id, frame, pid);
    if (slot.retiring && slot.live() == 0) slot.retire(grace() * 10);
    return true;
  }
  const auto code = small_number(frame.payload);
  if (!code) {
    fail_slot(slot, fmt::format("ProcessQueue: worker (pid {}) sent a corrupt exit report while running {}", pid,
                                task_of(slot)));
    return false;
  }
  const RunningJob job = slot.finish();
  slot.exiting(grace() * 10);  // it ends itself right after this frame; replaced once reaped
  listener_.job_failed(job.id,
                       std::make_exception_ptr(WorkerDiedError(
                           fmt::format("{} worker (pid {}) ended because task '{}' called exit({}); a task must "
                                       "return or throw, and the worker ran none of the program's atexit handlers or "
                                       "static destructors",
                                       config_.queue_name, pid, job.name, *code))),
                       pid);
  return true;
}

void LocalWorkerPool::fail_slot(WorkerSlot& slot, const std::string& message) {
  if (slot.job() && slot.job()->initializer) {
    initializer_failed(slot, message);
    return;
  }
  close_reply(slot);
  slot.kill_now(grace());
  if (auto job = slot.drop_job()) {
    listener_.job_failed(job->id, std::make_exception_ptr(OsiisoError(message)), slot.process().pid());
  }
}

void LocalWorkerPool::close_reply(WorkerSlot& slot) noexcept {
  loop_.unwatch(slot.reply_fd());
  slot.close_reply();
}

}  // namespace osiiso::detail
