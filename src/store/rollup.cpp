// Rollup arithmetic shared by every backend: the quantile sketch, the
// aggregates, and what one call or participant adds
// (docs/formats/storage.md, "Rollups").
#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <set>
#include <vector>

#include "store/detail/rollup_delta.h"
#include "store/store.h"

namespace parley::store {

namespace {

// Bucket i >= 1 holds [kGamma^(i-1), kGamma^i); bucket 0 holds [0, 1).
constexpr double kGamma = 1.1;
const double kLogGamma = std::log(kGamma);

int BucketOf(double v) {
  if (!(v >= 1.0)) return 0;  // also NaN
  v = std::min(v, QuantileSketch::kMaxValue);
  return 1 + static_cast<int>(std::floor(std::log(v) / kLogGamma));
}

double BucketMidpoint(int i) {
  if (i == 0) return 0.5;
  double lo = std::pow(kGamma, i - 1);
  return lo * (1.0 + kGamma) / 2.0;
}

}  // namespace

void QuantileSketch::Add(double value, int64_t count) {
  if (count <= 0) return;
  const int i = BucketOf(value);
  auto it = std::lower_bound(buckets_.begin(), buckets_.end(), i, [](const auto& b, int k) { return b.first < k; });
  if (it != buckets_.end() && it->first == i) it->second += count;
  else buckets_.insert(it, {i, count});
}

void QuantileSketch::Merge(const QuantileSketch& other) {
  if (other.buckets_.empty()) return;
  std::vector<std::pair<int, int64_t>> merged;
  merged.reserve(buckets_.size() + other.buckets_.size());
  auto a = buckets_.cbegin();
  auto b = other.buckets_.cbegin();
  while (a != buckets_.cend() || b != other.buckets_.cend()) {
    if (b == other.buckets_.cend() || (a != buckets_.cend() && a->first < b->first)) merged.push_back(*a++);
    else if (a == buckets_.cend() || b->first < a->first) merged.push_back(*b++);
    else {
      merged.emplace_back(a->first, a->second + b->second);
      ++a;
      ++b;
    }
  }
  buckets_ = std::move(merged);
}

int64_t QuantileSketch::Count() const {
  int64_t n = 0;
  for (const auto& [i, c] : buckets_) n += c;
  return n;
}

std::optional<double> QuantileSketch::Quantile(double q) const {
  int64_t total = Count();
  if (total == 0) return std::nullopt;
  q = std::clamp(q, 0.0, 1.0);
  // The smallest value with at least ceil(q * total) values at or below it.
  int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * static_cast<double>(total))));
  int64_t seen = 0;
  for (const auto& [i, n] : buckets_) {
    seen += n;
    if (seen >= rank) return BucketMidpoint(i);
  }
  return BucketMidpoint(buckets_.back().first);
}

std::string QuantileSketch::Encode() const {
  std::string out;
  char buf[24];  // an int64_t in decimal
  for (const auto& [i, n] : buckets_) {
    if (!out.empty()) out += ',';
    out.append(buf, std::to_chars(buf, buf + sizeof buf, i).ptr);
    out += ':';
    out.append(buf, std::to_chars(buf, buf + sizeof buf, n).ptr);
  }
  return out;
}

std::optional<QuantileSketch> QuantileSketch::Decode(std::string_view text) {
  QuantileSketch s;
  if (text.empty()) return s;
  s.buckets_.reserve(static_cast<size_t>(std::count(text.begin(), text.end(), ',')) + 1);
  const int max_bucket = BucketOf(kMaxValue);
  // One pass of from_chars over "index:count,index:count" (a year of hourly
  // rollups decodes ~17,000 of these: no substrings, no searches).
  const char* p = text.data();
  const char* const end = p + text.size();
  for (;;) {
    int i = 0;
    int64_t n = 0;
    if (*p == '-') return std::nullopt;  // from_chars takes a sign; indexes have none
    auto a = std::from_chars(p, end, i);
    if (a.ec != std::errc() || a.ptr == end || *a.ptr != ':' || i > max_bucket) return std::nullopt;
    p = a.ptr + 1;
    auto b = std::from_chars(p, end, n);
    if (b.ec != std::errc() || n <= 0) return std::nullopt;
    p = b.ptr;
    // Encode writes indexes in order: appending is the common case.
    if (s.buckets_.empty() || s.buckets_.back().first < i) {
      s.buckets_.emplace_back(i, n);
    } else {
      auto it = std::lower_bound(s.buckets_.begin(), s.buckets_.end(), i,
                                 [](const auto& bucket, int k) { return bucket.first < k; });
      if (it->first == i) it->second += n;
      else s.buckets_.insert(it, {i, n});
    }
    if (p == end) return s;
    if (*p != ',' || ++p == end) return std::nullopt;  // a trailing comma
  }
}

