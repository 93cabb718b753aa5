// The public mint (include/lobbykit/token.hpp) over core::sign_access_token, with the system
// clock.
#include <lobbykit/token.hpp>

#include "core/access_token.hpp"

#include <ctime>

namespace lobbykit {

std::string mint_access_token(const std::string& secret, const AccessClaims& claims,
                              std::int64_t ttl_s) {
  return core::sign_access_token(secret, claims, ttl_s, static_cast<std::int64_t>(std::time(nullptr)));
}

}  // namespace lobbykit
