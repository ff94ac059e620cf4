// SPDX-License-Identifier: MIT
// The byte layout of MpiQueue messages: fixed-width little-endian fields and length-prefixed
// strings, read back with bounds checks (a peer's bytes are never trusted to be well formed).
#include <osiiso/detail/mpi_protocol.hpp>

#include <osiiso/errors.hpp>

#include <bit>
#include <cstring>
#include <type_traits>

namespace osiiso::detail {

static_assert(std::endian::native == std::endian::little, "the MpiQueue protocol assumes little-endian hosts");

namespace {

template <class T>
void put(std::string& out, T value) {
  static_assert(std::is_trivially_copyable_v<T>);
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_bytes(std::string& out, std::string_view bytes) {
  put<std::uint64_t>(out, bytes.size());
  out.append(bytes);
}

void put_optional_size(std::string& out, const std::optional<std::size_t>& value) {
  put<std::uint8_t>(out, value ? 1 : 0);
  put<std::uint64_t>(out, value.value_or(0));
}

class Reader {
 public:
  Reader(std::string_view bytes, const char* what) : rest_(bytes), what_(what) {}

  template <class T>
  T get() {
    need(sizeof(T));
    T value;
    std::memcpy(&value, rest_.data(), sizeof(T));
    rest_.remove_prefix(sizeof(T));
    return value;
  }

  std::string_view get_bytes() {
    const auto size = get<std::uint64_t>();
    need(size);
    const auto bytes = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return bytes;
  }

  std::optional<std::size_t> get_optional_size() {
    const bool present = get<std::uint8_t>() != 0;
    const auto value = get<std::uint64_t>();
    return present ? std::optional<std::size_t>(value) : std::nullopt;
  }

  [[nodiscard]] bool done() const noexcept { return rest_.empty(); }

 private:
  void need(std::uint64_t size) const {
    if (size > rest_.size()) throw OsiisoError(std::string("MpiQueue: a truncated ") + what_ + " message arrived");
  }

  std::string_view rest_;
  const char* what_;
};

}  // namespace

std::string encode_session(const SessionConfig& config) {
  std::string out;
  put<std::uint8_t>(out, static_cast<std::uint8_t>(config.method));
  put<std::uint64_t>(out, config.workers);
  put<double>(out, config.kill_grace.count());
  put<double>(out, config.stop_timeout.count());
  put<double>(out, config.start_timeout.count());
  put<double>(out, config.heartbeat.count());
  put_bytes(out, config.initializer_request);
  put_bytes(out, config.initializer_name);
  put<std::uint64_t>(out, config.max_jobs_per_worker);
  put_optional_size(out, config.max_worker_memory);
  return out;
}

SessionConfig decode_session(std::string_view bytes) {
  Reader in(bytes, "session");
  SessionConfig config;
  const auto method = in.get<std::uint8_t>();
  if (method > static_cast<std::uint8_t>(StartMethod::ForkServer)) throw OsiisoError("MpiQueue: unknown start method");
  config.method = static_cast<StartMethod>(method);
  config.workers = in.get<std::uint64_t>();
  config.kill_grace = Seconds(in.get<double>());
  config.stop_timeout = Seconds(in.get<double>());
  config.start_timeout = Seconds(in.get<double>());
  config.heartbeat = Seconds(in.get<double>());
  config.initializer_request = std::string(in.get_bytes());
  config.initializer_name = std::string(in.get_bytes());
  config.max_jobs_per_worker = in.get<std::uint64_t>();
  config.max_worker_memory = in.get_optional_size();
  return config;
}

void append_job(std::string& out, const JobMessage& job) {
  put<std::uint64_t>(out, job.id);
  put<std::uint8_t>(out, job.report_start ? 1 : 0);
  put_optional_size(out, job.memory_limit);
  put_bytes(out, job.name);
  put_bytes(out, job.request.name);
  put_bytes(out, job.request.arguments);
}

std::vector<JobMessage> decode_jobs(std::string_view bytes) {
  Reader in(bytes, "jobs");
  std::vector<JobMessage> jobs;
  while (!in.done()) {
    JobMessage job;
    job.id = in.get<std::uint64_t>();
    job.report_start = in.get<std::uint8_t>() != 0;
    job.memory_limit = in.get_optional_size();
    job.name = in.get_bytes();
    job.request.name = in.get_bytes();
    job.request.arguments = in.get_bytes();
    jobs.push_back(job);
  }
  return jobs;
}

void append_reply(std::string& out, const ReplyMessage& reply) {
  put<std::uint64_t>(out, reply.id);
  put<std::uint8_t>(out, static_cast<std::uint8_t>(reply.kind));
  put<std::int32_t>(out, reply.worker_pid);
  put<std::uint32_t>(out, reply.run_us);
  put_bytes(out, reply.payload);
}

std::vector<ReplyMessage> decode_replies(std::string_view bytes) {
  Reader in(bytes, "replies");
  std::vector<ReplyMessage> replies;
  while (!in.done()) {
    ReplyMessage reply;
    reply.id = in.get<std::uint64_t>();
    const auto kind = in.get<std::uint8_t>();
    if (kind < static_cast<std::uint8_t>(ReplyKind::Value) || kind > static_cast<std::uint8_t>(ReplyKind::Started)) {
      throw OsiisoError("MpiQueue: a reply of unknown kind arrived");
    }
    reply.kind = static_cast<ReplyKind>(kind);
    reply.worker_pid = in.get<std::int32_t>();
    reply.run_us = in.get<std::uint32_t>();
    reply.payload = in.get_bytes();
    replies.push_back(reply);
  }
  return replies;
}

std::string encode_ids(const std::vector<std::uint64_t>& ids) {
  std::string out;
  for (const auto id : ids) put<std::uint64_t>(out, id);
  return out;
}

std::vector<std::uint64_t> decode_ids(std::string_view bytes) {
  Reader in(bytes, "kill");
  std::vector<std::uint64_t> ids;
  while (!in.done()) ids.push_back(in.get<std::uint64_t>());
  return ids;
}

}  // namespace osiiso::detail
