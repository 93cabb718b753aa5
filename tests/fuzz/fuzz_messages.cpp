// Fuzz target "messages": every request decoder and value encoder of
// src/protocol/messages.*. The first byte, modulo 16, picks what is driven (so the digits
// '0'..'9' and ':'..'?' pick 0..15): 0 auth, 1 set_name, 2 create_lobby, 3 join_lobby,
// 4 chat, 5 chat_history, 6 update_media, 7 relay_description, 8 relay_candidate (the rest of
// the input is the "data" object as JSON), 9 check_name/name_key (a byte for the length
// limit, then the raw name), 10 the value encoders (fields from the input), 11..15 as 1..5 under tight
// limits; except 'A'..'E', which pick the bot requests of docs/bots.md: provider_hello,
// provider_status, job_accept/decline/end, add_bot, remove_bot. Beyond no crash, leak or undefined behaviour, it checks:
// - a decoded request keeps its documented bounds (names cleaned and within their length,
//   no control characters; chat text 1..max bytes; integers in range; exactly one of
//   lobby_id and name; text fields valid UTF-8);
// - a refused request is a bad_field error naming a "data." field, and its error frame is
//   valid JSON;
// - a relay payload written by write_relay_payload() passes the same check again with the
//   same fields (what the server forwards is what it checked);
// - check_name() cleans only White_Space (trimmed, runs folded to one space, as documented),
//   refuses controls that are not White_Space, and with name_key() is idempotent;
// - the value encoders round-trip through the client's decoders (client_decode.hpp), and a
//   chat message is never longer than json_size() says.
#include "fuzz_support.hpp"

#include <lobbykit/options.hpp>

#include "protocol/client_decode.hpp"
#include "protocol/envelope.hpp"
#include "protocol/json.hpp"
#include "protocol/messages.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

using namespace lobbykit;
using fuzz::Input;
using protocol::Error;

// Limits small enough that a short input reaches every bound.
Limits tight_limits() {
  Limits l;
  l.max_name_chars = 3;
  l.max_lobby_name_chars = 4;
  l.max_chat_bytes = 8;
  l.max_password_bytes = 5;
  l.min_password_bytes = 2;
  l.max_participants = 3;
  return l;
}

// The code points of valid UTF-8 text.
std::u32string code_points(std::string_view text) {
  std::u32string out;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t len = s[i] < 0x80 ? 1 : s[i] < 0xE0 ? 2 : s[i] < 0xF0 ? 3 : 4;
    char32_t cp = len == 1 ? s[i] : s[i] & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    out.push_back(cp);
    i += len;
  }
  return out;
}

