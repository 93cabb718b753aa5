// Randomness and hashing for identities. Tokens and ids come from OpenSSL's CSPRNG.
#pragma once

#include <string>
#include <string_view>

namespace lobbykit::core {

// n random bytes from the CSPRNG, hex-encoded (2n characters). Throws if the CSPRNG fails.
std::string random_hex(std::size_t n_bytes);
// Hex SHA-256 of data; used to store session tokens (already 128+ random bits) hashed.
std::string sha256_hex(std::string_view data);
// Comparison whose time does not depend on where a and b differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace lobbykit::core
