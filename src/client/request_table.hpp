// RequestTable: the requests in flight on one connection of a sans-IO client core: their
// ids, deadlines and continuations. It writes each request's frame, matches replies to
// requests by id, and fails them on timeout or when the connection ends. Loop thread only.
#pragma once

#include <lobbykit/client.hpp>

#include "client/link.hpp"
#include "protocol/envelope.hpp"
#include "protocol/json.hpp"

#include <rapidjson/document.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace lobbykit::client {

// The ClientError an error frame's data carries ({"code", "error", "field"?,
// "retry_after_ms"?}); a missing code is "internal_error".
ClientError read_client_error(const rapidjson::Value& data);
// Its fields, into an open JSON object: code, message, field?, retry_after_ms?, reason?.
void write_client_error_fields(protocol::JsonBuilder& b, const ClientError& e);

// The data of a failed request: {}.
const rapidjson::Value& empty_json_object();

class RequestTable {
 public:
  // The reply (r.error set for an error frame or a failure), its data object, and the time.
  using Done = std::function<void(const Reply& r, const rapidjson::Value& data, SteadyMs now)>;

  // Remembers a request and returns its frame {"type", "id", "data"} to send; data_json is
  // a JSON object text. done runs once: reply, timeout (at deadline) or fail_all().
  std::string add(std::string_view type, std::string data_json, SteadyMs deadline, Done done);

  // A frame with an id: the reply to that request, if it is still in flight (it is
  // settled: done runs). True when env had an id (a reply, ours or a late one), false for
  // a push.
  bool settle(const protocol::Envelope& env, SteadyMs now);

  // Fails the requests whose deadline has come with "timeout".
  void expire(SteadyMs now);
  // Fails every request in flight with code (the connection ended, or the core stopped).
  void fail_all(const char* code, const char* message, SteadyMs now);

  std::optional<SteadyMs> next_deadline() const;
  bool empty() const { return pending_.empty(); }

 private:
  struct Pending {
    std::string type;
    SteadyMs deadline = 0;
    Done done;
  };
  std::map<std::int64_t, Pending> pending_;
  std::int64_t next_id_ = 1;
};

}  // namespace lobbykit::client
