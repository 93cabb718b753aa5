// Tests for access tokens (core/access_token.hpp): minting and verifying HS256 JWTs with an
// injected time, and every way a token is refused. Tokens other than the mint's are built
// by hand here (base64url and HMAC written out), so the verifier is not checked against
// itself alone.
#include "core/access_token.hpp"

#include <lobbykit/token.hpp>

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <ctime>
#include <stdexcept>
#include <string>
#include <variant>

namespace lobbykit::core {
namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef-test";
constexpr std::int64_t kNowS = 1'700'000'000;
constexpr TimeMs kNowMs = kNowS * 1000;

TokenRules rules(TimeMs now_ms = kNowMs, std::string_view secret = kSecret) {
  TokenRules r;
  r.secret = secret;
  r.now_ms = now_ms;
  r.skew_ms = 30'000;
  r.max_metadata_bytes = 4096;
  r.max_name_chars = 32;
  return r;
}

std::string b64url(std::string_view in) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += a[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += a[(acc << (6 - bits)) & 63];
  return out;
}

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

// A token from raw header and claims JSON, signed with HS256 (or md) and secret.
std::string hand_token(std::string_view header, std::string_view claims,
                       std::string_view secret = kSecret, const EVP_MD* md = EVP_sha256()) {
  std::string input = b64url(header) + "." + b64url(claims);
  return input + "." + b64url(hmac(md, secret, input));
}

const char* kHs256 = R"({"alg":"HS256","typ":"JWT"})";

AccessClaims ok(const std::variant<AccessClaims, protocol::Error>& v) {
  if (const auto* e = std::get_if<protocol::Error>(&v)) FAIL("refused: " << e->message);
  return std::get<AccessClaims>(v);
}

protocol::Error refused(const std::variant<AccessClaims, protocol::Error>& v) {
  REQUIRE(std::holds_alternative<protocol::Error>(v));
  return std::get<protocol::Error>(v);
}

std::string mint(AccessClaims c, std::int64_t ttl = 3600) {
  return sign_access_token(kSecret, std::move(c), ttl, kNowS);
}

AccessClaims user(std::string id = "user-42") {
  AccessClaims c;
  c.user_id = std::move(id);
  return c;
}

TEST_CASE("access token: a minted token verifies with every claim") {
  AccessClaims c = user();
  c.name = "  Ada   Lovelace ";
  c.roles = {"moderator", "team-7", "moderator"};
  c.metadata_json = R"({ "plan": "pro", "seats": [1, 2] })";
  c.lobby_id = "3f0c9a1be4d27a55";
  c.not_before_s = kNowS - 10;
  const std::string token = mint(c, 600);
  CHECK(token.find('=') == std::string::npos);
  CHECK(token.find('+') == std::string::npos);
  CHECK(token.find('/') == std::string::npos);

  AccessClaims got = ok(verify_access_token(token, rules()));
  CHECK(got.user_id == "user-42");
  CHECK(got.name == "Ada Lovelace");  // cleaned by the name rule
  CHECK(got.roles == std::vector<std::string>{"moderator", "team-7"});
  CHECK(got.metadata_json == R"({"plan":"pro","seats":[1,2]})");
  CHECK(got.lobby_id == "3f0c9a1be4d27a55");
  CHECK(got.issued_at_s == kNowS);
  CHECK(got.not_before_s == kNowS - 10);
  CHECK(got.expires_s == kNowS + 600);
}

TEST_CASE("access token: a hand-built HS256 token verifies, optional claims are optional") {
  const std::string token =
      hand_token(R"({"alg":"HS256"})", R"({"sub":"u1","exp":1700000100,"aud":"ignored"})");
  AccessClaims got = ok(verify_access_token(token, rules()));
  CHECK(got.user_id == "u1");
  CHECK(got.name.empty());
  CHECK(got.roles.empty());
  CHECK(got.metadata_json.empty());
  CHECK(got.lobby_id.empty());
  CHECK(got.expires_s == 1700000100);
}

TEST_CASE("access token: a changed payload or signature is refused") {
  const std::string token = mint(user());
  const std::size_t first = token.find('.');
  const std::size_t second = token.find('.', first + 1);
  SUBCASE("payload: another user") {
    std::string forged = token.substr(0, first) + "." +
                         b64url(R"({"sub":"admin","iat":1700000000,"exp":1700003600})") +
                         token.substr(second);
    auto e = refused(verify_access_token(forged, rules()));
    CHECK(e.code == protocol::ErrorCode::invalid_access_token);
    CHECK(e.message.find("signature does not match") != std::string::npos);
  }
  SUBCASE("signature: one character changed") {
    std::string forged = token;
    char& c = forged[second + 2];
    c = c == 'A' ? 'B' : 'A';
    CHECK(refused(verify_access_token(forged, rules())).code ==
          protocol::ErrorCode::invalid_access_token);
  }
  SUBCASE("signature: cut short") {
    CHECK(refused(verify_access_token(token.substr(0, token.size() - 4), rules())).code ==
          protocol::ErrorCode::invalid_access_token);
  }
  SUBCASE("another secret") {
    auto e = refused(verify_access_token(token, rules(kNowMs, "another secret of at least 32 bytes")));
    CHECK(e.code == protocol::ErrorCode::invalid_access_token);
    CHECK(e.message.find("another secret") != std::string::npos);
  }
}

TEST_CASE("access token: only HS256 is accepted") {
  const char* claims = R"({"sub":"u1","exp":1700003600})";
  SUBCASE("alg none, with and without a signature") {
    std::string unsigned_token = b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(claims) + ".";
    auto e = refused(verify_access_token(unsigned_token, rules()));
    CHECK(e.code == protocol::ErrorCode::invalid_access_token);
    CHECK(e.message.find("none") != std::string::npos);
    auto signed_none = hand_token(R"({"alg":"none"})", claims);
    CHECK(refused(verify_access_token(signed_none, rules())).code ==
          protocol::ErrorCode::invalid_access_token);
  }
  SUBCASE("HS512, correctly signed with the same secret") {
    auto token = hand_token(R"({"alg":"HS512","typ":"JWT"})", claims, kSecret, EVP_sha512());
    auto e = refused(verify_access_token(token, rules()));
    CHECK(e.code == protocol::ErrorCode::invalid_access_token);
    CHECK(e.message.find("not HS256") != std::string::npos);
  }
  SUBCASE("alg in another case, missing, or not a string") {
    for (const char* header : {R"({"alg":"hs256"})", R"({"typ":"JWT"})", R"({"alg":256})",
                               R"({"alg":"HS256","typ":"JOSE+JSON"})",
                               R"({"alg":"HS256","crit":["b64"]})", R"(["HS256"])"}) {
      CAPTURE(header);
      CHECK(refused(verify_access_token(hand_token(header, claims), rules())).code ==
            protocol::ErrorCode::invalid_access_token);
    }
  }
}

TEST_CASE("access token: claims that are missing or malformed") {
  struct Case {
    const char* claims;
    const char* says;
  };
  const Case cases[] = {
      {R"({"exp":1700003600})", "\"sub\""},
      {R"({"sub":"","exp":1700003600})", "\"sub\""},
      {R"({"sub":7,"exp":1700003600})", "\"sub\""},
      {R"({"sub":"u1"})", "\"exp\""},
      {R"({"sub":"u1","exp":"tomorrow"})", "whole numbers"},
      {R"({"sub":"u1","exp":1700003600.5})", "whole numbers"},
      {R"({"sub":"u1","exp":1700003600,"nbf":null})", "whole numbers"},
      {R"({"sub":"u1","exp":1700003600,"roles":"moderator"})", "\"roles\""},
      {R"({"sub":"u1","exp":1700003600,"roles":["Moderator"]})", "\"roles\""},
      {R"({"sub":"u1","exp":1700003600,"roles":[""]})", "\"roles\""},
      {R"({"sub":"u1","exp":1700003600,"roles":["a b"]})", "\"roles\""},
      {R"({"sub":"u1","exp":1700003600,"roles":["abcdefghijklmnopqrstuvwxyz0123456"]})", "\"roles\""},
      {R"({"sub":"u1","exp":1700003600,"metadata":[1]})", "\"metadata\""},
      {R"({"sub":"u1","exp":1700003600,"name":"\u202eevil"})", "\"name\""},
      {R"({"sub":"u1","exp":1700003600,"name":"   "})", "\"name\""},
      {R"({"sub":"u1","exp":1700003600,"name":"abcdefghijklmnopqrstuvwxyz0123456"})", "\"name\""},
      {R"({"sub":"u1","exp":1700003600,"lobby":""})", "\"lobby\""},
      {R"({"sub":"u1","exp":1700003600,"lobby":5})", "\"lobby\""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.claims);
    auto e = refused(verify_access_token(hand_token(kHs256, c.claims), rules()));
    CHECK(e.code == protocol::ErrorCode::invalid_access_token);
    CHECK(e.message.find(c.says) != std::string::npos);
  }
  SUBCASE("a user id of 128 bytes is fine, 129 is not") {
    const std::string id128(128, 'u');
    CHECK(ok(verify_access_token(hand_token(kHs256, R"({"sub":")" + id128 + R"(","exp":1700003600})"),
                                 rules())).user_id == id128);
    CHECK(refused(verify_access_token(
                      hand_token(kHs256, R"({"sub":")" + id128 + R"(u","exp":1700003600})"), rules()))
              .code == protocol::ErrorCode::invalid_access_token);
  }
  SUBCASE("metadata over max_metadata_bytes") {
    const std::string big = R"({"sub":"u1","exp":1700003600,"metadata":{"k":")" +
                            std::string(4100, 'x') + R"("}})";
    auto e = refused(verify_access_token(hand_token(kHs256, big), rules()));
    CHECK(e.message.find("larger than 4096") != std::string::npos);
  }
}

