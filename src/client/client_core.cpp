#include "client/client_core.hpp"

#include "client/request_table.hpp"

#include "protocol/client_decode.hpp"
#include "protocol/envelope.hpp"
#include "protocol/json.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>

namespace lobbykit::client {

using protocol::JsonBuilder;

namespace {

const Participant* find_participant(const std::vector<Participant>& list, const PeerId& peer) {
  auto it = std::find_if(list.begin(), list.end(),
                         [&](const Participant& p) { return p.peer_id == peer; });
  return it == list.end() ? nullptr : &*it;
}

JoinOptions media_of(const Participant& p) {
  return JoinOptions{p.has_media, p.audio_muted, p.video_muted};
}

// The lobby list's order, as the server lists them: oldest first, then by id.
bool listed_before(const LobbyInfo& a, const LobbyInfo& b) {
  return a.created_ms != b.created_ms ? a.created_ms < b.created_ms : a.id < b.id;
}

void log_error(const char* what, const char* detail) {
  std::fprintf(stderr, "lobbykit: %s: %s\n", what, detail);
}

}  // namespace

ClientError make_client_error(std::string code, std::string message) {
  ClientError e;
  e.code = std::move(code);
  e.message = std::move(message);
  return e;
}

bool is_transient(const ClientError& e) {
  return e.code == "timeout" || e.code == "not_connected" || e.code == "connection_lost" ||
         e.code == "stopped";
}

ClientCore::ClientCore(ClientOptions options, Link& link, EventSink sink, Random random)
    : options_(std::move(options)), link_(link), sink_(std::move(sink)),
      dialer_(*this, link, options_.reconnect, options_.connect_timeout_ms, std::move(random)) {
  snap_.token = options_.token;
  snap_.is_bot = options_.is_bot || !options_.bot_credential.empty();
  if (!options_.name.empty()) {
    intent_.name = options_.name;
    intent_.password = options_.password;
  }
}

// --- notices ---------------------------------------------------------------------------

void ClientCore::deliver() {
  ++depth_;  // calls made by handlers queue their notices; this loop delivers them
  while (!notices_.empty()) {
    Notice n = std::move(notices_.front());
    notices_.pop_front();
    try {
      if (auto* ev = std::get_if<ClientEvent>(&n)) {
        if (sink_) sink_(*ev);
      } else {
        auto& c = std::get<Completion>(n);
        if (c.cb) c.cb(c.reply);
      }
    } catch (const std::exception& e) {
      log_error("a client handler threw", e.what());
    } catch (...) {
      log_error("a client handler threw", "unknown exception");
    }
  }
  --depth_;
}

void ClientCore::complete(ReplyCallback cb, Reply reply) {
  notices_.emplace_back(Completion{std::move(cb), std::move(reply)});
}

void ClientCore::set_state(ConnectionState s) {
  if (snap_.state == s) return;
  snap_.state = s;
  if (on_state_) on_state_(s);
  emit(client_event::StateChanged{s});
}

void ClientCore::report_error(ClientError e) {
  snap_.last_error = e;
  emit(client_event::Error{std::move(e)});
}

// --- ready: the outcome of starting ----------------------------------------------------

void ClientCore::when_ready(ReplyCallback cb) {
  Entry entry(*this);
  if (ready_)
    complete(std::move(cb), *ready_);
  else
    ready_waiters_.push_back(std::move(cb));
}

void ClientCore::settle_ready(Reply r) {
  if (ready_) return;
  ready_ = std::move(r);
  for (auto& cb : std::exchange(ready_waiters_, {})) complete(std::move(cb), *ready_);
}

void ClientCore::settle_ready_ok(bool resumed) {
  Reply r;
  JsonBuilder b;
  b.begin_object()
      .str("peer_id", snap_.peer_id)
      .str("token", snap_.token)
      .str("name", snap_.name)
      .boolean("resumed", resumed)
      .end_object();
  r.data_json = b.take();
  settle_ready(std::move(r));
}

namespace {

Reply error_reply(ClientError e) {
  Reply r;
  r.data_json = client_error_to_json(e);
  r.error = std::move(e);
  return r;
}

}  // namespace

// --- lifecycle -------------------------------------------------------------------------

void ClientCore::start(SteadyMs now) {
  Entry entry(*this);
  dialer_.start(now);
}

void ClientCore::stop(SteadyMs now) {
  Entry entry(*this);
  if (!dialer_.stop("client stopped")) return;
  catching_up_ = catch_up_again_ = false;
  requests_.fail_all("stopped", "The client was stopped.", now);
  settle_ready(error_reply(make_client_error("stopped", "The client was stopped.")));
  set_state(ConnectionState::disconnected);
}

void ClientCore::reconnect(SteadyMs now) {
  Entry entry(*this);
  dialer_.reconnect(now);
}

void ClientCore::on_open(SteadyMs now) {
  Entry entry(*this);
  dialer_.on_open(now);
}

void ClientCore::on_closed(std::uint16_t code, std::string_view reason, SteadyMs now) {
  Entry entry(*this);
  if (!dialer_.busy()) return;
  if (code == kCloseTlsRefused) tls_refusal_ = std::string(reason);
  dialer_.on_closed(code, now);
}

void ClientCore::link_opened(SteadyMs now) { send_auth(now); }

void ClientCore::link_ended(SteadyMs now) {
  catching_up_ = catch_up_again_ = false;
  requests_.fail_all("connection_lost", "The connection closed before the server answered.",
                     now);
}

std::optional<ClientError> ClientCore::no_retry_after(std::uint16_t code) {
  switch (code) {
    case 4001:
      // Another connection resumed this session. Reconnecting would close that one in turn:
      // stop, and let the user decide (reconnect() takes the session back).
      return make_client_error("replaced", "Another connection resumed this session.");
    case 4002:
      // An admin kicked the session; the server deleted it and its token.
      snap_.token.clear();
      snap_.peer_id.clear();
      snap_.name.clear();
      intent_ = Intent{};
      snap_.watching_lobbies = false;
      if (snap_.lobby) drop_lobby("kicked");
      return make_client_error("kicked", "An admin removed this session.");
    case 4004:
      snap_.token.clear();  // the session expired: a new one on the next connection
      return std::nullopt;
    case kCloseTlsRefused:
      // A certificate that does not verify will not verify on the next attempt either.
      return make_client_error("tls_failed", "The server's TLS certificate was refused (" +
                                                 tls_refusal_ + ").");
    default:
      return std::nullopt;
  }
}

void ClientCore::gave_up(const ClientError& e) {
  settle_ready(error_reply(e));
  report_error(e);
}

void ClientCore::state_changed(ConnectionState s) { set_state(s); }

void ClientCore::tick(SteadyMs now) {
  Entry entry(*this);
  requests_.expire(now);
  dialer_.tick(now, "no welcome in time");
}

std::optional<SteadyMs> ClientCore::next_deadline() const {
  std::optional<SteadyMs> next = dialer_.next_deadline();
  if (auto t = requests_.next_deadline(); t && (!next || *t < *next)) next = t;
  return next;
}

// --- requests --------------------------------------------------------------------------

void ClientCore::request(const std::string& type, const std::string& data_json,
                         ReplyCallback cb, SteadyMs now) {
  Entry entry(*this);
  Reply r;
  if (dialer_.stopped()) {
    r.error = make_client_error("stopped", "The client was stopped.");
    complete(std::move(cb), std::move(r));
    return;
  }
  std::string data = data_json.empty() ? std::string("{}") : data_json;
  rapidjson::Document doc;
  if (auto e = protocol::parse_object(data, doc)) {
    r.error = make_client_error("bad_json",
                                "The request data is not a JSON object: " + e->message);
    complete(std::move(cb), std::move(r));
    return;
  }
  remember_wish(type, doc);
  if (!dialer_.is_accepted()) {
    r.error = make_client_error("not_connected", "Not connected to the server.");
    complete(std::move(cb), std::move(r));
    return;
  }
  send_request(type, std::move(data), now,
               [this, cb = std::move(cb)](const Reply& reply, const rapidjson::Value&, SteadyMs) {
                 complete(cb, reply);
               });
}

void ClientCore::remember_wish(const std::string& type, const std::string& data_json) {
  rapidjson::Document doc;
  if (!protocol::parse_object(data_json.empty() ? std::string_view("{}") : data_json, doc))
    remember_wish(type, doc);
}

void ClientCore::remember_wish(const std::string& type, const rapidjson::Value& data) {
  if (type != "watch_lobbies") return;
  // The wish outlives this request and its connection: the next welcome subscribes. A
  // "watch" that is not a boolean is left for the server to refuse (bad_field).
  auto watch = data.FindMember("watch");
  if (watch != data.MemberEnd() && !watch->value.IsBool()) return;
  intent_.watch_lobbies = watch == data.MemberEnd() || watch->value.GetBool();
  snap_.watching_lobbies = intent_.watch_lobbies;
}

void ClientCore::send_request(const std::string& type, std::string data_json, SteadyMs now,
                              Done done) {
  const SteadyMs deadline = now + static_cast<SteadyMs>(options_.request_timeout_ms);
  std::string sent = data_json;
  link_.send(requests_.add(
      type, std::move(data_json), deadline,
      [this, type, sent = std::move(sent), done = std::move(done)](
          const Reply& r, const rapidjson::Value& data, SteadyMs at) {
        if (!r.error) {
          apply_result(type, sent, data);
        } else if (type == "leave_lobby" && r.error->code == "not_in_lobby") {
          drop_lobby("left");  // out of the lobby on the server already: here too
        }
        done(r, data, at);
      }));
}

void ClientCore::on_text(std::string_view text, SteadyMs now) {
  Entry entry(*this);
  if (!dialer_.open()) return;
  rapidjson::Document doc;
  protocol::Envelope env;
  if (protocol::parse_envelope(text, doc, env)) return;  // not an envelope: nothing to do
  if (requests_.settle(env, now)) return;  // a reply (a late one is dropped)
  if (dialer_.is_accepted()) on_push(env.type, *env.data, now);
}

// The store follows every successful result, whoever asked (the user or the restore).
void ClientCore::apply_result(const std::string& type, const std::string& sent_json,
                              const rapidjson::Value& data) {
  if (type == "set_name") {
    take_name(protocol::read_string(data, "name"));
    rapidjson::Document sent;
    sent.Parse(sent_json.data(), sent_json.size());
    intent_.password = sent.HasParseError() ? std::string()
                                            : protocol::read_string(sent, "password");
  } else if (type == "join_lobby") {
    protocol::LobbySnapshot s = protocol::read_lobby_snapshot(data);
    if (s.lobby.id.empty()) return;
    apply_snapshot(s, true);
    intent_.lobby = s.lobby.id;
    if (const Participant* me = find_participant(snap_.participants, snap_.peer_id))
      intent_.media = media_of(*me);
  } else if (type == "leave_lobby") {
    drop_lobby("left");
  } else if (type == "list_lobbies" || (type == "watch_lobbies" && intent_.watch_lobbies)) {
    // (an unsubscribe's result is {}; a subscription's list is stale once it is undone)
    if (protocol::read_array(data, "lobbies")) set_lobby_list(data);
  } else if (type == "update_media") {
    const rapidjson::Value* v = protocol::read_object(data, "participant");
    if (!v) return;
    Participant me = protocol::read_participant(*v);
    if (me.peer_id != snap_.peer_id || !snap_.lobby) return;
    upsert_participant(me);
    intent_.media = media_of(me);
  }
}

// --- auth and welcome ------------------------------------------------------------------

void ClientCore::send_auth(SteadyMs now) {
  JsonBuilder b;
  b.begin_object();
  if (!snap_.token.empty())
    b.str("token", snap_.token);
  else if (!options_.bot_credential.empty())
    b.str("credential", options_.bot_credential);
  else if (!options_.access_token.empty())
    b.str("access_token", options_.access_token).boolean("bot", options_.is_bot);
  else if (options_.is_bot)
    b.boolean("bot", true);
  if (!options_.auth_data_json.empty()) {
    rapidjson::Document extra;
    extra.Parse(options_.auth_data_json.c_str(), options_.auth_data_json.size());
    if (!extra.HasParseError() && extra.IsObject()) {
      for (const auto& m : extra.GetObject()) {
        const std::string_view key(m.name.GetString(), m.name.GetStringLength());
        if (key == "token" || key == "credential" || key == "bot" || key == "access_token")
          continue;
        b.raw(key, protocol::to_json(m.value));
      }
    }
  }
  b.end_object();
  send_request("auth", b.take(), now,
               [this](const Reply& r, const rapidjson::Value& data, SteadyMs at) {
                 on_auth_reply(r, data, at);
               });
}

void ClientCore::on_auth_reply(const Reply& r, const rapidjson::Value& data, SteadyMs now) {
  if (r.error) {
    if (r.error->code == "connection_lost" || r.error->code == "stopped") return;
    if (r.error->code == "invalid_token" && !snap_.token.empty()) {
      // The session is gone (expired, or the server lost it): start a new one.
      snap_.token.clear();
      send_auth(now);
      return;
    }
    const std::string& code = r.error->code;
    const bool token_refused = code == "invalid_access_token" ||
                               code == "access_token_expired" || code == "access_token_required";
    if ((!is_transient(*r.error) && snap_.token.empty() &&
         (!options_.bot_credential.empty() || token_refused)) ||
        code == "denied") {
      // A bot credential works once, until its join deadline; an access token refused now
      // (or a missing one) is refused again, and so is a client the host denied: trying
      // again cannot help.
      dialer_.end("auth failed", now);
      settle_ready(r);  // the outcome of starting: the credential's error
      report_error(*r.error);
      return;
    }
    if (!is_transient(*r.error)) report_error(*r.error);
    dialer_.abandon("auth failed", now);
    return;
  }
  on_welcome(protocol::read_welcome(data), now);
}

void ClientCore::on_welcome(const protocol::Welcome& w, SteadyMs now) {
  dialer_.accepted();
  snap_.peer_id = w.peer_id;
  snap_.token = w.token;
  snap_.is_bot = w.is_bot;
  snap_.name = w.name;
  if (w.chat_history != 0) chat_kept_ = static_cast<std::size_t>(w.chat_history);
  set_state(ConnectionState::connected);
  client_event::Welcome welcome{w.peer_id, w.token, w.name, w.resumed, std::nullopt, {}};
  if (w.lobby) {
    welcome.lobby = w.lobby->lobby;
    welcome.lobby->participant_count = static_cast<std::uint32_t>(w.lobby->participants.size());
    welcome.participants = w.lobby->participants;
  }
  emit(std::move(welcome));
  if (intent_.watch_lobbies) watch_lobbies(now);

  // Show the server's lobby unless another one is wanted: then keep showing ours until the
  // rejoin answers.
  const std::optional<LobbyId>& want = intent_.lobby;
  if (w.lobby && (!want || *want == w.lobby->lobby.id)) {
    apply_snapshot(*w.lobby, false);
  } else if (!w.lobby && (!want || want->empty())) {
    clear_lobby_view();
  }
  restore(w, now);
}

// Brings the server back to what the user had: name, lobby, media, and the chat missed
// while away. Each step stops quietly when its connection ends (its request fails with a
// transient error); the next welcome starts over.
void ClientCore::restore(const protocol::Welcome& w, SteadyMs now) {
  if (!intent_.name) {
    intent_.name = w.name;
  } else if (w.resumed && w.name != *intent_.name && !name_asked_) {
    // The session kept its name on the server and it changed while we were away (an admin
    // renamed it, or someone proved the password and took it): accept that.
    take_name(w.name);
    emit(client_event::NameChanged{w.name});
  } else if (!intent_.name->empty() && w.name != *intent_.name) {
    // A new session (the old one ended), or the name's first set_name was lost with its
    // connection: take the name (again), with its password if known.
    JsonBuilder b;
    b.begin_object().str("name", *intent_.name);
    if (!intent_.password.empty()) b.str("password", intent_.password);
    b.end_object();
    name_asked_ = true;
    send_request("set_name", b.take(), now,
                 [this, w](const Reply& r, const rapidjson::Value&, SteadyMs at) {
                   if (r.error) {
                     if (is_transient(*r.error)) return;  // the next welcome asks again
                     name_asked_ = false;
                     intent_.name = std::string();
                     intent_.password.clear();
                     settle_ready(r);
                     report_error(*r.error);
                   } else {
                     name_asked_ = false;
                     settle_ready_ok(w.resumed);
                   }
                   restore_lobby(w, at);
                 });
    return;
  }
  name_asked_ = false;
  settle_ready_ok(w.resumed);
  restore_lobby(w, now);
}

void ClientCore::restore_lobby(const protocol::Welcome& w, SteadyMs now) {
  const LobbyId server_lobby = w.lobby ? w.lobby->lobby.id : LobbyId();
  if (!intent_.lobby) {
    // The first welcome: take over what the server has (a token from an earlier run).
    intent_.lobby = server_lobby;
    if (w.lobby) {
      if (const Participant* me = find_participant(w.lobby->participants, w.peer_id))
        intent_.media = media_of(*me);
      catch_up(now);
    }
    return;
  }
  if (!intent_.lobby->empty() && *intent_.lobby != server_lobby) {
    rejoin(now);
    return;
  }
  if (intent_.lobby->empty()) {
    if (!server_lobby.empty()) {
      // We left while away; the leave_lobby result updates the store.
      send_request("leave_lobby", "{}", now,
                   [](const Reply&, const rapidjson::Value&, SteadyMs) {});
    }
    return;
  }
  // Still in the lobby: media (a restarted server brings members back without it), then
  // the chat missed meanwhile.
  if (auto patch = media_patch(find_participant(w.lobby->participants, w.peer_id))) {
    send_request("update_media", std::move(*patch), now,
                 [this](const Reply& r, const rapidjson::Value&, SteadyMs) {
                   if (r.error && !is_transient(*r.error)) report_error(*r.error);
                 });
  }
  catch_up(now);
}

// Joins the wanted lobby again: its membership ended while away, or the session is new.
void ClientCore::rejoin(SteadyMs now) {
  const LobbyId lobby = intent_.lobby.value_or(LobbyId());
  if (lobby.empty()) return;
  if (!intent_.name || intent_.name->empty()) {
    drop_lobby("rejoin_failed");  // joining needs a name
    return;
  }
  JsonBuilder b;
  b.begin_object()
      .str("lobby_id", lobby)
      .boolean("has_media", intent_.media.has_media)
      .boolean("audio_muted", intent_.media.audio_muted)
      .boolean("video_muted", intent_.media.video_muted)
      .end_object();
  send_request("join_lobby", b.take(), now,
               [this, lobby](const Reply& r, const rapidjson::Value&, SteadyMs at) {
                 if (!r.error) {
                   catch_up(at);  // the result's snapshot is applied already
                   return;
                 }
                 if (is_transient(*r.error) || intent_.lobby != lobby) return;
                 drop_lobby("rejoin_failed");
                 report_error(*r.error);
               });
}

// The update_media that makes the server's view of us match the intent, if any is needed.
std::optional<std::string> ClientCore::media_patch(const Participant* me) const {
  if (!me) return std::nullopt;
  const JoinOptions& want = intent_.media;
  JsonBuilder b;
  b.begin_object();
  bool any = false;
  if (want.has_media != me->has_media) {
    b.boolean("has_media", want.has_media);
    any = true;
  }
  if (want.has_media && want.audio_muted != me->audio_muted) {
    b.boolean("audio_muted", want.audio_muted);
    any = true;
  }
  if (want.has_media && want.video_muted != me->video_muted) {
    b.boolean("video_muted", want.video_muted);
    any = true;
  }
  b.end_object();
  if (!any) return std::nullopt;
  return b.take();
}

// Fetches the chat after the last settled offset, page by page (has_more). One run at a
// time; asked again while running, it makes one more pass.
void ClientCore::catch_up(SteadyMs now) {
  if (!dialer_.is_accepted() || !snap_.lobby) return;
  if (catching_up_) {
    catch_up_again_ = true;
    return;
  }
  catching_up_ = true;
  const LobbyId lobby = snap_.lobby->id;
  JsonBuilder b;
  b.begin_object().unum("after", settled_).end_object();
  send_request(
      "chat_history", b.take(), now,
      [this, lobby](const Reply& r, const rapidjson::Value& data, SteadyMs at) {
        catching_up_ = false;
        const bool again = std::exchange(catch_up_again_, false);
        if (r.error) {
          if (!is_transient(*r.error) && r.error->code != "not_in_lobby") report_error(*r.error);
          return;
        }
        if (!in_lobby(lobby)) return;
        std::vector<ChatMessage> page =
            protocol::read_chat_messages(protocol::read_array(data, "messages"), lobby);
        const bool progressed = !page.empty();
        std::uint64_t top = settled_;
        for (const auto& m : page) top = std::max(top, m.offset);
        if (!protocol::read_bool(data, "complete", true)) snap_.history_complete = false;
        const bool has_more = protocol::read_bool(data, "has_more");
        for (auto& m : merge_chat(std::move(page))) emit(client_event::Chat{std::move(m)});
        // What is not in the page up to here is gone (complete: false) or never existed.
        settled_ = std::max(settled_, top);
        if (!has_more) settled_ = std::max(settled_, protocol::read_uint(data, "last_offset"));
        advance_settled();
        if ((has_more && progressed) || again) catch_up(at);
      });
}

// --- pushes and the store --------------------------------------------------------------

void ClientCore::on_push(std::string_view type, const rapidjson::Value& d, SteadyMs now) {
  using namespace client_event;
  using protocol::read_string;
  const std::string lobby_id = read_string(d, "lobby_id");
  if (type == "participant_joined" || type == "participant_updated") {
    const rapidjson::Value* v = protocol::read_object(d, "participant");
    if (!v || !in_lobby(lobby_id)) return;
    Participant p = protocol::read_participant(*v);
    upsert_participant(p);
    if (type == "participant_joined")
      emit(ParticipantJoined{std::move(p)});
    else
      emit(ParticipantUpdated{std::move(p)});
  } else if (type == "participant_left") {
    if (!in_lobby(lobby_id)) return;
    PeerId peer = read_string(d, "peer_id");
    auto& list = snap_.participants;
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const Participant& p) { return p.peer_id == peer; }),
               list.end());
    snap_.lobby->participant_count = static_cast<std::uint32_t>(list.size());
    emit(ParticipantLeft{std::move(peer), read_string(d, "reason")});
  } else if (type == "chat") {
    const rapidjson::Value* v = protocol::read_object(d, "message");
    if (!v || !in_lobby(lobby_id)) return;
    ChatMessage m = protocol::read_chat_message(*v, lobby_id);
    const bool gap = m.offset > settled_ + 1;  // a message we missed: fetch it
    for (auto& added : merge_chat({std::move(m)})) emit(Chat{std::move(added)});
    if (gap) catch_up(now);
  } else if (type == "lobby_updated") {
    const rapidjson::Value* v = protocol::read_object(d, "lobby");
    if (!v || !in_lobby(lobby_id)) return;
    LobbyInfo info = protocol::read_lobby(*v);
    info.participant_count = static_cast<std::uint32_t>(snap_.participants.size());
    snap_.lobby = info;
    emit(LobbyUpdated{std::move(info)});
  } else if (type == "app_message") {
    if (!in_lobby(lobby_id)) return;
    const rapidjson::Value* payload = nullptr;
    if (d.IsObject()) {
      auto it = d.FindMember("payload");
      if (it != d.MemberEnd()) payload = &it->value;
    }
    emit(AppMessage{lobby_id, read_string(d, "name"), read_string(d, "from"),
                    read_string(d, "from_name"), read_string(d, "to"),
                    payload ? protocol::to_json(*payload) : std::string("null")});
  } else if (type == "lobby_left") {
    if (!in_lobby(lobby_id)) return;
    std::string reason = read_string(d, "reason");
    if (reason == "grace_expired" && intent_.lobby == lobby_id) {
      rejoin(now);  // away too long; still wanted
      return;
    }
    drop_lobby(reason);
  } else if (type == "name_changed") {
    std::string name = read_string(d, "name");
    take_name(name);
    emit(NameChanged{std::move(name)});
  } else if (type == "peer_added") {
    emit(PeerAdded{read_string(d, "peer_id"), read_string(d, "name"),
                   protocol::read_bool(d, "is_bot"), protocol::read_bool(d, "should_offer")});
  } else if (type == "peer_removed") {
    emit(PeerRemoved{read_string(d, "peer_id")});
  } else if (type == "description") {
    const rapidjson::Value* desc = protocol::read_object(d, "description");
    if (!desc) return;
    emit(Description{read_string(d, "from"), read_string(*desc, "type"),
                     read_string(*desc, "sdp")});
  } else if (type == "candidate") {
    Candidate c;
    c.from = read_string(d, "from");
    if (const rapidjson::Value* v = protocol::read_object(d, "candidate")) {
      c.candidate = read_string(*v, "candidate");
      auto mid = v->FindMember("sdpMid");
      if (mid != v->MemberEnd() && mid->value.IsString())
        c.sdp_mid = std::string(mid->value.GetString(), mid->value.GetStringLength());
      auto index = v->FindMember("sdpMLineIndex");
      if (index != v->MemberEnd() && index->value.IsInt())
        c.sdp_mline_index = index->value.GetInt();
      auto ufrag = v->FindMember("usernameFragment");
      if (ufrag != v->MemberEnd() && ufrag->value.IsString())
        c.username_fragment =
            std::string(ufrag->value.GetString(), ufrag->value.GetStringLength());
    }
    emit(std::move(c));
  } else if (type == "lobby_listed") {
    const rapidjson::Value* v = protocol::read_object(d, "lobby");
    if (!v || !intent_.watch_lobbies) return;  // a push sent before an unsubscribe arrived
    LobbyInfo lobby = protocol::read_lobby(*v);
    if (lobby.id.empty()) return;
    auto& list = snap_.lobbies;
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const LobbyInfo& l) { return l.id == lobby.id; }),
               list.end());
    list.insert(std::upper_bound(list.begin(), list.end(), lobby, listed_before), lobby);
    emit(LobbyListed{std::move(lobby)});
  } else if (type == "lobby_unlisted") {
    if (!intent_.watch_lobbies) return;
    LobbyId id = read_string(d, "lobby_id");
    auto& list = snap_.lobbies;
    auto it = std::find_if(list.begin(), list.end(),
                           [&](const LobbyInfo& l) { return l.id == id; });
    if (it == list.end()) return;
    list.erase(it);
    emit(LobbyUnlisted{std::move(id)});
  } else if (type == "reconnect") {
    dialer_.set_hint(protocol::read_reconnect_hint(d));
  } else if (type == "error") {
    report_error(read_client_error(d));
  }
}

