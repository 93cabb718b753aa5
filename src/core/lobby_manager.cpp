#include "core/lobby_manager.hpp"

#include "core/crypto.hpp"
#include "protocol/messages.hpp"

#include <algorithm>

namespace lobbykit::core {

using protocol::Error;
using protocol::ErrorCode;
using protocol::make_error;

namespace {
constexpr std::size_t kLobbyIdBytes = 8;

std::size_t count_of(const std::unordered_map<std::string, std::size_t>& counts,
                     const std::string& key) {
  auto it = counts.find(key);
  return it == counts.end() ? 0 : it->second;
}

void uncount(std::unordered_map<std::string, std::size_t>& counts, const std::string& key) {
  auto it = counts.find(key);
  if (it == counts.end()) return;
  if (--it->second == 0) counts.erase(it);
}
}  // namespace

Member* Lobby::member(std::string_view peer) {
  for (auto& m : members)
    if (m.p.peer_id == peer) return &m;
  return nullptr;
}

const Member* Lobby::member(std::string_view peer) const {
  return const_cast<Lobby*>(this)->member(peer);
}

LobbyManager::LobbyManager(const Limits& limits, Clock& clock, store::Store& store,
                           EventBus& bus)
    : limits_(limits), clock_(clock), store_(store), bus_(bus) {}

void LobbyManager::persist(const Lobby& l) {
  store_.put_lobby(store::LobbyRecord{l.info.id, l.info.name, l.info.is_private,
                                      l.info.persistent, l.info.max_participants,
                                      l.info.created_ms, l.last_offset,
                                      l.info.metadata_json});
}

namespace {

// Pointers to the items, in the order `less` (which compares two pointers) gives them.
template <class T, class Less>
std::vector<const T*> sorted_view(const std::vector<T>& items, Less less) {
  std::vector<const T*> out;
  out.reserve(items.size());
  for (const T& item : items) out.push_back(&item);
  std::sort(out.begin(), out.end(), less);
  return out;
}

}  // namespace

void LobbyManager::load(const store::Snapshot& snap) {
  const TimeMs now = clock_.steady_ms();  // for the expiry and grace clocks
  // Creation order survives a restart as far as the store knows it: by time, then id.
  const auto records = sorted_view(snap.lobbies, [](const auto* a, const auto* b) {
    return a->created_ms != b->created_ms ? a->created_ms < b->created_ms : a->id < b->id;
  });
  for (const auto* rec : records) {
    const store::LobbyRecord& r = *rec;
    Lobby l;
    l.order = next_order_++;
    l.info = LobbyInfo{r.id, r.name, r.is_private, r.persistent, r.max_participants, 0,
                       r.created_ms, r.metadata_json.empty() ? "{}" : r.metadata_json};
    l.last_offset = r.last_offset;
    l.empty_since = now;
    by_name_key_[protocol::name_key(r.name)] = r.id;
    lobbies_.emplace(r.id, std::move(l));
  }
  for (const auto& m : snap.chat) {
    auto it = lobbies_.find(m.lobby_id);
    if (it == lobbies_.end()) continue;
    it->second.history.push_back(m);
    it->second.last_offset = std::max(it->second.last_offset, m.offset);
    if (it->second.history.size() > limits_.chat_history) it->second.history.pop_front();
  }
  // Members come back in join order (join_seq; peer id only breaks ties between sessions
  // stored before schema 5, which all have 0), whatever order the store lists them in.
  const auto joined = sorted_view(snap.sessions, [](const auto* a, const auto* b) {
    return a->join_seq != b->join_seq ? a->join_seq < b->join_seq : a->peer_id < b->peer_id;
  });
  for (const auto* rec : joined) {
    const store::SessionRecord& s = *rec;
    auto it = lobbies_.find(s.lobby_id);
    if (s.lobby_id.empty() || it == lobbies_.end()) continue;
    Participant p;
    p.peer_id = s.peer_id;
    p.name = s.name;
    p.is_bot = s.is_bot;
    p.connected = false;
    p.user_id = s.user_id;
    p.roles = s.roles;
    if (!s.metadata_json.empty()) p.metadata_json = s.metadata_json;
    it->second.members.push_back(Member{p, now});
    it->second.info.participant_count = static_cast<std::uint32_t>(it->second.members.size());
    it->second.empty_since = 0;
  }
}

std::variant<Lobby*, Error> LobbyManager::create(const CreateParams& params) {
  const std::string key = protocol::name_key(params.name);
  if (by_name_key_.count(key)) return make_error(ErrorCode::lobby_exists, "A lobby with that name exists.");
  if (!params.creator.empty() &&
      count_of(by_creator_, params.creator) >= limits_.max_lobbies_per_session)
    return make_error(ErrorCode::lobby_quota,
                      "This session created " + std::to_string(limits_.max_lobbies_per_session) +
                          " lobbies that still exist, as many as a session may; join one, or "
                          "wait until one of them closes.");
  if (!params.address.empty() &&
      count_of(by_address_, params.address) >= limits_.max_lobbies_per_address)
    return make_error(ErrorCode::lobby_quota,
                      std::to_string(limits_.max_lobbies_per_address) +
                          " lobbies created from your address still exist, as many as one "
                          "address may; join one, or wait until one of them closes.");
  if (lobbies_.size() >= limits_.max_lobbies)
    return make_error(ErrorCode::too_many_lobbies, "The server holds as many lobbies as it allows.");
  LobbyId id;
  do id = random_hex(kLobbyIdBytes);
  while (lobbies_.count(id));
  Lobby l;
  const TimeMs now = clock_.now_ms();
  std::uint32_t max = params.max_participants ? params.max_participants : limits_.max_participants;
  l.info = LobbyInfo{id, params.name, params.is_private, params.persistent,
                     std::min(max, limits_.max_participants), 0, now};
  l.empty_since = clock_.steady_ms();
  l.order = next_order_++;
  l.creator = params.creator;
  l.creator_address = params.address;
  Lobby& stored = lobbies_.emplace(id, std::move(l)).first->second;
  by_name_key_[key] = id;
  if (!stored.creator.empty()) ++by_creator_[stored.creator];
  if (!stored.creator_address.empty()) ++by_address_[stored.creator_address];
  persist(stored);
  bus_.publish(event::LobbyCreated{stored.info});
  return &stored;
}

Lobby* LobbyManager::find(const LobbyId& id) {
  auto it = lobbies_.find(id);
  return it == lobbies_.end() ? nullptr : &it->second;
}

Lobby* LobbyManager::find_public_by_name(const std::string& name) {
  auto it = by_name_key_.find(protocol::name_key(name));
  if (it == by_name_key_.end()) return nullptr;
  Lobby* l = find(it->second);
  return l && !l->info.is_private ? l : nullptr;
}

std::vector<LobbyInfo> LobbyManager::list(bool include_private) const {
  std::vector<const Lobby*> listed;
  for (const auto& [id, l] : lobbies_)
    if (include_private || !l.info.is_private) listed.push_back(&l);
  std::sort(listed.begin(), listed.end(),
            [](const Lobby* a, const Lobby* b) { return a->order < b->order; });
  std::vector<LobbyInfo> out;
  out.reserve(listed.size());
  for (const Lobby* l : listed) out.push_back(l->info);
  return out;
}

std::optional<Error> LobbyManager::join(Lobby& lobby, const Participant& p) {
  if (lobby.members.size() >= lobby.info.max_participants)
    return make_error(ErrorCode::lobby_full, "The lobby is full.");
  lobby.members.push_back(Member{p, 0});
  lobby.info.participant_count = static_cast<std::uint32_t>(lobby.members.size());
  lobby.empty_since = 0;
  bus_.publish(event::ParticipantJoined{lobby.info.id, p});
  return std::nullopt;
}

void LobbyManager::leave(const LobbyId& lobby_id, const PeerId& peer,
                         const std::string& reason) {
  Lobby* l = find(lobby_id);
  if (!l) return;
  auto it = std::find_if(l->members.begin(), l->members.end(),
                         [&](const Member& m) { return m.p.peer_id == peer; });
  if (it == l->members.end()) return;
  // peer may refer to the member erased below.
  event::ParticipantLeft left{lobby_id, peer, reason, it->p.has_media};
  l->members.erase(it);
  l->info.participant_count = static_cast<std::uint32_t>(l->members.size());
  if (l->members.empty()) l->empty_since = clock_.steady_ms();
  bus_.publish(left);
}

void LobbyManager::update(const LobbyId& lobby_id, const Participant& p) {
  Lobby* l = find(lobby_id);
  Member* m = l ? l->member(p.peer_id) : nullptr;
  if (!m) return;
  const Participant& o = m->p;
  if (o.name == p.name && o.has_media == p.has_media && o.audio_muted == p.audio_muted &&
      o.video_muted == p.video_muted && o.screen_sharing == p.screen_sharing && o.is_bot == p.is_bot && o.connected == p.connected &&
      o.metadata_json == p.metadata_json)
    return;
  m->p = p;
  bus_.publish(event::ParticipantUpdated{lobby_id, p});
}

void LobbyManager::set_connected(const LobbyId& lobby_id, const PeerId& peer, bool connected) {
  Lobby* l = find(lobby_id);
  Member* m = l ? l->member(peer) : nullptr;
  if (!m) return;
  m->disconnected_ms = connected ? 0 : clock_.steady_ms();
  Participant p = m->p;
  p.connected = connected;
  update(lobby_id, p);
}

ChatMessage LobbyManager::post_chat(Lobby& lobby, const PeerId& sender,
                                    const std::string& sender_name, std::string text) {
  ChatMessage m{lobby.info.id, ++lobby.last_offset, sender, sender_name, std::move(text),
                clock_.now_ms(), sender.empty()};
  // The lobby record's last_offset is not rewritten per message: load() takes the newest
  // stored message's offset, which retention never drops, unless it keeps no message at all.
  store_.append_chat(m, limits_.chat_history);
  if (limits_.chat_history == 0) persist(lobby);
  lobby.history.push_back(m);
  if (lobby.history.size() > limits_.chat_history) lobby.history.pop_front();
  bus_.publish(event::ChatPosted{m});
  return m;
}

LobbyManager::Page LobbyManager::history(const Lobby& lobby, std::uint64_t after,
                                         std::uint32_t limit, std::size_t max_bytes) const {
  Page page;
  // Offsets are dense (1, 2, 3, ...), so everything after `after` is still here exactly
  // when the oldest kept message is at most after + 1.
  const std::uint64_t oldest = lobby.history.empty() ? lobby.last_offset + 1
                                                     : lobby.history.front().offset;
  page.complete = after >= lobby.last_offset || oldest <= after + 1;
  auto it = std::lower_bound(lobby.history.begin(), lobby.history.end(), after + 1,
                             [](const ChatMessage& m, std::uint64_t off) { return m.offset < off; });
  std::size_t bytes = 0;
  for (; it != lobby.history.end(); ++it) {
    bytes += protocol::json_size(*it);
    if (page.messages.size() == limit || (bytes > max_bytes && !page.messages.empty())) {
      page.has_more = true;
      break;
    }
    page.messages.push_back(&*it);
  }
  return page;
}

LobbyManager::Page LobbyManager::recent(const Lobby& lobby, std::uint32_t limit,
                                        std::size_t max_bytes) const {
  Page page;
  std::size_t bytes = 0;
  auto it = lobby.history.rbegin();
  for (; it != lobby.history.rend(); ++it) {
    bytes += protocol::json_size(*it);
    if (page.messages.size() == limit || (bytes > max_bytes && !page.messages.empty())) break;
    page.messages.push_back(&*it);
  }
  std::reverse(page.messages.begin(), page.messages.end());
  const std::uint64_t first = page.messages.empty() ? lobby.last_offset + 1
                                                    : page.messages.front()->offset;
  page.complete = first <= 1;  // offsets start at 1: nothing older exists
  return page;
}

void LobbyManager::remove(const LobbyId& lobby_id, const std::string& reason) {
  Lobby* l = find(lobby_id);
  if (!l) return;
  const LobbyId id = lobby_id;  // lobby_id may refer to the lobby erased below
  std::vector<PeerId> peers;
  for (const auto& m : l->members) peers.push_back(m.p.peer_id);
  for (const auto& peer : peers) leave(id, peer, "lobby_removed");
  by_name_key_.erase(protocol::name_key(l->info.name));
  uncount(by_creator_, l->creator);
  uncount(by_address_, l->creator_address);
  lobbies_.erase(id);
  store_.delete_lobby(id);
  bus_.publish(event::LobbyRemoved{id, reason});
}

std::optional<Error> LobbyManager::update_settings(Lobby& lobby, const LobbyUpdate& u) {
  LobbyInfo info = lobby.info;
  if (u.name) info.name = *u.name;
  if (u.is_private) info.is_private = *u.is_private;
  if (u.persistent) info.persistent = *u.persistent;
  if (u.max_participants) info.max_participants = std::min(*u.max_participants, limits_.max_participants);
  if (u.metadata_json) info.metadata_json = *u.metadata_json;
  const std::string old_key = protocol::name_key(lobby.info.name);
  const std::string new_key = protocol::name_key(info.name);
  if (new_key != old_key && by_name_key_.count(new_key))
    return make_error(ErrorCode::lobby_exists, "A lobby with that name exists.");
  if (info.name == lobby.info.name && info.is_private == lobby.info.is_private &&
      info.persistent == lobby.info.persistent &&
      info.max_participants == lobby.info.max_participants &&
      info.metadata_json == lobby.info.metadata_json)
    return std::nullopt;
  if (new_key != old_key) {
    by_name_key_.erase(old_key);
    by_name_key_[new_key] = info.id;
  }
  // An empty lobby that stops being persistent gets a whole expiry period from now.
  if (lobby.info.persistent && !info.persistent && lobby.members.empty())
    lobby.empty_since = clock_.steady_ms();
  lobby.info = info;
  persist(lobby);
  bus_.publish(event::LobbyUpdated{lobby.info});
  return std::nullopt;
}

void LobbyManager::tick() {
  const TimeMs now = clock_.steady_ms();
  std::vector<std::pair<LobbyId, PeerId>> graces;
  std::vector<LobbyId> expired;
  for (const auto& [id, l] : lobbies_) {
    for (const auto& m : l.members)
      if (!m.p.connected && now - m.disconnected_ms >= limits_.resume_grace_ms)
        graces.emplace_back(id, m.p.peer_id);
    if (l.members.empty() && !l.info.persistent && now - l.empty_since >= limits_.lobby_expiry_ms)
      expired.push_back(id);
  }
  for (const auto& [lobby, peer] : graces) leave(lobby, peer, "grace_expired");
  for (const auto& id : expired) remove(id, "expired");
}

std::size_t LobbyManager::created_by(const PeerId& creator) const {
  return count_of(by_creator_, creator);
}

std::size_t LobbyManager::created_from(const std::string& address) const {
  return count_of(by_address_, address);
}

std::size_t LobbyManager::participant_count() const {
  std::size_t n = 0;
  for (const auto& [id, l] : lobbies_) n += l.members.size();
  return n;
}

}  // namespace lobbykit::core
