// The C ABI (include/lobbykit/lobbykit.h) over the C++ API. Every entry point runs its body
// through guard(), which turns exceptions into error codes; nothing here knows more about
// lobbykit than the public C++ headers tell.
#include <lobbykit/lobbykit.h>

#include <lobbykit/client.hpp>
#include <lobbykit/server.hpp>
#include <lobbykit/token.hpp>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstddef>
#include <cstring>
#include <future>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "protocol/envelope.hpp"

namespace {

using lobbykit::Client;
using lobbykit::ClientOptions;
using lobbykit::Limits;
using lobbykit::Reply;
using lobbykit::Server;
using lobbykit::ServerOptions;

constexpr int kOk = LK_OK;  // as int, so every guard() body returns one type

// ---- errors ------------------------------------------------------------------------------

struct LastError {
  std::string message;
  lk_error view{LK_OK, ""};
};
thread_local LastError t_error;

int fail(int code, std::string message) {
  t_error.message = std::move(message);
  t_error.view.code = code;
  t_error.view.message = t_error.message.c_str();
  return code;
}

// An error found by argument checks inside guard().
struct CError : std::runtime_error {
  int code;
  CError(int c, const std::string& m) : std::runtime_error(m), code(c) {}
};

template <class F>
int guard(F&& body) noexcept {
  try {
    return body();
  } catch (const CError& e) {
    return fail(e.code, e.what());
  } catch (const lobbykit::StartError& e) {
    return fail(LK_ERR_START, e.what());
  } catch (const std::invalid_argument& e) {
    return fail(LK_ERR_INVALID, e.what());
  } catch (const std::bad_alloc&) {
    return fail(LK_ERR_NOMEM, "out of memory");
  } catch (const std::logic_error& e) {
    return fail(LK_ERR_STATE, e.what());
  } catch (const std::exception& e) {
    return fail(LK_ERR_INTERNAL, e.what());
  } catch (...) {
    return fail(LK_ERR_INTERNAL, "unknown exception");
  }
}

void require(bool ok, const char* what) {
  if (!ok) throw CError(LK_ERR_INVALID, what);
}

char* copy_out(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

// ---- callbacks ---------------------------------------------------------------------------

// How many lobbykit callbacks are on this thread's stack: blocking calls refuse to run
// inside one (they would wait for the loop that is running the callback).
thread_local int t_callback_depth = 0;

struct CallbackScope {
  CallbackScope() { ++t_callback_depth; }
  ~CallbackScope() { --t_callback_depth; }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
};

void refuse_in_callback(const char* fn) {
  if (t_callback_depth > 0)
    throw CError(LK_ERR_STATE, std::string(fn) +
                                   " may not be called from inside a lobbykit callback: it "
                                   "would wait for the loop that runs the callback");
}

// Cleared by *_free before the object goes, so that a callback still queued behind the
// one that freed its object (same loop thread) does not run.
using Alive = std::shared_ptr<std::atomic<bool>>;

Alive make_alive() { return std::make_shared<std::atomic<bool>>(true); }

// ---- options -----------------------------------------------------------------------------

template <class T>
bool set_uint(T& field, const rapidjson::Value& v) {
  if (!v.IsUint64() || v.GetUint64() > std::numeric_limits<T>::max()) return false;
  field = static_cast<T>(v.GetUint64());
  return true;
}

bool set_rate(double& field, const rapidjson::Value& v) {
  if (!v.IsNumber() || !std::isfinite(v.GetDouble()) || v.GetDouble() <= 0) return false;
  field = v.GetDouble();
  return true;
}

bool set_bool(bool& field, const rapidjson::Value& v) {
  if (!v.IsBool()) return false;
  field = v.GetBool();
  return true;
}

using Value = rapidjson::Value;

struct LimitSetter {
  const char* name;
  bool (*set)(Limits&, const Value&);
};

// Every field of lobbykit::Limits, by the name docs/protocol.md uses.
const LimitSetter kLimitSetters[] = {
    {"max_message_bytes", [](Limits& l, const Value& v) { return set_uint(l.max_message_bytes, v); }},
    {"max_chat_bytes", [](Limits& l, const Value& v) { return set_uint(l.max_chat_bytes, v); }},
    {"max_name_chars", [](Limits& l, const Value& v) { return set_uint(l.max_name_chars, v); }},
    {"max_lobby_name_chars", [](Limits& l, const Value& v) { return set_uint(l.max_lobby_name_chars, v); }},
    {"max_password_bytes", [](Limits& l, const Value& v) { return set_uint(l.max_password_bytes, v); }},
    {"min_password_bytes", [](Limits& l, const Value& v) { return set_uint(l.min_password_bytes, v); }},
    {"rate_per_second", [](Limits& l, const Value& v) { return set_rate(l.rate_per_second, v); }},
    {"rate_burst", [](Limits& l, const Value& v) { return set_rate(l.rate_burst, v); }},
    {"rate_flood_burst", [](Limits& l, const Value& v) { return set_rate(l.rate_flood_burst, v); }},
    {"ping_interval_s", [](Limits& l, const Value& v) { return set_uint(l.ping_interval_s, v); }},
    {"pong_timeout_s", [](Limits& l, const Value& v) { return set_uint(l.pong_timeout_s, v); }},
    {"auth_timeout_ms", [](Limits& l, const Value& v) { return set_uint(l.auth_timeout_ms, v); }},
    {"max_outbound_bytes", [](Limits& l, const Value& v) { return set_uint(l.max_outbound_bytes, v); }},
    {"chat_history", [](Limits& l, const Value& v) { return set_uint(l.chat_history, v); }},
    {"lobby_expiry_ms", [](Limits& l, const Value& v) { return set_uint(l.lobby_expiry_ms, v); }},
    {"resume_grace_ms", [](Limits& l, const Value& v) { return set_uint(l.resume_grace_ms, v); }},
    {"lobby_list_push_ms", [](Limits& l, const Value& v) { return set_uint(l.lobby_list_push_ms, v); }},
    {"session_ttl_ms", [](Limits& l, const Value& v) { return set_uint(l.session_ttl_ms, v); }},
    {"idle_session_ttl_ms", [](Limits& l, const Value& v) { return set_uint(l.idle_session_ttl_ms, v); }},
    {"max_sessions", [](Limits& l, const Value& v) { return set_uint(l.max_sessions, v); }},
    {"max_sessions_per_address", [](Limits& l, const Value& v) { return set_uint(l.max_sessions_per_address, v); }},
    {"max_participants", [](Limits& l, const Value& v) { return set_uint(l.max_participants, v); }},
    {"max_lobbies", [](Limits& l, const Value& v) { return set_uint(l.max_lobbies, v); }},
    {"max_lobbies_per_session", [](Limits& l, const Value& v) { return set_uint(l.max_lobbies_per_session, v); }},
    {"max_lobbies_per_address", [](Limits& l, const Value& v) { return set_uint(l.max_lobbies_per_address, v); }},
    {"password_attempts", [](Limits& l, const Value& v) { return set_uint(l.password_attempts, v); }},
    {"password_lockout_ms", [](Limits& l, const Value& v) { return set_uint(l.password_lockout_ms, v); }},
    {"argon2_memory_kib", [](Limits& l, const Value& v) { return set_uint(l.argon2_memory_kib, v); }},
    {"argon2_iterations", [](Limits& l, const Value& v) { return set_uint(l.argon2_iterations, v); }},
    {"max_http_body_bytes", [](Limits& l, const Value& v) { return set_uint(l.max_http_body_bytes, v); }},
    {"bot_status_interval_ms", [](Limits& l, const Value& v) { return set_uint(l.bot_status_interval_ms, v); }},
    {"bot_silence_ms", [](Limits& l, const Value& v) { return set_uint(l.bot_silence_ms, v); }},
    {"bot_reclaim_ms", [](Limits& l, const Value& v) { return set_uint(l.bot_reclaim_ms, v); }},
    {"bot_offer_timeout_ms", [](Limits& l, const Value& v) { return set_uint(l.bot_offer_timeout_ms, v); }},
    {"bot_join_timeout_ms", [](Limits& l, const Value& v) { return set_uint(l.bot_join_timeout_ms, v); }},
    {"bot_retry_ms", [](Limits& l, const Value& v) { return set_uint(l.bot_retry_ms, v); }},
    {"bot_max_attempts", [](Limits& l, const Value& v) { return set_uint(l.bot_max_attempts, v); }},
    {"bot_empty_lobby_ms", [](Limits& l, const Value& v) { return set_uint(l.bot_empty_lobby_ms, v); }},
    {"max_bots_per_lobby", [](Limits& l, const Value& v) { return set_uint(l.max_bots_per_lobby, v); }},
    {"max_dispatches", [](Limits& l, const Value& v) { return set_uint(l.max_dispatches, v); }},
    {"max_providers", [](Limits& l, const Value& v) { return set_uint(l.max_providers, v); }},
    {"max_provider_jobs", [](Limits& l, const Value& v) { return set_uint(l.max_provider_jobs, v); }},
    {"max_bot_metadata_bytes", [](Limits& l, const Value& v) { return set_uint(l.max_bot_metadata_bytes, v); }},
    {"allow_member_bots", [](Limits& l, const Value& v) { return set_bool(l.allow_member_bots, v); }},
    {"hook_timeout_ms", [](Limits& l, const Value& v) { return set_uint(l.hook_timeout_ms, v); }},
    {"max_held_messages", [](Limits& l, const Value& v) { return set_uint(l.max_held_messages, v); }},
    {"max_held_bytes", [](Limits& l, const Value& v) { return set_uint(l.max_held_bytes, v); }},
    {"max_metadata_bytes", [](Limits& l, const Value& v) { return set_uint(l.max_metadata_bytes, v); }},
    {"token_skew_ms", [](Limits& l, const Value& v) { return set_uint(l.token_skew_ms, v); }},
    {"max_app_message_bytes", [](Limits& l, const Value& v) { return set_uint(l.max_app_message_bytes, v); }},
    {"allow_participant_metadata", [](Limits& l, const Value& v) { return set_bool(l.allow_participant_metadata, v); }},
};

void apply_limits(Limits& limits, const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  require(!d.HasParseError() && d.IsObject(), "limits_json is not a JSON object");
  for (const auto& m : d.GetObject()) {
    const std::string name(m.name.GetString(), m.name.GetStringLength());
    const LimitSetter* setter = nullptr;
    for (const auto& s : kLimitSetters)
      if (name == s.name) setter = &s;
    require(setter != nullptr, ("limits_json: unknown limit \"" + name + "\"").c_str());
    require(setter->set(limits, m.value),
            ("limits_json: \"" + name + "\" must be a number in range").c_str());
  }
}

void check_version(unsigned version, unsigned known, const char* what) {
  if (version != known)
    throw CError(LK_ERR_INVALID, std::string(what) + ".version is " + std::to_string(version) +
                                     "; this library knows version " + std::to_string(known) +
                                     " (start from the _INIT macro or the _init() function)");
}

// Version 1 of lk_server_options ends before provider_keys, version 2 before token_secret,
// version 3 before drain_ms.
constexpr std::size_t kServerOptionsV1Size = offsetof(lk_server_options, provider_keys);
constexpr std::size_t kServerOptionsV2Size = offsetof(lk_server_options, token_secret);
constexpr std::size_t kServerOptionsV3Size = offsetof(lk_server_options, drain_ms);
// Version 1 of lk_client_options ends before tls_ca_path, version 2 before access_token.
constexpr std::size_t kClientOptionsV1Size = offsetof(lk_client_options, tls_ca_path);
constexpr std::size_t kClientOptionsV2Size = offsetof(lk_client_options, access_token);

void check_server_options_version(unsigned version) {
  if (version < 1 || version > 3)
    check_version(version, LK_SERVER_OPTIONS_VERSION, "lk_server_options");
}

void check_client_options_version(unsigned version) {
  if (version < 1 || version > 2)
    check_version(version, LK_CLIENT_OPTIONS_VERSION, "lk_client_options");
}

std::size_t client_options_size(unsigned version) {
  return version == 1 ? kClientOptionsV1Size
         : version == 2 ? kClientOptionsV2Size
                        : sizeof(lk_client_options);
}

std::size_t server_options_size(unsigned version) {
  return version == 1 ? kServerOptionsV1Size
         : version == 2 ? kServerOptionsV2Size
         : version == 3 ? kServerOptionsV3Size
                        : sizeof(lk_server_options);
}

// Comma-separated entries, trimmed of spaces; empty ones dropped.
std::vector<std::string> split_list(const char* text) {
  std::vector<std::string> out;
  std::string all = text ? text : "";
  std::size_t start = 0;
  while (start <= all.size()) {
    std::size_t end = all.find(',', start);
    if (end == std::string::npos) end = all.size();
    std::string item = all.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(std::move(item));
    start = end + 1;
  }
  return out;
}

ServerOptions to_cpp(const lk_server_options* o) {
  ServerOptions out;
  if (!o) return out;
  check_server_options_version(o->version);
  if (o->host) out.host = o->host;
  require(o->port >= LK_PORT_DEFAULT && o->port <= 65535,
          "lk_server_options.port must be LK_PORT_DEFAULT, LK_PORT_ANY or 1..65535");
  if (o->port != LK_PORT_DEFAULT) out.port = static_cast<std::uint16_t>(o->port);
  if (o->store_path) out.store_path = o->store_path;
  if (o->admin_token) out.admin_token = o->admin_token;
  if (o->static_dir) out.static_dir = o->static_dir;
  if (o->worker_threads) out.worker_threads = o->worker_threads;
  if (o->limits_json) apply_limits(out.limits, o->limits_json);
  if (o->version >= 2 && o->provider_keys) {
    std::string keys = o->provider_keys;
    std::size_t start = 0;
    while (start <= keys.size()) {
      std::size_t end = keys.find('\n', start);
      if (end == std::string::npos) end = keys.size();
      std::string key = keys.substr(start, end - start);
      while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
      if (!key.empty()) out.provider_keys.push_back(std::move(key));
      start = end + 1;
    }
  }
  if (o->version >= 3) {
    if (o->token_secret) out.token_secret = o->token_secret;
    out.require_token = o->require_token != 0;
  }
  if (o->version >= 4) {
    if (o->drain_ms) out.drain_ms = o->drain_ms;
    if (o->drain_url) out.drain_url = o->drain_url;
    out.trusted_proxies = split_list(o->trusted_proxies);
    if (o->tls_cert_path) out.tls_cert_path = o->tls_cert_path;
    if (o->tls_key_path) out.tls_key_path = o->tls_key_path;
  }
  return out;
}

ClientOptions to_cpp(const lk_client_options* o) {
  ClientOptions out;
  if (!o) return out;
  check_client_options_version(o->version);
  if (o->url) out.url = o->url;
  if (o->token) out.token = o->token;
  if (o->name) out.name = o->name;
  if (o->password) out.password = o->password;
  out.is_bot = o->is_bot != 0;
  out.reconnect.enabled = o->reconnect_disabled == 0;
  if (o->reconnect_initial_delay_ms) out.reconnect.initial_delay_ms = o->reconnect_initial_delay_ms;
  if (o->reconnect_max_delay_ms) out.reconnect.max_delay_ms = o->reconnect_max_delay_ms;
  out.reconnect.max_attempts = o->reconnect_max_attempts;
  if (o->request_timeout_ms) out.request_timeout_ms = o->request_timeout_ms;
  if (o->connect_timeout_ms) out.connect_timeout_ms = o->connect_timeout_ms;
  if (o->version >= 2 && o->tls_ca_path) out.tls_ca_path = o->tls_ca_path;
  if (o->version >= 3) {
    if (o->access_token) out.access_token = o->access_token;
    if (o->auth_data_json && *o->auth_data_json) {
      rapidjson::Document d;
      d.Parse(o->auth_data_json);
      require(!d.HasParseError() && d.IsObject(),
              "lk_client_options.auth_data_json is not a JSON object");
      out.auth_data_json = o->auth_data_json;
    }
  }
  return out;
}

// lk_mint_access_token's claims object (lobbykit.h) as AccessClaims.
lobbykit::AccessClaims claims_from_json(const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  require(!d.HasParseError() && d.IsObject(), "claims_json is not a JSON object");
  lobbykit::AccessClaims c;
  auto text = [](const rapidjson::Value& v, const std::string& name) {
    require(v.IsString(), ("claims_json: \"" + name + "\" must be a string").c_str());
    return std::string(v.GetString(), v.GetStringLength());
  };
  auto seconds = [](const rapidjson::Value& v, const std::string& name) {
    require(v.IsInt64(), ("claims_json: \"" + name + "\" must be whole seconds").c_str());
    return v.GetInt64();
  };
  bool has_user = false;
  for (const auto& m : d.GetObject()) {
    const std::string name(m.name.GetString(), m.name.GetStringLength());
    if (name == "user_id") {
      c.user_id = text(m.value, name);
      has_user = true;
    } else if (name == "name") {
      c.name = text(m.value, name);
    } else if (name == "lobby") {
      c.lobby_id = text(m.value, name);
    } else if (name == "roles") {
      require(m.value.IsArray(), "claims_json: \"roles\" must be an array of strings");
      for (const auto& r : m.value.GetArray()) c.roles.push_back(text(r, "roles"));
    } else if (name == "metadata") {
      require(m.value.IsObject(), "claims_json: \"metadata\" must be an object");
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> w(sb);
      m.value.Accept(w);
      c.metadata_json.assign(sb.GetString(), sb.GetSize());
    } else if (name == "exp") {
      c.expires_s = seconds(m.value, name);
    } else if (name == "nbf") {
      c.not_before_s = seconds(m.value, name);
    } else if (name == "iat") {
      c.issued_at_s = seconds(m.value, name);
    } else {
      require(false, ("claims_json: unknown claim \"" + name + "\"").c_str());
    }
  }
  require(has_user, "claims_json: \"user_id\" is required");
  return c;
}

// The reply as lk_reply_cb sees it: status and JSON text.
std::pair<int, std::string> reply_to_c(const Reply& r) {
  if (r.ok()) return {LK_OK, r.data_json};
  return {LK_ERR_REQUEST, lobbykit::client_error_to_json(*r.error)};
}

// The waiting calls: refused inside a callback; LK_OK or LK_ERR_REQUEST with the reply's
// JSON in *out_json (when out_json is not NULL).
template <class Wait>
int wait_reply(char** out_json, const char* what, Wait wait) {
  if (out_json) *out_json = nullptr;
  std::string json;
  const int status = guard([&] {
    refuse_in_callback(what);
    const Reply r = wait();
    auto [code, text] = reply_to_c(r);
    json = std::move(text);
    if (code != LK_OK) return fail(code, r.error->code + ": " + r.error->message);
    return kOk;
  });
  if (status != LK_OK && status != LK_ERR_REQUEST) return status;
  if (out_json) {
    const int copied = guard([&] {
      *out_json = copy_out(json);
      return kOk;
    });
    if (copied != LK_OK) return copied;
  }
  return status;
}

}  // namespace

struct lk_server {
  std::unique_ptr<Server> server;
  Alive alive = make_alive();
};

struct lk_client {
  std::unique_ptr<Client> client;
  Alive alive = make_alive();
};

// One pending decision of a C hook: lk_decision_resolve() answers and frees it.
struct lk_decision {
  lobbykit::Decision<lobbykit::JsonDecision> decision;
};

namespace {

Server& server_of(const lk_server* s) {
  require(s != nullptr, "the server handle is NULL");
  return *s->server;
}

Client& client_of(const lk_client* c) {
  require(c != nullptr, "the client handle is NULL");
  return *c->client;
}

std::function<void(const std::string&)> event_sink(lk_event_cb cb, void* user_data,
                                                    Alive alive) {
  return [cb, user_data, alive = std::move(alive)](const std::string& json) {
    if (!alive->load()) return;
    CallbackScope scope;
    cb(json.c_str(), user_data);
  };
}

}  // namespace

// ---- errors, version, memory ---------------------------------------------------------------

namespace {

// A server operation's outcome as the C API returns it: LK_OK, or LK_ERR_REQUEST with the
// code; *out_json (when not NULL) gets the JSON either way.
int server_outcome(char** out_json, const lobbykit::BotOutcome& o, bool with_dispatch) {
  if (out_json) *out_json = copy_out(lobbykit::bot_outcome_to_json(o, with_dispatch));
  return o.ok() ? kOk : fail(LK_ERR_REQUEST, o.code + ": " + o.message);
}

// A host operation's outcome as the C API returns it (see server_outcome): the result's
// JSON on success, else {"code", "message"} and LK_ERR_REQUEST.
int op_outcome(char** out_json, const lobbykit::Status& st, const std::string& ok_json) {
  if (out_json) *out_json = copy_out(st.ok() ? ok_json : lobbykit::status_to_json(st));
  return st.ok() ? kOk : fail(LK_ERR_REQUEST, st.code + ": " + st.message);
}

// A JSON object argument (settings_json, update_json); NULL or "" is {}.
rapidjson::Document parse_object_arg(const char* json, const char* what) {
  rapidjson::Document d;
  d.Parse(json && *json ? json : "{}");
  require(!d.HasParseError() && d.IsObject(), (std::string(what) + " is not a JSON object").c_str());
  return d;
}

template <class T>
std::optional<T> typed_member(const rapidjson::Document& d, const char* key);

template <>
std::optional<std::string> typed_member(const rapidjson::Document& d, const char* key) {
  auto it = d.FindMember(key);
  if (it == d.MemberEnd() || it->value.IsNull()) return std::nullopt;
  require(it->value.IsString(), (std::string("\"") + key + "\" must be a string").c_str());
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

template <>
std::optional<bool> typed_member(const rapidjson::Document& d, const char* key) {
  auto it = d.FindMember(key);
  if (it == d.MemberEnd() || it->value.IsNull()) return std::nullopt;
  require(it->value.IsBool(), (std::string("\"") + key + "\" must be true or false").c_str());
  return it->value.GetBool();
}

template <>
std::optional<std::uint32_t> typed_member(const rapidjson::Document& d, const char* key) {
  auto it = d.FindMember(key);
  if (it == d.MemberEnd() || it->value.IsNull()) return std::nullopt;
  require(it->value.IsUint(), (std::string("\"") + key + "\" must be a whole number").c_str());
  return it->value.GetUint();
}

lobbykit::LobbyUpdate lobby_update_of(const char* json, const char* what) {
  const rapidjson::Document d = parse_object_arg(json, what);
  lobbykit::LobbyUpdate u;
  u.name = typed_member<std::string>(d, "name");
  u.is_private = typed_member<bool>(d, "private");
  u.persistent = typed_member<bool>(d, "persistent");
  u.max_participants = typed_member<std::uint32_t>(d, "max_participants");
  return u;
}

template <class T>
std::string json_array(const char* key, const std::vector<T>& items) {
  std::string json = std::string("{\"") + key + "\":[";
  for (std::size_t i = 0; i < items.size(); ++i) json += (i ? "," : "") + lobbykit::to_json(items[i]);
  return json + "]}";
}

}  // namespace

extern "C" {

const lk_error* lk_error_last(void) { return &t_error.view; }

void lk_error_clear(void) {
  t_error.message.clear();
  t_error.view.code = LK_OK;
  t_error.view.message = "";
}

const char* lk_error_name(int code) {
  switch (code) {
    case LK_OK: return "LK_OK";
    case LK_ERR_INVALID: return "LK_ERR_INVALID";
    case LK_ERR_START: return "LK_ERR_START";
    case LK_ERR_STATE: return "LK_ERR_STATE";
    case LK_ERR_REQUEST: return "LK_ERR_REQUEST";
    case LK_ERR_NOMEM: return "LK_ERR_NOMEM";
    case LK_ERR_INTERNAL: return "LK_ERR_INTERNAL";
    default: return "unknown";
  }
}

const char* lk_version(void) { return LK_VERSION_STRING; }

int lk_protocol_version(void) { return lobbykit::protocol::kProtocolVersion; }

void lk_free(void* p) { std::free(p); }

// ---- server ------------------------------------------------------------------------------

int lk_server_options_init(lk_server_options* opts, unsigned version) {
  return guard([&] {
    require(opts != nullptr, "opts is NULL");
    check_server_options_version(version);
    const lk_server_options defaults LK_SERVER_OPTIONS_INIT;
    // An older caller's struct ends earlier: write only what it has.
    std::memcpy(opts, &defaults, server_options_size(version));
    opts->version = version;
    return kOk;
  });
}

int lk_server_new(lk_server** out, const lk_server_options* opts) {
  return guard([&] {
    require(out != nullptr, "out is NULL");
    *out = nullptr;
    auto s = std::make_unique<lk_server>();
    s->server = std::make_unique<Server>(to_cpp(opts));
    *out = s.release();
    return kOk;
  });
}

int lk_server_start(lk_server* server) {
  return guard([&] {
    server_of(server).start();
    return kOk;
  });
}

int lk_server_run(lk_server* server) {
  return guard([&] {
    Server& s = server_of(server);
    refuse_in_callback("lk_server_run");
    s.run();  // `server` may be freed (by a callback) once this returns
    return kOk;
  });
}

int lk_server_stop(lk_server* server) {
  return guard([&] {
    server_of(server).stop();
    return kOk;
  });
}

int lk_server_reload_tls(lk_server* server) {
  return guard([&] {
    const lobbykit::Status st = server_of(server).reload_tls();
    if (st.code == "tls_off") throw CError(LK_ERR_STATE, st.message);
    if (!st.ok()) throw CError(LK_ERR_INVALID, st.message);
    return kOk;
  });
}

int lk_server_drain(lk_server* server) {
  return guard([&] {
    server_of(server).drain();
    return kOk;
  });
}

int lk_server_wait(lk_server* server) {
  return guard([&] {
    server_of(server).wait();
    return kOk;
  });
}

int lk_server_port(const lk_server* server) {
  return guard([&] { return static_cast<int>(server_of(server).port()); });
}

void lk_server_free(lk_server* server) {
  if (!server) return;
  guard([&] {
    server->alive->store(false);
    delete server;  // ~Server stops and joins (from its own callback: frees itself later)
    return kOk;
  });
}

int lk_server_subscribe(uint64_t* out_id, lk_server* server, lk_event_cb cb, void* user_data) {
  return guard([&] {
    Server& s = server_of(server);
    require(cb != nullptr, "cb is NULL");
    auto sink = event_sink(cb, user_data, server->alive);
    const auto id = s.subscribe(
        [sink = std::move(sink)](const lobbykit::Event& e) { sink(lobbykit::event_to_json(e)); });
    if (out_id) *out_id = id;
    return kOk;
  });
}

}  // extern "C": what follows returns a C++ type

namespace {

// The JsonHook calling a C hook (none for cb NULL): each call hands it a new lk_decision.
lobbykit::JsonHook c_json_hook(lk_server* server, lk_hook_cb cb, void* user_data) {
  if (!cb) return {};
  return [cb, user_data, alive = server->alive](const std::string& request,
                                                lobbykit::Decision<lobbykit::JsonDecision> d) {
    if (!alive->load()) return;  // unanswered: refused with hook_failed
    auto* decision = new lk_decision{std::move(d)};
    CallbackScope scope;
    cb(request.c_str(), decision, user_data);
  };
}

}  // namespace

extern "C" {

int lk_server_set_hook(lk_server* server, int hook, lk_hook_cb cb, void* user_data) {
  return guard([&] {
    Server& s = server_of(server);
    static const char* const kNames[] = {"authenticate", "join", "create_lobby", "chat"};
    require(hook >= LK_HOOK_AUTHENTICATE && hook <= LK_HOOK_CHAT, "unknown hook");
    s.on_hook_json(kNames[hook], c_json_hook(server, cb, user_data));
    return kOk;
  });
}

int lk_server_set_app_message_hook(lk_server* server, const char* name, lk_hook_cb cb,
                                   void* user_data) {
  return guard([&] {
    Server& s = server_of(server);
    s.on_app_message_json(name ? name : "", c_json_hook(server, cb, user_data));
    return kOk;
  });
}

int lk_decision_resolve(lk_decision* decision, const char* decision_json) {
  return guard([&] {
    require(decision != nullptr, "decision is NULL");
    std::unique_ptr<lk_decision> owned(decision);
    const std::string json = decision_json ? decision_json : "{}";
    rapidjson::Document doc;
    doc.Parse(json.c_str(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
      owned->decision.resolve(lobbykit::JsonDecision{json});  // refused with hook_failed
      return fail(LK_ERR_INVALID, "decision_json is not a JSON object");
    }
    owned->decision.resolve(lobbykit::JsonDecision{json});
    return kOk;
  });
}

int lk_server_unsubscribe(lk_server* server, uint64_t id) {
  return guard([&] {
    server_of(server).unsubscribe(id);
    return kOk;
  });
}

int lk_server_add_bot(char** out_json, lk_server* server, const char* lobby_id, const char* kind,
                      const char* key, const char* metadata_json) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    require(lobby_id != nullptr && kind != nullptr, "lobby_id or kind is NULL");
    return server_outcome(
        out_json, s.add_bot(lobby_id, kind, key ? key : "", metadata_json ? metadata_json : ""),
        true);
  });
}

int lk_server_remove_bot(char** out_json, lk_server* server, const char* lobby_id,
                         const char* key) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    require(lobby_id != nullptr && key != nullptr, "lobby_id or key is NULL");
    return server_outcome(out_json, s.remove_bot(lobby_id, key), false);
  });
}

