// SPDX-License-Identifier: MIT
// What rank 0 and the serving ranks of an MpiQueue say to each other: message tags and the byte
// layout of each message. Pure encoding (no MPI here), so that it is tested without mpirun.
#pragma once

#include <osiiso/chrono.hpp>
#include <osiiso/detail/frame.hpp>
#include <osiiso/enums.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace osiiso::detail {

// Every message is one MPI message of bytes; its tag says what it holds.
enum class MpiTag : int {
  Open = 1,       // rank 0 -> server: a queue starts; SessionConfig follows
  Jobs = 2,       // rank 0 -> server: one or more JobMessages
  Kill = 3,       // rank 0 -> server: stop these job ids (their tasks were settled on rank 0)
  Close = 4,      // rank 0 -> server: the queue stops; stop the workers, then answer Closed
  Exit = 5,       // rank 0 -> server: the program ends; finalize MPI and exit
  Replies = 6,    // server -> rank 0: one or more ReplyMessages
  Heartbeat = 7,  // server -> rank 0: alive, nothing else to say
  Closed = 8,     // server -> rank 0: every worker of the session is reaped
};

// The part of an MpiQueue's options a serving rank needs to run its local worker pool.
struct SessionConfig {
  StartMethod method = StartMethod::Fork;
  std::size_t workers = 1;
  Seconds kill_grace{0.1};
  Seconds stop_timeout{2.0};
  Seconds start_timeout{5.0};
  // How often a server with nothing else to say sends a Heartbeat.
  Seconds heartbeat{1.0};
  std::string initializer_request{};
  std::string initializer_name{};
  std::size_t max_jobs_per_worker = 0;
  std::optional<std::size_t> max_worker_memory{};
};

// One job sent to a server: `request` is the same request a local worker reads.
struct JobMessage {
  std::uint64_t id = 0;
  // Whether the server says when the job reaches a worker (its timeout counts from then).
  bool report_start = false;
  std::optional<std::size_t> memory_limit{};
  std::string_view name;
  RequestView request;
};

// What a server reports about one job.
enum class ReplyKind : std::uint8_t {
  Value = 1,    // payload: the value archive
  Error = 2,    // payload: encode_exception() of what the task threw
  Failed = 3,   // payload: encode_exception() of why the job ended without a reply
  Started = 4,  // no payload: the job was handed to a worker
};

struct ReplyMessage {
  std::uint64_t id = 0;
  ReplyKind kind = ReplyKind::Value;
  int worker_pid = 0;
  // How long the job ran on its worker, in microseconds (what rank 0 sizes its prefetch by).
  std::uint32_t run_us = 0;
  std::string_view payload;
};

std::string encode_session(const SessionConfig& config);
// Throws OsiisoError on a malformed message.
SessionConfig decode_session(std::string_view bytes);

// Appends one job (a Jobs message is a sequence of them).
void append_job(std::string& out, const JobMessage& job);
// The jobs of a Jobs message; views into `bytes`. Throws OsiisoError on a malformed message.
std::vector<JobMessage> decode_jobs(std::string_view bytes);

// Appends one reply (a Replies message is a sequence of them).
void append_reply(std::string& out, const ReplyMessage& reply);
// The replies of a Replies message; views into `bytes`. Throws OsiisoError on a malformed message.
std::vector<ReplyMessage> decode_replies(std::string_view bytes);

// A Kill message: job ids.
std::string encode_ids(const std::vector<std::uint64_t>& ids);
std::vector<std::uint64_t> decode_ids(std::string_view bytes);

}  // namespace osiiso::detail