void ClientCore::set_lobby_list(const rapidjson::Value& data) {
  std::vector<LobbyInfo> list;
  if (const rapidjson::Value* lobbies = protocol::read_array(data, "lobbies")) {
    for (const auto& v : lobbies->GetArray())
      if (v.IsObject()) list.push_back(protocol::read_lobby(v));
  }
  std::stable_sort(list.begin(), list.end(), listed_before);
  snap_.lobbies = list;
  emit(client_event::LobbyList{std::move(list)});
}

// Subscribes on the current connection (after a welcome, when the user asked for it).
void ClientCore::watch_lobbies(SteadyMs now) {
  send_request("watch_lobbies", R"({"watch":true})", now,
               [this](const Reply& r, const rapidjson::Value&, SteadyMs at) {
                 if (!r.error) return;
                 // No answer in time on a connection still up: ask again (its late answer
                 // is dropped, and with it the list). A lost connection's failure is
                 // retried by the next welcome.
                 if (r.error->code == "timeout" && dialer_.is_accepted() && intent_.watch_lobbies)
                   watch_lobbies(at);
                 else if (!is_transient(*r.error))
                   report_error(*r.error);
               });
}

bool ClientCore::in_lobby(const std::string& lobby_id) const {
  return snap_.lobby && snap_.lobby->id == lobby_id;
}

