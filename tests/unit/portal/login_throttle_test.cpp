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
  EXPECT_FALSE(t.Check("alice", "10.0.0.1").locked);
}

// After 2 x max_failures the address is locked for 15 minutes; every
// further failure there renews the lock.
TEST(LoginThrottle, AddressLocksAfterTwiceTheLimit) {
  FakeClock clock(1'000'000);
  LoginThrottle t(clock, 5);
  for (int i = 0; i < 10; ++i) {
    clock.Advance(std::chrono::seconds(t.RetryAfter("alice", "10.0.0.1")));
    t.RecordFailure("alice", "10.0.0.1");
  }
  auto v = t.Check("alice", "10.0.0.1");
  EXPECT_TRUE(v.locked);
  EXPECT_EQ(v.retry_after, LoginThrottle::kLockSeconds);
  clock.Advance(std::chrono::seconds(LoginThrottle::kLockSeconds));
  EXPECT_EQ(t.RetryAfter("alice", "10.0.0.1"), 0);
  t.RecordFailure("alice", "10.0.0.1");
  EXPECT_EQ(t.RetryAfter("alice", "10.0.0.1"), LoginThrottle::kLockSeconds);
}

// Issue 5: 50 wrong passwords. The 51st guess from that address waits the
// full lock; the account's owner at another address waits at most the
// bounded per-account delay, then gets through.
TEST(LoginThrottle, FiftyFailuresLockTheAddressButNotTheOwner) {
  FakeClock clock(1'000'000);
  LoginThrottle t(clock, 5);
  for (int i = 0; i < 50; ++i) {
    clock.Advance(std::chrono::seconds(t.RetryAfter("alice", "10.6.6.6")));  // a patient attacker
    t.RecordFailure("alice", "10.6.6.6");
  }
  EXPECT_EQ(t.RetryAfter("alice", "10.6.6.6"), LoginThrottle::kLockSeconds);
  EXPECT_TRUE(t.Check("alice", "10.6.6.6").locked);
  EXPECT_EQ(t.RetryAfter("alice", "10.0.0.2"), LoginThrottle::kAccountMaxDelaySeconds);
  EXPECT_FALSE(t.Check("alice", "10.0.0.2").locked);
  clock.Advance(std::chrono::seconds(LoginThrottle::kAccountMaxDelaySeconds));
  EXPECT_EQ(t.RetryAfter("alice", "10.0.0.2"), 0) << "the owner's attempt is checked";
  EXPECT_GT(t.RetryAfter("alice", "10.6.6.6"), 0) << "the attacker is still locked";
  t.RecordSuccess("alice", "10.0.0.2");
  EXPECT_EQ(t.RetryAfter("alice", "10.0.0.2"), 0);
  EXPECT_GT(t.RetryAfter("alice", "10.6.6.6"), 0) << "a success elsewhere does not unlock the attacker";
}

// The per-account delay never exceeds its cap, however many failures.
TEST(LoginThrottle, AccountDelayIsBounded) {
  FakeClock clock(1'000'000);
  LoginThrottle t(clock, 3);
  for (int i = 0; i < 1000; ++i) t.RecordFailure("alice", "10.0.0." + std::to_string(i % 250));
  EXPECT_EQ(t.RetryAfter("alice", "192.0.2.1"), LoginThrottle::kAccountMaxDelaySeconds);
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

// Entries idle for a day are forgotten.
TEST(LoginThrottle, IdleEntriesExpire) {
  FakeClock clock(1'000'000);
  LoginThrottle t(clock, 2);
  for (int i = 0; i < 4; ++i) t.RecordFailure("alice", "10.0.0.1");
  clock.Advance(std::chrono::hours(25));
  t.RecordFailure("bob", "10.0.0.9");  // triggers the pruning
  EXPECT_EQ(t.RetryAfter("alice", "10.0.0.1"), 0);
}

}  // namespace
}  // namespace parley::portal
