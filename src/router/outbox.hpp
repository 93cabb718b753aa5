// Outbox: how the router talks back to connections. The transport implements it over
// libwebsockets; unit tests implement it in memory. Loop thread only.
#pragma once

#include "protocol/close_code.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace lobbykit::router {

using ConnId = std::uint64_t;
// A serialized frame. Shared so a broadcast is serialized once and queued to every recipient.
using Frame = std::shared_ptr<const std::string>;

class Outbox {
 public:
  virtual ~Outbox() = default;
  // Queues a text frame. Unknown or closing connections drop it silently. When the queue
  // passes the limit the transport closes the connection with slow_consumer by itself.
  virtual void send(ConnId conn, Frame frame) = 0;
  // Sends what is already queued (best effort), then closes with code and reason.
  // The router gets on_close for it later, as for any close.
  virtual void close(ConnId conn, protocol::CloseCode code, std::string_view reason) = 0;
};

}  // namespace lobbykit::router
