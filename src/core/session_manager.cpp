#include "core/session_manager.hpp"

#include "core/crypto.hpp"
#include "protocol/messages.hpp"

#include <algorithm>
#include <limits>

namespace lobbykit::core {

namespace {
constexpr std::size_t kPeerIdBytes = 8;   // 64 bits: public, only needs to be unique
constexpr std::size_t kTokenBytes = 16;   // 128 bits from the CSPRNG

// now - ttl, or the earliest time when a ttl this long reaches back before the epoch (a
// configured "forever" must not wrap around into the future).
TimeMs cutoff(TimeMs now, std::uint64_t ttl) {
  if (now <= 0 || ttl >= static_cast<std::uint64_t>(now)) return std::numeric_limits<TimeMs>::min();
  return now - static_cast<TimeMs>(ttl);
}
}  // namespace

SessionManager::SessionManager(const Limits& limits, Clock& clock, store::Store& store,
                               EventBus& bus)
    : limits_(limits), clock_(clock), store_(store), bus_(bus) {}

void SessionManager::load(const std::vector<store::SessionRecord>& records) {
  // last_seen_ms of a session that was connected when the process died is at most a quarter
  // of session_ttl_ms old (refresh_connected keeps it so), so a restart cannot expire it.
  // The idle clock starts now for every restored session: the store cannot tell one that
  // was connected when the process died from one that had gone.
  for (const auto& r : records) {
    Session s;
    s.peer_id = r.peer_id;
    s.token_hash = r.token_hash;
    s.name = r.name;
    s.is_bot = r.is_bot;
    s.lobby_id = r.lobby_id;
    s.created_ms = r.created_ms;
    s.last_seen_ms = r.last_seen_ms;
    s.user_id = r.user_id;
    s.roles = r.roles;
    s.metadata_json = r.metadata_json;
    s.only_lobby = r.only_lobby;
    s.join_seq = r.join_seq;
    last_join_seq_ = std::max(last_join_seq_, r.join_seq);
    by_token_hash_[s.token_hash] = s.peer_id;
    Session& stored = sessions_.emplace(s.peer_id, std::move(s)).first->second;
    update_idle(stored);
  }
}

void SessionManager::update_idle(Session& s) {
  const bool idle = !s.connected && s.name.empty() && s.lobby_id.empty();
  if (idle == (s.idle_since >= 0)) return;
  if (idle) {
    s.idle_since = clock_.steady_ms();
    idle_.emplace(s.idle_since, s.peer_id);
  } else {
    idle_.erase({s.idle_since, s.peer_id});
    s.idle_since = -1;
  }
}

std::size_t SessionManager::count_from(const std::string& address) const {
  auto it = by_address_.find(address);
  return it == by_address_.end() ? 0 : it->second.size();
}

SessionManager::Admission SessionManager::admit(const std::string& address) const {
  const bool address_full =
      !address.empty() && count_from(address) >= limits_.max_sessions_per_address;
  const bool server_full = sessions_.size() >= limits_.max_sessions;
  if (!address_full && !server_full) return {};
  // The address's own oldest idle session makes room under both caps.
  if (auto from = by_address_.find(address); from != by_address_.end()) {
    const Session* oldest = nullptr;
    for (const PeerId& peer : from->second) {
      const Session& s = sessions_.at(peer);
      if (s.idle_since >= 0 && (!oldest || s.idle_since < oldest->idle_since)) oldest = &s;
    }
    if (oldest) return {std::nullopt, oldest->peer_id};
  }
  if (!address_full && !idle_.empty()) return {std::nullopt, idle_.begin()->second};
  Admission refused;
  refused.refusal = protocol::make_error(
      protocol::ErrorCode::too_many_sessions,
      address_full ? "Too many sessions were created from your address (" +
                         std::to_string(limits_.max_sessions_per_address) +
                         " exist); resume one with its token, or try again later."
                   : std::string("The server holds as many sessions as it allows; try again "
                                 "later."));
  return refused;
}

bool Session::has_role(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

void SessionManager::persist(const Session& s) {
  store::SessionRecord r;
  r.peer_id = s.peer_id;
  r.token_hash = s.token_hash;
  r.name = s.name;
  r.is_bot = s.is_bot;
  r.lobby_id = s.lobby_id;
  r.created_ms = s.created_ms;
  r.last_seen_ms = s.last_seen_ms;
  r.user_id = s.user_id;
  r.roles = s.roles;
  r.metadata_json = s.metadata_json;
  r.only_lobby = s.only_lobby;
  r.join_seq = s.join_seq;
  store_.put_session(r);
}

SessionManager::Created SessionManager::create(bool is_bot, std::string address) {
  std::string token = random_hex(kTokenBytes);
  PeerId peer;
  do peer = random_hex(kPeerIdBytes);
  while (sessions_.count(peer));
  TimeMs now = clock_.now_ms();
  Session s;
  s.peer_id = peer;
  s.token_hash = sha256_hex(token);
  s.is_bot = is_bot;
  s.created_ms = now;
  s.last_seen_ms = now;
  s.connected = true;
  s.address = std::move(address);
  by_token_hash_[s.token_hash] = peer;
  if (!s.address.empty()) by_address_[s.address].push_back(peer);
  auto& stored = sessions_.emplace(peer, std::move(s)).first->second;
  ++connected_;
  persist(stored);
  bus_.publish(event::SessionCreated{peer, "", is_bot});
  return {&stored, std::move(token)};
}

Session* SessionManager::resume(std::string_view token) {
  const Session* found = find_by_token(token);
  if (!found) return nullptr;
  Session& s = sessions_.at(found->peer_id);
  if (!s.connected) ++connected_;
  s.connected = true;
  s.last_seen_ms = clock_.now_ms();
  update_idle(s);
  persist(s);
  bus_.publish(event::SessionResumed{s.peer_id, s.name});
  return &s;
}

void SessionManager::disconnected(Session& s) {
  if (!s.connected) return;
  s.connected = false;
  --connected_;
  s.last_seen_ms = clock_.now_ms();
  update_idle(s);
  persist(s);
  bus_.publish(event::SessionDisconnected{s.peer_id});
}

Session* SessionManager::find(const PeerId& peer_id) {
  auto it = sessions_.find(peer_id);
  return it == sessions_.end() ? nullptr : &it->second;
}

const Session* SessionManager::find_by_token(std::string_view token) const {
  auto it = by_token_hash_.find(sha256_hex(token));
  return it == by_token_hash_.end() ? nullptr : &sessions_.at(it->second);
}

Session* SessionManager::find_by_name_key(const std::string& key) {
  for (auto& [id, s] : sessions_)
    if (!s.name.empty() && protocol::name_key(s.name) == key) return &s;
  return nullptr;
}

void SessionManager::set_name(Session& s, std::string name) {
  s.name = std::move(name);
  update_idle(s);
  persist(s);
}

void SessionManager::set_identity(Session& s, Identity identity) {
  s.user_id = std::move(identity.user_id);
  s.roles = std::move(identity.roles);
  s.metadata_json = std::move(identity.metadata_json);
  s.only_lobby = std::move(identity.only_lobby);
  persist(s);
}

void SessionManager::set_metadata(Session& s, std::string metadata_json) {
  s.metadata_json = std::move(metadata_json);
  persist(s);
}

void SessionManager::set_lobby(Session& s, LobbyId lobby_id) {
  if (s.lobby_id == lobby_id) return;
  s.lobby_id = std::move(lobby_id);
  s.join_seq = s.lobby_id.empty() ? 0 : ++last_join_seq_;
  update_idle(s);
  persist(s);
}

void SessionManager::remove(const PeerId& peer_id, const std::string& reason) {
  auto it = sessions_.find(peer_id);
  if (it == sessions_.end()) return;
  const PeerId peer = peer_id;  // peer_id may refer to the session erased below
  Session& s = it->second;
  if (s.connected) --connected_;
  if (s.idle_since >= 0) idle_.erase({s.idle_since, peer});
  if (!s.address.empty()) {
    auto from = by_address_.find(s.address);
    auto& peers = from->second;
    peers.erase(std::find(peers.begin(), peers.end(), peer));
    if (peers.empty()) by_address_.erase(from);
  }
  by_token_hash_.erase(s.token_hash);
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

std::vector<PeerId> SessionManager::idle_expired() const {
  std::vector<PeerId> out;
  const TimeMs last = cutoff(clock_.steady_ms(), limits_.idle_session_ttl_ms);
  for (const auto& [since, peer] : idle_) {
    if (since > last) break;
    out.push_back(peer);
  }
  return out;
}

std::vector<PeerId> SessionManager::abandoned() const {
  std::vector<PeerId> out;
  const TimeMs before = cutoff(clock_.now_ms(), limits_.session_ttl_ms);
  for (const auto& [id, s] : sessions_)
    if (!s.connected && s.lobby_id.empty() && s.last_seen_ms < before) out.push_back(id);
  return out;
}

}  // namespace lobbykit::core
