// Redial: when a client or a bot provider opens its next connection. Dialer (for ClientCore
// and ProviderCore) holds it: it counts the attempts since the last accepted connection (welcome,
// hello result), waits each retry's backoff (exponential with full jitter, from the
// ReconnectPolicy), and honours the server's reconnect hint (sent while it drains): the next
// attempt then goes where and when the server said, as a fresh start, not a failure.
//
// No clock and no sockets: the core passes the time, asks due(now) on each tick and opens
// the connection itself. Loop thread only, like its core.
#pragma once

#include <lobbykit/client.hpp>

#include "client/link.hpp"
#include "protocol/client_decode.hpp"

#include <cstdint>
#include <functional>
#include <optional>

namespace lobbykit::client {

// Retry `attempt` (from 0) waits floor(r * min(max_delay, initial_delay * 2^attempt)) ms,
// r uniform in [0, 1): exponential backoff with full jitter.
std::uint32_t backoff_delay_ms(const ReconnectPolicy& policy, std::uint32_t attempt, double r);

class Redial {
 public:
  using Random = std::function<double()>;  // uniform in [0, 1); empty: always 0

  // `policy` must outlive the Redial (it is the core's own options).
  Redial(const ReconnectPolicy& policy, Random random)
      : policy_(policy), random_(std::move(random)) {}

  // The backoff starts over: a connection was accepted, or the user started again.
  void reset_attempts() { attempt_ = 0; }
  // A connection is being opened: no retry is pending and an older hint is spent.
  void opening() {
    at_.reset();
    hint_.reset();
  }
  // No more retries: stopped, or given up.
  void cancel() { at_.reset(); }
  // The server said where and when to reconnect; used when this connection ends.
  void set_hint(protocol::ReconnectHint hint) { hint_ = std::move(hint); }

  // The connection ended and another one is wanted: schedules it (at()) and returns
  // nullopt, or returns why there will be none ("gave_up": reconnecting is off, or
  // max_attempts are used up). A hint with an address retargets `link` there.
  std::optional<ClientError> schedule(SteadyMs now, Link& link);

  bool pending() const { return at_.has_value(); }
  bool due(SteadyMs now) const { return at_ && now >= *at_; }
  std::optional<SteadyMs> at() const { return at_; }
  std::uint32_t attempt() const { return attempt_; }  // retries since the last reset

 private:
  const ReconnectPolicy& policy_;
  Random random_;
  std::uint32_t attempt_ = 0;
  std::optional<SteadyMs> at_;
  std::optional<protocol::ReconnectHint> hint_;
};

}  // namespace lobbykit::client
