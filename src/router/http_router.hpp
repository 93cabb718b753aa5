// HttpRouter: the HTTP API on the server's port, as a route table over plain data.
// The transport parses the request, hands it here, and writes back what comes out.
#pragma once

#include <functional>
#include <string>

namespace lobbykit::router {

class Hub;

struct HttpRequest {
  std::string method;         // "GET", "POST", "PUT", "DELETE", ...
  std::string path;           // percent-encoded, without the query (the transport
                              // re-encodes what libwebsockets decoded)
  std::string query;          // after '?', may be empty
  std::string authorization;  // the Authorization header, may be empty
  std::string address;        // the peer's IP address as text (per-address limits)
  std::string body;           // at most Limits::max_http_body_bytes (transport answers 413)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // When set, the transport serves this file (already checked to lie inside static_dir)
  // with content_type, and ignores body.
  std::string file_path;
};

// Called exactly once per request, on the loop thread; maybe before handle() returns,
// maybe later (work done on the worker pool, e.g. hashing an admin-set password).
using Respond = std::function<void(HttpResponse)>;

class HttpRouter {
 public:
  // admin_token empty: /api/admin/* answers 404. static_dir empty: no static files.
  HttpRouter(Hub& hub, std::string admin_token, std::string static_dir);
  void handle(const HttpRequest& req, Respond respond);

 private:
  void handle_admin(const HttpRequest& req, Respond respond);

  Hub& hub_;
  std::string admin_token_;
  std::string static_dir_;  // canonical absolute path, or ""
};

}  // namespace lobbykit::router
