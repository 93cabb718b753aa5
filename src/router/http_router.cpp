// The HTTP API: health, metrics, lobbies, admin, static files. A route table of
// (method, path pattern) -> handler over plain data; the transport does the I/O.
#include "router/http_router.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <lobbykit/version.hpp>

#include "core/crypto.hpp"
#include "protocol/envelope.hpp"
#include "protocol/messages.hpp"
#include "router/address.hpp"
#include "router/hub_state.hpp"
#include "router/operations.hpp"

#include <climits>
#include <cstdlib>
#include <sys/stat.h>
#include <vector>

namespace lobbykit::router {

namespace {

using Params = std::vector<std::string>;  // decoded {placeholders} of the matched path

int status_of(ErrorCode code) {
  switch (code) {
    case ErrorCode::unauthorized: return 401;
    case ErrorCode::not_found:
    case ErrorCode::session_not_found:
    case ErrorCode::name_not_found:
    case ErrorCode::lobby_not_found:
    case ErrorCode::dispatch_not_found:
    case ErrorCode::provider_not_found: return 404;
    case ErrorCode::method_not_allowed: return 405;
    case ErrorCode::lobby_exists:
    case ErrorCode::lobby_full:
    case ErrorCode::name_taken: return 409;
    case ErrorCode::too_many_lobbies:
    case ErrorCode::too_many_dispatches: return 503;
    case ErrorCode::bot_quota: return 429;
    case ErrorCode::lobby_quota: return 429;
    case ErrorCode::internal_error: return 500;
    case ErrorCode::forbidden:
    case ErrorCode::denied: return 403;
    case ErrorCode::hook_failed:
    case ErrorCode::hook_timeout:
    case ErrorCode::draining:
    case ErrorCode::not_ready: return 503;
    default: return 400;
  }
}

HttpResponse error_response(const Error& e) {
  JsonBuilder b;
  b.begin_object().str("code", protocol::to_string(e.code)).str("error", e.message);
  if (!e.field.empty()) b.str("field", e.field);
  if (!e.reason.empty()) b.str("reason", e.reason);
  b.end_object();
  return HttpResponse{status_of(e.code), "application/json", b.take(), ""};
}

HttpResponse error_response(ErrorCode code, std::string message) {
  return error_response(Error{code, std::move(message), {}, -1, {}});
}

template <typename F>
HttpResponse json_response(int status, F&& fill) {
  JsonBuilder b;
  b.begin_object();
  fill(b);
  b.end_object();
  return HttpResponse{status, "application/json", b.take(), ""};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes s; false on a malformed escape or an encoded NUL.
bool percent_decode(std::string_view s, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return false;
    int hi = hex_value(s[i + 1]);
    int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return false;
    char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return false;
    out.push_back(c);
    i += 2;
  }
  return true;
}

// Matches "/api/admin/sessions/{}/kick" against a raw path; fills the decoded params.
bool match(std::string_view pattern, std::string_view path, Params& params) {
  params.clear();
  while (!pattern.empty() || !path.empty()) {
    if (pattern.empty() || path.empty()) return false;
    std::size_t pe = pattern.find('/', 1), qe = path.find('/', 1);
    std::string_view pseg = pattern.substr(0, pe), qseg = path.substr(0, qe);
    if (pseg == "/{}") {
      std::string decoded;
      if (qseg.size() < 2 || !percent_decode(qseg.substr(1), decoded)) return false;
      params.push_back(std::move(decoded));
    } else if (pseg != qseg) {
      return false;
    }
    pattern = pe == std::string_view::npos ? std::string_view() : pattern.substr(pe);
    path = qe == std::string_view::npos ? std::string_view() : path.substr(qe);
  }
  return true;
}

const char* mime_type(std::string_view path) {
  struct Ext { std::string_view ext; const char* type; };
  static constexpr Ext kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
      {".ico", "image/x-icon"}, {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"}, {".webmanifest", "application/manifest+json"}};
  for (const auto& t : kTypes)
    if (path.size() >= t.ext.size() && path.substr(path.size() - t.ext.size()) == t.ext)
      return t.type;
  return "application/octet-stream";
}

std::string canonical(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

// A request body as a JSON object; an empty body is an empty object.
std::optional<Error> parse_body(const HttpRequest& req, rapidjson::Document& doc) {
  return protocol::parse_object(req.body.empty() ? std::string_view("{}") : req.body, doc);
}

// The credentials of an "Authorization: Bearer <token>" header (the scheme is
// case-insensitive), or "" for any other header.
std::string_view bearer_token(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return {};
  }
  header.remove_prefix(kScheme.size());
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  return header;
}

// {"lobby": Lobby}: a created or changed lobby.
void write_lobby_key(JsonBuilder& b, const LobbyInfo& lobby) {
  b.key("lobby");
  protocol::write(b, lobby);
}

// The body's "metadata" object as JSON text (its size is the operation's to check).
std::optional<Error> metadata_field(const rapidjson::Document& body, std::string& out) {
  auto it = body.FindMember("metadata");
  if (it == body.MemberEnd() || !it->value.IsObject())
    return Error{ErrorCode::bad_field, "\"metadata\" must be a JSON object.", "metadata", -1, {}};
  out = protocol::to_json(it->value);
  return std::nullopt;
}

}  // namespace

HttpRouter::HttpRouter(Hub& hub, std::string admin_token, std::string static_dir)
    : hub_(hub), admin_token_(std::move(admin_token)),
      static_dir_(static_dir.empty() ? std::string() : canonical(static_dir)) {}

void HttpRouter::handle(const HttpRequest& req, Respond respond) {
  Hub::State& s = hub_.state();
  const std::string_view path = req.path;
  const std::string& m = req.method;
  Params p;


  if (path.substr(0, 5) == "/api/" || path == "/api") {
    // Liveness: answered by the loop thread like every request, so a stuck loop answers
    // nothing and the probe's own timeout fails it. Readiness: not draining, and the last
    // store commit worked (docs/deployment.md, "Health").
    if (match("/api/health/live", path, p)) {
      if (m != "GET") return respond(error_response(ErrorCode::method_not_allowed, "Use GET."));
      return respond(json_response(200, [&](JsonBuilder& b) { b.str("status", "alive"); }));
    }
    if (match("/api/health/ready", path, p)) {
      if (m != "GET") return respond(error_response(ErrorCode::method_not_allowed, "Use GET."));
      const bool draining = hub_.draining();
      const bool store_ok = hub_.store_ok();
      const bool ready = !draining && store_ok;
      return respond(json_response(ready ? 200 : 503, [&](JsonBuilder& b) {
        b.boolean("ready", ready).boolean("draining", draining).boolean("store_ok", store_ok);
        if (!ready) {
          b.str("code", protocol::to_string(ErrorCode::not_ready))
              .str("error", draining ? "The server is draining: connect to another one."
                                     : "The server cannot write to its store.");
        }
      }));
    }
    if (match("/api/health", path, p)) {
      if (m != "GET") return respond(error_response(ErrorCode::method_not_allowed, "Use GET."));
      return respond(json_response(200, [&](JsonBuilder& b) {
        b.str("status", "ok").str("version", LOBBYKIT_VERSION_STRING)
            .num("protocol_version", protocol::kProtocolVersion);
      }));
    }
    if (match("/api/metrics", path, p)) {
      if (m != "GET") return respond(error_response(ErrorCode::method_not_allowed, "Use GET."));
      return respond(HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                  s.metrics.render(hub_.gauges()), ""});
    }
    if (match("/api/lobbies", path, p)) {
      if (m == "GET") {
        auto lobbies = s.lobbies.list(false);
        return respond(json_response(200, [&](JsonBuilder& b) {
          b.begin_array("lobbies");
          for (const auto& l : lobbies) protocol::write(b, l);
          b.end_array();
        }));
      }
      if (m == "POST") {
        rapidjson::Document doc;
        if (auto e = parse_body(req, doc)) return respond(error_response(*e));
        // The admin creates lobbies for others: no per-address quota.
        const bool admin = !admin_token_.empty() &&
                           core::constant_time_equal(bearer_token(req.authorization), admin_token_);
        protocol::CreateLobbyReq create;
        if (auto e = protocol::decode(doc, create, s.limits)) return respond(error_response(*e));
        auto done = [respond](std::variant<core::Lobby*, Error> created) {
          if (auto* e = std::get_if<Error>(&created)) return respond(error_response(*e));
          const core::Lobby* lobby = std::get<core::Lobby*>(created);
          respond(json_response(201, [&](JsonBuilder& b) {
            b.key("lobby");
            protocol::write(b, lobby->info);
          }));
        };
        // The admin's lobbies need no one's leave; everyone else's go through the host's hook.
        if (admin) return done(create_lobby(s, create, "", ""));
        return create_lobby_hooked(s, create, req.address, address_key(req.address), done);
      }
      return respond(error_response(ErrorCode::method_not_allowed, "Use GET or POST."));
    }
    if (match("/api/bots/kinds", path, p)) {
      if (m != "GET") return respond(error_response(ErrorCode::method_not_allowed, "Use GET."));
      const auto kinds = s.bots.kinds();
      return respond(json_response(200, [&](JsonBuilder& b) { write_bot_kinds(b, kinds); }));
    }
    if (path.substr(0, 11) == "/api/admin/" || path == "/api/admin") {
      if (admin_token_.empty())
        return respond(error_response(ErrorCode::not_found, "The admin API is off."));
      if (!core::constant_time_equal(bearer_token(req.authorization), admin_token_))
        return respond(error_response(ErrorCode::unauthorized,
                                      "Send the admin token as \"Authorization: Bearer <token>\"."));
      return handle_admin(req, std::move(respond));
    }
    return respond(error_response(ErrorCode::not_found, "No such API endpoint."));
  }

