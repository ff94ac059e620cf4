// SPDX-License-Identifier: MIT
// Checkpoint: the SQLite store of completed inputs, its typed and encoded forms, its file (WAL,
// reopening, surviving SIGKILL), its threads, its errors, and watch() on queue handles.
#include <osiiso/checkpoint.hpp>

#include <osiiso/errors.hpp>
#include <osiiso/thread_queue.hpp>

#include "../helpers.hpp"

#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

using osiiso::Checkpoint;
using osiiso::CheckpointError;

namespace {

struct Point {
  int x = 0;
  std::string label;
  template <class Archive>
  void serialize(Archive& archive, unsigned /*version*/) {
    archive& x& label;
  }
  bool operator==(const Point&) const = default;
};

// A checkpoint file in the temporary directory, removed with its WAL and shared-memory files.
struct TempStore {
  std::string path = osiiso::test::temp_path("osiiso_checkpoint") + ".db";
  TempStore() = default;
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;
  ~TempStore() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  }
};

// PRAGMA journal_mode of `path`, read through a connection of the test's own.
std::string journal_mode(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &statement, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(statement) == SQLITE_ROW);
  std::string mode(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)));
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return mode;
}

// The message of the CheckpointError that `f` throws.
template <class F>
std::string checkpoint_error(F&& f) {
  try {
    f();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  FAIL("no CheckpointError was thrown");
  return {};
}

int half(int x) { return x / 2; }
int refuse(int) { throw std::runtime_error("no"); }
void nothing(int) {}

}  // namespace

TEST_CASE("Checkpoint: typed record and lookup", "[checkpoint]") {
  STATIC_REQUIRE(!std::is_copy_constructible_v<Checkpoint>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<Checkpoint>);
  Checkpoint cp;
  CHECK(cp.path() == ":memory:");

  cp.record("ints", "a", 42);
  cp.record("strings", "a", std::string("hello"));
  cp.record("points", "p", Point{7, "seven"});
  CHECK(cp.lookup<int>("ints", "a") == 42);
  CHECK(cp.lookup<std::string>("strings", "a") == "hello");
  CHECK(cp.lookup<Point>("points", "p") == Point{7, "seven"});
  CHECK(cp.lookup<int>("ints", "missing") == std::nullopt);
  CHECK(cp.lookup<int>("other", "a") == std::nullopt);  // keys are per namespace

  cp.record("ints", "a", 43);  // a rerun's record replaces the earlier one
  CHECK(cp.lookup<int>("ints", "a") == 43);
  CHECK(cp.count("ints") == 1);

  // The encoded form is the task-result encoding, so the wiring can pass bytes through.
  std::string bytes;
  osiiso::detail::save_values(bytes, Point{1, "one"});
  cp.record_encoded("points", "q", bytes);
  CHECK(cp.lookup<Point>("points", "q") == Point{1, "one"});
  CHECK(cp.lookup_encoded("points", "q") == bytes);
}

TEST_CASE("Checkpoint: a value of another type is an error that says what to do", "[checkpoint]") {
  Checkpoint cp;
  cp.record("ns", "k", std::string("not an int"));
  CHECK_THAT(checkpoint_error([&] { (void)cp.lookup<int>("ns", "k"); }),
             Catch::Matchers::Contains("value recorded for key 'k' in namespace 'ns' does not decode as int") &&
                 Catch::Matchers::Contains("clear('ns')"));
}

TEST_CASE("Checkpoint: is_done, count, namespaces and clear", "[checkpoint]") {
  Checkpoint cp;
  CHECK(cp.count() == 0);
  CHECK(cp.namespaces().empty());
  for (int i = 0; i < 3; ++i) cp.record("zeta", std::to_string(i), i);
  for (int i = 0; i < 2; ++i) cp.record("alpha", std::to_string(i), i);
  cp.record("mid", "only", 0);

  CHECK(cp.is_done("zeta", "2"));
  CHECK_FALSE(cp.is_done("zeta", "3"));
  CHECK_FALSE(cp.is_done("alpha", "2"));
  CHECK(cp.count("zeta") == 3);
  CHECK(cp.count("alpha") == 2);
  CHECK(cp.count("none") == 0);
  CHECK(cp.count() == 6);
  CHECK(cp.namespaces() == std::vector<std::string>{"alpha", "mid", "zeta"});

  CHECK(cp.clear("zeta") == 3);
  CHECK(cp.clear("zeta") == 0);
  CHECK_FALSE(cp.is_done("zeta", "0"));
  CHECK(cp.namespaces() == std::vector<std::string>{"alpha", "mid"});
  CHECK(cp.clear() == 3);
  CHECK(cp.count() == 0);
  CHECK(cp.namespaces().empty());
}

