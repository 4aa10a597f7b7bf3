// A sliding-window request limit: at most `max` requests per key within
// `window` seconds. Used for the routes that send mail (registration and
// password reset), per source address and per e-mail address, so they
// cannot be used to flood an inbox or to make the server send bulk mail.
// Unlike LoginThrottle it counts every request, not failures: there is no
// "success" that would clear it. In memory; a restart forgets.
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"

namespace parley::portal {

class RequestLimit {
 public:
  RequestLimit(const Clock& clock, int64_t max, int64_t window_seconds)
      : clock_(clock), max_(max), window_(window_seconds) {}

  // Counts one request for `key` and returns 0; or, when the key has used
  // its budget, counts nothing and returns the seconds until it may retry.
  int64_t Take(const std::string& key);

 private:
  void Prune(int64_t now);

  const Clock& clock_;
  const int64_t max_;
  const int64_t window_;
  std::mutex mu_;
  std::map<std::string, std::deque<int64_t>> seen_;  // guarded by mu_; request times per key
  int64_t last_prune_ = 0;                           // guarded by mu_
};

}  // namespace parley::portal
