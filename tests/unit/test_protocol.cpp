// Tests for the protocol layer: UTF-8 checks, envelope parsing, the decoder of every request,
// name rules, the encoders and error frames. Encoded output is parsed back with RapidJSON and
// checked field by field, never compared with text produced by the code under test.
#include "protocol/close_code.hpp"
#include "protocol/envelope.hpp"
#include "protocol/error_code.hpp"
#include "protocol/json.hpp"
#include "protocol/messages.hpp"

#include <lobbykit/options.hpp>

#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace lobbykit::protocol {
namespace {

// A checked relay payload as the router forwards it: the target and the payload's JSON.
struct RelayReq {
  std::string to;
  std::string payload_json;
};

std::optional<Error> decode_relay(const rapidjson::Value& data, RelayReq& out,
                                  std::optional<Error> (*check)(const rapidjson::Value&,
                                                                RelayFields&)) {
  RelayFields f;
  if (auto e = check(data, f)) {
    if (!f.to.empty()) out.to.assign(f.to);  // a bad payload after a good "to"
    return e;
  }
  out.to.assign(f.to);
  JsonBuilder b;
  write_relay_payload(b, f);
  out.payload_json = b.take();
  return std::nullopt;
}

std::optional<Error> decode_description(const rapidjson::Value& data, RelayReq& out) {
  return decode_relay(data, out, check_description);
}

std::optional<Error> decode_candidate(const rapidjson::Value& data, RelayReq& out) {
  return decode_relay(data, out, check_candidate);
}

std::string code_of(const std::optional<Error>& e) {
  return e ? std::string(to_string(e->code)) : std::string("ok");
}
std::string field_of(const std::optional<Error>& e) { return e ? e->field : std::string(); }

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// Parses text that the test itself wrote; fails the test when it is not a JSON object.
rapidjson::Document json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  REQUIRE_MESSAGE(!d.HasParseError(), "test JSON does not parse: " << text);
  REQUIRE(d.IsObject());
  return d;
}

struct Parsed {
  std::optional<Error> error;
  rapidjson::Document doc;
  Envelope env;
};
Parsed parse(const std::string& text) {
  Parsed p;
  p.error = parse_envelope(text, p.doc, p.env);
  return p;
}

std::string str(const rapidjson::Value& v, const char* key) {
  REQUIRE_MESSAGE(v.HasMember(key), "missing key " << key);
  REQUIRE_MESSAGE(v[key].IsString(), "not a string: " << key);
  return std::string(v[key].GetString(), v[key].GetStringLength());
}
bool boolean(const rapidjson::Value& v, const char* key) {
  REQUIRE_MESSAGE(v.HasMember(key), "missing key " << key);
  REQUIRE_MESSAGE(v[key].IsBool(), "not a bool: " << key);
  return v[key].GetBool();
}
std::int64_t integer(const rapidjson::Value& v, const char* key) {
  REQUIRE_MESSAGE(v.HasMember(key), "missing key " << key);
  REQUIRE_MESSAGE(v[key].IsInt64(), "not an integer: " << key);
  return v[key].GetInt64();
}

TEST_CASE("valid_utf8 accepts well-formed text of 1 to 4 byte sequences") {
  CHECK(valid_utf8(""));
  CHECK(valid_utf8("plain ASCII ~\x7F"));
  CHECK(valid_utf8("\xC2\x80"));          // U+0080, smallest 2-byte
  CHECK(valid_utf8("\xDF\xBF"));          // U+07FF
  CHECK(valid_utf8("\xE0\xA0\x80"));      // U+0800, smallest 3-byte
  CHECK(valid_utf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  CHECK(valid_utf8("\xEE\x80\x80"));      // U+E000, just above them
  CHECK(valid_utf8("\xEF\xBF\xBF"));      // U+FFFF
  CHECK(valid_utf8("\xF0\x90\x80\x80"));  // U+10000, smallest 4-byte
  CHECK(valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the largest code point
  CHECK(valid_utf8("Zo\xC3\xAB \xE2\x82\xAC \xF0\x9F\x8E\x89"));  // "Zoë € 🎉"
  CHECK(valid_utf8(std::string("a\0b", 3)));
}

TEST_CASE("valid_utf8 refuses overlongs, surrogates, truncation and values above U+10FFFF") {
  SUBCASE("overlong encodings") {
    CHECK_FALSE(valid_utf8("\xC0\x80"));          // U+0000 in 2 bytes
    CHECK_FALSE(valid_utf8("\xC1\xBF"));          // U+007F in 2 bytes
    CHECK_FALSE(valid_utf8("\xE0\x80\xAF"));      // '/' in 3 bytes
    CHECK_FALSE(valid_utf8("\xE0\x9F\xBF"));      // U+07FF in 3 bytes
    CHECK_FALSE(valid_utf8("\xF0\x80\x80\xAF"));  // '/' in 4 bytes
    CHECK_FALSE(valid_utf8("\xF0\x8F\xBF\xBF"));  // U+FFFF in 4 bytes
  }
  SUBCASE("UTF-16 surrogates") {
    CHECK_FALSE(valid_utf8("\xED\xA0\x80"));  // U+D800
    CHECK_FALSE(valid_utf8("\xED\xBF\xBF"));  // U+DFFF
    CHECK_FALSE(valid_utf8("\xED\xA0\xBD\xED\xB8\x80"));  // a CESU-8 surrogate pair
  }
  SUBCASE("truncated sequences") {
    CHECK_FALSE(valid_utf8("\xC3"));
    CHECK_FALSE(valid_utf8("\xE2\x82"));
    CHECK_FALSE(valid_utf8("\xF0\x9F\x8E"));
    CHECK_FALSE(valid_utf8("abc\xE2\x82"));
    CHECK_FALSE(valid_utf8("\xE2\x82" "abc"));  // continuation byte missing mid-text
  }
  SUBCASE("stray and impossible bytes") {
    CHECK_FALSE(valid_utf8("\x80"));
    CHECK_FALSE(valid_utf8("a\xBF" "b"));
    CHECK_FALSE(valid_utf8("\xFE"));
    CHECK_FALSE(valid_utf8("\xFF"));
    CHECK_FALSE(valid_utf8("\xF8\x88\x80\x80\x80"));  // a 5-byte form
  }
  SUBCASE("above U+10FFFF") {
    CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // U+110000
    CHECK_FALSE(valid_utf8("\xF5\x80\x80\x80"));
    CHECK_FALSE(valid_utf8("\xF7\xBF\xBF\xBF"));
  }
}

TEST_CASE("utf8_length counts code points, not bytes") {
  CHECK(utf8_length("") == 0);
  CHECK(utf8_length("abc") == 3);
  CHECK(utf8_length("\xC3\xA9") == 1);
  CHECK(utf8_length("\xE2\x82\xAC") == 1);
  CHECK(utf8_length("\xF0\x9F\x8E\x89") == 1);
  CHECK(utf8_length("Zo\xC3\xAB \xE2\x82\xAC \xF0\x9F\x8E\x89") == 7);
}

namespace {
std::string close_payload(unsigned code, std::string_view reason = {}) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xff));
  p.append(reason);
  return p;
}
}  // namespace

