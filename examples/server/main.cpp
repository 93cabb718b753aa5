// lobbykit-server: the bundled signaling server. Every ServerOptions and Limits field has a
// flag; --help lists them with their defaults. SIGTERM drains it, SIGINT stops it at once
// (docs/deployment.md).
// `lobbykit-server token ...` mints an access token instead (token --help).
#include <lobbykit/lobbykit.hpp>

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

#ifndef LOBBYKIT_EXAMPLE_WEB_DIR
#define LOBBYKIT_EXAMPLE_WEB_DIR ""
#endif

constexpr int kExitUsage = 2;  // bad flag or value
constexpr int kExitStart = 1;  // could not listen or open the store

struct Flag {
  const char* name;   // "--port"
  const char* value;  // placeholder shown by --help ("N"), nullptr for a switch
  std::string help;   // one line, default included
  // Applies the value (ignored for a switch); returns an error sentence, or "" if fine.
  std::function<std::string(lobbykit::ServerOptions&, const std::string&)> apply;
};

bool is_dir(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The web app served at / unless told otherwise: the one installed with this binary
// (PREFIX/bin/lobbykit-server serves PREFIX/share/lobbykit/web), else, for a binary in a
// build tree, the source tree's examples/web; "" when neither exists.
std::string default_web_dir() {
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    std::string bin(exe, static_cast<std::size_t>(n));
    bin = bin.substr(0, bin.find_last_of('/'));            // PREFIX/bin
    const std::string prefix = bin.substr(0, bin.find_last_of('/'));
    const std::string installed = prefix + "/share/lobbykit/web";
    if (is_dir(installed)) return installed;
  }
  return is_dir(LOBBYKIT_EXAMPLE_WEB_DIR) ? LOBBYKIT_EXAMPLE_WEB_DIR : "";
}

// Parses a whole decimal number in [min, max].
bool parse_uint(const std::string& s, unsigned long long min, unsigned long long max,
                unsigned long long& out) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return false;
  errno = 0;
  char* end = nullptr;
  out = std::strtoull(s.c_str(), &end, 10);
  return errno == 0 && *end == '\0' && out >= min && out <= max;
}

template <class T>
std::string to_text(T v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// The access token secret from a file: its whole content, without the line end(s) after it.
// Returns "" or an error sentence.
std::string read_secret_file(const std::string& path, std::string& secret) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return "cannot read the token secret file '" + path + "'";
  secret.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) return "the token secret file '" + path + "' is empty";
  return {};
}

// A flag setting an unsigned Limits field.
template <class T>
Flag limit_flag(const char* name, const char* value, T lobbykit::Limits::*field,
                const char* what, unsigned long long min = 1) {
  const lobbykit::Limits defaults;
  return {name, value, std::string(what) + " (default " + to_text(defaults.*field) + ")",
          [name, field, min](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
            unsigned long long n = 0;
            if (!parse_uint(v, min, std::numeric_limits<T>::max(), n))
              return std::string(name) + " needs a whole number from " + to_text(min) +
                     " to " + to_text(std::numeric_limits<T>::max()) + ", not '" + v + "'";
            o.limits.*field = static_cast<T>(n);
            return {};
          }};
}

// A flag setting a positive real Limits field.
Flag rate_flag(const char* name, double lobbykit::Limits::*field, const char* what) {
  const lobbykit::Limits defaults;
  return {name, "X", std::string(what) + " (default " + to_text(defaults.*field) + ")",
          [name, field](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
            char* end = nullptr;
            errno = 0;
            double x = v.empty() ? 0 : std::strtod(v.c_str(), &end);
            if (v.empty() || errno != 0 || *end != '\0' || !std::isfinite(x) || x <= 0)
              return std::string(name) + " needs a number above 0, not '" + v + "'";
            o.limits.*field = x;
            return {};
          }};
}

