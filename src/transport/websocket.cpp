#include "transport/websocket.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>

namespace lobbykit::transport::websocket {

int check_upgrade(const http1::RequestHead& head) {
  const std::string* key = head.field("sec-websocket-key");
  if (head.method != "GET" || head.minor_version < 1 ||
      !head.has_token("upgrade", "websocket") || !head.has_token("connection", "upgrade") ||
      !key)
    return 400;
  // The key is base64 of 16 bytes: 24 characters ending in "==".
  if (key->size() != 24 || key->compare(22, 2, "==") != 0) return 400;
  for (std::size_t i = 0; i < 22; ++i) {
    char c = (*key)[i];
    bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
    if (!b64) return 400;
  }
  const std::string* version = head.field("sec-websocket-version");
  if (!version || *version != "13") return 426;
  return 0;
}

std::string accept_key(std::string_view key) {
  static const char kGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input(key);
  input.append(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

std::string accept_response(const http1::RequestHead& head) {
  return "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
         "sec-websocket-accept: " + accept_key(*head.field("sec-websocket-key")) + "\r\n\r\n";
}

HeadStatus parse_frame_head(std::string_view in, std::uint64_t max_payload, FrameHead& head,
                            std::uint16_t& close_code) {
  if (in.size() < 2) return HeadStatus::incomplete;
  const auto b0 = static_cast<unsigned char>(in[0]);
  const auto b1 = static_cast<unsigned char>(in[1]);
  head.fin = (b0 & 0x80) != 0;
  head.opcode = b0 & 0x0F;
  close_code = 1002;
  if (b0 & 0x70) return HeadStatus::error;   // no extension was negotiated
  if (!(b1 & 0x80)) return HeadStatus::error;  // RFC 6455 5.1: client frames are masked
  const bool control = head.opcode & 0x08;
  switch (head.opcode) {
    case kContinuation: case kText: case kBinary: case kClose: case kPing: case kPong:
      break;
    default:
      return HeadStatus::error;
  }
  std::uint64_t length = b1 & 0x7F;
  std::size_t pos = 2;
  if (length == 126) {
    if (in.size() < 4) return HeadStatus::incomplete;
    length = (std::uint64_t{static_cast<unsigned char>(in[2])} << 8) |
             static_cast<unsigned char>(in[3]);
    pos = 4;
  } else if (length == 127) {
    if (in.size() < 10) return HeadStatus::incomplete;
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<unsigned char>(in[2 + i]);
    if (length >> 63) return HeadStatus::error;
    pos = 10;
  }
  if (control && (!head.fin || length > 125)) return HeadStatus::error;
  if (!control && length > max_payload) {
    close_code = 1009;
    return HeadStatus::error;
  }
  if (in.size() < pos + 4) return HeadStatus::incomplete;
  std::memcpy(head.mask, in.data() + pos, 4);
  head.length = length;
  head.head_bytes = pos + 4;
  close_code = 0;
  return HeadStatus::ok;
}

void unmask(char* data, std::size_t n, const unsigned char mask[4], std::uint64_t offset) {
  unsigned char m[4];
  for (int i = 0; i < 4; ++i) m[i] = mask[(offset + static_cast<unsigned>(i)) & 3];
  std::size_t i = 0;
  // Eight bytes at a time: the mask repeats every four.
  std::uint64_t m8;
  unsigned char m8b[8] = {m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]};
  std::memcpy(&m8, m8b, 8);
  for (; i + 8 <= n; i += 8) {
    std::uint64_t v;
    std::memcpy(&v, data + i, 8);
    v ^= m8;
    std::memcpy(data + i, &v, 8);
  }
  for (; i < n; ++i) data[i] = static_cast<char>(data[i] ^ m[i & 3]);
}

std::size_t write_frame_head(unsigned char* out, std::uint8_t opcode, std::uint64_t length) {
  out[0] = static_cast<unsigned char>(0x80 | opcode);
  if (length < 126) {
    out[1] = static_cast<unsigned char>(length);
    return 2;
  }
  if (length < 65536) {
    out[1] = 126;
    out[2] = static_cast<unsigned char>(length >> 8);
    out[3] = static_cast<unsigned char>(length);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<unsigned char>(length >> (56 - 8 * i));
  return 10;
}

}  // namespace lobbykit::transport::websocket