TEST_CASE("close_payload_error: a peer's close frame, checked as RFC 6455 7.4 says") {
  using lobbykit::protocol::close_payload_error;
  CHECK(close_payload_error("") == 0);
  for (unsigned ok : {1000u, 1001u, 1002u, 1003u, 1007u, 1008u, 1009u, 1010u, 1011u, 1012u,
                      1013u, 1014u, 3000u, 3999u, 4000u, 4999u}) {
    CAPTURE(ok);
    CHECK(close_payload_error(close_payload(ok)) == 0);
    CHECK(close_payload_error(close_payload(ok, "done \xc3\xa9")) == 0);
  }
  for (unsigned bad : {0u, 999u, 1004u, 1005u, 1006u, 1015u, 1016u, 2000u, 2999u, 5000u,
                       65535u}) {
    CAPTURE(bad);
    CHECK(close_payload_error(close_payload(bad)) == 1002);
  }
  CHECK(close_payload_error(std::string(1, '\x03')) == 1002);
  CHECK(close_payload_error(close_payload(1000, "bye \xff")) == 1007);
  CHECK(close_payload_error(close_payload(4000, "\xc0\xaf")) == 1007);
  CHECK(close_payload_error(close_payload(5000, "\xff")) == 1002);  // the code is checked first
}

TEST_CASE("parse_envelope reads type, data and id") {
  auto p = parse(R"({"type":"chat","id":7,"data":{"text":"hi"}})");
  REQUIRE(code_of(p.error) == "ok");
  CHECK(p.env.type == "chat");
  CHECK(p.env.id_raw == "7");
  REQUIRE(p.env.data != nullptr);
  REQUIRE(p.env.data->IsObject());
  CHECK(str(*p.env.data, "text") == "hi");
}

TEST_CASE("parse_envelope refuses what is not one JSON object") {
  CHECK(code_of(parse("not json").error) == "bad_json");
  CHECK(code_of(parse("").error) == "bad_json");
  CHECK(code_of(parse(R"({"type":"x")").error) == "bad_json");
  CHECK(code_of(parse(R"({"type":"x"} trailing)").error) == "bad_json");
  CHECK(code_of(parse(R"({"type":"x"}{"type":"y"})").error) == "bad_json");
  CHECK(code_of(parse(R"(["type","x"])").error) == "bad_message");
  CHECK(code_of(parse(R"("text")").error) == "bad_message");
  CHECK(code_of(parse("42").error) == "bad_message");
  CHECK(code_of(parse("null").error) == "bad_message");
}

TEST_CASE("parse_envelope checks type") {
  CHECK(code_of(parse(R"({"data":{}})").error) == "bad_message");
  CHECK(code_of(parse(R"({"type":5})").error) == "bad_message");
  CHECK(code_of(parse(R"({"type":null})").error) == "bad_message");
  CHECK(code_of(parse(R"({"type":["chat"]})").error) == "bad_message");
  CHECK(code_of(parse(R"({"type":""})").error) == "bad_message");
  const std::string t64(kMaxTypeBytes, 't');
  auto ok = parse(R"({"type":")" + t64 + R"("})");
  CHECK(code_of(ok.error) == "ok");
  CHECK(ok.env.type == t64);
  CHECK(code_of(parse(R"({"type":")" + t64 + R"(t"})").error) == "bad_message");
}

TEST_CASE("parse_envelope checks data") {
  SUBCASE("absent or null data is an empty object") {
    for (const char* text : {R"({"type":"ping"})", R"({"type":"ping","data":null})"}) {
      auto p = parse(text);
      REQUIRE(code_of(p.error) == "ok");
      REQUIRE(p.env.data != nullptr);
      CHECK(p.env.data->IsObject());
      CHECK(p.env.data->MemberCount() == 0);
    }
  }
  SUBCASE("data of another type") {
    CHECK(code_of(parse(R"({"type":"x","data":[]})").error) == "bad_message");
    CHECK(code_of(parse(R"({"type":"x","data":"s"})").error) == "bad_message");
    CHECK(code_of(parse(R"({"type":"x","data":1})").error) == "bad_message");
    CHECK(code_of(parse(R"({"type":"x","data":true})").error) == "bad_message");
  }
}

TEST_CASE("parse_envelope echoes the id as raw JSON") {
  CHECK(parse(R"({"type":"x","id":"abc"})").env.id_raw == R"("abc")");
  CHECK(parse(R"({"type":"x","id":"q\"uote"})").env.id_raw == R"("q\"uote")");
  CHECK(parse(R"({"type":"x","id":-12})").env.id_raw == "-12");
  CHECK(parse(R"({"type":"x","id":0})").env.id_raw == "0");
  CHECK(parse(R"({"type":"x","id":9007199254740993})").env.id_raw == "9007199254740993");
  CHECK(parse(R"({"type":"x"})").env.id_raw.empty());
  CHECK(parse(R"({"type":"x","id":null})").env.id_raw.empty());

  const std::string id64(kMaxIdBytes, 'i');
  CHECK(parse(R"({"type":"x","id":")" + id64 + R"("})").env.id_raw == "\"" + id64 + "\"");

  SUBCASE("the id comes back with an error about the rest of the envelope") {
    auto p = parse(R"({"id":"r1","type":7})");
    CHECK(code_of(p.error) == "bad_message");
    CHECK(p.env.id_raw == R"("r1")");
  }
}