int lk_server_bots(char** out_json, lk_server* server) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    const std::string json =
        lobbykit::bot_overview_to_json(s.bot_dispatches(), s.bot_kinds(), s.bot_providers());
    if (out_json) *out_json = copy_out(json);
    return kOk;
  });
}

int lk_server_drain_bot_provider(lk_server* server, const char* provider_id) {
  return guard([&] {
    Server& s = server_of(server);
    require(provider_id != nullptr, "provider_id is NULL");
    if (!s.drain_bot_provider(provider_id))
      return fail(LK_ERR_REQUEST, "provider_not_found: There is no such provider.");
    return kOk;
  });
}

int lk_server_post(lk_server* server, void (*fn)(void*), void* user_data) {
  return guard([&] {
    Server& s = server_of(server);
    require(fn != nullptr, "fn is NULL");
    s.post([fn, user_data, alive = server->alive] {
      if (!alive->load()) return;
      CallbackScope scope;
      fn(user_data);
    });
    return kOk;
  });
}

// ---- access tokens -----------------------------------------------------------------------

int lk_mint_access_token(char** out_token, const char* secret, const char* claims_json,
                         int64_t ttl_s) {
  return guard([&] {
    require(out_token != nullptr, "out_token is NULL");
    *out_token = nullptr;
    require(secret != nullptr, "secret is NULL");
    require(claims_json != nullptr, "claims_json is NULL");
    *out_token = copy_out(lobbykit::mint_access_token(secret, claims_from_json(claims_json),
                                                      ttl_s > 0 ? ttl_s : 3600));
    return kOk;
  });
}

