#include "analytics/analytics.h"

#include <date/tz.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <stdexcept>

namespace parley::analytics {

namespace {

constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;
// Hourly store queries are cut into pieces of this span: a range of 400 local
// days can cover one hour more than 400 * 24 UTC hours (a DST change), and the
// store refuses hourly spans over 400 days.
constexpr int64_t kChunk = 200 * kDay;

int64_t FloorTo(int64_t t, int64_t step) { return t >= 0 ? t - t % step : t - ((t % step) + step) % step; }
int64_t CeilTo(int64_t t, int64_t step) { return -FloorTo(-t, step); }

int64_t DayNumber(std::chrono::year_month_day d) { return std::chrono::sys_days(d).time_since_epoch().count(); }
std::chrono::year_month_day FromDayNumber(int64_t n) {
  return std::chrono::year_month_day(std::chrono::sys_days(std::chrono::days(n)));
}

// Every hourly rollup row of [from, to), in store-sized pieces; their media
// quality too when `with_quality`.
Result<std::vector<store::RollupRow>> HourlyRows(store::Store& store, const std::string& tenant_id,
                                                 store::RollupDimension dimension,
                                                 const std::optional<std::string>& key, int64_t from, int64_t to,
                                                 bool with_quality) {
  std::vector<store::RollupRow> out;
  for (int64_t a = from; a < to; a += kChunk) {
    store::RollupQuery q{.grain = store::RollupGrain::kHour,
                         .dimension = dimension,
                         .from = a,
                         .to = std::min(to, a + kChunk),
                         .key = key,
                         .with_quality = with_quality};
    PARLEY_ASSIGN_OR_RETURN(std::vector<store::RollupRow> rows, store.ListRollups(tenant_id, q));
    out.insert(out.end(), std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()));
  }
  return out;
}

Result<std::vector<store::HourlyPeak>> HourlyPeaks(store::Store& store, const std::string& tenant_id,
                                                   const std::string& source, int64_t from, int64_t to) {
  std::vector<store::HourlyPeak> out;
  for (int64_t a = from; a < to; a += kChunk) {
    PARLEY_ASSIGN_OR_RETURN(std::vector<store::HourlyPeak> peaks,
                            store.ListHourlyPeaks(tenant_id, source, a, std::min(to, a + kChunk)));
    out.insert(out.end(), peaks.begin(), peaks.end());
  }
  return out;
}

// Merged usage per key over [from, to): whole UTC days from the daily
// rollups, the partial days at either end from the hourly ones. Local days
// rarely align with UTC days, and a year of hourly rows per site would be
// thousands of rows per key.
Result<std::map<std::string, store::UsageAggregate>> MergedByKey(store::Store& store, const std::string& tenant_id,
                                                                 store::RollupDimension dimension, int64_t from,
                                                                 int64_t to) {
  std::map<std::string, store::UsageAggregate> out;
  auto add = [&out](const std::vector<store::RollupRow>& rows) {
    for (const auto& r : rows) out[r.key].Merge(r.usage);
  };
  const int64_t whole_from = CeilTo(from, kDay);
  const int64_t whole_to = FloorTo(to, kDay);
  if (whole_from < whole_to) {
    PARLEY_ASSIGN_OR_RETURN(auto head, HourlyRows(store, tenant_id, dimension, std::nullopt, from, whole_from,
                                                  /*with_quality=*/true));
    add(head);
    store::RollupQuery q{
        .grain = store::RollupGrain::kDay, .dimension = dimension, .from = whole_from, .to = whole_to, .key = {}};
    PARLEY_ASSIGN_OR_RETURN(auto days, store.ListRollups(tenant_id, q));
    add(days);
    PARLEY_ASSIGN_OR_RETURN(auto tail, HourlyRows(store, tenant_id, dimension, std::nullopt, whole_to, to,
                                                  /*with_quality=*/true));
    add(tail);
  } else {
    PARLEY_ASSIGN_OR_RETURN(auto all, HourlyRows(store, tenant_id, dimension, std::nullopt, from, to,
                                                 /*with_quality=*/true));
    add(all);
  }
  return out;
}

std::optional<double> Average(double sum, int64_t n) {
  if (n <= 0) return std::nullopt;
  return sum / static_cast<double>(n);
}

std::optional<double> Share(int64_t part, int64_t whole) {
  if (whole <= 0) return std::nullopt;
  return static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

// ---- Time zone ----

Result<TimeZone> TimeZone::Load(const std::string& iana_name) {
  TimeZone z;
  z.name_ = iana_name;
  try {
    z.zone_ = date::locate_zone(iana_name);
  } catch (const std::exception&) {
    return FailedPrecondition("the tenant's time zone \"" + iana_name +
                              "\" is not in this server's time-zone database (package tzdata)");
  }
  return z;
}

std::chrono::year_month_day TimeZone::LocalDate(int64_t t) const {
  auto local = zone_->to_local(date::sys_seconds(std::chrono::seconds(t)));
  return FromDayNumber(date::floor<date::days>(local).time_since_epoch().count());
}

int64_t TimeZone::StartOfDay(std::chrono::year_month_day d) const {
  date::local_seconds midnight(date::days(DayNumber(d)));
  // earliest: a midnight that occurs twice counts from its first occurrence;
  // one that does not exist (a DST gap) maps to the end of the gap.
  return zone_->to_sys(midnight, date::choose::earliest).time_since_epoch().count();
}

std::string TimeZone::FormatLocal(int64_t t) const {
  auto info = zone_->get_info(date::sys_seconds(std::chrono::seconds(t)));
  const int64_t offset = info.offset.count();
  const int64_t local = t + offset;
  const std::chrono::year_month_day d = FromDayNumber(FloorTo(local, kDay) / kDay);
  const int64_t sod = local - FloorTo(local, kDay);
  const int64_t off = offset < 0 ? -offset : offset;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d%c%02d:%02d", static_cast<int>(d.year()),
                static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()), static_cast<int>(sod / 3600),
                static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60), offset < 0 ? '-' : '+',
                static_cast<int>(off / 3600), static_cast<int>(off / 60 % 60));
  return buf;
}

