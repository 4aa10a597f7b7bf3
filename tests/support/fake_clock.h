// A Clock that stands still until the test advances it, so expiry, backoff
// and load curves are tested without sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "common/clock.h"

namespace parley::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t unix_seconds) : now_s_(unix_seconds) {}
  TimePoint Now() const override { return TimePoint(std::chrono::seconds(now_s_.load())); }
  void Advance(std::chrono::seconds by) { now_s_ += by.count(); }
  void Set(int64_t unix_seconds) { now_s_ = unix_seconds; }

 private:
  std::atomic<int64_t> now_s_;
};

}  // namespace parley::testing