std::vector<Flag> make_flags(bool& want_help, bool& want_version) {
  using lobbykit::Limits;
  const lobbykit::ServerOptions d;
  const std::string web = default_web_dir();
  std::vector<Flag> f;
  f.push_back({"--help", nullptr, "show this help and exit",
               [&want_help](lobbykit::ServerOptions&, const std::string&) {
                 want_help = true;
                 return std::string();
               }});
  f.push_back({"--version", nullptr, "print the lobbykit version and exit",
               [&want_version](lobbykit::ServerOptions&, const std::string&) {
                 want_version = true;
                 return std::string();
               }});
  f.push_back({"--host", "HOST", "address to listen on (default " + d.host + ")",
               [](lobbykit::ServerOptions& o, const std::string& v) {
                 o.host = v;
                 return std::string();
               }});
  f.push_back({"--port", "N",
               "port to listen on, 0 picks a free one (default " + to_text(d.port) + ")",
               [](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
                 unsigned long long n = 0;
                 if (!parse_uint(v, 0, 65535, n))
                   return "--port needs a number from 0 to 65535, not '" + v + "'";
                 o.port = static_cast<std::uint16_t>(n);
                 return {};
               }});
  f.push_back({"--db", "PATH", "SQLite database file (default " + d.store_path + ")",
               [](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
                 if (v.empty()) return "--db needs a file path (use --memory for no file)";
                 o.store_path = v;
                 return {};
               }});
  f.push_back({"--memory", nullptr, "keep everything in memory, nothing survives a restart",
               [](lobbykit::ServerOptions& o, const std::string&) {
                 o.store_path.clear();
                 return std::string();
               }});
  f.push_back({"--admin-token", "TOKEN",
               "bearer token for /api/admin/*, also read from LOBBYKIT_ADMIN_TOKEN "
               "(default none: the admin API is off)",
               [](lobbykit::ServerOptions& o, const std::string& v) {
                 o.admin_token = v;
                 return std::string();
               }});
  f.push_back({"--provider-key", "KEY",
               "a bot provider key (repeatable; also LOBBYKIT_PROVIDER_KEY); \"sha256:HEX\" "
               "gives the key's SHA-256 instead (default none: providers are refused)",
               [](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
                 if (v.empty()) return "--provider-key needs a key";
                 o.provider_keys.push_back(v);
                 return {};
               }});
  f.push_back({"--provider-key-file", "FILE",
               "bot provider keys, one per line (blank lines and lines starting with # "
               "are skipped)",
               [](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
                 std::FILE* file = std::fopen(v.c_str(), "r");
                 if (!file) return "--provider-key-file cannot read '" + v + "'";
                 char line[1024];
                 while (std::fgets(line, sizeof line, file)) {
                   std::string key(line);
                   while (!key.empty() && (key.back() == '\n' || key.back() == '\r' ||
                                           key.back() == ' ' || key.back() == '\t'))
                     key.pop_back();
                   if (!key.empty() && key[0] != '#') o.provider_keys.push_back(key);
                 }
                 std::fclose(file);
                 return {};
               }});
  f.push_back({"--token-secret-file", "FILE",
               "access tokens' HMAC-SHA256 secret (at least 32 bytes), the file's content "
               "without its final line end; also LOBBYKIT_TOKEN_SECRET. Not a flag value: "
               "any user can read a process's arguments (default none: tokens are off)",
               [](lobbykit::ServerOptions& o, const std::string& v) {
                 return read_secret_file(v, o.token_secret);
               }});
  f.push_back({"--require-token", nullptr,
               "every client auth needs a valid access token (bots with a job credential "
               "are exempt)",
               [](lobbykit::ServerOptions& o, const std::string&) {
                 o.require_token = true;
                 return std::string();
               }});
  f.push_back({"--static", "DIR",
               "directory served at / (default: the web app installed with this binary, "
               "PREFIX/share/lobbykit/web, else the source tree's; now " +
                   (web.empty() ? std::string("none") : web) + ")",
               [](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
                 if (!is_dir(v)) return "--static needs an existing directory, not '" + v + "'";
                 o.static_dir = v;
                 return {};
               }});
  f.push_back({"--no-static", nullptr, "serve no static files",
               [](lobbykit::ServerOptions& o, const std::string&) {
                 o.static_dir.clear();
                 return std::string();
               }});
  f.push_back({"--workers", "N",
               "threads for password hashing and other slow work (default " +
                   to_text(d.worker_threads) + ")",
               [](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
                 unsigned long long n = 0;
                 if (!parse_uint(v, 1, 256, n))
                   return "--workers needs a number from 1 to 256, not '" + v + "'";
                 o.worker_threads = static_cast<unsigned>(n);
                 return {};
               }});
  f.push_back(limit_flag("--max-message-bytes", "N", &Limits::max_message_bytes,
                         "largest inbound WebSocket message, bytes; above: close 1009"));
  f.push_back(limit_flag("--max-chat-bytes", "N", &Limits::max_chat_bytes,
                         "largest chat message, UTF-8 bytes"));
  f.push_back(limit_flag("--max-name-chars", "N", &Limits::max_name_chars,
                         "longest display name, characters"));
  f.push_back(limit_flag("--max-lobby-name-chars", "N", &Limits::max_lobby_name_chars,
                         "longest lobby name, characters"));
  f.push_back(limit_flag("--max-password-bytes", "N", &Limits::max_password_bytes,
                         "longest password, bytes"));
  f.push_back(limit_flag("--min-password-bytes", "N", &Limits::min_password_bytes,
                         "shortest password, bytes"));
  f.push_back(rate_flag("--rate", &Limits::rate_per_second,
                        "messages per second each session may send (token bucket refill)"));
  f.push_back(rate_flag("--rate-burst", &Limits::rate_burst,
                        "messages a session may send in a burst (token bucket size)"));
  f.push_back(rate_flag("--rate-flood-burst", &Limits::rate_flood_burst,
                        "messages over the rate a connection may still send (each answered "
                        "rate_limited, refilled at --rate) before it is closed with 4006"));
  f.push_back(limit_flag("--ping-interval", "S", &Limits::ping_interval_s,
                         "seconds of silence before the server pings a client"));
  f.push_back(limit_flag("--pong-timeout", "S", &Limits::pong_timeout_s,
                         "seconds to wait for the pong before hanging up"));
  f.push_back(limit_flag("--auth-timeout-ms", "MS", &Limits::auth_timeout_ms,
                         "deadline for a client's first (auth) message, ms"));
  f.push_back(limit_flag("--max-outbound-bytes", "N", &Limits::max_outbound_bytes,
                         "bytes queued to one client before it is closed as a slow consumer"));
  f.push_back(limit_flag("--chat-history", "N", &Limits::chat_history,
                         "chat messages kept per lobby", 0));
  f.push_back(limit_flag("--lobby-expiry-ms", "MS", &Limits::lobby_expiry_ms,
                         "how long an empty non-persistent lobby lives, ms", 0));
  f.push_back(limit_flag("--lobby-list-push-ms", "MS", &Limits::lobby_list_push_ms,
                         "watch_lobbies: a lobby's participant-count change is pushed at most this often, ms",
                         0));
  f.push_back(limit_flag("--resume-grace-ms", "MS", &Limits::resume_grace_ms,
                         "how long a disconnected session keeps its lobby membership, ms", 0));
  f.push_back(limit_flag("--session-ttl-ms", "MS", &Limits::session_ttl_ms,
                         "how long an abandoned session is kept, ms"));
  f.push_back(limit_flag("--idle-session-ttl-ms", "MS", &Limits::idle_session_ttl_ms,
                         "how long a disconnected session with no name and no lobby is kept, "
                         "ms"));
  f.push_back(limit_flag("--max-sessions", "N", &Limits::max_sessions,
                         "sessions the server holds at once; above: too_many_sessions, close "
                         "4005"));
  f.push_back(limit_flag("--max-sessions-per-address", "N", &Limits::max_sessions_per_address,
                         "sessions created from one client address that exist at once; "
                         "above: too_many_sessions, close 4005"));
  f.push_back(limit_flag("--max-participants", "N", &Limits::max_participants,
                         "default and largest lobby size"));
  f.push_back(limit_flag("--max-lobbies", "N", &Limits::max_lobbies,
                         "lobbies the server holds at once"));
  f.push_back(limit_flag("--max-lobbies-per-session", "N", &Limits::max_lobbies_per_session,
                         "existing lobbies one session may have created; above: lobby_quota",
                         0));
  f.push_back(limit_flag("--max-lobbies-per-address", "N", &Limits::max_lobbies_per_address,
                         "existing lobbies created from one client address (sessions and "
                         "HTTP POST /api/lobbies, admin exempt); above: lobby_quota",
                         0));
  f.push_back(limit_flag("--password-attempts", "N", &Limits::password_attempts,
                         "wrong passwords for a name before it is locked for a while"));
  f.push_back(limit_flag("--password-lockout-ms", "MS", &Limits::password_lockout_ms,
                         "first lockout after too many wrong passwords, ms; doubles after"));
  f.push_back(limit_flag("--argon2-memory-kib", "N", &Limits::argon2_memory_kib,
                         "Argon2id memory cost, KiB", 8));
  f.push_back(limit_flag("--argon2-iterations", "N", &Limits::argon2_iterations,
                         "Argon2id iterations"));
  f.push_back(limit_flag("--max-http-body-bytes", "N", &Limits::max_http_body_bytes,
                         "largest HTTP request body, bytes; above: 413"));
  f.push_back(limit_flag("--bot-status-interval-ms", "MS", &Limits::bot_status_interval_ms,
                         "how often a bot provider reports its status, ms"));
  f.push_back(limit_flag("--bot-silence-ms", "MS", &Limits::bot_silence_ms,
                         "a bot provider silent this long is closed (4008), ms"));
  f.push_back(limit_flag("--bot-reclaim-ms", "MS", &Limits::bot_reclaim_ms,
                         "how long a lost provider's jobs wait for it to resume, ms", 0));
  f.push_back(limit_flag("--bot-offer-timeout-ms", "MS", &Limits::bot_offer_timeout_ms,
                         "how long a provider has to answer a job offer, ms"));
  f.push_back(limit_flag("--bot-join-timeout-ms", "MS", &Limits::bot_join_timeout_ms,
                         "how long an accepted job's bot has to join its lobby, ms"));
  f.push_back(limit_flag("--bot-retry-ms", "MS", &Limits::bot_retry_ms,
                         "how often a waiting bot dispatch is tried again, ms"));
  f.push_back(limit_flag("--bot-max-attempts", "N", &Limits::bot_max_attempts,
                         "failed attempts before a bot dispatch is failed"));
  f.push_back(limit_flag("--bot-empty-lobby-ms", "MS", &Limits::bot_empty_lobby_ms,
                         "a non-persistent lobby without a person this long loses its bots, "
                         "ms", 0));
  f.push_back(limit_flag("--max-bots-per-lobby", "N", &Limits::max_bots_per_lobby,
                         "bot dispatches per lobby", 0));
  f.push_back(limit_flag("--max-dispatches", "N", &Limits::max_dispatches,
                         "bot dispatches per server", 0));
  f.push_back(limit_flag("--max-providers", "N", &Limits::max_providers,
                         "bot provider connections per server", 0));
  f.push_back(limit_flag("--max-metadata-bytes", "N", &Limits::max_metadata_bytes,
                         "largest metadata (access token, session, lobby), bytes of JSON", 0));
  f.push_back(limit_flag("--token-skew-ms", "MS", &Limits::token_skew_ms,
                         "clock skew allowed on an access token's exp and nbf, ms", 0));
  f.push_back(limit_flag("--max-app-message-bytes", "N", &Limits::max_app_message_bytes,
                         "largest app_message payload, bytes of JSON", 0));
  f.push_back({"--no-participant-metadata", nullptr,
               "clients may not set their own metadata (set_metadata target self)",
               [](lobbykit::ServerOptions& o, const std::string&) {
                 o.limits.allow_participant_metadata = false;
                 return std::string();
               }});
  f.push_back({"--event-loop", "NAME",
               "libuv (epoll; the default here) or poll (lws' own loop, scans every "
               "connection)",
               [](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
                 if (v == "libuv") o.event_loop = lobbykit::EventLoop::libuv;
                 else if (v == "poll") o.event_loop = lobbykit::EventLoop::poll;
                 else return "--event-loop needs libuv or poll, not '" + v + "'";
                 return {};
               }});
  f.push_back({"--no-member-bots", nullptr, "lobby members may not add or remove bots",
               [](lobbykit::ServerOptions& o, const std::string&) {
                 o.limits.allow_member_bots = false;
                 return std::string();
               }});
  f.push_back({"--trusted-proxy", "ADDR[/BITS]",
               "a reverse proxy whose X-Forwarded-For gives the client's address (repeatable, "
               "or comma-separated; default none: the header is ignored)",
               [](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
                 std::size_t start = 0;
                 while (start <= v.size()) {
                   std::size_t comma = v.find(',', start);
                   if (comma == std::string::npos) comma = v.size();
                   std::string entry = v.substr(start, comma - start);
                   if (entry.empty()) return "--trusted-proxy needs addresses, not '" + v + "'";
                   o.trusted_proxies.push_back(entry);
                   start = comma + 1;
                 }
                 return {};
               }});
  f.push_back({"--tls-cert", "FILE",
               "TLS certificate (PEM, intermediates after it): https and wss on the port; "
               "needs --tls-key; SIGHUP reads both again",
               [](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
                 if (v.empty()) return "--tls-cert needs a file";
                 o.tls_cert_path = v;
                 return {};
               }});
  f.push_back({"--tls-key", "FILE", "the TLS certificate's private key (PEM)",
               [](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
                 if (v.empty()) return "--tls-key needs a file";
                 o.tls_key_path = v;
                 return {};
               }});
  f.push_back({"--drain-ms", "MS",
               "SIGTERM drains: clients are told to reconnect in batches over this long (default " +
                   to_text(d.drain_ms) + ")",
               [](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
                 unsigned long long n = 0;
                 if (!parse_uint(v, 0, 3'600'000, n))
                   return "--drain-ms needs a number of ms from 0 to 3600000, not '" + v + "'";
                 o.drain_ms = static_cast<std::uint32_t>(n);
                 return {};
               }});
  f.push_back({"--drain-url", "URL",
               "where a drain tells clients to reconnect (ws:// or wss://; default: the URL "
               "they used)",
               [](lobbykit::ServerOptions& o, const std::string& v) -> std::string {
                 if (v.rfind("ws://", 0) != 0 && v.rfind("wss://", 0) != 0)
                   return "--drain-url needs a ws:// or wss:// URL, not '" + v + "'";
                 o.drain_url = v;
                 return {};
               }});
  return f;
}