// ---- client ------------------------------------------------------------------------------

const char* lk_connection_state_name(int state) {
  switch (state) {
    case LK_STATE_DISCONNECTED: return "disconnected";
    case LK_STATE_CONNECTING: return "connecting";
    case LK_STATE_CONNECTED: return "connected";
    case LK_STATE_RECONNECTING: return "reconnecting";
    default: return "unknown";
  }
}

int lk_client_options_init(lk_client_options* opts, unsigned version) {
  return guard([&] {
    require(opts != nullptr, "opts is NULL");
    check_client_options_version(version);
    const lk_client_options defaults LK_CLIENT_OPTIONS_INIT;
    // An older caller's struct ends earlier: write only what it has.
    std::memcpy(opts, &defaults, client_options_size(version));
    opts->version = version;
    return kOk;
  });
}

int lk_client_new(lk_client** out, const lk_client_options* opts) {
  return guard([&] {
    require(out != nullptr, "out is NULL");
    *out = nullptr;
    ClientOptions options = to_cpp(opts);
    auto c = std::make_unique<lk_client>();
    try {
      c->client = std::make_unique<Client>(std::move(options));
    } catch (const std::invalid_argument&) {
      throw;
    } catch (const std::runtime_error& e) {
      throw CError(LK_ERR_START, e.what());
    }
    *out = c.release();
    return kOk;
  });
}