std::optional<std::chrono::year_month_day> ParseDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  for (size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  auto num = [&](size_t pos, size_t len) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  std::chrono::year_month_day d{std::chrono::year(num(0, 4)), std::chrono::month(static_cast<unsigned>(num(5, 2))),
                                std::chrono::day(static_cast<unsigned>(num(8, 2)))};
  if (!d.ok()) return std::nullopt;
  return d;
}

std::string FormatDate(std::chrono::year_month_day d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                static_cast<unsigned>(d.day()));
  return buf;
}

Result<LocalRange> ResolveRange(const TimeZone& zone, std::optional<std::chrono::year_month_day> from,
                                std::optional<std::chrono::year_month_day> to, int64_t now) {
  LocalRange r;
  r.to = to.value_or(zone.LocalDate(now));
  r.from = from.value_or(FromDayNumber(DayNumber(r.to) - (kDefaultRangeDays - 1)));
  if (DayNumber(r.from) > DayNumber(r.to))
    return InvalidArgument("from (" + FormatDate(r.from) + ") is after to (" + FormatDate(r.to) + ")");
  if (DayNumber(r.to) - DayNumber(r.from) + 1 > kMaxRangeDays)
    return InvalidArgument("a range spans at most " + std::to_string(kMaxRangeDays) + " days");
  // An hour belongs to the local date its start falls on: the first such hour
  // of a day is the first whole hour at or after its midnight.
  r.first_hour = CeilTo(zone.StartOfDay(r.from), kHour);
  r.end_hour = CeilTo(zone.StartOfDay(FromDayNumber(DayNumber(r.to) + 1)), kHour);
  return r;
}

// ---- Utilization ----

