// Sign-in throttling, per source address and per account (docs/security.md,
// "Sign-in throttling"). Wrong passwords and wrong second-factor codes count
// as failures; an attempt that is throttled is refused before anything is
// checked, so it neither tests a guess nor counts.
//
//  * Per address (every account tried from it): after `max_failures`
//    failures each further attempt waits 2^(n - max) s; after
//    2 x `max_failures` the address is locked for kLockSeconds (15 min) from
//    its last failure. One address gets one guess per lock period.
//  * Per account (from every address): the same exponential delay, but
//    capped at kAccountMaxDelaySeconds (5 min) and never a lock. This bounds
//    guessing from many addresses (a botnet) while the owner, signing in
//    from another address, waits at most that long — an attacker cannot
//    lock a user out.
//
// A success clears the account's and the address's counters. In memory: a
// restart forgets, and each server of a scaled-out deployment counts alone
// (documented). Entries idle for a day are dropped. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"

namespace parley::portal {

class LoginThrottle {
 public:
  LoginThrottle(const Clock& clock, int64_t max_failures) : clock_(clock), max_failures_(max_failures) {}

  struct Verdict {
    int64_t retry_after = 0;  // seconds to wait before the attempt may be checked; 0 = go
    bool locked = false;      // the address is in its temporary lock
  };
  Verdict Check(const std::string& account_key, const std::string& address);
  // Seconds to wait (Check().retry_after).
  int64_t RetryAfter(const std::string& account_key, const std::string& address) {
    return Check(account_key, address).retry_after;
  }
  void RecordFailure(const std::string& account_key, const std::string& address);
  void RecordSuccess(const std::string& account_key, const std::string& address);

  static constexpr int64_t kLockSeconds = 15 * 60;
  static constexpr int64_t kAccountMaxDelaySeconds = 5 * 60;

 private:
  struct Entry {
    int64_t failures = 0;
    int64_t last_failure = 0;
  };
  int64_t AddressWait(const Entry& e, int64_t now) const;
  int64_t AccountWait(const Entry& e, int64_t now) const;
  void Prune(int64_t now);

  const Clock& clock_;
  const int64_t max_failures_;
  std::mutex mu_;
  std::map<std::string, Entry> accounts_;   // guarded by mu_
  std::map<std::string, Entry> addresses_;  // guarded by mu_
  int64_t last_prune_ = 0;                  // guarded by mu_
};

}  // namespace parley::portal