TEST_CASE("Checkpoint: keys are bytes; an empty key and value work", "[checkpoint]") {
  Checkpoint cp;
  const std::string binary("a\0b\xff", 4);
  const std::string prefix("a", 1);
  cp.record("ns", binary, 1);
  cp.record_encoded("ns", "", "");
  CHECK(cp.is_done("ns", binary));
  CHECK_FALSE(cp.is_done("ns", prefix));  // no truncation at the NUL
  CHECK(cp.lookup_encoded("ns", "") == std::string());
  CHECK(cp.lookup_encoded("ns", {binary, prefix, ""}).size() == 2);
}

TEST_CASE("Checkpoint: bulk lookup of 10,000 keys", "[checkpoint]") {
  Checkpoint cp;
  std::vector<std::string> keys;
  for (int i = 0; i < 10'000; ++i) {
    keys.push_back("input-" + std::to_string(i));
    if (i % 2 == 0) cp.record("bulk", keys.back(), i);
  }
  cp.record("other", keys[1], -1);  // another namespace's record is not a hit

  const auto found = cp.lookup_encoded("bulk", keys);
  REQUIRE(found.size() == 5'000);
  for (int i = 0; i < 10'000; i += 2) {
    const auto it = found.find(keys[static_cast<std::size_t>(i)]);
    REQUIRE(it != found.end());
    int value = 0;
    osiiso::detail::load_values(it->second, value);
    REQUIRE(value == i);
  }
  CHECK_FALSE(found.contains(keys[1]));
  CHECK(cp.lookup_encoded("bulk", std::vector<std::string>{}).empty());
}

TEST_CASE("Checkpoint: a file is in WAL mode and a second object sees its records", "[checkpoint]") {
  const TempStore file;
  {
    Checkpoint writer(file.path);
    CHECK(writer.path() == file.path);
    CHECK(journal_mode(file.path) == "wal");
    writer.record("ns", "k", 1);
    Checkpoint reader(file.path);  // open at the same time, as another run would
    CHECK(reader.lookup<int>("ns", "k") == 1);
    reader.record("ns", "k2", 2);
    CHECK(writer.lookup<int>("ns", "k2") == 2);
  }
  const Checkpoint reopened(file.path);
  CHECK(reopened.count("ns") == 2);
  CHECK(reopened.namespaces() == std::vector<std::string>{"ns"});
}

TEST_CASE("Checkpoint: records from 4 threads at once", "[checkpoint]") {
  const TempStore file;
  Checkpoint cp(file.path);
  constexpr int kPerThread = 250;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&cp, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const auto key = std::to_string(t) + "/" + std::to_string(i);
          cp.record("threads", key, i);
          if (!cp.is_done("threads", key)) throw std::logic_error("a record was lost");  // read while others write
        }
      });
    }
  }
  CHECK(cp.count("threads") == 4 * kPerThread);
  CHECK(cp.lookup<int>("threads", "3/249") == 249);
}

TEST_CASE("Checkpoint: open errors name the file and say what to do", "[checkpoint]") {
  CHECK_THAT(checkpoint_error([] { Checkpoint bad("/nonexistent-osiiso-dir/run.db"); }),
             Catch::Matchers::Equals("Checkpoint(): cannot open checkpoint '/nonexistent-osiiso-dir/run.db': "
                                     "unable to open database file; check that the directory exists and is "
                                     "writable"));
  const TempStore file;
  std::ofstream(file.path) << std::string(4096, 'x');
  CHECK_THAT(checkpoint_error([&] { Checkpoint bad(file.path); }),
             Catch::Matchers::Contains("cannot open checkpoint '" + file.path + "'") &&
                 Catch::Matchers::Contains("the file is not a checkpoint"));
  CHECK_THROWS_AS(throw CheckpointError("x"), osiiso::OsiisoError);
}