Result<UsageReport> Usage(store::Store& store, const store::Tenant& tenant, const UsageRequest& request,
                          int64_t now) {
  PARLEY_ASSIGN_OR_RETURN(TimeZone zone, TimeZone::Load(tenant.time_zone));
  PARLEY_ASSIGN_OR_RETURN(LocalRange range, ResolveRange(zone, request.from, request.to, now));
  UsageReport report;
  report.time_zone = zone.name();
  report.range = range;
  report.grain = request.grain;
  report.source = request.source;
  const int64_t from = range.first_hour, to = range.end_hour;

  // Every hour of the range, then the rollups and peaks laid over them.
  std::vector<UsageBucket> hours;
  hours.reserve(static_cast<size_t>((to - from) / kHour));
  for (int64_t h = from; h < to; h += kHour) hours.push_back(UsageBucket{.start = h, .label = {}});
  auto at = [&](int64_t h) -> UsageBucket* {
    if (h < from || h >= to || (h - from) % kHour != 0) return nullptr;
    return &hours[static_cast<size_t>((h - from) / kHour)];
  };
  const auto dimension = request.source ? store::RollupDimension::kSource : store::RollupDimension::kTenant;
  PARLEY_ASSIGN_OR_RETURN(auto rows, HourlyRows(store, tenant.id, dimension, request.source, from, to,
                                                /*with_quality=*/false));
  for (const auto& row : rows) {
    if (UsageBucket* b = at(row.bucket)) {
      b->calls += row.usage.calls;
      b->completed += row.usage.completed;
      b->failed += row.usage.failed;
      b->seconds += row.usage.seconds;
    }
  }
  PARLEY_ASSIGN_OR_RETURN(auto peaks, HourlyPeaks(store, tenant.id, request.source.value_or(""), from, to));
  for (const auto& p : peaks)
    if (UsageBucket* b = at(p.hour)) b->peak_concurrent = std::max<int64_t>(0, p.peak);

  report.total.start = from;
  report.total.label = FormatDate(range.from) + "/" + FormatDate(range.to);
  for (auto& h : hours) {
    h.label = zone.FormatLocal(h.start);
    report.total.calls += h.calls;
    report.total.completed += h.completed;
    report.total.failed += h.failed;
    report.total.seconds += h.seconds;
    if (h.calls > 0 && (!report.busiest_hour || h.calls > report.busiest_hour->calls)) report.busiest_hour = h;
    if (h.peak_concurrent > report.total.peak_concurrent) {
      report.total.peak_concurrent = h.peak_concurrent;
      report.peak_hour = h;
    }
  }

  if (request.grain == Grain::kHour) {
    report.buckets = std::move(hours);
  } else {
    // Local days: each hour joins the day its start falls on.
    for (int64_t d = DayNumber(range.from); d <= DayNumber(range.to); ++d) {
      const auto date = FromDayNumber(d);
      report.buckets.push_back(UsageBucket{.start = CeilTo(zone.StartOfDay(date), kHour), .label = FormatDate(date)});
    }
    const int64_t first_day = DayNumber(range.from);
    const int64_t last = static_cast<int64_t>(report.buckets.size()) - 1;
    for (const auto& h : hours) {
      // Clamped: only a DST change back across midnight could put an hour of
      // the range on a neighbouring date.
      const int64_t day = std::clamp<int64_t>(DayNumber(zone.LocalDate(h.start)) - first_day, 0, last);
      UsageBucket& b = report.buckets[static_cast<size_t>(day)];
      b.calls += h.calls;
      b.completed += h.completed;
      b.failed += h.failed;
      b.seconds += h.seconds;
      b.peak_concurrent = std::max(b.peak_concurrent, h.peak_concurrent);
    }
  }

  // The sources that sent calls in the range (whole UTC days around it: a
  // filter list, not a figure).
  store::RollupQuery q{.grain = store::RollupGrain::kDay,
                       .dimension = store::RollupDimension::kSource,
                       .from = FloorTo(from, kDay),
                       .to = CeilTo(to, kDay),
                       .key = {},
                       .with_quality = false};
  PARLEY_ASSIGN_OR_RETURN(auto source_rows, store.ListRollups(tenant.id, q));
  for (const auto& r : source_rows)
    if (r.usage.calls > 0 && (report.sources.empty() || report.sources.back() != r.key)) report.sources.push_back(r.key);
  return report;
}

