#include "protocol/envelope.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace lobbykit::protocol {

bool valid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
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

}  // namespace

std::optional<Error> parse_object(std::string_view text, rapidjson::Document& doc) {
  if (nesting_depth(text, kMaxJsonDepth) > kMaxJsonDepth) {
    return make_error(ErrorCode::bad_json, "The message is nested deeper than " +
                                               std::to_string(kMaxJsonDepth) + " levels.");
  }
  // Iterative parsing: no recursion, so hostile nesting cannot exhaust the stack.
  doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError()) {
    return make_error(ErrorCode::bad_json,
                      std::string("The message is not valid JSON: ") +
                          rapidjson::GetParseError_En(doc.GetParseError()) + " (at byte " +
                          std::to_string(doc.GetErrorOffset()) + ").");
  }
  if (!doc.IsObject()) {
    return make_error(ErrorCode::bad_message, "A message must be a JSON object.");
  }
  return std::nullopt;
}

std::optional<Error> parse_envelope(std::string_view text, rapidjson::Document& doc,
                                    Envelope& env) {
  env = Envelope{};
  if (auto e = parse_object(text, doc)) return e;

  if (auto it = doc.FindMember("id"); it != doc.MemberEnd()) {
    const auto& id = it->value;
    if (id.IsString() && id.GetStringLength() <= kMaxIdBytes &&
        valid_utf8({id.GetString(), id.GetStringLength()})) {
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> w(sb);
      id.Accept(w);
      env.id_raw.assign(sb.GetString(), sb.GetSize());
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

}  // namespace lobbykit::protocol
