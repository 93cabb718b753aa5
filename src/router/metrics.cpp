#include "router/metrics.hpp"

#include <string_view>

namespace lobbykit::router {
namespace {

void header(std::string& out, std::string_view name, std::string_view type,
            std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::uint64_t v) {
  out.append(name).append(" ").append(std::to_string(v)).append("\n");
}

// Label values are lobbykit's own type and code names, [a-z_0-9]: nothing to escape.
void labelled(std::string& out, std::string_view name, std::string_view label,
              std::string_view value, std::uint64_t v) {
  out.append(name).append("{").append(label).append("=\"").append(value).append("\"} ");
  out.append(std::to_string(v)).append("\n");
}

}  // namespace

std::string Metrics::render(const Gauges& g) const {
  std::string out;
  header(out, "lobbykit_connections", "gauge", "WebSocket connections open now.");
  sample(out, "lobbykit_connections", connections_open);
  header(out, "lobbykit_connections_backlogged", "gauge",
         "WebSocket connections not read from until they read what is queued for them.");
  sample(out, "lobbykit_connections_backlogged", connections_backlogged);
  header(out, "lobbykit_connections_total", "counter", "WebSocket connections accepted.");
  sample(out, "lobbykit_connections_total", connections_total);
  header(out, "lobbykit_sessions", "gauge", "Sessions the server knows.");
  sample(out, "lobbykit_sessions", g.sessions);
  header(out, "lobbykit_sessions_connected", "gauge", "Sessions with an open connection.");
  sample(out, "lobbykit_sessions_connected", g.sessions_connected);
  header(out, "lobbykit_lobbies", "gauge", "Lobbies.");
  sample(out, "lobbykit_lobbies", g.lobbies);
  header(out, "lobbykit_participants", "gauge", "Members of all lobbies.");
  sample(out, "lobbykit_participants", g.participants);
  header(out, "lobbykit_bytes_received_total", "counter", "WebSocket payload bytes received.");
  sample(out, "lobbykit_bytes_received_total", bytes_in);
  header(out, "lobbykit_bytes_sent_total", "counter", "WebSocket payload bytes sent.");
  sample(out, "lobbykit_bytes_sent_total", bytes_out);
  header(out, "lobbykit_http_requests_total", "counter", "HTTP requests handled.");
  sample(out, "lobbykit_http_requests_total", http_requests);
  header(out, "lobbykit_messages_received_total", "counter", "Inbound messages by type.");
  for (const auto& [k, v] : messages_in) labelled(out, "lobbykit_messages_received_total", "type", k, v);
  header(out, "lobbykit_messages_sent_total", "counter", "Outbound messages by type.");
  for (const auto& [k, v] : messages_out) labelled(out, "lobbykit_messages_sent_total", "type", k, v);
  header(out, "lobbykit_errors_total", "counter", "Error replies by code.");
  for (const auto& [k, v] : errors) labelled(out, "lobbykit_errors_total", "code", k, v);
  header(out, "lobbykit_closes_total", "counter", "Connections the server closed, by close code.");
  for (const auto& [k, v] : closes_by_code)
    labelled(out, "lobbykit_closes_total", "code", std::to_string(k), v);
  return out;
}

}  // namespace lobbykit::router