int lk_client_new_in_process(lk_client** out, lk_server* server, const lk_client_options* opts) {
  return guard([&] {
    require(out != nullptr, "out is NULL");
    *out = nullptr;
    Server& s = server_of(server);
    auto c = std::make_unique<lk_client>();
    c->client = std::make_unique<Client>(s, to_cpp(opts));
    *out = c.release();
    return kOk;
  });
}

int lk_client_start(lk_client* client) {
  return guard([&] {
    client_of(client).start();
    return kOk;
  });
}

int lk_client_run(lk_client* client) {
  return guard([&] {
    Client& c = client_of(client);
    refuse_in_callback("lk_client_run");
    c.run();  // `client` may be freed (by a callback) once this returns
    return kOk;
  });
}

int lk_client_stop(lk_client* client) {
  return guard([&] {
    client_of(client).stop();
    return kOk;
  });
}

int lk_client_reconnect(lk_client* client) {
  return guard([&] {
    client_of(client).reconnect();
    return kOk;
  });
}

void lk_client_free(lk_client* client) {
  if (!client) return;
  guard([&] {
    // Stop first so requests in flight get their "stopped" replies, then go silent.
    client->client->stop();
    client->alive->store(false);
    delete client;
    return kOk;
  });
}

int lk_client_state(const lk_client* client) {
  return guard([&] {
    switch (client_of(client).state()) {
      case lobbykit::ConnectionState::disconnected: return int{LK_STATE_DISCONNECTED};
      case lobbykit::ConnectionState::connecting: return int{LK_STATE_CONNECTING};
      case lobbykit::ConnectionState::connected: return int{LK_STATE_CONNECTED};
      case lobbykit::ConnectionState::reconnecting: return int{LK_STATE_RECONNECTING};
    }
    return fail(LK_ERR_INTERNAL, "unknown connection state");
  });
}

