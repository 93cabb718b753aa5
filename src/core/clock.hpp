// Clock: the only source of time for the core. The server injects the system clock, unit
// tests a ManualClock they move by hand.
#pragma once

#include <lobbykit/model.hpp>

#include <chrono>

namespace lobbykit::core {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeMs now_ms() const = 0;  // wall-clock milliseconds since the Unix epoch
};

class SystemClock final : public Clock {
 public:
  TimeMs now_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimeMs start = 1'700'000'000'000) : now_(start) {}
  TimeMs now_ms() const override { return now_; }
  void advance(TimeMs ms) { now_ += ms; }

 private:
  TimeMs now_;
};

}  // namespace lobbykit::core
