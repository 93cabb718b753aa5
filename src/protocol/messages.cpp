#include "protocol/messages.hpp"

#include <lobbykit/options.hpp>

#include "protocol/envelope.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace lobbykit::protocol {
namespace {

Error field_error(const char* field, std::string message) {
  return Error{ErrorCode::bad_field, std::move(message), std::string("data.") + field, -1, {}};
}

// Reads typed fields from a data object. Absent optional fields keep their defaults; the
// first problem found is returned as a bad_field error naming the field.
class FieldReader {
 public:
  explicit FieldReader(const rapidjson::Value& obj) : obj_(obj) {}

  const rapidjson::Value* find(const char* key) const {
    auto it = obj_.FindMember(key);
    if (it == obj_.MemberEnd() || it->value.IsNull()) return nullptr;
    return &it->value;
  }

  // A string field, checked, as a view into the document.
  std::optional<Error> view(const char* key, std::optional<std::string_view>& out,
                            std::size_t max_bytes) const {
    const auto* v = find(key);
    if (!v) return std::nullopt;
    if (!v->IsString()) return field_error(key, std::string("\"") + key + "\" must be a string.");
    if (v->GetStringLength() > max_bytes)
      return field_error(key, std::string("\"") + key + "\" is longer than " +
                                  std::to_string(max_bytes) + " bytes.");
    // RapidJSON decodes a lone low surrogate escape to bytes that are not UTF-8.
    std::string_view text(v->GetString(), v->GetStringLength());
    if (!valid_utf8(text))
      return field_error(key, std::string("\"") + key + "\" is not valid Unicode text.");
    out.emplace(text);
    return std::nullopt;
  }

  std::optional<Error> required_view(const char* key, std::string_view& out,
                                     std::size_t max_bytes) const {
    std::optional<std::string_view> s;
    if (auto e = view(key, s, max_bytes)) return e;
    if (!s) return field_error(key, std::string("\"") + key + "\" is required.");
    out = *s;
    return std::nullopt;
  }

  std::optional<Error> string(const char* key, std::optional<std::string>& out,
                              std::size_t max_bytes) const {
    std::optional<std::string_view> s;
    if (auto e = view(key, s, max_bytes)) return e;
    if (s) out.emplace(*s);
    return std::nullopt;
  }

  std::optional<Error> required_string(const char* key, std::string& out,
                                       std::size_t max_bytes) const {
    std::optional<std::string> s;
    if (auto e = string(key, s, max_bytes)) return e;
    if (!s) return field_error(key, std::string("\"") + key + "\" is required.");
    out = std::move(*s);
    return std::nullopt;
  }

  std::optional<Error> boolean(const char* key, std::optional<bool>& out) const {
    const auto* v = find(key);
    if (!v) return std::nullopt;
    if (!v->IsBool()) return field_error(key, std::string("\"") + key + "\" must be true or false.");
    out = v->GetBool();
    return std::nullopt;
  }

  std::optional<Error> boolean(const char* key, bool& out) const {
    std::optional<bool> b;
    if (auto e = boolean(key, b)) return e;
    if (b) out = *b;
    return std::nullopt;
  }

  std::optional<Error> integer(const char* key, std::optional<std::uint64_t>& out,
                               std::uint64_t min, std::uint64_t max) const {
    const auto* v = find(key);
    if (!v) return std::nullopt;
    if (!v->IsUint64() || v->GetUint64() < min || v->GetUint64() > max)
      return field_error(key, std::string("\"") + key + "\" must be a whole number from " +
                                  std::to_string(min) + " to " + std::to_string(max) + ".");
    out = v->GetUint64();
    return std::nullopt;
  }

 private:
  const rapidjson::Value& obj_;
};

// A "metadata" field: a JSON object of at most max_bytes, written compact into out.
std::optional<Error> metadata_object(const rapidjson::Value& v, std::size_t max_bytes,
                                     std::string& out) {
  if (!v.IsObject()) return field_error("metadata", "\"metadata\" must be a JSON object.");
  out = to_json(v);
  if (out.size() > max_bytes)
    return field_error("metadata", "\"metadata\" is larger than " + std::to_string(max_bytes) +
                                       " bytes of JSON.");
  if (!valid_utf8(out))
    return field_error("metadata", "\"metadata\" has text that is not valid Unicode.");
  return std::nullopt;
}

std::optional<Error> checked_name(const char* key, std::string& name, std::size_t max_chars) {
  NameCheck c = check_name(name, max_chars);
  if (!c.problem.empty()) return field_error(key, c.problem);
  name = std::move(c.name);
  return std::nullopt;
}

}  // namespace