void print_help(const std::vector<Flag>& flags) {
  std::printf(
      "Usage: lobbykit-server [FLAGS]\n"
      "Runs the lobbykit signaling server: WebSocket clients on /ws, the HTTP API under\n"
      "/api, static files at /. Flags take their value as --flag VALUE or --flag=VALUE.\n"
      "Every flag can also come from the environment: LOBBYKIT_ and the flag's name in\n"
      "capitals, '-' as '_' (LOBBYKIT_PORT=8080, LOBBYKIT_MEMORY=1). A switch takes 1, true,\n"
      "yes or on (0, false, no, off: not set); an empty variable counts as unset; the command\n"
      "line wins over the environment. LOBBYKIT_TOKEN_SECRET is the secret itself.\n"
      "`lobbykit-server token --help`: mint an access token for this server's users.\n\n");
  for (const Flag& f : flags) {
    std::string left = std::string("  ") + f.name + (f.value ? std::string(" ") + f.value : "");
    if (left.size() < 28) left.resize(28, ' ');
    else left += "\n" + std::string(28, ' ');
    std::printf("%s%s\n", left.c_str(), f.help.c_str());
  }
}

// The environment variable for a flag: "--max-sessions" -> "LOBBYKIT_MAX_SESSIONS".
std::string env_name(const char* flag) {
  std::string name = "LOBBYKIT_";
  for (const char* p = flag + 2; *p; ++p) name += *p == '-' ? '_' : static_cast<char>(std::toupper(*p));
  return name;
}

