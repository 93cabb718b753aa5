// lobbykit::Client: the participant side. Connects to a lobbykit server (over a WebSocket,
// or in-process to a Server without a socket), authenticates, resumes by token after a drop,
// reconnects with exponential backoff and jitter, keeps one state store, and delivers
// signaling events so a media stack (a browser, aiortc, libdatachannel) can plug in.
//
// Threading: a Client owns one loop thread that owns its state (run() makes the caller's
// thread that loop; start() spawns one). Every public call is safe from any thread. Event
// handlers and request callbacks run on the loop thread and must not block; they may call
// any method of their own client, stop() included (it returns at once and the loop ends
// after the handler), and may even destroy it (what is left is freed when the loop ends).
//
// After every welcome the client puts back what its user asked for: the name (on a new
// session), the lobby (rejoined when the server lost the membership), the media flags, and
// the chat missed meanwhile (fetched by offset). docs/client.md has the details.
#pragma once

#include <lobbykit/events.hpp>
#include <lobbykit/export.hpp>
#include <lobbykit/model.hpp>

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace lobbykit {

class Server;

enum class ConnectionState { disconnected, connecting, connected, reconnecting };
LOBBYKIT_API const char* to_string(ConnectionState s);  // "disconnected", ...

struct ReconnectPolicy {
  bool enabled = true;
  // Retry n (from 0) waits a uniformly random time in [0, min(max, initial * 2^n)) ms:
  // exponential backoff with full jitter. A welcome starts the count again.
  std::uint32_t initial_delay_ms = 250;
  std::uint32_t max_delay_ms = 10'000;
  std::uint32_t max_attempts = 0;  // retries in a row before giving up; 0: keep trying
};

struct ClientOptions {
  std::string url = "ws://127.0.0.1:8080/ws";  // ws:// or wss://; unused in-process
  std::string token;     // resume this session; "" starts a new one
  std::string name;      // taken after the welcome of a new session when not empty
  std::string password;  // with name: protect it or prove it
  bool is_bot = false;
  // A bot's job credential (docs/bots.md, job_accept): the first session is made with
  // auth {"credential"} (a bot, named by the server); later connections resume it by token.
  std::string bot_credential;
  // More fields for every auth message, as a JSON object ("" for none): what the server's
  // authenticate hook asks for (an invitation code, say; docs/embedding.md). The client's
  // own fields (token, credential, bot) are not overridden.
  std::string auth_data_json;
  ReconnectPolicy reconnect;
  std::uint32_t request_timeout_ms = 10'000;  // a request without reply fails with "timeout"
  std::uint32_t connect_timeout_ms = 10'000;  // from opening a connection to its welcome
  // A host-minted access token (lobbykit/token.hpp): a new session is made with auth
  // {"access_token"} and gets its user id, name and roles; a resume does not send it.
  std::string access_token;
  // wss:// URLs: the server's certificate must chain to one of these CAs (a PEM file) and
  // name the URL's host; "" : the system's CAs. A refused certificate stops the client
  // with the Error "tls_failed" (reconnect() tries again).
  std::string tls_ca_path;
};

// A failure: the server's error code and sentence, or one of the client's own codes:
//   requests: "timeout", "not_connected", "connection_lost", "stopped", "bad_json" (the
//             request data is not a JSON object);
//   Error events: "replaced" (4001: another connection took the session; the client stops
//             reconnecting), "kicked" (4002: the session is gone; the token is dropped and
//             the client stops), "gave_up" (ReconnectPolicy: disabled or max_attempts),
//             "tls_failed" (the server's certificate was refused; the client stops).
struct ClientError {
  std::string code;
  std::string message;
  std::string field;                 // bad_field: which one, e.g. "data.name"
  std::int64_t retry_after_ms = -1;  // too_many_attempts, rate_limited: when to retry
  std::string reason;                // denied: the host's reason code
};

class LOBBYKIT_API RequestError : public std::runtime_error {
 public:
  explicit RequestError(ClientError e);
  const ClientError& error() const { return error_; }
  const std::string& code() const { return error_.code; }

 private:
  ClientError error_;
};

// What the client knows; the single source of truth for its user. A copy.
struct ClientSnapshot {
  ConnectionState state = ConnectionState::disconnected;
  PeerId peer_id;
  std::string token;  // keep it to resume the session later (ClientOptions::token)
  std::string name;
  bool is_bot = false;
  std::optional<LobbyInfo> lobby;
  std::vector<Participant> participants;
  // Ordered by offset, no duplicates; at most the server's chat_history newest messages.
  std::vector<ChatMessage> chat;
  std::uint64_t last_offset = 0;  // highest chat offset seen in this lobby
  // False when some message of the lobby is neither in chat nor coming: dropped by the
  // server's retention (or by the cap above) before this client saw it.
  bool history_complete = true;
  std::optional<ClientError> last_error;  // the last server or connection error reported
  // The public lobbies, oldest first (created_ms, then id): the last list_lobbies or
  // watch_lobbies result, kept current by the server's pushes while watching_lobbies.
  std::vector<LobbyInfo> lobbies;
  // watch_lobbies(true) was asked and not undone: the client subscribes again after every
  // welcome (a subscription belongs to the connection).
  bool watching_lobbies = false;
};

namespace client_event {
struct StateChanged { ConnectionState state; };
// The server accepted the connection. lobby and participants: the lobby the session is in
// on the server, as the welcome says (a resumed session); nullopt and empty when in none.
struct Welcome {
  PeerId peer_id;
  std::string token;
  std::string name;
  bool resumed = false;
  std::optional<LobbyInfo> lobby;
  std::vector<Participant> participants;
};
// A lobby snapshot was applied (joined, or rejoined after the server lost the membership);
// snapshot() has its participants and chat.
struct LobbyJoined { LobbyInfo lobby; };
// reason: "left" when we left (or joined another), the server's "grace_expired", "kicked",
// "lobby_removed", or "rejoin_failed" (the membership was lost while away and joining
// again failed; an Error event says why).
struct LobbyLeft { LobbyId lobby_id; std::string reason; };
// The participant events follow the server's pushes and, after a resume or a rejoin of
// the lobby shown, the differences from what was shown before.
struct ParticipantJoined { Participant participant; };
// reason: the server's ("left", "grace_expired", "kicked", "lobby_removed"), or "missed":
// gone while this client was away (seen in the snapshot of a resume or rejoin).
struct ParticipantLeft { PeerId peer_id; std::string reason; };
struct ParticipantUpdated { Participant participant; };
struct NameChanged { std::string name; };
struct Chat { ChatMessage message; };
// Managed mesh: make a peer connection to peer_id; create the offer iff should_offer.
struct PeerAdded {
  PeerId peer_id;
  std::string name;
  bool is_bot = false;
  bool should_offer = false;
};
struct PeerRemoved { PeerId peer_id; };
// type: "offer", "answer", "pranswer" or "rollback".
struct Description { PeerId from; std::string type; std::string sdp; };
// candidate "" means end of candidates; sdp_mid / sdp_mline_index may be absent.
struct Candidate {
  PeerId from;
  std::string candidate;
  std::optional<std::string> sdp_mid;
  std::optional<int> sdp_mline_index;
  std::optional<std::string> username_fragment;
};
struct Error { ClientError error; };  // a server error not tied to a request, or a close
// The settings of the lobby shown changed (the host or an admin): snapshot().lobby has them.
struct LobbyUpdated { LobbyInfo lobby; };
// An application message from another member of the lobby shown, or from the server (from
// ""; docs/protocol.md, "Application messages and metadata").
struct AppMessage {
  LobbyId lobby_id;
  std::string name;
  PeerId from;               // "" when the server (the host) sent it
  std::string from_name;
  PeerId to;                 // this client's peer id when sent to it alone; "" when to all
  std::string payload_json;  // a JSON value
};
// The lobby list (snapshot().lobbies) was replaced: a list_lobbies or watch_lobbies result,
// the latter also when the client subscribes again after a reconnect.
struct LobbyList { std::vector<LobbyInfo> lobbies; };
// While watching: a public lobby appeared or changed (settings, metadata, participant
// count, the latter coalesced by the server: docs/protocol.md, watch_lobbies).
struct LobbyListed { LobbyInfo lobby; };
// While watching: a listed lobby went (removed, expired, made private).
struct LobbyUnlisted { LobbyId lobby_id; };
}  // namespace client_event

using ClientEvent =
    std::variant<client_event::StateChanged, client_event::Welcome, client_event::LobbyJoined,
                 client_event::LobbyLeft, client_event::ParticipantJoined,
                 client_event::ParticipantLeft, client_event::ParticipantUpdated,
                 client_event::NameChanged, client_event::Chat, client_event::PeerAdded,
                 client_event::PeerRemoved, client_event::Description,
                 client_event::Candidate, client_event::Error,
                 client_event::LobbyUpdated, client_event::AppMessage,
                 client_event::LobbyList, client_event::LobbyListed,
                 client_event::LobbyUnlisted>;

LOBBYKIT_API const char* client_event_name(const ClientEvent& e);  // "peer_added", ...
// The event as a JSON object {"type": name, ...fields}; the C ABI and Python use this.
LOBBYKIT_API std::string client_event_to_json(const ClientEvent& e);

// The snapshot as a JSON object: {"state", "peer_id", "token", "name", "is_bot",
// "lobby" (object or null), "participants", "chat", "last_offset", "history_complete",
// "last_error" (object or null), "lobbies", "watching_lobbies"}. The C ABI and Python use
// this.
LOBBYKIT_API std::string client_snapshot_to_json(const ClientSnapshot& s);
// An error as a JSON object: {"code", "message", "field"?, "retry_after_ms"?, "reason"?}.
LOBBYKIT_API std::string client_error_to_json(const ClientError& e);

// A request's outcome: the result's data object as JSON text, or the error.
struct Reply {
  std::optional<ClientError> error;
  std::string data_json = "{}";  // the data of the result (or of the error)
  bool ok() const { return !error; }
};
using ReplyCallback = std::function<void(const Reply&)>;

struct JoinOptions {
  bool has_media = false;
  bool audio_muted = false;
  bool video_muted = false;
};

struct CreateLobbyOptions {
  std::string name;
  bool is_private = false;
  bool persistent = false;
  std::uint32_t max_participants = 0;  // 0: the server's default
};

class LOBBYKIT_API Client {
 public:
  // A client of a server at options.url. Throws std::invalid_argument for a URL that is
  // not ws:// or wss://, std::runtime_error when the network service cannot start.
  explicit Client(ClientOptions options);
  // A client of `server` in this process, without a socket: same protocol and the same
  // server code paths. Should the server stop or go away first, the client sees a close
  // (1001) and keeps trying to reconnect like any other client.
  Client(Server& server, ClientOptions options);
  ~Client();  // stops and joins (from one of its handlers: stops, and frees itself later)
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connects and serves on a thread of its own; returns at once. The future is ready()'s:
  // start().get() waits until the client is ready and says whether its name was taken.
  std::future<Reply> start();
  void run();  // connects and serves on the calling thread until stop()
  // The outcome of starting, settled once: ok when the first welcome came and the name of
  // ClientOptions::name (if any) is taken -- data {"peer_id", "token", "name", "resumed"};
  // or the error: the name's (name_taken, wrong_password, bad_field, ...: the client stays
  // connected, without a name, and an Error event says it too), why the client stopped
  // trying first ("gave_up", "replaced", "kicked"), or "stopped". A lost connection does
  // not settle it: the next welcome asks for the name again. cb runs once on the loop
  // thread (on the calling thread, at once, when it is settled and no loop runs).
  void ready(ReplyCallback cb);
  std::future<Reply> ready();
  // Closes the connection (1000), fails open requests with "stopped" and ends the loop.
  // Idempotent. From another thread it returns once the loop has ended.
  void stop();
  // Connects again after the client stopped trying (replaced, kicked, gave up); while it
  // waits for a backoff retry, retries now. Does nothing otherwise.
  void reconnect();

  ConnectionState state() const;
  ClientSnapshot snapshot() const;

  // handler runs on the loop thread for every event, in subscription order. After
  // unsubscribe() returns, the handler does not run again.
  std::uint64_t subscribe(std::function<void(const ClientEvent&)> handler);
  void unsubscribe(std::uint64_t id);

  // Any request by type with its data as a JSON object text ("" means {}). cb runs exactly
  // once, on the loop thread: with the result, the server's error, or "timeout",
  // "connection_lost", "stopped", "bad_json", "not_connected" (no welcome on the current
  // connection yet: wait for the Welcome event). When no loop runs (before start() or
  // run(), or after stop()) it runs on the calling thread at once ("not_connected" or
  // "stopped").
  void request(const std::string& type, const std::string& data_json, ReplyCallback cb);
  // The same as a future; get() throws nothing: inspect Reply::error.
  std::future<Reply> request(const std::string& type, const std::string& data_json);

  // Typed helpers over request(); each returns the reply as a future. The state store
  // follows the results (name, lobby snapshot, media flags), whichever way they were asked.
  std::future<Reply> set_name(const std::string& name, const std::string& password = "");
  std::future<Reply> list_lobbies();
  // Subscribes to the lobby list (docs/protocol.md, watch_lobbies): the result is
  // {"lobbies": [Lobby]} and then LobbyListed / LobbyUnlisted events keep
  // snapshot().lobbies current. The wish outlives connections: after every welcome the
  // client subscribes again (a LobbyList event brings the fresh list), until
  // watch_lobbies(false). Asked while not connected, it fails with "not_connected" but the
  // wish holds and the next welcome subscribes.
  std::future<Reply> watch_lobbies(bool watch = true);
  std::future<Reply> create_lobby(const CreateLobbyOptions& options);
  std::future<Reply> join_lobby(const LobbyId& lobby_id, const JoinOptions& options = {});
  std::future<Reply> join_lobby_by_name(const std::string& name, const JoinOptions& options = {});
  std::future<Reply> leave_lobby();
  std::future<Reply> chat(const std::string& text);
  // Changes the given media flags (docs/protocol.md, update_media); nullopt leaves one as is.
  std::future<Reply> update_media(std::optional<bool> has_media, std::optional<bool> audio_muted,
                                  std::optional<bool> video_muted,
                                  std::optional<bool> screen_sharing = std::nullopt);
  std::future<Reply> send_description(const PeerId& to, const std::string& type,
                                      const std::string& sdp);
  // candidate "" sends end-of-candidates (null).
  std::future<Reply> send_candidate(const PeerId& to, const std::string& candidate,
                                    std::optional<std::string> sdp_mid,
                                    std::optional<int> sdp_mline_index,
                                    std::optional<std::string> username_fragment = std::nullopt);

  // Application messages and metadata (docs/protocol.md). payload_json: a JSON value ("" for
  // null); to: one member's peer id, "" for every other member. The result's data:
  // {"delivered": N, "reply"?: the host's answer}.
  std::future<Reply> send_app_message(const std::string& name, const std::string& payload_json = "",
                                      const PeerId& to = "");
  // target "self" (this participant) or "lobby" (needs the moderator role); metadata_json a
  // JSON object that replaces the old one. Members see it in participant_updated /
  // lobby_updated, and so does snapshot().
  std::future<Reply> set_metadata(const std::string& target, const std::string& metadata_json);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lobbykit
