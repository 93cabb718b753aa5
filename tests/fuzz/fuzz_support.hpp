// What the fuzz targets share: FUZZ_CHECK for invariants, and Input, which turns the
// fuzzer's bytes into choices, numbers and strings. Plain C++: a target builds as a libFuzzer
// binary (clang) and as a replay program (replay_main.cpp, any compiler).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace lobbykit::fuzz {

[[noreturn]] inline void check_failed(const char* file, int line, const char* expr,
                                      std::string_view detail) {
  std::fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, expr);
  if (!detail.empty())
    std::fprintf(stderr, "  %.*s\n", static_cast<int>(std::min<std::size_t>(detail.size(), 4096)),
                 detail.data());
  std::abort();  // libFuzzer reports the input as a crash and saves it
}

// The input as a stream of decisions. Reading past the end gives zeros and empty strings,
// so every input is a complete, valid run.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size)
      : p_(reinterpret_cast<const char*>(data)), n_(size) {}

  bool empty() const { return n_ == 0; }
  std::size_t left() const { return n_; }

  std::uint8_t byte() {
    if (n_ == 0) return 0;
    --n_;
    return static_cast<std::uint8_t>(*p_++);
  }
  bool flag() { return byte() & 1; }
  // A number below `bound` (bound > 0) from one or two bytes.
  std::size_t below(std::size_t bound) {
    std::size_t v = byte();
    if (bound > 256) v = (v << 8) | byte();
    return v % bound;
  }
  template <typename T, std::size_t N>
  const T& pick(const T (&table)[N]) {
    return table[below(N)];
  }
  // Up to n bytes (fewer at the end of the input).
  std::string_view bytes(std::size_t n) {
    if (n > n_) n = n_;
    std::string_view s(p_, n);
    p_ += n;
    n_ -= n;
    return s;
  }
  // A length-prefixed string: one length byte below 0x80, or two bytes (15 bits) above.
  std::string_view text() {
    std::size_t len = byte();
    if (len & 0x80) len = ((len & 0x7F) << 8) | byte();
    return bytes(len);
  }
  std::string_view rest() { return bytes(n_); }

 private:
  const char* p_;
  std::size_t n_;
};

}  // namespace lobbykit::fuzz

#define FUZZ_CHECK(cond, detail)                                                   \
  do {                                                                             \
    if (!(cond)) ::lobbykit::fuzz::check_failed(__FILE__, __LINE__, #cond, detail); \
  } while (0)
