// lobbykit::BotProvider: the provider side of the bot protocol (docs/bots.md). It connects
// outward to a server, says which bot kinds it runs and how many jobs at once
// (provider_hello), reports its load as a heartbeat (provider_status), reconnects with
// exponential backoff and jitter and resumes its jobs, and hands its user the server's
// offers and cancels as events. The user answers an offer with accept() (which yields the
// credential a bot Client joins with: ClientOptions::bot_credential) or decline(), and ends
// a job with end_job().
//
// Threading: as for Client (client.hpp): one loop thread owns the state; every public call
// is safe from any thread; event handlers and callbacks run on the loop thread, must not
// block, and may call the provider, stop() and the destructor included.
#pragma once

#include <lobbykit/client.hpp>
#include <lobbykit/export.hpp>

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace lobbykit {

class Server;

// A bot kind a provider offers. kind: 1–32 of a-z 0-9 _ -; description: at most 200
// characters (the server checks both: bad_field).
struct BotKind {
  std::string kind;
  std::string description;
};

struct ProviderOptions {
  std::string url = "ws://127.0.0.1:8080/ws";  // ws:// or wss://; unused in-process
  std::string key;                             // a provider key the server knows
  std::string name;                            // a label for admins, 1–64 characters
  std::string version;                         // the provider's software version; "": none
  std::vector<BotKind> kinds;                  // 1–16
  std::uint32_t max_jobs = 1;                  // jobs it runs at once
  ReconnectPolicy reconnect;
  std::uint32_t request_timeout_ms = 10'000;  // a request without reply fails with "timeout"
  std::uint32_t connect_timeout_ms = 10'000;  // from opening a connection to the hello result
  // How often provider_status goes out; 0: what the server says in the hello result
  // (bot_status_interval_ms).
  std::uint32_t status_interval_ms = 0;
  // wss:// URLs: CAs (a PEM file) to verify the server against instead of the system's, as
  // ClientOptions::tls_ca_path.
  std::string tls_ca_path;
};

// Until the hello result says otherwise (a server that does not send status_interval_ms).
constexpr std::uint32_t kDefaultProviderStatusIntervalMs = 5'000;

// "Put a bot of kind `kind` into lobby `lobby_id`": answer with accept() or decline()
// within timeout_ms.
struct JobOffer {
  std::string job_id;
  std::string dispatch_id;
  std::string kind;
  std::string lobby_id;
  std::string lobby_name;
  std::string metadata_json = "{}";  // the dispatch's metadata, a JSON object
  std::uint32_t attempt = 1;
  std::uint32_t timeout_ms = 0;
};

// An accepted job: the bot connects as a Client with ClientOptions::bot_credential =
// credential and joins lobby_id within join_timeout_ms; the server names it bot_name.
struct JobAssignment {
  std::string job_id;
  std::string credential;
  std::string lobby_id;
  std::string bot_name;
  std::uint32_t join_timeout_ms = 0;
};

// A job the server kept for this provider across a reconnect (hello result, resumed).
struct KeptJob {
  std::string job_id;
  std::string state;  // "assigned", "joined"
  std::uint32_t attempt = 0;
};

// What the provider knows. A copy.
struct ProviderSnapshot {
  ConnectionState state = ConnectionState::disconnected;
  std::string provider_id;         // "" until the first hello result
  bool accepting = true;           // false once drained (drain(), or the server's drain)
  std::vector<std::string> jobs;   // accepted and not ended or cancelled, in accept order
  double load = 0.0;               // as last reported in provider_status
  std::optional<ClientError> last_error;
};

namespace provider_event {
struct StateChanged { ConnectionState state; };
// A hello result: registered anew (resumed false: jobs from before were not kept; the
// server cancels any it is told about) or resumed with the jobs it kept.
struct Registered {
  std::string provider_id;
  bool resumed = false;
  std::vector<KeptJob> jobs;
};
struct Offer { JobOffer offer; };
// Stop this bot now (the server took its session out of the lobby already); also for an
// offer that is no longer open. reason: removed, lobby_removed, lobby_empty, join_timeout,
// unknown_job, reassigned.
struct Cancel { std::string job_id; std::string reason; };
struct Drain {};  // an admin drained this provider: no more offers
// A server error not tied to a request, or a connection failure: "unauthorized" (wrong
// key; the provider stops trying), "gave_up" (ReconnectPolicy).
struct Error { ClientError error; };
}  // namespace provider_event

using ProviderEvent =
    std::variant<provider_event::StateChanged, provider_event::Registered,
                 provider_event::Offer, provider_event::Cancel, provider_event::Drain,
                 provider_event::Error>;

LOBBYKIT_API const char* provider_event_name(const ProviderEvent& e);  // "offer", ...
// The event as a JSON object {"type": name, ...fields}; Python uses this.
LOBBYKIT_API std::string provider_event_to_json(const ProviderEvent& e);
// {"state", "provider_id", "accepting", "jobs", "load", "last_error" (object or null)}.
LOBBYKIT_API std::string provider_snapshot_to_json(const ProviderSnapshot& s);

// accept()'s outcome: the assignment, or the error (the server's job_not_found, or the
// client's own codes of Reply).
struct AcceptReply {
  std::optional<ClientError> error;
  JobAssignment job;
  bool ok() const { return !error; }
};
using AcceptCallback = std::function<void(const AcceptReply&)>;

class LOBBYKIT_API BotProvider {
 public:
  // A provider of the server at options.url. Throws std::invalid_argument for a URL that
  // is not ws:// or wss://, no kinds, or max_jobs 0; std::runtime_error when the network
  // service cannot start.
  explicit BotProvider(ProviderOptions options);
  // A provider of `server` in this process, without a socket.
  BotProvider(Server& server, ProviderOptions options);
  ~BotProvider();  // stops and joins (from one of its handlers: stops, frees itself later)
  BotProvider(const BotProvider&) = delete;
  BotProvider& operator=(const BotProvider&) = delete;

  void start();  // connects and serves on a thread of its own
  void run();    // connects and serves on the calling thread until stop()
  // Closes the connection (1000), fails open requests with "stopped", ends the loop.
  // Idempotent. From another thread it returns once the loop has ended. The server keeps
  // the jobs for bot_reclaim_ms, then gives them to other providers.
  void stop();
  // Connects again after it stopped trying; in backoff, retries now.
  void reconnect();

  ConnectionState state() const;
  ProviderSnapshot snapshot() const;

  // handler runs on the loop thread for every event, in subscription order. After
  // unsubscribe() returns, it does not run again.
  std::uint64_t subscribe(std::function<void(const ProviderEvent&)> handler);
  void unsubscribe(std::uint64_t id);

  // job_accept. On success the job counts against max_jobs and is listed in every
  // provider_status until end_job() or a Cancel. cb runs exactly once, on the loop thread
  // (at once on the calling thread when no loop runs).
  void accept(const std::string& job_id, AcceptCallback cb);
  std::future<AcceptReply> accept(const std::string& job_id);
  // job_decline; reason may be "".
  void decline(const std::string& job_id, const std::string& reason, ReplyCallback cb);
  std::future<Reply> decline(const std::string& job_id, const std::string& reason = "");
  // job_end: the bot is done (retry false: the dispatch is removed) or failed (retry true:
  // the dispatch gets another attempt). Sent again after a reconnect until the server
  // answers; cb runs then (job_not_found when the server no longer had the job).
  void end_job(const std::string& job_id, const std::string& reason, bool retry,
               ReplyCallback cb);
  std::future<Reply> end_job(const std::string& job_id, const std::string& reason = "",
                             bool retry = false);
  // provider_drain: no more offers, here and after reconnects; running jobs go on.
  void drain(ReplyCallback cb);
  std::future<Reply> drain();
  // The load reported in provider_status, 0.0–1.0 (clamped); nullopt: running / max_jobs.
  void set_load(std::optional<double> load);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lobbykit
