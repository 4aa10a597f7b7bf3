#include "agent/backoff.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <string>

namespace parley::agent {

SystemRandom::SystemRandom() : engine_(std::random_device{}()) {}

double SystemRandom::Uniform01() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
}

Seconds Backoff::CurrentCeiling() const {
  // Multiplies up to the cap, never past it, so many failures cannot overflow.
  double ceiling = policy_.base.count();
  for (int i = 0; i < failures_ && ceiling < policy_.cap.count(); ++i) ceiling *= policy_.factor;
  return Seconds(std::min(ceiling, policy_.cap.count()));
}

Seconds Backoff::NextDelay() {
  Seconds ceiling = CurrentCeiling();
  double u = std::clamp(random_.Uniform01(), 0.0, 1.0);
  ++failures_;
  return Seconds(ceiling.count() * u);
}

TimePoint Backoff::NextAttemptAt() {
  return clock_.Now() + std::chrono::duration_cast<TimePoint::duration>(NextDelay());
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value, const Clock& clock) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  int64_t seconds = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && p == value.data() + value.size()) {
    return std::chrono::seconds(std::clamp<int64_t>(seconds, 0, kMaxRetryAfter.count()));
  }
  std::tm tm{};
  std::string text(value);
  const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  int64_t at = ::timegm(&tm);
  int64_t delta = at - clock.NowUnixSeconds();
  return std::chrono::seconds(std::clamp<int64_t>(delta, 0, kMaxRetryAfter.count()));
}

}  // namespace parley::agent
