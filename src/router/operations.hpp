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
// lobby_not_found, bad_field (name, max_participants), lobby_exists.
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

// Application messages to a session or a lobby, and lobby/participant metadata, join this
// set with issue 11 §3 (the lead's part).

}  // namespace lobbykit::router