std::optional<Error> decode(const rapidjson::Value& data, AuthReq& out) {
  FieldReader r(data);
  if (auto e = r.string("token", out.token, kMaxTokenBytes)) return e;
  if (auto e = r.string("credential", out.credential, kMaxTokenBytes)) return e;
  if (out.token && out.credential)
    return field_error("credential", "Give at most one of \"token\" and \"credential\".");
  // Any length: the verifier refuses a long one as invalid_access_token.
  if (auto e = r.string("access_token", out.access_token, SIZE_MAX)) return e;
  if (out.access_token && out.credential)
    return field_error("access_token",
                       "Give at most one of \"credential\" and \"access_token\".");
  return r.boolean("bot", out.is_bot);
}

bool valid_bot_word(std::string_view text, std::size_t max_chars) {
  if (text.empty() || text.size() > max_chars) return false;
  for (char c : text)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

namespace {

std::optional<Error> bot_word(const char* key, const std::string& text, std::size_t max_chars) {
  if (valid_bot_word(text, max_chars)) return std::nullopt;
  return field_error(key, std::string("\"") + key + "\" must be 1 to " +
                              std::to_string(max_chars) +
                              " characters of a-z, 0-9, \"_\" and \"-\".");
}

// Free text for people (a provider's name, a kind's description): 1..max_chars code points
// under the name rule when required, else at most max_chars of the same.
std::optional<Error> label(const char* key, std::string& text, std::size_t max_chars,
                           bool required) {
  if (text.empty() && !required) return std::nullopt;
  return checked_name(key, text, max_chars);
}

}  // namespace

std::optional<Error> decode(const rapidjson::Value& data, ProviderHelloReq& out,
                            const Limits& l) {
  FieldReader r(data);
  if (auto e = r.required_string("key", out.key, 256)) return e;
  if (auto e = r.required_string("name", out.name, kMaxProviderNameChars * 4)) return e;
  if (auto e = label("name", out.name, kMaxProviderNameChars, true)) return e;
  std::optional<std::string> version;
  if (auto e = r.string("version", version, 32)) return e;
  out.version = version.value_or("");
  const auto* kinds = r.find("kinds");
  if (!kinds || !kinds->IsArray() || kinds->Empty() || kinds->Size() > kMaxProviderKinds)
    return field_error("kinds", "\"kinds\" must be an array of 1 to " +
                                    std::to_string(kMaxProviderKinds) +
                                    " objects {kind, description}.");
  for (const auto& k : kinds->GetArray()) {
    if (!k.IsObject()) return field_error("kinds", "Each of \"kinds\" must be an object.");
    FieldReader kr(k);
    std::string kind;
    std::optional<std::string> description;
    if (kr.required_string("kind", kind, kMaxKindChars) || !valid_bot_word(kind, kMaxKindChars))
      return field_error("kinds.kind", "A kind must be 1 to " + std::to_string(kMaxKindChars) +
                                           " characters of a-z, 0-9, \"_\" and \"-\".");
    if (kr.string("description", description, kMaxKindDescriptionChars * 4))
      return field_error("kinds.description", "A kind's description must be a string.");
    std::string text = description.value_or("");
    if (auto e = label("kinds.description", text, kMaxKindDescriptionChars, false)) return e;
    for (const auto& [seen, d] : out.kinds)
      if (seen == kind) return field_error("kinds.kind", "The kind \"" + kind + "\" is listed twice.");
    out.kinds.emplace_back(std::move(kind), std::move(text));
  }
  std::optional<std::uint64_t> max_jobs;
  if (auto e = r.integer("max_jobs", max_jobs, 1, l.max_provider_jobs)) return e;
  if (!max_jobs) return field_error("max_jobs", "\"max_jobs\" is required.");
  out.max_jobs = static_cast<std::uint32_t>(*max_jobs);
  if (const auto* resume = r.find("resume")) {
    if (!resume->IsObject())
      return field_error("resume", "\"resume\" must be an object {provider_id, token}.");
    FieldReader rr(*resume);
    if (rr.required_string("provider_id", out.resume_id, kMaxIdFieldBytes) ||
        rr.required_string("token", out.resume_token, kMaxTokenBytes))
      return field_error("resume", "\"resume\" must be an object {provider_id, token}.");
  }
  return std::nullopt;
}

std::optional<Error> decode(const rapidjson::Value& data, ProviderStatusReq& out) {
  FieldReader r(data);
  if (const auto* load = r.find("load")) {
    if (!load->IsNumber() || !(load->GetDouble() >= 0.0 && load->GetDouble() <= 1.0))
      return field_error("load", "\"load\" must be a number from 0 to 1.");
    out.load = load->GetDouble();
  }
  if (const auto* jobs = r.find("jobs")) {
    if (!jobs->IsArray() || jobs->Size() > kMaxProviderJobsListed)
      return field_error("jobs", "\"jobs\" must be an array of job ids.");
    for (const auto& j : jobs->GetArray()) {
      if (!j.IsString() || j.GetStringLength() > kMaxIdFieldBytes ||
          !valid_utf8(std::string_view(j.GetString(), j.GetStringLength())))
        return field_error("jobs", "\"jobs\" must be an array of job ids.");
      out.jobs.emplace_back(j.GetString(), j.GetStringLength());
    }
  }
  return r.boolean("accepting", out.accepting);
}

std::optional<Error> decode(const rapidjson::Value& data, JobReq& out) {
  FieldReader r(data);
  if (auto e = r.required_string("job_id", out.job_id, kMaxIdFieldBytes)) return e;
  std::optional<std::string> reason;
  if (auto e = r.string("reason", reason, 200 * 4)) return e;
  out.reason = reason.value_or("");
  if (auto e = label("reason", out.reason, 200, false)) return e;
  return r.boolean("retry", out.retry);
}

std::optional<Error> decode(const rapidjson::Value& data, AddBotReq& out, const Limits& l) {
  FieldReader r(data);
  if (auto e = r.required_string("kind", out.kind, kMaxKindChars)) return e;
  if (auto e = bot_word("kind", out.kind, kMaxKindChars)) return e;
  std::optional<std::string> key;
  if (auto e = r.string("key", key, kMaxDispatchKeyChars)) return e;
  out.key = key.value_or(out.kind);
  if (auto e = bot_word("key", out.key, kMaxDispatchKeyChars)) return e;
  out.metadata_json = "{}";
  if (const auto* m = r.find("metadata")) {
    if (!m->IsObject()) return field_error("metadata", "\"metadata\" must be a JSON object.");
    out.metadata_json = to_json(*m);
    if (out.metadata_json.size() > l.max_bot_metadata_bytes)
      return field_error("metadata", "\"metadata\" is larger than " +
                                         std::to_string(l.max_bot_metadata_bytes) +
                                         " bytes of JSON.");
  }
  return std::nullopt;
}

std::optional<Error> decode(const rapidjson::Value& data, KickMemberReq& out) {
  FieldReader r(data);
  if (auto e = r.required_string("peer_id", out.peer_id, kMaxIdFieldBytes)) return e;
  std::optional<std::string> reason;
  if (auto e = r.string("reason", reason, kMaxKickReasonChars * 4)) return e;
  out.reason = reason.value_or("");
  return label("reason", out.reason, kMaxKickReasonChars, false);
}

std::optional<Error> decode(const rapidjson::Value& data, MuteMemberReq& out) {
  FieldReader r(data);
  if (auto e = r.required_string("peer_id", out.peer_id, kMaxIdFieldBytes)) return e;
  if (auto e = r.boolean("audio", out.audio)) return e;
  if (auto e = r.boolean("video", out.video)) return e;
  if (!out.audio && !out.video)
    return field_error("audio", "Mute at least one of \"audio\" and \"video\".");
  return std::nullopt;
}

std::optional<Error> decode_dispatch_id(const rapidjson::Value& data, std::string& out) {
  FieldReader r(data);
  return r.required_string("dispatch_id", out, kMaxIdFieldBytes);
}

std::optional<Error> decode(const rapidjson::Value& data, SetNameReq& out, const Limits& l) {
  FieldReader r(data);
  if (auto e = r.required_string("name", out.name, l.max_name_chars * 4)) return e;
  if (auto e = checked_name("name", out.name, l.max_name_chars)) return e;
  if (auto e = r.string("password", out.password, l.max_password_bytes)) return e;
  if (out.password && out.password->size() < l.min_password_bytes)
    return field_error("password", "The password is too short.");
  return std::nullopt;
}

std::optional<Error> decode(const rapidjson::Value& data, CreateLobbyReq& out,
                            const Limits& l) {
  FieldReader r(data);
  if (auto e = r.required_string("name", out.name, l.max_lobby_name_chars * 4)) return e;
  if (auto e = checked_name("name", out.name, l.max_lobby_name_chars)) return e;
  if (auto e = r.boolean("private", out.is_private)) return e;
  if (auto e = r.boolean("persistent", out.persistent)) return e;
  std::optional<std::uint64_t> max;
  if (auto e = r.integer("max_participants", max, 1, l.max_participants)) return e;
  if (max) out.max_participants = static_cast<std::uint32_t>(*max);
  return std::nullopt;
}

std::optional<Error> decode(const rapidjson::Value& data, LobbyUpdate& out, const Limits& l) {
  FieldReader r(data);
  if (auto e = r.string("name", out.name, l.max_lobby_name_chars * 4)) return e;
  if (out.name) {
    if (auto e = checked_name("name", *out.name, l.max_lobby_name_chars)) return e;
  }
  if (auto e = r.boolean("private", out.is_private)) return e;
  if (auto e = r.boolean("persistent", out.persistent)) return e;
  std::optional<std::uint64_t> max;
  if (auto e = r.integer("max_participants", max, 1, l.max_participants)) return e;
  if (max) out.max_participants = static_cast<std::uint32_t>(*max);
  if (const auto* m = r.find("metadata")) {
    std::string json;
    if (auto e = metadata_object(*m, l.max_metadata_bytes, json)) return e;
    out.metadata_json = std::move(json);
  }
  return std::nullopt;
}

bool valid_app_message_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxAppMessageNameChars) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.' || c == ':' || c == '-'))
      return false;
  return true;
}

