// The data of every client request, decoded and validated; and the encoders for the values
// the server sends. Pure functions: a decode either fills the request or returns the error
// naming the offending field.
#pragma once

#include <lobbykit/model.hpp>

#include "protocol/error_code.hpp"
#include "protocol/json.hpp"
#include "protocol/names.hpp"

#include <rapidjson/document.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <string_view>

namespace lobbykit {
struct Limits;
}

namespace lobbykit::protocol {

constexpr std::size_t kMaxTokenBytes = 128;
constexpr std::size_t kMaxIdFieldBytes = 64;     // lobby ids and peer ids in requests
constexpr std::uint32_t kMaxHistoryPage = 500;   // chat_history "limit" upper bound
// 2^53 - 1: the largest integer every JSON peer (JavaScript's numbers) exchanges exactly; the
// bound of integer request fields without a smaller one of their own (chat_history "after").
constexpr std::uint64_t kMaxSafeInteger = (std::uint64_t{1} << 53) - 1;
constexpr std::uint64_t kMaxMLineIndex = 65535;  // relay_candidate "sdpMLineIndex"

struct AuthReq {
  std::optional<std::string> token;       // resume this session
  bool is_bot = false;                    // new sessions only
  std::optional<std::string> credential;  // a bot's one-time job credential (docs/bots.md)
  std::optional<std::string> access_token;  // a host-signed JWT (core/access_token.hpp)
};

// Bots (docs/bots.md). Kinds and dispatch keys: 1-32 / 1-64 of a-z, 0-9, "_", "-".
constexpr std::size_t kMaxKindChars = 32;
constexpr std::size_t kMaxDispatchKeyChars = 64;
constexpr std::size_t kMaxProviderKinds = 16;
constexpr std::size_t kMaxKindDescriptionChars = 200;
constexpr std::size_t kMaxProviderNameChars = 64;
constexpr std::size_t kMaxProviderJobsListed = 10'000;
// Whether text is a bot kind or dispatch key of at most max_chars.
bool valid_bot_word(std::string_view text, std::size_t max_chars);
struct ProviderHelloReq {
  std::string key;
  std::string name;
  std::string version;
  std::vector<std::pair<std::string, std::string>> kinds;  // kind, description
  std::uint32_t max_jobs = 1;
  std::string resume_id, resume_token;  // both "" without "resume"
};
struct ProviderStatusReq {
  double load = 0;
  std::vector<std::string> jobs;
  bool accepting = true;
};
struct JobReq {  // job_accept, job_decline, job_end
  std::string job_id;
  std::string reason;
  bool retry = false;
};
struct AddBotReq {
  std::string kind;
  std::string key;            // "" for the kind
  std::string metadata_json;  // "{}" when absent
};
struct SetNameReq {
  std::string name;
  std::optional<std::string> password;
};
struct CreateLobbyReq {
  std::string name;
  bool is_private = false;
  bool persistent = false;
  std::optional<std::uint32_t> max_participants;
};
struct JoinLobbyReq {
  std::optional<std::string> lobby_id;  // exactly one of lobby_id, name
  std::optional<std::string> name;
  bool has_media = false;
  bool audio_muted = false;
  bool video_muted = false;
};
struct ChatReq {
  std::string text;
};
struct ChatHistoryReq {
  std::uint64_t after = 0;
  std::uint32_t limit = kMaxHistoryPage;
};
// watch_lobbies: {"watch": bool}, default true.
struct WatchLobbiesReq {
  bool watch = true;
};
struct UpdateMediaReq {
  std::optional<bool> has_media, audio_muted, video_muted, screen_sharing;
};
// Roles (docs/protocol.md, "Roles"): a moderator acts on a member of its lobby.
constexpr std::size_t kMaxKickReasonChars = 200;
struct KickMemberReq {
  std::string peer_id;
  std::string reason;  // "" when none
};
struct MuteMemberReq {
  std::string peer_id;
  bool audio = false;  // force audio_muted
  bool video = false;  // force video_muted; at least one of the two
};
// Application messages and metadata (docs/protocol.md, "Application messages and
// metadata"). A message's name: 1-64 of A-Z, a-z, 0-9, "_", ".", ":", "-".
constexpr std::size_t kMaxAppMessageNameChars = 64;
bool valid_app_message_name(std::string_view name);
struct AppMessageReq {
  std::string name;
  std::string to;                     // "" for every other member of the lobby
  std::string payload_json = "null";  // at most Limits::max_app_message_bytes
};
struct SetMetadataReq {
  bool lobby = false;         // target "lobby"; else "self"
  std::string metadata_json;  // an object, at most Limits::max_metadata_bytes
};
// A JSON text a host hands over (an operation's argument): parsed and written back compact
// into `out`, or the problem as a sentence. object_only: it must be an object.
std::optional<std::string> normalize_json(std::string_view text, bool object_only,
                                          std::size_t max_bytes, std::string& out);

// relay_description / relay_candidate: the payload is validated and re-serialized with only
// the fields the protocol knows, so the server never forwards what it did not check. The
// checked fields are views into the request's document (valid while it is), written into
// the outbound frame by write_relay_payload() without intermediate copies.
struct RelayFields {
  std::string_view to;
  bool is_candidate = false;
  // relay_description
  std::string_view type;  // offer, answer, pranswer or rollback
  std::string_view sdp;   // "" when a rollback has none
  // relay_candidate
  bool end_of_candidates = false;  // candidate null or absent
  std::string_view candidate;
  std::optional<std::string_view> sdp_mid, username_fragment;
  std::optional<std::uint64_t> sdp_mline_index;
};

std::optional<Error> decode(const rapidjson::Value& data, AuthReq& out);
std::optional<Error> decode(const rapidjson::Value& data, SetNameReq& out, const Limits& l);
std::optional<Error> decode(const rapidjson::Value& data, CreateLobbyReq& out, const Limits& l);
std::optional<Error> decode(const rapidjson::Value& data, JoinLobbyReq& out, const Limits& l);
// The admin's lobby change (PATCH /api/admin/lobbies/{id}): any of name, private,
// persistent, max_participants, checked as create_lobby checks them.
std::optional<Error> decode(const rapidjson::Value& data, LobbyUpdate& out, const Limits& l);
std::optional<Error> decode(const rapidjson::Value& data, ChatReq& out, const Limits& l);
std::optional<Error> decode(const rapidjson::Value& data, ChatHistoryReq& out);
std::optional<Error> decode(const rapidjson::Value& data, UpdateMediaReq& out);
std::optional<Error> decode(const rapidjson::Value& data, WatchLobbiesReq& out);
std::optional<Error> decode(const rapidjson::Value& data, ProviderHelloReq& out,
                            const Limits& l);
std::optional<Error> decode(const rapidjson::Value& data, ProviderStatusReq& out);
std::optional<Error> decode(const rapidjson::Value& data, JobReq& out);
std::optional<Error> decode(const rapidjson::Value& data, AddBotReq& out, const Limits& l);
std::optional<Error> decode(const rapidjson::Value& data, KickMemberReq& out);
std::optional<Error> decode(const rapidjson::Value& data, MuteMemberReq& out);
std::optional<Error> decode(const rapidjson::Value& data, AppMessageReq& out, const Limits& l);
std::optional<Error> decode(const rapidjson::Value& data, SetMetadataReq& out, const Limits& l);
// remove_bot: {"dispatch_id"}.
std::optional<Error> decode_dispatch_id(const rapidjson::Value& data, std::string& out);
std::optional<Error> check_description(const rapidjson::Value& data, RelayFields& out);
std::optional<Error> check_candidate(const rapidjson::Value& data, RelayFields& out);
// Writes the checked payload (an object, or null for the end of candidates) at the
// builder's current position.
void write_relay_payload(JsonBuilder& b, const RelayFields& f);

// Encoders: each writes one JSON object value at the builder's current position.
void write(JsonBuilder& b, const Participant& p);
void write(JsonBuilder& b, const LobbyInfo& l);
void write(JsonBuilder& b, const ChatMessage& m);
// What hosts and admins see: the one writer of a session ({"peer_id", "name", ...}) and of a
// lobby with its members ({"lobby": Lobby, "participants": [Participant]}).
void write(JsonBuilder& b, const SessionInfo& s);
void write(JsonBuilder& b, const LobbyDetail& d);
// A Dispatch of docs/bots.md (metadata_json is written as the object it holds).
void write(JsonBuilder& b, const BotDispatch& d);
// An upper bound of the bytes write(b, m) produces (escapes counted): what a message costs
// in a reply, for the replies that carry many (lobby snapshots, chat_history).
std::size_t json_size(const ChatMessage& m);

using Frame = std::shared_ptr<const std::string>;
Frame error_frame(const Error& e, std::string_view id_raw);

}  // namespace lobbykit::protocol