TEST_CASE("parse_envelope refuses an id of the wrong type or size") {
  for (const char* id : {"true", "1.5", "{}", "[1]", "18446744073709551615"}) {
    auto p = parse(std::string(R"({"type":"x","id":)") + id + "}");
    CHECK_MESSAGE(code_of(p.error) == "bad_message", "id " << id);
    CHECK(p.env.id_raw.empty());
  }
  const std::string id65(kMaxIdBytes + 1, 'i');
  CHECK(code_of(parse(R"({"type":"x","id":")" + id65 + R"("})").error) == "bad_message");
}

TEST_CASE("parse_envelope refuses strings that decode to invalid UTF-8") {
  // RapidJSON turns a lone low surrogate escape into the bytes ED B0 80: the frame is valid
  // UTF-8, the decoded string is not, and echoing it would send an invalid text frame.
  auto id = parse(R"({"type":"x","id":"\udc00"})");
  CHECK(code_of(id.error) == "bad_message");
  CHECK(id.env.id_raw.empty());
  CHECK(code_of(parse(R"({"type":"\udc00"})").error) == "bad_message");
  // A proper surrogate pair is fine.
  auto pair = parse(R"({"type":"x","id":"\ud83c\udf89"})");
  CHECK(code_of(pair.error) == "ok");
  CHECK(pair.env.id_raw == "\"\xF0\x9F\x8E\x89\"");
}

