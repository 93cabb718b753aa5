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

  // Graceful drain (docs/deployment.md, "Draining"). Every WebSocket connection open now is
  // told to reconnect — a "reconnect" push with the hint (after_ms, and url when not empty),
  // then close 1001 — in batches spread evenly over period_ms by tick(); then done() runs,
  // once, on the loop thread. In-process connections are left for shutdown(). A second call
  // does nothing. Loop thread.
  void begin_drain(std::uint32_t period_ms, std::string url, std::function<void()> done);
  bool draining() const;
  // Whether the last store commit succeeded (false after a failed flush(), until one
  // succeeds): half of readiness.
  bool store_ok() const { return store_ok_; }
  // Makes every store write durable. The transport calls it (or flush_to()) before writing
  // any frame.
  void flush() {
    if (!store_.dirty()) return;
    store_ok_ = false;
    store_.flush();  // throws store::StoreError
    store_ok_ = true;
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
  bool store_ok_ = true;
  std::unique_ptr<State> state_;
};

}  // namespace lobbykit::router
