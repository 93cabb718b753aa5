// Decision hooks: the host decides who may connect, join, create and say what
// (docs/embedding.md "Hooks").
//
// A hook is called on the server's loop thread with the request and a Decision handle. The
// host answers by calling allow()/deny() (or resolve() with a full decision) on the handle,
// exactly once, from any thread, now or later (after a database look-up, say). While it has
// not answered, that client's request waits, and so do the client's later messages, in order;
// every other connection goes on being served. When the host does not answer within
// Limits::hook_timeout_ms the request is refused with "hook_timeout"; when the hook throws, or
// the last copy of the handle goes away unanswered, with "hook_failed". A host that denies
// gives a reason code of its own ([a-z0-9_], up to 64 characters); the client receives the
// error code "denied" with that reason and the host's sentence.
//
// Hooks must not block the loop thread: answer at once, or keep the handle and answer later.
#pragma once

#include <lobbykit/export.hpp>
#include <lobbykit/model.hpp>
#include <lobbykit/token.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace lobbykit {

// A refusal as the client will see it: {"code": "denied", "reason": reason, "error": message}.
struct Denial {
  std::string reason = "denied";  // the host's code: [a-z0-9_]{1,64}, else "denied"
  std::string message;            // a sentence for people; a generic one when empty
};

// ---- authenticate: a new session, or a session resuming -------------------------------

struct AuthRequest {
  std::string address;    // the client's IP address ("" for an in-process client)
  std::string data_json;  // the auth message's data as sent, minus the secrets "token",
                          // "access_token" (claims has it, verified) and "password" (so
                          // host-defined credential fields are here)
  bool resume = false;    // resuming an existing session (its token was valid)
  PeerId peer_id;         // when resuming: the session's peer id; else ""
  std::string name;       // when resuming: the session's display name; else ""
  bool is_bot = false;    // what the client says it is
  // The verified claims of the auth's access token (docs/protocol.md, "Access tokens"),
  // when it starts a new session with one (a resume is authenticated by its session token:
  // no claims then).
  std::optional<AccessClaims> claims;
  // Who the session is: when resuming, the session's user id and roles; for a new session,
  // the access token's (claims' user_id and roles, what the session gets unless the
  // decision replaces the roles); "" and none without a token.
  std::string user_id;
  std::vector<std::string> roles;
};

struct AuthDecision {
  bool allow = true;
  Denial denial;                         // when !allow
  // When allowing a new session (ignored on resume, except roles and metadata):
  std::optional<std::string> name;       // claims this display name (numbered if taken)
  std::optional<bool> is_bot;
  std::optional<std::vector<std::string>> roles;  // replace the token's (checked as a token's)
  std::optional<std::string> metadata_json;  // the session's metadata, a JSON object

  static AuthDecision allowed() { return {}; }
  static AuthDecision denied(std::string reason, std::string message = {}) {
    AuthDecision d;
    d.allow = false;
    d.denial = {std::move(reason), std::move(message)};
    return d;
  }
};

// ---- join: a session joining a lobby ---------------------------------------------------

struct JoinRequest {
  PeerId peer_id;
  std::string user_id;   // from the session's access token; "" without one
  std::string name;
  bool is_bot = false;
  std::vector<std::string> roles;
  LobbyInfo lobby;       // the lobby it asks to join, as it is now
  bool has_media = false;
};

struct JoinDecision {
  bool allow = true;
  Denial denial;
  static JoinDecision allowed() { return {}; }
  static JoinDecision denied(std::string reason, std::string message = {}) {
    JoinDecision d;
    d.allow = false;
    d.denial = {std::move(reason), std::move(message)};
    return d;
  }
};

// ---- create lobby: from a client (WebSocket) or POST /api/lobbies ----------------------

struct CreateLobbyRequest {
  PeerId peer_id;           // the creating session; "" for POST /api/lobbies
  std::string address;      // the client's IP address
  std::string name;         // the settings asked for (already validated)
  bool is_private = false;
  bool persistent = false;
  std::uint32_t max_participants = 0;  // 0: the server's default
};

struct CreateLobbyDecision {
  bool allow = true;
  Denial denial;
  // Adjusted settings (checked like the client's own; an invalid one refuses the request
  // with bad_field).
  std::optional<std::string> name;
  std::optional<bool> is_private;
  std::optional<bool> persistent;
  std::optional<std::uint32_t> max_participants;
  static CreateLobbyDecision allowed() { return {}; }
  static CreateLobbyDecision denied(std::string reason, std::string message = {}) {
    CreateLobbyDecision d;
    d.allow = false;
    d.denial = {std::move(reason), std::move(message)};
    return d;
  }
};

// ---- chat: a message about to be stored and broadcast ----------------------------------