std::optional<Error> decode(const rapidjson::Value& data, AppMessageReq& out, const Limits& l) {
  FieldReader r(data);
  if (auto e = r.required_string("name", out.name, kMaxAppMessageNameChars)) return e;
  if (!valid_app_message_name(out.name))
    return field_error("name", "\"name\" must be 1 to " + std::to_string(kMaxAppMessageNameChars) +
                                   " characters of A-Z, a-z, 0-9, \"_\", \".\", \":\" and \"-\".");
  std::optional<std::string> to;
  if (auto e = r.string("to", to, kMaxIdFieldBytes)) return e;
  if (to && to->empty())
    return field_error("to", "\"to\" is empty; leave it out to send to the whole lobby.");
  out.to = to.value_or("");
  out.payload_json = "null";
  if (const auto* p = r.find("payload")) out.payload_json = to_json(*p);
  if (out.payload_json.size() > l.max_app_message_bytes)
    return field_error("payload", "\"payload\" is larger than " +
                                      std::to_string(l.max_app_message_bytes) + " bytes of JSON.");
  // RapidJSON decodes a lone surrogate escape to bytes that are not UTF-8: not forwarded.
  if (!valid_utf8(out.payload_json))
    return field_error("payload", "\"payload\" has text that is not valid Unicode.");
  return std::nullopt;
}

