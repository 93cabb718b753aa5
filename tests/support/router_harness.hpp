// The router unit tests' view of a Hub (tests/unit/test_router.cpp, test_hooks.cpp): Msg is
// one frame parsed back, Client one connection as the hub sees it, Harness the shared rig
// (support/hub_rig.hpp) with clients on it. Uses doctest's REQUIRE.
#pragma once

#include "router/hub.hpp"
#include "support/hub_rig.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lobbykit::router {

using testing::FakeOutbox;

// One frame the hub sent, parsed. Paths are dotted: "data.participants.0.name".
class Msg {
 public:
  explicit Msg(Frame frame) : frame_(std::move(frame)), doc_(std::make_shared<rapidjson::Document>()) {
    REQUIRE(static_cast<bool>(frame_));
    doc_->Parse(frame_->data(), frame_->size());
    INFO("frame: ", *frame_);
    REQUIRE_FALSE(doc_->HasParseError());
    REQUIRE(doc_->IsObject());
  }

  const Frame& frame() const { return frame_; }
  const std::string& text() const { return *frame_; }
  std::string type() const { return str("type"); }

  const rapidjson::Value* find(const std::string& path) const {
    const rapidjson::Value* v = doc_.get();
    std::size_t start = 0;
    while (v && start <= path.size()) {
      std::size_t dot = path.find('.', start);
      std::string seg = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (v->IsObject()) {
        auto it = v->FindMember(seg.c_str());
        v = it == v->MemberEnd() ? nullptr : &it->value;
      } else if (v->IsArray() && !seg.empty() &&
                 seg.find_first_not_of("0123456789") == std::string::npos) {
        std::size_t i = std::stoul(seg);
        v = i < v->Size() ? &(*v)[static_cast<rapidjson::SizeType>(i)] : nullptr;
      } else {
        v = nullptr;
      }
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return v;
  }
  bool has(const std::string& path) const { return find(path) != nullptr; }
  const rapidjson::Value& at(const std::string& path) const {
    const rapidjson::Value* v = find(path);
    INFO("path ", path, " in ", *frame_);
    REQUIRE(v != nullptr);
    return *v;
  }
  std::string str(const std::string& path) const {
    const auto& v = at(path);
    INFO("path ", path, " in ", *frame_);
    REQUIRE(v.IsString());
    return std::string(v.GetString(), v.GetStringLength());
  }
  std::int64_t num(const std::string& path) const {
    const auto& v = at(path);
    INFO("path ", path, " in ", *frame_);
    REQUIRE(v.IsInt64());
    return v.GetInt64();
  }
  bool flag(const std::string& path) const {
    const auto& v = at(path);
    INFO("path ", path, " in ", *frame_);
    REQUIRE(v.IsBool());
    return v.GetBool();
  }
  bool is_null(const std::string& path) const { return at(path).IsNull(); }
  std::size_t size(const std::string& path) const {
    const auto& v = at(path);
    INFO("path ", path, " in ", *frame_);
    REQUIRE(v.IsArray());
    return v.Size();
  }
  std::size_t members(const std::string& path) const {
    const auto& v = at(path);
    REQUIRE(v.IsObject());
    return v.MemberCount();
  }
  // error frames
  std::string code() const {
    INFO("frame: ", *frame_);
    REQUIRE(type() == "error");
    return str("data.code");
  }

 private:
  Frame frame_;
  std::shared_ptr<rapidjson::Document> doc_;
};

struct Harness;

// One WebSocket client as the hub sees it.
class Client {
 public:
  Client(Harness& h, ConnId id) : h_(&h), id_(id) {}

  ConnId id() const { return id_; }
  FakeOutbox::Record& record() const;

  void send_raw(std::string_view text) const;
  // Without an id: only an error can come back.
  void send(const std::string& type, const std::string& data = "{}") const {
    send_raw(R"({"type":")" + type + R"(","data":)" + data + "}");
  }
  // With a fresh integer id; the reply may come now or later (reply()).
  int request(const std::string& type, const std::string& data = "{}") const;
  bool has_reply(int id) const { return find_reply(id) != record().pending.end(); }
  // Takes the reply to request `id` out of the queue, leaving pushes in place.
  Msg reply(int id) const {
    auto it = find_reply(id);
    INFO("no reply to request ", id, " on connection ", id_);
    REQUIRE(it != record().pending.end());
    Msg m(*it);
    record().pending.erase(it);
    return m;
  }
  Msg call(const std::string& type, const std::string& data = "{}") const {
    return reply(request(type, data));
  }
  // A request that must succeed; returns its result.
  Msg ok(const std::string& type, const std::string& data = "{}") const {
    Msg m = call(type, data);
    INFO(type, " ", data, " -> ", m.text());
    REQUIRE(m.type() == "result");
    return m;
  }