struct ChatRequest {
  PeerId peer_id;
  std::string user_id;
  std::vector<std::string> roles;
  std::string name;
  LobbyId lobby_id;
  std::string text;
};

struct ChatDecision {
  bool allow = true;
  Denial denial;
  std::optional<std::string> text;  // a rewrite (checked against max_chat_bytes; empty is refused)
  static ChatDecision allowed() { return {}; }
  static ChatDecision rewritten(std::string text) {
    ChatDecision d;
    d.text = std::move(text);
    return d;
  }
  static ChatDecision denied(std::string reason, std::string message = {}) {
    ChatDecision d;
    d.allow = false;
    d.denial = {std::move(reason), std::move(message)};
    return d;
  }
};

// ---- app_message: an application message from a member (docs/embedding.md, "Application
// messages and metadata") ---------------------------------------------------------------

struct AppMessageRequest {
  PeerId peer_id;                  // the sender
  std::string name;                // the sender's display name
  std::string user_id;             // the sender's user id (access token); "" when none
  std::vector<std::string> roles;
  LobbyId lobby_id;                // the sender's lobby
  PeerId to;                       // the one member it is for; "" for every other member
  std::string type;                // the message's name, e.g. "raise_hand"
  std::string payload_json;        // its payload, a JSON value ("null" when it has none)
};

// allow + deliver: delivered to the members (as without a hook). allow + !deliver: the host
// took care of it (nobody receives it). reply_json, when set, is a JSON value the sender gets
// back as the result's "reply" (an invalid one refuses with hook_failed).
struct AppMessageDecision {
  bool allow = true;
  Denial denial;
  bool deliver = true;
  std::optional<std::string> reply_json;
  static AppMessageDecision allowed() { return {}; }
  // Handled by the host, which answers reply_json; delivered to nobody.
  static AppMessageDecision handled(std::string reply_json = "null") {
    AppMessageDecision d;
    d.deliver = false;
    d.reply_json = std::move(reply_json);
    return d;
  }
  static AppMessageDecision denied(std::string reason, std::string message = {}) {
    AppMessageDecision d;
    d.allow = false;
    d.denial = {std::move(reason), std::move(message)};
    return d;
  }
};

// The handle a hook answers through. Copyable (all copies are one decision); the first
// answer counts, later ones are ignored. Any thread. If every copy is destroyed without an
// answer, the request is refused with "hook_failed" at once.
template <class D>
class Decision {
 public:
  // Receives the answer, or nullopt when every copy went away unanswered.
  using Resolve = std::function<void(std::optional<D>)>;
  Decision() = default;
  explicit Decision(Resolve resolve) : state_(std::make_shared<State>(std::move(resolve))) {}

  void resolve(D decision) const {
    if (state_) state_->answer(std::move(decision));
  }
  void allow() const { resolve(D::allowed()); }
  void deny(std::string reason, std::string message = {}) const {
    resolve(D::denied(std::move(reason), std::move(message)));
  }
  // Whether an answer was given (by any copy).
  bool answered() const { return state_ && state_->done(); }

 private:
  class State {
   public:
    explicit State(Resolve r) : resolve_(std::move(r)) {}
    ~State() {
      if (resolve_) resolve_(std::nullopt);  // unanswered: the server refuses with hook_failed
    }
    void answer(D d) {
      Resolve r;
      {
        std::lock_guard<std::mutex> lock(mu_);
        r = std::move(resolve_);
        resolve_ = nullptr;
      }
      if (r) r(std::move(d));
    }
    bool done() {
      std::lock_guard<std::mutex> lock(mu_);
      return !resolve_;
    }

   private:
    std::mutex mu_;
    Resolve resolve_;
  };
  std::shared_ptr<State> state_;
};

// A decision as a JSON object, for hooks spoken in JSON (Server::on_hook_json; the C ABI
// and Python use them): {"allow": bool (default true), "reason", "message", and the fields
// the hook may adjust}; docs/embedding.md "Hooks in JSON".
struct JsonDecision {
  std::string json = "{}";
  static JsonDecision allowed() { return {}; }
  static JsonDecision denied(std::string reason, std::string message = {});
};

using AuthHook = std::function<void(const AuthRequest&, Decision<AuthDecision>)>;
using JoinHook = std::function<void(const JoinRequest&, Decision<JoinDecision>)>;
using CreateLobbyHook = std::function<void(const CreateLobbyRequest&, Decision<CreateLobbyDecision>)>;
using ChatHook = std::function<void(const ChatRequest&, Decision<ChatDecision>)>;
using AppMessageHook = std::function<void(const AppMessageRequest&, Decision<AppMessageDecision>)>;
// request_json: {"hook": "authenticate" | "join" | "create_lobby" | "chat" | "app_message",
// ...the request}.
using JsonHook = std::function<void(const std::string& request_json, Decision<JsonDecision>)>;

}  // namespace lobbykit
