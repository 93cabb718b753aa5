// The server-side operation set (docs/embedding.md, "Operations"): what a host does to the
// server and what the admin HTTP API does, as typed functions on the hub's state. The HTTP
// router and lobbykit::Server are thin adapters over these. Loop thread only.
//
// Every operation checks its own arguments (a host calls them with whatever it has): a bad
// one is bad_field with `field` naming the argument ("name", "text", "password", ...).
#pragma once

#include <lobbykit/model.hpp>

#include "router/hub_state.hpp"

#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace lobbykit::router {

// Every session, in no particular order.
std::vector<SessionInfo> list_sessions(Hub::State& s);
// The one place that turns a session into what hosts and admins see.
SessionInfo session_info(Hub::State& s, const core::Session& session);

// Every lobby, private ones included, in creation order, with its members.
std::vector<LobbyDetail> list_lobbies(Hub::State& s);
// Errors: lobby_not_found.
std::variant<LobbyDetail, Error> get_lobby(Hub::State& s, const LobbyId& id);

// A lobby created by the host or the admin: not counted under any session's or address's
// lobby quota. Publishes LobbyCreated. Errors: bad_field (name, max_participants),
// lobby_exists, too_many_lobbies.
std::variant<LobbyInfo, Error> create_lobby(Hub::State& s, const LobbySettings& settings);
// Changes the given settings; members get lobby_updated (event LobbyUpdated). Errors:
// lobby_not_found, bad_field (name, max_participants, metadata), lobby_exists.
std::variant<LobbyInfo, Error> update_lobby(Hub::State& s, const LobbyId& id,
                                            const LobbyUpdate& update);
// Members get lobby_left (reason lobby_removed); LobbyRemoved (reason "removed").
// Errors: lobby_not_found.
std::optional<Error> remove_lobby(Hub::State& s, const LobbyId& id);

// Ends the session: it leaves its lobby ("kicked"), its connection closes with 4002, it is
// deleted (SessionClosed "kicked"). Errors: session_not_found.
std::optional<Error> kick_session(Hub::State& s, const PeerId& peer);
// Gives the session a display name (checked and cleaned like set_name's); a protected name
// it held stays protected and unowned. Errors: session_not_found, bad_field, name_taken.
std::variant<SessionInfo, Error> rename_session(Hub::State& s, const PeerId& peer,
                                                const std::string& name);
// Sets (password given: hashed on the worker) or clears (nullopt) the password protecting a
// claimed name. done runs once on the loop thread: at once, or after the worker's hash.
// Errors: bad_field (password length), name_not_found, internal_error (hashing failed).
void reset_password(Hub::State& s, const std::string& name, std::optional<std::string> password,
                    std::function<void(std::optional<Error>)> done);

// A chat message from the server into the lobby: stored and numbered like chat, pushed to
// the members as chat, with sender "" and system true. Errors: lobby_not_found, bad_field
// (text: empty, over max_chat_bytes, not UTF-8).
std::variant<ChatMessage, Error> post_notice(Hub::State& s, const LobbyId& lobby_id,
                                             const std::string& text);

// Application messages and metadata (docs/embedding.md, "Application messages and metadata").

// Pushes app_message {lobby_id, name, from, from_name, to?, payload} to every connected
// member of the lobby but `from`, or only to `to` when it is not ""; returns how many members
// it went to. The arguments are checked already.
std::uint32_t deliver_app_message(Hub::State& s, const core::Lobby& lobby, const PeerId& from,
                                  const std::string& from_name, const PeerId& to,
                                  const std::string& name, const std::string& payload_json);
// An application message from the host (from ""), to the lobby or to one connected member.
// Returns how many members it went to. Errors: lobby_not_found, bad_field (name; payload: not
// JSON, over max_app_message_bytes), unknown_peer (to is not a connected member).
std::variant<std::uint32_t, Error> send_app_message(Hub::State& s, const LobbyId& lobby_id,
                                                    const std::string& name,
                                                    const std::string& payload_json,
                                                    const PeerId& to);
// Replaces the lobby's metadata; members get lobby_updated (event LobbyUpdated) when it
// changed. Errors: lobby_not_found, bad_field (metadata: not an object, over
// max_metadata_bytes).
std::variant<LobbyInfo, Error> set_lobby_metadata(Hub::State& s, const LobbyId& lobby_id,
                                                  const std::string& metadata_json);
// Replaces the session's metadata (stored with it); when it is in a lobby, the members get
// participant_updated (event ParticipantUpdated). Errors: session_not_found, bad_field.
std::variant<SessionInfo, Error> set_session_metadata(Hub::State& s, const PeerId& peer,
                                                      const std::string& metadata_json);
// The same with a checked object, for set_metadata {"target": "self"}.
void replace_session_metadata(Hub::State& s, core::Session& session, std::string metadata_json);

}  // namespace lobbykit::router