int lk_client_snapshot(char** out_json, const lk_client* client) {
  return guard([&] {
    require(out_json != nullptr, "out_json is NULL");
    *out_json = nullptr;
    *out_json = copy_out(lobbykit::client_snapshot_to_json(client_of(client).snapshot()));
    return kOk;
  });
}

int lk_client_subscribe(uint64_t* out_id, lk_client* client, lk_event_cb cb, void* user_data) {
  return guard([&] {
    Client& c = client_of(client);
    require(cb != nullptr, "cb is NULL");
    auto sink = event_sink(cb, user_data, client->alive);
    const auto id = c.subscribe([sink = std::move(sink)](const lobbykit::ClientEvent& e) {
      sink(lobbykit::client_event_to_json(e));
    });
    if (out_id) *out_id = id;
    return kOk;
  });
}

int lk_client_unsubscribe(lk_client* client, uint64_t id) {
  return guard([&] {
    client_of(client).unsubscribe(id);
    return kOk;
  });
}

int lk_client_request(lk_client* client, const char* type, const char* data_json, lk_reply_cb cb,
                      void* user_data) {
  return guard([&] {
    Client& c = client_of(client);
    require(type != nullptr && *type != '\0', "type is NULL or empty");
    c.request(type, data_json ? data_json : "",
              [cb, user_data, alive = client->alive](const Reply& r) {
                if (!cb || !alive->load()) return;
                const auto [status, json] = reply_to_c(r);
                CallbackScope scope;
                cb(status, json.c_str(), user_data);
              });
    return kOk;
  });
}

