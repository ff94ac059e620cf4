// SPDX-License-Identifier: MIT
// Checkpoint over the SQLite C API: one connection, its cached statements, and one mutex.
#include <osiiso/checkpoint.hpp>

#include <fmt/core.h>
#include <sqlite3.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace osiiso {

namespace {

// The key is a BLOB: the default key is the serialized input, which is bytes, not UTF-8 text.
// WITHOUT ROWID: the primary key is the only index the table needs.
constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS completions ("
    " namespace TEXT NOT NULL,"
    " key BLOB NOT NULL,"
    " value BLOB NOT NULL,"
    " recorded_at REAL NOT NULL,"  // unix time, for people reading the file
    " PRIMARY KEY (namespace, key)"
    ") WITHOUT ROWID";

// Another connection (another Checkpoint on the file, or another process) may hold the write
// lock for a moment; wait for it rather than fail at once.
constexpr int kBusyTimeoutMs = 5000;

struct CloseDb {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct FinalizeStatement {
  void operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }
};
using Db = std::unique_ptr<sqlite3, CloseDb>;
using Statement = std::unique_ptr<sqlite3_stmt, FinalizeStatement>;

// What to do about a failed SQLite call, by its primary result code.
const char* advice(int code) {
  switch (code & 0xff) {
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH: return "check that the directory exists and is writable";
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: return "the file is not a checkpoint or is damaged; pass another path, or delete the file";
    case SQLITE_FULL: return "the disk is full; free some space and rerun";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "another connection kept the file locked; give concurrent runs checkpoint files of their own";
    case SQLITE_TOOBIG: return "the value is larger than SQLite stores (1 GB by default); record a smaller value";
    case SQLITE_IOERR: return "the file system failed; check the disk and rerun";
    default: return "check the file and rerun";
  }
}

// A key as it can appear in a message: printable keys quoted, others by their size.
std::string describe(std::string_view key) {
  const bool printable =
      key.size() <= 80 && std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  return printable ? fmt::format("'{}'", key) : fmt::format("of {} bytes", key.size());
}

// Binds without copying (SQLITE_STATIC): the bytes outlive the step that reads them. A null
// pointer would bind NULL, hence "" for an empty view.
int bind_bytes(sqlite3_stmt* statement, int index, std::string_view bytes) {
  return sqlite3_bind_blob64(statement, index, bytes.empty() ? "" : bytes.data(), bytes.size(), SQLITE_STATIC);
}
int bind_text(sqlite3_stmt* statement, int index, std::string_view text) {
  return sqlite3_bind_text64(statement, index, text.empty() ? "" : text.data(), text.size(), SQLITE_STATIC,
                             SQLITE_UTF8);
}

std::string column_bytes(sqlite3_stmt* statement, int column) {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(statement, column));
  const auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement, column));
  return data == nullptr ? std::string() : std::string(data, size);  // a zero-length blob reads as null
}

// Resets a cached statement when the call that used it is done, even when it throws.
class Use {
 public:
  explicit Use(const Statement& statement) : statement_(statement.get()) {}
  ~Use() { sqlite3_reset(statement_); }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  [[nodiscard]] sqlite3_stmt* get() const noexcept { return statement_; }

 private:
  sqlite3_stmt* statement_;
};

}  // namespace

struct Checkpoint::Store {
  explicit Store(std::string file) : path(std::move(file)) {}

