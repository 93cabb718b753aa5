// Clock: the only source of time for the core. The server injects the system clock, unit
// tests a ManualClock they move by hand.
//
// Two readings, for two purposes:
// - now_ms(), the wall clock: timestamps that are shown, stored or compared across a restart
//   (chat times, creation times, a session's last_seen_ms, access tokens).
// - steady_ms(), the monotonic clock: every timer, deadline and rate bucket that lives only
//   as long as the process. Only differences between two readings mean anything. A step of
//   the wall clock (an administrator, or time synchronisation stepping instead of slewing)
//   does not move it, so it neither holds the timers up nor makes them all due at once.
#pragma once

#include <lobbykit/model.hpp>

#include <chrono>

namespace lobbykit::core {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeMs now_ms() const = 0;     // wall-clock milliseconds since the Unix epoch
  virtual TimeMs steady_ms() const = 0;  // monotonic milliseconds since an arbitrary start
};

class SystemClock final : public Clock {
 public:
  TimeMs now_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
  TimeMs steady_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimeMs start = 1'700'000'000'000) : now_(start) {}
  TimeMs now_ms() const override { return now_; }
  TimeMs steady_ms() const override { return steady_; }
  // Time passes: both clocks move.
  void advance(TimeMs ms) {
    now_ += ms;
    steady_ += ms;
  }
  // The wall clock is set, forward or back; the monotonic clock does not move.
  void step_wall(TimeMs ms) { now_ += ms; }

 private:
  TimeMs now_;
  TimeMs steady_ = 1'000'000;
};

}  // namespace lobbykit::core