// A lobby snapshot (welcome or join_lobby result). For the lobby already shown the chat is
// merged and what is new to us comes as Chat events; another lobby replaces the view.
void ClientCore::apply_snapshot(const protocol::LobbySnapshot& s, bool announce) {
  const bool same = in_lobby(s.lobby.id);
  if (!same) {
    if (snap_.lobby) {
      LobbyId old = snap_.lobby->id;
      clear_lobby_view();
      emit(client_event::LobbyLeft{std::move(old), "left"});
    }
    snap_.history_complete = s.history_complete;
    settled_ = s.last_offset;  // the history holds everything the server still has
  }
  std::vector<Participant> before = std::exchange(snap_.participants, s.participants);
  snap_.lobby = s.lobby;
  snap_.lobby->participant_count = static_cast<std::uint32_t>(snap_.participants.size());
  std::vector<ChatMessage> added = merge_chat(s.history);
  if (announce || !same) emit(client_event::LobbyJoined{*snap_.lobby});
  if (same) {
    announce_differences(before);
    for (auto& m : added) emit(client_event::Chat{std::move(m)});
  }
}

// The same lobby seen anew (a resume, a rejoin): what changed meanwhile comes as the events
// the pushes would have made, so whoever tracks members by events stays right. Those gone
// leave with reason "missed" (the real one was not seen).
void ClientCore::announce_differences(const std::vector<Participant>& before) {
  const auto& now = snap_.participants;
  for (const auto& p : before)
    if (!find_participant(now, p.peer_id))
      emit(client_event::ParticipantLeft{p.peer_id, "missed"});
  for (const auto& p : now) {
    const Participant* old = find_participant(before, p.peer_id);
    if (!old) {
      emit(client_event::ParticipantJoined{p});
    } else if (old->name != p.name || old->has_media != p.has_media ||
               old->audio_muted != p.audio_muted || old->video_muted != p.video_muted ||
               old->screen_sharing != p.screen_sharing ||
               old->is_bot != p.is_bot || old->connected != p.connected) {
      emit(client_event::ParticipantUpdated{p});
    }
  }
}

