// Graceful drain (Hub::begin_drain; docs/deployment.md, "Draining") and the health
// endpoints that report it (router/http_router.cpp).
#include "router/address.hpp"
#include "router/http_router.hpp"
#include "router/hub.hpp"

#include "support/hub_rig.hpp"
#include "support/router_harness.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace lobbykit::router {
namespace {

// Ticks the hub `ms` later and returns which of `clients` were told (reconnect + 1001) by
// then, taking their reconnect frames.
std::vector<Msg> tick_and_take(Harness& h, TimeMs ms, std::vector<Client>& clients,
                               std::set<ConnId>& told) {
  h.clock.advance(ms);
  h.hub->tick();
  std::vector<Msg> frames;
  for (Client& c : clients) {
    for (Msg& m : c.take("reconnect")) {
      CHECK(told.insert(c.id()).second);  // told once
      CHECK(c.close_code() == 1001);
      CHECK(c.record().close_reason == "server draining");
      frames.push_back(m);
    }
  }
  return frames;
}

HttpResponse get(Harness& h, const std::string& path) {
  HttpRouter http(*h.hub, "", "");
  std::optional<HttpResponse> out;
  HttpRequest req;
  req.method = "GET";
  req.path = path;
  http.handle(req, [&](HttpResponse r) { out = std::move(r); });
  REQUIRE(out.has_value());
  return *out;
}

TEST_CASE("drain: every connection is told to reconnect, in batches over the period") {
  Harness h;
  std::vector<Client> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(h.user(i % 2 ? "" : "user" + std::to_string(i)));
  int done = 0;
  h.hub->begin_drain(1000, "ws://other.example:8080/ws", [&] { ++done; });
  CHECK(h.hub->draining());

  std::set<ConnId> told;
  // At once: the first batch (one period's first slice), not everyone.
  std::vector<Msg> first = tick_and_take(h, 0, clients, told);
  CHECK(first.size() >= 1);
  CHECK(first.size() < 20);
  // Halfway through the period about half have been told.
  tick_and_take(h, 500, clients, told);
  CHECK(told.size() >= 9);
  CHECK(told.size() <= 11);
  CHECK(done == 0);
  // At the end of the period, all of them, and done() ran once.
  std::vector<Msg> rest = tick_and_take(h, 500, clients, told);
  CHECK(told.size() == 20);
  CHECK(done == 1);
  tick_and_take(h, 1000, clients, told);
  CHECK(done == 1);

  // The hint: reason, a delay under a second, and the configured URL.
  for (const Msg& m : rest) {
    CHECK(m.str("data.reason") == "draining");
    CHECK(m.num("data.after_ms") >= 0);
    CHECK(m.num("data.after_ms") < 1000);
    CHECK(m.str("data.url") == "ws://other.example:8080/ws");
  }
  // Oldest connections first.
  CHECK(*told.begin() == clients.front().id());
}

TEST_CASE("drain: without a URL the hint has none, no connections means done at once") {
  Harness h;
  Client a = h.user("ada");
  int done = 0;
  h.hub->begin_drain(0, "", [&] { ++done; });
  CHECK(done == 1);
  Msg m = a.next("reconnect");
  CHECK(m.find("data.url") == nullptr);
  CHECK(a.close_code() == 1001);

  Harness empty;
  int empty_done = 0;
  empty.hub->begin_drain(5000, "", [&] { ++empty_done; });
  CHECK(empty_done == 1);
  // A second drain does nothing.
  empty.hub->begin_drain(5000, "", [&] { ++empty_done; });
  CHECK(empty_done == 1);
}

TEST_CASE("drain: in-process connections and ones already closing are not told") {
  Harness h;
  Client local = h.connect(kInProcessAddress);
  local.auth();
  local.clear();
  Client remote = h.user("bob");
  Client gone = h.user("carol");
  gone.disconnect();
  int done = 0;
  h.hub->begin_drain(0, "", [&] { ++done; });
  CHECK(done == 1);
  CHECK(local.take("reconnect").empty());
  CHECK(local.close_code() == 0);
  CHECK(remote.take("reconnect").size() == 1);
  CHECK(gone.take("reconnect").empty());
}

TEST_CASE("drain: sessions keep their lobby for a resume elsewhere") {
  Harness h;
  Client a = h.user("ada");
  const std::string lobby = a.create_lobby("room");
  a.join(lobby);
  a.chat("before the drain");
  h.hub->begin_drain(0, "", [] {});
  a.disconnect();
  h.restart();  // the next server loads the same store
  Client again = h.connect();
  Msg w = again.resume(a.token);
  CHECK(w.flag("data.resumed"));
  CHECK(w.str("data.lobby.lobby.id") == lobby);
}

TEST_CASE("health: live always answers, ready turns 503 with not_ready while draining") {
  Harness h;
  HttpResponse live = get(h, "/api/health/live");
  CHECK(live.status == 200);
  CHECK(live.body.find(R"("status":"alive")") != std::string::npos);

  HttpResponse ready = get(h, "/api/health/ready");
  CHECK(ready.status == 200);
  CHECK(ready.body.find(R"("ready":true)") != std::string::npos);

  h.hub->begin_drain(1000, "", [] {});
  ready = get(h, "/api/health/ready");
  CHECK(ready.status == 503);
  CHECK(ready.body.find(R"("ready":false)") != std::string::npos);
  CHECK(ready.body.find(R"("draining":true)") != std::string::npos);
  CHECK(ready.body.find(R"("code":"not_ready")") != std::string::npos);
  CHECK(get(h, "/api/health/live").status == 200);
  CHECK(get(h, "/api/health").status == 200);
}

}  // namespace
}  // namespace lobbykit::router
