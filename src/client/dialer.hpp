// Dialer: the connection lifecycle ClientCore and ProviderCore share. It knows whether a
// connection is wanted (started, not given up, not stopped), the current connection's
// stage (opening, open, accepted: the welcome or the hello result came), the deadline for
// being accepted, and when the next attempt goes (Redial). The core says what each stage
// means for its protocol through Owner: what to send once open, what to fail once lost,
// which close codes end the retrying.
//
// States it reports: connecting (the first attempt), reconnecting (every later one, and
// the wait before it), disconnected (stopped, given up, or lost while not wanted). The core
// reports connected itself, when it has taken the welcome in.
//
// No clock and no sockets, like its core. Loop thread only.
#pragma once

#include <lobbykit/client.hpp>

#include "client/link.hpp"
#include "client/redial.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace lobbykit::client {

class Dialer {
 public:
  // The core's side. Called from within the Dialer's calls, so the core's own Entry guard
  // is already held.
  class Owner {
   public:
    virtual void link_opened(SteadyMs now) = 0;  // send auth / provider_hello
    // The connection is gone (closed, abandoned, or ended): fail what waited on it.
    virtual void link_ended(SteadyMs now) = 0;
    // The server closed with `code` while a connection is wanted: why trying again cannot
    // help, or nullopt to reconnect.
    virtual std::optional<ClientError> no_retry_after(std::uint16_t code) = 0;
    virtual void gave_up(const ClientError& e) = 0;  // no more attempts; state is disconnected
    virtual void state_changed(ConnectionState s) = 0;

   protected:
    ~Owner() = default;
  };

  // `policy` must outlive the Dialer (it is the core's own options).
  Dialer(Owner& owner, Link& link, const ReconnectPolicy& policy,
         std::uint32_t connect_timeout_ms, Redial::Random random)
      : owner_(owner), link_(link), connect_timeout_ms_(connect_timeout_ms),
        redial_(policy, std::move(random)) {}

  void start(SteadyMs now);      // wants a connection and opens one, unless started or stopped
  void reconnect(SteadyMs now);  // after giving up: connect again; in backoff: retry now
  // For good: closes the connection (1000, `reason`) and cancels any retry. False if it
  // was stopped already. Reports no state: the core finishes stopping and says so.
  bool stop(std::string_view reason);

  void on_open(SteadyMs now);
  void on_closed(std::uint16_t code, SteadyMs now);
  // The server accepted this connection (welcome, hello result): the backoff starts over.
  void accepted();
  // Closes the connection (1000, `reason`) and goes on as if it had dropped.
  void abandon(std::string_view reason, SteadyMs now);
  // Closes the connection (1000, `reason`) and wants no other: the core reports why.
  void end(std::string_view reason, SteadyMs now);
  // No more attempts: disconnected, and the owner hears why.
  void give_up(const ClientError& e);

  // The accept deadline (abandoned with `late_reason`) and the retry.
  void tick(SteadyMs now, std::string_view late_reason);
  std::optional<SteadyMs> next_deadline() const;

  void set_hint(protocol::ReconnectHint hint) { redial_.set_hint(std::move(hint)); }

  bool stopped() const { return final_; }
  bool busy() const { return busy_; }          // the link has a current connection
  bool open() const { return open_; }          // ... and it is open
  bool is_accepted() const { return accepted_; }  // ... and the server accepted it
  std::optional<SteadyMs> retry_at() const { return redial_.at(); }
  std::uint32_t attempt() const { return redial_.attempt(); }

 private:
  void open_connection(SteadyMs now);
  void ended(std::uint16_t code, SteadyMs now);

  Owner& owner_;
  Link& link_;
  const std::uint32_t connect_timeout_ms_;
  Redial redial_;
  bool active_ = false;         // wants a connection
  bool final_ = false;          // stop() was called
  bool busy_ = false;
  bool open_ = false;
  bool accepted_ = false;
  bool ever_accepted_ = false;  // later attempts are "reconnecting"
  std::optional<SteadyMs> accept_deadline_;
};

}  // namespace lobbykit::client
