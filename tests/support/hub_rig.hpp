// A Hub with everything around it in memory and driven by hand: the transport (FakeOutbox),
// a manual clock, a manual worker and a MemoryStore. Shared by the router unit tests
// (tests/unit/test_router.cpp) and the router and HTTP fuzzers (tests/fuzz/); no test
// framework in here, so both can use it.
#pragma once

#include <lobbykit/options.hpp>

#include "core/clock.hpp"
#include "core/worker.hpp"
#include "protocol/close_code.hpp"
#include "router/hub.hpp"
#include "router/outbox.hpp"
#include "store/store.hpp"

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lobbykit::testing {

// Limits with Argon2 made cheap, so password hashing stays fast under the sanitizers.
inline Limits test_limits() {
  Limits l;
  l.argon2_memory_kib = 64;
  l.argon2_iterations = 1;
  return l;
}

// The transport, in memory: frames per connection, and how each connection was closed.
// Like the real transport it drops frames sent to a connection after its close.
class FakeOutbox final : public router::Outbox {
 public:
  struct Record {
    std::deque<router::Frame> pending;  // sent and not yet taken by the test
    std::size_t dropped = 0;            // sent after close
    int close_code = 0;                 // 0 while open
    int close_calls = 0;
    std::string close_reason;
  };

  void send(router::ConnId conn, router::Frame frame) override {
    if (observer) observer(conn, frame);
    Record& r = records[conn];
    if (r.close_code != 0) {
      ++r.dropped;
      return;
    }
    r.pending.push_back(std::move(frame));
  }
  void close(router::ConnId conn, protocol::CloseCode code, std::string_view reason) override {
    Record& r = records[conn];
    ++r.close_calls;
    r.close_code = static_cast<int>(code);
    r.close_reason = std::string(reason);
  }

  std::map<router::ConnId, Record> records;
  // Sees every frame sent, before it is kept or dropped (the fuzzers check each one).
  std::function<void(router::ConnId, const router::Frame&)> observer;
};

// The Hub and what it is built on. restart() is a process restart: the Hub goes, the store
// (and the clock and worker) stay.
struct HubRig {
  explicit HubRig(const Limits& l = test_limits()) : limits(l) { start(); }

  void start() {
    hub = std::make_unique<router::Hub>(limits, clock, *store, out, worker);
    hub->set_provider_keys(provider_keys);
    hub->set_token_options(token_secret, require_token);
  }
  // The process dies after its last flush; a new hub loads the same store.
  void restart() {
    hub->flush();
    hub.reset();
    start();
  }

  core::ManualClock clock;
  core::ManualWorker worker;
  std::unique_ptr<store::Store> store = store::make_memory_store();
  FakeOutbox out;
  Limits limits;
  std::vector<std::string> provider_keys{"test-provider-key"};  // bot providers (docs/bots.md)
  std::string token_secret;    // access tokens (ServerOptions::token_secret); "" off
  bool require_token = false;
  std::unique_ptr<router::Hub> hub;
};

}  // namespace lobbykit::testing
