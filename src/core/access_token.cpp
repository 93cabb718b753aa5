#include "core/access_token.hpp"

#include "core/crypto.hpp"
#include "protocol/envelope.hpp"
#include "protocol/json.hpp"
#include "protocol/messages.hpp"
#include "protocol/names.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>

namespace lobbykit::core {

using protocol::Error;
using protocol::ErrorCode;
using protocol::make_error;

namespace {

constexpr std::size_t kSignatureBytes = 32;  // HMAC-SHA256
constexpr const char* kHeader = R"({"alg":"HS256","typ":"JWT"})";

constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = in.size() - i;
  if (rest > 0) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    if (rest == 2) out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Strict: only the URL-safe alphabet, no padding, and the unused bits of the last character
// zero, so that every byte string has exactly one encoding.
std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = base64url_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len))
    throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(md), len);
}

Error invalid(std::string sentence) {
  return make_error(ErrorCode::invalid_access_token, std::move(sentence));
}

// Unix seconds as milliseconds, saturating far beyond any real time.
TimeMs seconds_to_ms(std::int64_t s) {
  constexpr std::int64_t kLimit = std::numeric_limits<std::int64_t>::max() / 1000;
  return std::clamp(s, -kLimit, kLimit) * 1000;
}

std::string compact_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

const rapidjson::Value* member(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

bool valid_user_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxUserIdBytes && protocol::valid_utf8(id);
}

std::optional<Error> read_header(std::string_view encoded) {
  auto header = base64url_decode(encoded);
  rapidjson::Document doc;
  if (!header || !protocol::valid_utf8(*header) || protocol::parse_object(*header, doc))
    return invalid("The access token's header is not a base64url-encoded JSON object.");
  const auto* alg = member(doc, "alg");
  if (!alg || !alg->IsString())
    return invalid("The access token's header names no algorithm (\"alg\").");
  const std::string_view name(alg->GetString(), alg->GetStringLength());
  if (name == "none")
    return invalid("Unsigned access tokens (\"alg\": \"none\") are refused; sign it with HS256.");
  if (name != "HS256")
    return invalid("The access token's algorithm is not HS256, the only one this server "
                   "accepts.");
  if (const auto* typ = member(doc, "typ")) {
    if (!typ->IsString() || std::string_view(typ->GetString(), typ->GetStringLength()) != "JWT")
      return invalid("The access token's header has a \"typ\" other than \"JWT\".");
  }
  if (member(doc, "crit"))
    return invalid("The access token's header has critical extensions (\"crit\"), which this "
                   "server does not support.");
  return std::nullopt;
}

// An optional integer claim; false when present and not an integer.
bool read_time(const rapidjson::Value& claims, const char* key, std::optional<std::int64_t>& out) {
  const auto* v = member(claims, key);
  if (!v) return true;
  if (!v->IsInt64()) return false;
  out = v->GetInt64();
  return true;
}

std::variant<AccessClaims, Error> read_claims(const rapidjson::Value& doc, const TokenRules& rules) {
  AccessClaims c;
  const auto* sub = member(doc, "sub");
  if (!sub) return invalid("The access token has no user id (\"sub\").");
  if (!sub->IsString() || !valid_user_id({sub->GetString(), sub->GetStringLength()}))
    return invalid("The access token's user id (\"sub\") must be a string of 1 to " +
                   std::to_string(kMaxUserIdBytes) + " bytes.");
  c.user_id.assign(sub->GetString(), sub->GetStringLength());

  std::optional<std::int64_t> exp, nbf, iat;
  if (!member(doc, "exp")) return invalid("The access token has no expiry time (\"exp\").");
  if (!read_time(doc, "exp", exp) || !read_time(doc, "nbf", nbf) || !read_time(doc, "iat", iat))
    return invalid("The access token's \"exp\", \"nbf\" and \"iat\" must be whole numbers of "
                   "seconds.");
  c.expires_s = *exp;
  c.not_before_s = nbf.value_or(0);
  c.issued_at_s = iat.value_or(0);

  if (const auto* name = member(doc, "name")) {
    if (!name->IsString()) return invalid("The access token's \"name\" must be a string.");
    protocol::NameCheck check =
        protocol::check_name({name->GetString(), name->GetStringLength()}, rules.max_name_chars);
    if (!check.problem.empty())
      return invalid("The access token's \"name\" is not a valid display name: " + check.problem);
    c.name = std::move(check.name);
  }
  if (const auto* roles = member(doc, "roles")) {
    if (!roles->IsArray() || roles->Size() > kMaxRoles)
      return invalid("The access token's \"roles\" must be an array of at most " +
                     std::to_string(kMaxRoles) + " roles.");
    for (const auto& r : roles->GetArray()) {
      if (!r.IsString() || !valid_role({r.GetString(), r.GetStringLength()}))
        return invalid("Each of the access token's \"roles\" must be 1 to " +
                       std::to_string(kMaxRoleChars) + " characters of a-z, 0-9, \"_\" and \"-\".");
      std::string role(r.GetString(), r.GetStringLength());
      if (std::find(c.roles.begin(), c.roles.end(), role) == c.roles.end())
        c.roles.push_back(std::move(role));
    }
  }
  if (const auto* metadata = member(doc, "metadata")) {
    if (!metadata->IsObject())
      return invalid("The access token's \"metadata\" must be a JSON object.");
    c.metadata_json = compact_json(*metadata);
    if (c.metadata_json.size() > rules.max_metadata_bytes)
      return invalid("The access token's \"metadata\" is larger than " +
                     std::to_string(rules.max_metadata_bytes) + " bytes of JSON.");
  }
  if (const auto* lobby = member(doc, "lobby")) {
    if (!lobby->IsString() || lobby->GetStringLength() == 0 ||
        lobby->GetStringLength() > protocol::kMaxIdFieldBytes)
      return invalid("The access token's \"lobby\" must be a lobby id (a string of 1 to " +
                     std::to_string(protocol::kMaxIdFieldBytes) + " bytes).");
    c.lobby_id.assign(lobby->GetString(), lobby->GetStringLength());
  }

  const TimeMs skew = rules.skew_ms;
  if (rules.now_ms - skew >= seconds_to_ms(c.expires_s))
    return make_error(ErrorCode::access_token_expired,
                      "The access token has expired; get a new one.");
  if (nbf && seconds_to_ms(*nbf) > rules.now_ms + skew)
    return make_error(ErrorCode::access_token_expired,
                      "The access token is not valid yet (its \"nbf\" is in the future).");
  return c;
}

}  // namespace

