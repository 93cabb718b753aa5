// Server options and limits. Every default lives here, once, and docs/protocol.md quotes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lobbykit {

// Limits a server enforces on its clients. Times are in milliseconds unless named _s.
struct Limits {
  std::size_t max_message_bytes = 64 * 1024;    // inbound WS message; above: close 1009
  std::size_t max_chat_bytes = 4 * 1024;        // chat text, UTF-8 bytes
  std::size_t max_name_chars = 32;              // display name, code points
  std::size_t max_lobby_name_chars = 64;        // lobby name, code points
  std::size_t max_password_bytes = 256;         // a longer password is refused
  std::size_t min_password_bytes = 1;
  double rate_per_second = 100.0;               // token bucket refill per session
  double rate_burst = 200.0;                    // token bucket size
  double rate_flood_burst = 200.0;              // messages refused for the rate a connection
                                                // may send (refilled at rate_per_second)
                                                // before it is closed with 4006
  std::uint32_t ping_interval_s = 25;           // protocol ping after this much silence
  std::uint32_t pong_timeout_s = 10;            // hang up when no pong arrives in time
  std::uint32_t auth_timeout_ms = 10'000;       // first message deadline
  std::size_t max_outbound_bytes = 1024 * 1024; // queued per connection, then close 4003
  std::size_t chat_history = 500;               // messages kept per lobby
  std::uint32_t lobby_expiry_ms = 300'000;      // empty non-persistent lobby lifetime
  std::uint32_t resume_grace_ms = 60'000;       // membership kept after a disconnect
  std::uint32_t lobby_list_push_ms = 500;       // watch_lobbies: participant-count changes of a
                                                // lobby pushed at most this often
  std::uint64_t session_ttl_ms = 24ull * 3600 * 1000; // abandoned session lifetime
  std::uint64_t idle_session_ttl_ms = 5 * 60 * 1000;  // ... of one with no name and no lobby
  std::size_t max_sessions = 100'000;           // sessions a server holds at once
  std::size_t max_sessions_per_address = 64;    // existing sessions created from one address
  std::uint32_t max_participants = 64;          // default and upper bound per lobby
  std::size_t max_lobbies = 10'000;             // lobbies a server holds at once
  std::size_t max_lobbies_per_session = 10;     // existing lobbies one session created
  std::size_t max_lobbies_per_address = 50;     // existing lobbies created from one address
                                                // (its sessions and HTTP POST /api/lobbies)
  std::uint32_t password_attempts = 5;          // failures before throttling a name
  std::uint32_t password_lockout_ms = 30'000;   // first lockout; doubles per further failure
  std::uint32_t argon2_memory_kib = 19 * 1024;  // Argon2id cost (OWASP minimum profile)
  std::uint32_t argon2_iterations = 2;
  std::size_t max_http_body_bytes = 64 * 1024;  // HTTP request bodies (admin, lobby create)

  // Bots (docs/bots.md).
  std::uint32_t bot_status_interval_ms = 5'000; // a provider's heartbeat interval
  std::uint32_t bot_silence_ms = 15'000;        // provider silent this long: close 4008
  std::uint32_t bot_reclaim_ms = 10'000;        // a lost provider's jobs wait for it
  std::uint32_t bot_offer_timeout_ms = 5'000;   // an offer's answer deadline
  std::uint32_t bot_join_timeout_ms = 15'000;   // from job_accept to the bot in its lobby
  std::uint32_t bot_retry_ms = 10'000;          // a waiting dispatch is tried this often
  std::uint32_t bot_max_attempts = 5;           // failed attempts before "failed"
  std::uint32_t bot_empty_lobby_ms = 60'000;    // a non-persistent lobby without a person
                                                // this long loses its bots (lobby_empty)
  std::size_t max_bots_per_lobby = 4;           // dispatches per lobby
  std::size_t max_dispatches = 1'000;           // dispatches per server
  std::size_t max_providers = 100;              // provider connections per server
  std::uint32_t max_provider_jobs = 1'000;      // the largest max_jobs a provider may offer
  std::size_t max_bot_metadata_bytes = 4 * 1024; // a dispatch's metadata, as JSON
  bool allow_member_bots = true;                // members may add_bot / remove_bot