  if (static_dir_.empty() || (m != "GET" && m != "HEAD"))
    return respond(error_response(ErrorCode::not_found, "Not found."));
  std::string decoded;
  if (!percent_decode(path, decoded) || decoded.empty() || decoded[0] != '/' ||
      decoded.find("/..") != std::string::npos || decoded.find('\\') != std::string::npos)
    return respond(error_response(ErrorCode::not_found, "Not found."));
  if (decoded.back() == '/') decoded += "index.html";
  std::string file = canonical(static_dir_ + decoded);
  struct stat st {};
  if (file.empty() || file.compare(0, static_dir_.size() + 1, static_dir_ + "/") != 0 ||
      stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return respond(error_response(ErrorCode::not_found, "Not found."));
  return respond(HttpResponse{200, mime_type(file), "", file});
}

// Each admin route parses the request, calls one operation (router/operations.hpp) and
// writes its outcome; the operations are the host's too (lobbykit::Server).
void HttpRouter::handle_admin(const HttpRequest& req, Respond respond) {
  Hub::State& s = hub_.state();
  const std::string_view path = req.path;
  const std::string& m = req.method;
  Params p;
  auto ok = [] { return json_response(200, [](JsonBuilder& b) { b.boolean("ok", true); }); };
  auto done = [&respond, &ok](const std::optional<Error>& e) {
    respond(e ? error_response(*e) : ok());
  };

  if (match("/api/admin/sessions", path, p)) {
    if (m != "GET") return respond(error_response(ErrorCode::method_not_allowed, "Use GET."));
    const auto sessions = list_sessions(s);
    return respond(json_response(200, [&](JsonBuilder& b) {
      b.begin_array("sessions");
      for (const auto& session : sessions) protocol::write(b, session);
      b.end_array();
    }));
  }
  if (match("/api/admin/lobbies", path, p)) {
    if (m == "GET") {
      const auto lobbies = list_lobbies(s);
      return respond(json_response(200, [&](JsonBuilder& b) {
        b.begin_array("lobbies");
        for (const auto& l : lobbies) protocol::write(b, l.lobby);
        b.end_array();
      }));
    }
    if (m == "POST") {
      rapidjson::Document doc;
      if (auto e = parse_body(req, doc)) return respond(error_response(*e));
      protocol::CreateLobbyReq body;
      if (auto e = protocol::decode(doc, body, s.limits)) return respond(error_response(*e));
      auto created = create_lobby(s, LobbySettings{body.name, body.is_private, body.persistent,
                                                   body.max_participants.value_or(0)});
      if (auto* e = std::get_if<Error>(&created)) return respond(error_response(*e));
      return respond(json_response(
          201, [&](JsonBuilder& b) { write_lobby_key(b, std::get<LobbyInfo>(created)); }));
    }
    return respond(error_response(ErrorCode::method_not_allowed, "Use GET or POST."));
  }
  if (match("/api/admin/lobbies/{}", path, p)) {
    if (m == "GET") {
      auto found = get_lobby(s, p[0]);
      if (auto* e = std::get_if<Error>(&found)) return respond(error_response(*e));
      JsonBuilder b;
      protocol::write(b, std::get<LobbyDetail>(found));
      return respond(HttpResponse{200, "application/json", b.take(), ""});
    }
    if (m == "PATCH") {
      rapidjson::Document doc;
      if (auto e = parse_body(req, doc)) return respond(error_response(*e));
      LobbyUpdate body;
      if (auto e = protocol::decode(doc, body, s.limits)) return respond(error_response(*e));
      auto updated = update_lobby(s, p[0], body);
      if (auto* e = std::get_if<Error>(&updated)) return respond(error_response(*e));
      return respond(json_response(
          200, [&](JsonBuilder& b) { write_lobby_key(b, std::get<LobbyInfo>(updated)); }));
    }
    if (m == "DELETE") return done(remove_lobby(s, p[0]));
    return respond(error_response(ErrorCode::method_not_allowed, "Use GET, PATCH or DELETE."));
  }
  if (match("/api/admin/lobbies/{}/notice", path, p)) {
    if (m != "POST") return respond(error_response(ErrorCode::method_not_allowed, "Use POST."));
    rapidjson::Document doc;
    if (auto e = parse_body(req, doc)) return respond(error_response(*e));
    protocol::ChatReq body;
    if (auto e = protocol::decode(doc, body, s.limits)) return respond(error_response(*e));
    auto posted = post_notice(s, p[0], body.text);
    if (auto* e = std::get_if<Error>(&posted)) return respond(error_response(*e));
    return respond(json_response(201, [&](JsonBuilder& b) {
      b.key("message");
      protocol::write(b, std::get<ChatMessage>(posted));
    }));
  }
  if (match("/api/admin/lobbies/{}/metadata", path, p)) {
    if (m != "PUT") return respond(error_response(ErrorCode::method_not_allowed, "Use PUT."));
    rapidjson::Document doc;
    if (auto e = parse_body(req, doc)) return respond(error_response(*e));
    std::string metadata;
    if (auto e = metadata_field(doc, metadata)) return respond(error_response(*e));
    auto set = set_lobby_metadata(s, p[0], metadata);
    if (auto* e = std::get_if<Error>(&set)) return respond(error_response(*e));
    return respond(json_response(
        200, [&](JsonBuilder& b) { write_lobby_key(b, std::get<LobbyInfo>(set)); }));
  }
  if (match("/api/admin/lobbies/{}/app_message", path, p)) {
    if (m != "POST") return respond(error_response(ErrorCode::method_not_allowed, "Use POST."));
    rapidjson::Document doc;
    if (auto e = parse_body(req, doc)) return respond(error_response(*e));
    protocol::AppMessageReq body;
    if (auto e = protocol::decode(doc, body, s.limits)) return respond(error_response(*e));
    auto sent = send_app_message(s, p[0], body.name, body.payload_json, body.to);
    if (auto* e = std::get_if<Error>(&sent)) return respond(error_response(*e));
    return respond(json_response(
        200, [&](JsonBuilder& b) { b.unum("delivered", std::get<std::uint32_t>(sent)); }));
  }
  if (match("/api/admin/sessions/{}/metadata", path, p)) {
    if (m != "PUT") return respond(error_response(ErrorCode::method_not_allowed, "Use PUT."));
    rapidjson::Document doc;
    if (auto e = parse_body(req, doc)) return respond(error_response(*e));
    std::string metadata;
    if (auto e = metadata_field(doc, metadata)) return respond(error_response(*e));
    auto set = set_session_metadata(s, p[0], metadata);
    if (auto* e = std::get_if<Error>(&set)) return respond(error_response(*e));
    return respond(json_response(200, [&](JsonBuilder& b) {
      b.key("session");
      protocol::write(b, std::get<SessionInfo>(set));
    }));
  }
  if (match("/api/admin/lobbies/{}/bots/{}", path, p)) {
    if (m == "PUT") {
      rapidjson::Document doc;
      if (auto e = parse_body(req, doc)) return respond(error_response(*e));
      auto kind = doc.FindMember("kind");
      if (kind == doc.MemberEnd() || !kind->value.IsString())
        return respond(error_response(
            Error{ErrorCode::bad_field, "\"kind\" must be a string.", "kind", -1, {}}));
      std::string metadata;
      if (auto md = doc.FindMember("metadata"); md != doc.MemberEnd() && !md->value.IsNull()) {
        if (!md->value.IsObject())
          return respond(error_response(
              Error{ErrorCode::bad_field, "\"metadata\" must be a JSON object.", "metadata", -1, {}}));
        metadata = protocol::to_json(md->value);
      }
      auto added = add_bot(s, p[0], std::string(kind->value.GetString(), kind->value.GetStringLength()),
                           p[1], metadata);
      if (auto* e = std::get_if<Error>(&added)) return respond(error_response(*e));
      const auto& a = std::get<BotAdded>(added);
      return respond(json_response(a.created ? 201 : 200, [&](JsonBuilder& b) {
        b.key("dispatch");
        protocol::write(b, a.dispatch);
      }));
    }
    if (m == "DELETE") return done(remove_bot(s, p[0], p[1]));
    return respond(error_response(ErrorCode::method_not_allowed, "Use PUT or DELETE."));
  }
  if (match("/api/admin/bots/providers", path, p)) {
    if (m != "GET") return respond(error_response(ErrorCode::method_not_allowed, "Use GET."));
    return respond(json_response(200, [&](JsonBuilder& b) {
      b.begin_array("providers");
      for (const auto* provider : s.bots.providers()) write_provider(b, *provider);
      b.end_array();
    }));
  }
  if (match("/api/admin/bots/providers/{}/drain", path, p)) {
    if (m != "POST") return respond(error_response(ErrorCode::method_not_allowed, "Use POST."));
    if (!s.bots.drain(p[0], true))
      return respond(error_response(ErrorCode::provider_not_found, "There is no such provider."));
    return respond(ok());
  }
  if (match("/api/admin/bots/dispatches", path, p)) {
    if (m != "GET") return respond(error_response(ErrorCode::method_not_allowed, "Use GET."));
    return respond(json_response(200, [&](JsonBuilder& b) {
      b.begin_array("dispatches");
      for (const auto* d : s.bots.dispatches()) write_dispatch_with_job(b, s.bots, *d);
      b.end_array();
    }));
  }
  if (match("/api/admin/sessions/{}/kick", path, p)) {
    if (m != "POST") return respond(error_response(ErrorCode::method_not_allowed, "Use POST."));
    return done(kick_session(s, p[0]));
  }
  if (match("/api/admin/sessions/{}/rename", path, p)) {
    if (m != "POST") return respond(error_response(ErrorCode::method_not_allowed, "Use POST."));
    if (!s.sessions.find(p[0]))
      return respond(error_response(ErrorCode::session_not_found, "There is no such session."));
    rapidjson::Document doc;
    if (auto e = parse_body(req, doc)) return respond(error_response(*e));
    protocol::SetNameReq body;
    if (auto e = protocol::decode(doc, body, s.limits)) return respond(error_response(*e));
    auto renamed = rename_session(s, p[0], body.name);
    if (auto* e = std::get_if<Error>(&renamed)) return respond(error_response(*e));
    const SessionInfo& info = std::get<SessionInfo>(renamed);
    return respond(json_response(200, [&](JsonBuilder& b) {
      b.str("peer_id", info.peer_id).str("name", info.name);
    }));
  }
  if (match("/api/admin/names/{}/password", path, p)) {
    std::optional<std::string> password;
    if (m == "PUT") {
      rapidjson::Document doc;
      if (auto e = parse_body(req, doc)) return respond(error_response(*e));
      auto it = doc.FindMember("password");
      if (it == doc.MemberEnd() || !it->value.IsString())
        return respond(error_response(
            Error{ErrorCode::bad_field, "\"password\" must be a string.", "password", -1}));
      password.emplace(it->value.GetString(), it->value.GetStringLength());
    } else if (m != "DELETE") {
      return respond(error_response(ErrorCode::method_not_allowed, "Use PUT or DELETE."));
    }
    reset_password(s, p[0], std::move(password), [respond, ok](std::optional<Error> e) {
      respond(e ? error_response(*e) : ok());
    });
    return;
  }
  return respond(error_response(ErrorCode::not_found, "No such admin endpoint."));
}

}  // namespace lobbykit::router
