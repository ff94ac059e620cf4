// SPDX-License-Identifier: MIT
// The byte layout of MpiQueue messages: each message decodes to what was encoded, and a
// truncated or corrupt one is an error, never a crash.
#include <osiiso/detail/mpi_protocol.hpp>
#include <osiiso/errors.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace osiiso::detail;

TEST_CASE("a session configuration survives the trip", "[mpi_protocol]") {
  SessionConfig config;
  config.method = osiiso::StartMethod::ForkServer;
  config.workers = 3;
  config.heartbeat = osiiso::Seconds(0.25);
  config.initializer_request = std::string("init\0bytes", 10);
  config.initializer_name = "setup";
  config.max_jobs_per_worker = 7;
  config.max_worker_memory = 1 << 20;
  const auto back = decode_session(encode_session(config));
  CHECK(back.method == config.method);
  CHECK(back.workers == 3);
  CHECK(back.heartbeat.count() == 0.25);
  CHECK(back.initializer_request == config.initializer_request);
  CHECK(back.initializer_name == "setup");
  CHECK(back.max_jobs_per_worker == 7);
  CHECK(back.max_worker_memory == config.max_worker_memory);
}

TEST_CASE("jobs and replies are batched and read back in order", "[mpi_protocol]") {
  std::string jobs;
  append_job(jobs, JobMessage{1, false, std::nullopt, "square", {"reg.square", "req-1"}});
  append_job(jobs, JobMessage{2, true, 4096, "nap", {"reg.nap", std::string_view("r\0q", 3)}});
  const auto decoded = decode_jobs(jobs);
  REQUIRE(decoded.size() == 2);
  CHECK(decoded[0].id == 1);
  CHECK_FALSE(decoded[0].report_start);
  CHECK_FALSE(decoded[0].memory_limit);
  CHECK(decoded[1].report_start);
  CHECK(decoded[1].memory_limit == 4096);
  CHECK(decoded[1].name == "nap");
  CHECK(decoded[0].request.name == "reg.square");
  CHECK(decoded[0].request.arguments == "req-1");
  CHECK(decoded[1].request.name == "reg.nap");
  CHECK(decoded[1].request.arguments == std::string_view("r\0q", 3));

  std::string replies;
  append_reply(replies, ReplyMessage{9, ReplyKind::Failed, 123, 55, "boom"});
  append_reply(replies, ReplyMessage{10, ReplyKind::Started, 0, 0, {}});
  const auto back = decode_replies(replies);
  REQUIRE(back.size() == 2);
  CHECK(back[0].kind == ReplyKind::Failed);
  CHECK(back[0].worker_pid == 123);
  CHECK(back[0].run_us == 55);
  CHECK(back[0].payload == "boom");
  CHECK(back[1].kind == ReplyKind::Started);
  CHECK(decode_ids(encode_ids({3, 4, 5})) == std::vector<std::uint64_t>{3, 4, 5});
}

TEST_CASE("a truncated or corrupt message is an error", "[mpi_protocol]") {
  std::string jobs;
  append_job(jobs, JobMessage{1, false, std::nullopt, "square", {"reg.square", "request"}});
  for (std::size_t cut = 1; cut < jobs.size(); ++cut) {
    CHECK_THROWS_AS(decode_jobs(std::string_view(jobs).substr(0, cut)), osiiso::OsiisoError);
  }
  std::string replies;
  append_reply(replies, ReplyMessage{1, ReplyKind::Value, 1, 0, "v"});
  replies[8] = 99;  // the kind
  CHECK_THROWS_WITH(decode_replies(replies), Catch::Contains("unknown kind"));
  CHECK_THROWS_AS(decode_session("x"), osiiso::OsiisoError);
  CHECK_THROWS_AS(decode_ids("1234567"), osiiso::OsiisoError);
}