bool valid_role(std::string_view text) { return protocol::valid_bot_word(text, kMaxRoleChars); }

std::variant<AccessClaims, Error> verify_access_token(std::string_view token,
                                                      const TokenRules& rules) {
  if (rules.secret.empty()) return invalid("This server does not accept access tokens.");
  if (token.size() > kMaxAccessTokenBytes)
    return invalid("The access token is longer than " + std::to_string(kMaxAccessTokenBytes) +
                   " bytes.");
  const std::size_t first = token.find('.');
  const std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return invalid("The access token is not a JWT: three base64url parts separated by dots.");
  if (auto e = read_header(token.substr(0, first))) return *e;

  auto signature = base64url_decode(token.substr(second + 1));
  if (!signature || signature->size() != kSignatureBytes)
    return invalid("The access token's signature is not a base64url HMAC-SHA256.");
  const std::string expected = hmac_sha256(rules.secret, token.substr(0, second));
  if (!constant_time_equal(*signature, expected))
    return invalid("The access token's signature does not match: it was signed with another "
                   "secret, or changed.");

  auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
  rapidjson::Document doc;
  if (!payload || !protocol::valid_utf8(*payload) || protocol::parse_object(*payload, doc))
    return invalid("The access token's claims are not a base64url-encoded JSON object.");
  return read_claims(doc, rules);
}

std::string sign_access_token(std::string_view secret, AccessClaims c, std::int64_t ttl_s,
                              std::int64_t now_s) {
  if (secret.size() < kMinTokenSecretBytes)
    throw std::invalid_argument("the token secret must be at least " +
                                std::to_string(kMinTokenSecretBytes) + " bytes");
  if (!valid_user_id(c.user_id))
    throw std::invalid_argument("the user id must be 1 to " + std::to_string(kMaxUserIdBytes) +
                                " bytes of UTF-8");
  if (c.roles.size() > kMaxRoles)
    throw std::invalid_argument("at most " + std::to_string(kMaxRoles) + " roles");
  for (const auto& role : c.roles)
    if (!valid_role(role))
      throw std::invalid_argument("the role '" + role + "' is not 1 to " +
                                  std::to_string(kMaxRoleChars) +
                                  " characters of a-z, 0-9, '_' and '-'");
  if (!c.name.empty()) {
    // A server limits the length (Limits::max_name_chars); the characters are the rule's.
    protocol::NameCheck check = protocol::check_name(c.name, c.name.size());
    if (!check.problem.empty())
      throw std::invalid_argument("the name cannot be a display name: " + check.problem);
  }
  rapidjson::Document metadata;
  if (!c.metadata_json.empty() && protocol::parse_object(c.metadata_json, metadata))
    throw std::invalid_argument("the metadata must be a JSON object");
  if (c.lobby_id.size() > protocol::kMaxIdFieldBytes || !protocol::valid_utf8(c.lobby_id))
    throw std::invalid_argument("the lobby id must be at most " +
                                std::to_string(protocol::kMaxIdFieldBytes) + " bytes");
  if (c.issued_at_s == 0) c.issued_at_s = now_s;
  if (c.expires_s == 0) {
    if (ttl_s < 1) throw std::invalid_argument("the time to live must be at least 1 second");
    c.expires_s = c.issued_at_s + ttl_s;
  }

  protocol::JsonBuilder b;
  b.begin_object().str("sub", c.user_id);
  if (!c.name.empty()) b.str("name", c.name);
  if (!c.roles.empty()) {
    b.begin_array("roles");
    for (const auto& role : c.roles) b.value(role);
    b.end_array();
  }
  if (!c.metadata_json.empty()) b.raw("metadata", compact_json(metadata));
  if (!c.lobby_id.empty()) b.str("lobby", c.lobby_id);
  b.num("iat", c.issued_at_s);
  if (c.not_before_s != 0) b.num("nbf", c.not_before_s);
  b.num("exp", c.expires_s).end_object();

  std::string token = base64url_encode(kHeader) + "." + base64url_encode(b.view());
  const std::string signature = hmac_sha256(secret, token);
  return token + "." + base64url_encode(signature);
}

}  // namespace lobbykit::core
