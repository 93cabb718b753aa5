// Handlers for the session messages: auth (new or resumed session), set_name, ping.
#include "protocol/envelope.hpp"
#include "protocol/messages.hpp"
#include "core/access_token.hpp"
#include "router/hub_state.hpp"

namespace lobbykit::router {

using protocol::CloseCode;

namespace {

void write_limits(JsonBuilder& b, const Limits& l) {
  b.key("limits").begin_object()
      .unum("max_message_bytes", l.max_message_bytes)
      .unum("max_chat_bytes", l.max_chat_bytes)
      .unum("max_name_chars", l.max_name_chars)
      .unum("max_lobby_name_chars", l.max_lobby_name_chars)
      .unum("chat_history", l.chat_history)
      .unum("resume_grace_ms", l.resume_grace_ms)
      .end_object();
}

// The auth request's data for the authenticate hook: without the session token, the
// access token (the hook gets its verified claims) and any password, which are the
// client's secrets: a host that logs its hook requests must not log bearer credentials.
std::string without_secrets(const rapidjson::Value& data) {
  rapidjson::Document copy;
  copy.CopyFrom(data, copy.GetAllocator());
  if (copy.IsObject()) {
    copy.RemoveMember("token");
    copy.RemoveMember("access_token");
    copy.RemoveMember("password");
  }
  return protocol::to_json(copy);
}

void fail_unknown_token(Hub::State& s, Request& r) {
  s.fail(r, make_error(ErrorCode::invalid_token,
                       "That session token is unknown or expired; authenticate without a token "
                       "to start a new session."));
}

void finish_auth(Hub::State& s, Request& r, const protocol::AuthReq& req,
                 const std::optional<core::AccessClaims>& claims, const AuthDecision* decision);

// hook_failed when the host's roles or metadata would be refused in an access token.
std::optional<Error> check_auth_decision(const Hub::State& s, const AuthDecision& d) {
  const char* problem = nullptr;
  if (d.roles) {
    if (d.roles->size() > core::kMaxRoles) problem = "too many roles";
    for (const auto& role : *d.roles)
      if (!core::valid_role(role)) problem = "a role that is not a-z, 0-9, _ and - (1-32)";
  }
  if (d.metadata_json) {
    rapidjson::Document doc;
    doc.Parse(d.metadata_json->c_str(), d.metadata_json->size());
    if (doc.HasParseError() || !doc.IsObject()) problem = "metadata that is not a JSON object";
    else if (d.metadata_json->size() > s.limits.max_metadata_bytes) problem = "metadata over max_metadata_bytes";
  }
  if (!problem) return std::nullopt;
  return make_error(ErrorCode::hook_failed,
                    std::string("The server's decision on this session is not valid: ") + problem + ".");
}

// What the host's authenticate hook set for a new session: roles and metadata replace the
// token's, a name replaces the token's (numbered when taken).
void apply_auth_decision(Hub::State& s, core::Session& session, const AuthDecision& d) {
  if (d.roles || d.metadata_json) {
    core::Identity id{session.user_id, session.roles, session.metadata_json, session.only_lobby};
    if (d.roles) id.roles = *d.roles;
    if (d.metadata_json) id.metadata_json = *d.metadata_json;
    s.sessions.set_identity(session, std::move(id));
  }
  if (d.name) give_numbered_name(s, session.peer_id, *d.name, "user " + session.peer_id);
}

}  // namespace

void handle_auth(Hub::State& s, Request& r) {
  if (r.session || !r.conn.provider.empty()) {
    s.fail(r, make_error(ErrorCode::already_authenticated, "This connection is already authenticated."));
    return;
  }
  protocol::AuthReq req;
  if (auto e = protocol::decode(r.data, req)) {
    s.fail(r, *e);
    return;
  }
  if (req.credential) {
    s.auth_bot(r, *req.credential);
    return;
  }
  auto access = verify_auth_token(s, req);
  if (auto* e = std::get_if<Error>(&access)) {
    s.fail(r, *e);
    return;
  }
  std::optional<core::AccessClaims> claims = std::move(std::get<std::optional<core::AccessClaims>>(access));
  if (!s.hooks.authenticate) {
    finish_auth(s, r, req, claims, nullptr);
    return;
  }
  AuthRequest q;
  q.address = r.conn.remote;
  q.data_json = without_secrets(r.data);
  q.is_bot = req.is_bot;
  q.claims = claims;
  if (claims) {
    // A new session gets the token's user and roles (a resume keeps its own, below).
    q.user_id = claims->user_id;
    q.roles = claims->roles;
  }
  if (req.token) {
    // The hook hears only of resumes that can happen.
    const core::Session* found = s.sessions.find_by_token(*req.token);
    if (!found) {
      fail_unknown_token(s, r);
      return;
    }
    q.resume = true;
    q.peer_id = found->peer_id;
    q.name = found->name;
    q.is_bot = found->is_bot;
    q.user_id = found->user_id;
    q.roles = found->roles;
  }
  s.ask(r, s.hooks.authenticate, q, [&s, req, claims](Request& waiting, AuthDecision& d) {
    if (auto e = check_auth_decision(s, d)) {
      s.fail(waiting, *e);
      return;
    }
    finish_auth(s, waiting, req, claims, &d);
  });
}

namespace {

// The rest of auth, with the access token's claims (if any), after the authenticate hook
// allowed it (decision) or with no hook (nullptr).
void finish_auth(Hub::State& s, Request& r, const protocol::AuthReq& req,
                 const std::optional<core::AccessClaims>& claims, const AuthDecision* decision) {
  core::Session* session = nullptr;
  std::string token;
  const bool resumed = req.token.has_value();
  if (resumed) {
    session = s.sessions.resume(*req.token);
    if (!session) {
      fail_unknown_token(s, r);
      return;
    }
    token = *req.token;
    // A second connection with the same token replaces the first.
    if (Conn* old = s.conn_for(session->peer_id); old && old->id != r.conn.id) {
      ConnId old_id = old->id;
      old->peer.clear();
      s.conn_of.erase(session->peer_id);
      s.close_conn(old_id, CloseCode::replaced, "session resumed on another connection");
    }
  } else {
    // Room under the session caps: an idle session (no name, no lobby, no connection) may
    // have to make it; else the client is told and the connection closes.
    auto admission = s.sessions.admit(r.conn.address);
    while (!admission.refusal && !admission.evict.empty()) {
      s.end_session(admission.evict, "evicted", CloseCode::session_closed);
      admission = s.sessions.admit(r.conn.address);
    }
    if (admission.refusal) {
      s.fail(r, *admission.refusal);
      s.close_conn(r.conn.id, CloseCode::too_many_sessions, "no room for a new session");
      return;
    }
    const bool is_bot = decision && decision->is_bot ? *decision->is_bot : req.is_bot;
    auto created = s.sessions.create(is_bot, r.conn.address);
    session = created.session;
    token = std::move(created.token);
    if (claims) apply_access_claims(s, *session, *claims);
    if (decision) {
      const PeerId peer = session->peer_id;
      apply_auth_decision(s, *session, *decision);
      session = s.sessions.find(peer);
      if (!session) return;
    }
  }
  s.welcome(r, *session, token, resumed);
}

}  // namespace

void Hub::State::welcome(Request& r, core::Session& session_ref, const std::string& token,
                         bool resumed) {
  Hub::State& s = *this;
  core::Session* session = &session_ref;
  r.conn.peer = session->peer_id;
  s.unauthenticated.erase(r.conn.id);

  core::Lobby* lobby = s.lobby_of(*session);
  core::Member* member = lobby ? lobby->member(session->peer_id) : nullptr;
  if (lobby && !member) {
    s.sessions.set_lobby(*session, "");
    lobby = nullptr;
  }
  // Before the connection is registered, so that its first frame is the welcome: the
  // others get participant_updated, the snapshot below already shows it connected.
  if (member && !member->p.connected) s.lobbies.set_connected(lobby->info.id, session->peer_id, true);
  s.conn_of[session->peer_id] = r.conn.id;

  auto welcome = protocol::envelope("welcome", r.id_raw, [&](JsonBuilder& b) {
    b.str("peer_id", session->peer_id)
        .str("token", token)
        .str("name", session->name)
        .boolean("is_bot", session->is_bot)
        .boolean("resumed", resumed)
        .boolean("name_protected", !session->name.empty() && s.auth.is_protected(session->name))
        .num("protocol_version", protocol::kProtocolVersion)
        .str("user_id", session->user_id);
    b.begin_array("roles");
    for (const auto& role : session->roles) b.value(role);
    b.end_array();
    b.key("lobby");
    if (lobby) {
      b.begin_object();
      s.write_lobby_snapshot(b, *lobby);
      b.end_object();
    } else {
      b.w().Null();
    }
    write_limits(b, s.limits);
  });
  s.send(r.conn.id, welcome, "welcome");
  // The resumed client has new peer connections to build: restart its pairs.
  if (member && member->p.has_media) s.introduce(*lobby, session->peer_id, true);
}

void handle_set_name(Hub::State& s, Request& r) {
  protocol::SetNameReq req;
  if (auto e = protocol::decode(r.data, req, s.limits)) {
    s.fail(r, *e);
    return;
  }
  const ConnId conn = r.conn.id;
  const std::string id_raw = r.id_raw;
  Hub::State* state = &s;
  s.auth.set_name(r.session->peer_id, req.name, std::move(req.password),
                  [state, conn, id_raw, name = req.name](core::AuthManager::Outcome o) {
                    state->update_member_names(o.renamed);
                    if (!state->conns.count(conn)) return;  // the client went away meanwhile
                    if (o.error) {
                      state->fail(conn, *o.error, id_raw);
                      return;
                    }
                    if (id_raw.empty()) return;
                    state->send(conn, protocol::envelope("result", id_raw, [&](JsonBuilder& b) {
                                  b.str("name", name).boolean("protected", o.is_protected);
                                }),
                                "result");
                  });
}

void handle_ping(Hub::State& s, Request& r) {
  s.reply(r, [&](JsonBuilder& b) { b.num("time_ms", s.clock.now_ms()); });
}

}  // namespace lobbykit::router
