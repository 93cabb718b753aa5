// Signed access tokens (docs/embedding.md, "Access tokens and roles"): a host's backend mints
// one for a user with the server's secret; the client hands it to the server in `auth`, and
// the session it makes carries the user's id, display name, roles and metadata.
#pragma once

#include <lobbykit/export.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lobbykit {

// The shortest secret a server accepts (ServerOptions::token_secret) and a mint signs with:
// 256 bits, the size of an HMAC-SHA256 key that brute force cannot reach.
constexpr std::size_t kMinTokenSecretBytes = 32;

// What a token says about its user. The JSON claim names are in quotes.
struct AccessClaims {
  std::string user_id;             // "sub": the host's stable user id, 1..128 bytes (required)
  std::string name;                // "name": the session's display name; "" none
  std::vector<std::string> roles;  // "roles": each 1..32 characters of a-z, 0-9, "_", "-"
  std::string metadata_json;       // "metadata": "" or a JSON object
  std::string lobby_id;            // "lobby": the only lobby the session may join; "" any
  std::int64_t expires_s = 0;      // "exp", Unix seconds; minting with 0: issued_at + ttl
  std::int64_t not_before_s = 0;   // "nbf", Unix seconds; 0: none
  std::int64_t issued_at_s = 0;    // "iat", Unix seconds; minting with 0: now
};

// An HS256 JWT (compact JWS) for `claims`, signed with `secret`, valid for ttl_s seconds from
// now unless claims.expires_s is set. Throws std::invalid_argument when the secret is shorter
// than kMinTokenSecretBytes or a claim would be refused by a server (an empty or too long
// user id, a role of other characters, metadata that is not a JSON object, a name that can
// never be a display name, ttl_s below 1). Safe from any thread.
LOBBYKIT_API std::string mint_access_token(const std::string& secret,
                                           const AccessClaims& claims,
                                           std::int64_t ttl_s = 3600);

}  // namespace lobbykit