int lk_client_request_wait(char** out_json, lk_client* client, const char* type,
                           const char* data_json) {
  return wait_reply(out_json, "lk_client_request_wait", [&] {
    Client& c = client_of(client);
    require(type != nullptr && *type != '\0', "type is NULL or empty");
    return c.request(type, data_json ? data_json : "").get();
  });
}

int lk_client_wait_ready(char** out_json, lk_client* client, uint32_t timeout_ms) {
  return wait_reply(out_json, "lk_client_wait_ready", [&] {
    std::future<Reply> ready = client_of(client).ready();
    if (timeout_ms != 0 &&
        ready.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) {
      Reply r;
      r.error = lobbykit::ClientError{
          "timeout", "The client was not ready within " + std::to_string(timeout_ms) + " ms.",
          "", -1, ""};
      return r;
    }
    return ready.get();
  });
}

// ---- server operations ----------------------------------------------------------------------

int lk_server_list_sessions(char** out_json, lk_server* server) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    const std::string json = json_array("sessions", server_of(server).list_sessions());
    if (out_json) *out_json = copy_out(json);
    return kOk;
  });
}

int lk_server_list_lobbies(char** out_json, lk_server* server) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    const std::string json = json_array("lobbies", server_of(server).list_lobbies());
    if (out_json) *out_json = copy_out(json);
    return kOk;
  });
}

