// SPDX-License-Identifier: MIT
// map, group, pmap and tmap over a Checkpoint: recorded inputs come back restored (attempts 0,
// "restored from checkpoint", out of the RunSummary), values stay 1:1 with the inputs, only
// successes are recorded. (A parent killed mid-run: tests/unit/test_checkpoint.cpp.)
#include <osiiso/checkpoint.hpp>
#include <osiiso/one_shot.hpp>
#include <osiiso/process_queue.hpp>
#include <osiiso/registry.hpp>
#include <osiiso/thread_queue.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

using namespace osiiso;

namespace resume_tests {
std::atomic<bool> outage{true};
int doubled(int n) {
  if (outage && n % 3 == 0) throw std::runtime_error("upstream is down for " + std::to_string(n));
  return 2 * n;
}
std::string label(int id, std::string tag) { return tag + "-" + std::to_string(id); }
}  // namespace resume_tests
OSIISO_TASK_AS("doubled", resume_tests::doubled);
OSIISO_TASK_AS("label", resume_tests::label);

TEST_CASE("map over a checkpoint restores recorded inputs and reruns the rest", "[resume]") {
  Checkpoint cp;
  const std::vector<int> inputs{1, 2, 3, 4, 5, 6};
  resume_tests::outage = true;
  {
    ThreadQueue q({.workers = 3});
    auto first = q.map(resume_tests::doubled, inputs, resume(cp));
    const auto summary = q.run();
    CHECK(summary.failed == 2);
  }
  CHECK(cp.count("doubled") == 4);  // only successes, in the task's name as namespace
  CHECK(cp.namespaces() == std::vector<std::string>{"doubled"});

  resume_tests::outage = false;
  ThreadQueue q({.workers = 3});
  auto second = q.map(resume_tests::doubled, inputs, resume(cp));
  const auto summary = q.run();
  CHECK(summary.total_submitted == 2);  // restored handles are not in the RunSummary
  CHECK(summary.ok());
  REQUIRE(second.size() == inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    CHECK(second[i].value() == 2 * inputs[i]);
    const bool restored = inputs[i] % 3 != 0;
    CHECK((second[i].attempts() == 0) == restored);
    CHECK((second[i].result().message == "restored from checkpoint") == restored);
    CHECK(second[i].done());
    CHECK_FALSE(second[i].cancel());
  }
  CHECK(cp.count("doubled") == 6);
}

TEST_CASE("group and pmap over a checkpoint, with a namespace and a key function", "[resume]") {
  Checkpoint cp;
  const std::vector<std::tuple<int, std::string>> inputs{{1, "a"}, {2, "b"}, {3, "c"}};
  const auto key = [](const std::tuple<int, std::string>& in) { return std::to_string(std::get<0>(in)); };
  ProcessQueue q({.workers = 2});
  auto group = q.group({.group_id = "labels"}, resume_tests::label, inputs, resume(cp, "labels", key));
  CHECK(group.wait().ok());
  CHECK(cp.lookup<std::string>("labels", "2") == "b-2");

  cp.clear("labels");
  cp.record("labels", "1", std::string("stored"));
  const auto values = pmap({.workers = 2}, resume_tests::label, inputs, resume(cp, "labels", key));
  CHECK(values == std::vector<std::string>{"stored", "b-2", "c-3"});
  CHECK(cp.count("labels") == 3);

  ProcessQueue again({.workers = 1});
  auto restored = again.group(resume_tests::label, inputs, resume(cp, "labels", key));
  for (const auto& h : restored.handles()) CHECK(h.attempts() == 0);
  CHECK(restored.handles().front().group_id() == restored.group_id());
}

TEST_CASE("a record that fails to decode in any way runs its input again", "[resume]") {
  Checkpoint cp;
  std::string key;
  detail::save_values(key, 7);
  // A string whose recorded length is far beyond the bytes that follow.
  cp.record_encoded("label", detail::hex_key(key), std::string(8, '\xff'));
  const auto values = tmap(
      {.workers = 1}, {.name = "label"}, [](int id) { return std::to_string(id); }, std::vector{7}, resume(cp));
  CHECK(values == std::vector<std::string>{"7"});
}

TEST_CASE("tmap over a checkpoint; a record of another type runs again", "[resume]") {
  Checkpoint cp;
  cp.record("twice", "0000000000000000", std::string("not an int"));  // key of another encoding: ignored
  const auto first = tmap(
      {.workers = 2}, {.name = "twice"}, [](int x) { return 2 * x; }, std::vector{1, 2}, resume(cp));
  CHECK(first == std::vector{2, 4});
  CHECK(cp.count("twice") == 3);
  // Overwrite one record with a value of another type: it no longer decodes, so its input reruns.
  const std::string key_of_1 = [] {
    std::string bytes;
    detail::save_values(bytes, 1);
    return detail::hex_key(bytes);
  }();
  cp.record("twice", key_of_1, std::string("garbage that is not an int"));
  const auto second = tmap(
      {.workers = 1}, {.name = "twice"}, [](int x) { return 2 * x; }, std::vector{1, 2}, resume(cp));
  CHECK(second == std::vector{2, 4});
  CHECK(cp.lookup<int>("twice", key_of_1) == 2);
}
