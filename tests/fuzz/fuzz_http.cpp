// Fuzz target "http": the HTTP API (src/router/http_router.*) on a Hub that has two sessions
// (Ada, whose name is protected, and Bo, both connected) and a lobby they are in, built on
// the shared test rig (tests/support/hub_rig.hpp).
//
// Input: one byte of setup (bit 1: an admin token is configured; bit 2: a static folder is
// served), then requests until the input ends, each:
//   method         one byte, from kMethods
//   path           a length-prefixed string; the bytes 0x01, 0x02 and 0x03 in it stand for
//                  Ada's peer id, the lobby's id and Ada's name
//   query          a length-prefixed string
//   authorization  one byte: none, the right bearer token (two spellings), a wrong one, or a
//                  length-prefixed string
//   body           a length-prefixed string
//   then one byte: odd runs the worker (password hashing) before the next request.
//
// Beyond no crash, leak or undefined behaviour, it checks:
// - every request is answered exactly once, with a known status; JSON answers are JSON
//   objects, and errors carry a "code" and an "error";
// - a served file lies inside the static folder (never the file beside it, nor what a
//   symbolic link inside points to outside);
// - without the admin token in its Authorization header, no /api/admin request succeeds or
//   changes anything (sessions, lobbies, members, frames to the WebSocket clients); with no
//   admin token configured they all answer 404;
// - requests other than POST /api/lobbies and the admin API change nothing;
// - the frames the WebSocket clients get meanwhile (kicks, renames) are JSON objects.
#include "deterministic_random.hpp"
#include "fuzz_support.hpp"
#include "support/hub_rig.hpp"

#include "router/http_router.hpp"

#include <rapidjson/document.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace lobbykit;
using fuzz::Input;

constexpr std::string_view kAdminToken = "admin-secret";

// A static folder with a few files, a file beside it that must never be served, and a
// symbolic link inside pointing at that file. Made once per process, removed at exit.
struct StaticFolder {
  StaticFolder() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "lobbykit-fuzz-http-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    base = std::filesystem::canonical(tmpl);
    root = base / "www";
    std::filesystem::create_directories(root / "sub");
    std::ofstream(root / "index.html") << "<!doctype html>";
    std::ofstream(root / "app.js") << "1";
    std::ofstream(root / "sub" / "index.html") << "sub";
    secret = base / "secret.txt";
    std::ofstream(secret) << "secret";
    std::filesystem::create_symlink(secret, root / "link.txt");
  }
  ~StaticFolder() {
    std::error_code ec;
    std::filesystem::remove_all(base, ec);
  }
  std::filesystem::path base, root, secret;
};

const StaticFolder& static_folder() {
  static const StaticFolder folder;
  return folder;
}

struct State {
  router::Metrics::Gauges gauges;
  std::uint64_t frames = 0;
  std::uint64_t closes = 0;
  bool operator==(const State& o) const {
    return gauges.sessions == o.gauges.sessions &&
           gauges.sessions_connected == o.gauges.sessions_connected &&
           gauges.lobbies == o.gauges.lobbies && gauges.participants == o.gauges.participants &&
           frames == o.frames && closes == o.closes;
  }
};

class Run {
 public:
  explicit Run(std::uint8_t setup) {
    rig_.out.observer = [this](router::ConnId, const router::Frame& f) {
      ++frames_;
      rapidjson::Document doc;
      doc.Parse(f->data(), f->size());
      FUZZ_CHECK(!doc.HasParseError() && doc.IsObject(), *f);
    };
    admin_ = setup & 1;
    const bool files = setup & 2;
    // Ada (protected name) and Bo, both in one lobby.
    ada_peer_ = user(1, R"({"name":"Ada","password":"pw"})");
    user(2, R"({"name":"Bo"})");
    send(1, R"({"type":"create_lobby","id":9,"data":{"name":"Standup"}})");
    lobby_id_ = field(1, "id");
    send(1, R"({"type":"join_lobby","id":10,"data":{"lobby_id":")" + lobby_id_ + R"("}})");
    send(2, R"({"type":"join_lobby","id":10,"data":{"name":"Standup"}})");
    FUZZ_CHECK(!ada_peer_.empty() && !lobby_id_.empty(), "setup");
    router_.emplace(*rig_.hub, admin_ ? std::string(kAdminToken) : std::string(),
                    files ? static_folder().root.string() : std::string());
  }
  ~Run() { rig_.out.observer = nullptr; }