void ClientCore::clear_lobby_view() {
  snap_.lobby.reset();
  snap_.participants.clear();
  snap_.chat.clear();
  snap_.last_offset = 0;
  snap_.history_complete = true;
  settled_ = 0;
}

// Out of the lobby on this side: none shown, none wanted.
void ClientCore::drop_lobby(const std::string& reason) {
  intent_.lobby = LobbyId();
  intent_.media = JoinOptions{};
  if (!snap_.lobby) return;
  LobbyId id = snap_.lobby->id;
  clear_lobby_view();
  emit(client_event::LobbyLeft{std::move(id), reason});
}

void ClientCore::upsert_participant(const Participant& p) {
  auto& list = snap_.participants;
  auto it = std::find_if(list.begin(), list.end(),
                         [&](const Participant& x) { return x.peer_id == p.peer_id; });
  if (it == list.end())
    list.push_back(p);
  else
    *it = p;
  if (snap_.lobby) snap_.lobby->participant_count = static_cast<std::uint32_t>(list.size());
}

// Adds messages by offset, without duplicates; returns those that were new, in order.
// Keeps the newest chat_kept_ messages.
std::vector<ChatMessage> ClientCore::merge_chat(std::vector<ChatMessage> messages) {
  std::vector<ChatMessage> added;
  auto& chat = snap_.chat;
  auto by_offset = [](const ChatMessage& a, std::uint64_t o) { return a.offset < o; };
  for (auto& m : messages) {
    if (m.offset == 0) continue;
    if (chat.empty() || chat.back().offset < m.offset) {
      chat.push_back(m);
    } else {
      auto it = std::lower_bound(chat.begin(), chat.end(), m.offset, by_offset);
      if (it != chat.end() && it->offset == m.offset) continue;
      chat.insert(it, m);
    }
    added.push_back(std::move(m));
  }
  std::sort(added.begin(), added.end(),
            [](const ChatMessage& a, const ChatMessage& b) { return a.offset < b.offset; });
  if (!chat.empty()) snap_.last_offset = std::max(snap_.last_offset, chat.back().offset);
  if (chat.size() > chat_kept_) {
    chat.erase(chat.begin(), chat.begin() + static_cast<std::ptrdiff_t>(chat.size() - chat_kept_));
    snap_.history_complete = false;
  }
  advance_settled();
  return added;
}

void ClientCore::advance_settled() {
  const auto& chat = snap_.chat;
  auto it = std::upper_bound(chat.begin(), chat.end(), settled_,
                             [](std::uint64_t o, const ChatMessage& m) { return o < m.offset; });
  while (it != chat.end() && it->offset == settled_ + 1) {
    ++settled_;
    ++it;
  }
}

void ClientCore::take_name(const std::string& name) {
  snap_.name = name;
  intent_.name = name;
  if (name.empty()) intent_.password.clear();
}

}  // namespace lobbykit::client
