#include "core/password.hpp"

#include <argon2.h>
#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace lobbykit::core {

std::string hash_password(std::string_view password, PasswordCost cost) {
  constexpr std::size_t kSaltBytes = 16, kHashBytes = 32;
  unsigned char salt[kSaltBytes];
  if (RAND_bytes(salt, sizeof salt) != 1)
    throw std::runtime_error("the system random number generator failed");
  const std::uint32_t parallelism = 1;
  std::size_t len = argon2_encodedlen(cost.iterations, cost.memory_kib, parallelism,
                                      kSaltBytes, kHashBytes, Argon2_id);
  std::vector<char> encoded(len);
  int rc = argon2id_hash_encoded(cost.iterations, cost.memory_kib, parallelism,
                                 password.data(), password.size(), salt, kSaltBytes,
                                 kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) throw std::runtime_error(argon2_error_message(rc));
  return std::string(encoded.data());
}

bool verify_password(std::string_view password, const std::string& encoded) {
  return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace lobbykit::core
