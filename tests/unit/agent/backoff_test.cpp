// Backoff: full jitter under an exponentially growing, capped ceiling, with
// injected randomness and clock; Retry-After parsing.
#include <gtest/gtest.h>

#include <vector>

#include "agent/backoff.h"

namespace parley::agent {
namespace {

class FixedRandom final : public Random {
 public:
  explicit FixedRandom(std::vector<double> values) : values_(std::move(values)) {}
  double Uniform01() override {
    double v = values_[i_ % values_.size()];
    ++i_;
    return v;
  }

 private:
  std::vector<double> values_;
  size_t i_ = 0;
};

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override { return now_; }
  TimePoint now_ = TimePoint(std::chrono::seconds(1'800'000'000));
};

// With u close to 1 the delays trace the ceiling: 1, 2, 4, ... then the cap.
TEST(Backoff, GrowsExponentiallyUpToCap) {
  FixedRandom random({0.999999});
  FakeClock clock;
  Backoff b(BackoffPolicy{Seconds(1), 2.0, Seconds(60)}, random, clock);
  const double expected_ceilings[] = {1, 2, 4, 8, 16, 32, 60, 60, 60};
  for (double ceiling : expected_ceilings) {
    EXPECT_DOUBLE_EQ(b.CurrentCeiling().count(), ceiling);
    Seconds d = b.NextDelay();
    EXPECT_NEAR(d.count(), ceiling * 0.999999, 1e-9);
  }
  EXPECT_EQ(b.failures(), 9);
}

// Full jitter: every delay is uniform(0, ceiling) — the injected draw times
// the ceiling — and never exceeds the cap, even after many failures.
TEST(Backoff, JitterIsBoundedByCeilingAndCap) {
  FixedRandom random({0.0, 0.5, 0.25, 0.75});
  FakeClock clock;
  Backoff b(BackoffPolicy{Seconds(1), 2.0, Seconds(10)}, random, clock);
  EXPECT_DOUBLE_EQ(b.NextDelay().count(), 0.0);   // ceiling 1
  EXPECT_DOUBLE_EQ(b.NextDelay().count(), 1.0);   // ceiling 2
  EXPECT_DOUBLE_EQ(b.NextDelay().count(), 1.0);   // ceiling 4
  EXPECT_DOUBLE_EQ(b.NextDelay().count(), 6.0);   // ceiling 8
  for (int i = 0; i < 2000; ++i) {
    Seconds d = b.NextDelay();
    EXPECT_GE(d.count(), 0.0);
    EXPECT_LE(d.count(), 10.0);
  }
  EXPECT_DOUBLE_EQ(b.CurrentCeiling().count(), 10.0);
}

// Reset after a success starts the sequence over.
TEST(Backoff, ResetStartsOver) {
  FixedRandom random({0.5});
  FakeClock clock;
  Backoff b(BackoffPolicy{}, random, clock);
  b.NextDelay();
  b.NextDelay();
  b.NextDelay();
  EXPECT_DOUBLE_EQ(b.CurrentCeiling().count(), 8.0);
  b.Reset();
  EXPECT_DOUBLE_EQ(b.CurrentCeiling().count(), 1.0);
  EXPECT_DOUBLE_EQ(b.NextDelay().count(), 0.5);
}

// NextAttemptAt is measured on the injected clock.
TEST(Backoff, NextAttemptAtUsesInjectedClock) {
  FixedRandom random({0.5});
  FakeClock clock;
  Backoff b(BackoffPolicy{Seconds(4), 2.0, Seconds(60)}, random, clock);
  EXPECT_EQ(b.NextAttemptAt(), clock.now_ + std::chrono::seconds(2));
  clock.now_ += std::chrono::hours(1);
  EXPECT_EQ(b.NextAttemptAt(), clock.now_ + std::chrono::seconds(4));
}

// The real generator stays in [0, 1).
TEST(Backoff, SystemRandomInUnitInterval) {
  SystemRandom r;
  for (int i = 0; i < 1000; ++i) {
    double u = r.Uniform01();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

// Retry-After: delta-seconds, HTTP-date relative to the clock, clamped, junk refused.
TEST(RetryAfter, ParsesSecondsAndHttpDate) {
  FakeClock clock;
  clock.now_ = TimePoint(std::chrono::seconds(1'793'000'000));  // 2026-10-26T07:33:20Z
  EXPECT_EQ(ParseRetryAfter("120", clock), std::chrono::seconds(120));
  EXPECT_EQ(ParseRetryAfter(" 5 ", clock), std::chrono::seconds(5));
  EXPECT_EQ(ParseRetryAfter("999999", clock), kMaxRetryAfter);
  EXPECT_EQ(ParseRetryAfter("Mon, 26 Oct 2026 07:34:20 GMT", clock), std::chrono::seconds(60));
  EXPECT_EQ(ParseRetryAfter("Mon, 26 Oct 2026 07:00:00 GMT", clock), std::chrono::seconds(0));
  EXPECT_FALSE(ParseRetryAfter("", clock).has_value());
  EXPECT_FALSE(ParseRetryAfter("soon", clock).has_value());
  EXPECT_FALSE(ParseRetryAfter("-3", clock).has_value() && ParseRetryAfter("-3", clock)->count() < 0);
}

}  // namespace
}  // namespace parley::agent
