// Store: where the server keeps what must survive a restart.
//
// The core keeps its working state in memory and loads it once at start-up (load()); after
// that the store is written to, never read. Writes may be grouped: they become durable when
// flush() returns, and the transport flushes before it sends any frame, so whatever a client
// was told has happened survives kill -9 of the server. Single-threaded: the loop thread only.
#pragma once

#include <lobbykit/model.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace lobbykit::store {

struct SessionRecord {
  PeerId peer_id;
  std::string token_hash;  // hex SHA-256 of the session token; the token itself is never kept
  std::string name;        // display name ("" before one is set)
  bool is_bot = false;
  LobbyId lobby_id;        // lobby the session is a member of, "" if none
  TimeMs created_ms = 0;
  TimeMs last_seen_ms = 0;
  // From the session's access token (schema 3): the host's user id, roles, metadata object,
  // and the only lobby it may join ("" any).
  std::string user_id;
  std::vector<std::string> roles;
  std::string metadata_json;
  LobbyId only_lobby;
  // Schema 5: the server-wide sequence number of the session's join of lobby_id (0 when in no
  // lobby, or joined before schema 5). A restored lobby lists its members by it: join order.
  std::int64_t join_seq = 0;
};

// A claimed display name. key is the case-folded name; the password hash is optional.
struct NameRecord {
  std::string key;
  std::string name;           // as the owner spelled it
  PeerId owner;               // session holding it
  std::string password_hash;  // Argon2id encoded hash, "" when not protected
};

struct LobbyRecord {
  LobbyId id;
  std::string name;
  bool is_private = false;
  bool persistent = false;
  std::uint32_t max_participants = 0;
  TimeMs created_ms = 0;
  std::uint64_t last_offset = 0;  // offset of the newest chat message ever posted
  std::string metadata_json = "{}";  // LobbyInfo::metadata_json
};

// A bot dispatch (core/bot_manager.hpp, docs/bots.md): durable; its jobs are not.
struct DispatchRecord {
  std::string id;
  LobbyId lobby_id;
  std::string kind;
  std::string key;            // unique within the lobby
  std::string metadata_json;  // a JSON object
  TimeMs created_ms = 0;
  PeerId bot_peer;            // the bot session of its last job, "" when none
};

struct Snapshot {
  std::vector<SessionRecord> sessions;
  std::vector<NameRecord> names;
  std::vector<LobbyRecord> lobbies;
  std::vector<ChatMessage> chat;  // per lobby, oldest first, at most chat_keep each
  std::vector<DispatchRecord> dispatches;  // oldest first
};

// Thrown when the underlying storage fails (disk full, corrupt file, ...).
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Snapshot load(std::size_t chat_keep) = 0;

  virtual void put_session(const SessionRecord& s) = 0;  // insert or replace by peer_id
  virtual void delete_session(const PeerId& peer_id) = 0;
  virtual void put_name(const NameRecord& n) = 0;        // insert or replace by key
  virtual void delete_name(const std::string& key) = 0;
  virtual void put_lobby(const LobbyRecord& l) = 0;      // insert or replace by id
  virtual void delete_lobby(const LobbyId& id) = 0;      // and its chat history
  virtual void put_dispatch(const DispatchRecord& d) = 0;  // insert or replace by id
  virtual void delete_dispatch(const std::string& id) = 0;
  // Appends a message and forgets that lobby's messages older than the newest `keep`.
  virtual void append_chat(const ChatMessage& m, std::size_t keep) = 0;

  // Makes every write so far durable against a crash of this process. Cheap when nothing
  // was written since the last flush.
  virtual void flush() = 0;
  virtual bool dirty() const = 0;  // writes pending since the last flush
  // WAL checkpoints the store's own thread has completed (0 for a store without one).
  virtual std::uint64_t checkpoints() const { return 0; }
};

// An in-memory store: nothing survives the process. Two Hubs sharing one MemoryStore see a
// "restart" the way a SqliteStore would show it, which is what the unit tests use it for.
std::unique_ptr<Store> make_memory_store();
// Opens (creating if needed) a SQLite database in WAL mode. Throws StoreError.
//
// Commits never wait for the disk: a COMMIT appends to the write-ahead log (synchronous=
// NORMAL), and copying the log into the database file — the checkpoint, which fsyncs — runs
// on a thread of the store's own with a second connection, whenever the log has grown by
// checkpoint_pages pages since the last one (SQLite's own default would do it inside the
// COMMIT that crosses the threshold, on the caller's thread). Only when writes outrun it
// until the log is 16 times that size does a COMMIT checkpoint too, which bounds the log.
// 0 never checkpoints while open (tests); closing the store checkpoints what is left.
std::unique_ptr<Store> make_sqlite_store(const std::string& path,
                                         std::uint32_t checkpoint_pages = 1000);

}  // namespace lobbykit::store