void QualityAggregate::Add(const QualitySample& q) {
  if (q.packet_loss_pct_avg) {
    loss_pct_sum += *q.packet_loss_pct_avg;
    ++loss_n;
  }
  if (q.jitter_ms_avg) {
    jitter_ms_sum += *q.jitter_ms_avg;
    ++jitter_n;
    jitter_ms.Add(*q.jitter_ms_avg);
  }
  if (q.latency_ms_avg) {
    latency_ms_sum += *q.latency_ms_avg;
    ++latency_n;
    latency_ms.Add(*q.latency_ms_avg);
  }
  if (q.mos) {
    mos_sum += *q.mos;
    ++mos_n;
  }
}

void QualityAggregate::Merge(const QualityAggregate& o) {
  loss_pct_sum += o.loss_pct_sum;
  loss_n += o.loss_n;
  jitter_ms_sum += o.jitter_ms_sum;
  jitter_n += o.jitter_n;
  latency_ms_sum += o.latency_ms_sum;
  latency_n += o.latency_n;
  mos_sum += o.mos_sum;
  mos_n += o.mos_n;
  jitter_ms.Merge(o.jitter_ms);
  latency_ms.Merge(o.latency_ms);
}

void UsageAggregate::Merge(const UsageAggregate& o) {
  calls += o.calls;
  completed += o.completed;
  failed += o.failed;
  seconds += o.seconds;
  quality.Merge(o.quality);
}