std::optional<Error> decode(const rapidjson::Value& data, SetMetadataReq& out, const Limits& l) {
  FieldReader r(data);
  std::string target;
  if (auto e = r.required_string("target", target, 16)) return e;
  if (target != "self" && target != "lobby")
    return field_error("target", "\"target\" must be \"self\" or \"lobby\".");
  out.lobby = target == "lobby";
  const auto* m = r.find("metadata");
  if (!m) return field_error("metadata", "\"metadata\" is required.");
  return metadata_object(*m, l.max_metadata_bytes, out.metadata_json);
}

std::optional<std::string> normalize_json(std::string_view text, bool object_only,
                                          std::size_t max_bytes, std::string& out) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) return std::string("it is not valid JSON");
  if (object_only && !doc.IsObject()) return std::string("it is not a JSON object");
  std::string json;
  if (!write_json(doc, json)) return std::string("it holds a number too large for JSON");
  if (json.size() > max_bytes)
    return "it is larger than " + std::to_string(max_bytes) + " bytes of JSON";
  if (!valid_utf8(json)) return std::string("it is not valid Unicode text");
  out = std::move(json);
  return std::nullopt;
}

std::optional<Error> decode(const rapidjson::Value& data, JoinLobbyReq& out, const Limits& l) {
  FieldReader r(data);
  if (auto e = r.string("lobby_id", out.lobby_id, kMaxIdFieldBytes)) return e;
  if (auto e = r.string("name", out.name, l.max_lobby_name_chars * 4)) return e;
  if (out.lobby_id.has_value() == out.name.has_value())
    return field_error("lobby_id", "Give exactly one of \"lobby_id\" and \"name\".");
  if (auto e = r.boolean("has_media", out.has_media)) return e;
  if (auto e = r.boolean("audio_muted", out.audio_muted)) return e;
  return r.boolean("video_muted", out.video_muted);
}

