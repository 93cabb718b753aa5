// Argon2id password hashing. Slow on purpose: call only from a worker thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace lobbykit::core {

struct PasswordCost {
  std::uint32_t memory_kib;
  std::uint32_t iterations;
};

// Returns the encoded hash ($argon2id$v=19$m=...,t=...,p=1$salt$hash) with a fresh salt.
std::string hash_password(std::string_view password, PasswordCost cost);
// True when password matches the encoded hash; false for a wrong password or a bad hash.
bool verify_password(std::string_view password, const std::string& encoded);

}  // namespace lobbykit::core