// Applies every flag's environment variable (before the command line, which wins). Returns
// "" or an error sentence naming the variable.
std::string apply_env(const std::vector<Flag>& flags, lobbykit::ServerOptions& o) {
  for (const Flag& f : flags) {
    const std::string name = f.name;
    if (name == "--help" || name == "--version") continue;
    const std::string var = env_name(f.name);
    const char* raw = std::getenv(var.c_str());
    if (!raw || !*raw) continue;
    const std::string v = raw;
    if (!f.value) {
      if (v == "0" || v == "false" || v == "no" || v == "off") continue;
      if (v != "1" && v != "true" && v != "yes" && v != "on")
        return var + " is a switch: 1, true, yes or on (0, false, no or off), not '" + v + "'";
    }
    std::string error = f.apply(o, v);
    if (!error.empty()) return var + ": " + error;
  }
  return {};
}

// Returns "" or an error sentence.
std::string parse(int argc, char** argv, const std::vector<Flag>& flags,
                  lobbykit::ServerOptions& o) {
  if (std::string error = apply_env(flags, o); !error.empty()) return error;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h") arg = "--help";
    std::string value;
    bool has_value = false;
    std::size_t eq = arg.find('=');
    if (arg.compare(0, 2, "--") == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
      has_value = true;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : flags)
      if (arg == f.name) flag = &f;
    if (!flag) return "unknown flag '" + arg + "' (see --help)";
    if (!flag->value) {
      if (has_value) return std::string(flag->name) + " takes no value";
    } else if (!has_value) {
      if (i + 1 >= argc) return std::string(flag->name) + " needs a value (" + flag->value + ")";
      value = argv[++i];
    }
    std::string error = flag->apply(o, value);
    if (!error.empty()) return error;
  }
  if (o.limits.min_password_bytes > o.limits.max_password_bytes)
    return "--min-password-bytes must not exceed --max-password-bytes";
  if (o.require_token && o.token_secret.empty())
    return "--require-token needs a secret (--token-secret-file or LOBBYKIT_TOKEN_SECRET)";
  return {};
}