  // Host hooks (docs/embedding.md "Hooks").
  std::uint32_t hook_timeout_ms = 5'000;        // a hook's answer deadline: then hook_timeout
  std::size_t max_held_messages = 64;           // a client's messages waiting behind a hook
  std::size_t max_held_bytes = 256 * 1024;      // ... and their bytes; more closes it (4006)
  // Access tokens (docs/embedding.md, "Access tokens and roles").
  std::size_t max_metadata_bytes = 4 * 1024;    // a session's metadata (a token's "metadata"),
                                                // bytes of JSON
  std::uint32_t token_skew_ms = 30'000;         // clock skew allowed on "exp" and "nbf"
  // Application messages and metadata (docs/embedding.md, "Application messages and
  // metadata"). max_metadata_bytes above also bounds lobby metadata and set_metadata.
  std::size_t max_app_message_bytes = 16 * 1024; // an app_message's payload, bytes of JSON
  bool allow_participant_metadata = true;       // clients may set_metadata {"target": "self"}
};

// The event loop that runs the server's sockets (docs/architecture.md, "Transport").
enum class EventLoop {
  libuv,  // epoll through libuv: a wake-up costs what is ready, not what is open
  poll,   // libwebsockets' built-in poll() loop: scans every connection on each wake-up
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;    // 0 picks a free port; Server::port() tells which
  std::string store_path = "lobbykit.db"; // SQLite file; empty means in-memory, nothing kept
  std::string admin_token;      // empty: the admin API is off (404)
  std::string static_dir;       // served at /; empty: no static files
  unsigned worker_threads = 2;  // password hashing and other slow work
  // Bot provider keys (docs/bots.md): each a key, or "sha256:HEX" (the key's SHA-256). Only
  // hashes are kept. Empty: providers are refused.
  std::vector<std::string> provider_keys;
  Limits limits;
  // Access tokens (docs/embedding.md): the HMAC-SHA256 secret, at least 32 bytes
  // (kMinTokenSecretBytes in token.hpp; shorter: StartError). Empty: tokens are off and an
  // auth with one is refused (invalid_access_token).
  std::string token_secret;
  // Every client auth needs a valid access token (access_token_required without one); bot
  // sessions made with a job credential, and bot providers, are exempt.
  bool require_token = false;
  // poll by default in a library: lws 4.1.6 on libuv closes its wake-up pipe's descriptor
  // twice when a Server is destroyed, which can close a socket another thread of the host
  // has just opened (docs/architecture.md, "Transport"). lobbykit-server uses libuv.
  EventLoop event_loop = EventLoop::poll;
  // Graceful drain (Server::drain(), SIGTERM in lobbykit-server; docs/deployment.md): the
  // connected clients are told to reconnect in batches spread over this long.
  std::uint32_t drain_ms = 10'000;
  // The URL the drain tells clients to reconnect to (ws:// or wss://), e.g. another node or
  // the load balancer; "" : the one they used.
  std::string drain_url;
  // Reverse proxies whose X-Forwarded-For is believed (docs/deployment.md, "Behind a reverse
  // proxy"): addresses or networks ("127.0.0.1", "10.0.0.0/8", "fd00::/8"). A connection from
  // one of them is counted, limited and shown to hooks under the client address the header
  // names; every other connection under its own address. Empty: the header is ignored.
  std::vector<std::string> trusted_proxies;
  // TLS (docs/deployment.md, "TLS"): with a certificate (PEM, intermediates after it) and
  // its key, every connection is TLS 1.2 or 1.3 — https:// and wss:// on the one port.
  // Both empty: plain TCP. One without the other, an unreadable file or a key that is not
  // the certificate's: StartError. Server::reload_tls() reads them again.
  std::string tls_cert_path;
  std::string tls_key_path;
};

}  // namespace lobbykit