int lk_server_get_lobby(char** out_json, lk_server* server, const char* lobby_id) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    require(lobby_id != nullptr, "lobby_id is NULL");
    const auto r = s.get_lobby(lobby_id);
    return op_outcome(out_json, r.status, r.ok() ? lobbykit::to_json(r.value) : "");
  });
}

int lk_server_create_lobby(char** out_json, lk_server* server, const char* settings_json) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    const lobbykit::LobbyUpdate u = lobby_update_of(settings_json, "settings_json");
    lobbykit::LobbySettings settings;
    settings.name = u.name.value_or("");
    settings.is_private = u.is_private.value_or(false);
    settings.persistent = u.persistent.value_or(false);
    settings.max_participants = u.max_participants.value_or(0);
    const auto r = s.create_lobby(settings);
    return op_outcome(out_json, r.status, "{\"lobby\":" + lobbykit::to_json(r.value) + "}");
  });
}

int lk_server_update_lobby(char** out_json, lk_server* server, const char* lobby_id,
                           const char* update_json) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    require(lobby_id != nullptr, "lobby_id is NULL");
    const auto r = s.update_lobby(lobby_id, lobby_update_of(update_json, "update_json"));
    return op_outcome(out_json, r.status, "{\"lobby\":" + lobbykit::to_json(r.value) + "}");
  });
}

