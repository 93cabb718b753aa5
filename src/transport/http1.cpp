#include "transport/http1.hpp"

#include <cstdlib>

namespace lobbykit::transport::http1 {
namespace {

constexpr const char* kBothLengths =
    R"({"code":"bad_request","error":"A request may not carry both Content-Length and Transfer-Encoding."})";
constexpr const char* kBadLength =
    R"({"code":"bad_request","error":"Content-Length must be one decimal number."})";
constexpr const char* kNeedLength =
    R"({"code":"length_required","error":"A request body needs a Content-Length; chunked request bodies are not accepted."})";

// RFC 9110 5.6.2: tchar.
bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The request line: method SP origin-form SP HTTP/1.x (RFC 9112 3).
bool parse_request_line(std::string_view line, RequestHead& head) {
  std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return false;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return false;
  if (version.size() != 8 || version.compare(0, 7, "HTTP/1.") != 0 || version[7] < '0' ||
      version[7] > '9')
    return false;
  // Origin form only: a path from the root, visible ASCII.
  if (target.empty() || target.front() != '/') return false;
  for (unsigned char c : target)
    if (c <= 0x20 || c >= 0x7f) return false;
  head.method.assign(method);
  std::size_t q = target.find('?');
  head.path.assign(target.substr(0, q));
  head.query.assign(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
  head.minor_version = version[7] - '0';
  return true;
}

// name ":" OWS value OWS, with no whitespace before the colon and no control characters
// but tab in the value (RFC 9112 5).
bool parse_field(std::string_view line, RequestHead& head) {
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view name = line.substr(0, colon);
  if (!is_token(name)) return false;
  std::string_view value = trim(line.substr(colon + 1));
  for (unsigned char c : value)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  std::string lname(name);
  for (char& c : lname) c = lower(c);
  for (auto& [n, v] : head.fields) {
    if (n == lname) {  // repeated: one list (RFC 9110 5.3)
      v.append(", ").append(value);
      return true;
    }
  }
  head.fields.emplace_back(std::move(lname), std::string(value));
  return true;
}

}  // namespace

const std::string* RequestHead::field(std::string_view name) const {
  for (const auto& [n, v] : fields)
    if (n == name) return &v;
  return nullptr;
}

bool RequestHead::has_token(std::string_view name, std::string_view token) const {
  const std::string* v = field(name);
  if (!v) return false;
  std::string_view rest = *v;
  while (!rest.empty()) {
    std::size_t comma = rest.find(',');
    if (iequals(trim(rest.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

ParseStatus parse_request_head(std::string_view in, std::size_t max_head_bytes,
                               RequestHead& head, std::size_t& consumed) {
  std::size_t start = 0;
  while (in.compare(start, 2, "\r\n") == 0) start += 2;  // empty lines before a request
  std::size_t end = in.find("\r\n\r\n", start);
  if (end == std::string_view::npos) {
    if (in.size() - start > max_head_bytes) return ParseStatus::too_large;
    // A bare LF or a NUL in what came so far will never make a valid head.
    for (std::size_t i = start; i < in.size(); ++i) {
      if (in[i] == '\0') return ParseStatus::bad;
      if (in[i] == '\n' && (i == start || in[i - 1] != '\r')) return ParseStatus::bad;
    }
    return ParseStatus::incomplete;
  }
  if (end - start + 4 > max_head_bytes) return ParseStatus::too_large;
  head = RequestHead{};
  std::string_view text = in.substr(start, end - start);
  bool first = true;
  while (true) {
    std::size_t eol = text.find("\r\n");
    std::string_view line = text.substr(0, eol);
    if (line.find('\n') != std::string_view::npos || line.find('\r') != std::string_view::npos)
      return ParseStatus::bad;
    if (first) {
      if (!parse_request_line(line, head)) return ParseStatus::bad;
      first = false;
    } else if (line.empty() || line.front() == ' ' || line.front() == '\t' ||
               !parse_field(line, head)) {
      return ParseStatus::bad;  // obsolete line folding, or not a field
    }
    if (eol == std::string_view::npos) break;
    text.remove_prefix(eol + 2);
  }
  consumed = end + 4;
  return ParseStatus::complete;
}

BodyFraming body_framing(const RequestHead& head) {
  BodyFraming f;
  const std::string* length = head.field("content-length");
  const bool has_te = head.field("transfer-encoding") != nullptr;
  if (has_te || (length && (length->empty() || length->size() > 18 ||
                            length->find_first_not_of("0123456789") != std::string::npos))) {
    f.kind = BodyFraming::refuse;
    f.status = has_te && !length ? 411 : 400;
    f.error = has_te ? (length ? kBothLengths : kNeedLength) : kBadLength;
    return f;
  }
  if (length) {
    f.length = std::strtoull(length->c_str(), nullptr, 10);
    f.kind = f.length ? BodyFraming::sized : BodyFraming::none;
    return f;
  }
  if (head.method == "POST" || head.method == "PUT" || head.method == "PATCH") {
    f.kind = BodyFraming::refuse;
    f.status = 411;
    f.error = kNeedLength;
  }
  return f;
}

bool keep_alive(const RequestHead& head) {
  if (head.has_token("connection", "close")) return false;
  return head.minor_version >= 1 || head.has_token("connection", "keep-alive");
}

std::string response_head(int status, std::string_view content_type, std::uint64_t length,
                          bool keep_alive, std::string_view extra_fields) {
  const char* reason = "";
  switch (status) {
    case 101: reason = "Switching Protocols"; break;
    case 200: reason = "OK"; break;
    case 201: reason = "Created"; break;
    case 204: reason = "No Content"; break;
    case 400: reason = "Bad Request"; break;
    case 401: reason = "Unauthorized"; break;
    case 403: reason = "Forbidden"; break;
    case 404: reason = "Not Found"; break;
    case 405: reason = "Method Not Allowed"; break;
    case 408: reason = "Request Timeout"; break;
    case 409: reason = "Conflict"; break;
    case 411: reason = "Length Required"; break;
    case 413: reason = "Content Too Large"; break;
    case 426: reason = "Upgrade Required"; break;
    case 429: reason = "Too Many Requests"; break;
    case 431: reason = "Request Header Fields Too Large"; break;
    case 500: reason = "Internal Server Error"; break;
    case 503: reason = "Service Unavailable"; break;
    default: reason = "Status"; break;
  }
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nserver: lobbykit\r\n";
  if (!content_type.empty()) h.append("content-type: ").append(content_type).append("\r\n");
  h.append("content-length: ").append(std::to_string(length)).append("\r\n");
  h.append(keep_alive ? "connection: keep-alive\r\n" : "connection: close\r\n");
  h.append(extra_fields);
  h.append("\r\n");
  return h;
}

}  // namespace lobbykit::transport::http1
