// Access tokens: HS256 JWTs (RFC 7519 in the compact JWS form of RFC 7515, base64url without
// padding) carrying a host's user. Pure functions with the time passed in; the verifier is
// total: any input gives claims or an error, never a crash.
#pragma once

#include <lobbykit/model.hpp>
#include <lobbykit/token.hpp>

#include "protocol/error_code.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace lobbykit::core {

using lobbykit::AccessClaims;  // the public type (lobbykit/token.hpp) is the core's too

constexpr std::size_t kMaxAccessTokenBytes = 8 * 1024;  // a longer token is refused unread
constexpr std::size_t kMaxUserIdBytes = 128;
constexpr std::size_t kMaxRoleChars = 32;
constexpr std::size_t kMaxRoles = 32;

// What a verification checks besides the signature.
struct TokenRules {
  std::string_view secret;
  TimeMs now_ms = 0;
  std::uint32_t skew_ms = 0;             // Limits::token_skew_ms
  std::size_t max_metadata_bytes = 0;    // Limits::max_metadata_bytes
  std::size_t max_name_chars = 0;        // Limits::max_name_chars
};

// The token's claims (name cleaned by the name rule, roles without repeats, metadata_json
// re-serialized compactly, "" when absent), or an error: access_token_expired when "exp" is
// past or "nbf" ahead by more than the skew; invalid_access_token for everything else (too
// long, not three base64url parts, a header other than {"alg": "HS256"} with an optional
// "typ": "JWT", a wrong signature, claims that are missing or malformed), each with its own
// sentence; with an empty secret every token is invalid_access_token ("this server does not
// accept access tokens"). The signature is checked before the claims are read.
std::variant<AccessClaims, protocol::Error> verify_access_token(std::string_view token,
                                                               const TokenRules& rules);

// Signs claims as an HS256 JWT: issued_at_s 0 becomes now_s, expires_s 0 becomes issued_at_s
// + ttl_s. Throws std::invalid_argument for a short secret or claims verify would refuse
// (the name only for characters a name may never hold: its length is the server's limit).
std::string sign_access_token(std::string_view secret, AccessClaims claims, std::int64_t ttl_s,
                              std::int64_t now_s);

// Whether text is a role: 1..kMaxRoleChars of a-z, 0-9, "_", "-".
bool valid_role(std::string_view text);

}  // namespace lobbykit::core
