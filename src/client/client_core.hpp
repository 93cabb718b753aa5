// ClientCore: the client's protocol state machine. It owns the connection state
// (disconnected / connecting / connected / reconnecting), auth and resume by token, the
// reconnect backoff, request correlation and timeouts, the state store (ClientSnapshot),
// and what the user asked for (name, lobby, media), which it puts back after each welcome.
//
// No sockets, no threads, no clock: a driver feeds it link events and the current time and
// calls tick() at next_deadline(); it answers through a Link. Events and request callbacks
// are queued and delivered just before the outermost call returns, so handlers may call
// back into it. Loop thread only.
#pragma once

#include <lobbykit/client.hpp>

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
#include <variant>
#include <vector>

namespace lobbykit::protocol {
struct Welcome;
struct LobbySnapshot;
}  // namespace lobbykit::protocol

namespace lobbykit::client {

// Chat messages a client keeps per lobby when the server's welcome does not say
// (limits.chat_history says otherwise).
constexpr std::size_t kDefaultChatKept = 500;

// A ClientError with just a code and a sentence.
ClientError make_client_error(std::string code, std::string message);

// The client's own error codes that say "the connection failed", not "the server said no":
// the request may be tried again once connected.
bool is_transient(const ClientError& e);

class ClientCore final : private Dialer::Owner {
 public:
  using EventSink = std::function<void(const ClientEvent&)>;
  using Random = std::function<double()>;  // uniform in [0, 1)

  ClientCore(ClientOptions options, Link& link, EventSink sink, Random random);
  ClientCore(const ClientCore&) = delete;
  ClientCore& operator=(const ClientCore&) = delete;

  void start(SteadyMs now);      // begins connecting
  void stop(SteadyMs now);       // closes (1000), fails open requests with "stopped"; final
  void reconnect(SteadyMs now);  // after giving up: connect again; in backoff: retry now

  // Link reports about the current connection.
  void on_open(SteadyMs now);
  void on_text(std::string_view text, SteadyMs now);
  void on_closed(std::uint16_t code, std::string_view reason, SteadyMs now);
  // Runs what is due: request timeouts, the connect deadline, the backoff retry.
  void tick(SteadyMs now);
  // When tick() has something to do next; nullopt: nothing scheduled.
  std::optional<SteadyMs> next_deadline() const;

  // A request; data_json a JSON object text ("" means {}). cb is called exactly once,
  // queued like events.
  void request(const std::string& type, const std::string& data_json, ReplyCallback cb,
               SteadyMs now);
  // Keeps the wish a request states beyond its connection (watch_lobbies: subscribe after
  // every welcome), as request() does, for a request that cannot be sent: the client is not
  // started yet.
  void remember_wish(const std::string& type, const std::string& data_json);
  // cb is called once (queued like events; at once if settled already) with the outcome of
  // starting (Client::ready): ok when the first welcome came and the name of
  // ClientOptions::name is settled, data {"peer_id", "token", "name", "resumed"}; or the
  // name's error, why the core gave up first (gave_up, replaced, kicked), or "stopped".
  void when_ready(ReplyCallback cb);

  ConnectionState state() const { return snap_.state; }
  const ClientSnapshot& snapshot() const { return snap_; }
  // Called at once on each state change (before the StateChanged event is delivered);
  // it must not call the core.
  void set_state_observer(std::function<void(ConnectionState)> fn) { on_state_ = std::move(fn); }

  std::optional<SteadyMs> retry_at() const { return dialer_.retry_at(); }
  std::uint32_t attempt() const { return dialer_.attempt(); }

 private:
  // An internal continuation: the reply, its data object, and the time it came.
  using Done = RequestTable::Done;
  struct Completion {
    ReplyCallback cb;
    Reply reply;
  };
  using Notice = std::variant<ClientEvent, Completion>;

  // What the user asked for; put back after every welcome.
  struct Intent {
    std::optional<std::string> name;  // nullopt: take whatever the next welcome says
    std::string password;             // to prove a protected name on a new session
    std::optional<LobbyId> lobby;     // nullopt: take the welcome's; "": in none
    JoinOptions media;
    bool watch_lobbies = false;  // subscribe to the lobby list after every welcome
  };

  // Counts nested public calls; the outermost delivers the queued notices on return.
  class Entry {
   public:
    explicit Entry(ClientCore& c) : c_(c) { ++c_.depth_; }
    ~Entry() {
      if (--c_.depth_ == 0) c_.deliver();
    }
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

   private:
    ClientCore& c_;
  };

  void deliver();
  void emit(ClientEvent e) { notices_.emplace_back(std::move(e)); }
  void complete(ReplyCallback cb, Reply reply);
  void set_state(ConnectionState s);
  void report_error(ClientError e);
  void settle_ready(Reply r);
  void settle_ready_ok(bool resumed);

  // Connection lifecycle: Dialer::Owner.
  void link_opened(SteadyMs now) override;
  void link_ended(SteadyMs now) override;
  std::optional<ClientError> no_retry_after(std::uint16_t code) override;
  void gave_up(const ClientError& e) override;
  void state_changed(ConnectionState s) override;

  // Requests.
  void send_request(const std::string& type, std::string data_json, SteadyMs now, Done done);
  void apply_result(const std::string& type, const std::string& sent_json,
                    const rapidjson::Value& data);
  void send_auth(SteadyMs now);
  void on_auth_reply(const Reply& r, const rapidjson::Value& data, SteadyMs now);

  // After a welcome: the store, then name, lobby, media and chat.
  void on_welcome(const protocol::Welcome& w, SteadyMs now);
  void restore(const protocol::Welcome& w, SteadyMs now);
  void restore_lobby(const protocol::Welcome& w, SteadyMs now);
  void rejoin(SteadyMs now);
  std::optional<std::string> media_patch(const Participant* me) const;
  void catch_up(SteadyMs now);

  // Pushes and the store.
  void on_push(std::string_view type, const rapidjson::Value& data, SteadyMs now);
  bool in_lobby(const std::string& lobby_id) const;
  void apply_snapshot(const protocol::LobbySnapshot& s, bool announce);
  void announce_differences(const std::vector<Participant>& before);
  void clear_lobby_view();
  void drop_lobby(const std::string& reason);
  void upsert_participant(const Participant& p);
  std::vector<ChatMessage> merge_chat(std::vector<ChatMessage> messages);
  void advance_settled();
  void take_name(const std::string& name);
  void set_lobby_list(const rapidjson::Value& data);
  void remember_wish(const std::string& type, const rapidjson::Value& data);
  void watch_lobbies(SteadyMs now);

  ClientOptions options_;
  Link& link_;
  EventSink sink_;
  std::function<void(ConnectionState)> on_state_;

  ClientSnapshot snap_;
  Intent intent_;
  std::deque<Notice> notices_;
  int depth_ = 0;

  Dialer dialer_;  // the connection: accepted at each welcome, where its backoff starts over
  std::string tls_refusal_;  // why the server's certificate was refused (kCloseTlsRefused)

  RequestTable requests_;

  std::optional<Reply> ready_;              // the outcome of starting, once settled
  std::vector<ReplyCallback> ready_waiters_;  // when_ready() callers until then
  bool name_asked_ = false;  // the intent's name is sent and not settled: ask again if lost

  std::size_t chat_kept_ = kDefaultChatKept;
  std::uint64_t settled_ = 0;  // every offset up to this one is in chat or gone for good
  bool catching_up_ = false;   // a chat_history request is out
  bool catch_up_again_ = false;
};

}  // namespace lobbykit::client
