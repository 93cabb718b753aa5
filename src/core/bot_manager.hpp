// BotManager: bot providers, dispatches and their jobs (docs/bots.md). No sockets, no
// threads: the router feeds it what providers and bot sessions do and the clock's ticks, and
// it answers through BotActions (messages to providers, bot sessions to remove) and events on
// the bus. A dispatch is durable (Store); a job is one attempt to serve it, kept in memory.
//
// The rules, in one place:
// - A dispatch has at most one job. A job is offered to one provider at a time: the
//   accepting, not draining, connected provider that offers the kind, has a free job slot
//   and did not decline this dispatch lately, with the lowest max(load, jobs / max_jobs).
// - A failed job (offer_timeout, join_timeout, provider_lost, bot_left, failed) costs an
//   attempt; at bot_max_attempts the dispatch is "failed". A decline costs none. A job that
//   ran kStableJobMs before it failed starts the count anew.
// - A dispatch without a job is "waiting" and is placed again when a provider registers,
//   reports, or frees a slot, and at least every bot_retry_ms.
// - A provider whose connection ends keeps its jobs for bot_reclaim_ms: resuming (its id and
//   token) in time keeps them; after it they fail with provider_lost.
#pragma once

#include <lobbykit/options.hpp>

#include "core/clock.hpp"
#include "core/event_bus.hpp"
#include "protocol/error_code.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace lobbykit::core {

enum class JobState { offered, assigned, joined };

// A joined job that ran this long before it failed does not add to its dispatch's earlier
// failed attempts: the count starts again from this failure.
constexpr TimeMs kStableJobMs = 60'000;
enum class DispatchState { waiting, starting, running, failed };
std::string_view to_string(JobState s);
std::string_view to_string(DispatchState s);

struct BotKind {
  std::string kind;
  std::string description;
};

struct BotJob {
  std::string id;
  std::string provider_id;
  JobState state = JobState::offered;
  std::uint32_t attempt = 1;     // which attempt of its dispatch (from 1)
  TimeMs since_ms = 0;           // when it entered its state (wall clock: shown)
  TimeMs entered_ms = 0;         // the same moment on the steady clock
  TimeMs deadline_ms = 0;        // steady; offered: the answer's; assigned: the join's
  std::string credential_hash;   // assigned and not yet used: SHA-256 of the credential
  PeerId bot_peer;               // the bot's session, once it authenticated
};

struct Dispatch {
  std::string id;
  LobbyId lobby_id;
  std::string kind;
  std::string key;
  std::string metadata_json = "{}";
  TimeMs created_ms = 0;
  DispatchState state = DispatchState::waiting;
  std::string reason;            // why waiting or failed
  std::uint32_t attempts = 0;    // failed attempts
  std::optional<BotJob> job;
  std::set<std::string> declined;  // providers not to ask again until the next retry round
  TimeMs retry_at = 0;           // waiting: when to try again at the latest (steady)
  PeerId last_bot;               // the bot session of the last job (persisted)
  bool removing = false;         // being removed: never placed again
  std::uint64_t order = 0;       // creation order
};

struct BotProviderState {
  std::string id;
  std::string token_hash;
  std::string name;
  std::string version;
  std::vector<BotKind> kinds;
  std::uint32_t max_jobs = 1;
  double load = 0;
  bool accepting = true;   // its own say (provider_status)
  bool draining = false;   // provider_drain or an admin's drain: no offers any more
  bool connected = true;
  TimeMs connected_ms = 0;  // wall clock: shown
  TimeMs last_seen_ms = 0;  // steady
  TimeMs lost_ms = 0;       // steady: when its connection ended (connected == false)
  std::set<std::string> jobs;  // ids of the jobs it holds (offered, assigned, joined)

  bool offers(std::string_view kind) const;
  // Whether it gets offers now: connected, accepting, not draining, below max_jobs.
  bool has_room() const;
  bool can_take(std::string_view kind) const;
};

// What the BotManager needs done outside the core. Called on the loop thread, never during
// another BotManager call's state change (after it, in order).
class BotActions {
 public:
  virtual ~BotActions() = default;
  virtual void offer(const BotProviderState& provider, const Dispatch& d, const BotJob& job) = 0;
  virtual void cancel(const std::string& provider_id, const std::string& job_id,
                      std::string_view reason) = 0;
  virtual void drain(const std::string& provider_id) = 0;
  // The provider fell silent: close its connection (4008).
  virtual void close_provider(const std::string& provider_id) = 0;
  // A bot's session must leave its lobby and end (reason for the participant_left).
  virtual void remove_bot(const PeerId& bot, std::string_view reason) = 0;
};

class BotManager {
 public:
  BotManager(const Limits& limits, Clock& clock, store::Store& store, EventBus& bus);
  void set_actions(BotActions* actions) { actions_ = actions; }
  // Provider keys: each a key or "sha256:HEX". Only hashes are kept.
  void set_keys(const std::vector<std::string>& keys);

  // Restores dispatches (all waiting). Returns the bot sessions of their last jobs: the
  // router removes them, a restart ended their jobs.
  std::vector<PeerId> load(const std::vector<store::DispatchRecord>& records);