std::optional<Error> decode(const rapidjson::Value& data, ChatReq& out, const Limits& l) {
  FieldReader r(data);
  if (auto e = r.required_string("text", out.text, l.max_chat_bytes)) return e;
  if (out.text.empty()) return field_error("text", "\"text\" is empty.");
  return std::nullopt;
}

std::optional<Error> decode(const rapidjson::Value& data, ChatHistoryReq& out) {
  FieldReader r(data);
  std::optional<std::uint64_t> after, limit;
  if (auto e = r.integer("after", after, 0, kMaxSafeInteger)) return e;
  if (auto e = r.integer("limit", limit, 1, kMaxHistoryPage)) return e;
  if (after) out.after = *after;
  if (limit) out.limit = static_cast<std::uint32_t>(*limit);
  return std::nullopt;
}

std::optional<Error> decode(const rapidjson::Value& data, UpdateMediaReq& out) {
  FieldReader r(data);
  if (auto e = r.boolean("has_media", out.has_media)) return e;
  if (auto e = r.boolean("audio_muted", out.audio_muted)) return e;
  if (auto e = r.boolean("video_muted", out.video_muted)) return e;
  return r.boolean("screen_sharing", out.screen_sharing);
}

std::optional<Error> decode(const rapidjson::Value& data, WatchLobbiesReq& out) {
  FieldReader r(data);
  std::optional<bool> watch;
  if (auto e = r.boolean("watch", watch)) return e;
  out.watch = watch.value_or(true);
  return std::nullopt;
}

std::optional<Error> check_description(const rapidjson::Value& data, RelayFields& out) {
  FieldReader r(data);
  out.is_candidate = false;
  if (auto e = r.required_view("to", out.to, kMaxIdFieldBytes)) return e;
  const auto* d = r.find("description");
  if (!d || !d->IsObject())
    return field_error("description", "\"description\" must be an object {type, sdp}.");
  FieldReader dr(*d);
  std::string_view type;
  if (dr.required_view("type", type, 16) ||
      (type != "offer" && type != "answer" && type != "pranswer" && type != "rollback"))
    return field_error("description.type",
                       "\"description.type\" must be offer, answer, pranswer or rollback.");
  std::optional<std::string_view> sdp;
  if (dr.view("sdp", sdp, SIZE_MAX) || (!sdp && type != "rollback"))
    return field_error("description.sdp", "\"description.sdp\" must be a string.");
  out.type = type;
  out.sdp = sdp.value_or(std::string_view());
  return std::nullopt;
}

std::optional<Error> check_candidate(const rapidjson::Value& data, RelayFields& out) {
  FieldReader r(data);
  out.is_candidate = true;
  if (auto e = r.required_view("to", out.to, kMaxIdFieldBytes)) return e;
  const auto* c = r.find("candidate");
  if (!c) {  // null or absent: end of candidates
    out.end_of_candidates = true;
    return std::nullopt;
  }
  if (!c->IsObject())
    return field_error("candidate", "\"candidate\" must be an object or null.");
  FieldReader cr(*c);
  if (cr.required_view("candidate", out.candidate, 4096))
    return field_error("candidate.candidate", "\"candidate.candidate\" must be a string.");
  if (cr.view("sdpMid", out.sdp_mid, 256))
    return field_error("candidate.sdpMid", "\"candidate.sdpMid\" must be a string or null.");
  if (cr.integer("sdpMLineIndex", out.sdp_mline_index, 0, kMaxMLineIndex))
    return field_error("candidate.sdpMLineIndex",
                       "\"candidate.sdpMLineIndex\" must be a whole number from 0 to " +
                           std::to_string(kMaxMLineIndex) + ", or null.");
  if (cr.view("usernameFragment", out.username_fragment, 256))
    return field_error("candidate.usernameFragment",
                       "\"candidate.usernameFragment\" must be a string or null.");
  out.end_of_candidates = false;
  return std::nullopt;
}

