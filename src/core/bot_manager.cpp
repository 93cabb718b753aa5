#include "core/bot_manager.hpp"

#include "core/crypto.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

namespace lobbykit::core {

using protocol::Error;
using protocol::ErrorCode;
using protocol::make_error;

std::string_view to_string(JobState s) {
  switch (s) {
    case JobState::offered: return "offered";
    case JobState::assigned: return "assigned";
    case JobState::joined: return "joined";
  }
  return "offered";
}

std::string_view to_string(DispatchState s) {
  switch (s) {
    case DispatchState::waiting: return "waiting";
    case DispatchState::starting: return "starting";
    case DispatchState::running: return "running";
    case DispatchState::failed: return "failed";
  }
  return "waiting";
}

bool BotProviderState::offers(std::string_view kind) const {
  return std::any_of(kinds.begin(), kinds.end(), [&](const BotKind& k) { return k.kind == kind; });
}

bool BotProviderState::has_room() const {
  return connected && accepting && !draining && jobs.size() < max_jobs;
}

bool BotProviderState::can_take(std::string_view kind) const { return has_room() && offers(kind); }

namespace {

constexpr std::string_view kHashPrefix = "sha256:";

double busyness(const BotProviderState& p) {
  const double share = static_cast<double>(p.jobs.size()) / static_cast<double>(p.max_jobs);
  return std::max(p.load, share);
}

}  // namespace

BotManager::BotManager(const Limits& limits, Clock& clock, store::Store& store, EventBus& bus)
    : limits_(limits), clock_(clock), store_(store), bus_(bus) {}

void BotManager::set_keys(const std::vector<std::string>& keys) {
  key_hashes_.clear();
  for (const auto& k : keys) {
    if (k.empty()) continue;
    if (k.compare(0, kHashPrefix.size(), kHashPrefix) == 0) {
      std::string hex = k.substr(kHashPrefix.size());
      std::transform(hex.begin(), hex.end(), hex.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      key_hashes_.push_back(std::move(hex));
    } else {
      key_hashes_.push_back(sha256_hex(k));
    }
  }
}

std::vector<PeerId> BotManager::load(const std::vector<store::DispatchRecord>& records) {
  std::vector<PeerId> stale;
  const TimeMs now = clock_.steady_ms();
  for (const auto& r : records) {
    Dispatch d;
    d.id = r.id;
    d.lobby_id = r.lobby_id;
    d.kind = r.kind;
    d.key = r.key;
    d.metadata_json = r.metadata_json.empty() ? "{}" : r.metadata_json;
    d.created_ms = r.created_ms;
    d.state = DispatchState::waiting;
    d.reason = "no_provider";
    d.retry_at = now + limits_.bot_retry_ms;
    d.order = next_order_++;
    if (!r.bot_peer.empty()) stale.push_back(r.bot_peer);
    by_key_[{d.lobby_id, d.key}] = d.id;
    dispatches_.emplace(d.id, std::move(d));
  }
  return stale;
}

// --- providers ---------------------------------------------------------------------------

BotProviderState* BotManager::find_provider(const std::string& id) {
  auto it = providers_.find(id);
  return it == providers_.end() ? nullptr : &it->second;
}

const BotProviderState* BotManager::provider(const std::string& id) const {
  auto it = providers_.find(id);
  return it == providers_.end() ? nullptr : &it->second;
}

std::variant<BotManager::Registered, Error> BotManager::hello(const Hello& h) {
  const std::string hash = sha256_hex(h.key);
  bool known = false;
  for (const auto& k : key_hashes_) known = constant_time_equal(k, hash) || known;
  if (!known) return make_error(ErrorCode::unauthorized, "That provider key is not accepted.");
  const TimeMs now = clock_.now_ms();
  Registered out{nullptr, {}, false, false};
  BotProviderState* p = nullptr;
  if (!h.resume_id.empty()) {
    p = find_provider(h.resume_id);
    if (p && constant_time_equal(p->token_hash, sha256_hex(h.resume_token))) {
      out.resumed = true;
      out.was_connected = p->connected;
      out.token = h.resume_token;
    } else {
      p = nullptr;
    }
  }
  if (!p) {
    std::size_t connected = 0;
    for (const auto& [id, other] : providers_) connected += other.connected ? 1 : 0;
    if (connected >= limits_.max_providers)
      return make_error(ErrorCode::too_many_providers,
                        "The server has as many bot providers as it allows.");
    out.token = random_hex(16);
    const std::string id = "p-" + random_hex(8);
    p = &providers_[id];
    p->id = id;
    p->token_hash = sha256_hex(out.token);
  }
  p->name = h.name;
  p->version = h.version;
  p->kinds = h.kinds;
  p->max_jobs = std::max<std::uint32_t>(1, h.max_jobs);
  p->connected = true;
  p->accepting = true;
  p->draining = false;
  p->connected_ms = now;
  p->last_seen_ms = clock_.steady_ms();
  p->lost_ms = 0;
  out.provider = p;
  std::string kinds;
  for (const auto& k : p->kinds) kinds += (kinds.empty() ? "" : ",") + k.kind;
  bus_.publish(event::BotProviderConnected{p->id, p->name, kinds, out.resumed});
  // No offers yet: the router must know the provider's connection first; its status() call
  // (or the next tick) places what waits.
  return out;
}

void BotManager::disconnected(const std::string& provider_id, std::string_view reason) {
  BotProviderState* p = find_provider(provider_id);
  if (!p || !p->connected) return;
  p->connected = false;
  p->lost_ms = clock_.steady_ms();
  // Offers it can no longer answer go to the next provider at once; jobs it runs wait for it.
  std::vector<std::string> offered;
  for (const auto& job_id : p->jobs) {
    Dispatch* d = find(by_job_[job_id]);
    if (d && d->job && d->job->state == JobState::offered) offered.push_back(d->id);
  }
  bus_.publish(event::BotProviderDisconnected{p->id, std::string(reason)});
  for (const auto& id : offered)
    if (Dispatch* d = find(id)) {
      d->declined.insert(provider_id);
      end(*d, "offer_timeout", true, false);
    }
}

void BotManager::seen(const std::string& provider_id) {
  if (BotProviderState* p = find_provider(provider_id)) p->last_seen_ms = clock_.steady_ms();
}

void BotManager::status(const std::string& provider_id, double load,
                        const std::vector<std::string>& jobs, bool accepting) {
  BotProviderState* p = find_provider(provider_id);
  if (!p) return;
  p->load = std::clamp(load, 0.0, 1.0);
  const bool opened = accepting && !p->accepting;
  p->accepting = accepting;
  for (const auto& job_id : jobs)
    if (!p->jobs.count(job_id) && actions_) actions_->cancel(p->id, job_id, "unknown_job");
  if (opened || p->has_room()) place_waiting();
}

BotJob* BotManager::job_of(const std::string& provider_id, const std::string& job_id,
                           Dispatch** out) {
  auto it = by_job_.find(job_id);
  if (it == by_job_.end()) return nullptr;
  Dispatch* d = find(it->second);
  if (!d || !d->job || d->job->id != job_id || d->job->provider_id != provider_id) return nullptr;
  *out = d;
  return &*d->job;
}

std::variant<BotManager::Accepted, Error> BotManager::accept(const std::string& provider_id,
                                                             const std::string& job_id) {
  Dispatch* d = nullptr;
  BotJob* job = job_of(provider_id, job_id, &d);
  if (!job || job->state != JobState::offered)
    return make_error(ErrorCode::job_not_found, "That job is not offered to this provider.");
  const std::string credential = random_hex(16);
  enter(*job, JobState::assigned, limits_.bot_join_timeout_ms);
  job->credential_hash = sha256_hex(credential);
  by_credential_[job->credential_hash] = d->id;
  d->declined.clear();
  updated(*d);
  return Accepted{job_id, credential, d->lobby_id, d->kind};
}

std::optional<Error> BotManager::decline(const std::string& provider_id, const std::string& job_id) {
  Dispatch* d = nullptr;
  BotJob* job = job_of(provider_id, job_id, &d);
  if (!job || job->state != JobState::offered)
    return make_error(ErrorCode::job_not_found, "That job is not offered to this provider.");
  d->declined.insert(provider_id);
  end(*d, "declined", false, false);
  return std::nullopt;
}

std::optional<Error> BotManager::end_job(const std::string& provider_id, const std::string& job_id,
                                         const std::string& reason, bool retry) {
  Dispatch* d = nullptr;
  BotJob* job = job_of(provider_id, job_id, &d);
  if (!job) return make_error(ErrorCode::job_not_found, "This provider holds no such job.");
  (void)reason;  // the provider's words are for its own logs; the protocol's reasons are fixed
  if (retry) {
    end(*d, "failed", true, false);
  } else {
    const std::string id = d->id;
    d->removing = true;
    end(*d, "ended", false, false);
    erase(id, "ended_by_bot");
  }
  return std::nullopt;
}

bool BotManager::drain(const std::string& provider_id, bool by_admin) {
  BotProviderState* p = find_provider(provider_id);
  if (!p) return false;
  p->draining = true;
  if (by_admin && p->connected && actions_) actions_->drain(p->id);
  return true;
}

std::vector<const BotProviderState*> BotManager::providers() const {
  std::vector<const BotProviderState*> out;
  for (const auto& [id, p] : providers_) out.push_back(&p);
  std::sort(out.begin(), out.end(), [](const BotProviderState* a, const BotProviderState* b) {
    return a->connected_ms != b->connected_ms ? a->connected_ms < b->connected_ms : a->id < b->id;
  });
  return out;
}

std::vector<BotManager::KindInfo> BotManager::kinds() const {
  std::map<std::string, KindInfo> by_kind;
  for (const auto& [id, p] : providers_) {
    for (const auto& k : p.kinds) {
      // The first provider's description, or the first one that has any.
      auto [it, fresh] = by_kind.try_emplace(k.kind, KindInfo{k.kind, k.description, false});
      if (!fresh && it->second.description.empty()) it->second.description = k.description;
      if (p.can_take(k.kind)) it->second.available = true;
    }
  }
  std::vector<KindInfo> out;
  for (auto& [k, info] : by_kind) out.push_back(std::move(info));
  return out;
}

bool BotManager::kind_known(std::string_view kind) const {
  return std::any_of(providers_.begin(), providers_.end(),
                     [&](const auto& entry) { return entry.second.offers(kind); });
}

// --- dispatches --------------------------------------------------------------------------

Dispatch* BotManager::find(const std::string& dispatch_id) {
  auto it = dispatches_.find(dispatch_id);
  return it == dispatches_.end() ? nullptr : &it->second;
}

Dispatch* BotManager::find(const LobbyId& lobby_id, const std::string& key) {
  auto it = by_key_.find({lobby_id, key});
  return it == by_key_.end() ? nullptr : find(it->second);
}

std::variant<BotManager::Added, Error> BotManager::add(const LobbyId& lobby_id,
                                                       const std::string& kind, std::string key,
                                                       std::string metadata_json) {
  if (key.empty()) key = kind;
  if (Dispatch* d = find(lobby_id, key)) {
    if (d->state == DispatchState::failed) {
      d->state = DispatchState::waiting;
      d->attempts = 0;
      d->reason.clear();
      d->declined.clear();
      place(*d);
    }
    return Added{d, false};
  }
  if (!kind_known(kind))
    return make_error(ErrorCode::unknown_kind,
                      "No bot provider offers the kind \"" + kind + "\".");
  if (in_lobby(lobby_id).size() >= limits_.max_bots_per_lobby)
    return make_error(ErrorCode::bot_quota, "This lobby has as many bots as it may have (" +
                                                std::to_string(limits_.max_bots_per_lobby) + ").");
  if (dispatches_.size() >= limits_.max_dispatches)
    return make_error(ErrorCode::too_many_dispatches,
                      "The server has as many bot dispatches as it allows.");
  Dispatch d;
  d.id = "d-" + random_hex(8);
  d.lobby_id = lobby_id;
  d.kind = kind;
  d.key = std::move(key);
  d.metadata_json = metadata_json.empty() ? "{}" : std::move(metadata_json);
  d.created_ms = clock_.now_ms();
  d.order = next_order_++;
  by_key_[{d.lobby_id, d.key}] = d.id;
  Dispatch& stored = dispatches_.emplace(d.id, std::move(d)).first->second;
  persist(stored);
  place(stored);
  return Added{&stored, true};
}

bool BotManager::remove(std::string dispatch_id, const std::string& reason) {
  Dispatch* d = find(dispatch_id);
  if (!d) return false;
  d->removing = true;
  if (d->job) end(*d, "removed", false, true);
  erase(dispatch_id, reason);
  return true;
}

void BotManager::remove_lobby(const LobbyId& lobby_id, const std::string& reason) {
  std::vector<std::string> ids;
  for (const Dispatch* d : in_lobby(lobby_id)) ids.push_back(d->id);
  for (const std::string& id : ids) {
    if (Dispatch* live = find(id)) {
      live->removing = true;
      if (live->job) end(*live, reason, false, true);
    }
    erase(id, reason);
  }
}

void BotManager::erase(std::string dispatch_id, const std::string& reason) {
  auto it = dispatches_.find(dispatch_id);
  if (it == dispatches_.end()) return;
  const LobbyId lobby_id = it->second.lobby_id;
  by_key_.erase({lobby_id, it->second.key});
  dispatches_.erase(it);
  store_.delete_dispatch(dispatch_id);
  bus_.publish(event::BotDispatchRemoved{dispatch_id, lobby_id, reason});
}

std::vector<const Dispatch*> BotManager::in_lobby(const LobbyId& lobby_id) const {
  std::vector<const Dispatch*> out;
  for (auto it = by_key_.lower_bound({lobby_id, std::string()});
       it != by_key_.end() && it->first.first == lobby_id; ++it)
    out.push_back(&dispatches_.at(it->second));
  std::sort(out.begin(), out.end(),
            [](const Dispatch* a, const Dispatch* b) { return a->order < b->order; });
  return out;
}

std::vector<const Dispatch*> BotManager::dispatches() const {
  std::vector<const Dispatch*> out;
  for (const auto& [id, d] : dispatches_) out.push_back(&d);
  std::sort(out.begin(), out.end(),
            [](const Dispatch* a, const Dispatch* b) { return a->order < b->order; });
  return out;
}

bool BotManager::lobby_has_dispatches(const LobbyId& lobby_id) const {
  auto it = by_key_.lower_bound({lobby_id, std::string()});
  return it != by_key_.end() && it->first.first == lobby_id;
}

std::vector<LobbyId> BotManager::lobbies() const {
  std::vector<LobbyId> out;
  for (const auto& [key, id] : by_key_)
    if (out.empty() || out.back() != key.first) out.push_back(key.first);
  return out;
}

void BotManager::place(Dispatch& d, const std::string& job_reason) {
  if (d.job || d.removing || d.state == DispatchState::failed) return;
  BotProviderState* best = nullptr;
  bool any_offers = false;
  bool any_declined = false;
  for (auto& [id, p] : providers_) {
    if (!p.offers(d.kind)) continue;
    any_offers = true;
    if (!p.can_take(d.kind)) continue;
    if (d.declined.count(id)) {
      any_declined = true;
      continue;
    }
    if (!best || busyness(p) < busyness(*best)) best = &p;
  }
  if (!best) {
    const std::string reason = !any_offers ? "no_provider" : any_declined ? "declined" : "no_capacity";
    const bool changed = d.state != DispatchState::waiting || d.reason != reason;
    // The retry clock starts when the dispatch begins waiting (new, or back from a job: no
    // reason yet); tick() winds it again at each retry. Placing it again meanwhile leaves it
    // alone, even when the reason flips between no_capacity and declined as the decliner
    // fills and empties: otherwise provider statuses (every 5 s) and other dispatches' jobs
    // could put off for good the retry that forgets which providers declined.
    if (d.state != DispatchState::waiting || d.reason.empty())
      d.retry_at = clock_.steady_ms() + limits_.bot_retry_ms;
    d.state = DispatchState::waiting;
    d.reason = reason;
    if (changed || !job_reason.empty()) updated(d, job_reason);
    return;
  }
  BotJob job;
  job.id = "j-" + random_hex(8);
  job.provider_id = best->id;
  job.attempt = d.attempts + 1;
  enter(job, JobState::offered, limits_.bot_offer_timeout_ms);
  best->jobs.insert(job.id);
  by_job_[job.id] = d.id;
  d.job = std::move(job);
  d.state = DispatchState::starting;
  d.reason.clear();
  updated(d, job_reason);
  if (actions_) actions_->offer(*best, d, *d.job);
}

void BotManager::place_waiting() {
  std::vector<std::string> waiting;
  for (const Dispatch* d : dispatches())
    if (!d->job && d->state == DispatchState::waiting) waiting.push_back(d->id);
  for (const auto& id : waiting)
    if (Dispatch* d = find(id)) place(*d);
}

void BotManager::end(Dispatch& d, const std::string& reason, bool failure, bool tell_provider) {
  if (!d.job) return;
  const std::string dispatch_id = d.id;  // d may not outlive remove_bot below
  BotJob job = std::move(*d.job);
  d.job.reset();
  by_job_.erase(job.id);
  if (!job.credential_hash.empty()) by_credential_.erase(job.credential_hash);
  if (!job.bot_peer.empty()) by_bot_.erase(job.bot_peer);
  BotProviderState* p = find_provider(job.provider_id);
  if (p) p->jobs.erase(job.id);
  // A failure costs an attempt. A bot that ran for a while before it failed starts a fresh
  // count; one that fails right after joining does not, so a crashing bot ends "failed"
  // instead of being restarted forever.
  if (failure) {
    const bool ran = job.state == JobState::joined &&
                     clock_.steady_ms() - job.entered_ms >= kStableJobMs;
    d.attempts = ran ? 1 : d.attempts + 1;
  }
  const bool give_up = failure && d.attempts >= limits_.bot_max_attempts;
  const bool terminal = give_up || d.removing;
  if (!job.bot_peer.empty()) {
    d.last_bot.clear();
    persist(d);
  }
  // One event per transition: failed now; a removal's is BotDispatchRemoved (erase());
  // otherwise the placement's below.
  if (terminal) {
    d.state = give_up ? DispatchState::failed : DispatchState::waiting;
    d.reason = reason;
    if (give_up) updated(d, reason);
  }
  if (tell_provider && p && p->connected && actions_) actions_->cancel(p->id, job.id, reason);
  if (!job.bot_peer.empty() && actions_)
    actions_->remove_bot(job.bot_peer, d.removing ? std::string_view("left")
                                                  : std::string_view("bot_replaced"));
  // The dispatch may be gone now (remove_bot's events reach handlers that remove things).
  if (Dispatch* still = find(dispatch_id); still && !terminal) {
    still->state = DispatchState::waiting;
    still->reason.clear();
    place(*still, reason);
  }
  if (p && p->connected) place_waiting();
}

// --- bot sessions ------------------------------------------------------------------------

Dispatch* BotManager::credential(const std::string& credential) {
  auto it = by_credential_.find(sha256_hex(credential));
  if (it == by_credential_.end()) return nullptr;
  Dispatch* d = find(it->second);
  if (!d || !d->job || d->job->state != JobState::assigned || !d->job->bot_peer.empty() ||
      clock_.steady_ms() >= d->job->deadline_ms)
    return nullptr;
  return d;
}

void BotManager::bot_authenticated(Dispatch& d, const PeerId& bot) {
  if (!d.job) return;
  by_credential_.erase(d.job->credential_hash);
  d.job->credential_hash.clear();
  d.job->bot_peer = bot;
  by_bot_[bot] = d.id;
  d.last_bot = bot;
  persist(d);
}

Dispatch* BotManager::of_bot(const PeerId& bot) {
  auto it = by_bot_.find(bot);
  return it == by_bot_.end() ? nullptr : find(it->second);
}

void BotManager::bot_joined(const PeerId& bot) {
  Dispatch* d = of_bot(bot);
  if (!d || !d->job || d->job->state != JobState::assigned) return;
  enter(*d->job, JobState::joined, 0);
  d->state = DispatchState::running;
  d->reason.clear();
  updated(*d);
}

void BotManager::bot_gone(const PeerId& bot) {
  Dispatch* d = of_bot(bot);
  if (!d || !d->job) return;
  // The session is already leaving: the job forgets it so end() does not remove it again.
  by_bot_.erase(bot);
  d->job->bot_peer.clear();
  end(*d, "bot_left", true, true);
}

// --- time --------------------------------------------------------------------------------

void BotManager::tick() {
  const TimeMs now = clock_.steady_ms();
  // Silent providers: the router closes them and reports them gone.
  std::vector<std::string> silent;
  std::vector<std::string> lost;
  for (auto& [id, p] : providers_) {
    if (p.connected && now - p.last_seen_ms >= limits_.bot_silence_ms) silent.push_back(id);
    if (!p.connected && now - p.lost_ms >= limits_.bot_reclaim_ms) lost.push_back(id);
  }
  for (const auto& id : silent) {
    disconnected(id, "silent");
    if (actions_) actions_->close_provider(id);
  }
  for (const auto& id : lost) {
    BotProviderState* p = find_provider(id);
    if (!p) continue;
    std::vector<std::string> jobs(p->jobs.begin(), p->jobs.end());
    providers_.erase(id);  // before its jobs are placed again: it is no candidate
    bus_.publish(event::BotProviderDisconnected{id, "gone"});
    for (const auto& job_id : jobs) {
      auto it = by_job_.find(job_id);
      if (it == by_job_.end()) continue;
      if (Dispatch* d = find(it->second)) end(*d, "provider_lost", true, false);
    }
  }
  // Deadlines of offers and joins.
  std::vector<std::pair<std::string, std::string>> late;  // dispatch, reason
  bool retry = false;
  for (auto& [id, d] : dispatches_) {
    if (d.job) {
      if (d.job->state == JobState::offered && now >= d.job->deadline_ms)
        late.emplace_back(id, "offer_timeout");
      else if (d.job->state == JobState::assigned && now >= d.job->deadline_ms)
        late.emplace_back(id, "join_timeout");
    } else if (d.state == DispatchState::waiting && now >= d.retry_at) {
      d.declined.clear();
      d.retry_at = now + limits_.bot_retry_ms;
      retry = true;
    }
  }
  for (const auto& [id, reason] : late) {
    Dispatch* d = find(id);
    if (!d || !d->job) continue;
    if (reason == "offer_timeout") d->declined.insert(d->job->provider_id);
    end(*d, reason, true, true);
  }
  if (retry) place_waiting();
}

// --- views -------------------------------------------------------------------------------

BotDispatch BotManager::view(const Dispatch& d) const {
  BotDispatch v;
  v.dispatch_id = d.id;
  v.lobby_id = d.lobby_id;
  v.kind = d.kind;
  v.key = d.key;
  v.metadata_json = d.metadata_json;
  v.state = std::string(to_string(d.state));
  v.reason = d.reason;
  v.attempts = d.attempts;
  v.created_ms = d.created_ms;
  if (d.job) {
    v.bot_peer_id = d.job->bot_peer;
    v.job_id = d.job->id;
    v.job_state = std::string(to_string(d.job->state));
    v.provider_id = d.job->provider_id;
  }
  return v;
}

void BotManager::enter(BotJob& job, JobState state, std::uint32_t timeout_ms) const {
  job.state = state;
  job.since_ms = clock_.now_ms();
  job.entered_ms = clock_.steady_ms();
  job.deadline_ms = timeout_ms ? job.entered_ms + timeout_ms : 0;
}

void BotManager::updated(const Dispatch& d, const std::string& job_reason) {
  bus_.publish(event::BotDispatchUpdated{view(d), job_reason});
}

void BotManager::persist(const Dispatch& d) {
  store_.put_dispatch(store::DispatchRecord{d.id, d.lobby_id, d.kind, d.key, d.metadata_json,
                                            d.created_ms, d.last_bot});
}

}  // namespace lobbykit::core