TEST_CASE("access token: exp and nbf with the clock skew") {
  AccessClaims c = user();
  c.expires_s = kNowS;  // expires now
  const std::string expiring = mint(c);
  // Within the 30 s skew it still works; past it, it is expired.
  CHECK(ok(verify_access_token(expiring, rules(kNowMs + 29'999))).user_id == "user-42");
  auto e = refused(verify_access_token(expiring, rules(kNowMs + 30'000)));
  CHECK(e.code == protocol::ErrorCode::access_token_expired);

  AccessClaims later = user();
  later.not_before_s = kNowS + 20;  // 20 s ahead: inside the skew
  CHECK(ok(verify_access_token(mint(later), rules())).not_before_s == kNowS + 20);
  later.not_before_s = kNowS + 31;  // 31 s ahead: outside it
  auto early = refused(verify_access_token(mint(later), rules()));
  CHECK(early.code == protocol::ErrorCode::access_token_expired);
  CHECK(early.message.find("not valid yet") != std::string::npos);

  // Far-off times saturate instead of overflowing.
  CHECK(ok(verify_access_token(hand_token(kHs256, R"({"sub":"u1","exp":9223372036854775807})"),
                               rules())).user_id == "u1");
  CHECK(refused(verify_access_token(
                    hand_token(kHs256, R"({"sub":"u1","exp":-9223372036854775807})"), rules()))
            .code == protocol::ErrorCode::access_token_expired);
}

TEST_CASE("access token: not a JWT") {
  const std::string token = mint(user());
  const char* bad[] = {"", ".", "..", "...", "a.b", "a.b.c.d", "not a token at all",
                       "eyJhbGciOiJIUzI1NiJ9.e30.", "%%%.%%%.%%%"};
  for (const char* t : bad) {
    CAPTURE(t);
    CHECK(refused(verify_access_token(t, rules())).code ==
          protocol::ErrorCode::invalid_access_token);
  }
  SUBCASE("padding and the standard alphabet are not base64url") {
    const std::size_t first = token.find('.');
    CHECK(refused(verify_access_token(token.substr(0, first) + "=" + token.substr(first), rules()))
              .code == protocol::ErrorCode::invalid_access_token);
    std::string std_alphabet = token;
    for (char& ch : std_alphabet) {
      if (ch == '-') ch = '+';
      if (ch == '_') ch = '/';
    }
    if (std_alphabet != token)
      CHECK(refused(verify_access_token(std_alphabet, rules())).code ==
            protocol::ErrorCode::invalid_access_token);
  }
  SUBCASE("a header that is not JSON, or JSON that is not an object") {
    for (const char* header : {"{", "null", "\"HS256\"", "{\"alg\":\"HS256\"} x"}) {
      CAPTURE(header);
      CHECK(refused(verify_access_token(hand_token(header, R"({"sub":"u","exp":1700003600})"),
                                        rules())).code ==
            protocol::ErrorCode::invalid_access_token);
    }
  }
  SUBCASE("claims that are not a JSON object, correctly signed") {
    for (const char* claims : {"[]", "{", "\"sub\"", "{\"sub\":\"\xff\",\"exp\":1}"}) {
      CAPTURE(claims);
      CHECK(refused(verify_access_token(hand_token(kHs256, claims), rules())).code ==
            protocol::ErrorCode::invalid_access_token);
    }
  }
  SUBCASE("longer than 8 KiB") {
    const std::string big = R"({"sub":"u1","exp":1700003600,"metadata":{"k":")" +
                            std::string(6200, 'x') + R"("}})";
    const std::string token_big = hand_token(kHs256, big);
    REQUIRE(token_big.size() > kMaxAccessTokenBytes);
    auto e = refused(verify_access_token(token_big, rules()));
    CHECK(e.message.find("longer than 8192") != std::string::npos);
  }
  SUBCASE("tokens are off without a secret") {
    auto e = refused(verify_access_token(token, rules(kNowMs, "")));
    CHECK(e.code == protocol::ErrorCode::invalid_access_token);
    CHECK(e.message.find("does not accept access tokens") != std::string::npos);
  }
}

TEST_CASE("access token: the verifier survives every prefix and byte flip of a token") {
  AccessClaims c = user();
  c.roles = {"listener"};
  c.metadata_json = R"({"a":{"b":[1,2,3]}})";
  const std::string token = mint(c);
  for (std::size_t n = 0; n <= token.size(); ++n) (void)verify_access_token(token.substr(0, n), rules());
  int accepted = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    std::string t = token;
    t[i] = static_cast<char>(t[i] ^ 0x01);
    if (std::holds_alternative<AccessClaims>(verify_access_token(t, rules()))) ++accepted;
  }
  CHECK(accepted == 0);
}

TEST_CASE("mint: claims a server would refuse are refused when minting") {
  CHECK_THROWS_AS(sign_access_token("short secret", user(), 60, kNowS), std::invalid_argument);
  CHECK_THROWS_AS(mint(user("")), std::invalid_argument);
  CHECK_THROWS_AS(mint(user(std::string(129, 'u'))), std::invalid_argument);
  AccessClaims bad_role = user();
  bad_role.roles = {"Moderator"};
  CHECK_THROWS_AS(mint(bad_role), std::invalid_argument);
  AccessClaims bad_metadata = user();
  bad_metadata.metadata_json = "[1]";
  CHECK_THROWS_AS(mint(bad_metadata), std::invalid_argument);
  AccessClaims bad_name = user();
  bad_name.name = "a\nb";
  CHECK_THROWS_AS(mint(bad_name), std::invalid_argument);
  CHECK_THROWS_AS(mint(user(), 0), std::invalid_argument);
}

TEST_CASE("mint: the public mint_access_token uses the system clock and a ttl") {
  AccessClaims c = user();
  c.roles = {"moderator"};
  const auto before_s = static_cast<std::int64_t>(std::time(nullptr));
  const std::string token = mint_access_token(kSecret, c, 120);
  const auto now_s = static_cast<std::int64_t>(std::time(nullptr));
  AccessClaims got = ok(verify_access_token(token, rules(now_s * 1000)));
  CHECK(got.expires_s - got.issued_at_s == 120);
  CHECK(got.issued_at_s >= before_s);  // the time when it was minted, however long that took
  CHECK(got.issued_at_s <= now_s);
  CHECK(std::holds_alternative<protocol::Error>(
      verify_access_token(token, rules((now_s + 200) * 1000))));
}

}  // namespace
}  // namespace lobbykit::core
