/* lobbykit C ABI: the server and the client side of lobbykit for C programs and for other
 * languages' foreign-function interfaces. A thin, stable shell over the C++ API
 * (lobbykit/server.hpp, lobbykit/client.hpp); docs/c-api.md is the guide.
 *
 * Conventions
 * - Names: lk_<object>_<verb>; constants LK_*. Handles are opaque (lk_server, lk_client).
 * - Functions return int: LK_OK (0) or a negative lk_error_code. lk_error_last() describes
 *   the last failure on the calling thread; it never returns NULL.
 * - Out-parameters come first; callbacks take `void *user_data` last.
 * - Option structs begin with `unsigned version` and only ever grow at the end. Start from
 *   the *_INIT macro or the *_init() function: a zero, NULL or negative field means "the
 *   library's default" where its comment says so, so a program never restates a default.
 * - Complex values cross the boundary as JSON text (UTF-8, NUL-terminated): events,
 *   request data and replies, snapshots. Their fields are those of docs/protocol.md and
 *   docs/c-api.md. Strings the library allocates for the caller are freed with lk_free().
 * - Strings passed to a callback are valid only during the call.
 * - No C++ exception crosses this boundary.
 *
 * Threading
 * - A server and a client each own one loop thread (lk_*_start), or borrow the caller's
 *   (lk_*_run, which blocks until stopped). Every function here may be called from any
 *   thread, except the blocking calls below from inside a callback.
 * - Event callbacks and reply callbacks run on the loop thread of their server or client,
 *   one at a time, in order. They must not block.
 * - Inside any lobbykit callback, these return LK_ERR_STATE instead of deadlocking:
 *   lk_server_run, lk_client_run and lk_client_request_wait. lk_server_stop/lk_client_stop
 *   and lk_server_free/lk_client_free of the callback's OWN object are allowed: they return
 *   at once, and the loop ends (and, after *_free, the object is released) when the
 *   callback returns; no further callback of that object runs after *_free returns.
 *   Stopping or freeing ANOTHER object from a callback blocks until its loop ends; avoid it.
 * - After lk_*_unsubscribe or lk_*_free returns (called outside that object's callbacks), no
 *   callback of that subscription or object runs again. Reply callbacks of requests still
 *   in flight run exactly once, with status LK_ERR_REQUEST and code "stopped", before
 *   lk_client_stop or lk_client_free returns.
 */
#ifndef LOBBYKIT_H
#define LOBBYKIT_H

#include <stddef.h>
#include <stdint.h>

#include <lobbykit/version.h>

#if defined(LOBBYKIT_BUILDING)
#define LK_API __attribute__((visibility("default")))
#else
#define LK_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors ------------------------------------------------------------------------- */

typedef enum lk_error_code {
  LK_OK = 0,
  LK_ERR_INVALID = -1,   /* a bad argument: NULL handle, unknown option version, bad JSON */
  LK_ERR_START = -2,     /* a server could not listen or open its store; a client could
                            not start its network service */
  LK_ERR_STATE = -3,     /* not allowed now: e.g. run twice, or a blocking call from inside
                            a callback */
  LK_ERR_REQUEST = -4,   /* a request failed: its reply JSON carries the code (the server's,
                            or the client's own: timeout, not_connected, connection_lost,
                            stopped, bad_json) */
  LK_ERR_NOMEM = -5,     /* out of memory */
  LK_ERR_INTERNAL = -6   /* a bug in lobbykit: please report it with the message */
} lk_error_code;

typedef struct lk_error {
  int code;            /* the lk_error_code of the last failure; LK_OK when none */
  const char *message; /* one sentence; "" when none. Valid until the next lobbykit call
                          on this thread */
} lk_error;

/* The last failure on the calling thread. Never NULL. Successful calls do not clear it. */
LK_API const lk_error *lk_error_last(void);
LK_API void lk_error_clear(void);
/* A short name for a code: "LK_ERR_INVALID", ...; "unknown" for others. Never NULL. */
LK_API const char *lk_error_name(int code);

/* ---- Version ------------------------------------------------------------------------ */

/* The library's version, e.g. "0.1.0": compare with LK_VERSION_STRING from the headers. */
LK_API const char *lk_version(void);
/* The wire protocol version the library speaks (welcome.protocol_version). */
LK_API int lk_protocol_version(void);

/* Frees a string lobbykit allocated for the caller. lk_free(NULL) does nothing. */
LK_API void lk_free(void *p);

