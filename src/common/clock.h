// Clock: the one source of "now". Components take a Clock& so tests can use a
// FakeClock (tests/support/fake_clock.h) and never sleep. Implementations are
// thread-safe. The clock outlives every component it is given to.
#pragma once

#include <chrono>
#include <cstdint>

namespace parley {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  int64_t NowUnixSeconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(Now().time_since_epoch()).count();
  }
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  static SystemClock& Instance();
};

}  // namespace parley
