#include "portal/login_throttle.h"

#include <algorithm>

namespace parley::portal {

int64_t LoginThrottle::Wait(const Entry& e, int64_t now) const {
  if (e.failures < max_failures_) return 0;
  int64_t exponent = std::min<int64_t>(e.failures - max_failures_, 20);
  int64_t delay = std::min<int64_t>(int64_t{1} << exponent, kMaxDelaySeconds);
  return std::max<int64_t>(0, e.last_failure + delay - now);
}

int64_t LoginThrottle::RetryAfter(const std::string& account_key, const std::string& address) {
  std::lock_guard lock(mu_);
  int64_t now = clock_.NowUnixSeconds();
  int64_t wait = 0;
  if (auto it = accounts_.find(account_key); it != accounts_.end()) wait = std::max(wait, Wait(it->second, now));
  if (auto it = addresses_.find(address); it != addresses_.end()) wait = std::max(wait, Wait(it->second, now));
  return wait;
}

void LoginThrottle::RecordFailure(const std::string& account_key, const std::string& address) {
  std::lock_guard lock(mu_);
  int64_t now = clock_.NowUnixSeconds();
  Prune(now);
  for (auto* e : {&accounts_[account_key], &addresses_[address]}) {
    ++e->failures;
    e->last_failure = now;
  }
}

void LoginThrottle::RecordSuccess(const std::string& account_key, const std::string& address) {
  std::lock_guard lock(mu_);
  accounts_.erase(account_key);
  addresses_.erase(address);
}

void LoginThrottle::Prune(int64_t now) {
  // Forget entries idle for a day so the maps stay bounded.
  constexpr int64_t kForgetAfter = 24 * 3600;
  for (auto* m : {&accounts_, &addresses_})
    std::erase_if(*m, [&](const auto& kv) { return now - kv.second.last_failure > kForgetAfter; });
}

}  // namespace parley::portal
