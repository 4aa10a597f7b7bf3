// Retry timing for the agent: exponential backoff with full jitter, and the
// server's Retry-After header.
//
// Backoff is not thread-safe (one per retrying loop). The Random and Clock it
// is given must outlive it; tests inject fakes so the sequence is exact.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>

#include "common/clock.h"

namespace parley::agent {

using Seconds = std::chrono::duration<double>;

// Source of uniform randomness in [0, 1).
class Random {
 public:
  virtual ~Random() = default;
  virtual double Uniform01() = 0;
};

// A seeded Mersenne twister; jitter needs spread, not secrecy. Thread-safe.
class SystemRandom final : public Random {
 public:
  SystemRandom();
  double Uniform01() override;

 private:
  std::mutex mu_;
  std::mt19937_64 engine_;
};

struct BackoffPolicy {
  Seconds base{1.0};
  double factor = 2.0;
  Seconds cap{60.0};
};

// "Full jitter" (AWS architecture blog): the n-th consecutive failure waits
// uniform(0, min(cap, base * factor^n)), n counting from 0. Reset() after a
// success starts over.
class Backoff {
 public:
  Backoff(BackoffPolicy policy, Random& random, const Clock& clock)
      : policy_(policy), random_(random), clock_(clock) {}

  // The ceiling the next delay is drawn under (no jitter); grows
  // exponentially, never above the cap.
  Seconds CurrentCeiling() const;
  // Draws the next delay and counts one more failure.
  Seconds NextDelay();
  // Now + NextDelay(), on the injected clock.
  TimePoint NextAttemptAt();
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  BackoffPolicy policy_;
  Random& random_;
  const Clock& clock_;
  int failures_ = 0;
};

// Parses a Retry-After value: delta-seconds ("120") or an IMF-fixdate
// ("Wed, 21 Oct 2026 07:28:00 GMT", taken relative to clock.Now()). Result is
// clamped to [0, kMaxRetryAfter]; nullopt if the value is neither form.
inline constexpr std::chrono::seconds kMaxRetryAfter{3600};
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value, const Clock& clock);

}  // namespace parley::agent
