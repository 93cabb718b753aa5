#include "protocol/envelope.hpp"
#include "protocol/json.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace lobbykit::protocol {

bool valid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // ASCII runs, the bulk of any protocol message, 8 bytes at a time.
    while (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, s + i, sizeof word);
      if (word & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i == n) break;
    unsigned char c = s[i];
    if (c < 0x80) { ++i; continue; }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
      return false;  // overlong
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

std::size_t utf8_length(std::string_view text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

namespace {

// Deepest nesting of objects and arrays in text, outside strings. Stops counting past limit.
int nesting_depth(std::string_view text, int limit) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > max_depth && (max_depth = depth) > limit) return max_depth;
    } else if (c == '}' || c == ']') --depth;
  }
  return max_depth;
}

// What one walk of a parsed value finds: how deep objects and arrays nest (a scalar: 0, the
// same measure as nesting_depth() for valid JSON), and whether a number was read as infinite.
// RapidJSON 1.1.0 reads some numbers beyond the largest double as infinity without an error
// (a long run of digits before the exponent, or 17976931348623158e292), and its Writer then
// stops at that value: whatever carried it would go out as truncated, invalid JSON.
struct ValueShape {
  int depth = 0;
  bool infinite = false;
};

// Stops descending past limit, so the recursion is bounded.
ValueShape value_shape(const rapidjson::Value& v, int limit) {
  if (v.IsDouble()) return {0, !std::isfinite(v.GetDouble())};
  if (!v.IsObject() && !v.IsArray()) return {};
  if (limit <= 0) return {1, false};
  ValueShape shape;
  auto add = [&](const rapidjson::Value& child) {
    const ValueShape s = value_shape(child, limit - 1);
    shape.depth = std::max(shape.depth, s.depth);
    shape.infinite = shape.infinite || s.infinite;
  };
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) add(m.value);
  } else {
    for (const auto& e : v.GetArray()) add(e);
  }
  ++shape.depth;
  return shape;
}

Error too_large_number() {
  return make_error(ErrorCode::bad_json,
                    "The message is not valid JSON: a number is too large "
                    "(beyond 1.7976931348623157e308).");
}

Error too_deep() {
  return make_error(ErrorCode::bad_json, "The message is nested deeper than " +
                                             std::to_string(kMaxJsonDepth) + " levels.");
}


constexpr std::size_t kReadAll = std::string_view::npos;

// Parses exactly the bytes of text into doc, iteratively. Not RapidJSON's Parse(str, length):
// that one skips a byte-order mark, and with it a leading 0xEF or 0xEF 0xBB, so "\xEF{}"
// passed for JSON. Returns where the parse stopped at a NUL byte, which RapidJSON takes for
// the end of its input, or kReadAll.
template <typename Document>
std::size_t parse_by_length(std::string_view text, Document& doc) {
  rapidjson::MemoryStream in(text.data(), text.size());
  doc.template ParseStream<rapidjson::kParseIterativeFlag>(in);
  return !doc.HasParseError() && in.Tell() < text.size() ? in.Tell() : kReadAll;
}

// The checks after a parse of text into doc. nul_at: where a parse by length stopped at a
// NUL byte; no JSON text holds one (strings escape control characters), so what follows it
// must not pass unread.
template <typename Document>
std::optional<Error> check_parsed(std::string_view text, const Document& doc,
                                  std::size_t nul_at) {
  if (doc.HasParseError() || nul_at != kReadAll) {
    if (nesting_depth(text, kMaxJsonDepth) > kMaxJsonDepth) return too_deep();
    const bool nul = !doc.HasParseError();
    return make_error(ErrorCode::bad_json,
                      std::string("The message is not valid JSON: ") +
                          (nul ? "Unexpected NUL character."
                               : rapidjson::GetParseError_En(doc.GetParseError())) +
                          " (at byte " + std::to_string(nul ? nul_at : doc.GetErrorOffset()) +
                          ").");
  }
  const ValueShape shape = value_shape(doc, kMaxJsonDepth);
  if (shape.depth > kMaxJsonDepth) return too_deep();
  if (shape.infinite) return too_large_number();
  if (!doc.IsObject()) {
    return make_error(ErrorCode::bad_message, "A message must be a JSON object.");
  }
  return std::nullopt;
}

