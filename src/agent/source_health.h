// HealthTracker: the ok / degraded / failing state a collector reports in the
// heartbeat (docs/agent.md "Source health"), kept apart from call quality: a
// source that cannot see its device is `failing`, never "calls look fine".
//
//   Failing(e)  the last attempt collected nothing (device unreachable, HTTP
//               error, malformed answer, unreadable file or directory).
//   Degraded(e) the last attempt worked but some input was skipped (a row or
//               file that could not be mapped, a CMR file that could not be
//               read). Stays reported for kDegradedHold after the last such
//               problem, so a heartbeat every 30 s does not miss it.
//   Ok()        the attempt worked; clears failing at once and degraded once
//               the hold has passed.
// last_error is a short description for operators: callers pass file names,
// HTTP statuses and counts — never personal data (numbers, names, addresses)
// or response bodies. Longer texts are cut to kMaxErrorLength.
//
// Thread-safe (the heartbeat thread reads while the collector writes).
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "agent/collector.h"
#include "common/clock.h"

namespace parley::agent {

class HealthTracker {
 public:
  static constexpr std::chrono::minutes kDegradedHold{10};
  static constexpr size_t kMaxErrorLength = 200;

  explicit HealthTracker(const Clock& clock) : clock_(clock) {}

  void Failing(std::string error) {
    std::lock_guard<std::mutex> lock(mu_);
    health_.status = SourceStatus::kFailing;
    health_.last_error = Cut(std::move(error));
  }

  void Degraded(std::string error) {
    std::lock_guard<std::mutex> lock(mu_);
    health_.status = SourceStatus::kDegraded;
    health_.last_error = Cut(std::move(error));
    degraded_error_ = *health_.last_error;
    degraded_at_ = clock_.Now();
  }

  void Ok() {
    std::lock_guard<std::mutex> lock(mu_);
    if (health_.status == SourceStatus::kDegraded && degraded_at_ &&
        clock_.Now() - *degraded_at_ < kDegradedHold)
      return;
    if (health_.status == SourceStatus::kFailing && degraded_at_ &&
        clock_.Now() - *degraded_at_ < kDegradedHold) {
      // Recovered from failing, but a recent degradation is still worth showing.
      health_.status = SourceStatus::kDegraded;
      health_.last_error = degraded_error_;
      return;
    }
    health_ = SourceHealth{};
  }

  SourceHealth Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return health_;
  }

 private:
  static std::string Cut(std::string s) {
    if (s.size() > kMaxErrorLength) {
      s.resize(kMaxErrorLength - 3);
      s += "...";
    }
    return s;
  }

  const Clock& clock_;
  mutable std::mutex mu_;
  SourceHealth health_;                        // guarded by mu_
  std::optional<TimePoint> degraded_at_;       // guarded by mu_
  std::string degraded_error_;                 // guarded by mu_: the last Degraded() error
};

}  // namespace parley::agent
