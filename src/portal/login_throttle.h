// Sign-in throttling, per account and per source address. After
// `max_failures` failures, each further attempt must wait an exponentially
// growing delay (2^(n - max) s, capped at 15 min) or get 429. A success clears
// the account's and the address's counters. Throttling by account alone would
// let anyone lock a user out; by address alone would let a botnet guess, so
// both apply. In memory: a restart forgets (documented in docs/security.md).
// Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"

namespace parley::portal {

class LoginThrottle {
 public:
  LoginThrottle(const Clock& clock, int64_t max_failures) : clock_(clock), max_failures_(max_failures) {}

  // Seconds the caller must wait before this attempt may be checked (0 = go).
  int64_t RetryAfter(const std::string& account_key, const std::string& address);
  void RecordFailure(const std::string& account_key, const std::string& address);
  void RecordSuccess(const std::string& account_key, const std::string& address);

  static constexpr int64_t kMaxDelaySeconds = 15 * 60;

 private:
  struct Entry {
    int64_t failures = 0;
    int64_t last_failure = 0;
  };
  int64_t Wait(const Entry& e, int64_t now) const;
  void Prune(int64_t now);

  const Clock& clock_;
  int64_t max_failures_;
  std::mutex mu_;
  std::map<std::string, Entry> accounts_;   // guarded by mu_
  std::map<std::string, Entry> addresses_;  // guarded by mu_
};

}  // namespace parley::portal
