// Fuzz target "wire": the transport's wire codecs (src/transport/http1.*, websocket.*), which
// see every byte a client sends before anything else does. The first input byte picks what
// the rest is: an HTTP/1.1 request head, a stream of WebSocket frames, or the payload of a
// client's close frame. Beyond no crash, leak or undefined behaviour, it checks:
// - a complete head ends with the first empty line, its method is a token, its path starts
//   with '/', its field names are lower case; no shorter prefix of it is complete; body
//   framing refuses only with 400 or 411 and a JSON error, and a sized body is not empty;
// - an accepted frame head is 6, 8 or 14 bytes, masked, with a known opcode; a control frame
//   is final and at most 125 bytes; a data frame is within the limit; unmasking twice gives
//   the payload back;
// - a close payload is refused only with 1002 or 1007, and accepted only when empty or a
//   sendable code followed by UTF-8.
#include "fuzz_support.hpp"

#include "protocol/close_code.hpp"
#include "protocol/envelope.hpp"
#include "transport/http1.hpp"
#include "transport/websocket.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace lobbykit;
namespace http1 = transport::http1;
namespace ws = transport::websocket;

constexpr std::size_t kMaxHead = 4096;
constexpr std::uint64_t kMaxPayload = 65536;

bool is_lower_token(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if ((c >= 'A' && c <= 'Z') || c <= ' ' || c == ':' || c == 0x7f) return false;
  return true;
}

void http_head(std::string_view in) {
  http1::RequestHead head;
  std::size_t used = 0;
  if (http1::parse_request_head(in, kMaxHead, head, used) != http1::ParseStatus::complete)
    return;
  FUZZ_CHECK(used >= 4 && used <= in.size(), std::to_string(used));
  FUZZ_CHECK(in.substr(used - 4, 4) == "\r\n\r\n", in.substr(0, used));
  FUZZ_CHECK(!head.method.empty(), "");
  FUZZ_CHECK(!head.path.empty() && head.path[0] == '/', head.path);
  for (const auto& [name, value] : head.fields) FUZZ_CHECK(is_lower_token(name), name);
  http1::RequestHead again;
  std::size_t used_again = 0;
  FUZZ_CHECK(http1::parse_request_head(in.substr(0, used - 1), kMaxHead, again, used_again) !=
                 http1::ParseStatus::complete,
             in.substr(0, used));
  const http1::BodyFraming f = http1::body_framing(head);
  if (f.kind == http1::BodyFraming::refuse)
    FUZZ_CHECK((f.status == 400 || f.status == 411) && f.error && f.error[0] == '{', "");
  if (f.kind == http1::BodyFraming::sized) FUZZ_CHECK(f.length > 0, "");
  (void)http1::keep_alive(head);
  (void)ws::check_upgrade(head);
}

void frames(std::string in) {
  std::size_t pos = 0;
  while (pos < in.size()) {
    ws::FrameHead h;
    std::uint16_t code = 0;
    const std::string_view rest(in.data() + pos, in.size() - pos);
    const ws::HeadStatus st = ws::parse_frame_head(rest, kMaxPayload, h, code);
    if (st == ws::HeadStatus::error) {
      FUZZ_CHECK(code == 1002 || code == 1009, std::to_string(code));
      return;
    }
    if (st == ws::HeadStatus::incomplete) return;
    FUZZ_CHECK(h.head_bytes == 6 || h.head_bytes == 8 || h.head_bytes == 14,
               std::to_string(h.head_bytes));
    const bool control = h.opcode & 8;
    FUZZ_CHECK(h.opcode <= 2 || (h.opcode >= 8 && h.opcode <= 10), std::to_string(h.opcode));
    if (control) FUZZ_CHECK(h.fin && h.length <= 125, std::to_string(h.length));
    else FUZZ_CHECK(h.length <= kMaxPayload, std::to_string(h.length));
    if (rest.size() - h.head_bytes < h.length) return;
    char* payload = in.data() + pos + h.head_bytes;
    const std::size_t n = static_cast<std::size_t>(h.length);
    const std::string before(payload, n);
    ws::unmask(payload, n, h.mask);
    ws::unmask(payload, n, h.mask);
    FUZZ_CHECK(std::string_view(payload, n) == before, "unmask is not its own inverse");
    ws::unmask(payload, n, h.mask);
    if (h.opcode == ws::kClose) (void)protocol::close_payload_error(std::string_view(payload, n));
    pos += h.head_bytes + n;
  }
}

void close_payload(std::string_view p) {
  const std::uint16_t r = protocol::close_payload_error(p);
  FUZZ_CHECK(r == 0 || r == 1002 || r == 1007, std::to_string(r));
  if (r != 0) return;
  if (p.empty()) return;
  FUZZ_CHECK(p.size() >= 2, "a one-byte close payload was accepted");
  const unsigned code = (static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1]);
  FUZZ_CHECK((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                 (code >= 3000 && code <= 4999),
             std::to_string(code));
  FUZZ_CHECK(protocol::valid_utf8(p.substr(2)), "a reason that is not UTF-8 was accepted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: http_head(rest); break;
    case 1: frames(std::string(rest)); break;
    default: close_payload(rest); break;
  }
  return 0;
}