/* Callbacks. event_json: {"type": name, ...fields}, see docs/c-api.md. */
typedef void (*lk_event_cb)(const char *event_json, void *user_data);

/* ---- Server ------------------------------------------------------------------------- */

typedef struct lk_server lk_server;

#define LK_SERVER_OPTIONS_VERSION 4  /* 2 added provider_keys, 3 token_secret and
                                        require_token, 4 drain, proxies and TLS; structs of
                                        every earlier version still work */
#define LK_PORT_DEFAULT (-1) /* the library's default port (8080) */
#define LK_PORT_ANY 0        /* any free port: lk_server_port() tells which */

typedef struct lk_server_options {
  unsigned version;        /* LK_SERVER_OPTIONS_VERSION */
  const char *host;        /* address to listen on; NULL: "127.0.0.1" */
  int port;                /* LK_PORT_DEFAULT, LK_PORT_ANY or 1..65535 */
  const char *store_path;  /* SQLite file; NULL: "lobbykit.db"; "": in memory, nothing kept */
  const char *admin_token; /* bearer token of the admin HTTP API; NULL or "": API off */
  const char *static_dir;  /* directory served at /; NULL or "": none */
  unsigned worker_threads; /* threads for slow work (password hashing); 0: default (2) */
  const char *limits_json; /* NULL, or a JSON object overriding some limits by name, e.g.
                              {"max_participants": 16, "resume_grace_ms": 5000}; the names
                              and defaults are in docs/protocol.md ("Limits") and
                              docs/bots.md ("Limits") */
  const char *provider_keys; /* version 2: bot provider keys, one per line, each a key or
                                "sha256:HEX" (docs/bots.md); NULL or "": providers refused */
  const char *token_secret;  /* version 3: the access tokens' HMAC-SHA256 secret, at least 32
                                bytes (shorter: LK_ERR_START); NULL or "": tokens off
                                (docs/embedding.md, "Access tokens and roles") */
  int require_token;         /* version 3: non-zero: every client auth needs a valid access
                                token (bots with a job credential are exempt) */
  uint32_t drain_ms;         /* version 4: lk_server_drain() tells clients to reconnect over
                                this long; 0: default (10000) */
  const char *drain_url;     /* version 4: where a drain sends clients (ws:// or wss://);
                                NULL or "": the URL they used (docs/deployment.md) */
  const char *trusted_proxies; /* version 4: reverse proxies whose X-Forwarded-For names the
                                  client, comma-separated addresses or networks
                                  ("127.0.0.1,10.0.0.0/8"); NULL or "": none */
  const char *tls_cert_path; /* version 4: TLS certificate (PEM): https and wss on the port;
                                with tls_key_path; NULL or "": plain TCP */
  const char *tls_key_path;  /* version 4: the certificate's private key (PEM) */
} lk_server_options;

#define LK_SERVER_OPTIONS_INIT {LK_SERVER_OPTIONS_VERSION, NULL, LK_PORT_DEFAULT, NULL, NULL, NULL, 0, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL}

/* Fills opts with defaults for this version; LK_ERR_INVALID for an unknown version. */
LK_API int lk_server_options_init(lk_server_options *opts, unsigned version);

/* Opens the store and binds the listening socket (so lk_server_port() is known at once).
 * opts NULL means all defaults. LK_ERR_START when it cannot listen or open the store. */
LK_API int lk_server_new(lk_server **out, const lk_server_options *opts);
/* Serves on a thread of its own. A second call does nothing. */
LK_API int lk_server_start(lk_server *server);
/* Serves on the calling thread until lk_server_stop(); LK_ERR_STATE when already serving
 * or inside a callback. If the server was freed by one of its callbacks meanwhile, the
 * handle is gone when this returns. */
LK_API int lk_server_run(lk_server *server);
/* Closes every client (1001), flushes the store and ends the loop. Idempotent. */
LK_API int lk_server_stop(lk_server *server);
/* Graceful drain (docs/deployment.md, "Draining"): readiness turns false, new WebSocket
 * connections are refused, every client is told to reconnect elsewhere over the drain period
 * (10 s), then the server stops as lk_server_stop() does. Returns at once; lk_server_stop()
 * meanwhile ends the drain at once. */
LK_API int lk_server_drain(lk_server *server);
/* Blocks until the loop has ended (after a stop or a drain); at once when it never ran.
 * LK_ERR_STATE on the server's loop thread. */
