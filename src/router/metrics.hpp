// Counters for /api/metrics. The router and the transport both count into one Metrics,
// on the loop thread; render() prints the Prometheus text exposition format.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace lobbykit::router {

struct Metrics {
  // transport
  std::uint64_t connections_open = 0;     // gauge: WebSocket connections open now
  std::uint64_t connections_backlogged = 0;  // gauge: not read from, their queue is too long
  std::uint64_t connections_total = 0;    // counter: WebSocket connections accepted
  std::uint64_t bytes_in = 0;             // WebSocket payload bytes received
  std::uint64_t bytes_out = 0;            // WebSocket payload bytes sent
  std::uint64_t http_requests = 0;
  std::map<std::uint16_t, std::uint64_t> closes_by_code;  // closes the server initiated
  // router
  std::map<std::string, std::uint64_t> messages_in;   // by message type ("invalid" if none)
  std::map<std::string, std::uint64_t> messages_out;  // by message type
  std::map<std::string, std::uint64_t> errors;        // by error code

  // Gauges owned elsewhere, filled in by the caller just before render().
  struct Gauges {
    std::uint64_t sessions = 0;            // sessions known to the server
    std::uint64_t sessions_connected = 0;  // with an open connection
    std::uint64_t lobbies = 0;
    std::uint64_t participants = 0;
  };
  std::string render(const Gauges& g) const;
};

}  // namespace lobbykit::router