  // --- providers -------------------------------------------------------------------------
  struct Hello {
    std::string key;
    std::string name;
    std::string version;
    std::vector<BotKind> kinds;
    std::uint32_t max_jobs = 1;
    std::string resume_id;     // "" for a fresh start
    std::string resume_token;
  };
  struct Registered {
    BotProviderState* provider;
    std::string token;   // the secret to resume with
    bool resumed = false;
    bool was_connected = false;  // resumed over a connection that is still open: close it
  };
  // Errors: unauthorized, too_many_providers. Publishes BotProviderConnected. Makes no
  // offers: call status() once the provider can be reached.
  std::variant<Registered, protocol::Error> hello(const Hello& h);
  // Its connection ended ("closed") or the router closed it for silence ("silent").
  void disconnected(const std::string& provider_id, std::string_view reason);
  void seen(const std::string& provider_id);  // any message from it
  // provider_status. Listed jobs it does not hold get cancel(unknown_job).
  void status(const std::string& provider_id, double load, const std::vector<std::string>& jobs,
              bool accepting);
  struct Accepted {
    std::string job_id;
    std::string credential;
    LobbyId lobby_id;
    std::string bot_name;
  };
  std::variant<Accepted, protocol::Error> accept(const std::string& provider_id,
                                                 const std::string& job_id);
  std::optional<protocol::Error> decline(const std::string& provider_id, const std::string& job_id);
  std::optional<protocol::Error> end_job(const std::string& provider_id, const std::string& job_id,
                                         const std::string& reason, bool retry);
  // No more offers to it. by_admin: it is also told (drain push). False: unknown provider.
  bool drain(const std::string& provider_id, bool by_admin);

  // --- dispatches ------------------------------------------------------------------------
  struct Added {
    Dispatch* dispatch;
    bool created;  // false: the lobby already had that key (a failed one is restarted)
  };
  // The lobby must exist (the router checks). key "" means the kind. Errors: unknown_kind,
  // bot_quota, too_many_dispatches.
  std::variant<Added, protocol::Error> add(const LobbyId& lobby_id, const std::string& kind,
                                           std::string key, std::string metadata_json);
  // False when there is no such dispatch. Publishes BotDispatchRemoved.
  bool remove(std::string dispatch_id, const std::string& reason);  // a copy: may outlive it
  void remove_lobby(const LobbyId& lobby_id, const std::string& reason);
  Dispatch* find(const std::string& dispatch_id);
  Dispatch* find(const LobbyId& lobby_id, const std::string& key);
  std::vector<const Dispatch*> in_lobby(const LobbyId& lobby_id) const;
  std::vector<const Dispatch*> dispatches() const;  // oldest first
  bool lobby_has_dispatches(const LobbyId& lobby_id) const;
  std::vector<LobbyId> lobbies() const;  // lobbies with dispatches

  // --- bot sessions ----------------------------------------------------------------------
  // The dispatch an unused, unexpired credential belongs to, or nullptr.
  Dispatch* credential(const std::string& credential);
  // The credential's session exists now: the credential is used up.
  void bot_authenticated(Dispatch& d, const PeerId& bot);
  // The dispatch whose job's bot this session is, or nullptr.
  Dispatch* of_bot(const PeerId& bot);
  // The bot joined its dispatch's lobby: the job is joined.
  void bot_joined(const PeerId& bot);
  // The bot's session left its lobby or ended: its job failed (bot_left).
  void bot_gone(const PeerId& bot);

  // Deadlines: offers, joins, provider silence and reclaim, waiting retries.
  void tick();

  struct KindInfo {
    std::string kind;
    std::string description;
    bool available;  // a provider could take one now
  };
  std::vector<KindInfo> kinds() const;
  bool kind_known(std::string_view kind) const;
  std::vector<const BotProviderState*> providers() const;  // by connection time
  const BotProviderState* provider(const std::string& id) const;
  std::size_t count() const { return dispatches_.size(); }

  BotDispatch view(const Dispatch& d) const;

 private:
  BotProviderState* find_provider(const std::string& id);
  BotJob* job_of(const std::string& provider_id, const std::string& job_id, Dispatch** d);
  // Gives the dispatch a job on the best provider, or makes it wait (with its reason).
  // job_reason: why the previous job ended, for the event ("" when none did).
  void place(Dispatch& d, const std::string& job_reason = {});
  void place_waiting();
  // Ends the dispatch's job. failure: it costs an attempt and the dispatch is placed again
  // (or fails). tell_provider: the provider gets job_cancel(reason).
  void end(Dispatch& d, const std::string& reason, bool failure, bool tell_provider);
  void updated(const Dispatch& d, const std::string& job_reason = {});
  // The job enters `state` now; its deadline comes timeout_ms later (0: none).
  void enter(BotJob& job, JobState state, std::uint32_t timeout_ms) const;
  void persist(const Dispatch& d);
  void erase(std::string dispatch_id, const std::string& reason);

  const Limits& limits_;
  Clock& clock_;
  store::Store& store_;
  EventBus& bus_;
  BotActions* actions_ = nullptr;
  std::vector<std::string> key_hashes_;
  std::map<std::string, Dispatch> dispatches_;              // by id
  std::map<std::pair<LobbyId, std::string>, std::string> by_key_;  // (lobby, key) -> id
  std::unordered_map<std::string, std::string> by_job_;     // job id -> dispatch id
  std::unordered_map<std::string, std::string> by_credential_;  // hash -> dispatch id
  std::unordered_map<PeerId, std::string> by_bot_;          // bot session -> dispatch id
  std::map<std::string, BotProviderState> providers_;      // by id
  std::uint64_t next_order_ = 1;
};

}  // namespace lobbykit::core