LK_API int lk_server_wait(lk_server *server);
/* Reads the TLS certificate and key files again for new connections. LK_ERR_INVALID with a
 * message when the new files are bad (the old certificate stays), LK_ERR_STATE without TLS. */
LK_API int lk_server_reload_tls(lk_server *server);
/* The bound port (> 0), or a negative lk_error_code. */
LK_API int lk_server_port(const lk_server *server);
/* Stops the server if it runs and releases it. lk_server_free(NULL) does nothing. */
LK_API void lk_server_free(lk_server *server);

/* cb runs on the server's loop thread for every server event, in order. *out_id (may be
 * NULL) receives the id for lk_server_unsubscribe. */
LK_API int lk_server_subscribe(uint64_t *out_id, lk_server *server, lk_event_cb cb,
                               void *user_data);
LK_API int lk_server_unsubscribe(lk_server *server, uint64_t id);
/* Runs fn(user_data) on the server's loop thread soon. After lk_server_stop() it is
 * dropped: fn never runs. */
LK_API int lk_server_post(lk_server *server, void (*fn)(void *user_data), void *user_data);

/* Decision hooks (docs/embedding.md "Hooks"): the host allows, denies or adjusts.
 * cb runs on the server's loop thread with the request as JSON ({"hook": name, ...}) and a
 * decision the host must answer exactly once with lk_decision_resolve(), from any thread,
 * now or later; meanwhile that client's request (and its later messages) wait, everyone else
 * is served. Unanswered after the hook timeout (limit hook_timeout_ms, 5 s), the client is
 * refused with hook_timeout, but the decision still has to be resolved to free it. */
typedef enum lk_hook {
  LK_HOOK_AUTHENTICATE = 0,
  LK_HOOK_JOIN = 1,
  LK_HOOK_CREATE_LOBBY = 2,
  LK_HOOK_CHAT = 3
} lk_hook;
typedef struct lk_decision lk_decision;
typedef void (*lk_hook_cb)(const char *request_json, lk_decision *decision, void *user_data);
/* Sets (cb not NULL) or removes (cb NULL) one hook; LK_ERR_INVALID for an unknown hook. */
LK_API int lk_server_set_hook(lk_server *server, int hook, lk_hook_cb cb, void *user_data);
/* Answers and frees the decision. decision_json: NULL (allow) or an object {"allow": bool,
 * "reason": "code", "message": "sentence", ...adjustments: authenticate "name", "is_bot",
 * "roles", "metadata"; create_lobby "name", "private", "persistent", "max_participants";
 * chat "text"}. LK_ERR_INVALID when it is not such an object: the decision is still used up,
 * and the client refused with hook_failed. */
LK_API int lk_decision_resolve(lk_decision *decision, const char *decision_json);

/* Bots (docs/bots.md): the admin HTTP API's operations, for the host. Safe from any thread,
 * callbacks included; each is durable when it returns. *out_json (may be NULL) receives a
 * string to lk_free: on LK_OK the result, on LK_ERR_REQUEST {"code", "message"} with a code
 * of docs/protocol.md (lobby_not_found, unknown_kind, bot_quota, bad_field, ...).
 * add_bot: key NULL or "" means the kind, metadata_json NULL or a JSON object; the result is
 * {"dispatch": Dispatch, "created": bool} (created false: the lobby had that key already). */
LK_API int lk_server_add_bot(char **out_json, lk_server *server, const char *lobby_id,
                             const char *kind, const char *key, const char *metadata_json);
/* Result {} ; LK_ERR_REQUEST dispatch_not_found when the lobby has no bot with that key. */
LK_API int lk_server_remove_bot(char **out_json, lk_server *server, const char *lobby_id,
                                const char *key);
/* Result {"dispatches": [Dispatch], "kinds": [{"kind", "description", "available"}],
 * "providers": [{"provider_id", "name", "version", "kinds", "max_jobs", "running", "load",
 * "accepting", "connected", "connected_ms"}]}. */
LK_API int lk_server_bots(char **out_json, lk_server *server);
/* No more offers to that provider; it is told to drain. LK_ERR_REQUEST provider_not_found. */
LK_API int lk_server_drain_bot_provider(lk_server *server, const char *provider_id);

/* ---- Access tokens ------------------------------------------------------------------ */