// Reads {"type", "id"?, "data"?} of a parsed object into env.
std::optional<Error> read_envelope(const rapidjson::Value& doc, Envelope& env) {
  if (auto it = doc.FindMember("id"); it != doc.MemberEnd()) {
    const auto& id = it->value;
    if (id.IsString() && id.GetStringLength() <= kMaxIdBytes &&
        valid_utf8({id.GetString(), id.GetStringLength()})) {
      env.id_raw = to_json(id);
    } else if (id.IsInt64()) {
      env.id_raw = std::to_string(id.GetInt64());
    } else if (!id.IsNull()) {
      return make_error(ErrorCode::bad_message,
                        "\"id\" must be a string of at most " + std::to_string(kMaxIdBytes) +
                            " bytes of valid Unicode or an integer.");
    }
  }

  auto type = doc.FindMember("type");
  if (type == doc.MemberEnd() || !type->value.IsString()) {
    return make_error(ErrorCode::bad_message, "A message needs a string \"type\".");
  }
  if (type->value.GetStringLength() == 0 || type->value.GetStringLength() > kMaxTypeBytes) {
    return make_error(ErrorCode::bad_message, "\"type\" must be 1 to " +
                                                  std::to_string(kMaxTypeBytes) + " bytes.");
  }
  env.type = std::string_view(type->value.GetString(), type->value.GetStringLength());
  if (!valid_utf8(env.type)) {
    env.type = {};
    return make_error(ErrorCode::bad_message, "\"type\" is not valid Unicode text.");
  }

  auto data = doc.FindMember("data");
  if (data == doc.MemberEnd() || data->value.IsNull()) {
    static const rapidjson::Value kEmptyObject(rapidjson::kObjectType);
    env.data = &kEmptyObject;
  } else if (!data->value.IsObject()) {
    return make_error(ErrorCode::bad_message, "\"data\" must be a JSON object.");
  } else {
    env.data = &data->value;
  }
  return std::nullopt;
}

// Room after the copy's NUL for RapidJSON's SIMD scanners, which read whole aligned 16-byte
// blocks (RAPIDJSON_SSE2; off for now, see CMakeLists.txt).
constexpr std::size_t kParsePadding = 16;
// Values of an ordinary message fit here; larger ones take extra chunks until reset().
constexpr std::size_t kParsePoolBytes = 16 * 1024;
// The parser's stacks (the document's and the reader's) for ordinary nesting.
constexpr std::size_t kParseStackBytes = 8 * 1024;
constexpr std::size_t kParseStackCapacity = 1024;  // rapidjson's default initial capacity

}  // namespace

std::optional<Error> parse_object(std::string_view text, rapidjson::Document& doc) {
  // Iterative parsing: no recursion, so hostile nesting cannot exhaust the stack. The depth
  // limit is checked on the parsed tree, which for a well-formed message is a walk over a
  // handful of values instead of a pass over every byte; a malformed one is scanned as
  // text so that "too deep" still wins over the parse error, as it always did.
  const std::size_t nul_at = parse_by_length(text, doc);
  return check_parsed(text, doc, nul_at);
}

std::optional<Error> parse_envelope(std::string_view text, rapidjson::Document& doc,
                                    Envelope& env) {
  env = Envelope{};
  if (auto e = parse_object(text, doc)) return e;
  return read_envelope(doc, env);
}

ParseBuffer::ParseBuffer()
    : pool_buffer_(new char[kParsePoolBytes]),
      stack_buffer_(new char[kParseStackBytes]),
      pool_(pool_buffer_.get(), kParsePoolBytes),
      stack_pool_(stack_buffer_.get(), kParseStackBytes) {}

ParseBuffer::Document& ParseBuffer::reset() {
  doc_.reset();
  pool_.Clear();
  stack_pool_.Clear();
  return doc_.emplace(&pool_, kParseStackCapacity, &stack_pool_);
}

char* ParseBuffer::load(std::string_view text) {
  if (text_.size() < text.size() + 1 + kParsePadding) text_.resize(text.size() + 1 + kParsePadding);
  std::memcpy(text_.data(), text.data(), text.size());
  std::memset(text_.data() + text.size(), 0, 1 + kParsePadding);
  return text_.data();
}

std::optional<Error> parse_envelope(std::string_view text, Envelope& env, ParseBuffer& buf) {
  env = Envelope{};
  ParseBuffer::Document& doc = buf.reset();
  // In place needs the text to end at its first NUL; one with a NUL inside (never valid
  // JSON) is parsed by length, which reports it exactly as parse_object() does.
  std::size_t nul_at = kReadAll;
  if (std::memchr(text.data(), '\0', text.size()))
    nul_at = parse_by_length(text, doc);
  else
    doc.ParseInsitu<rapidjson::kParseIterativeFlag>(buf.load(text));
  if (auto e = check_parsed(text, doc, nul_at)) return e;
  return read_envelope(doc, env);
}

}  // namespace lobbykit::protocol