  // Throws CheckpointError for the last failure on the connection (call with `mu` held).
  [[noreturn]] void fail(const char* operation, const char* problem) const {
    const int code = sqlite3_extended_errcode(db.get());
    throw CheckpointError(fmt::format("{}: {} checkpoint '{}': {}; {}", operation, problem, path,
                                      sqlite3_errmsg(db.get()), advice(code)));
  }
  void check(int rc, const char* operation, const char* problem) const {
    if (rc != SQLITE_OK) fail(operation, problem);
  }
  // Steps a statement, returning true for a row and false when it is done.
  bool step(sqlite3_stmt* statement, const char* operation, const char* problem) const {
    const int rc = sqlite3_step(statement);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail(operation, problem);
    return false;
  }
  void exec(const char* sql, const char* operation, const char* problem) const {
    check(sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr), operation, problem);
  }
  Statement prepare(const char* sql) const {
    sqlite3_stmt* statement = nullptr;
    check(sqlite3_prepare_v3(db.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr), "Checkpoint()",
          "cannot open");
    return Statement(statement);
  }
  std::size_t count_rows(const Statement& statement, std::string_view ns, bool bind_ns) const {
    const Use use(statement);
    if (bind_ns) check(bind_text(use.get(), 1, ns), "Checkpoint::count()", "cannot read");
    step(use.get(), "Checkpoint::count()", "cannot read");
    return static_cast<std::size_t>(sqlite3_column_int64(use.get(), 0));
  }
  std::size_t delete_rows(const Statement& statement, std::string_view ns, bool bind_ns) const {
    const Use use(statement);
    if (bind_ns) check(bind_text(use.get(), 1, ns), "Checkpoint::clear()", "cannot clear");
    step(use.get(), "Checkpoint::clear()", "cannot clear");
    return static_cast<std::size_t>(sqlite3_changes64(db.get()));
  }

  const std::string path;
  // One mutex rather than SQLITE_OPEN_FULLMUTEX: a cached statement is bound, stepped and reset
  // as one unit, which SQLite's per-call mutex would not keep together; the connection is opened
  // with SQLITE_OPEN_NOMUTEX so that it does not lock a second time.
  std::mutex mu;
  Db db;  // declared before the statements: they are finalized first
  Statement insert, find, exists, count_ns, count_all, list_namespaces, delete_ns, delete_all;
};

Checkpoint::Checkpoint(std::string path) : store_(std::make_shared<Store>(std::move(path))) {
  Store& s = *store_;
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(s.path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  s.db.reset(db);  // a failed open still returns a connection, which carries the message
  if (db == nullptr) throw CheckpointError("Checkpoint(): cannot open checkpoint '" + s.path + "': out of memory");
  s.check(rc, "Checkpoint()", "cannot open");
  s.check(sqlite3_busy_timeout(db, kBusyTimeoutMs), "Checkpoint()", "cannot open");
  // WAL: a commit is a write() to the log, so it is in the OS's hands (and survives the process
  // being killed) when record() returns; synchronous=NORMAL skips the fsync per commit, which
  // only a power loss or OS crash could make matter. ":memory:" and "" have no file to log to.
  if (s.path != ":memory:" && !s.path.empty()) s.exec("PRAGMA journal_mode=WAL", "Checkpoint()", "cannot open");
  s.exec("PRAGMA synchronous=NORMAL", "Checkpoint()", "cannot open");
  s.exec(kSchema, "Checkpoint()", "cannot open");
  s.insert = s.prepare(
      "INSERT OR REPLACE INTO completions (namespace, key, value, recorded_at)"
      " VALUES (?, ?, ?, (julianday('now') - 2440587.5) * 86400.0)");
  s.find = s.prepare("SELECT value FROM completions WHERE namespace = ? AND key = ?");
  s.exists = s.prepare("SELECT 1 FROM completions WHERE namespace = ? AND key = ?");
  s.count_ns = s.prepare("SELECT COUNT(*) FROM completions WHERE namespace = ?");
  s.count_all = s.prepare("SELECT COUNT(*) FROM completions");
  s.list_namespaces = s.prepare("SELECT DISTINCT namespace FROM completions ORDER BY namespace");
  s.delete_ns = s.prepare("DELETE FROM completions WHERE namespace = ?");
  s.delete_all = s.prepare("DELETE FROM completions");
}

Checkpoint::~Checkpoint() = default;
Checkpoint::Checkpoint(Checkpoint&& other) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&& other) noexcept = default;

const std::shared_ptr<Checkpoint::Store>& Checkpoint::store() const {
  if (!store_) throw CheckpointError("Checkpoint: this object was moved from; use the Checkpoint it was moved to");
  return store_;
}

const std::string& Checkpoint::path() const { return store()->path; }

void Checkpoint::record_encoded(std::string_view ns, std::string_view key, std::string_view bytes) {
  record_into(*store(), ns, key, bytes);
}

