// lobbykit::Server: the signaling server, embeddable in any program.
//
// Threading: a Server owns one loop thread that owns all its state. run() makes the calling
// thread that loop; start() spawns one. stop(), post(), port() and subscribe()/unsubscribe()
// are safe from any thread. Event handlers run on the loop thread and must not block.
#pragma once

#include <lobbykit/events.hpp>
#include <lobbykit/export.hpp>
#include <lobbykit/hooks.hpp>
#include <lobbykit/options.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lobbykit {

// Thrown by the Server constructor when it cannot listen or open its store.
class LOBBYKIT_API StartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using SubscriptionId = std::uint64_t;

// The outcome of a host's bot operation: ok(), or an error code of docs/protocol.md
// ("lobby_not_found", "unknown_kind", "bot_quota", "bad_field", "dispatch_not_found", ...)
// with a sentence.
struct BotOutcome {
  std::string code;     // "" on success
  std::string message;
  BotDispatch dispatch;  // add_bot: the dispatch (new, or the one with that key)
  bool created = false;  // add_bot: false when the lobby already had that key
  bool ok() const { return code.empty(); }
};

// JSON forms for the C ABI and Python: an outcome is {"dispatch", "created"} when ok (add_bot;
// {} for remove_bot), else {"code", "message"}; the overview is {"dispatches", "kinds",
// "providers"}.
LOBBYKIT_API std::string bot_outcome_to_json(const BotOutcome& o, bool with_dispatch);
LOBBYKIT_API std::string bot_overview_to_json(const std::vector<BotDispatch>& dispatches,
                                              const std::vector<BotKindInfo>& kinds,
                                              const std::vector<BotProviderInfo>& providers);

// The outcome of a host operation (docs/embedding.md, "Operations"): ok(), or an error code of
// docs/protocol.md ("lobby_not_found", "session_not_found", "bad_field", ...) with a sentence.
struct Status {
  std::string code;  // "" on success
  std::string message;
  bool ok() const { return code.empty(); }
};

// An operation's value when it succeeded; value is default-constructed when it failed.
template <class T>
struct Result {
  Status status;
  T value{};
  bool ok() const { return status.ok(); }
};

// JSON forms for the C ABI and Python (docs/embedding.md, "Operations"): the objects the
// admin HTTP API answers with. status_to_json: {} when ok, else {"code", "message"}.
LOBBYKIT_API std::string status_to_json(const Status& s);
LOBBYKIT_API std::string to_json(const SessionInfo& s);
LOBBYKIT_API std::string to_json(const LobbyDetail& d);  // {"lobby", "participants"}
LOBBYKIT_API std::string to_json(const LobbyInfo& l);
LOBBYKIT_API std::string to_json(const ChatMessage& m);

namespace detail {
struct ServerAccess;  // lets a Client in the same process attach (src/server_access.hpp)
}

class LOBBYKIT_API Server {
 public:
  // Opens the store and binds the listening socket (so port() is known on return).
  explicit Server(ServerOptions options);
  ~Server();  // stops the loop if running, flushes the store
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void run();    // serves on the calling thread until stop(); returns after a clean shutdown
  void start();  // serves on a thread of its own
  // Closes every client with 1001, flushes the store, ends run() / joins the thread.
  // Idempotent; safe from any thread, including from an event handler.
  void stop();

  // Graceful drain (docs/deployment.md, "Draining"): readiness turns false and new WebSocket
  // connections are refused (503, "draining"); every connected client is told to reconnect —
  // a "reconnect" message with a hint (options.drain_url, a delay), then close 1001 — in
  // batches spread over options.drain_ms; then the server stops as stop() does (the store
  // is flushed, the loop ends). Returns at once; wait() waits for the end. stop() meanwhile
  // ends the drain at once. Safe from any thread; a second call does nothing. Before start()
  // it is stop().
  void drain();
  // Reads the TLS certificate and key files again (ServerOptions::tls_cert_path,
  // tls_key_path; SIGHUP in lobbykit-server): connections made from now on get the new pair,
  // open ones keep theirs. The new files are checked first: when they are unreadable or do
  // not match, nothing changes and the Status says why ("bad_tls_files"); "tls_off" when the
  // server has no TLS. Any thread.
  Status reload_tls();
  // Whether a drain has begun. Any thread.
  bool draining();
  // Blocks until the loop has ended (after stop(), or a drain), or returns at once when the
  // server never ran. Any thread but the loop's own (std::logic_error there).
  void wait();

  std::uint16_t port() const;  // the bound port (useful with options.port = 0)

  // Runs fn on the loop thread soon. Safe from any thread; after stop() fn is dropped.
  void post(std::function<void()> fn);

  // Handlers run on the loop thread, in subscription order, for every event.
  SubscriptionId subscribe(std::function<void(const Event&)> handler);
  void unsubscribe(SubscriptionId id);