TEST_CASE("parse_envelope limits nesting depth") {
  // The envelope is level 1, data level 2, then arrays.
  auto nested = [](int arrays) {
    return R"({"type":"x","data":{"a":)" + repeat("[", static_cast<std::size_t>(arrays)) +
           repeat("]", static_cast<std::size_t>(arrays)) + "}}";
  };
  SUBCASE("32 levels are allowed") {
    auto p = parse(nested(kMaxJsonDepth - 2));
    CHECK(code_of(p.error) == "ok");
    CHECK(p.env.type == "x");
  }
  SUBCASE("33 levels are refused") {
    CHECK(code_of(parse(nested(kMaxJsonDepth - 1)).error) == "bad_json");
  }
  SUBCASE("10,000 levels are refused without recursing") {
    CHECK(code_of(parse(repeat("[", 10'000) + repeat("]", 10'000)).error) == "bad_json");
    CHECK(code_of(parse(repeat(R"({"a":)", 10'000) + "1" + repeat("}", 10'000)).error) ==
          "bad_json");
    CHECK(code_of(parse(repeat("[", 10'000)).error) == "bad_json");
    CHECK(code_of(parse(nested(10'000)).error) == "bad_json");
  }
  SUBCASE("brackets inside strings do not count") {
    const std::string deep = repeat("[{", 5'000) + R"(\"\\)";
    auto p = parse(R"({"type":"x","data":{"s":")" + deep + R"("}})");
    REQUIRE(code_of(p.error) == "ok");
    CHECK(str(*p.env.data, "s") == repeat("[{", 5'000) + "\"\\");
  }
}

TEST_CASE("parse_object reads HTTP bodies") {
  rapidjson::Document doc;
  CHECK(code_of(parse_object(R"({"name":"Standup"})", doc)) == "ok");
  CHECK(str(doc, "name") == "Standup");
  CHECK(code_of(parse_object("[]", doc)) == "bad_message");
  CHECK(code_of(parse_object("{", doc)) == "bad_json");
  CHECK(code_of(parse_object(repeat("[", 100), doc)) == "bad_json");
}

// Both parse paths: the server's (in place, in a ParseBuffer) and the plain one (the client's,
// HTTP bodies'); they must give the same answer.
std::string code_of_both(const std::string& text) {
  ParseBuffer buffer;
  Envelope env;
  const std::string in_place = code_of(parse_envelope(text, env, buffer));
  const Parsed plain = parse(text);
  CHECK_MESSAGE(in_place == code_of(plain.error), "in place: " << in_place);
  if (plain.error) {
    rapidjson::Document doc;
    CHECK(code_of(parse_object(text, doc)) == code_of(plain.error));
  }
  return code_of(plain.error);
}

TEST_CASE("a byte-order mark or stray bytes before the JSON are refused") {
  // Found by fuzzing: RapidJSON's Parse(str, length) skips a UTF-8 byte-order mark and, with
  // it, a leading 0xEF or 0xEF 0xBB; the in-place parse does not. No byte may come before
  // the envelope.
  const std::string ping = R"({"type":"ping","data":{}})";
  CHECK(code_of_both(ping) == "ok");
  CHECK(code_of_both("\xEF\xBB\xBF" + ping) == "bad_json");
  CHECK(code_of_both("\xEF\xBB" + ping) == "bad_json");
  CHECK(code_of_both("\xEF" + ping) == "bad_json");
  CHECK(code_of_both("\xEF[") == "bad_json");
}

TEST_CASE("a number beyond the largest double is refused, not read as infinity") {
  // Found by fuzzing (messages, add_bot metadata): RapidJSON 1.1.0 reads these as infinity
  // without a parse error, and its Writer stops at an infinite number, so the metadata,
  // payload or id that carried one went out as truncated JSON.
  const std::string digits(120, '9');
  for (const std::string& number :
       {std::string("17976931348623158e292"), "1" + digits + "e200", "-1" + digits + "e200"}) {
    CAPTURE(number);
    CHECK(code_of_both(R"({"type":"ping","data":{"a":)" + number + "}}") == "bad_json");
    CHECK(code_of_both(R"({"type":"ping","data":{"a":[1,{"b":)" + number + "}]}}") == "bad_json");
    CHECK(code_of_both(R"({"type":"ping","id":)" + number + "}") == "bad_json");
    std::string out;
    CHECK(normalize_json(R"({"a":)" + number + "}", true, 1000, out) ==
          std::optional<std::string>("it holds a number too large for JSON"));
  }
  Parsed p = parse(R"({"type":"ping","data":{"a":17976931348623158e292}})");
  REQUIRE(p.error);
  CHECK(p.error->message ==
        "The message is not valid JSON: a number is too large (beyond 1.7976931348623157e308).");
  // The largest double itself, and large numbers RapidJSON does reject, are as before.
  CHECK(code_of_both(R"({"type":"ping","data":{"a":1.7976931348623157e308}})") == "ok");
  CHECK(code_of_both(R"({"type":"ping","data":{"a":1e400}})") == "bad_json");
}

TEST_CASE("a NUL byte does not end a message early") {
  // RapidJSON takes a NUL for the end of its input: what followed one was never read, and
  // the message passed. No JSON text holds a raw NUL.
  using namespace std::string_literals;
  CHECK(code_of_both("{\"type\":\"ping\"}\0"s) == "bad_json");
  CHECK(code_of_both("{\"type\":\"ping\"}\0{\"type\":\"chat\"}"s) == "bad_json");
  CHECK(code_of_both("{\"type\":\"ping\"} \0 trailing"s) == "bad_json");
  CHECK(code_of_both("{\"type\":\"ping\",\"data\":{\"a\":\"\0\"}}"s) == "bad_json");
  Parsed p = parse("{\"type\":\"ping\"}\0junk"s);
  REQUIRE(p.error);
  CHECK(p.error->message == "The message is not valid JSON: Unexpected NUL character. (at byte 15).");
}

// U+0001..U+001F, four times: long enough for whole 16-byte blocks at any alignment.
std::string control_characters() {
  std::string controls;
  for (char c = 1; c < 0x20; ++c) controls += c;
  return repeat(controls, 4);
}

TEST_CASE("control characters are written escaped wherever they fall in a string") {
  // RapidJSON 1.1.0's SSE2 writer (RAPIDJSON_SSE2) left U+001A..U+001F unescaped when they
  // fell in an aligned 16-byte block: frames that JSON.parse refuses.
  for (std::size_t shift = 0; shift < 16; ++shift) {
    CAPTURE(shift);
    const std::string text = std::string(shift, 'x') + control_characters();
    JsonBuilder b;
    b.begin_object().str("text", text).end_object();
    const std::string out = b.take();
    CHECK(std::none_of(out.begin(), out.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x20; }));
    CHECK(str(json(out), "text") == text);
  }
}

TEST_CASE("raw control characters in a string are refused by both parse paths") {
  // RapidJSON 1.1.0's SSE2 parser (RAPIDJSON_SSE2) took U+001A..U+001F in an aligned block
  // of an in-place parse (the server's ParseBuffer path) as ordinary characters.
  ParseBuffer buffer;
  for (std::size_t shift = 0; shift < 16; ++shift) {
    CAPTURE(shift);
    const std::string text = R"({"type":"chat","data":{"text":")" + std::string(shift, 'x') +
                             repeat("\x1a\x1b\x1c\x1d\x1e\x1f", 6) + R"("}})";
    Envelope env;
    CHECK(code_of(parse_envelope(text, env, buffer)) == "bad_json");
    CHECK(code_of(parse(text).error) == "bad_json");
  }
}

TEST_CASE("error codes have distinct snake_case names") {
  std::set<std::string> names;
  const int last = static_cast<int>(ErrorCode::internal_error);
  for (int i = 0; i <= last; ++i) {
    std::string name(to_string(static_cast<ErrorCode>(i)));
    CHECK_MESSAGE(names.insert(name).second, "duplicate name " << name);
    for (char c : name) CHECK(((c >= 'a' && c <= 'z') || c == '_'));
  }
  CHECK(names.size() == static_cast<std::size_t>(last + 1));
  CHECK(to_string(ErrorCode::bad_field) == "bad_field");
  CHECK(to_string(ErrorCode::too_many_attempts) == "too_many_attempts");
}

TEST_CASE("check_name trims, counts code points and refuses control characters") {
  SUBCASE("trimming") {
    auto c = check_name("  Ada Lovelace  ", 32);
    CHECK(c.problem.empty());
    CHECK(c.name == "Ada Lovelace");
  }
  SUBCASE("empty") {
    CHECK_FALSE(check_name("", 32).problem.empty());
    CHECK_FALSE(check_name("    ", 32).problem.empty());
    CHECK(check_name("    ", 32).name.empty());
  }
  SUBCASE("length in code points") {
    CHECK(check_name(repeat("a", 32), 32).problem.empty());
    CHECK_FALSE(check_name(repeat("a", 33), 32).problem.empty());
    auto e = check_name(repeat("\xC3\xA9", 32), 32);  // 32 characters, 64 bytes
    CHECK(e.problem.empty());
    CHECK(e.name == repeat("\xC3\xA9", 32));
    CHECK_FALSE(check_name(repeat("\xC3\xA9", 33), 32).problem.empty());
    CHECK(check_name(repeat("\xF0\x9F\x8E\x89", 32), 32).problem.empty());
    CHECK(check_name("  " + repeat("b", 32) + "  ", 32).problem.empty());
  }
  SUBCASE("control characters") {
    for (const std::string& bad :
         {std::string("a\tb"), std::string("a\nb"), std::string("a\0b", 3),
          std::string("a\x1F" "b"), std::string("a\x7F" "b"), std::string("a\xC2\x80" "b"),
          std::string("a\xC2\x85" "b"), std::string("a\xC2\x9F" "b")}) {
      auto c = check_name(bad, 32);
      CHECK_MESSAGE(!c.problem.empty(), "accepted a control character");
      CHECK(c.name.empty());
    }
  }
  SUBCASE("valid unicode, including characters just past the C1 range") {
    for (const std::string& good : {std::string("Zo\xC3\xAB"), std::string("a\xC2\xA1" "b"),
                                   std::string("\xE6\x9D\xB1\xE4\xBA\xAC"),
                                   std::string("\xF0\x9F\x8E\x89 party")}) {
      auto c = check_name(good, 32);
      CHECK_MESSAGE(c.problem.empty(), c.problem);
      CHECK(c.name == good);
    }
  }
  SUBCASE("invalid UTF-8") {
    CHECK_FALSE(check_name("a\xC3", 32).problem.empty());
    CHECK_FALSE(check_name("\xED\xA0\x80", 32).problem.empty());
  }
}

TEST_CASE("name_key folds ASCII letters only") {
  CHECK(name_key("Ada LOVELACE 42") == "ada lovelace 42");
  CHECK(name_key("\xC3\x84" "BC") == "\xC3\x84" "bc");  // Ä stays, B and C fold
  CHECK(name_key("@[`{") == "@[`{");                   // neighbours of A-Z and a-z
  CHECK(name_key("") == "");
}

TEST_CASE("decode auth") {
  SUBCASE("defaults") {
    AuthReq r;
    CHECK(code_of(decode(json("{}"), r)) == "ok");
    CHECK_FALSE(r.token.has_value());
    CHECK_FALSE(r.is_bot);
  }
  SUBCASE("fields") {
    AuthReq r;
    CHECK(code_of(decode(json(R"({"token":"abc","bot":true})"), r)) == "ok");
    REQUIRE(r.token.has_value());
    CHECK(*r.token == "abc");
    CHECK(r.is_bot);
  }
  SUBCASE("null token is absent") {
    AuthReq r;
    CHECK(code_of(decode(json(R"({"token":null})"), r)) == "ok");
    CHECK_FALSE(r.token.has_value());
  }
  SUBCASE("errors") {
    AuthReq r;
    auto e = decode(json(R"({"token":5})"), r);
    CHECK(code_of(e) == "bad_field");
    CHECK(field_of(e) == "data.token");
    e = decode(json(R"({"token":")" + std::string(kMaxTokenBytes + 1, 'a') + R"("})"), r);
    CHECK(field_of(e) == "data.token");
    AuthReq r2;
    CHECK(code_of(decode(json(R"({"token":")" + std::string(kMaxTokenBytes, 'a') + R"("})"),
                         r2)) == "ok");
    e = decode(json(R"({"bot":"yes"})"), r);
    CHECK(code_of(e) == "bad_field");
    CHECK(field_of(e) == "data.bot");
  }
}

TEST_CASE("decode set_name") {
  Limits l;
  SUBCASE("name and password") {
    SetNameReq r;
    CHECK(code_of(decode(json(R"({"name":"  Ada ","password":"pw"})"), r, l)) == "ok");
    CHECK(r.name == "Ada");
    REQUIRE(r.password.has_value());
    CHECK(*r.password == "pw");
  }
  SUBCASE("no password") {
    SetNameReq r;
    CHECK(code_of(decode(json(R"({"name":"Ada"})"), r, l)) == "ok");
    CHECK_FALSE(r.password.has_value());
  }
  SUBCASE("name missing, of the wrong type, empty or with a control character") {
    for (const char* data : {"{}", R"({"name":null})", R"({"name":3})", R"({"name":["a"]})",
                             R"({"name":""})", R"({"name":"   "})", R"({"name":"a\u0007b"})",
                             R"({"name":"a\u0085b"})"}) {
      SetNameReq r;
      auto e = decode(json(data), r, l);
      CHECK_MESSAGE(code_of(e) == "bad_field", data);
      CHECK_MESSAGE(field_of(e) == "data.name", data);
    }
  }
  SUBCASE("length is counted in code points") {
    SetNameReq r;
    const std::string name32 = repeat("\xE2\x82\xAC", l.max_name_chars);  // 96 bytes
    CHECK(code_of(decode(json(R"({"name":")" + name32 + R"("})"), r, l)) == "ok");
    CHECK(r.name == name32);
    auto e = decode(json(R"({"name":")" + name32 + R"(x"})"), r, l);
    CHECK(field_of(e) == "data.name");
    Limits small;
    small.max_name_chars = 3;
    CHECK(code_of(decode(json(R"({"name":"\u00e9\u00e9\u00e9"})"), r, small)) == "ok");
    CHECK(field_of(decode(json(R"({"name":"abcd"})"), r, small)) == "data.name");
  }
  SUBCASE("password limits") {
    SetNameReq r;
    auto e = decode(json(R"({"name":"Ada","password":""})"), r, l);
    CHECK(code_of(e) == "bad_field");
    CHECK(field_of(e) == "data.password");
    e = decode(json(R"({"name":"Ada","password":7})"), r, l);
    CHECK(field_of(e) == "data.password");
    const std::string max_pw(l.max_password_bytes, 'p');
    SetNameReq ok;
    CHECK(code_of(decode(json(R"({"name":"Ada","password":")" + max_pw + R"("})"), ok, l)) ==
          "ok");
    e = decode(json(R"({"name":"Ada","password":")" + max_pw + R"(p"})"), r, l);
    CHECK(field_of(e) == "data.password");
  }
}

TEST_CASE("decode create_lobby") {
  Limits l;
  SUBCASE("defaults") {
    CreateLobbyReq r;
    CHECK(code_of(decode(json(R"({"name":" Standup "})"), r, l)) == "ok");
    CHECK(r.name == "Standup");
    CHECK_FALSE(r.is_private);
    CHECK_FALSE(r.persistent);
    CHECK_FALSE(r.max_participants.has_value());
  }
  SUBCASE("fields") {
    CreateLobbyReq r;
    CHECK(code_of(decode(
              json(R"({"name":"Standup","private":true,"persistent":true,"max_participants":8})"),
              r, l)) == "ok");
    CHECK(r.is_private);
    CHECK(r.persistent);
    REQUIRE(r.max_participants.has_value());
    CHECK(*r.max_participants == 8);
  }
  SUBCASE("max_participants bounds") {
    CreateLobbyReq r;
    CHECK(code_of(decode(json(R"({"name":"a","max_participants":1})"), r, l)) == "ok");
    CHECK(code_of(decode(json(R"({"name":"a","max_participants":64})"), r, l)) == "ok");
    CHECK(*r.max_participants == 64);
    for (const char* v : {"0", "65", "-1", "2.5", "\"8\"", "true", "4294967297"}) {
      CreateLobbyReq bad;
      auto e = decode(json(std::string(R"({"name":"a","max_participants":)") + v + "}"), bad, l);
      CHECK_MESSAGE(code_of(e) == "bad_field", v);
      CHECK_MESSAGE(field_of(e) == "data.max_participants", v);
    }
  }
  SUBCASE("name rules and types") {
    CreateLobbyReq r;
    CHECK(field_of(decode(json("{}"), r, l)) == "data.name");
    CHECK(field_of(decode(json(R"({"name":"\t"})"), r, l)) == "data.name");
    const std::string n64 = repeat("\xC3\xA9", l.max_lobby_name_chars);
    CHECK(code_of(decode(json(R"({"name":")" + n64 + R"("})"), r, l)) == "ok");
    CHECK(field_of(decode(json(R"({"name":")" + n64 + R"(e"})"), r, l)) == "data.name");
    CHECK(field_of(decode(json(R"({"name":"a","private":1})"), r, l)) == "data.private");
    CHECK(field_of(decode(json(R"({"name":"a","persistent":"no"})"), r, l)) ==
          "data.persistent");
  }
}

TEST_CASE("decode join_lobby") {
  Limits l;
  SUBCASE("by id with media flags") {
    JoinLobbyReq r;
    CHECK(code_of(decode(
              json(R"({"lobby_id":"abc","has_media":true,"audio_muted":true,"video_muted":false})"),
              r, l)) == "ok");
    REQUIRE(r.lobby_id.has_value());
    CHECK(*r.lobby_id == "abc");
    CHECK_FALSE(r.name.has_value());
    CHECK(r.has_media);
    CHECK(r.audio_muted);
    CHECK_FALSE(r.video_muted);
  }
  SUBCASE("by name") {
    JoinLobbyReq r;
    CHECK(code_of(decode(json(R"({"name":"Standup"})"), r, l)) == "ok");
    REQUIRE(r.name.has_value());
    CHECK(*r.name == "Standup");
    CHECK_FALSE(r.lobby_id.has_value());
    CHECK_FALSE(r.has_media);
  }
  SUBCASE("exactly one of lobby_id and name") {
    JoinLobbyReq a, b;
    auto e = decode(json("{}"), a, l);
    CHECK(code_of(e) == "bad_field");
    CHECK(field_of(e) == "data.lobby_id");
    e = decode(json(R"({"lobby_id":"abc","name":"Standup"})"), b, l);
    CHECK(code_of(e) == "bad_field");
    CHECK(field_of(e) == "data.lobby_id");
  }
  SUBCASE("types and limits") {
    JoinLobbyReq r;
    CHECK(field_of(decode(json(R"({"lobby_id":12})"), r, l)) == "data.lobby_id");
    CHECK(field_of(decode(json(R"({"lobby_id":")" + std::string(kMaxIdFieldBytes + 1, 'a') +
                               R"("})"), r, l)) == "data.lobby_id");
    JoinLobbyReq r2;
    CHECK(field_of(decode(json(R"({"name":false})"), r2, l)) == "data.name");
    JoinLobbyReq r3;
    CHECK(field_of(decode(json(R"({"lobby_id":"a","has_media":"yes"})"), r3, l)) ==
          "data.has_media");
    JoinLobbyReq r4;
    CHECK(field_of(decode(json(R"({"lobby_id":"a","video_muted":0})"), r4, l)) ==
          "data.video_muted");
  }
}

TEST_CASE("decode chat counts bytes") {
  Limits l;
  l.max_chat_bytes = 10;
  SUBCASE("within the limit") {
    ChatReq r;
    CHECK(code_of(decode(json(R"({"text":"\u00e9\u00e9\u00e9\u00e9\u00e9"})"), r, l)) == "ok");
    CHECK(r.text == repeat("\xC3\xA9", 5));
  }
  SUBCASE("over the limit in bytes, not in characters") {
    ChatReq r;
    auto e = decode(json(R"({"text":"\u00e9\u00e9\u00e9\u00e9\u00e9a"})"), r, l);
    CHECK(code_of(e) == "bad_field");
    CHECK(field_of(e) == "data.text");
  }
  SUBCASE("default limit is 4 KiB") {
    Limits d;
    ChatReq r;
    CHECK(code_of(decode(json(R"({"text":")" + std::string(4096, 'x') + R"("})"), r, d)) ==
          "ok");
    CHECK(r.text.size() == 4096);
    CHECK(field_of(decode(json(R"({"text":")" + std::string(4097, 'x') + R"("})"), r, d)) ==
          "data.text");
  }
  SUBCASE("missing, empty, wrong type") {
    ChatReq r;
    CHECK(field_of(decode(json("{}"), r, l)) == "data.text");
    CHECK(field_of(decode(json(R"({"text":""})"), r, l)) == "data.text");
    CHECK(field_of(decode(json(R"({"text":1})"), r, l)) == "data.text");
  }
  SUBCASE("text that decodes to invalid UTF-8 is refused") {
    ChatReq r;
    auto e = decode(json(R"({"text":"a\udc00"})"), r, l);
    CHECK(code_of(e) == "bad_field");
    CHECK(field_of(e) == "data.text");
  }
}

TEST_CASE("decode chat_history") {
  SUBCASE("defaults") {
    ChatHistoryReq r;
    CHECK(code_of(decode(json("{}"), r)) == "ok");
    CHECK(r.after == 0);
    CHECK(r.limit == kMaxHistoryPage);
  }
  SUBCASE("fields and bounds") {
    ChatHistoryReq r;
    CHECK(code_of(decode(json(R"({"after":42,"limit":1})"), r)) == "ok");
    CHECK(r.after == 42);
    CHECK(r.limit == 1);
    ChatHistoryReq big;
    CHECK(code_of(decode(json(R"({"after":9007199254740991,"limit":500})"), big)) == "ok");
    CHECK(big.after == 9007199254740991ull);
    CHECK(big.limit == 500);
  }
  SUBCASE("errors") {
    for (const char* data : {R"({"limit":0})", R"({"limit":501})", R"({"limit":"5"})"}) {
      ChatHistoryReq r;
      auto e = decode(json(data), r);
      CHECK_MESSAGE(code_of(e) == "bad_field", data);
      CHECK_MESSAGE(field_of(e) == "data.limit", data);
    }
    for (const char* data : {R"({"after":-1})", R"({"after":1.5})",
                             R"({"after":9007199254740992})"}) {
      ChatHistoryReq r;
      CHECK_MESSAGE(field_of(decode(json(data), r)) == "data.after", data);
    }
  }
}

TEST_CASE("decode update_media") {
  UpdateMediaReq none;
  CHECK(code_of(decode(json("{}"), none)) == "ok");
  CHECK_FALSE(none.has_media.has_value());
  CHECK_FALSE(none.audio_muted.has_value());
  CHECK_FALSE(none.video_muted.has_value());
  CHECK_FALSE(none.screen_sharing.has_value());

  UpdateMediaReq screen;
  CHECK(code_of(decode(json(R"({"screen_sharing":true})"), screen)) == "ok");
  CHECK(screen.screen_sharing == std::optional<bool>(true));
  UpdateMediaReq bad_screen;
  auto screen_error = decode(json(R"({"screen_sharing":1})"), bad_screen);
  CHECK(code_of(screen_error) == "bad_field");
  CHECK(field_of(screen_error) == "data.screen_sharing");

  UpdateMediaReq r;
  CHECK(code_of(decode(json(R"({"has_media":true,"video_muted":false})"), r)) == "ok");
  CHECK(r.has_media == std::optional<bool>(true));
  CHECK_FALSE(r.audio_muted.has_value());
  CHECK(r.video_muted == std::optional<bool>(false));

  UpdateMediaReq bad;
  auto e = decode(json(R"({"audio_muted":"on"})"), bad);
  CHECK(code_of(e) == "bad_field");
  CHECK(field_of(e) == "data.audio_muted");
}

TEST_CASE("decode_description") {
  SUBCASE("keeps only type and sdp") {
    RelayReq r;
    CHECK(code_of(decode_description(
              json(R"({"to":"peer1","description":{"type":"offer","sdp":"v=0\r\n","x":1},"y":2})"),
              r)) == "ok");
    CHECK(r.to == "peer1");
    auto p = json(r.payload_json);
    CHECK(p.MemberCount() == 2);
    CHECK(str(p, "type") == "offer");
    CHECK(str(p, "sdp") == "v=0\r\n");
  }
  SUBCASE("every description type") {
    for (const char* type : {"offer", "answer", "pranswer"}) {
      RelayReq r;
      CHECK(code_of(decode_description(
                json(std::string(R"({"to":"p","description":{"type":")") + type +
                     R"(","sdp":"s"}})"),
                r)) == "ok");
      CHECK(str(json(r.payload_json), "type") == type);
    }
  }
  SUBCASE("sdp is required except for rollback") {
    RelayReq r;
    auto e = decode_description(json(R"({"to":"p","description":{"type":"offer"}})"), r);
    CHECK(code_of(e) == "bad_field");
    CHECK(field_of(e) == "data.description.sdp");
    RelayReq rb;
    CHECK(code_of(decode_description(json(R"({"to":"p","description":{"type":"rollback"}})"),
                                     rb)) == "ok");
    auto p = json(rb.payload_json);
    CHECK(str(p, "type") == "rollback");
    CHECK(str(p, "sdp") == "");
  }
  SUBCASE("errors") {
    RelayReq r;
    CHECK(field_of(decode_description(json(R"({"description":{"type":"offer","sdp":"s"}})"),
                                      r)) == "data.to");
    CHECK(field_of(decode_description(json(R"({"to":")" + std::string(kMaxIdFieldBytes + 1, 'p') +
                                           R"(","description":{"type":"offer","sdp":"s"}})"),
                                      r)) == "data.to");
    CHECK(field_of(decode_description(json(R"({"to":"p"})"), r)) == "data.description");
    CHECK(field_of(decode_description(json(R"({"to":"p","description":"offer"})"), r)) ==
          "data.description");
    CHECK(field_of(decode_description(json(R"({"to":"p","description":{"sdp":"s"}})"), r)) ==
          "data.description.type");
    CHECK(field_of(decode_description(
              json(R"({"to":"p","description":{"type":"bogus","sdp":"s"}})"), r)) ==
          "data.description.type");
    CHECK(field_of(decode_description(
              json(R"({"to":"p","description":{"type":"OFFER","sdp":"s"}})"), r)) ==
          "data.description.type");
    CHECK(field_of(decode_description(
              json(R"({"to":"p","description":{"type":"offer","sdp":5}})"), r)) ==
          "data.description.sdp");
  }
}

TEST_CASE("decode_candidate") {
  SUBCASE("null or absent candidate ends the candidates") {
    RelayReq a, b;
    CHECK(code_of(decode_candidate(json(R"({"to":"p","candidate":null})"), a)) == "ok");
    CHECK(a.payload_json == "null");
    CHECK(a.to == "p");
    CHECK(code_of(decode_candidate(json(R"({"to":"p"})"), b)) == "ok");
    CHECK(b.payload_json == "null");
  }
  SUBCASE("a full candidate keeps its typed fields and drops the rest") {
    RelayReq r;
    CHECK(code_of(decode_candidate(
              json(R"({"to":"p","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host",)"
                   R"("sdpMid":"0","sdpMLineIndex":3,"usernameFragment":"uf","extra":true}})"),
              r)) == "ok");
    auto p = json(r.payload_json);
    CHECK(p.MemberCount() == 4);
    CHECK(str(p, "candidate") == "candidate:1 1 udp 1 1.2.3.4 5 typ host");
    CHECK(str(p, "sdpMid") == "0");
    CHECK(integer(p, "sdpMLineIndex") == 3);
    CHECK(str(p, "usernameFragment") == "uf");
    CHECK_FALSE(p.HasMember("extra"));
  }
  SUBCASE("optional fields become null or are left out") {
    RelayReq r;
    CHECK(code_of(decode_candidate(json(R"({"to":"p","candidate":{"candidate":""}})"), r)) ==
          "ok");
    auto p = json(r.payload_json);
    CHECK(str(p, "candidate") == "");
    REQUIRE(p.HasMember("sdpMid"));
    CHECK(p["sdpMid"].IsNull());
    REQUIRE(p.HasMember("sdpMLineIndex"));
    CHECK(p["sdpMLineIndex"].IsNull());
    CHECK_FALSE(p.HasMember("usernameFragment"));
  }
  SUBCASE("errors name the field") {
    RelayReq r;
    CHECK(field_of(decode_candidate(json(R"({"candidate":null})"), r)) == "data.to");
    CHECK(field_of(decode_candidate(json(R"({"to":"p","candidate":"c"})"), r)) ==
          "data.candidate");
    CHECK(field_of(decode_candidate(json(R"({"to":"p","candidate":{}})"), r)) ==
          "data.candidate.candidate");
    CHECK(field_of(decode_candidate(json(R"({"to":"p","candidate":{"candidate":1}})"), r)) ==
          "data.candidate.candidate");
    CHECK(field_of(decode_candidate(
              json(R"({"to":"p","candidate":{"candidate":"c","sdpMid":0}})"), r)) ==
          "data.candidate.sdpMid");
    CHECK(field_of(decode_candidate(
              json(R"({"to":"p","candidate":{"candidate":"c","sdpMLineIndex":"0"}})"), r)) ==
          "data.candidate.sdpMLineIndex");
    CHECK(field_of(decode_candidate(
              json(R"({"to":"p","candidate":{"candidate":"c","sdpMLineIndex":65536}})"), r)) ==
          "data.candidate.sdpMLineIndex");
    CHECK(field_of(decode_candidate(
              json(R"({"to":"p","candidate":{"candidate":"c","usernameFragment":[]}})"), r)) ==
          "data.candidate.usernameFragment");
    CHECK(code_of(decode_candidate(
              json(R"({"to":"p","candidate":{"candidate":")" + std::string(4097, 'c') + R"("}})"),
              r)) == "bad_field");
  }
}

TEST_CASE("write(Participant) produces the documented object") {
  Participant p;
  p.peer_id = "9b1e0c6a2f4d7e13";
  p.name = "Ada \"the\" \xC3\xA9";
  p.has_media = true;
  p.audio_muted = false;
  p.video_muted = true;
  p.is_bot = true;
  p.connected = false;
  p.user_id = "user \"42\"";
  p.roles = {"moderator", "team-7"};
  p.metadata_json = R"({"seat":3})";
  p.screen_sharing = true;
  JsonBuilder b;
  write(b, p);
  auto d = json(b.take());
  CHECK(d.MemberCount() == 11);
  CHECK(d["screen_sharing"].GetBool());
  REQUIRE(d["metadata"].IsObject());
  CHECK(d["metadata"]["seat"].GetInt() == 3);
  CHECK(str(d, "user_id") == "user \"42\"");
  REQUIRE(d["roles"].IsArray());
  REQUIRE(d["roles"].Size() == 2);
  CHECK(std::string(d["roles"][0].GetString()) == "moderator");
  CHECK(std::string(d["roles"][1].GetString()) == "team-7");
  CHECK(str(d, "peer_id") == "9b1e0c6a2f4d7e13");
  CHECK(str(d, "name") == "Ada \"the\" \xC3\xA9");
  CHECK(boolean(d, "has_media") == true);
  CHECK(boolean(d, "audio_muted") == false);
  CHECK(boolean(d, "video_muted") == true);
  CHECK(boolean(d, "is_bot") == true);
  CHECK(boolean(d, "connected") == false);
}

TEST_CASE("write(LobbyInfo) produces the documented object") {
  LobbyInfo l;
  l.id = "3f0c9a1be4d27a55";
  l.name = "Standup";
  l.is_private = true;
  l.persistent = false;
  l.max_participants = 64;
  l.participant_count = 2;
  l.created_ms = 1764110000000;
  JsonBuilder b;
  write(b, l);
  auto d = json(b.take());
  CHECK(d.MemberCount() == 8);
  CHECK(d["metadata"].IsObject());
  CHECK(d["metadata"].MemberCount() == 0);
  CHECK(str(d, "id") == "3f0c9a1be4d27a55");
  CHECK(str(d, "name") == "Standup");
  CHECK(boolean(d, "private") == true);
  CHECK(boolean(d, "persistent") == false);
  CHECK(integer(d, "max_participants") == 64);
  CHECK(integer(d, "participants") == 2);
  CHECK(integer(d, "created_ms") == 1764110000000);
}

TEST_CASE("write(ChatMessage) produces the documented object") {
  ChatMessage m;
  m.lobby_id = "lobby";
  m.offset = 42;
  m.sender = "9b1e0c6a2f4d7e13";
  m.sender_name = "Ada";
  m.text = std::string("line\nwith \0 nul", 15);
  m.time_ms = 1764110000123;
  JsonBuilder b;
  write(b, m);
  auto d = json(b.take());
  CHECK(d.MemberCount() == 6);
  CHECK(integer(d, "offset") == 42);
  CHECK(str(d, "sender") == "9b1e0c6a2f4d7e13");
  CHECK(str(d, "sender_name") == "Ada");
  CHECK(str(d, "text") == std::string("line\nwith \0 nul", 15));
  CHECK(integer(d, "time_ms") == 1764110000123);
  CHECK(boolean(d, "system") == false);
  m.system = true;
  JsonBuilder notice;
  write(notice, m);
  CHECK(boolean(json(notice.take()), "system") == true);
}

TEST_CASE("envelope frames type, id and data") {
  auto frame = envelope("result", R"("r1")", [](JsonBuilder& b) { b.num("offset", 3); });
  REQUIRE(frame.get() != nullptr);
  auto d = json(*frame);
  CHECK(str(d, "type") == "result");
  CHECK(str(d, "id") == "r1");
  REQUIRE(d["data"].IsObject());
  CHECK(integer(d["data"], "offset") == 3);

  auto push = json(*envelope("chat", "", [](JsonBuilder&) {}));
  CHECK(str(push, "type") == "chat");
  CHECK_FALSE(push.HasMember("id"));
  REQUIRE(push["data"].IsObject());
  CHECK(push["data"].MemberCount() == 0);
}

TEST_CASE("error_frame") {
  SUBCASE("with field and retry time, echoing an integer id") {
    Error e{ErrorCode::bad_field, "The name is \"bad\".", "data.name", 1500};
    auto d = json(*error_frame(e, "7"));
    CHECK(str(d, "type") == "error");
    CHECK(integer(d, "id") == 7);
    const auto& data = d["data"];
    REQUIRE(data.IsObject());
    CHECK(data.MemberCount() == 4);
    CHECK(str(data, "code") == "bad_field");
    CHECK(str(data, "error") == "The name is \"bad\".");
    CHECK(str(data, "field") == "data.name");
    CHECK(integer(data, "retry_after_ms") == 1500);
  }
  SUBCASE("without optional parts, echoing a string id") {
    Error e{ErrorCode::lobby_full, "The lobby is full.", {}, -1};
    auto d = json(*error_frame(e, R"("abc")"));
    CHECK(str(d, "id") == "abc");
    const auto& data = d["data"];
    CHECK(data.MemberCount() == 2);
    CHECK(str(data, "code") == "lobby_full");
    CHECK(str(data, "error") == "The lobby is full.");
  }
  SUBCASE("without id") {
    Error e{ErrorCode::rate_limited, "Slow down.", {}, 0};
    auto d = json(*error_frame(e, ""));
    CHECK_FALSE(d.HasMember("id"));
    CHECK(str(d["data"], "code") == "rate_limited");
    CHECK(integer(d["data"], "retry_after_ms") == 0);
  }
  SUBCASE("round trip of a parse error through the id") {
    auto p = parse(R"({"id":"x\"y","type":""})");
    REQUIRE(p.error.has_value());
    auto d = json(*error_frame(*p.error, p.env.id_raw));
    CHECK(str(d, "id") == "x\"y");
    CHECK(str(d["data"], "code") == "bad_message");
  }
}

}  // namespace
}  // namespace lobbykit::protocol