int lk_server_remove_lobby(char** out_json, lk_server* server, const char* lobby_id) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    require(lobby_id != nullptr, "lobby_id is NULL");
    return op_outcome(out_json, s.remove_lobby(lobby_id), "{}");
  });
}

int lk_server_kick_session(char** out_json, lk_server* server, const char* peer_id) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    require(peer_id != nullptr, "peer_id is NULL");
    return op_outcome(out_json, s.kick_session(peer_id), "{}");
  });
}

int lk_server_rename_session(char** out_json, lk_server* server, const char* peer_id,
                             const char* name) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    require(peer_id != nullptr && name != nullptr, "peer_id or name is NULL");
    const auto r = s.rename_session(peer_id, name);
    return op_outcome(out_json, r.status, "{\"session\":" + lobbykit::to_json(r.value) + "}");
  });
}

int lk_server_reset_password(char** out_json, lk_server* server, const char* name,
                             const char* password) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    require(name != nullptr, "name is NULL");
    refuse_in_callback("lk_server_reset_password");
    std::optional<std::string> pw;
    if (password) pw.emplace(password);
    return op_outcome(out_json, s.reset_password(name, std::move(pw)), "{}");
  });
}

int lk_server_reset_password_async(lk_server* server, const char* name, const char* password,
                                   lk_reply_cb cb, void* user_data) {
  return guard([&] {
    Server& s = server_of(server);
    require(name != nullptr, "name is NULL");
    std::optional<std::string> pw;
    if (password) pw.emplace(password);
    s.reset_password(name, std::move(pw),
                     [cb, user_data, alive = server->alive](lobbykit::Status st) {
                       if (!cb || !alive->load()) return;
                       const std::string json = lobbykit::status_to_json(st);
                       CallbackScope scope;
                       cb(st.ok() ? LK_OK : LK_ERR_REQUEST, json.c_str(), user_data);
                     });
    return kOk;
  });
}

int lk_server_post_notice(char** out_json, lk_server* server, const char* lobby_id,
                          const char* text) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    require(lobby_id != nullptr && text != nullptr, "lobby_id or text is NULL");
    const auto r = s.post_notice(lobby_id, text);
    return op_outcome(out_json, r.status, "{\"message\":" + lobbykit::to_json(r.value) + "}");
  });
}

int lk_server_send_app_message(char** out_json, lk_server* server, const char* lobby_id,
                               const char* name, const char* payload_json, const char* to) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    require(lobby_id != nullptr && name != nullptr, "lobby_id or name is NULL");
    const auto st = s.send_app_message(lobby_id, name, payload_json ? payload_json : "",
                                       to ? to : "");
    return op_outcome(out_json, st, "{}");
  });
}

int lk_server_set_lobby_metadata(char** out_json, lk_server* server, const char* lobby_id,
                                 const char* metadata_json) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    require(lobby_id != nullptr && metadata_json != nullptr, "lobby_id or metadata_json is NULL");
    const auto r = s.set_lobby_metadata(lobby_id, metadata_json);
    return op_outcome(out_json, r.status, "{\"lobby\":" + lobbykit::to_json(r.value) + "}");
  });
}

int lk_server_set_session_metadata(char** out_json, lk_server* server, const char* peer_id,
                                   const char* metadata_json) {
  if (out_json) *out_json = nullptr;
  return guard([&] {
    Server& s = server_of(server);
    require(peer_id != nullptr && metadata_json != nullptr, "peer_id or metadata_json is NULL");
    const auto r = s.set_session_metadata(peer_id, metadata_json);
    return op_outcome(out_json, r.status, "{\"session\":" + lobbykit::to_json(r.value) + "}");
  });
}

}  // extern "C"
