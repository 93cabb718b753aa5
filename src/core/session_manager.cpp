#include "core/session_manager.hpp"

#include "core/crypto.hpp"
#include "protocol/messages.hpp"

namespace lobbykit::core {

namespace {
constexpr std::size_t kPeerIdBytes = 8;   // 64 bits: public, only needs to be unique
constexpr std::size_t kTokenBytes = 16;   // 128 bits from the CSPRNG
}  // namespace

SessionManager::SessionManager(const Limits& limits, Clock& clock, store::Store& store,
                               EventBus& bus)
    : limits_(limits), clock_(clock), store_(store), bus_(bus) {}

void SessionManager::load(const std::vector<store::SessionRecord>& records) {
  // last_seen_ms of a session that was connected when the process died is at most a quarter
  // of session_ttl_ms old (refresh_connected keeps it so), so a restart cannot expire it.
  for (const auto& r : records) {
    Session s{r.peer_id, r.token_hash, r.name, r.is_bot, r.lobby_id,
              r.created_ms, r.last_seen_ms, false};
    by_token_hash_[s.token_hash] = s.peer_id;
    sessions_.emplace(s.peer_id, std::move(s));
  }
}

void SessionManager::persist(const Session& s) {
  store_.put_session(store::SessionRecord{s.peer_id, s.token_hash, s.name, s.is_bot,
                                          s.lobby_id, s.created_ms, s.last_seen_ms});
}

SessionManager::Created SessionManager::create(bool is_bot) {
  std::string token = random_hex(kTokenBytes);
  PeerId peer;
  do peer = random_hex(kPeerIdBytes);
  while (sessions_.count(peer));
  TimeMs now = clock_.now_ms();
  Session s{peer, sha256_hex(token), "", is_bot, "", now, now, true};
  by_token_hash_[s.token_hash] = peer;
  auto& stored = sessions_.emplace(peer, std::move(s)).first->second;
  ++connected_;
  persist(stored);
  bus_.publish(event::SessionCreated{peer, "", is_bot});
  return {&stored, std::move(token)};
}

Session* SessionManager::resume(std::string_view token) {
  auto it = by_token_hash_.find(sha256_hex(token));
  if (it == by_token_hash_.end()) return nullptr;
  Session& s = sessions_.at(it->second);
  if (!s.connected) ++connected_;
  s.connected = true;
  s.last_seen_ms = clock_.now_ms();
  persist(s);
  bus_.publish(event::SessionResumed{s.peer_id, s.name});
  return &s;
}

void SessionManager::disconnected(Session& s) {
  if (!s.connected) return;
  s.connected = false;
  --connected_;
  s.last_seen_ms = clock_.now_ms();
  persist(s);
  bus_.publish(event::SessionDisconnected{s.peer_id});
}

Session* SessionManager::find(const PeerId& peer_id) {
  auto it = sessions_.find(peer_id);
  return it == sessions_.end() ? nullptr : &it->second;
}

Session* SessionManager::find_by_name_key(const std::string& key) {
  for (auto& [id, s] : sessions_)
    if (!s.name.empty() && protocol::name_key(s.name) == key) return &s;
  return nullptr;
}

void SessionManager::set_name(Session& s, std::string name) {
  s.name = std::move(name);
  persist(s);
}

void SessionManager::set_lobby(Session& s, LobbyId lobby_id) {
  if (s.lobby_id == lobby_id) return;
  s.lobby_id = std::move(lobby_id);
  persist(s);
}

void SessionManager::remove(const PeerId& peer_id, const std::string& reason) {
  auto it = sessions_.find(peer_id);
  if (it == sessions_.end()) return;
  const PeerId peer = peer_id;  // peer_id may refer to the session erased below
  if (it->second.connected) --connected_;
  by_token_hash_.erase(it->second.token_hash);
  sessions_.erase(it);
  store_.delete_session(peer);
  bus_.publish(event::SessionClosed{peer, reason});
}

void SessionManager::refresh_connected() {
  const TimeMs now = clock_.now_ms();
  const TimeMs stale = static_cast<TimeMs>(limits_.session_ttl_ms / 4);
  for (auto& [id, s] : sessions_) {
    if (!s.connected || now - s.last_seen_ms < stale) continue;
    s.last_seen_ms = now;
    persist(s);
  }
}

std::vector<PeerId> SessionManager::abandoned() const {
  std::vector<PeerId> out;
  const TimeMs cutoff = clock_.now_ms() - static_cast<TimeMs>(limits_.session_ttl_ms);
  for (const auto& [id, s] : sessions_)
    if (!s.connected && s.lobby_id.empty() && s.last_seen_ms < cutoff) out.push_back(id);
  return out;
}

}  // namespace lobbykit::core
