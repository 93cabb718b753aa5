// Hub: the server's brain on the loop thread. It owns the core managers, knows which
// connection is which session, and routes every inbound message through a handler table.
// The transport feeds it connection events; it answers through the Outbox.
#pragma once

#include <lobbykit/options.hpp>

#include "core/clock.hpp"
#include "core/event_bus.hpp"
#include "core/worker.hpp"
#include "router/hooks.hpp"
#include "router/metrics.hpp"
#include "router/outbox.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lobbykit::router {

class Hub {
 public:
  // Loads the store. Throws store::StoreError if it cannot.
  Hub(const Limits& limits, core::Clock& clock, store::Store& store, Outbox& outbox,
      core::Worker& worker);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Transport → hub. A connection is opened once and closed exactly once. address is the
  // peer's IP address as text, or kInProcessAddress (router/address.hpp).
  void on_open(ConnId conn, std::string_view address);
  // One complete text message (the transport already enforced the size cap).
  void on_message(ConnId conn, std::string_view text);
  void on_close(ConnId conn);

  // Runs due timers: auth deadlines, resume grace, empty-lobby and session expiry.
  // Call it every ~100 ms; it is cheap when nothing is due.
  void tick();
  // Closes every connection with going_away and flushes the store.
  void shutdown();
  // Makes every store write durable. The transport calls it (or flush_to()) before writing
  // any frame.
  void flush() {
    if (!store_.dirty()) return;
    store_.flush();
    ++commits_;
  }
  // The durability rule, per frame: a frame queued now may leave once commit number
  // save_point() is done (0: nothing it could report is unsaved). flush_to() before writing
  // it commits only when that has not happened yet, so frames queued before the newest
  // writes do not each force a commit of their own: the writes of many messages share one.
  std::uint64_t save_point() const { return store_.dirty() ? commits_ + 1 : 0; }
  void flush_to(std::uint64_t point) {
    if (point > commits_) flush();
  }

  // The host's decision hooks (router/hooks.hpp). post runs a closure on the loop thread
  // from any thread: the hooks' answers come back through it. Loop thread.
  void set_hooks(Hooks hooks, std::function<void(std::function<void()>)> post);

  // Bot provider keys (ServerOptions::provider_keys; docs/bots.md).
  void set_provider_keys(const std::vector<std::string>& keys);
  // Access tokens (ServerOptions::token_secret, require_token; docs/embedding.md). The
  // secret's length is the Server's to check.
  void set_token_options(const std::string& secret, bool require_token);

  core::EventBus& events();
  Metrics& metrics();
  Metrics::Gauges gauges() const;

  struct State;              // the managers and connection table (hub_state.hpp)
  State& state() { return *state_; }

 private:
  store::Store& store_;
  std::uint64_t commits_ = 0;  // flush() commits so far
  std::unique_ptr<State> state_;
};

}  // namespace lobbykit::router
