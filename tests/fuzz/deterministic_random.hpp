// A deterministic RAND_bytes for the fuzz targets that run a Hub (deterministic_random.cpp).
#pragma once

namespace lobbykit::fuzz {
// Restarts the stream: call at the start of every input.
void reset_random();
}  // namespace lobbykit::fuzz
