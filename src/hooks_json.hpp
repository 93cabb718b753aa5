// Hooks spoken in JSON (for the C ABI and Python): a JsonHook receives the request as a JSON
// object and answers with a decision as a JSON object; these adapters turn one into the
// typed hooks of lobbykit/hooks.hpp. Shapes: docs/embedding.md "Hooks in JSON". A decision
// that is not valid JSON of that shape refuses the request with hook_failed.
#pragma once

#include <lobbykit/hooks.hpp>

namespace lobbykit::detail {

AuthHook json_auth_hook(JsonHook hook);
JoinHook json_join_hook(JsonHook hook);
CreateLobbyHook json_create_lobby_hook(JsonHook hook);
ChatHook json_chat_hook(JsonHook hook);
AppMessageHook json_app_message_hook(JsonHook hook);

}  // namespace lobbykit::detail