/* Mints an access token (an HS256 JWT) for a host's user, signed with `secret` (at least 32
 * bytes, the server's token_secret). claims_json is an object: {"user_id": string (required,
 * 1..128 bytes), "name"?: string, "roles"?: [string], "metadata"?: object, "lobby"?: string,
 * "exp"?, "nbf"?, "iat"?: Unix seconds}; without "exp" the token is valid ttl_s seconds
 * (ttl_s <= 0: 3600). *out_token receives the token, to free with lk_free(). LK_ERR_INVALID
 * for a short secret or claims a server would refuse (lk_error_last() says which). Safe from
 * any thread. */
LK_API int lk_mint_access_token(char **out_token, const char *secret, const char *claims_json,
                                int64_t ttl_s);

/* ---- Client ------------------------------------------------------------------------- */

typedef struct lk_client lk_client;

typedef enum lk_connection_state {
  LK_STATE_DISCONNECTED = 0,
  LK_STATE_CONNECTING = 1,
  LK_STATE_CONNECTED = 2,
  LK_STATE_RECONNECTING = 3
} lk_connection_state;

/* "disconnected", "connecting", "connected", "reconnecting"; "unknown" otherwise. */
LK_API const char *lk_connection_state_name(int state);

#define LK_CLIENT_OPTIONS_VERSION 3  /* 2 added tls_ca_path, 3 access_token and auth_data_json;
                                       older structs still work */

typedef struct lk_client_options {
  unsigned version;            /* LK_CLIENT_OPTIONS_VERSION */
  const char *url;             /* ws:// or wss:// URL; NULL: "ws://127.0.0.1:8080/ws";
                                  unused in-process */
  const char *token;           /* resume this session; NULL or "": a new session */
  const char *name;            /* display name taken after the welcome; NULL or "": none */
  const char *password;        /* with name: protect it or prove it; NULL: none */
  int is_bot;                  /* non-zero: the session is a bot */
  int reconnect_disabled;      /* non-zero: never reconnect after a drop */
  uint32_t reconnect_initial_delay_ms; /* 0: default (250) */
  uint32_t reconnect_max_delay_ms;     /* 0: default (10000) */
  uint32_t reconnect_max_attempts;     /* retries in a row before giving up; 0: no limit */
  uint32_t request_timeout_ms;         /* 0: default (10000) */
  uint32_t connect_timeout_ms;         /* 0: default (10000) */
  const char *tls_ca_path;     /* version 2: wss:// URLs: a PEM file of CAs to verify the server
                                  against; NULL or "": the system's */
  const char *access_token;    /* version 3: a host-minted access token (lk_mint_access_token):
                                  a new session is made with it; NULL or "": none */
  const char *auth_data_json;  /* version 3: more fields for every auth message, a JSON object
                                  (what the server's authenticate hook asks for); NULL or "":
                                  none. lk_client_new: LK_ERR_INVALID when not an object */
} lk_client_options;

#define LK_CLIENT_OPTIONS_INIT \
  {LK_CLIENT_OPTIONS_VERSION, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL}

LK_API int lk_client_options_init(lk_client_options *opts, unsigned version);

/* A client of the server at opts->url. LK_ERR_INVALID for a URL that is not ws:// or
 * wss://, LK_ERR_START when the network service cannot start. */
LK_API int lk_client_new(lk_client **out, const lk_client_options *opts);
/* A client of `server` in this process, without a socket (same protocol and code paths).
 * If the server stops or is freed first, the client sees a close and retries like any
 * other client; free clients before their server to keep things simple. */
LK_API int lk_client_new_in_process(lk_client **out, lk_server *server,
                                    const lk_client_options *opts);
/* Connects and serves on a thread of its own; returns at once (lk_client_wait_ready waits
 * for the outcome). */
LK_API int lk_client_start(lk_client *client);
/* Waits until the client is ready: its first welcome came and the name of
 * lk_client_options.name, if any, is taken (with a password, that takes a while: joining
 * before it fails with name_required). Settled once per client. LK_OK: *out_json is
 * {"peer_id", "token", "name", "resumed"}. LK_ERR_REQUEST: *out_json is the error (see
 * lk_reply_cb): the name's code (name_taken, wrong_password, bad_field, ...; the client
 * stays connected without a name), "gave_up", "replaced" or "kicked" when it stopped
 * trying first, "stopped", or "timeout" when timeout_ms (0: no limit) passed first (the
 * client keeps trying). out_json may be NULL; else free it with lk_free(). Call it after
 * lk_client_start, or from another thread while lk_client_run serves. LK_ERR_STATE inside
 * any lobbykit callback. */
