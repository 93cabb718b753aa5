// Fuzz target "router": the Hub (src/router) driven like the transport drives it, by
// sequences of operations decoded from the input, on the shared test rig
// (tests/support/hub_rig.hpp: FakeOutbox, manual clock and worker, memory store).
//
// Input: one byte picks the limits (bit 0 clear: the defaults; set: tight limits that short
// inputs reach: tiny lobbies, histories and rate buckets, short timers) and the host's hooks
// (bit 1: authenticate, join, create_lobby and chat hooks are set; bit 2: they answer "allow"
// at once, else each waits for operation 9 or the end). Then operations, each a byte (kinds
// below, modulo 10) and its arguments:
//   0 open connection k                     k: one byte, modulo kSlots
//   1 close connection k (the peer went away)
//   2 request on connection k               a message built from choices: type, id, fields
//                                           (peer ids, tokens and lobby ids the hub sent
//                                           earlier, names, texts, flags)
//   3 raw text on connection k              a length-prefixed string, sent as is
//   4 advance the clock, then tick()        one byte picks the step (1 ms .. past a day), or
//                                           a step of the wall clock alone (an hour back
//                                           or forward: docs/deployment.md, "Time")
//   5 run the worker's jobs (password hashing)
//   6 tick()
//   7 restart: the hub is rebuilt on the same store; every connection is gone
//   8 the transport finishes the closes the hub asked for (on_close for each)
//   9 the host answers the oldest pending hook decision: allow, deny, drop it unanswered, or
//     adjust (a name and a role; lobby settings; an empty chat text, which is refused)
// After each operation the closures posted to the "loop" run (the hooks' answers).
//
// Beyond no crash, leak or undefined behaviour, it checks after every operation:
// - every frame is a JSON object with a string "type", an object "data", and an "id" only
//   as a string or an integer;
// - a frame with an id goes only to the connection that sent a request with that id, and a
//   request gets at most one reply: exactly one, rate limited or not, unless it was not
//   valid UTF-8 or its connection was closed for it, at once or once its worker job ran;
// - nothing is sent to, or closed on, a connection the transport reported closed (or never
//   opened), and the hub closes a connection at most once;
// - a session token appears only in welcome frames; a welcome either resumes with the token
//   its connection sent or carries a token never seen before;
// - a relayed description or candidate names the sending connection's peer as "from";
// - chat pushes on one connection have strictly increasing offsets per lobby; lobby
//   snapshots list as many participants as they say, no more than the lobby allows, and
//   history in increasing offsets up to last_offset;
// - a bot dispatch in any frame has a documented state (docs/bots.md); requests include the
//   members' bot messages and the provider protocol (the hub accepts the key
//   "test-provider-key"), referring to job ids, credentials and providers it sent;
// - the metrics count every frame sent, and the gauges stay consistent (no more connected
//   sessions than open connections, no more sessions and lobbies than allowed).
#include "deterministic_random.hpp"
#include "fuzz_support.hpp"
#include "core/access_token.hpp"
#include "support/hub_rig.hpp"

#include "protocol/envelope.hpp"
#include "protocol/json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace {

using namespace lobbykit;
using fuzz::Input;
using router::ConnId;
using router::Frame;

constexpr std::size_t kSlots = 4;      // connections open at once
constexpr std::size_t kMaxKnown = 16;  // remembered ids, tokens and names of each kind
constexpr const char* kTokenSecret = "fuzz-router-token-secret-0123456789";

Limits tight_limits() {
  Limits l = testing::test_limits();
  l.max_chat_bytes = 300;
  l.max_name_chars = 8;
  l.max_lobby_name_chars = 8;
  l.rate_per_second = 4;
  l.rate_burst = 8;
  l.rate_flood_burst = 6;
  l.auth_timeout_ms = 1'000;
  l.max_outbound_bytes = 2'048;  // a quarter is the history budget of a reply
  l.chat_history = 4;
  l.lobby_expiry_ms = 5'000;
  l.resume_grace_ms = 2'000;
  l.session_ttl_ms = 20'000;
  l.idle_session_ttl_ms = 3'000;
  l.max_sessions = 6;
  l.max_sessions_per_address = 3;
  l.max_participants = 3;
  l.max_lobbies = 3;
  l.max_lobbies_per_session = 2;
  l.max_lobbies_per_address = 2;
  l.password_attempts = 2;
  l.password_lockout_ms = 1'000;
  l.bot_offer_timeout_ms = 1'000;
  l.bot_join_timeout_ms = 2'000;
  l.bot_silence_ms = 3'000;
  l.bot_reclaim_ms = 2'000;
  l.bot_retry_ms = 1'000;
  l.bot_empty_lobby_ms = 5'000;
  l.max_bots_per_lobby = 2;
  l.max_dispatches = 3;
  l.max_providers = 2;
  l.max_provider_jobs = 3;
  return l;
}