// Unicode's White_Space property (PropList.txt) and the C0 and C1 controls, written here
// from the standard rather than taken from protocol/names.cpp.
bool white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}
bool control(char32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

// The documented cleaning: White_Space trimmed at both ends, each run inside one U+0020.
std::string fold_white_space(std::string_view raw) {
  std::string out;
  bool gap = false;
  const auto* s = reinterpret_cast<const unsigned char*>(raw.data());
  for (std::size_t i = 0; i < raw.size();) {
    const std::size_t len = s[i] < 0x80 ? 1 : s[i] < 0xE0 ? 2 : s[i] < 0xF0 ? 3 : 4;
    if (white_space(code_points(raw.substr(i, len))[0])) {
      gap = !out.empty();
    } else {
      if (gap) out += ' ';
      gap = false;
      out.append(raw.substr(i, len));
    }
    i += len;
  }
  return out;
}

void check_clean_name(const std::string& name, std::size_t max_chars, std::string_view input) {
  FUZZ_CHECK(!name.empty(), input);
  FUZZ_CHECK(protocol::valid_utf8(name), input);
  const std::u32string cps = code_points(name);
  FUZZ_CHECK(cps.size() <= max_chars, input);
  FUZZ_CHECK(!white_space(cps.front()) && !white_space(cps.back()), input);
  for (std::size_t i = 0; i < cps.size(); ++i) {
    FUZZ_CHECK(!control(cps[i]), input);
    if (white_space(cps[i]))
      FUZZ_CHECK(cps[i] == U' ' && !white_space(cps[i + 1]), input);  // one U+0020, inside
  }
  protocol::NameCheck again = protocol::check_name(name, max_chars);
  FUZZ_CHECK(again.problem.empty() && again.name == name, input);
}

void check_text(const std::optional<std::string>& s, std::size_t max_bytes,
                std::string_view input) {
  if (!s) return;
  FUZZ_CHECK(s->size() <= max_bytes, input);
  FUZZ_CHECK(protocol::valid_utf8(*s), input);
}

void check_refusal(const Error& e, std::string_view input) {
  FUZZ_CHECK(e.code == protocol::ErrorCode::bad_field, input);
  FUZZ_CHECK(e.field.rfind("data.", 0) == 0 && e.field.size() > 5, input);
  FUZZ_CHECK(!e.message.empty(), input);
  protocol::Frame frame = protocol::error_frame(e, "7");
  rapidjson::Document doc;
  doc.Parse(frame->data(), frame->size());
  FUZZ_CHECK(!doc.HasParseError() && doc.IsObject(), *frame);
  FUZZ_CHECK(protocol::read_string(doc, "type") == "error", *frame);
  const rapidjson::Value* data = protocol::read_object(doc, "data");
  FUZZ_CHECK(data && protocol::read_string(*data, "field") == e.field, *frame);
}

// decode() a request type; on success `check` looks at it.
template <typename Req, typename Decode, typename Check>
void drive(const rapidjson::Value& data, std::string_view input, Decode&& decode, Check&& check) {
  Req req;
  if (std::optional<Error> e = decode(data, req)) {
    check_refusal(*e, input);
    return;
  }
  check(req);
}

// The relay payload as the server forwards it, checked again: the same fields come out.
void relay_round_trip(const rapidjson::Value& data, bool candidate, std::string_view input) {
  protocol::RelayFields f;
  std::optional<Error> e =
      candidate ? protocol::check_candidate(data, f) : protocol::check_description(data, f);
  if (e) {
    check_refusal(*e, input);
    return;
  }
  FUZZ_CHECK(f.to.size() <= protocol::kMaxIdFieldBytes && protocol::valid_utf8(f.to), input);
  protocol::JsonBuilder payload;
  protocol::write_relay_payload(payload, f);
  protocol::JsonBuilder again;
  again.begin_object().str("to", f.to).raw(candidate ? "candidate" : "description",
                                            payload.view()).end_object();
  rapidjson::Document doc;
  doc.Parse(again.view().data(), again.view().size());
  FUZZ_CHECK(!doc.HasParseError() && doc.IsObject(), again.view());
  protocol::RelayFields g;
  e = candidate ? protocol::check_candidate(doc, g) : protocol::check_description(doc, g);
  FUZZ_CHECK(!e, again.view());
  FUZZ_CHECK(g.to == f.to && g.is_candidate == f.is_candidate, again.view());
  if (!candidate) {
    FUZZ_CHECK(g.type == f.type && g.sdp == f.sdp, again.view());
    return;
  }
  FUZZ_CHECK(g.end_of_candidates == f.end_of_candidates, again.view());
  if (f.end_of_candidates) return;
  FUZZ_CHECK(g.candidate == f.candidate && g.sdp_mid == f.sdp_mid &&
                 g.sdp_mline_index == f.sdp_mline_index &&
                 g.username_fragment == f.username_fragment,
             again.view());
}

void decode_request(int which, const Limits& l, std::string_view json) {
  rapidjson::Document doc;
  if (protocol::parse_object(json, doc)) return;  // not an object: the envelope target's job
  const rapidjson::Value& data = doc;
  switch (which) {
    case 0:
      drive<protocol::AuthReq>(data, json, [](auto& d, auto& r) { return protocol::decode(d, r); },
                               [&](const protocol::AuthReq& r) {
                                 check_text(r.token, protocol::kMaxTokenBytes, json);
                               });
      break;
    case 1:
      drive<protocol::SetNameReq>(
          data, json, [&](auto& d, auto& r) { return protocol::decode(d, r, l); },
          [&](const protocol::SetNameReq& r) {
            check_clean_name(r.name, l.max_name_chars, json);
            check_text(r.password, l.max_password_bytes, json);
            FUZZ_CHECK(!r.password || r.password->size() >= l.min_password_bytes, json);
          });
      break;
    case 2:
      drive<protocol::CreateLobbyReq>(
          data, json, [&](auto& d, auto& r) { return protocol::decode(d, r, l); },
          [&](const protocol::CreateLobbyReq& r) {
            check_clean_name(r.name, l.max_lobby_name_chars, json);
            FUZZ_CHECK(!r.max_participants ||
                           (*r.max_participants >= 1 && *r.max_participants <= l.max_participants),
                       json);
          });
      break;
    case 3:
      drive<protocol::JoinLobbyReq>(
          data, json, [&](auto& d, auto& r) { return protocol::decode(d, r, l); },
          [&](const protocol::JoinLobbyReq& r) {
            FUZZ_CHECK(r.lobby_id.has_value() != r.name.has_value(), json);
            check_text(r.lobby_id, protocol::kMaxIdFieldBytes, json);
            check_text(r.name, l.max_lobby_name_chars * 4, json);
          });
      break;
    case 4:
      drive<protocol::ChatReq>(data, json,
                               [&](auto& d, auto& r) { return protocol::decode(d, r, l); },
                               [&](const protocol::ChatReq& r) {
                                 FUZZ_CHECK(!r.text.empty(), json);
                                 check_text(r.text, l.max_chat_bytes, json);
                               });
      break;
    case 5:
      drive<protocol::ChatHistoryReq>(
          data, json, [](auto& d, auto& r) { return protocol::decode(d, r); },
          [&](const protocol::ChatHistoryReq& r) {
            FUZZ_CHECK(r.limit >= 1 && r.limit <= protocol::kMaxHistoryPage, json);
            FUZZ_CHECK(r.after <= (UINT64_MAX >> 11), json);
          });
      break;
    case 6:
      drive<protocol::UpdateMediaReq>(data, json,
                                      [](auto& d, auto& r) { return protocol::decode(d, r); },
                                      [](const protocol::UpdateMediaReq&) {});
      break;
    case 7:
      relay_round_trip(data, false, json);
      break;
    case 8:
      relay_round_trip(data, true, json);
      break;
    case 9:
      drive<protocol::ProviderHelloReq>(
          data, json, [&](auto& d, auto& r) { return protocol::decode(d, r, l); },
          [&](const protocol::ProviderHelloReq& r) {
            check_clean_name(r.name, protocol::kMaxProviderNameChars, json);
            FUZZ_CHECK(!r.kinds.empty() && r.kinds.size() <= protocol::kMaxProviderKinds, json);
            for (const auto& [kind, description] : r.kinds) {
              FUZZ_CHECK(protocol::valid_bot_word(kind, protocol::kMaxKindChars), json);
              if (!description.empty())
                check_clean_name(description, protocol::kMaxKindDescriptionChars, json);
            }
            FUZZ_CHECK(r.max_jobs >= 1 && r.max_jobs <= l.max_provider_jobs, json);
            FUZZ_CHECK(r.resume_id.empty() == r.resume_token.empty(), json);
          });
      break;
    case 10:
      drive<protocol::ProviderStatusReq>(
          data, json, [](auto& d, auto& r) { return protocol::decode(d, r); },
          [&](const protocol::ProviderStatusReq& r) {
            FUZZ_CHECK(r.load >= 0.0 && r.load <= 1.0, json);
            FUZZ_CHECK(r.jobs.size() <= protocol::kMaxProviderJobsListed, json);
            for (const auto& j : r.jobs)
              check_text(std::optional<std::string>(j), protocol::kMaxIdFieldBytes, json);
          });
      break;
    case 11:
      drive<protocol::JobReq>(data, json, [](auto& d, auto& r) { return protocol::decode(d, r); },
                              [&](const protocol::JobReq& r) {
                                check_text(std::optional<std::string>(r.job_id),
                                           protocol::kMaxIdFieldBytes, json);
                                if (!r.reason.empty()) check_clean_name(r.reason, 200, json);
                              });
      break;
    case 12:
      drive<protocol::AddBotReq>(
          data, json, [&](auto& d, auto& r) { return protocol::decode(d, r, l); },
          [&](const protocol::AddBotReq& r) {
            FUZZ_CHECK(protocol::valid_bot_word(r.kind, protocol::kMaxKindChars), json);
            FUZZ_CHECK(protocol::valid_bot_word(r.key, protocol::kMaxDispatchKeyChars), json);
            FUZZ_CHECK(r.metadata_json.size() <= std::max<std::size_t>(2, l.max_bot_metadata_bytes),
                       json);
            rapidjson::Document m;
            FUZZ_CHECK(!protocol::parse_object(r.metadata_json, m), json);
          });
      break;
    case 13: {
      std::string id;
      if (std::optional<Error> e = protocol::decode_dispatch_id(data, id)) {
        check_refusal(*e, json);
        break;
      }
      check_text(std::optional<std::string>(id), protocol::kMaxIdFieldBytes, json);
      break;
    }
  }
}

void names(Input& in) {
  const std::size_t max_chars = in.below(70);
  const std::string_view raw = in.rest();
  protocol::NameCheck c = protocol::check_name(raw, max_chars);
  if (c.problem.empty()) {
    check_clean_name(c.name, max_chars, raw);
    FUZZ_CHECK(c.name == fold_white_space(raw), raw);  // only White_Space was changed
  } else {
    FUZZ_CHECK(c.name.empty(), raw);
  }
  if (protocol::valid_utf8(raw)) {
    const std::u32string cps = code_points(raw);
    const bool refused_control = std::any_of(cps.begin(), cps.end(), [](char32_t cp) {
      return control(cp) && !white_space(cp);
    });
    if (refused_control) FUZZ_CHECK(!c.problem.empty(), raw);
  }
  const std::string key = protocol::name_key(raw);
  FUZZ_CHECK(key.size() == raw.size(), raw);
  FUZZ_CHECK(protocol::name_key(key) == key, raw);
  FUZZ_CHECK(protocol::name_key(c.name) == protocol::name_key(protocol::name_key(c.name)), raw);
}

// A string the server could be writing: valid UTF-8 (it only stores validated text).
std::string wire_text(Input& in) {
  std::string_view s = in.text();
  return protocol::valid_utf8(s) ? std::string(s) : std::string();
}

std::uint64_t number(Input& in) {
  std::uint64_t v = 0;
  for (int i = 0, n = in.byte() % 9; i < n; ++i) v = (v << 8) | in.byte();
  return v;
}

// Encoders against the client's decoders, and json_size() against the real size.
void encoders(Input& in) {
  const std::string lobby_id = wire_text(in);
  ChatMessage m;
  m.lobby_id = lobby_id;
  m.offset = number(in);
  m.sender = wire_text(in);
  m.sender_name = wire_text(in);
  m.text = wire_text(in);
  m.time_ms = static_cast<TimeMs>(number(in));
  Participant p;
  p.peer_id = wire_text(in);
  p.name = wire_text(in);
  const std::uint8_t bits = in.byte();
  p.has_media = bits & 1;
  p.audio_muted = bits & 2;
  p.video_muted = bits & 4;
  p.is_bot = bits & 8;
  p.connected = bits & 16;
  LobbyInfo info;
  info.id = lobby_id;
  info.name = wire_text(in);
  info.is_private = bits & 32;
  info.persistent = bits & 64;
  info.max_participants = static_cast<std::uint32_t>(number(in));
  info.participant_count = static_cast<std::uint32_t>(number(in));
  info.created_ms = static_cast<TimeMs>(number(in));

  protocol::JsonBuilder b;
  b.begin_object().key("message");
  protocol::write(b, m);
  const std::size_t message_bytes = b.view().size() - 11;  // less {"message":
  FUZZ_CHECK(message_bytes <= protocol::json_size(m), b.view());
  b.key("participant");
  protocol::write(b, p);
  b.key("lobby");
  protocol::write(b, info);
  b.end_object();

  rapidjson::Document doc;
  doc.Parse(b.view().data(), b.view().size());
  FUZZ_CHECK(!doc.HasParseError() && doc.IsObject(), b.view());
  const ChatMessage m2 = protocol::read_chat_message(doc["message"], lobby_id);
  FUZZ_CHECK(m2.lobby_id == m.lobby_id && m2.offset == m.offset && m2.sender == m.sender &&
                 m2.sender_name == m.sender_name && m2.text == m.text && m2.time_ms == m.time_ms,
             b.view());
  const Participant p2 = protocol::read_participant(doc["participant"]);
  FUZZ_CHECK(p2.peer_id == p.peer_id && p2.name == p.name && p2.has_media == p.has_media &&
                 p2.audio_muted == p.audio_muted && p2.video_muted == p.video_muted &&
                 p2.is_bot == p.is_bot && p2.connected == p.connected,
             b.view());
  const LobbyInfo l2 = protocol::read_lobby(doc["lobby"]);
  FUZZ_CHECK(l2.id == info.id && l2.name == info.name && l2.is_private == info.is_private &&
                 l2.persistent == info.persistent &&
                 l2.max_participants == info.max_participants &&
                 l2.participant_count == info.participant_count &&
                 l2.created_ms == info.created_ms,
             b.view());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Limits kDefault;
  static const Limits kTight = tight_limits();
  Input in(data, size);
  const std::uint8_t selector = in.byte();
  if (selector >= 'A' && selector <= 'E') {  // the bot requests (docs/bots.md)
    decode_request(9 + (selector - 'A'), kDefault, in.rest());
    return 0;
  }
  const int which = selector % 16;
  if (which <= 8) decode_request(which, kDefault, in.rest());
  else if (which == 9) names(in);
  else if (which == 10) encoders(in);
  else decode_request(which - 10, kTight, in.rest());
  return 0;
}