  // Decision hooks (lobbykit/hooks.hpp; docs/embedding.md "Hooks"): the host allows, denies
  // or adjusts. Safe from any thread, at any time; an empty function removes the hook. Hooks
  // run on the loop thread and answer through their Decision, now or later, from any thread.
  void on_authenticate(AuthHook hook);
  void on_join(JoinHook hook);
  void on_create_lobby(CreateLobbyHook hook);
  void on_chat(ChatHook hook);
  // The same in JSON (for bindings): name is "authenticate", "join", "create_lobby", "chat"
  // or "app_message" (on_app_message_json("", hook)); std::invalid_argument otherwise. An
  // empty hook removes it.
  void on_hook_json(const std::string& name, JsonHook hook);

  // Bots (docs/bots.md): the same operations as the admin HTTP API. Safe from any thread,
  // event handlers included; each runs on the loop thread, is durable when it returns, and
  // works before start() and after stop() too.
  // Puts a bot of `kind` into the lobby under `key` ("" means the kind); idempotent per key.
  // metadata_json: "" or a JSON object handed to the provider.
  BotOutcome add_bot(const LobbyId& lobby_id, const std::string& kind,
                     const std::string& key = {}, const std::string& metadata_json = {});
  BotOutcome remove_bot(const LobbyId& lobby_id, const std::string& key);
  std::vector<BotDispatch> bot_dispatches();
  std::vector<BotKindInfo> bot_kinds();
  std::vector<BotProviderInfo> bot_providers();
  // No more offers to that provider; it is told to drain. False: no such provider.
  bool drain_bot_provider(const std::string& provider_id);

  // Operations (docs/embedding.md, "Operations"): the host acts on the server, through the
  // same code as the admin HTTP API. Like the bot calls: safe from any thread, event handlers
  // included (there they run inline); each runs on the loop thread and is durable when it
  // returns; they work before start() and after stop() too. Errors are in Status.
  std::vector<SessionInfo> list_sessions();
  std::vector<LobbyDetail> list_lobbies();  // private ones too, in creation order
  Result<LobbyDetail> get_lobby(const LobbyId& id);  // lobby_not_found
  // Counted under no quota. bad_field (name, max_participants), lobby_exists, too_many_lobbies.
  Result<LobbyInfo> create_lobby(const LobbySettings& settings);
  // lobby_not_found, bad_field, lobby_exists. Members get lobby_updated.
  Result<LobbyInfo> update_lobby(const LobbyId& id, const LobbyUpdate& update);
  // Members get lobby_left (lobby_removed). lobby_not_found.
  Status remove_lobby(const LobbyId& id);
  // The session leaves its lobby (kicked), its connection closes with 4002, it is deleted.
  // session_not_found.
  Status kick_session(const PeerId& peer);
  // session_not_found, bad_field, name_taken. The value: the session with its new name.
  Result<SessionInfo> rename_session(const PeerId& peer, const std::string& name);
  // Sets (hashed on a worker thread) or clears (nullopt) the password of a claimed name.
  // done runs once, on the loop thread, when the password is stored (or with the error:
  // bad_field, name_not_found, internal_error when hashing fails or the server stops first).
  // Before start() it completes once the server runs. Any thread; never blocks.
  void reset_password(const std::string& name, std::optional<std::string> password,
                      std::function<void(Status)> done);
  // The same, waiting for the outcome. On the loop thread (in an event handler) it would wait
  // for itself: it throws std::logic_error there; use the callback form.
  Status reset_password(const std::string& name, std::optional<std::string> password);
  // A chat message from the server (sender "", system true), stored and pushed like chat.
  // lobby_not_found, bad_field (text empty, over max_chat_bytes, not UTF-8).
  Result<ChatMessage> post_notice(const LobbyId& lobby_id, const std::string& text);

  // Application messages and metadata (docs/embedding.md, "Application messages and
  // metadata"). Like the operations above: any thread, durable when they return.
  // Handles the members' app_message called `name` ("" : every name without a handler of its
  // own): the hook allows (delivered to the members), denies, or handles it itself
  // (AppMessageDecision::handled: delivered to nobody) and may answer the sender (reply_json).
  // A name with no handler and no "" handler is delivered without asking. Safe from any
  // thread; an empty hook removes that name's handler.
  void on_app_message(const std::string& name, AppMessageHook hook);
  // The same in JSON (for bindings): request {"hook": "app_message", "peer_id", "name",
  // "user_id", "roles", "lobby_id", "to", "type", "payload"}; decision {"allow", "reason",
  // "message", "deliver", "reply"} (docs/embedding.md).
  void on_app_message_json(const std::string& name, JsonHook hook);
  // An application message from the server (from ""), to every connected member of the lobby
  // or only to `to`. payload_json: a JSON value ("" for null), at most max_app_message_bytes.
  // lobby_not_found, bad_field (name, payload), unknown_peer.
  Status send_app_message(const LobbyId& lobby_id, const std::string& name,
                          const std::string& payload_json, const PeerId& to = {});
  // Replaces the lobby's metadata (a JSON object, at most max_metadata_bytes); members get
  // lobby_updated. lobby_not_found, bad_field.
  Result<LobbyInfo> set_lobby_metadata(const LobbyId& lobby_id, const std::string& metadata_json);
  // Replaces the session's metadata; its lobby's members get participant_updated.
  // session_not_found, bad_field.
  Result<SessionInfo> set_session_metadata(const PeerId& peer, const std::string& metadata_json);

 private:
  friend struct detail::ServerAccess;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lobbykit
