// ProviderCore: the bot provider's protocol state machine (docs/bots.md, "The provider
// protocol"). It owns the connection state, provider_hello with resume after a reconnect,
// the reconnect backoff (Redial, as the client), the provider_status heartbeat,
// the jobs this provider runs, and requests (job_accept, job_decline, job_end,
// provider_drain) with correlation and timeouts. A job_end that the connection lost is sent
// again after the next hello; a drain holds for every later connection; a request refused
// with rate_limited goes again after retry_after_ms. Status goes out every interval, after
// each hello and when accepting changes (the server counts running jobs itself).
//
// No sockets, no threads, no clock: a driver feeds it link events and the current time and
// calls tick() at next_deadline(); it answers through a Link. Events and callbacks are
// queued and delivered just before the outermost call returns, so handlers may call back
// into it. Loop thread only.
#pragma once

#include <lobbykit/provider.hpp>

#include "client/dialer.hpp"
#include "client/link.hpp"
#include "client/request_table.hpp"
#include "protocol/client_decode.hpp"

#include <rapidjson/document.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lobbykit::client {

class ProviderCore final : private Dialer::Owner {
 public:
  using EventSink = std::function<void(const ProviderEvent&)>;
  using Random = std::function<double()>;  // uniform in [0, 1)

  // options must have kinds and max_jobs >= 1 (BotProvider checks).
  ProviderCore(ProviderOptions options, Link& link, EventSink sink, Random random);
  ProviderCore(const ProviderCore&) = delete;
  ProviderCore& operator=(const ProviderCore&) = delete;

  void start(SteadyMs now);      // begins connecting
  void stop(SteadyMs now);       // closes (1000), fails what is open with "stopped"; final
  void reconnect(SteadyMs now);  // after giving up: connect again; in backoff: retry now

  void on_open(SteadyMs now);
  void on_text(std::string_view text, SteadyMs now);
  void on_closed(std::uint16_t code, std::string_view reason, SteadyMs now);
  // Runs what is due: request timeouts, the connect deadline, the backoff retry, the
  // heartbeat.
  void tick(SteadyMs now);
  std::optional<SteadyMs> next_deadline() const;

  void accept(const std::string& job_id, AcceptCallback cb, SteadyMs now);
  void decline(const std::string& job_id, const std::string& reason, ReplyCallback cb,
               SteadyMs now);
  void end_job(const std::string& job_id, const std::string& reason, bool retry,
               ReplyCallback cb, SteadyMs now);
  void drain(ReplyCallback cb, SteadyMs now);
  void set_load(std::optional<double> load, SteadyMs now);

  ConnectionState state() const { return snap_.state; }
  ProviderSnapshot snapshot() const;
  void set_state_observer(std::function<void(ConnectionState)> fn) { on_state_ = std::move(fn); }

  std::optional<SteadyMs> retry_at() const { return dialer_.retry_at(); }
  std::uint32_t status_interval_ms() const { return status_interval_ms_; }

 private:
  // A job this provider runs: accepted, and not yet ended (or ending: job_end sent, not
  // yet answered) or cancelled.
  struct Job {
    bool ending = false;
    std::string end_reason;
    bool end_retry = false;
    std::vector<ReplyCallback> end_callbacks;  // run when the server answers job_end
    bool end_in_flight = false;                // on the current connection
  };

  class Entry {  // nested public calls; the outermost delivers the queued notices
   public:
    explicit Entry(ProviderCore& c) : c_(c) { ++c_.depth_; }
    ~Entry() {
      if (--c_.depth_ == 0) c_.deliver();
    }
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

   private:
    ProviderCore& c_;
  };

  void deliver();
  void emit(ProviderEvent e);
  void later(std::function<void()> fn) { notices_.emplace_back(std::move(fn)); }
  void set_state(ConnectionState s);
  void report_error(ClientError e);

  // Connection lifecycle: Dialer::Owner.
  void link_opened(SteadyMs now) override;
  void link_ended(SteadyMs now) override;
  std::optional<ClientError> no_retry_after(std::uint16_t code) override;
  void gave_up(const ClientError& e) override;
  void state_changed(ConnectionState s) override;

  void send_request(std::string_view type, std::string data_json, SteadyMs now,
                    RequestTable::Done done);
  void send_deferred(SteadyMs now);
  void fail_deferred(const char* code, const char* message, SteadyMs now);
  void send_hello(SteadyMs now);
  void on_hello_reply(const Reply& r, const rapidjson::Value& data, SteadyMs now);
  void send_status(SteadyMs now);
  void send_drain(SteadyMs now, ReplyCallback cb);
  void send_end(const std::string& job_id, SteadyMs now);
  void on_push(std::string_view type, const rapidjson::Value& data, SteadyMs now);
  void finish_end(const std::string& job_id, const Reply& r);
  double reported_load() const;

  ProviderOptions options_;
  Link& link_;
  EventSink sink_;
  std::function<void(ConnectionState)> on_state_;

  ProviderSnapshot snap_;
  std::string token_;  // the provider's resume token, from the last hello result
  std::optional<double> load_;
  std::uint32_t status_interval_ms_;
  std::map<std::string, Job> jobs_;
  std::vector<std::string> job_order_;  // accept order, for snapshots and status
  RequestTable requests_;
  struct Deferred {  // a request refused with rate_limited, to send again at `at`
    SteadyMs at = 0;
    std::string type;
    std::string data_json;
    RequestTable::Done done;
  };
  std::vector<Deferred> deferred_;
  std::deque<std::function<void()>> notices_;
  int depth_ = 0;

  Dialer dialer_;  // the connection: accepted at each hello result, where its backoff starts over
  std::optional<SteadyMs> status_at_;
};

}  // namespace lobbykit::client