  Msg next() const {
    INFO("no frame pending on connection ", id_);
    REQUIRE_FALSE(record().pending.empty());
    Msg m(record().pending.front());
    record().pending.pop_front();
    return m;
  }
  // Takes the first pending frame of `type`; frames before it stay queued.
  Msg next(const std::string& type) const {
    auto& q = record().pending;
    for (auto it = q.begin(); it != q.end(); ++it) {
      Msg m(*it);
      if (m.type() == type) {
        q.erase(it);
        return m;
      }
    }
    INFO("no ", type, " pending on connection ", id_, "; pending: ", types());
    REQUIRE(false);
    throw std::logic_error("unreachable");
  }
  // Takes every pending frame of `type`, in order.
  std::vector<Msg> take(const std::string& type) const {
    std::vector<Msg> out;
    auto& q = record().pending;
    for (auto it = q.begin(); it != q.end();) {
      Msg m(*it);
      if (m.type() == type) {
        out.push_back(m);
        it = q.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  std::size_t pending() const { return record().pending.size(); }
  std::string types() const {
    std::string s;
    for (const auto& f : record().pending) s += Msg(f).type() + " ";
    return s;
  }
  void clear() const { record().pending.clear(); }
  int close_code() const { return record().close_code; }
  // The transport reports the connection closed.
  void disconnect() const;

  Msg auth(const std::string& data = "{}") {
    Msg w = call("auth", data);
    INFO(w.text());
    REQUIRE(w.type() == "welcome");
    peer = w.str("data.peer_id");
    token = w.str("data.token");
    return w;
  }
  Msg resume(const std::string& with_token) { return auth(R"({"token":")" + with_token + R"("})"); }
  std::string create_lobby(const std::string& name, const std::string& extra = "") const {
    Msg r = ok("create_lobby", R"({"name":")" + name + "\"" + extra + "}");
    return r.str("data.lobby.id");
  }
  Msg join(const std::string& lobby_id, bool media = false) const {
    return ok("join_lobby", R"({"lobby_id":")" + lobby_id + R"(","has_media":)" +
                                (media ? "true" : "false") + "}");
  }
  Msg chat(const std::string& text) const { return ok("chat", R"({"text":")" + text + R"("})"); }

  PeerId peer;
  std::string token;

 private:
  std::deque<Frame>::iterator find_reply(int id) const {
    auto& q = record().pending;
    return std::find_if(q.begin(), q.end(), [id](const Frame& f) {
      Msg m(f);
      const auto* v = m.find("id");
      return v && v->IsInt() && v->GetInt() == id;
    });
  }

  Harness* h_;
  ConnId id_;
};

// The shared rig (tests/support/hub_rig.hpp) and clients on it.
struct Harness : testing::HubRig {
  using HubRig::HubRig;

  // From a documentation address (RFC 5737) unless told otherwise.
  Client connect(std::string_view address = "192.0.2.1") {
    ConnId id = next_conn++;
    hub->on_open(id, address);
    return Client(*this, id);
  }
  // Connected, authenticated, named (unless name is empty), nothing pending.
  Client user(const std::string& name, std::string_view address = "192.0.2.1") {
    Client c = connect(address);
    c.auth();
    if (!name.empty()) {
      Msg r = c.call("set_name", R"({"name":")" + name + R"("})");
      INFO(r.text());
      REQUIRE(r.type() == "result");
    }
    c.clear();
    return c;
  }

  // Hooks answer through posted closures: the test runs them with run_posted(), as the
  // loop thread would run what was posted to it.
  void set_hooks(Hooks hooks) {
    hub->set_hooks(std::move(hooks), [this](std::function<void()> fn) { posted.push_back(std::move(fn)); });
  }
  int run_posted() {
    int n = 0;
    while (!posted.empty()) {
      auto fn = std::move(posted.front());
      posted.pop_front();
      fn();
      ++n;
    }
    return n;
  }

  ConnId next_conn = 1;
  int next_id = 1;
  std::deque<std::function<void()>> posted;
};

inline FakeOutbox::Record& Client::record() const { return h_->out.records[id_]; }
inline void Client::send_raw(std::string_view text) const { h_->hub->on_message(id_, text); }
inline void Client::disconnect() const { h_->hub->on_close(id_); }
inline int Client::request(const std::string& type, const std::string& data) const {
  int id = h_->next_id++;
  send_raw(R"({"type":")" + type + R"(","id":)" + std::to_string(id) + R"(,"data":)" + data + "}");
  return id;
}

}  // namespace lobbykit::router