void Checkpoint::record_into(Store& store, std::string_view ns, std::string_view key, std::string_view bytes) {
  constexpr const char* op = "Checkpoint::record()";
  constexpr const char* problem = "cannot write to";
  const std::lock_guard lock(store.mu);
  const Use use(store.insert);
  store.check(bind_text(use.get(), 1, ns), op, problem);
  store.check(bind_bytes(use.get(), 2, key), op, problem);
  store.check(bind_bytes(use.get(), 3, bytes), op, problem);
  store.step(use.get(), op, problem);
}

std::optional<std::string> Checkpoint::lookup_encoded(std::string_view ns, std::string_view key) const {
  constexpr const char* op = "Checkpoint::lookup()";
  Store& s = *store();
  const std::lock_guard lock(s.mu);
  const Use use(s.find);
  s.check(bind_text(use.get(), 1, ns), op, "cannot read");
  s.check(bind_bytes(use.get(), 2, key), op, "cannot read");
  if (!s.step(use.get(), op, "cannot read")) return std::nullopt;
  return column_bytes(use.get(), 0);
}

// One indexed lookup per key in one read transaction (one snapshot, one read lock). Measured
// against IN (...) lists of 500 and 32,766 parameters and a temporary table joined to the store:
// all within noise of each other at 100,000 keys (about 2.5 us a key), and this one has no
// parameter limit to chunk around and no SQL built at run time.
std::unordered_map<std::string, std::string> Checkpoint::lookup_encoded(std::string_view ns,
                                                                        const std::vector<std::string>& keys) const {
  constexpr const char* op = "Checkpoint::lookup()";
  Store& s = *store();
  std::unordered_map<std::string, std::string> found;
  const std::lock_guard lock(s.mu);
  s.exec("BEGIN", op, "cannot read");
  try {
    const Use use(s.find);
    s.check(bind_text(use.get(), 1, ns), op, "cannot read");
    for (const auto& key : keys) {
      s.check(bind_bytes(use.get(), 2, key), op, "cannot read");
      if (s.step(use.get(), op, "cannot read")) found.insert_or_assign(key, column_bytes(use.get(), 0));
      sqlite3_reset(use.get());
    }
  } catch (...) {
    sqlite3_exec(s.db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  s.exec("COMMIT", op, "cannot read");
  return found;
}

bool Checkpoint::is_done(std::string_view ns, std::string_view key) const {
  constexpr const char* op = "Checkpoint::is_done()";
  Store& s = *store();
  const std::lock_guard lock(s.mu);
  const Use use(s.exists);  // not find: a large value need not be read to answer
  s.check(bind_text(use.get(), 1, ns), op, "cannot read");
  s.check(bind_bytes(use.get(), 2, key), op, "cannot read");
  return s.step(use.get(), op, "cannot read");
}

std::size_t Checkpoint::count(std::string_view ns) const {
  Store& s = *store();
  const std::lock_guard lock(s.mu);
  return s.count_rows(s.count_ns, ns, true);
}

std::size_t Checkpoint::count() const {
  Store& s = *store();
  const std::lock_guard lock(s.mu);
  return s.count_rows(s.count_all, {}, false);
}

std::vector<std::string> Checkpoint::namespaces() const {
  Store& s = *store();
  std::vector<std::string> names;
  const std::lock_guard lock(s.mu);
  const Use use(s.list_namespaces);
  while (s.step(use.get(), "Checkpoint::namespaces()", "cannot read")) names.push_back(column_bytes(use.get(), 0));
  return names;
}

std::size_t Checkpoint::clear(std::string_view ns) {
  Store& s = *store();
  const std::lock_guard lock(s.mu);
  return s.delete_rows(s.delete_ns, ns, true);
}

std::size_t Checkpoint::clear() {
  Store& s = *store();
  const std::lock_guard lock(s.mu);
  return s.delete_rows(s.delete_all, {}, false);
}

void Checkpoint::throw_undecodable(std::string_view ns, std::string_view key, const std::string& type,
                                   const char* why) {
  throw CheckpointError(fmt::format(
      "Checkpoint::lookup(): the value recorded for key {} in namespace '{}' does not decode as {} ({}); look it up "
      "with the type it was recorded with, or clear('{}') to run those inputs again",
      describe(key), ns, type, why, ns));
}

}  // namespace osiiso
