// InProcessTransport: connections from Clients in the same process to a Server, without a
// socket. The Hub cannot tell them from WebSocket connections: it hears on_open /
// on_message / on_close on its loop thread and answers through the Outbox, and, as over
// WebSocket, no frame leaves before hub.flush() (the durability rule): frames are handed
// over in batches, once per loop iteration, after one flush.
//
// Shared (shared_ptr) by the Server and its in-process clients, so a client that outlives
// its server finds a closed door instead of a dangling pointer.
#pragma once

#include "router/outbox.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lobbykit::router {
class Hub;
}

namespace lobbykit::transport {

// ConnIds from here up are in-process connections; the WebSocket transport counts from 1.
constexpr router::ConnId kInProcessConnBase = router::ConnId{1} << 62;

// The client end of one in-process connection. Called on the server's loop thread (or on
// the thread stopping or destroying the server): implementations only hand the work over
// to the client's own thread and must not call back into the transport.
class InProcessClientEnd {
 public:
  virtual ~InProcessClientEnd() = default;
  virtual void opened() = 0;
  virtual void frames(std::vector<router::Frame> batch) = 0;
  virtual void closed(std::uint16_t code, std::string reason) = 0;  // the last call
  // Bytes handed over by frames() that the client has not consumed yet. Any thread.
  virtual std::size_t backlog_bytes() const = 0;
};

class InProcessTransport final : public router::Outbox {
 public:
  using PostToLoop = std::function<bool(std::function<void()>)>;

  // Limits as over WebSocket: inbound messages over max_message_bytes close 1009; a client
  // whose unconsumed outbound bytes would pass max_outbound_bytes is closed 4003.
  InProcessTransport(std::size_t max_message_bytes, std::size_t max_outbound_bytes);
  ~InProcessTransport() override;
  InProcessTransport(const InProcessTransport&) = delete;
  InProcessTransport& operator=(const InProcessTransport&) = delete;

  // Server side. Before the loop runs: where messages go and how to reach the loop.
  void attach(router::Hub& hub, PostToLoop post_to_loop);
  // Loop thread: flushes the hub and hands every queued frame and close over now (the
  // server calls it right after Hub::shutdown() so the 1001 closes leave at once).
  void deliver();
  // Once the loop has ended (the thread that ran it, the hub still alive): delivers what
  // is queued, closes every connection left with `code` (the hub hears on_close for
  // each), flushes, and refuses new connections.
  void shut(std::uint16_t code, std::string_view reason);
  // Before the hub goes: like shut() without the hub; afterwards nothing reaches it.
  void detach();

  // Client side, any thread. connect() returns the new connection's id, or 0 when the
  // server has ended (the end hears nothing then).
  router::ConnId connect(std::shared_ptr<InProcessClientEnd> end);
  void send_text(router::ConnId id, std::string text);
  void disconnect(router::ConnId id);

  // router::Outbox, loop thread.
  void send(router::ConnId id, router::Frame frame) override;
  void close(router::ConnId id, protocol::CloseCode code, std::string_view reason) override;

 private:
  struct Conn {
    std::shared_ptr<InProcessClientEnd> end;
    bool opened = false;    // the hub knows it (on_open ran)
    bool closing = false;   // the server closed it: send nothing new
    std::uint16_t close_code = 0;
    std::string close_reason;
    std::vector<router::Frame> queue;  // not handed over yet
    std::size_t queued_bytes = 0;      // of queue
  };

  // Loop-thread tasks.
  void open_task(router::ConnId id);
  void message_task(router::ConnId id, const std::string& text);
  void disconnect_task(router::ConnId id);
  void delivery_task();
  // Asks the loop for one delivery after the work at hand. mu_ held.
  void schedule_delivery_locked();

  const std::size_t max_message_bytes_;
  const std::size_t max_outbound_bytes_;

  std::mutex mu_;  // guards everything below; never held while calling the hub or an end
  router::Hub* hub_ = nullptr;
  PostToLoop post_;
  bool ended_ = false;             // the server has ended: no new connections
  bool delivery_scheduled_ = false;
  router::ConnId next_id_ = kInProcessConnBase;
  std::unordered_map<router::ConnId, Conn> conns_;
};

}  // namespace lobbykit::transport
