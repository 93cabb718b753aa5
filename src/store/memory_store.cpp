// MemoryStore: a Store kept in ordinary maps, for tests and servers that need no persistence.
// It mirrors SqliteStore's behaviour (replace rules, chat trimming, load order) so that code
// tested against it behaves the same on SQLite; flush() only clears the dirty flag.
#include "store/store.hpp"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <string>
#include <utility>

namespace lobbykit::store {
namespace {

class MemoryStore final : public Store {
 public:
  Snapshot load(std::size_t chat_keep) override {
    Snapshot snapshot;
    for (const auto& [peer_id, session] : sessions_) snapshot.sessions.push_back(session);
    for (const auto& [key, name] : names_) snapshot.names.push_back(name);
    for (const auto& [id, lobby] : lobbies_) snapshot.lobbies.push_back(lobby);
    for (const auto& [lobby_id, messages] : chat_) {
      auto first = messages.begin();
      if (messages.size() > chat_keep) {
        std::advance(first, static_cast<std::ptrdiff_t>(messages.size() - chat_keep));
      }
      for (auto it = first; it != messages.end(); ++it) snapshot.chat.push_back(it->second);
    }
    for (const auto& [order, id] : dispatch_order_) snapshot.dispatches.push_back(dispatches_.at(id));
    return snapshot;
  }

  void put_session(const SessionRecord& s) override {
    // token_hash is unique, as in the SQLite schema: a session that reuses another's token
    // hash replaces it. Found through an index, not a scan of every session.
    auto other = by_token_hash_.find(s.token_hash);
    if (other != by_token_hash_.end() && other->second != s.peer_id) sessions_.erase(other->second);
    auto it = sessions_.find(s.peer_id);
    if (it != sessions_.end() && it->second.token_hash != s.token_hash)
      by_token_hash_.erase(it->second.token_hash);
    sessions_[s.peer_id] = s;
    by_token_hash_[s.token_hash] = s.peer_id;
    dirty_ = true;
  }

  void delete_session(const PeerId& peer_id) override {
    auto it = sessions_.find(peer_id);
    if (it != sessions_.end()) {
      by_token_hash_.erase(it->second.token_hash);
      sessions_.erase(it);
    }
    dirty_ = true;
  }

  void put_name(const NameRecord& n) override {
    names_[n.key] = n;
    dirty_ = true;
  }

  void delete_name(const std::string& key) override {
    names_.erase(key);
    dirty_ = true;
  }

  void put_lobby(const LobbyRecord& l) override {
    lobbies_[l.id] = l;
    dirty_ = true;
  }

  void delete_lobby(const LobbyId& id) override {
    lobbies_.erase(id);
    chat_.erase(id);
    dirty_ = true;
  }

  void put_dispatch(const DispatchRecord& d) override {
    auto it = dispatches_.find(d.id);
    if (it == dispatches_.end()) dispatch_order_.emplace(std::make_pair(d.created_ms, next_order_++), d.id);
    dispatches_[d.id] = d;
    dirty_ = true;
  }

  void delete_dispatch(const std::string& id) override {
    if (dispatches_.erase(id)) {
      for (auto it = dispatch_order_.begin(); it != dispatch_order_.end(); ++it)
        if (it->second == id) {
          dispatch_order_.erase(it);
          break;
        }
    }
    dirty_ = true;
  }

  void append_chat(const ChatMessage& m, std::size_t keep) override {
    auto& messages = chat_[m.lobby_id];
    if (!messages.emplace(m.offset, m).second) {
      throw StoreError("memory store: append_chat failed: lobby " + m.lobby_id +
                       " already has a message at offset " + std::to_string(m.offset));
    }
    while (messages.size() > keep) messages.erase(messages.begin());
    if (messages.empty()) chat_.erase(m.lobby_id);
    dirty_ = true;
  }

  void flush() override { dirty_ = false; }
  bool dirty() const override { return dirty_; }

 private:
  std::map<PeerId, SessionRecord> sessions_;
  std::map<std::string, PeerId> by_token_hash_;  // sessions_ by token_hash (unique)
  std::map<std::string, NameRecord> names_;
  std::map<LobbyId, LobbyRecord> lobbies_;
  std::map<LobbyId, std::map<std::uint64_t, ChatMessage>> chat_;  // by lobby, then offset
  std::map<std::string, DispatchRecord> dispatches_;
  // Load order, as SQLite's: by created_ms, then insertion.
  std::map<std::pair<TimeMs, std::uint64_t>, std::string> dispatch_order_;
  std::uint64_t next_order_ = 0;
  bool dirty_ = false;
};

}  // namespace

std::unique_ptr<Store> make_memory_store() { return std::make_unique<MemoryStore>(); }

}  // namespace lobbykit::store