namespace detail {

int64_t FloorTo(int64_t t, int64_t step) { return t >= 0 ? t - t % step : t - ((t % step) + step) % step; }

int64_t FirstDayFrom(int64_t t) {
  constexpr int64_t kDaySeconds = 86400;
  return t == INT64_MIN ? t : FloorTo(t + kDaySeconds - 1, kDaySeconds);
}

namespace {

constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;

struct Grain {
  RollupGrain grain;
  int64_t step;
};
constexpr Grain kGrains[] = {{RollupGrain::kHour, kHour}, {RollupGrain::kDay, kDay}};

const std::string kTenantWide;  // the concurrency series of all sources together

// map[key] for a map with a transparent comparator, looked up by `view` (a
// key whose strings are views); the owning key is made only when the entry
// is new.
template <typename Map, typename View, typename MakeKey>
typename Map::mapped_type& FindOrAdd(Map& map, const View& view, MakeKey make_key) {
  auto it = map.lower_bound(view);
  if (it == map.end() || map.key_comp()(view, it->first)) {
    it = map.emplace_hint(it, make_key(), typename Map::mapped_type{});
  }
  return it->second;
}

}  // namespace

UsageAggregate& RollupDelta::UsageAt(RollupGrain grain, RollupDimension dimension, std::string_view key,
                                     int64_t bucket) {
  const std::tuple<RollupGrain, RollupDimension, std::string_view, int64_t> view{grain, dimension, key, bucket};
  return FindOrAdd(usage, view, [&] { return std::tuple(grain, dimension, std::string(key), bucket); });
}

int64_t& RollupDelta::ConcurrencyAt(std::string_view series, int64_t minute) {
  return FindOrAdd(concurrency, std::pair<std::string_view, int64_t>{series, minute},
                   [&] { return std::pair(std::string(series), minute); });
}

void AddCallToRollups(const StoredCall& call, RollupDelta& delta) {
  const bool completed = call.status == "completed";
  // The keys this call counts under, each once (both ends at one site count
  // there once). Views of the call's own strings: nothing is copied.
  std::vector<std::pair<RollupDimension, std::string_view>> keys = {{RollupDimension::kTenant, ""},
                                                                   {RollupDimension::kSource, call.source}};
  keys.reserve(6);
  for (const auto& [dim, orig, dest] : {std::tuple(RollupDimension::kSite, &call.orig_site, &call.dest_site),
                                        std::tuple(RollupDimension::kModel, &call.orig_model, &call.dest_model)}) {
    if (!orig->empty()) keys.emplace_back(dim, *orig);
    if (!dest->empty() && *dest != *orig) keys.emplace_back(dim, *dest);
  }

  // Connected time: the last duration_s seconds before the end.
  const int64_t connected_end = call.end_at;
  const int64_t connected_start = std::max(call.start_at, call.end_at - std::max<int64_t>(0, call.duration_s));

  for (const Grain& g : kGrains) {
    const int64_t start_bucket = FloorTo(call.start_at, g.step);
    for (const auto& [dim, key] : keys) {
      UsageAggregate& at_start = delta.UsageAt(g.grain, dim, key, start_bucket);
      ++at_start.calls;
      if (completed) ++at_start.completed;
      else ++at_start.failed;
      // Quality of the ends at a site or of a model counts there; the
      // tenant and source rows take every sample.
      for (const QualitySample& q : call.quality) {
        const std::string& side_site = q.party == "dest" ? call.dest_site : call.orig_site;
        const std::string& side_model = q.party == "dest" ? call.dest_model : call.orig_model;
        if ((dim == RollupDimension::kSite && side_site != key) || (dim == RollupDimension::kModel && side_model != key))
          continue;
        at_start.quality.Add(q);
      }
      // Connected seconds, split over the buckets they fall in.
      for (int64_t b = FloorTo(connected_start, g.step); b < connected_end; b += g.step) {
        int64_t part = std::min(connected_end, b + g.step) - std::max(connected_start, b);
        // The first bucket is usually the start's: no second look-up.
        if (part > 0) (b == start_bucket ? at_start : delta.UsageAt(g.grain, dim, key, b)).seconds += part;
      }
    }
  }

  // Calls in progress: a completed call counts in each minute it touches.
  if (completed && call.end_at > call.start_at) {
    const int64_t first = FloorTo(call.start_at, 60);
    const int64_t after_last = FloorTo(call.end_at - 1, 60) + 60;
    for (const std::string* source : {&call.source, &kTenantWide}) {
      delta.ConcurrencyAt(*source, first) += 1;
      delta.ConcurrencyAt(*source, after_last) -= 1;
    }
  }
}

void AddParticipantToRollups(const StoredParticipant& participant, RollupDelta& delta) {
  // Every sample of a participant is its own end's (party "participant"),
  // so all keys take all of them. Each sample is one stream measured once:
  // the collectors attach a stream to either a call (CUCM) or a participant
  // (RPRM, Pexip), never both (docs/formats/storage.md, "Rollups").
  QualityAggregate quality;
  for (const QualitySample& q : participant.quality) quality.Add(q);
  if (quality == QualityAggregate{}) return;
  std::vector<std::pair<RollupDimension, std::string>> keys = {{RollupDimension::kTenant, ""},
                                                              {RollupDimension::kSource, participant.source}};
  if (!participant.site.empty()) keys.emplace_back(RollupDimension::kSite, participant.site);
  if (!participant.model.empty()) keys.emplace_back(RollupDimension::kModel, participant.model);
  for (const Grain& g : kGrains) {
    const int64_t start_bucket = FloorTo(participant.start_at, g.step);
    for (const auto& [dim, key] : keys) delta.UsageAt(g.grain, dim, key, start_bucket).quality.Merge(quality);
  }
}

const char* RollupTable(RollupGrain grain) { return grain == RollupGrain::kHour ? "rollup_hour" : "rollup_day"; }

const char* RollupReadColumns(const RollupQuery& query) {
  return query.with_quality ? kRollupColumns : "calls, completed, failed, seconds";
}

namespace {
constexpr int64_t kMaxHourlySpan = 400LL * kDay;
constexpr int64_t kMaxDailySpan = 20LL * 366 * kDay;
}  // namespace

Status CheckRollupQuery(const RollupQuery& q) {
  if (q.to < q.from) return InvalidArgument("rollup range ends before it starts");
  if (q.to - q.from > (q.grain == RollupGrain::kHour ? kMaxHourlySpan : kMaxDailySpan))
    return InvalidArgument(q.grain == RollupGrain::kHour ? "hourly rollups span at most 400 days"
                                                         : "daily rollups span at most 20 years");
  return Ok();
}

Status CheckPeakRange(int64_t from, int64_t to) {
  if (to < from) return InvalidArgument("range ends before it starts");
  if (to - from > kMaxHourlySpan) return InvalidArgument("hourly peaks span at most 400 days");
  return Ok();
}

std::set<std::pair<std::string, int64_t>> ConcurrencyHours(const RollupDelta& delta) {
  std::set<std::pair<std::string, int64_t>> hours;
  for (const auto& [k, d] : delta.concurrency) hours.insert({k.first, FloorTo(k.second, kHour)});
  return hours;
}

std::vector<HourlyPeak> HourlyPeaksFrom(int64_t from, int64_t to, int64_t level_at_from,
                                        const std::vector<ConcurrencyHourRow>& rows) {
  std::vector<HourlyPeak> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(0, (to - from + kHour - 1) / kHour)));
  int64_t level = level_at_from;
  int64_t next = from;
  auto fill_until = [&](int64_t end) {
    for (; next < end; next += kHour) out.push_back({next, level});
  };
  for (const ConcurrencyHourRow& row : rows) {
    fill_until(row.hour);
    out.push_back({row.hour, level + row.peak_rel});
    level += row.net;
    next = row.hour + kHour;
  }
  fill_until(to);
  return out;
}

int64_t RelativePeak(int64_t hour, const std::vector<std::pair<int64_t, int64_t>>& minute_deltas) {
  int64_t level = 0;
  bool first_minute_has_delta = !minute_deltas.empty() && minute_deltas.front().first == hour;
  int64_t best = first_minute_has_delta ? INT64_MIN : 0;
  for (const auto& [minute, d] : minute_deltas) {
    level += d;
    best = std::max(best, level);
  }
  return best == INT64_MIN ? 0 : best;
}

}  // namespace detail
}  // namespace parley::store
