// SPDX-License-Identifier: MIT
// ReadyQueue: priority first, submission order among equals.
#include <osiiso/detail/ready_queue.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using osiiso::detail::ReadyQueue;

namespace {
std::vector<std::string> drain(ReadyQueue<std::string>& queue) {
  std::vector<std::string> out;
  while (!queue.empty()) out.push_back(queue.pop());
  return out;
}
}  // namespace

TEST_CASE("ReadyQueue: lower priority first", "[ready_queue]") {
  ReadyQueue<std::string> queue;
  queue.push(5, 1, "p5");
  queue.push(1, 2, "p1");
  queue.push(3, 3, "p3");
  queue.push(-2, 4, "p-2");
  CHECK(queue.size() == 4);
  CHECK(drain(queue) == std::vector<std::string>{"p-2", "p1", "p3", "p5"});
  CHECK(queue.empty());
}

TEST_CASE("ReadyQueue: FIFO by seq among equal priorities", "[ready_queue]") {
  ReadyQueue<std::string> queue;
  queue.push(3, 20, "b");
  queue.push(3, 10, "a");  // an older task pushed again (a retry) keeps its place
  queue.push(3, 30, "c");
  queue.push(1, 40, "first");
  CHECK(drain(queue) == std::vector<std::string>{"first", "a", "b", "c"});
}

TEST_CASE("ReadyQueue: many interleaved pushes and pops stay ordered", "[ready_queue]") {
  ReadyQueue<int> queue;
  std::uint64_t seq = 0;
  std::vector<std::pair<int, std::uint64_t>> expected;
  for (int round = 0; round < 50; ++round) {
    const int priority = (round * 7) % 5;
    ++seq;
    queue.push(priority, seq, static_cast<int>(seq));
    expected.emplace_back(priority, seq);
  }
  std::sort(expected.begin(), expected.end());
  for (const auto& [priority, s] : expected) {
    REQUIRE_FALSE(queue.empty());
    CHECK(queue.pop() == static_cast<int>(s));
  }
  CHECK(queue.empty());
}

TEST_CASE("ReadyQueue: for_each visits every item; clear drops them", "[ready_queue]") {
  ReadyQueue<std::unique_ptr<int>> queue;  // move-only items
  for (int i = 0; i < 5; ++i) queue.push(i % 2, static_cast<std::uint64_t>(i), std::make_unique<int>(i));
  int sum = 0;
  queue.for_each([&](const std::unique_ptr<int>& item) { sum += *item; });
  CHECK(sum == 0 + 1 + 2 + 3 + 4);
  CHECK(*queue.pop() == 0);
  queue.clear();
  CHECK(queue.empty());
  CHECK(queue.size() == 0);
}

TEST_CASE("ReadyQueue: items pushed out of seq order (retries, put-backs) keep their place", "[ready_queue]") {
  ReadyQueue<int> queue;
  // A pseudo-random permutation of seqs over three priorities, popped and pushed back at random:
  // the queue must always hand out the smallest (priority, seq) it holds.
  std::uint64_t state = 12345;
  const auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  std::vector<std::pair<int, std::uint64_t>> held;
  for (std::uint64_t seq = 1; seq <= 300; ++seq) {
    const auto shuffled = (seq * 7919) % 301;
    const int priority = static_cast<int>(next() % 3);
    queue.push(priority, shuffled, static_cast<int>(shuffled));
    held.emplace_back(priority, shuffled);
    if (next() % 3 == 0) {
      const auto first = *std::min_element(held.begin(), held.end());
      REQUIRE(queue.pop() == static_cast<int>(first.second));
      held.erase(std::find(held.begin(), held.end(), first));
      if (next() % 2 == 0) {  // put back, as the rate gate does
        queue.push(first.first, first.second, static_cast<int>(first.second));
        held.push_back(first);
      }
    }
  }
  std::sort(held.begin(), held.end());
  CHECK(queue.size() == held.size());
  for (const auto& [priority, seq] : held) CHECK(queue.pop() == static_cast<int>(seq));
  CHECK(queue.empty());
  // Emptied and filled again (the spare bucket is reused under another priority).
  queue.push(9, 2, 2);
  queue.push(-1, 5, 5);
  queue.push(9, 1, 1);
  CHECK(queue.pop() == 5);
  CHECK(queue.pop() == 1);
  CHECK(queue.pop() == 2);
}