// ---- Quality ----

int64_t CountAbove(const store::QuantileSketch& sketch, double threshold) {
  const int64_t total = sketch.Count();
  // Quantile((r - 0.5) / total) is the (midpoint of the) r-th smallest value,
  // non-decreasing in r: find the last r whose value is <= threshold.
  int64_t lo = 0, hi = total;  // values 1..lo are <= threshold; hi + 1.. are above
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    const double q = (static_cast<double>(mid) - 0.5) / static_cast<double>(total);
    if (sketch.Quantile(q).value_or(0) <= threshold) lo = mid;
    else hi = mid - 1;
  }
  return total - lo;
}

QualityFigures FiguresOf(const std::string& key, const store::UsageAggregate& usage) {
  const store::QualityAggregate& q = usage.quality;
  QualityFigures f;
  f.key = key;
  f.calls = usage.calls;
  f.loss_n = q.loss_n, f.jitter_n = q.jitter_n, f.latency_n = q.latency_n, f.mos_n = q.mos_n;
  f.streams = std::max({q.loss_n, q.jitter_n, q.latency_n, q.mos_n});
  f.loss_pct_avg = Average(q.loss_pct_sum, q.loss_n);
  f.jitter_ms_avg = Average(q.jitter_ms_sum, q.jitter_n);
  f.latency_ms_avg = Average(q.latency_ms_sum, q.latency_n);
  f.mos_avg = Average(q.mos_sum, q.mos_n);
  f.jitter_ms_p50 = q.jitter_ms.Quantile(0.5);
  f.jitter_ms_p95 = q.jitter_ms.Quantile(0.95);
  f.latency_ms_p50 = q.latency_ms.Quantile(0.5);
  f.latency_ms_p95 = q.latency_ms.Quantile(0.95);
  f.poor_jitter_share = Share(CountAbove(q.jitter_ms, kPoor.jitter_ms), q.jitter_ms.Count());
  f.poor_latency_share = Share(CountAbove(q.latency_ms, kPoor.latency_ms), q.latency_ms.Count());
  if (f.poor_jitter_share || f.poor_latency_share)
    f.poor_share = std::max(f.poor_jitter_share.value_or(0), f.poor_latency_share.value_or(0));
  return f;
}

Result<QualityReport> Quality(store::Store& store, const store::Tenant& tenant, const QualityRequest& request,
                              int64_t now) {
  PARLEY_ASSIGN_OR_RETURN(TimeZone zone, TimeZone::Load(tenant.time_zone));
  PARLEY_ASSIGN_OR_RETURN(LocalRange range, ResolveRange(zone, request.from, request.to, now));
  QualityReport report;
  report.time_zone = zone.name();
  report.range = range;
  report.dimension = request.dimension;
  PARLEY_ASSIGN_OR_RETURN(auto total, MergedByKey(store, tenant.id, store::RollupDimension::kTenant,
                                                  range.first_hour, range.end_hour));
  report.total = FiguresOf("", total[""]);
  const store::RollupDimension dimension = request.dimension == QualityDimension::kModel  ? store::RollupDimension::kModel
                                           : request.dimension == QualityDimension::kSource ? store::RollupDimension::kSource
                                                                                             : store::RollupDimension::kSite;
  PARLEY_ASSIGN_OR_RETURN(auto keyed, MergedByKey(store, tenant.id, dimension, range.first_hour, range.end_hour));
  for (const auto& [key, usage] : keyed) report.rows.push_back(FiguresOf(key, usage));
  std::stable_sort(report.rows.begin(), report.rows.end(),
                   [](const QualityFigures& a, const QualityFigures& b) { return a.calls > b.calls; });
  return report;
}

}  // namespace parley::analytics
