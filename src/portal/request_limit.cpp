#include "portal/request_limit.h"

#include <algorithm>

namespace parley::portal {

int64_t RequestLimit::Take(const std::string& key) {
  std::lock_guard lock(mu_);
  const int64_t now = clock_.NowUnixSeconds();
  if (now - last_prune_ >= window_) Prune(now);
  auto& times = seen_[key];
  while (!times.empty() && times.front() <= now - window_) times.pop_front();
  if (static_cast<int64_t>(times.size()) >= max_) return std::max<int64_t>(1, times.front() + window_ - now);
  times.push_back(now);
  return 0;
}

void RequestLimit::Prune(int64_t now) {
  // Keys with no request inside the window go, so the map stays bounded.
  std::erase_if(seen_, [&](const auto& kv) { return kv.second.empty() || kv.second.back() <= now - window_; });
  last_prune_ = now;
}

}  // namespace parley::portal
