// The transport's wire codecs: HTTP/1.1 request heads (RFC 9112) and WebSocket frames and
// handshake (RFC 6455). Expected values come from the RFCs (the handshake example of RFC
// 6455 1.3, the frame examples of 5.7), not from the code.
#include "transport/http1.hpp"
#include "transport/websocket.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

namespace http1 = lobbykit::transport::http1;
namespace ws = lobbykit::transport::websocket;

namespace {

http1::ParseStatus parse(std::string_view text, http1::RequestHead& head, std::size_t& used,
                         std::size_t max = 4096) {
  return http1::parse_request_head(text, max, head, used);
}

}  // namespace

TEST_CASE("http1: a request head with its fields, and where it ends") {
  const std::string text =
      "POST /api/lobbies?x=1&y=%20 HTTP/1.1\r\nHost: a\r\nContent-Length:  12 \r\n"
      "X-Twice: a\r\nx-twice: b\r\n\r\n{\"name\":\"x\"}";
  http1::RequestHead h;
  std::size_t used = 0;
  REQUIRE(parse(text, h, used) == http1::ParseStatus::complete);
  CHECK(used == text.size() - 12);
  CHECK(h.method == "POST");
  CHECK(h.path == "/api/lobbies");
  CHECK(h.query == "x=1&y=%20");
  CHECK(h.minor_version == 1);
  REQUIRE(h.field("content-length"));
  CHECK(*h.field("content-length") == "12");
  CHECK(*h.field("x-twice") == "a, b");
  CHECK(h.field("host"));
  CHECK_FALSE(h.field("missing"));
  auto f = http1::body_framing(h);
  CHECK(f.kind == http1::BodyFraming::sized);
  CHECK(f.length == 12);
}

TEST_CASE("http1: incomplete, leading empty lines, too large") {
  http1::RequestHead h;
  std::size_t used = 0;
  CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n", h, used) == http1::ParseStatus::incomplete);
  CHECK(parse("\r\n\r\nGET / HTTP/1.1\r\n\r\n", h, used) == http1::ParseStatus::complete);
  CHECK(used == 4 + 14 + 4);  // two empty lines, the request line, the end of the head
  CHECK(parse("GET / HTTP/1.1\r\nX: " + std::string(100, 'a'), h, used, 64) ==
        http1::ParseStatus::too_large);
  CHECK(parse("GET / HTTP/1.1\r\nX: " + std::string(100, 'a') + "\r\n\r\n", h, used, 64) ==
        http1::ParseStatus::too_large);
}

TEST_CASE("http1: what is not HTTP/1.x is a bad request") {
  for (const char* bad : {"GET\r\n\r\n", "GET / HTTP/2.0\r\n\r\n", "GET / HTTP/1.1 x\r\n\r\n",
                          "GET  / HTTP/1.1\r\n\r\n", "GET x HTTP/1.1\r\n\r\n",
                          "G(T / HTTP/1.1\r\n\r\n", "GET /a b HTTP/1.1\r\n\r\n",
                          "GET / HTTP/1.1\r\n folded\r\n\r\n", "GET / HTTP/1.1\r\nname : v\r\n\r\n",
                          "GET / HTTP/1.1\r\n: v\r\n\r\n", "GET / HTTP/1.1\r\nnocolon\r\n\r\n",
                          "GET / HTTP/1.1\r\nx: a\x01b\r\n\r\n", "GET / HTTP/1.1\r\nx: a\rb\r\n\r\n"}) {
    CAPTURE(bad);
    http1::RequestHead h;
    std::size_t used = 0;
    CHECK(parse(bad, h, used) == http1::ParseStatus::bad);
  }
  http1::RequestHead h;
  std::size_t used = 0;
  // A bare LF is refused as soon as it is seen, before the head is complete.
  CHECK(parse("GET / HTTP/1.1\nHost: a\n", h, used) == http1::ParseStatus::bad);
  CHECK(parse(std::string("GET / HTTP/1.1\r\nX: \0", 21), h, used) == http1::ParseStatus::bad);
}

TEST_CASE("http1: body framing refuses smuggling shapes") {
  auto framing = [](const std::string& fields, const char* method = "POST") {
    http1::RequestHead h;
    std::size_t used = 0;
    std::string text = std::string(method) + " / HTTP/1.1\r\n" + fields + "\r\n";
    REQUIRE(http1::parse_request_head(text, 4096, h, used) == http1::ParseStatus::complete);
    return http1::body_framing(h);
  };
  auto both = framing("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n");
  CHECK(both.kind == http1::BodyFraming::refuse);
  CHECK(both.status == 400);
  auto chunked = framing("Transfer-Encoding: chunked\r\n");
  CHECK(chunked.kind == http1::BodyFraming::refuse);
  CHECK(chunked.status == 411);
  CHECK(framing("").status == 411);                      // POST without a length
  CHECK(framing("", "PUT").status == 411);
  CHECK(framing("", "GET").kind == http1::BodyFraming::none);
  CHECK(framing("Content-Length: 0\r\n").kind == http1::BodyFraming::none);
  for (const char* bad : {"+5", "-1", "5a", "0x10", "5, 5", "1234567890123456789"}) {
    CAPTURE(bad);
    auto f = framing(std::string("Content-Length: ") + bad + "\r\n");
    CHECK(f.kind == http1::BodyFraming::refuse);
    CHECK(f.status == 400);
  }
  CHECK(framing("Content-Length: 5\r\nContent-Length: 5\r\n").status == 400);  // "5, 5"
}

