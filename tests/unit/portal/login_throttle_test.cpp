#include "portal/login_throttle.h"

#include <gtest/gtest.h>

#include "support/fake_clock.h"

namespace parley::portal {
namespace {

using parley::testing::FakeClock;

// Below the failure limit nothing waits; past it, the delay doubles.
TEST(LoginThrottle, DelayGrowsExponentiallyAfterTheLimit) {
  FakeClock clock(1'000'000);
  LoginThrottle t(clock, 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(t.RetryAfter("alice", "10.0.0.1"), 0);
    t.RecordFailure("alice", "10.0.0.1");
  }
  EXPECT_EQ(t.RetryAfter("alice", "10.0.0.1"), 1);
  clock.Advance(std::chrono::seconds(1));
  t.RecordFailure("alice", "10.0.0.1");
  EXPECT_EQ(t.RetryAfter("alice", "10.0.0.1"), 2);
  clock.Advance(std::chrono::seconds(2));
  t.RecordFailure("alice", "10.0.0.1");
  EXPECT_EQ(t.RetryAfter("alice", "10.0.0.1"), 4);
}

// 50 wrong passwords: the 51st guess waits the capped maximum, never forever.
TEST(LoginThrottle, FiftyFailuresCapTheDelay) {
  FakeClock clock(1'000'000);
  LoginThrottle t(clock, 5);
  for (int i = 0; i < 50; ++i) t.RecordFailure("alice", "10.0.0.1");
  EXPECT_EQ(t.RetryAfter("alice", "10.0.0.1"), LoginThrottle::kMaxDelaySeconds);
  clock.Advance(std::chrono::seconds(LoginThrottle::kMaxDelaySeconds));
  EXPECT_EQ(t.RetryAfter("alice", "10.0.0.1"), 0);
}

// An attacker's address is throttled for every account it tries.
TEST(LoginThrottle, AddressIsThrottledAcrossAccounts) {
  FakeClock clock(1'000'000);
  LoginThrottle t(clock, 3);
  for (int i = 0; i < 3; ++i) t.RecordFailure("user" + std::to_string(i), "10.6.6.6");
  EXPECT_GT(t.RetryAfter("someone-else", "10.6.6.6"), 0);
  EXPECT_EQ(t.RetryAfter("someone-else", "10.0.0.2"), 0);
}

// Success clears the counters of that account and address.
TEST(LoginThrottle, SuccessClears) {
  FakeClock clock(1'000'000);
  LoginThrottle t(clock, 2);
  t.RecordFailure("alice", "10.0.0.1");
  t.RecordFailure("alice", "10.0.0.1");
  clock.Advance(std::chrono::seconds(1));
  t.RecordSuccess("alice", "10.0.0.1");
  t.RecordFailure("alice", "10.0.0.1");
  EXPECT_EQ(t.RetryAfter("alice", "10.0.0.1"), 0);
}

}  // namespace
}  // namespace parley::portal
