#include "portal/login_throttle.h"

#include <algorithm>

namespace parley::portal {

namespace {

// 2^(failures - max) seconds, capped (the exponent too, so it never overflows).
int64_t Exponential(int64_t failures, int64_t max_failures, int64_t cap) {
  if (failures < max_failures) return 0;
  int64_t exponent = std::min<int64_t>(failures - max_failures, 30);
  return std::min<int64_t>(int64_t{1} << exponent, cap);
}

}  // namespace

int64_t LoginThrottle::AddressWait(const Entry& e, int64_t now) const {
  int64_t delay = e.failures >= 2 * max_failures_ ? kLockSeconds : Exponential(e.failures, max_failures_, kLockSeconds);
  return std::max<int64_t>(0, e.last_failure + delay - now);
}

int64_t LoginThrottle::AccountWait(const Entry& e, int64_t now) const {
  int64_t delay = Exponential(e.failures, max_failures_, kAccountMaxDelaySeconds);
  return std::max<int64_t>(0, e.last_failure + delay - now);
}

LoginThrottle::Verdict LoginThrottle::Check(const std::string& account_key, const std::string& address) {
  std::lock_guard lock(mu_);
  int64_t now = clock_.NowUnixSeconds();
  Verdict v;
  if (auto it = addresses_.find(address); it != addresses_.end()) {
    v.retry_after = AddressWait(it->second, now);
    v.locked = v.retry_after > 0 && it->second.failures >= 2 * max_failures_;
  }
  if (auto it = accounts_.find(account_key); it != accounts_.end())
    v.retry_after = std::max(v.retry_after, AccountWait(it->second, now));
  return v;
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
  // Forget entries idle for a day so the maps stay bounded; at most once a
  // minute, so a stream of failures does not rescan the maps each time.
  constexpr int64_t kForgetAfter = 24 * 3600;
  if (now - last_prune_ < 60) return;
  last_prune_ = now;
  for (auto* m : {&accounts_, &addresses_})
    std::erase_if(*m, [&](const auto& kv) { return now - kv.second.last_failure > kForgetAfter; });
}

}  // namespace parley::portal
