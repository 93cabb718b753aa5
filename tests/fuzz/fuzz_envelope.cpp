// Fuzz target "envelope": the envelope decoder (src/protocol/envelope.*). The input is one
// inbound text message, as the transport hands it to the Hub. Beyond no crash, leak or
// undefined behaviour, it checks:
// - the server's path (parse in place in a reused ParseBuffer) and the plain path (parse
//   into a Document; the client's and HTTP bodies') give the same answer: the same error
//   (code, message, field) and id, or the same type, id and data;
// - a text holding a NUL byte is refused (no JSON text holds one);
// - a decoded envelope has the documented shape: type of 1..64 bytes of valid UTF-8, id an
//   integer or a string of at most 64 bytes, data an object, nesting at most 32 levels;
// - valid_utf8() and utf8_length() agree with a byte-by-byte reference decoder.
#include "fuzz_support.hpp"

#include "protocol/envelope.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace {

using namespace lobbykit;

// Well-formed UTF-8 as the Unicode standard's table 3-7 lists it, one sequence at a time:
// written differently on purpose from protocol::valid_utf8 (no word-at-a-time ASCII skip, no
// decode-then-range-check). Returns the number of code points, or -1 when ill-formed.
long reference_utf8_length(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  long count = 0;
  std::size_t i = 0;
  auto in = [&](std::size_t k, unsigned lo, unsigned hi) {
    return i + k < n && s[i + k] >= lo && s[i + k] <= hi;
  };
  while (i < n) {
    const unsigned c = s[i];
    std::size_t len = 0;
    if (c <= 0x7F) len = 1;
    else if (c >= 0xC2 && c <= 0xDF) len = in(1, 0x80, 0xBF) ? 2 : 0;
    else if (c == 0xE0) len = in(1, 0xA0, 0xBF) && in(2, 0x80, 0xBF) ? 3 : 0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
      len = in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) ? 3 : 0;
    else if (c == 0xED) len = in(1, 0x80, 0x9F) && in(2, 0x80, 0xBF) ? 3 : 0;
    else if (c == 0xF0) len = in(1, 0x90, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
    else if (c >= 0xF1 && c <= 0xF3)
      len = in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
    else if (c == 0xF4) len = in(1, 0x80, 0x8F) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
    if (len == 0) return -1;
    i += len;
    ++count;
  }
  return count;
}

std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

int depth(const rapidjson::Value& v) {
  int deepest = 0;
  if (v.IsObject())
    for (const auto& m : v.GetObject()) deepest = std::max(deepest, depth(m.value));
  else if (v.IsArray())
    for (const auto& e : v.GetArray()) deepest = std::max(deepest, depth(e));
  else
    return 0;
  return deepest + 1;
}

void check_shape(const protocol::Envelope& env, std::string_view text) {
  FUZZ_CHECK(!env.type.empty() && env.type.size() <= protocol::kMaxTypeBytes, text);
  FUZZ_CHECK(protocol::valid_utf8(env.type), text);
  FUZZ_CHECK(env.data != nullptr && env.data->IsObject(), text);
  // The whole message is at most kMaxJsonDepth deep, so data (one level down) is less.
  FUZZ_CHECK(depth(*env.data) < protocol::kMaxJsonDepth, text);
  if (!env.id_raw.empty()) {
    rapidjson::Document id;
    id.Parse(env.id_raw.data(), env.id_raw.size());
    FUZZ_CHECK(!id.HasParseError(), env.id_raw);
    FUZZ_CHECK(id.IsInt64() || (id.IsString() && id.GetStringLength() <= protocol::kMaxIdBytes),
               env.id_raw);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const long ref = reference_utf8_length(text);
  const bool utf8 = protocol::valid_utf8(text);
  FUZZ_CHECK(utf8 == (ref >= 0), text);
  if (utf8) FUZZ_CHECK(protocol::utf8_length(text) == static_cast<std::size_t>(ref), text);

  // The server's buffer lives as long as its loop: reused from input to input here too.
  static protocol::ParseBuffer buffer;
  protocol::Envelope fast;
  auto fast_error = protocol::parse_envelope(text, fast, buffer);

  rapidjson::Document doc;
  protocol::Envelope plain;
  auto plain_error = protocol::parse_envelope(text, doc, plain);

  FUZZ_CHECK(fast_error.has_value() == plain_error.has_value(), text);
  // No JSON text holds a raw NUL (strings escape control characters).
  if (std::memchr(text.data(), '\0', text.size())) FUZZ_CHECK(fast_error.has_value(), text);
  FUZZ_CHECK(fast.id_raw == plain.id_raw, text);
  if (fast_error) {
    FUZZ_CHECK(fast_error->code == plain_error->code, text);
    FUZZ_CHECK(fast_error->message == plain_error->message, text);
    FUZZ_CHECK(fast_error->field == plain_error->field, text);
    FUZZ_CHECK(fast_error->code == protocol::ErrorCode::bad_json ||
                   fast_error->code == protocol::ErrorCode::bad_message,
               text);
    return 0;
  }
  FUZZ_CHECK(fast.type == plain.type, text);
  FUZZ_CHECK(to_json(*fast.data) == to_json(*plain.data), text);
  check_shape(fast, text);
  check_shape(plain, text);
  return 0;
}