const char* kTokenUsage =
    "Usage: lobbykit-server token --user ID [--name NAME] [--role ROLE]... [--lobby LOBBY_ID]\n"
    "                             [--metadata JSON] [--ttl S] [--secret-file FILE]\n"
    "Prints an access token (an HS256 JWT) for the server with that secret: the session it\n"
    "starts has the user id, display name, roles and metadata given, may join only LOBBY_ID\n"
    "when given, and the token expires after S seconds (default 3600). The secret comes from\n"
    "FILE (its content without the final line end) or LOBBYKIT_TOKEN_SECRET.\n";

// `lobbykit-server token ...`: mints an access token and prints it.
int run_token(int argc, char** argv) {
  lobbykit::AccessClaims claims;
  std::string secret;
  if (const char* env = std::getenv("LOBBYKIT_TOKEN_SECRET")) secret = env;
  long long ttl = 3600;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", kTokenUsage);
      return 0;
    }
    std::string value;
    if (std::size_t eq = arg.find('='); arg.compare(0, 2, "--") == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "lobbykit-server token: %s needs a value\n%s", arg.c_str(), kTokenUsage);
      return kExitUsage;
    }
    std::string error;
    unsigned long long n = 0;
    if (arg == "--user") claims.user_id = value;
    else if (arg == "--name") claims.name = value;
    else if (arg == "--role") claims.roles.push_back(value);
    else if (arg == "--lobby") claims.lobby_id = value;
    else if (arg == "--metadata") claims.metadata_json = value;
    else if (arg == "--secret-file") error = read_secret_file(value, secret);
    else if (arg == "--ttl") {
      if (parse_uint(value, 1, 10ull * 365 * 24 * 3600, n)) ttl = static_cast<long long>(n);
      else error = "--ttl needs a number of seconds from 1 to 315360000, not '" + value + "'";
    } else {
      error = "unknown flag '" + arg + "'";
    }
    if (!error.empty()) {
      std::fprintf(stderr, "lobbykit-server token: %s\n%s", error.c_str(), kTokenUsage);
      return kExitUsage;
    }
  }
  if (claims.user_id.empty()) {
    std::fprintf(stderr, "lobbykit-server token: --user is required\n%s", kTokenUsage);
    return kExitUsage;
  }
  if (secret.empty()) {
    std::fprintf(stderr, "lobbykit-server token: no secret (--secret-file or "
                         "LOBBYKIT_TOKEN_SECRET)\n");
    return kExitUsage;
  }
  try {
    std::printf("%s\n", lobbykit::mint_access_token(secret, claims, ttl).c_str());
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "lobbykit-server token: %s\n", e.what());
    return kExitUsage;
  }
  return 0;
}

