// HTTP/1.1 on the server's side of the wire (RFC 9112), as pure functions: request heads in,
// response heads out. No sockets and no libwebsockets, so it is unit-tested and fuzzed alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lobbykit::transport::http1 {

// One request head: the request line and the header fields.
struct RequestHead {
  std::string method;  // as sent, case-sensitive ("GET")
  std::string path;    // the target before '?', still percent-encoded
  std::string query;   // after '?', may be empty
  int minor_version = 1;  // HTTP/1.<minor_version>
  std::vector<std::pair<std::string, std::string>> fields;  // names lower-cased, values trimmed

  // The value of the one field with this (lower-case) name; nullptr when absent. Repeated
  // fields are joined with ", " as RFC 9110 5.3 allows (which makes two Content-Lengths bad).
  const std::string* field(std::string_view name) const;
  // True when a comma-separated field holds this token (case-insensitive).
  bool has_token(std::string_view name, std::string_view token) const;
};

enum class ParseStatus {
  incomplete,  // no end of head yet: read more (unless the buffer is over the limit)
  complete,    // `head` is filled; the head took `consumed` bytes
  bad,         // not HTTP/1.x: answer 400 and close
  too_large,   // the head is over max_head_bytes: answer 431 and close
};

// Parses the request head at the start of `in`. Leading empty lines are skipped (RFC 9112
// 2.2). Fields with obsolete line folding, spaces before the colon or control characters are
// bad requests.
ParseStatus parse_request_head(std::string_view in, std::size_t max_head_bytes,
                               RequestHead& head, std::size_t& consumed);

// How the body of a request is delimited.
struct BodyFraming {
  enum Kind { none, sized, refuse } kind = none;
  std::uint64_t length = 0;      // kind == sized
  int status = 0;                // kind == refuse: 400 or 411
  const char* error = nullptr;   // kind == refuse: the JSON error body
};
// RFC 9112 6.3: Content-Length and Transfer-Encoding together are refused (request smuggling
// behind a proxy); chunked bodies are not accepted (411: send a Content-Length); a
// Content-Length must be one decimal number; POST, PUT and PATCH need one.
BodyFraming body_framing(const RequestHead& head);

// Whether the connection stays open after this request's response (RFC 9112 9.3).
bool keep_alive(const RequestHead& head);

// The head of a response: status line and fields, ending with the empty line.
std::string response_head(int status, std::string_view content_type, std::uint64_t length,
                          bool keep_alive, std::string_view extra_fields = {});

}  // namespace lobbykit::transport::http1
