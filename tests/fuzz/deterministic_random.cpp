// For the fuzz targets that run a Hub: OpenSSL's RAND_bytes, which core::random_hex (tokens,
// peer ids, lobby ids) and the password salt call, replaced by a fixed stream that each input
// restarts. An input then replays exactly the same run (a crash reproduces; unordered maps
// keyed by peer id iterate the same way), and the ids are stable from input to input, so the
// fuzzer can learn them from comparisons. The program's own definition takes precedence over
// libcrypto's for the calls from lobbykit_core, which is linked into the program.
#include "deterministic_random.hpp"

#include <openssl/rand.h>

#include <cstdint>

namespace {
std::uint64_t state = 0;
}  // namespace

namespace lobbykit::fuzz {
void reset_random() { state = 0x5eed; }
}  // namespace lobbykit::fuzz

extern "C" int RAND_bytes(unsigned char* buf, int num) {
  for (int i = 0; i < num; ++i) {
    // splitmix64, one byte per step: plenty for ids that only need to differ.
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    buf[i] = static_cast<unsigned char>(z ^ (z >> 31));
  }
  return 1;
}