TEST_CASE("Checkpoint: a moved-from object says so", "[checkpoint]") {
  Checkpoint first;
  first.record("ns", "k", 1);
  Checkpoint second(std::move(first));
  CHECK(second.lookup<int>("ns", "k") == 1);
  CHECK_THAT(checkpoint_error([&] { (void)first.count(); }),  // NOLINT(bugprone-use-after-move)
             Catch::Matchers::Contains("moved from"));
  first = std::move(second);
  CHECK(first.count() == 1);
}

TEST_CASE("Checkpoint: watch() records the successes of queue handles", "[checkpoint]") {
  const TempStore file;
  {
    osiiso::ThreadQueue q({.workers = 2});
    {
      Checkpoint cp(file.path);
      cp.watch(q.submit(half, 10), "half", "10");
      cp.watch(q.submit(refuse, 1), "refuse", "1");
      cp.watch(q.submit(nothing, 1), "nothing", "1");
    }  // the callbacks keep the store open until they have run
    CHECK(q.run().failed == 1);
  }
  Checkpoint cp(file.path);
  CHECK(cp.lookup<int>("half", "10") == 5);
  CHECK_FALSE(cp.is_done("refuse", "1"));  // a failure runs again next time
  CHECK(cp.lookup_encoded("nothing", "1") == std::string());

  // A handle that has already finished is recorded at once.
  osiiso::ThreadQueue q({.workers = 1});
  auto done = q.submit(half, 4);
  q.run();
  cp.watch(done, "half", "4");
  CHECK(cp.lookup<int>("half", "4") == 2);
}

#ifdef OSIISO_CHECKPOINT_CHILD
namespace {

// Runs the child program, which records `count` entries and then SIGKILLs itself.
void run_killed_child(const std::string& path, int count, const char* mode) {
  std::vector<std::string> storage{OSIISO_CHECKPOINT_CHILD, path, std::to_string(count), mode};
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  REQUIRE(::posix_spawn(&pid, OSIISO_CHECKPOINT_CHILD, nullptr, nullptr, argv.data(), environ) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
}

}  // namespace

TEST_CASE("Checkpoint: completions survive kill -9 of the process that recorded them", "[checkpoint]") {
  const char* mode = GENERATE("record", "watch");
  CAPTURE(mode);
  constexpr int kCount = 300;
  const TempStore file;
  run_killed_child(file.path, kCount, mode);
  // Never closed: the records are still in the write-ahead log, not yet in the database file.
  REQUIRE(std::filesystem::exists(file.path + "-wal"));
  CHECK(std::filesystem::file_size(file.path + "-wal") > 0);

  const Checkpoint cp(file.path);
  CHECK(cp.count("square") == kCount);
  std::vector<std::string> keys;
  for (int i = 0; i < kCount; ++i) keys.push_back(std::to_string(i));
  CHECK(cp.lookup_encoded("square", keys).size() == kCount);
  CHECK(cp.lookup<int>("square", std::to_string(kCount - 1)) == (kCount - 1) * (kCount - 1));
}
TEST_CASE("Checkpoint: after kill -9 mid-run, the rerun runs only the inputs left", "[checkpoint][resume]") {
  constexpr int kCount = 40;
  const TempStore file;
  run_killed_child(file.path, kCount, "resume");
  Checkpoint cp(file.path);
  const std::size_t recorded = cp.count("square");
  CHECK(recorded > 0);
  CHECK(recorded < kCount);

  osiiso::ThreadQueue q({.workers = 2});
  std::vector<int> inputs;
  for (int i = 0; i < kCount; ++i) inputs.push_back(i);
  auto handles = q.map([](int x) { return x * x; }, inputs, osiiso::resume(cp, "square"));
  const auto summary = q.run();
  CHECK(summary.total_submitted == kCount - recorded);
  CHECK(summary.ok());
  REQUIRE(handles.size() == kCount);
  for (int i = 0; i < kCount; ++i) CHECK(handles[static_cast<std::size_t>(i)].value() == i * i);
  CHECK(cp.count("square") == kCount);
}

#endif