// LOBBYKIT_FUZZ_TRACE=1 prints every message and frame (to read what a reproducer does).
bool trace() {
  static const bool on = std::getenv("LOBBYKIT_FUZZ_TRACE") != nullptr;
  return on;
}
unsigned long long ull(ConnId id) { return static_cast<unsigned long long>(id); }

std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

std::string str(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return {};
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

void remember(std::vector<std::string>& list, const std::string& v) {
  if (v.empty() || std::find(list.begin(), list.end(), v) != list.end()) return;
  if (list.size() == kMaxKnown) list.erase(list.begin());
  list.push_back(v);
}

// One connection as the transport sees it, and what the checks remember about it.
struct Conn {
  ConnId id = 0;
  bool open = false;          // opened, and no on_close yet
  PeerId peer;                // from its last welcome
  std::string auth_token;     // the token its last auth sent ("" for none)
  std::set<std::string> auth_tokens;  // every token its auths sent (an auth waiting for a
                                      // hook may be answered after a later auth was sent)
  std::map<std::string, int> requests;  // id (as JSON) -> requests sent with it
  std::map<std::string, int> replies;   // id (as JSON) -> frames that carried it
  std::map<std::string, std::uint64_t> chat_offset;  // lobby id -> last chat push offset
};

// Memory for the checks' parses. Every frame is parsed once, and a fresh rapidjson::Document
// mallocs a 64 KiB chunk for its values at its first string or member: ASan fills it and the
// kernel faults its pages in, a fifth of the target's time before. A Scratch hands out the
// same chunk again; one per place that parses (message() holds its document while the hub
// sends, so on_frame() parses meanwhile).
class Scratch {
 public:
  Scratch() : buffer_(64 * 1024), pool_(buffer_.data(), buffer_.size()) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  // The pool, emptied: every document made from it before is dead by now.
  rapidjson::MemoryPoolAllocator<>* fresh() {
    pool_.Clear();
    return &pool_;
  }

 private:
  std::vector<char> buffer_;
  rapidjson::MemoryPoolAllocator<> pool_;
};

class Run {
 public:
  // hooks: the host's decision hooks are set (router/hooks.hpp); sync_hooks: they answer
  // "allow" inside the call, else when the input says (operation 9) or at the end.
  Run(const Limits& limits, bool hooks, bool sync_hooks) : rig_(limits), hooks_(hooks) {
    rig_.out.observer = [this](ConnId id, const Frame& f) { on_frame(id, f); };
    rig_.token_secret = kTokenSecret;  // access tokens on (roles: kick_member, mute_member)
    rig_.hub->set_token_options(rig_.token_secret, false);
    sync_hooks_ = sync_hooks;
    set_hooks();
  }
  ~Run() {
    // Decisions dropped unanswered post their refusal: while posted_ is still there.
    decisions_.clear();
    posted_.clear();
    rig_.out.observer = nullptr;
  }

  void step(Input& in) {
    switch (in.byte() % 10) {
      case 0: open(in.below(kSlots)); break;
      case 1: close(in.below(kSlots)); break;
      case 2: {
        const std::size_t k = in.below(kSlots);
        message(k, request(in, k));
        break;
      }
      case 3: {
        const std::size_t k = in.below(kSlots);
        message(k, std::string(in.text()));
        break;
      }
      case 4: {
        struct Step {
          TimeMs ms;
          bool wall_only;  // the wall clock is set; the monotonic clock does not move
        };
        static constexpr Step kSteps[] = {
            {1, false},         {40, false},      {100, false},        {999, false},
            {1'000, false},     {2'001, false},   {5'001, false},      {10'000, false},
            {60'001, false},    {300'001, false}, {20'001, false},     {86'400'001, false},
            {-3'600'000, true}, {3'600'000, true}};
        const Step& step = in.pick(kSteps);
        if (step.wall_only)
          rig_.clock.step_wall(step.ms);
        else
          rig_.clock.advance(step.ms);
        rig_.hub->tick();
        break;
      }
      case 5: run_worker(); break;
      case 6: rig_.hub->tick(); break;
      case 7: restart(); break;
      case 8: finish_closes(); break;
      case 9: answer_hook(in.byte()); break;
    }
    run_posted();
    check_gauges();
  }

  // The end of the input: the hooks answer, the jobs still queued finish, the promised
  // replies come.
  void finish() {
    while (!decisions_.empty() || !posted_.empty() || rig_.worker.pending()) {
      while (!decisions_.empty()) answer_hook(0);
      run_posted();
      rig_.worker.run_all();
    }
    run_worker();
    for (const Owed& o : hook_owed_) {
      Conn* c = conn(o.conn);
      if (!c || !c->open || rig_.out.records[o.conn].close_calls != 0) continue;
      FUZZ_CHECK(c->replies[o.id] >= o.replies_before + 1,
                 "no reply to a request that waited for a hook: id " + o.id);
    }
  }

 private:
  Conn* conn(ConnId id) {
    auto it = conns_.find(id);
    return it == conns_.end() ? nullptr : &it->second;
  }

  void open(std::size_t k) {
    if (slots_[k] && conns_[slots_[k]].open) return;
    const ConnId id = next_conn_++;
    slots_[k] = id;
    Conn& c = conns_[id];
    c.id = id;
    c.open = true;
    // Three client addresses, so the per-address limits are reached too.
    static const char* const kAddresses[] = {"127.0.0.1", "10.1.2.3", "2001:db8::1"};
    rig_.hub->on_open(id, kAddresses[k % 3]);
  }

  void close(std::size_t k) {
    Conn* c = conn(slots_[k]);
    if (!c || !c->open) return;
    c->open = false;
    owed_.erase(std::remove_if(owed_.begin(), owed_.end(),
                               [&](const Owed& o) { return o.conn == c->id; }),
                owed_.end());
    rig_.hub->on_close(c->id);
  }

  void finish_closes() {
    for (std::size_t k = 0; k < kSlots; ++k) {
      Conn* c = conn(slots_[k]);
      if (c && c->open && rig_.out.records[c->id].close_calls > 0) close(k);
    }
  }

  void restart() {
    // The process goes: its connections with it (no on_close), the store stays. Decisions
    // still pending are answered after it: through the old hub's closed gate, to no effect.
    for (auto& [id, c] : conns_) c.open = false;
    owed_.clear();
    hook_owed_.clear();
    rig_.restart();
    set_hooks();
    frames_at_start_ = frames_;  // the new hub's metrics start from zero
  }

  void run_worker() {
    rig_.worker.run_all();
    for (const Owed& o : owed_) {
      Conn* c = conn(o.conn);
      FUZZ_CHECK(c && c->replies[o.id] >= o.replies_before + 1,
                 "no reply to a request whose worker job ran: id " + o.id);
    }
    owed_.clear();
  }

  // A message from connection slot k. Anything sent to a slot never opened goes to an id
  // the hub does not know, which it must ignore.
  void message(std::size_t k, const std::string& text) {
    const ConnId id = slots_[k] ? slots_[k] : 1'000'000 + k;
    Conn& c = conns_[id];
    c.id = id;

    // What the hub will read: the request id, and the token of an auth.
    static Scratch scratch;
    rapidjson::Document doc(scratch.fresh());
    protocol::Envelope env;
    const bool utf8 = protocol::valid_utf8(text);
    const std::optional<protocol::Error> refused = protocol::parse_envelope(text, doc, env);
    const bool parsed = !refused;
    if (parsed && env.type == "auth") {
      c.auth_token = str(*env.data, "token");
      c.auth_tokens.insert(c.auth_token);
    }
    // A token the client puts anywhere but in an auth's "token" may come back in an echo
    // (chat, a name, an id): such a token no longer counts as a secret of the hub's. The
    // parsed form is searched, as escapes may spell it differently; what is not JSON (or
    // too deep) is echoed nowhere.
    const bool json = !refused || refused->code != protocol::ErrorCode::bad_json;
    const std::string decoded = json ? to_json(doc) : std::string();
    for (const std::string& token : tokens_) {
      const std::size_t at = decoded.find(token);
      if (at == std::string::npos) continue;
      const bool only_as_auth_token = env.type == "auth" && c.auth_token == token &&
                                      decoded.find(token, at + 1) == std::string::npos;
      if (!only_as_auth_token) echoed_tokens_.insert(token);
    }
    const std::string& rid = env.id_raw;
    if (!rid.empty()) ++c.requests[rid];

    const bool answerable = c.open && rig_.out.records[id].close_calls == 0 && utf8;
    const int replies_before = rid.empty() ? 0 : c.replies[rid];
    const std::size_t jobs_before = rig_.worker.pending();
    if (trace()) std::fprintf(stderr, "conn %llu -> %s\n", ull(id), text.c_str());
    sender_ = &c;
    rig_.hub->on_message(id, text);
    sender_ = nullptr;
    if (rid.empty() || !answerable) return;
    // Closed for it (flooding past the rate limit): no answer is owed.
    if (rig_.out.records[id].close_calls != 0) return;
    if (rig_.worker.pending() > jobs_before) {
      owed_.push_back(Owed{id, rid, replies_before});
      return;
    }
    // Waiting for a hook (asked now, or held behind an earlier request's): answered later.
    if (hooks_ && c.replies[rid] == replies_before) {
      hook_owed_.push_back(Owed{id, rid, replies_before});
      return;
    }
    FUZZ_CHECK(c.replies[rid] == replies_before + 1, "no reply to request " + rid + ": " + text);
  }

  // A request built from choices, most of them valid, referring to what the hub sent.
  std::string request(Input& in, std::size_t k) {
    static constexpr const char* kTypes[] = {
        "auth",         "set_name",     "ping",     "list_lobbies",      "create_lobby",
        "join_lobby",   "leave_lobby",  "chat",     "chat_history",      "update_media",
        "relay_description", "relay_candidate", "join_lobby", "chat", "unknown",
        // Bots (docs/bots.md): the members' messages and the provider protocol.
        "list_bot_kinds", "add_bot",     "remove_bot", "provider_hello", "provider_status",
        "job_accept",     "job_decline", "job_end",    "provider_drain", "job_accept",
        // Roles (docs/protocol.md, "Roles").
        "kick_member",    "mute_member",
        // Application messages and metadata (docs/protocol.md).
        "app_message",    "set_metadata"};
    static constexpr const char* kKinds[] = {"assistant", "reader", "Bad Kind", ""};
    static constexpr const char* kNames[] = {"Ada", "ada", "Bo", " Cy ", "Dé", "Ellen-Maria",
                                             "x\u0085y", ""};
    static constexpr const char* kPasswords[] = {"pw", "secret", "x", ""};
    static constexpr const char* kLobbyNames[] = {"Standup", "standup", "Room", "Lobby Ünïcode",
                                                  "a-very-long-lobby-name", "Lab", "Café"};
    static constexpr const char* kTexts[] = {"hi", "", "quote \" and \\ backslash",
                                             "\u00e9\u4e2d\U0001F600", "line\nbreak",
                                             "tab\tand \x1b[31mcolour\x1b[0m \x1a\x1f"};
    static constexpr std::uint64_t kCounts[] = {0, 1, 2, 3, 64, 65, 500, 501};
    static constexpr const char* kDescTypes[] = {"offer", "answer", "pranswer", "rollback",
                                                 "bogus"};

    const std::string type = in.pick(kTypes);
    protocol::JsonBuilder b;
    b.begin_object().str("type", type);
    switch (in.byte() % 4) {
      case 0: break;
      case 1: b.num("id", next_request_++); break;
      case 2: b.str("id", "r" + std::to_string(next_request_++)); break;
      case 3: b.num("id", 1); break;  // a reused id
    }
    b.key("data").begin_object();
    const std::uint8_t bits = in.byte();
    if (type == "auth") {
      if (bits & 1) b.str("token", known(in, tokens_));
      else if (bits & 2) b.str("token", "0123456789abcdef0123456789abcdef");
      else if (bits & 8) b.str("credential", known(in, credentials_));
      if (bits & 4) b.boolean("bot", true);
      if ((bits & 16) && !(bits & 8)) {
        // An access token minted now: a moderator, a listener, or one for a single lobby.
        static constexpr const char* kRoles[] = {"moderator", "listener", "team-7"};
        AccessClaims claims;
        claims.user_id = "user-" + std::to_string(in.below(4));
        claims.roles = {in.pick(kRoles)};
        if (bits & 32) claims.name = in.pick(kNames);
        if (bits & 64) claims.lobby_id = known(in, lobbies_);
        if (!claims.name.empty() && claims.name.find_first_not_of(' ') == std::string::npos)
          claims.name.clear();
        try {
          b.str("access_token", core::sign_access_token(kTokenSecret, claims, 60,
                                                        rig_.clock.now_ms() / 1000));
        } catch (const std::invalid_argument&) {
          b.str("access_token", "not.a.token");  // a name the mint refuses
        }
      }
    } else if (type == "app_message") {
      static constexpr const char* kAppNames[] = {"game:move", "x", "a.b-c_d", "bad name", ""};
      b.str("name", in.pick(kAppNames));
      if (bits & 1) {
        const Conn* self = conn(slots_[k]);
        const std::string other = known(in, peers_);
        b.str("to", (bits & 8) && self ? self->peer : other);
      }
      if (bits & 2) b.key("payload").begin_object().str("text", in.pick(kTexts)).end_object();
      else if (bits & 4) b.str("payload", std::string(in.below(400) * 64, 'p'));  // over 16 KiB
    } else if (type == "set_metadata") {
      b.str("target", bits & 1 ? "lobby" : (bits & 2 ? "everyone" : "self"));
      if (bits & 4) b.str("metadata", "not an object");
      else b.key("metadata").begin_object().str("note", in.pick(kTexts)).end_object();
    } else if (type == "kick_member" || type == "mute_member") {
      b.str("peer_id", known(in, peers_));
      if (type == "mute_member") {
        if (bits & 1) b.boolean("audio", true);
        if (bits & 2) b.boolean("video", true);
      } else if (bits & 1) {
        b.str("reason", in.pick(kTexts));
      }
    } else if (type == "add_bot") {
      b.str("kind", in.pick(kKinds));
      if (bits & 1) b.str("key", bits & 2 ? "second" : "assistant");
      if (bits & 4) b.key("metadata").begin_object().str("lang", "en").end_object();
    } else if (type == "remove_bot") {
      b.str("dispatch_id", known(in, dispatches_));
    } else if (type == "provider_hello") {
      b.str("key", bits & 1 ? "wrong-key" : "test-provider-key").str("name", in.pick(kNames));
      b.begin_array("kinds");
      b.begin_object().str("kind", in.pick(kKinds)).str("description", "for fuzzing").end_object();
      if (bits & 2) b.begin_object().str("kind", "reader").end_object();
      b.end_array();
      b.unum("max_jobs", 1 + (bits >> 5));
      if (bits & 4) {
        const std::size_t i = in.byte();
        b.key("resume").begin_object();
        if (!providers_.empty()) b.str("provider_id", providers_[i % providers_.size()].first)
                                     .str("token", providers_[i % providers_.size()].second);
        else b.str("provider_id", "p-0").str("token", "t");
        b.end_object();
      }
    } else if (type == "provider_status") {
      if (bits & 1) b.key("load").w().Double((bits >> 4) / 10.0);
      if (bits & 2) {
        b.begin_array("jobs");
        b.value(known(in, jobs_));
        if (bits & 8) b.value("j-unknown");
        b.end_array();
      }
      if (bits & 4) b.boolean("accepting", false);
    } else if (type == "job_accept" || type == "job_decline" || type == "job_end") {
      b.str("job_id", known(in, jobs_));
      if (bits & 1) b.str("reason", "done");
      if (bits & 2) b.boolean("retry", true);
    } else if (type == "set_name") {
      b.str("name", in.pick(kNames));
      if (bits & 1) b.str("password", in.pick(kPasswords));
    } else if (type == "create_lobby") {
      b.str("name", in.pick(kLobbyNames));
      if (bits & 1) b.boolean("private", true);
      if (bits & 2) b.boolean("persistent", true);
      if (bits & 4) b.unum("max_participants", in.pick(kCounts));
    } else if (type == "join_lobby") {
      if (bits & 1) b.str("name", in.pick(kLobbyNames));
      else b.str("lobby_id", known(in, lobbies_));
      if (bits & 2) b.boolean("has_media", true);
      if (bits & 4) b.boolean("audio_muted", true);
    } else if (type == "chat") {
      std::string text = in.pick(kTexts);
      if (bits & 1) text.append(in.below(400), 'w');  // long: trips history budgets
      b.str("text", text);
    } else if (type == "chat_history") {
      if (bits & 1) b.unum("after", in.pick(kCounts));
      if (bits & 2) b.unum("limit", in.pick(kCounts));
    } else if (type == "update_media") {
      if (bits & 1) b.boolean("has_media", bits & 2);
      if (bits & 4) b.boolean("video_muted", bits & 8);
    } else if (type == "relay_description" || type == "relay_candidate") {
      // Mostly another member; sometimes oneself.
      const Conn* self = conn(slots_[k]);
      const std::string other = known(in, peers_);
      b.str("to", (bits & 8) && self ? self->peer : other);
      if (type == "relay_description") {
        b.key("description").begin_object().str("type", in.pick(kDescTypes));
        if (!(bits & 1)) b.str("sdp", "v=0\r\n");
        b.end_object();
      } else if (bits & 1) {
        b.key("candidate").w().Null();
      } else {
        b.key("candidate").begin_object().str("candidate", "candidate:1 1 udp 1 127.0.0.1 9 typ host");
        if (bits & 2) b.str("sdpMid", "0");
        if (bits & 4) b.unum("sdpMLineIndex", 0);
        b.end_object();
      }
    }
    b.end_object().end_object();
    return b.take();
  }

  // One of the values the hub sent; always one byte, so inputs keep their shape.
  std::string known(Input& in, const std::vector<std::string>& list) {
    const std::uint8_t choice = in.byte();
    if (list.empty()) return "nobody";
    return list[choice % list.size()];
  }

  // Every frame the hub sends, as it sends it.
  void on_frame(ConnId id, const Frame& frame) {
    if (trace()) std::fprintf(stderr, "conn %llu <- %s\n", ull(id), frame->c_str());
    ++frames_;
    FUZZ_CHECK(frame != nullptr, "null frame");
    const std::string& text = *frame;
    Conn* c = conn(id);
    FUZZ_CHECK(c && c->open, "frame for a connection that is not open: " + text);
    FUZZ_CHECK(rig_.out.records[id].close_calls <= 1, "closed twice");

    static Scratch scratch;
    rapidjson::Document doc(scratch.fresh());
    doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
    FUZZ_CHECK(!doc.HasParseError() && doc.IsObject(), text);
    auto type_it = doc.FindMember("type");
    FUZZ_CHECK(type_it != doc.MemberEnd() && type_it->value.IsString() &&
                   type_it->value.GetStringLength() > 0,
               text);
    const std::string type = str(doc, "type");
    auto data_it = doc.FindMember("data");
    FUZZ_CHECK(data_it != doc.MemberEnd() && data_it->value.IsObject(), text);
    const rapidjson::Value& data = data_it->value;

    if (auto id_it = doc.FindMember("id"); id_it != doc.MemberEnd()) {
      FUZZ_CHECK(id_it->value.IsString() || id_it->value.IsInt64(), text);
      const std::string rid = id_it->value.IsString() ? to_json(id_it->value)
                                                      : std::to_string(id_it->value.GetInt64());
      FUZZ_CHECK(++c->replies[rid] <= c->requests[rid],
                 "a reply to no request (or a second reply) on this connection: " + text);
    }

    for (const std::string& token : tokens_)
      if (type != "welcome" && !echoed_tokens_.count(token))
        FUZZ_CHECK(text.find(token) == std::string::npos, "a token outside welcome: " + text);

    if (type == "welcome") {
      const std::string token = str(data, "token");
      const std::string peer = str(data, "peer_id");
      FUZZ_CHECK(!token.empty() && !peer.empty(), text);
      auto resumed = data.FindMember("resumed");
      FUZZ_CHECK(resumed != data.MemberEnd() && resumed->value.IsBool(), text);
      if (resumed->value.GetBool()) {
        FUZZ_CHECK(c->auth_tokens.count(token), "resumed with a token it did not send: " + text);
        FUZZ_CHECK(token_peer_[token] == peer, "resumed as another peer: " + text);
      } else {
        FUZZ_CHECK(!token_peer_.count(token), "a new session with a known token: " + text);
        token_peer_[token] = peer;
      }
      c->peer = peer;
      remember(tokens_, token);
      remember(peers_, peer);
    } else if (type == "description" || type == "candidate") {
      FUZZ_CHECK(sender_ && str(data, "from") == sender_->peer && !sender_->peer.empty(),
                 "relayed with a \"from\" that is not the sender: " + text);
    } else if (type == "app_message") {
      FUZZ_CHECK(sender_ && str(data, "from") == sender_->peer && !sender_->peer.empty(),
                 "an app_message with a \"from\" that is not the sender: " + text);
      FUZZ_CHECK(c != sender_, "an app_message echoed to its sender: " + text);
    } else if (type == "chat") {
      const std::string lobby = str(data, "lobby_id");
      auto m = data.FindMember("message");
      FUZZ_CHECK(m != data.MemberEnd() && m->value.IsObject(), text);
      auto off = m->value.FindMember("offset");
      FUZZ_CHECK(off != m->value.MemberEnd() && off->value.IsUint64(), text);
      std::uint64_t& last = c->chat_offset[lobby];
      FUZZ_CHECK(off->value.GetUint64() > last, "chat offsets out of order: " + text);
      last = off->value.GetUint64();
    } else if (type == "peer_added" || type == "participant_joined") {
      remember(peers_, str(data, "peer_id"));
    } else if (type == "job_offer") {
      remember(jobs_, str(data, "job_id"));
    } else if (type == "result") {
      // Bot values to refer to later: credentials, providers, dispatches.
      remember(credentials_, str(data, "credential"));
      if (!str(data, "provider_id").empty() && !str(data, "token").empty()) {
        auto entry = std::make_pair(str(data, "provider_id"), str(data, "token"));
        if (std::find(providers_.begin(), providers_.end(), entry) == providers_.end()) {
          if (providers_.size() == kMaxKnown) providers_.erase(providers_.begin());
          providers_.push_back(entry);
        }
      }
    }
    if (auto d = data.FindMember("dispatch"); d != data.MemberEnd() && d->value.IsObject()) {
      remember(dispatches_, str(d->value, "dispatch_id"));
      const std::string state = str(d->value, "state");
      FUZZ_CHECK(state == "waiting" || state == "starting" || state == "running" ||
                     state == "failed",
                 "a dispatch state that is not documented: " + text);
    }

    // Lobby snapshots (welcome, join_lobby) and lobbies (create_lobby, list_lobbies).
    const rapidjson::Value* snap = &data;
    if (type == "welcome") {
      auto l = data.FindMember("lobby");
      snap = l != data.MemberEnd() && l->value.IsObject() ? &l->value : nullptr;
    }
    if (snap) check_snapshot(*snap, text);
    if (auto l = data.FindMember("lobby"); l != data.MemberEnd() && l->value.IsObject())
      remember(lobbies_, str(l->value, "id"));
    if (auto ls = data.FindMember("lobbies"); ls != data.MemberEnd() && ls->value.IsArray())
      for (const auto& l : ls->value.GetArray()) remember(lobbies_, str(l, "id"));
  }

  void check_snapshot(const rapidjson::Value& s, const std::string& text) {
    auto lobby = s.FindMember("lobby");
    auto parts = s.FindMember("participants");
    if (lobby == s.MemberEnd() || parts == s.MemberEnd()) return;
    FUZZ_CHECK(lobby->value.IsObject() && parts->value.IsArray(), text);
    const auto& info = lobby->value;
    FUZZ_CHECK(info.HasMember("participants") && info["participants"].IsUint64() &&
                   info["participants"].GetUint64() == parts->value.Size(),
               "snapshot participant count: " + text);
    FUZZ_CHECK(info.HasMember("max_participants") && info["max_participants"].IsUint64() &&
                   parts->value.Size() <= info["max_participants"].GetUint64(),
               "more participants than the lobby allows: " + text);
    auto history = s.FindMember("history");
    auto last = s.FindMember("last_offset");
    FUZZ_CHECK(history != s.MemberEnd() && history->value.IsArray() && last != s.MemberEnd() &&
                   last->value.IsUint64(),
               text);
    std::uint64_t prev = 0;
    for (const auto& m : history->value.GetArray()) {
      FUZZ_CHECK(m.IsObject() && m.HasMember("offset") && m["offset"].IsUint64(), text);
      const std::uint64_t off = m["offset"].GetUint64();
      FUZZ_CHECK(off > prev && off <= last->value.GetUint64(), "snapshot history order: " + text);
      prev = off;
    }
  }

  void check_gauges() {
    router::Metrics::Gauges g = rig_.hub->gauges();
    std::uint64_t open = 0;
    for (const auto& [id, c] : conns_) open += c.open;
    FUZZ_CHECK(g.sessions_connected <= g.sessions, "gauges");
    FUZZ_CHECK(g.sessions <= rig_.limits.max_sessions, "more sessions than allowed");
    FUZZ_CHECK(g.sessions_connected <= open, "more connected sessions than open connections");
    FUZZ_CHECK(g.lobbies <= rig_.limits.max_lobbies, "more lobbies than allowed");
    FUZZ_CHECK(g.participants <= g.lobbies * rig_.limits.max_participants, "gauges");
    std::uint64_t counted = 0;
    for (const auto& [type, n] : rig_.hub->metrics().messages_out) counted += n;
    FUZZ_CHECK(counted == frames_ - frames_at_start_, "messages_out does not count every frame");
    for (const auto& [id, r] : rig_.out.records)
      FUZZ_CHECK(r.close_calls <= 1, "a connection closed twice");
  }

  // --- hooks ----------------------------------------------------------------------------

  // Each hook keeps its decision for the input to answer (or answers at once).
  template <class Req, class D>
  std::function<void(const Req&, Decision<D>)> recorder() {
    return [this](const Req&, Decision<D> d) {
      if (sync_hooks_) {
        d.allow();
        return;
      }
      // The connection whose request asked: what the answer lets run is its.
      const ConnId who = sender_ ? sender_->id : 0;
      decisions_.push_back(Pending{who, [d](int choice) mutable {
        switch (choice) {
          case 0: d.allow(); break;
          case 1: d.deny("fuzz_says_no", "The fuzzer's host said no."); break;
          case 2: d = Decision<D>(); break;  // dropped: hook_failed
          default: d.resolve(adjusted<D>()); break;
        }
      }});
    };
  }
  // A decision that changes what it may: names, settings and texts, valid or not.
  template <class D>
  static D adjusted() {
    D d;
    if constexpr (std::is_same_v<D, AuthDecision>) {
      d.name = "Host Named";
      d.roles = std::vector<std::string>{"moderator"};
    } else if constexpr (std::is_same_v<D, CreateLobbyDecision>) {
      d.max_participants = 2;
      d.name = "Host Room";
    } else if constexpr (std::is_same_v<D, ChatDecision>) {
      d.text = std::string();  // not a chat text: hook_failed
    }
    return d;
  }
  void set_hooks() {
    if (!hooks_) return;
    router::Hooks h;
    h.authenticate = recorder<AuthRequest, AuthDecision>();
    h.join = recorder<JoinRequest, JoinDecision>();
    h.create_lobby = recorder<CreateLobbyRequest, CreateLobbyDecision>();
    h.chat = recorder<ChatRequest, ChatDecision>();
    rig_.hub->set_hooks(std::move(h), [this](std::function<void()> fn) {
      posted_.push_back(Posted{sender_ ? sender_->id : answering_, std::move(fn)});
    });
  }
  void answer_hook(std::uint8_t choice) {
    if (decisions_.empty()) return;
    Pending p = std::move(decisions_.front());
    decisions_.pop_front();
    answering_ = p.conn;
    p.answer(choice % 4);
    answering_ = 0;
  }
  // What a loop iteration runs of what was posted to it.
  void run_posted() {
    while (!posted_.empty()) {
      Posted p = std::move(posted_.front());
      posted_.pop_front();
      // The requests it settles, and those held behind them, are that connection's.
      sender_ = conn(p.conn);
      p.fn();
      sender_ = nullptr;
    }
  }

  struct Owed {  // a request whose reply waits for the worker
    ConnId conn;
    std::string id;
    int replies_before;
  };

  testing::HubRig rig_;
  ConnId slots_[kSlots] = {};
  std::map<ConnId, Conn> conns_;
  ConnId next_conn_ = 1;
  std::int64_t next_request_ = 1;
  Conn* sender_ = nullptr;  // the connection whose message is being handled
  std::vector<Owed> owed_;
  std::vector<Owed> hook_owed_;  // requests that waited for a hook
  bool hooks_ = false;
  bool sync_hooks_ = false;
  struct Pending {  // a hook decision not answered yet, and the connection that asked
    ConnId conn;
    std::function<void(int)> answer;
  };
  std::deque<Pending> decisions_;
  ConnId answering_ = 0;  // answer_hook(): whose decision is being answered
  struct Posted {  // a closure "posted to the loop", and the connection it answers
    ConnId conn;
    std::function<void()> fn;
  };
  std::deque<Posted> posted_;
  std::uint64_t frames_ = 0;
  std::uint64_t frames_at_start_ = 0;  // frames sent before the current hub (restart)
  std::vector<std::string> tokens_, peers_, lobbies_;
  std::vector<std::string> jobs_, credentials_, dispatches_;
  std::vector<std::pair<std::string, std::string>> providers_;  // id, resume token
  std::map<std::string, PeerId> token_peer_;
  std::set<std::string> echoed_tokens_;  // tokens a client sent where they may be echoed
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Limits kDefault = testing::test_limits();
  static const Limits kTight = tight_limits();
  fuzz::reset_random();
  Input in(data, size);
  // The first byte: bit 0 the limits, bit 1 host hooks on, bit 2 hooks answering at once.
  const std::uint8_t mode = in.byte();
  Run run(mode & 1 ? kTight : kDefault, (mode & 2) != 0, (mode & 4) != 0);
  while (!in.empty()) run.step(in);
  run.finish();
  return 0;
}
