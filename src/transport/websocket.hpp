// WebSocket (RFC 6455) on the server's side of the wire, as pure functions: the opening
// handshake's answer, client frame heads in, server frame heads out. No sockets and no
// libwebsockets, so it is unit-tested and fuzzed alone.
#pragma once

#include "transport/http1.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lobbykit::transport::websocket {

enum Opcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// What to answer an upgrade request (RFC 6455 4.2): 0 to switch protocols, else the HTTP
// status of the refusal (400: not a valid WebSocket handshake; 426: a version other than
// 13, answered with `Sec-WebSocket-Version: 13`).
int check_upgrade(const http1::RequestHead& head);
// The full 101 answer for a checked upgrade request.
std::string accept_response(const http1::RequestHead& head);
// base64(SHA-1(key + the RFC's GUID)): the Sec-WebSocket-Accept value for a key.
std::string accept_key(std::string_view key);

// A client frame's head, as read from the wire.
struct FrameHead {
  bool fin = false;
  std::uint8_t opcode = 0;
  std::uint64_t length = 0;       // payload bytes
  unsigned char mask[4] = {0, 0, 0, 0};
  std::size_t head_bytes = 0;     // 2 to 14
};

enum class HeadStatus { incomplete, ok, error };

// Reads the frame head at the start of `in`. A head a server must refuse is an error with
// `close_code` set: 1002 for an unmasked frame, reserved bits, an unknown opcode, a
// fragmented or long (> 125 bytes) control frame or a length with its top bit set; 1009
// for a data frame longer than max_payload.
HeadStatus parse_frame_head(std::string_view in, std::uint64_t max_payload, FrameHead& head,
                            std::uint16_t& close_code);

// XORs payload bytes with the frame's mask, in place. `offset` is the payload position of
// data[0] (for a payload unmasked in pieces).
void unmask(char* data, std::size_t n, const unsigned char mask[4], std::uint64_t offset = 0);

constexpr std::size_t kMaxServerHeadBytes = 10;
// Writes an unmasked, final server frame head for a payload of `length` bytes into `out`
// (room for kMaxServerHeadBytes); returns its size.
std::size_t write_frame_head(unsigned char* out, std::uint8_t opcode, std::uint64_t length);

}  // namespace lobbykit::transport::websocket