std::string url_host(const std::string& host) {
  if (host.empty()) return "0.0.0.0";
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// One line per session connecting or disconnecting. Runs on the loop thread: cheap.
void log_event(const lobbykit::Event& ev) {
  namespace e = lobbykit::event;
  if (auto* c = std::get_if<e::SessionCreated>(&ev))
    std::fprintf(stderr, "lobbykit-server: connect peer=%s%s (new session)\n",
                 c->peer_id.c_str(), c->is_bot ? " bot" : "");
  else if (auto* r = std::get_if<e::SessionResumed>(&ev))
    std::fprintf(stderr, "lobbykit-server: connect peer=%s name=%s (resumed)\n",
                 r->peer_id.c_str(), r->name.c_str());
  else if (auto* d = std::get_if<e::SessionDisconnected>(&ev))
    std::fprintf(stderr, "lobbykit-server: disconnect peer=%s\n", d->peer_id.c_str());
}

// SIGHUP: the TLS certificate and key files are read again, for new connections.
void reload_tls(lobbykit::Server& server) {
  const lobbykit::Status st = server.reload_tls();
  if (st.ok())
    std::fprintf(stderr, "lobbykit-server: SIGHUP, TLS certificate reloaded\n");
  else
    std::fprintf(stderr, "lobbykit-server: SIGHUP, TLS not reloaded: %s\n", st.message.c_str());
}

// SIGTERM drains (the clients are told to reconnect elsewhere over --drain-ms, then the
// server stops); SIGINT stops at once (every client closed with 1001, the store flushed);
// either signal during a drain stops at once.
void serve_until_signalled(lobbykit::Server& server, const sigset_t& signals) {
  int sig = 0;
  sigwait(&signals, &sig);
  while (sig == SIGHUP) {
    reload_tls(server);
    sigwait(&signals, &sig);
  }
  if (sig == SIGTERM) {
    std::fprintf(stderr, "lobbykit-server: SIGTERM, draining (a second signal stops at once)\n");
    server.drain();
    const pthread_t main_thread = pthread_self();
    std::thread waiter([&server, main_thread] {
      server.wait();
      pthread_kill(main_thread, SIGUSR1);
    });
    sigwait(&signals, &sig);
    while (sig == SIGHUP) {
      reload_tls(server);
      sigwait(&signals, &sig);
    }
    if (sig != SIGUSR1) std::fprintf(stderr, "lobbykit-server: signal during the drain\n");
    server.stop();  // returns once the loop has ended: at once when the drain is over
    waiter.join();
    std::fprintf(stderr, "lobbykit-server: stopped\n");
    return;
  }
  std::fprintf(stderr, "lobbykit-server: %s, shutting down\n",
               sig == SIGINT ? "SIGINT" : "signal");
  server.stop();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "token") return run_token(argc, argv);
  lobbykit::ServerOptions options;
  if (const char* secret = std::getenv("LOBBYKIT_TOKEN_SECRET")) options.token_secret = secret;
  options.static_dir = default_web_dir();
  // The process destroys its one server only on the way out, where lws' double close of its
  // wake-up pipe on libuv cannot hit anyone else's socket (see ServerOptions::event_loop).
  options.event_loop = lobbykit::EventLoop::libuv;

  bool want_help = false;
  bool want_version = false;
  const std::vector<Flag> flags = make_flags(want_help, want_version);
  std::string error = parse(argc, argv, flags, options);
  if (!error.empty()) {
    std::fprintf(stderr, "lobbykit-server: %s\n", error.c_str());
    return kExitUsage;
  }
  if (want_help) {
    print_help(flags);
    return 0;
  }
  if (want_version) {
    std::printf("lobbykit-server %s\n", LOBBYKIT_VERSION_STRING);
    return 0;
  }

  // SIGINT / SIGTERM are blocked in every thread (the server's inherit the mask) and taken
  // by sigwait() in serve_until_signalled(), so no code runs in signal context; so is SIGHUP
  // (read the TLS files again). SIGUSR1 is this program's own: the thread that waits for a
  // drain to end sends it.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGUSR1);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  try {
    lobbykit::Server server(options);
    server.subscribe(log_event);
    server.start();
    std::printf("lobbykit-server listening on %s://%s:%u\n",
                options.tls_cert_path.empty() ? "http" : "https", url_host(options.host).c_str(),
                static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    std::fprintf(stderr, "lobbykit-server: static files from %s\n",
                 options.static_dir.empty() ? "nowhere (--no-static)" : options.static_dir.c_str());
    serve_until_signalled(server, stop_signals);
  } catch (const lobbykit::StartError& e) {
    std::fprintf(stderr, "lobbykit-server: %s\n", e.what());
    return kExitStart;
  }
  return 0;
}