LK_API int lk_client_wait_ready(char **out_json, lk_client *client, uint32_t timeout_ms);
/* Connects and serves on the calling thread until lk_client_stop(). */
LK_API int lk_client_run(lk_client *client);
/* Closes the connection, fails requests in flight with "stopped", ends the loop. */
LK_API int lk_client_stop(lk_client *client);
/* Connects again after the client stopped trying (replaced, kicked, gave up). */
LK_API int lk_client_reconnect(lk_client *client);
/* Stops the client if it runs and releases it. lk_client_free(NULL) does nothing. */
LK_API void lk_client_free(lk_client *client);

/* The connection state (an lk_connection_state, >= 0) or a negative lk_error_code. */
LK_API int lk_client_state(const lk_client *client);
/* What the client knows, as JSON: {"state", "peer_id", "token", "name", "is_bot", "lobby"
 * (object or null), "participants", "chat", "last_offset", "history_complete",
 * "last_error", "lobbies", "watching_lobbies"}. *out_json is allocated: free it with
 * lk_free(). */
LK_API int lk_client_snapshot(char **out_json, const lk_client *client);

/* cb runs on the client's loop thread for every client event, in order: state_changed,
 * welcome, lobby_joined, lobby_left, participant_joined, participant_left,
 * participant_updated, name_changed, chat, peer_added, peer_removed, description,
 * candidate, error, lobby_updated, app_message, lobby_list, lobby_listed, lobby_unlisted
 * (docs/c-api.md lists their fields; later versions may add kinds: skip unknown ones). */
LK_API int lk_client_subscribe(uint64_t *out_id, lk_client *client, lk_event_cb cb,
                               void *user_data);
LK_API int lk_client_unsubscribe(lk_client *client, uint64_t id);

/* A request's outcome. status LK_OK: json is the result's data object. status
 * LK_ERR_REQUEST: json is {"code", "message", "field"?, "retry_after_ms"?}. */
typedef void (*lk_reply_cb)(int status, const char *json, void *user_data);

/* Sends a request of a protocol type (set_name, create_lobby, list_lobbies, join_lobby,
 * leave_lobby, chat, update_media, relay_description, relay_candidate, ping, ...) with its
 * data as a JSON object text (NULL or "": {}); docs/protocol.md has each type's data and
 * result. cb (may be NULL) runs exactly once on the client's loop thread -- or on the
 * calling thread at once when no loop runs (code "not_connected" or "stopped"). The state
 * store follows results (name, lobby, media flags). */
LK_API int lk_client_request(lk_client *client, const char *type, const char *data_json,
                             lk_reply_cb cb, void *user_data);
/* The same, waiting for the outcome: LK_OK with the result data, or LK_ERR_REQUEST with
 * the error object (see lk_reply_cb) in *out_json (may be NULL; else free it with
 * lk_free()). It cannot wait forever: requests time out (request_timeout_ms).
 * LK_ERR_STATE inside any lobbykit callback. */
LK_API int lk_client_request_wait(char **out_json, lk_client *client, const char *type,
                                  const char *data_json);

/* ---- Server operations --------------------------------------------------------------- */

/* The host acts on the server (docs/embedding.md, "Operations"): the operations the admin
 * HTTP API uses too. Like the bot calls: any thread, callbacks included (there they run
 * inline), each durable when it returns, before lk_server_start() and after stop() too.
 * *out_json (may be NULL) receives a string to lk_free: on LK_OK the result, on
 * LK_ERR_REQUEST {"code", "message"} with a code of docs/protocol.md; lk_error_last() then
 * says "code: message". NULL string arguments are LK_ERR_INVALID. Session is
 * {"peer_id", "name", "is_bot", "connected", "lobby_id", "name_protected", "created_ms",
 * "last_seen_ms"}; Lobby, Participant and ChatMessage are those of docs/protocol.md. */

/* {"sessions": [Session]}. */
LK_API int lk_server_list_sessions(char **out_json, lk_server *server);
/* {"lobbies": [{"lobby": Lobby, "participants": [Participant]}]}, private ones included, in
 * creation order. */