TEST_CASE("http1: keep-alive by version and Connection") {
  auto keep = [](const char* text) {
    http1::RequestHead h;
    std::size_t used = 0;
    REQUIRE(http1::parse_request_head(text, 4096, h, used) == http1::ParseStatus::complete);
    return http1::keep_alive(h);
  };
  CHECK(keep("GET / HTTP/1.1\r\n\r\n"));
  CHECK_FALSE(keep("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
  CHECK_FALSE(keep("GET / HTTP/1.1\r\nConnection: Upgrade, Close\r\n\r\n"));
  CHECK_FALSE(keep("GET / HTTP/1.0\r\n\r\n"));
  CHECK(keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
}

TEST_CASE("http1: response head") {
  CHECK(http1::response_head(404, "application/json", 7, false, "x-a: b\r\n") ==
        "HTTP/1.1 404 Not Found\r\nserver: lobbykit\r\ncontent-type: application/json\r\n"
        "content-length: 7\r\nconnection: close\r\nx-a: b\r\n\r\n");
}

TEST_CASE("websocket: the handshake answer of RFC 6455 1.3") {
  CHECK(ws::accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  auto check = [](const std::string& fields, const char* method = "GET") {
    http1::RequestHead h;
    std::size_t used = 0;
    std::string text = std::string(method) + " /ws HTTP/1.1\r\n" + fields + "\r\n";
    REQUIRE(http1::parse_request_head(text, 4096, h, used) == http1::ParseStatus::complete);
    return ws::check_upgrade(h);
  };
  const std::string good = "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  CHECK(check(good + "Sec-WebSocket-Version: 13\r\n") == 0);
  CHECK(check(good) == 426);
  CHECK(check(good + "Sec-WebSocket-Version: 8\r\n") == 426);
  CHECK(check(good + "Sec-WebSocket-Version: 13, 8\r\n") == 426);
  CHECK(check(good + "Sec-WebSocket-Version: 13\r\n", "POST") == 400);
  CHECK(check("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n") ==
        400);  // no key
  CHECK(check("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short==\r\n"
              "Sec-WebSocket-Version: 13\r\n") == 400);
  CHECK(check("Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n") == 400);  // no Connection: Upgrade
}

TEST_CASE("websocket: frame heads from RFC 6455 5.7, and what a server refuses") {
  // "Hello", masked with 37 fa 21 3d (RFC 6455 5.7).
  std::string hello("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  ws::FrameHead h;
  std::uint16_t code = 0;
  REQUIRE(ws::parse_frame_head(hello, 1000, h, code) == ws::HeadStatus::ok);
  CHECK(h.fin);
  CHECK(h.opcode == ws::kText);
  CHECK(h.length == 5);
  CHECK(h.head_bytes == 6);
  ws::unmask(hello.data() + 6, 5, h.mask);
  CHECK(hello.substr(6) == "Hello");

  CHECK(ws::parse_frame_head(hello.substr(0, 1), 1000, h, code) == ws::HeadStatus::incomplete);
  CHECK(ws::parse_frame_head(hello.substr(0, 5), 1000, h, code) == ws::HeadStatus::incomplete);

  auto refused = [&](std::string head, std::uint64_t max = 1000) {
    ws::FrameHead fh;
    std::uint16_t c = 0;
    head.append(4, '\0');  // a mask, when the head has one
    return ws::parse_frame_head(head, max, fh, c) == ws::HeadStatus::error ? c : 0;
  };
  CHECK(refused(std::string("\x81\x05", 2)) == 1002);            // unmasked
  CHECK(refused(std::string("\xc1\x85", 2)) == 1002);            // RSV1
  CHECK(refused(std::string("\x83\x85", 2)) == 1002);            // opcode 3
  CHECK(refused(std::string("\x8b\x85", 2)) == 1002);            // opcode 0xB
  CHECK(refused(std::string("\x09\x80", 2)) == 1002);            // fragmented ping
  CHECK(refused(std::string("\x89\xfe\x00\x7e", 4)) == 1002);    // 126-byte ping
  CHECK(refused(std::string("\x81\xff\x80\0\0\0\0\0\0\0", 10)) == 1002);  // top bit of length
  CHECK(refused(std::string("\x81\xfe\x03\xe9", 4)) == 1009);    // 1001 > max 1000
  CHECK(refused(std::string("\x81\xfe\x03\xe8", 4)) == 0);       // 1000 is fine
  CHECK(refused(std::string("\x88\x80", 2)) == 0);               // empty close
}

TEST_CASE("websocket: server frame heads in the three length forms") {
  unsigned char out[ws::kMaxServerHeadBytes];
  CHECK(ws::write_frame_head(out, ws::kText, 5) == 2);
  CHECK(out[0] == 0x81);
  CHECK(out[1] == 5);
  CHECK(ws::write_frame_head(out, ws::kText, 256) == 4);
  CHECK((out[1] == 126 && out[2] == 1 && out[3] == 0));
  CHECK(ws::write_frame_head(out, ws::kPong, 65536) == 10);
  CHECK((out[0] == 0x8a && out[1] == 127 && out[7] == 1 && out[8] == 0 && out[9] == 0));
}

TEST_CASE("websocket: unmask in pieces equals unmask at once") {
  const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  std::string data;
  for (int i = 0; i < 37; ++i) data.push_back(static_cast<char>(i * 7));
  std::string whole = data;
  ws::unmask(whole.data(), whole.size(), mask);
  std::string pieces = data;
  ws::unmask(pieces.data(), 3, mask, 0);
  ws::unmask(pieces.data() + 3, 20, mask, 3);
  ws::unmask(pieces.data() + 23, 14, mask, 23);
  CHECK(pieces == whole);
  for (std::size_t i = 0; i < data.size(); ++i)
    CHECK(static_cast<unsigned char>(whole[i]) == (static_cast<unsigned char>(data[i]) ^ mask[i % 4]));
}