  void request(Input& in) {
    static constexpr const char* kMethods[] = {"GET", "POST", "PUT", "DELETE", "HEAD",
                                               "PATCH", "get", "OPTIONS"};
    router::HttpRequest req;
    req.method = in.pick(kMethods);
    req.address = "127.0.0.1";
    for (char c : in.text()) {
      if (c == '\x01') req.path += ada_peer_;
      else if (c == '\x02') req.path += lobby_id_;
      else if (c == '\x03') req.path += "Ada";
      else req.path += c;
    }
    req.query = std::string(in.text());
    switch (in.byte() % 5) {
      case 0: break;
      case 1: req.authorization = "Bearer " + std::string(kAdminToken); break;
      case 2: req.authorization = "bearer   " + std::string(kAdminToken); break;
      case 3: req.authorization = "Bearer admin-secreT"; break;
      case 4: req.authorization = std::string(in.text()); break;
    }
    req.body = std::string(in.text());
    const bool run_worker = in.byte() & 1;

    const State before = state();
    auto answers = std::make_shared<std::vector<router::HttpResponse>>();
    router_->handle(req, [answers](router::HttpResponse r) { answers->push_back(std::move(r)); });
    // An answer may wait for the worker (hashing a password): it comes when the job ran.
    if (answers->empty()) rig_.worker.run_all();
    FUZZ_CHECK(answers->size() == 1, "not answered exactly once: " + req.method + " " + req.path);
    rig_.worker.run_all();
    FUZZ_CHECK(answers->size() == 1, "answered twice: " + req.method + " " + req.path);
    check_response(req, answers->front());

    const bool admin_path = req.path == "/api/admin" || req.path.rfind("/api/admin/", 0) == 0;
    const bool has_token = req.authorization.find(kAdminToken) != std::string::npos;
    const int status = answers->front().status;
    if (admin_path && (!admin_ || !has_token)) {
      FUZZ_CHECK(status == (admin_ ? 401 : 404),
                 "an admin request without the token: " + req.method + " " + req.path);
    }
    const bool may_change = (admin_path && admin_ && has_token) ||
                            (req.method == "POST" && req.path == "/api/lobbies");
    if (!may_change)
      FUZZ_CHECK(state() == before, "state changed by " + req.method + " " + req.path);
    if (run_worker) rig_.worker.run_all();
  }

 private:
  State state() {
    State s;
    s.gauges = rig_.hub->gauges();
    s.frames = frames_;
    for (const auto& [id, r] : rig_.out.records) s.closes += r.close_calls;
    return s;
  }

  void check_response(const router::HttpRequest& req, const router::HttpResponse& r) {
    const std::string what = req.method + " " + req.path + " -> " + std::to_string(r.status);
    static constexpr int kStatuses[] = {200, 201, 400, 401, 404, 405, 409, 413, 429, 500, 503};
    FUZZ_CHECK(std::find(std::begin(kStatuses), std::end(kStatuses), r.status) !=
                   std::end(kStatuses),
               what);
    if (!r.file_path.empty()) {
      FUZZ_CHECK(r.status == 200, what);
      const std::string root = static_folder().root.string() + "/";
      FUZZ_CHECK(r.file_path.compare(0, root.size(), root) == 0, "served outside: " + r.file_path);
      FUZZ_CHECK(r.file_path != static_folder().secret.string(), "served the secret");
      struct stat st {};
      FUZZ_CHECK(stat(r.file_path.c_str(), &st) == 0 && S_ISREG(st.st_mode), r.file_path);
      return;
    }
    if (r.content_type != "application/json") return;  // metrics
    rapidjson::Document doc;
    doc.Parse(r.body.data(), r.body.size());
    FUZZ_CHECK(!doc.HasParseError() && doc.IsObject(), what + " " + r.body);
    if (r.status >= 400)
      FUZZ_CHECK(doc.HasMember("code") && doc["code"].IsString() && doc.HasMember("error") &&
                     doc["error"].IsString(),
                 what + " " + r.body);
  }

  void send(router::ConnId conn, const std::string& text) { rig_.hub->on_message(conn, text); }

  // A string field of the data of the newest frame on a connection, or of data.lobby.
  std::string field(router::ConnId conn, const char* key) {
    auto& pending = rig_.out.records[conn].pending;
    if (pending.empty()) return {};
    rapidjson::Document doc;
    doc.Parse(pending.back()->data(), pending.back()->size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("data")) return {};
    const rapidjson::Value* v = &doc["data"];
    if (v->HasMember("lobby") && (*v)["lobby"].IsObject()) v = &(*v)["lobby"];
    auto it = v->FindMember(key);
    return it != v->MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
  }

  // A connected, named session on connection conn; returns its peer id.
  std::string user(router::ConnId conn, const std::string& set_name) {
    rig_.hub->on_open(conn, "127.0.0.1");
    send(conn, R"({"type":"auth","id":1,"data":{}})");
    std::string peer = field(conn, "peer_id");
    send(conn, R"({"type":"set_name","id":2,"data":)" + set_name + "}");
    rig_.worker.run_all();
    return peer;
  }

  testing::HubRig rig_;
  std::optional<router::HttpRouter> router_;
  bool admin_ = false;
  std::uint64_t frames_ = 0;
  std::string ada_peer_, lobby_id_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::reset_random();
  Input in(data, size);
  Run run(in.byte());
  while (!in.empty()) run.request(in);
  return 0;
}
