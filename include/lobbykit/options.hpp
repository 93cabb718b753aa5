// Server options and limits. Every default lives here, once, and docs/protocol.md quotes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

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
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;    // 0 picks a free port; Server::port() tells which
  std::string store_path = "lobbykit.db"; // SQLite file; empty means in-memory, nothing kept
  std::string admin_token;      // empty: the admin API is off (404)
  std::string static_dir;       // served at /; empty: no static files
  unsigned worker_threads = 2;  // password hashing and other slow work
  Limits limits;
};

}  // namespace lobbykit
