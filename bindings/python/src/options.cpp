// The option structs as plain Python classes: every field, read-write, with the C++
// default (a default-constructed struct is the only source of the defaults). Each class
// takes its fields as keyword arguments and has _fields, __repr__, __eq__ and __copy__.
#include <algorithm>
#include <lobbykit/client.hpp>
#include <lobbykit/options.hpp>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/stl.h>

#include "bindings.hpp"

namespace lobbykit::python {
namespace {

template <class T>
class StructBinding {
 public:
  StructBinding(py::module_& m, const char* name, const char* doc) : cls_(m, name, doc) {}

  template <class F>
  StructBinding& field(const char* name, F T::*member, const char* doc) {
    cls_.def_readwrite(name, member, doc);
    fields_.emplace_back(name);
    return *this;
  }

  void finish() {
    const std::vector<std::string> fields = fields_;
    cls_.def(py::init([fields](const py::kwargs& kwargs) {
               py::object obj = py::cast(T{});
               for (auto item : kwargs) {
                 const auto key = item.first.cast<std::string>();
                 if (std::find(fields.begin(), fields.end(), key) == fields.end())
                   throw py::type_error(py::str("{}() got an unexpected keyword argument '{}'")
                                            .format(py::type::of(obj).attr("__name__"), key));
                 obj.attr(item.first) = item.second;
               }
               return obj.cast<T>();
             }),
             "Every field has the C++ default unless given as a keyword argument.");
    py::tuple names(fields.size());
    for (std::size_t i = 0; i < fields.size(); ++i) names[i] = py::str(fields[i]);
    cls_.attr("_fields") = names;
    cls_.def("__repr__", [](const py::object& self) {
      py::list parts;
      for (py::handle name : self.attr("_fields"))
        parts.append(py::str("{}={!r}").format(name, self.attr(name)));
      return py::str("{}({})").format(py::type::of(self).attr("__name__"),
                                      py::str(", ").attr("join")(parts));
    });
    cls_.def("__eq__", [](const py::object& self, const py::object& other) -> py::object {
      if (!py::type::of(self).is(py::type::of(other)))
        return py::reinterpret_borrow<py::object>(Py_NotImplemented);
      for (py::handle name : self.attr("_fields"))
        if (!self.attr(name).equal(other.attr(name))) return py::bool_(false);
      return py::bool_(true);
    });
    cls_.attr("__hash__") = py::none();
    cls_.def("__copy__", [](const T& self) { return T(self); });
    cls_.def("__deepcopy__", [](const T& self, const py::dict&) { return T(self); });
  }

