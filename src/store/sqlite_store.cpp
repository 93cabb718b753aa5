// SqliteStore: the embedded, durable Store, one SQLite file used through the C API.
//
// Durability: WAL mode with synchronous=NORMAL. A transaction is in the operating system's hands
// once COMMIT returns, so it survives kill -9 of the server, which is the contract in store.hpp.
// A power loss or kernel crash may lose the last few committed transactions (never corrupting
// the file); synchronous=FULL would close that gap at the cost of an fsync per flush.
//
// No fsync on the writer's thread: with synchronous=NORMAL a COMMIT only appends to the log;
// the checkpoint, which copies the log into the file and fsyncs both, runs on the store's own
// thread with a second connection (run_checkpointer), never inside a COMMIT unless writes
// outrun it for long (on_commit). Durability is the same either way: a committed transaction
// is in the log, which survives kill -9.
//
// Writes are grouped: the first write after a flush opens a transaction, flush() commits it,
// so a loop iteration costs one commit however many records it touched. If a write fails,
// SQLite may roll the open transaction back, losing the writes since the last flush; the
// StoreError it throws is the caller's signal.
//
// The schema version lives in PRAGMA user_version; a file written by a newer lobbykit is
// refused rather than misread.
#include "store/store.hpp"

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace lobbykit::store {
namespace {

// The schema version this code reads and writes (0 is an empty, new file).
// 2: bot_dispatches. A version-1 file is upgraded in place (the schema script only adds).
// 3: sessions.user_id, roles, metadata_json, only_lobby (access tokens), added to older files by
//    kAddSessionIdentity.
// 4: lobbies.metadata_json, added to older files by kAddLobbyMetadata.
// 5: sessions.join_seq (members restored in join order), added to older files by kAddJoinSeq.
constexpr int kSchemaVersion = 5;

// How long a statement waits for a lock held by another connection to the same file (a backup
// tool, say) before it fails with StoreError.
constexpr int kBusyTimeoutMs = 5000;
// The log may grow to this many times checkpoint_pages before the writer checkpoints it
// itself (SqliteStore::on_commit).
constexpr std::uint32_t kCheckpointBacklog = 16;

// Run in one transaction when the file has no schema yet; user_version is set after it.
constexpr const char* kCreateSchema = R"sql(
CREATE TABLE IF NOT EXISTS sessions (
  peer_id       TEXT    NOT NULL PRIMARY KEY,
  token_hash    TEXT    NOT NULL UNIQUE,
  name          TEXT    NOT NULL,
  is_bot        INTEGER NOT NULL,
  lobby_id      TEXT    NOT NULL,
  created_ms    INTEGER NOT NULL,
  last_seen_ms  INTEGER NOT NULL,
  user_id       TEXT    NOT NULL DEFAULT '',
  roles         TEXT    NOT NULL DEFAULT '',
  metadata_json TEXT    NOT NULL DEFAULT '',
  only_lobby    TEXT    NOT NULL DEFAULT '',
  join_seq      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS names (
  key           TEXT NOT NULL PRIMARY KEY,
  name          TEXT NOT NULL,
  owner         TEXT NOT NULL,
  password_hash TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lobbies (
  id               TEXT    NOT NULL PRIMARY KEY,
  name             TEXT    NOT NULL,
  is_private       INTEGER NOT NULL,
  persistent       INTEGER NOT NULL,
  max_participants INTEGER NOT NULL,
  created_ms       INTEGER NOT NULL,
  last_offset      INTEGER NOT NULL,
  metadata_json    TEXT    NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat (
  lobby_id    TEXT    NOT NULL,
  offset      INTEGER NOT NULL,
  sender      TEXT    NOT NULL,
  sender_name TEXT    NOT NULL,
  text        TEXT    NOT NULL,
  time_ms     INTEGER NOT NULL,
  PRIMARY KEY (lobby_id, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bot_dispatches (
  id            TEXT    NOT NULL PRIMARY KEY,
  lobby_id      TEXT    NOT NULL,
  kind          TEXT    NOT NULL,
  key           TEXT    NOT NULL,
  metadata_json TEXT    NOT NULL,
  created_ms    INTEGER NOT NULL,
  bot_peer      TEXT    NOT NULL
) WITHOUT ROWID;
)sql";

// Upgrades the sessions table of a version 1 or 2 file (run before kCreateSchema, which
// leaves an existing table as it is). Roles are stored comma-separated: a role has no comma.
constexpr const char* kAddSessionIdentity = R"sql(
ALTER TABLE sessions ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN roles TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN metadata_json TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN only_lobby TEXT NOT NULL DEFAULT '';
)sql";

// Upgrades the lobbies table of a version 1 to 3 file (run before kCreateSchema too).
constexpr const char* kAddLobbyMetadata = R"sql(
ALTER TABLE lobbies ADD COLUMN metadata_json TEXT NOT NULL DEFAULT '{}';
)sql";

// Upgrades the sessions table of a version 1 to 4 file: members stored before it have
// join_seq 0 and come back in peer-id order once, then in join order.
constexpr const char* kAddJoinSeq = R"sql(
ALTER TABLE sessions ADD COLUMN join_seq INTEGER NOT NULL DEFAULT 0;
)sql";

std::string join_roles(const std::vector<std::string>& roles) {
  std::string out;
  for (const auto& r : roles) out += (out.empty() ? "" : ",") + r;
  return out;
}

std::vector<std::string> split_roles(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

struct CloseDatabase {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStatement {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Database = std::unique_ptr<sqlite3, CloseDatabase>;
using Statement = std::unique_ptr<sqlite3_stmt, FinalizeStatement>;

// Every SQLite failure ends here: the operation, the file and SQLite's own explanation.
[[noreturn]] void fail(sqlite3* db, const std::string& operation) {
  const char* file = sqlite3_db_filename(db, "main");
  throw StoreError("SQLite store " + std::string(file ? file : "") + ": " + operation +
                   " failed: " + sqlite3_errmsg(db));
}

void exec(sqlite3* db, const std::string& sql, const std::string& operation) {
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) fail(db, operation);
}

Statement prepare(sqlite3* db, const char* sql, const std::string& operation) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
    fail(db, "preparing " + operation);
  }
  return Statement(raw);
}

// One execution of a prepared statement: binds its parameters in order, steps through it, and
// resets it when the Run ends, however it ends, so that no statement is left holding a lock or
// pointing at a caller's strings (they are bound without copying).
class Run {
 public:
  Run(sqlite3* db, sqlite3_stmt* statement, const char* operation)
      : db_(db), statement_(statement), operation_(operation) {}
  ~Run() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  Run& bind(const std::string& value) {
    check(sqlite3_bind_text64(statement_, ++index_, value.data(), value.size(), SQLITE_STATIC,
                              SQLITE_UTF8));
    return *this;
  }
  Run& bind(std::int64_t value) {
    check(sqlite3_bind_int64(statement_, ++index_, value));
    return *this;
  }

  // Steps once: true when a row is ready to be read, false when the statement has finished.
  bool next_row() {
    const int rc = sqlite3_step(statement_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail(db_, operation_);
    return false;
  }
  void to_end() {
    while (next_row()) {
    }
  }

  std::string text(int column) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    const int size = sqlite3_column_bytes(statement_, column);  // after column_text, as documented
    return data ? std::string(data, static_cast<std::size_t>(size)) : std::string();
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(statement_, column); }

 private:
  void check(int rc) const {
    if (rc != SQLITE_OK) fail(db_, operation_);
  }

  sqlite3* db_;
  sqlite3_stmt* statement_;
  const char* operation_;
  int index_ = 0;
};

// Unsigned values are stored in SQLite's signed 64-bit integers; the casts round-trip exactly.
std::int64_t to_sql(std::uint64_t value) { return static_cast<std::int64_t>(value); }
// A count (a `keep`) too large for SQLite means "no limit": it becomes the largest integer.
std::int64_t count_to_sql(std::size_t count) {
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  return count > static_cast<std::uint64_t>(max) ? max : static_cast<std::int64_t>(count);
}

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, std::uint32_t checkpoint_pages)
      : checkpoint_pages_(checkpoint_pages) {
    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    db_.reset(raw);  // SQLite hands out a handle even when opening fails; it must be closed
    if (rc != SQLITE_OK) {
      throw StoreError("SQLite store " + path + ": opening failed: " +
                       (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    }
    sqlite3* db = db_.get();
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, kBusyTimeoutMs);

    // Read the version before anything writes to the file: this is also where a file that is
    // not a database is detected, and a newer file must be left untouched.
    const int version = schema_version();
    if (version > kSchemaVersion) {
      throw StoreError("SQLite store " + path + " has schema version " + std::to_string(version) +
                       ", newer than version " + std::to_string(kSchemaVersion) +
                       " which this lobbykit understands; open it with a newer lobbykit.");
    }
    enable_wal(path);
    exec(db, "PRAGMA synchronous = NORMAL", "setting synchronous=NORMAL");
    if (version < kSchemaVersion) {
      exec(db,
           std::string("BEGIN IMMEDIATE;") +
               (version >= 1 && version < 3 ? kAddSessionIdentity : "") +
               (version >= 1 && version < 4 ? kAddLobbyMetadata : "") +
               (version >= 1 && version < 5 ? kAddJoinSeq : "") + kCreateSchema +
               "PRAGMA user_version = " + std::to_string(kSchemaVersion) + ";COMMIT;",
           "creating the schema");
    }

    begin_ = prepare(db, "BEGIN IMMEDIATE", "BEGIN");
    commit_ = prepare(db, "COMMIT", "COMMIT");
    put_session_ = prepare(db,
                           "INSERT OR REPLACE INTO sessions (peer_id, token_hash, name, is_bot,"
                           " lobby_id, created_ms, last_seen_ms, user_id, roles, metadata_json,"
                           " only_lobby, join_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           "put_session");
    delete_session_ = prepare(db, "DELETE FROM sessions WHERE peer_id = ?", "delete_session");
    put_name_ = prepare(db,
                        "INSERT OR REPLACE INTO names (key, name, owner, password_hash)"
                        " VALUES (?, ?, ?, ?)",
                        "put_name");
    delete_name_ = prepare(db, "DELETE FROM names WHERE key = ?", "delete_name");
    put_lobby_ = prepare(db,
                         "INSERT OR REPLACE INTO lobbies (id, name, is_private, persistent,"
                         " max_participants, created_ms, last_offset, metadata_json)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         "put_lobby");
    delete_lobby_ = prepare(db, "DELETE FROM lobbies WHERE id = ?", "delete_lobby");
    delete_lobby_chat_ = prepare(db, "DELETE FROM chat WHERE lobby_id = ?", "delete_lobby");
    insert_chat_ = prepare(db,
                           "INSERT INTO chat (lobby_id, offset, sender, sender_name, text, time_ms)"
                           " VALUES (?, ?, ?, ?, ?, ?)",
                           "append_chat");
    // Deletes a lobby's ?2 + 1 oldest messages: a walk over what it deletes from the old end
    // of the primary key (append_chat knows how many rows the lobby has, see chat_rows_).
    trim_chat_ = prepare(db,
                         "DELETE FROM chat WHERE lobby_id = ?1 AND offset <= (SELECT offset FROM"
                         " chat WHERE lobby_id = ?1 ORDER BY offset LIMIT 1 OFFSET ?2)",
                         "append_chat");
    count_chat_ = prepare(db, "SELECT COUNT(*) FROM chat WHERE lobby_id = ?", "append_chat");
    put_dispatch_ = prepare(db,
                            "INSERT OR REPLACE INTO bot_dispatches (id, lobby_id, kind, key,"
                            " metadata_json, created_ms, bot_peer) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            "put_dispatch");
    delete_dispatch_ = prepare(db, "DELETE FROM bot_dispatches WHERE id = ?", "delete_dispatch");
    start_checkpointer(path);
  }

  ~SqliteStore() override {
    try {
      flush();
    } catch (...) {
      // A destructor has nowhere to report to; uncommitted writes are lost, as after a crash.
    }
    stop_checkpointer();
  }

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Snapshot load(std::size_t chat_keep) override {
    sqlite3* db = db_.get();
    Snapshot snapshot;

    Statement sessions = prepare(db,
                                 "SELECT peer_id, token_hash, name, is_bot, lobby_id, created_ms,"
                                 " last_seen_ms, user_id, roles, metadata_json, only_lobby,"
                                 " join_seq FROM sessions ORDER BY peer_id",
                                 "load sessions");
    for (Run row(db, sessions.get(), "load sessions"); row.next_row();) {
      SessionRecord& s = snapshot.sessions.emplace_back();
      s.peer_id = row.text(0);
      s.token_hash = row.text(1);
      s.name = row.text(2);
      s.is_bot = row.integer(3) != 0;
      s.lobby_id = row.text(4);
      s.created_ms = row.integer(5);
      s.last_seen_ms = row.integer(6);
      s.user_id = row.text(7);
      s.roles = split_roles(row.text(8));
      s.metadata_json = row.text(9);
      s.only_lobby = row.text(10);
      s.join_seq = row.integer(11);
    }

    Statement names = prepare(
        db, "SELECT key, name, owner, password_hash FROM names ORDER BY key", "load names");
    for (Run row(db, names.get(), "load names"); row.next_row();) {
      NameRecord& n = snapshot.names.emplace_back();
      n.key = row.text(0);
      n.name = row.text(1);
      n.owner = row.text(2);
      n.password_hash = row.text(3);
    }

    Statement lobbies = prepare(db,
                                "SELECT id, name, is_private, persistent, max_participants,"
                                " created_ms, last_offset, metadata_json FROM lobbies ORDER BY id",
                                "load lobbies");
    for (Run row(db, lobbies.get(), "load lobbies"); row.next_row();) {
      LobbyRecord& l = snapshot.lobbies.emplace_back();
      l.id = row.text(0);
      l.name = row.text(1);
      l.is_private = row.integer(2) != 0;
      l.persistent = row.integer(3) != 0;
      l.max_participants = static_cast<std::uint32_t>(row.integer(4));
      l.created_ms = row.integer(5);
      l.last_offset = static_cast<std::uint64_t>(row.integer(6));
      l.metadata_json = row.text(7);
    }

    // Numbers each lobby's messages from the newest (1) down and keeps the first chat_keep.
    Statement chat = prepare(db,
                             "SELECT lobby_id, offset, sender, sender_name, text, time_ms FROM"
                             " (SELECT *, ROW_NUMBER() OVER (PARTITION BY lobby_id ORDER BY"
                             " offset DESC) AS from_newest FROM chat)"
                             " WHERE from_newest <= ? ORDER BY lobby_id, offset",
                             "load chat");
    Run row(db, chat.get(), "load chat");
    row.bind(count_to_sql(chat_keep));
    while (row.next_row()) {
      ChatMessage& m = snapshot.chat.emplace_back();
      m.lobby_id = row.text(0);
      m.offset = static_cast<std::uint64_t>(row.integer(1));
      m.sender = row.text(2);
      m.sender_name = row.text(3);
      m.text = row.text(4);
      m.time_ms = row.integer(5);
      m.system = m.sender.empty();  // a server notice: no session ever has an empty peer id
    }

    Statement dispatches = prepare(db,
                                   "SELECT id, lobby_id, kind, key, metadata_json, created_ms,"
                                   " bot_peer FROM bot_dispatches ORDER BY created_ms, id",
                                   "load dispatches");
    for (Run drow(db, dispatches.get(), "load dispatches"); drow.next_row();) {
      DispatchRecord& d = snapshot.dispatches.emplace_back();
      d.id = drow.text(0);
      d.lobby_id = drow.text(1);
      d.kind = drow.text(2);
      d.key = drow.text(3);
      d.metadata_json = drow.text(4);
      d.created_ms = drow.integer(5);
      d.bot_peer = drow.text(6);
    }
    return snapshot;
  }

  void put_session(const SessionRecord& s) override {
    const std::string roles = join_roles(s.roles);  // bound without a copy: lives till the end
    ForgetCountsOnError guard(*this);
    begin_if_needed();
    Run(db_.get(), put_session_.get(), "put_session")
        .bind(s.peer_id)
        .bind(s.token_hash)
        .bind(s.name)
        .bind(s.is_bot ? 1 : 0)
        .bind(s.lobby_id)
        .bind(s.created_ms)
        .bind(s.last_seen_ms)
        .bind(s.user_id)
        .bind(roles)
        .bind(s.metadata_json)
        .bind(s.only_lobby)
        .bind(s.join_seq)
        .to_end();
  }

  void delete_session(const PeerId& peer_id) override {
    ForgetCountsOnError guard(*this);
    begin_if_needed();
    Run(db_.get(), delete_session_.get(), "delete_session").bind(peer_id).to_end();
  }

  void put_name(const NameRecord& n) override {
    ForgetCountsOnError guard(*this);
    begin_if_needed();
    Run(db_.get(), put_name_.get(), "put_name")
        .bind(n.key)
        .bind(n.name)
        .bind(n.owner)
        .bind(n.password_hash)
        .to_end();
  }

  void delete_name(const std::string& key) override {
    ForgetCountsOnError guard(*this);
    begin_if_needed();
    Run(db_.get(), delete_name_.get(), "delete_name").bind(key).to_end();
  }

  void put_lobby(const LobbyRecord& l) override {
    ForgetCountsOnError guard(*this);
    begin_if_needed();
    Run(db_.get(), put_lobby_.get(), "put_lobby")
        .bind(l.id)
        .bind(l.name)
        .bind(l.is_private ? 1 : 0)
        .bind(l.persistent ? 1 : 0)
        .bind(std::int64_t{l.max_participants})
        .bind(l.created_ms)
        .bind(to_sql(l.last_offset))
        .bind(l.metadata_json)
        .to_end();
  }

  void put_dispatch(const DispatchRecord& d) override {
    ForgetCountsOnError guard(*this);
    begin_if_needed();
    Run(db_.get(), put_dispatch_.get(), "put_dispatch")
        .bind(d.id)
        .bind(d.lobby_id)
        .bind(d.kind)
        .bind(d.key)
        .bind(d.metadata_json)
        .bind(d.created_ms)
        .bind(d.bot_peer)
        .to_end();
  }

  void delete_dispatch(const std::string& id) override {
    ForgetCountsOnError guard(*this);
    begin_if_needed();
    Run(db_.get(), delete_dispatch_.get(), "delete_dispatch").bind(id).to_end();
  }

  void delete_lobby(const LobbyId& id) override {
    ForgetCountsOnError guard(*this);
    chat_rows_.erase(id);
    begin_if_needed();
    Run(db_.get(), delete_lobby_.get(), "delete_lobby").bind(id).to_end();
    Run(db_.get(), delete_lobby_chat_.get(), "delete_lobby").bind(id).to_end();
  }

  void append_chat(const ChatMessage& m, std::size_t keep) override {
    ForgetCountsOnError guard(*this);
    begin_if_needed();
    Run(db_.get(), insert_chat_.get(), "append_chat")
        .bind(m.lobby_id)
        .bind(to_sql(m.offset))
        .bind(m.sender)
        .bind(m.sender_name)
        .bind(m.text)
        .bind(m.time_ms)
        .to_end();
    // Keeps the newest `keep` messages, counted (offsets may have gaps): with the lobby's row
    // count at hand, only the rows that go are visited.
    auto rows = chat_rows_.find(m.lobby_id);
    if (rows == chat_rows_.end()) {
      Run count(db_.get(), count_chat_.get(), "append_chat (counting)");
      count.bind(m.lobby_id);
      const std::int64_t n = count.next_row() ? count.integer(0) : 0;
      rows = chat_rows_.emplace(m.lobby_id, n).first;  // the new message included
    } else {
      ++rows->second;
    }
    const std::int64_t excess = rows->second - count_to_sql(keep);
    if (excess <= 0) return;
    Run(db_.get(), trim_chat_.get(), "append_chat (trimming)")
        .bind(m.lobby_id)
        .bind(excess - 1)
        .to_end();
    rows->second -= excess;
  }

  void flush() override {
    ForgetCountsOnError guard(*this);
    if (!dirty()) return;
    Run(db_.get(), commit_.get(), "flush (COMMIT)").to_end();
  }

  // SQLite itself knows whether a transaction is open, including one it rolled back on error.
  bool dirty() const override { return sqlite3_get_autocommit(db_.get()) == 0; }

  std::uint64_t checkpoints() const override { return checkpoint_runs_.load(); }

 private:
  int schema_version() {
    Statement statement = prepare(db_.get(), "PRAGMA user_version", "reading the schema version");
    Run row(db_.get(), statement.get(), "reading the schema version");
    return row.next_row() ? static_cast<int>(row.integer(0)) : 0;
  }

  void enable_wal(const std::string& path) {
    Statement statement = prepare(db_.get(), "PRAGMA journal_mode = WAL", "enabling WAL mode");
    Run row(db_.get(), statement.get(), "enabling WAL mode");
    const std::string mode = row.next_row() ? row.text(0) : std::string();
    if (mode != "wal") {
      throw StoreError("SQLite store " + path + ": cannot use WAL mode (journal mode is \"" +
                       mode + "\"); the file must be on a local file system, not in memory.");
    }
  }

  // A failed statement may have rolled the open transaction back: the row counts may then
  // count rows that are gone, so they are forgotten and counted again when next needed.
  class ForgetCountsOnError {
   public:
    explicit ForgetCountsOnError(SqliteStore& store)
        : store_(store), exceptions_(std::uncaught_exceptions()) {}
    ~ForgetCountsOnError() {
      if (std::uncaught_exceptions() > exceptions_) store_.chat_rows_.clear();
    }
    ForgetCountsOnError(const ForgetCountsOnError&) = delete;
    ForgetCountsOnError& operator=(const ForgetCountsOnError&) = delete;

   private:
    SqliteStore& store_;
    int exceptions_;
  };

  // --- checkpoints on a thread of their own ------------------------------------------

  // Replaces SQLite's automatic checkpoint (which would run inside a COMMIT on the writer's
  // thread) with a hook that wakes the checkpointer. The checkpointer's connection is its
  // own, opened here so that a file it cannot open fails the store's construction.
  void start_checkpointer(const std::string& path) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
    checkpoint_db_.reset(raw);
    if (rc != SQLITE_OK) {
      throw StoreError("SQLite store " + path + ": opening the checkpoint connection failed: " +
                       (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    }
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, kBusyTimeoutMs);
    // A connection learns that the file is in WAL mode (and opens the log) only once it has
    // read it: until then a checkpoint on it does nothing.
    exec(raw, "PRAGMA schema_version", "opening the checkpoint connection");
    sqlite3_wal_hook(db_.get(), &SqliteStore::on_commit, this);
    checkpointer_ = std::thread([this] { run_checkpointer(); });
  }

  void stop_checkpointer() {
    {
      std::lock_guard<std::mutex> lock(checkpoint_mu_);
      checkpoint_stop_ = true;
    }
    checkpoint_cv_.notify_one();
    if (checkpointer_.joinable()) checkpointer_.join();
  }

  // After every COMMIT, on the writer's thread, with the log's size in pages: only a wake-up.
  static int on_commit(void* self, sqlite3* db, const char*, int pages) {
    auto* store = static_cast<SqliteStore*>(self);
    if (store->checkpoint_pages_ == 0 || pages < static_cast<int>(store->checkpoint_pages_))
      return SQLITE_OK;
    if (pages >= static_cast<int>(kCheckpointBacklog * store->checkpoint_pages_)) {
      // The log starts over only when a write begins after a checkpoint copied all of it;
      // writes that never pause leave each background pass a little behind, and the log
      // would grow for as long as they last. Past the backlog the writer checkpoints itself,
      // RESTART (it waits for the checkpointer's pass, copies the rest, and the next write
      // starts the log over), as SQLite does on every threshold without a checkpointer.
      // Only under sustained heavy writing; a failure (busy past the timeout) waits for the
      // next commit. SQLite refuses a checkpoint at once (SQLITE_BUSY, no busy handler) while
      // another runs, so the writer first waits for the checkpointer's pass to end; else a
      // long pass let every commit meanwhile fail its RESTART and the log outgrow the bound.
      std::lock_guard<std::mutex> pass(store->checkpoint_pass_mu_);
      sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
      return SQLITE_OK;
    }
    {
      std::lock_guard<std::mutex> lock(store->checkpoint_mu_);
      if (store->checkpoint_due_) return SQLITE_OK;
      store->checkpoint_due_ = true;
    }
    store->checkpoint_cv_.notify_one();
    return SQLITE_OK;
  }

  void run_checkpointer() {
    std::unique_lock<std::mutex> lock(checkpoint_mu_);
    for (;;) {
      checkpoint_cv_.wait(lock, [this] { return checkpoint_stop_ || checkpoint_due_; });
      if (checkpoint_stop_) return;
      checkpoint_due_ = false;
      lock.unlock();
      // PASSIVE: copies what no reader still needs, never waits for the writer, and the
      // writer never waits for it (the log restarts from its beginning once it is all
      // copied). It fsyncs the log, then the database file.
      int log_pages = 0;
      int copied = 0;
      int rc = SQLITE_OK;
      {
        std::lock_guard<std::mutex> pass(checkpoint_pass_mu_);  // not with the writer's
        rc = sqlite3_wal_checkpoint_v2(checkpoint_db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                       &log_pages, &copied);
      }
      if (rc == SQLITE_OK) {
        ++checkpoint_runs_;
      } else {
        std::fprintf(stderr, "lobbykit: SQLite checkpoint failed: %s\n",
                     sqlite3_errmsg(checkpoint_db_.get()));
      }
      lock.lock();
    }
  }

  void begin_if_needed() {
    if (!dirty()) Run(db_.get(), begin_.get(), "BEGIN").to_end();
  }

  // Declared first so that it is closed after every statement below is finalized.
  Database db_;
  Statement begin_;
  Statement commit_;
  Statement put_session_;
  Statement delete_session_;
  Statement put_name_;
  Statement delete_name_;
  Statement put_lobby_;
  Statement delete_lobby_;
  Statement delete_lobby_chat_;
  Statement insert_chat_;
  Statement trim_chat_;
  Statement count_chat_;
  Statement put_dispatch_;
  Statement delete_dispatch_;
  // Rows in `chat` per lobby, for the lobbies appended to since the store was opened; this
  // connection is the file's only writer.
  std::unordered_map<LobbyId, std::int64_t> chat_rows_;

  // The checkpointer (start_checkpointer): its connection, thread and wake-up.
  const std::uint32_t checkpoint_pages_;
  Database checkpoint_db_;
  std::thread checkpointer_;
  std::mutex checkpoint_mu_;
  std::mutex checkpoint_pass_mu_;  // held for each checkpoint pass, the writer's or the thread's
  std::condition_variable checkpoint_cv_;
  bool checkpoint_stop_ = false;  // guarded by checkpoint_mu_
  bool checkpoint_due_ = false;   // guarded by checkpoint_mu_
  std::atomic<std::uint64_t> checkpoint_runs_{0};
};

}  // namespace

std::unique_ptr<Store> make_sqlite_store(const std::string& path,
                                         std::uint32_t checkpoint_pages) {
  return std::make_unique<SqliteStore>(path, checkpoint_pages);
}

}  // namespace lobbykit::store
