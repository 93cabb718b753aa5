// Hub: the server's brain on the loop thread. It owns the core managers, knows which
// connection is which session, and routes every inbound message through a handler table.
// The transport feeds it connection events; it answers through the Outbox.
#pragma once

#include <lobbykit/options.hpp>

#include "core/clock.hpp"
#include "core/event_bus.hpp"
#include "core/worker.hpp"
#include "router/metrics.hpp"
#include "router/outbox.hpp"
#include "store/store.hpp"

#include <memory>
#include <string_view>

namespace lobbykit::router {

class Hub {
 public:
  // Loads the store. Throws store::StoreError if it cannot.
  Hub(const Limits& limits, core::Clock& clock, store::Store& store, Outbox& outbox,
      core::Worker& worker);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Transport → hub. A connection is opened once and closed exactly once.
  void on_open(ConnId conn);
  // One complete text message (the transport already enforced the size cap).
  void on_message(ConnId conn, std::string_view text);
  void on_close(ConnId conn);

  // Runs due timers: auth deadlines, resume grace, empty-lobby and session expiry.
  // Call it every ~100 ms; it is cheap when nothing is due.
  void tick();
  // Closes every connection with going_away and flushes the store.
  void shutdown();
  // Makes every store write durable. The transport calls it before writing any frame.
  void flush() { if (store_.dirty()) store_.flush(); }

  core::EventBus& events();
  Metrics& metrics();
  Metrics::Gauges gauges() const;

  struct State;              // the managers and connection table (hub_state.hpp)
  State& state() { return *state_; }

 private:
  store::Store& store_;
  std::unique_ptr<State> state_;
};

}  // namespace lobbykit::router