 private:
  py::class_<T> cls_;
  std::vector<std::string> fields_;
};

}  // namespace

void bind_options(py::module_& m) {
  StructBinding<Limits>(m, "Limits",
                        "Limits a server enforces on its clients. Times are in milliseconds "
                        "unless named _s.")
      .field("max_message_bytes", &Limits::max_message_bytes,
             "Inbound WebSocket message; above: close 1009.")
      .field("max_chat_bytes", &Limits::max_chat_bytes, "Chat text, UTF-8 bytes.")
      .field("max_name_chars", &Limits::max_name_chars, "Display name, code points.")
      .field("max_lobby_name_chars", &Limits::max_lobby_name_chars, "Lobby name, code points.")
      .field("max_password_bytes", &Limits::max_password_bytes, "A longer password is refused.")
      .field("min_password_bytes", &Limits::min_password_bytes, "A shorter password is refused.")
      .field("rate_per_second", &Limits::rate_per_second, "Token bucket refill per session.")
      .field("rate_burst", &Limits::rate_burst, "Token bucket size.")
      .field("rate_flood_burst", &Limits::rate_flood_burst,
             "Messages over the rate a connection may still send (refilled at "
             "rate_per_second) before it is closed with 4006.")
      .field("ping_interval_s", &Limits::ping_interval_s, "Protocol ping after this much silence.")
      .field("pong_timeout_s", &Limits::pong_timeout_s, "Hang up when no pong arrives in time.")
      .field("auth_timeout_ms", &Limits::auth_timeout_ms, "First message deadline.")
      .field("max_outbound_bytes", &Limits::max_outbound_bytes,
             "Queued per connection, then close 4003.")
      .field("chat_history", &Limits::chat_history, "Messages kept per lobby.")
      .field("lobby_expiry_ms", &Limits::lobby_expiry_ms, "Empty non-persistent lobby lifetime.")
      .field("resume_grace_ms", &Limits::resume_grace_ms, "Membership kept after a disconnect.")
      .field("lobby_list_push_ms", &Limits::lobby_list_push_ms,
             "watch_lobbies: a lobby's participant-count change is pushed at most this often.")
      .field("session_ttl_ms", &Limits::session_ttl_ms, "Abandoned session lifetime.")
      .field("idle_session_ttl_ms", &Limits::idle_session_ttl_ms,
             "Lifetime of a disconnected session with no name and no lobby.")
      .field("max_sessions", &Limits::max_sessions, "Sessions a server holds at once.")
      .field("max_sessions_per_address", &Limits::max_sessions_per_address,
             "Existing sessions created from one client address (in-process ones exempt).")
      .field("max_participants", &Limits::max_participants, "Default and upper bound per lobby.")
      .field("max_lobbies", &Limits::max_lobbies, "Lobbies a server holds at once.")
      .field("max_lobbies_per_session", &Limits::max_lobbies_per_session,
             "Existing lobbies one session created.")
      .field("max_lobbies_per_address", &Limits::max_lobbies_per_address,
             "Existing lobbies created from one client address (admin and in-process exempt).")
      .field("password_attempts", &Limits::password_attempts, "Failures before throttling a name.")
      .field("password_lockout_ms", &Limits::password_lockout_ms,
             "First lockout; doubles per further failure.")
      .field("argon2_memory_kib", &Limits::argon2_memory_kib, "Argon2id memory cost.")
      .field("argon2_iterations", &Limits::argon2_iterations, "Argon2id time cost.")
      .field("max_http_body_bytes", &Limits::max_http_body_bytes,
             "HTTP request bodies (admin, lobby create).")
      .field("bot_status_interval_ms", &Limits::bot_status_interval_ms,
             "A bot provider's heartbeat interval.")
      .field("bot_silence_ms", &Limits::bot_silence_ms, "Provider silent this long: close 4008.")
      .field("bot_reclaim_ms", &Limits::bot_reclaim_ms, "A lost provider's jobs wait this long.")
      .field("bot_offer_timeout_ms", &Limits::bot_offer_timeout_ms, "A job offer's deadline.")
      .field("bot_join_timeout_ms", &Limits::bot_join_timeout_ms,
             "From job_accept to the bot in its lobby.")
      .field("bot_retry_ms", &Limits::bot_retry_ms, "A waiting dispatch is tried this often.")
      .field("bot_max_attempts", &Limits::bot_max_attempts, "Failed attempts before 'failed'.")
      .field("bot_empty_lobby_ms", &Limits::bot_empty_lobby_ms,
             "A non-persistent lobby without a person this long loses its bots.")
      .field("max_bots_per_lobby", &Limits::max_bots_per_lobby, "Dispatches per lobby.")
      .field("max_dispatches", &Limits::max_dispatches, "Dispatches per server.")
      .field("max_providers", &Limits::max_providers, "Provider connections per server.")
      .field("max_provider_jobs", &Limits::max_provider_jobs,
             "The largest max_jobs a provider may announce.")
      .field("max_bot_metadata_bytes", &Limits::max_bot_metadata_bytes,
             "A dispatch's metadata, bytes of JSON.")
      .field("allow_member_bots", &Limits::allow_member_bots,
             "Members may add_bot / remove_bot.")
      .field("hook_timeout_ms", &Limits::hook_timeout_ms,
             "A decision hook's answer deadline; then hook_timeout.")
      .field("max_held_messages", &Limits::max_held_messages,
             "A client's messages waiting behind a hook; more closes it (4006).")
      .field("max_held_bytes", &Limits::max_held_bytes, "... and their bytes.")
      .field("max_metadata_bytes", &Limits::max_metadata_bytes,
             "A session's metadata (an access token's 'metadata'), bytes of JSON.")
      .field("token_skew_ms", &Limits::token_skew_ms,
             "Clock skew allowed on an access token's 'exp' and 'nbf'.")
      .field("max_app_message_bytes", &Limits::max_app_message_bytes,
             "An app_message's payload, bytes of JSON.")
      .field("allow_participant_metadata", &Limits::allow_participant_metadata,
             "Clients may set their own metadata (set_metadata, target 'self').")
      .finish();

  py::enum_<EventLoop>(m, "EventLoop", "The event loop that runs a Server's sockets.")
      .value("libuv", EventLoop::libuv, "epoll through libuv (lobbykit-server's default).")
      .value("poll", EventLoop::poll,
             "libwebsockets' poll() loop, which scans every connection (the default).");

  StructBinding<ServerOptions>(m, "ServerOptions", "How a Server listens, stores and limits.")
      .field("host", &ServerOptions::host, "Address to listen on.")
      .field("port", &ServerOptions::port, "0 picks a free port; Server.port tells which.")
      .field("store_path", &ServerOptions::store_path,
             "SQLite file; empty means in memory, nothing kept.")
      .field("admin_token", &ServerOptions::admin_token, "Empty: the admin API is off (404).")
      .field("static_dir", &ServerOptions::static_dir, "Served at /; empty: no static files.")
      .field("worker_threads", &ServerOptions::worker_threads,
             "Password hashing and other slow work.")
      .field("provider_keys", &ServerOptions::provider_keys,
             "Bot provider keys (a list; each a key or 'sha256:HEX'); empty refuses providers.")
      .field("limits", &ServerOptions::limits, "A Limits.")
      .field("token_secret", &ServerOptions::token_secret,
             "Access tokens' HMAC-SHA256 secret, at least 32 bytes; empty: tokens are off.")
      .field("require_token", &ServerOptions::require_token,
             "Every client auth needs a valid access token (job-credential bots exempt).")
      .field("event_loop", &ServerOptions::event_loop, "An EventLoop; poll unless set (see docs/architecture.md, Transport).")
      .field("drain_ms", &ServerOptions::drain_ms,
             "drain() tells the clients to reconnect in batches over this long, ms.")
      .field("drain_url", &ServerOptions::drain_url,
             "Where drain() tells clients to reconnect (ws:// or wss://); empty: where they were.")
      .field("trusted_proxies", &ServerOptions::trusted_proxies,
             "Reverse proxies (addresses or networks, a list) whose X-Forwarded-For is believed.")
      .field("tls_cert_path", &ServerOptions::tls_cert_path,
             "TLS certificate (PEM): https and wss on the port; needs tls_key_path.")
      .field("tls_key_path", &ServerOptions::tls_key_path, "The TLS certificate's key (PEM).")
      .finish();

  StructBinding<ReconnectPolicy>(m, "ReconnectPolicy",
                                 "Retry n (from 0) waits a uniformly random time in "
                                 "[0, min(max_delay_ms, initial_delay_ms * 2**n)) ms; a welcome "
                                 "starts the count again.")
      .field("enabled", &ReconnectPolicy::enabled, "Reconnect after a drop.")
      .field("initial_delay_ms", &ReconnectPolicy::initial_delay_ms, "Backoff of the first retry.")
      .field("max_delay_ms", &ReconnectPolicy::max_delay_ms, "Backoff cap.")
      .field("max_attempts", &ReconnectPolicy::max_attempts,
             "Retries in a row before giving up; 0: keep trying.")
      .finish();

  StructBinding<ClientOptions>(m, "ClientOptions", "How a Client connects and authenticates.")
      .field("url", &ClientOptions::url, "ws:// or wss://; unused in-process.")
      .field("token", &ClientOptions::token, "Resume this session; empty starts a new one.")
      .field("name", &ClientOptions::name,
             "Taken after the welcome of a new session when not empty.")
      .field("password", &ClientOptions::password, "With name: protect it or prove it.")
      .field("is_bot", &ClientOptions::is_bot, "Mark a new session as a bot.")
      .field("bot_credential", &ClientOptions::bot_credential,
             "A bot job's credential (BotProvider): the first session authenticates with it.")
      .field("auth_data_json", &ClientOptions::auth_data_json,
             "More auth fields as a JSON object text, for the server's authenticate hook.")
      .field("reconnect", &ClientOptions::reconnect, "A ReconnectPolicy.")
      .field("request_timeout_ms", &ClientOptions::request_timeout_ms,
             "A request without reply fails with 'timeout'.")
      .field("connect_timeout_ms", &ClientOptions::connect_timeout_ms,
             "From opening a connection to its welcome.")
      .field("access_token", &ClientOptions::access_token,
             "A host-minted access token (lobbykit.mint_access_token): a new session is made "
             "with it.")
      .field("tls_ca_path", &ClientOptions::tls_ca_path,
             "wss:// URLs: a PEM file of CAs to verify the server against; empty: the system's.")
      .finish();
}

}  // namespace lobbykit::python