void write_relay_payload(JsonBuilder& b, const RelayFields& f) {
  if (!f.is_candidate) {
    b.begin_object().str("type", f.type).str("sdp", f.sdp).end_object();
    return;
  }
  if (f.end_of_candidates) {
    b.w().Null();
    return;
  }
  b.begin_object().str("candidate", f.candidate);
  b.key("sdpMid");
  if (f.sdp_mid) b.value(*f.sdp_mid); else b.w().Null();
  b.key("sdpMLineIndex");
  if (f.sdp_mline_index) b.w().Uint64(*f.sdp_mline_index); else b.w().Null();
  if (f.username_fragment) b.str("usernameFragment", *f.username_fragment);
  b.end_object();
}

namespace {
// Metadata as written: a stored JSON object, or {} for none.
std::string_view object_or_empty(const std::string& json) {
  return json.empty() ? std::string_view("{}") : std::string_view(json);
}
}  // namespace

void write(JsonBuilder& b, const Participant& p) {
  b.begin_object()
      .str("peer_id", p.peer_id)
      .str("name", p.name)
      .boolean("has_media", p.has_media)
      .boolean("audio_muted", p.audio_muted)
      .boolean("video_muted", p.video_muted)
      .boolean("screen_sharing", p.screen_sharing)
      .boolean("is_bot", p.is_bot)
      .boolean("connected", p.connected)
      .str("user_id", p.user_id);
  b.begin_array("roles");
  for (const auto& role : p.roles) b.value(role);
  b.end_array().raw("metadata", object_or_empty(p.metadata_json)).end_object();
}

void write(JsonBuilder& b, const LobbyInfo& l) {
  b.begin_object()
      .str("id", l.id)
      .str("name", l.name)
      .boolean("private", l.is_private)
      .boolean("persistent", l.persistent)
      .unum("max_participants", l.max_participants)
      .unum("participants", l.participant_count)
      .num("created_ms", l.created_ms)
      .raw("metadata", object_or_empty(l.metadata_json))
      .end_object();
}

void write(JsonBuilder& b, const ChatMessage& m) {
  b.begin_object()
      .unum("offset", m.offset)
      .str("sender", m.sender)
      .str("sender_name", m.sender_name)
      .str("text", m.text)
      .num("time_ms", m.time_ms)
      .boolean("system", m.system)
      .end_object();
}

void write(JsonBuilder& b, const SessionInfo& s) {
  b.begin_object()
      .str("peer_id", s.peer_id)
      .str("name", s.name)
      .boolean("is_bot", s.is_bot)
      .boolean("connected", s.connected)
      .str("lobby_id", s.lobby_id)
      .boolean("name_protected", s.name_protected)
      .num("created_ms", s.created_ms)
      .num("last_seen_ms", s.last_seen_ms)
      .raw("metadata", object_or_empty(s.metadata_json))
      .end_object();
}

void write(JsonBuilder& b, const LobbyDetail& d) {
  b.begin_object().key("lobby");
  write(b, d.lobby);
  b.begin_array("participants");
  for (const auto& p : d.participants) write(b, p);
  b.end_array().end_object();
}

namespace {
// Bytes of s as a JSON string body: quotes and backslashes take 2, other control
// characters up to 6 (\u00XX).
std::size_t escaped_size(std::string_view s) {
  std::size_t n = s.size();
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') n += 1;
    else if (c < 0x20) n += 5;
  }
  return n;
}
}  // namespace

std::size_t json_size(const ChatMessage& m) {
  // Keys, quotes, separators, two 20-digit numbers and "system": under 128 bytes.
  return 128 + escaped_size(m.sender) + escaped_size(m.sender_name) + escaped_size(m.text);
}

Frame error_frame(const Error& e, std::string_view id_raw) {
  return envelope("error", id_raw, [&](JsonBuilder& b) {
    b.str("code", to_string(e.code)).str("error", e.message);
    if (!e.field.empty()) b.str("field", e.field);
    if (e.retry_after_ms >= 0) b.num("retry_after_ms", e.retry_after_ms);
    if (!e.reason.empty()) b.str("reason", e.reason);
  });
}

void write(JsonBuilder& b, const BotDispatch& d) {
  b.begin_object()
      .str("dispatch_id", d.dispatch_id)
      .str("lobby_id", d.lobby_id)
      .str("kind", d.kind)
      .str("key", d.key)
      .str("state", d.state)
      .str("reason", d.reason)
      .unum("attempts", d.attempts)
      .str("bot_peer_id", d.bot_peer_id)
      .num("created_ms", d.created_ms)
      .raw("metadata", d.metadata_json.empty() ? std::string_view("{}") : d.metadata_json)
      .end_object();
}

}  // namespace lobbykit::protocol