LK_API int lk_server_list_lobbies(char **out_json, lk_server *server);
/* {"lobby": Lobby, "participants": [Participant]}; lobby_not_found. */
LK_API int lk_server_get_lobby(char **out_json, lk_server *server, const char *lobby_id);
/* settings_json as create_lobby's data: {"name", "private"?, "persistent"?,
 * "max_participants"?}; counted under no quota. {"lobby": Lobby}; bad_field, lobby_exists,
 * too_many_lobbies. A field of the wrong JSON type is LK_ERR_INVALID. */
LK_API int lk_server_create_lobby(char **out_json, lk_server *server, const char *settings_json);
/* update_json: any of "name", "private", "persistent", "max_participants"; the others stay.
 * A max_participants below the member count removes nobody; joins are refused until the
 * lobby fits. Members get lobby_updated. {"lobby": Lobby}; lobby_not_found, bad_field,
 * lobby_exists. */
LK_API int lk_server_update_lobby(char **out_json, lk_server *server, const char *lobby_id,
                                  const char *update_json);
/* {}; members get lobby_left (lobby_removed). lobby_not_found. */
LK_API int lk_server_remove_lobby(char **out_json, lk_server *server, const char *lobby_id);
/* {}; the session leaves its lobby (kicked), its connection closes with 4002 and it is
 * deleted. session_not_found. */
LK_API int lk_server_kick_session(char **out_json, lk_server *server, const char *peer_id);
/* {"session": Session} with the new (cleaned) name; session_not_found, bad_field,
 * name_taken. */
LK_API int lk_server_rename_session(char **out_json, lk_server *server, const char *peer_id,
                                    const char *name);
/* Sets (password not NULL; hashed on a worker thread) or clears (NULL) the password of a
 * claimed name, waiting for it. {}; bad_field, name_not_found, internal_error.
 * LK_ERR_STATE inside any lobbykit callback (it would wait for itself): use the _async form
 * there. Before lk_server_start() it waits until the server runs. */
LK_API int lk_server_reset_password(char **out_json, lk_server *server, const char *name,
                                    const char *password);
/* The same without waiting: cb (may be NULL) runs exactly once, on the server's loop thread
 * (a worker thread when the server stops first: then with internal_error), with LK_OK and
 * {} or LK_ERR_REQUEST and {"code", "message"}. */
LK_API int lk_server_reset_password_async(lk_server *server, const char *name,
                                          const char *password, lk_reply_cb cb,
                                          void *user_data);
/* A chat message from the server: stored and pushed to the members like chat, with sender
 * "" and "system": true. {"message": ChatMessage}; lobby_not_found, bad_field (text empty,
 * over max_chat_bytes, not UTF-8). */
LK_API int lk_server_post_notice(char **out_json, lk_server *server, const char *lobby_id,
                                 const char *text);

/* Application messages and metadata (docs/embedding.md, "Application messages and metadata").
 * Sets (cb not NULL) or removes (cb NULL) the handler of the members' app_message called
 * `name` (NULL or "": every name without a handler of its own; a name with neither is
 * delivered without asking). Called and answered as the hooks above: the request is
 * {"hook": "app_message", "peer_id", "name" (the sender's display name), "user_id", "roles",
 * "lobby_id", "to" ("" : the whole lobby), "type" (the message's name), "payload"}; the
 * decision {"allow", "reason", "message", "deliver": bool, "reply": any JSON value}. A
 * "reply" without "deliver" means the host handled it: delivered to nobody, the sender's
 * result carries the reply. {"deliver": false} handles it without a reply. */
LK_API int lk_server_set_app_message_hook(lk_server *server, const char *name, lk_hook_cb cb,
                                          void *user_data);
/* An application message from the server ("from": ""), to every connected member of the
 * lobby or only to `to` (NULL or "": all). payload_json: a JSON value, NULL for null.
 * {}; lobby_not_found, bad_field (name, payload), unknown_peer. */
LK_API int lk_server_send_app_message(char **out_json, lk_server *server, const char *lobby_id,
                                      const char *name, const char *payload_json,
                                      const char *to);
/* Replace the lobby's / the session's metadata (a JSON object, at most max_metadata_bytes);
 * members get lobby_updated / participant_updated. {"lobby": Lobby} / {"session": Session};
 * lobby_not_found / session_not_found, bad_field. */
LK_API int lk_server_set_lobby_metadata(char **out_json, lk_server *server, const char *lobby_id,
                                        const char *metadata_json);
LK_API int lk_server_set_session_metadata(char **out_json, lk_server *server,
                                          const char *peer_id, const char *metadata_json);

#ifdef __cplusplus
}
#endif

#endif /* LOBBYKIT_H */
