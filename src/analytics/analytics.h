// Dashboard analytics computed from the rollups the store maintains at ingest
// (store.h, "Rollups"; docs/analytics.md): utilization per local hour or day
// and media quality per site, device model or source. Reads rollups only,
// never raw calls, so a query costs the same at a thousand calls or ten
// million.
//
// Figures follow the tenant's time zone (store::Tenant::time_zone): a local
// day is every UTC hour whose start falls on that local date, looked up in the
// system's tz database (/usr/share/zoneinfo) through Howard Hinnant's date/tz
// library, the reference implementation of C++20's std::chrono time zones,
// which GCC 12's libstdc++ does not ship yet.
//
// Thread-safe: functions without state besides the store.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace date {
class time_zone;  // date/tz.h, kept out of this header
}

namespace parley::analytics {

// A tenant's time zone from the system tz database.
class TimeZone {
 public:
  // kFailedPrecondition when the name is not in the database.
  static Result<TimeZone> Load(const std::string& iana_name);

  const std::string& name() const { return name_; }
  // The local date at a Unix time.
  std::chrono::year_month_day LocalDate(int64_t unix_seconds) const;
  // The first instant of a local date (its midnight; the end of the DST gap
  // when midnight does not exist that day), Unix seconds.
  int64_t StartOfDay(std::chrono::year_month_day date) const;
  // "2026-03-08T01:00:00-05:00"
  std::string FormatLocal(int64_t unix_seconds) const;

 private:
  std::string name_;
  const date::time_zone* zone_ = nullptr;  // owned by the library's database
};

// "YYYY-MM-DD" (a real calendar date) or nullopt.
std::optional<std::chrono::year_month_day> ParseDate(std::string_view text);
std::string FormatDate(std::chrono::year_month_day date);

// The longest range a dashboard asks for: 400 days, the store's limit for
// hourly rollups.
inline constexpr int kMaxRangeDays = 400;
// The range shown when none is given: the 7 local days ending today.
inline constexpr int kDefaultRangeDays = 7;

// A range of whole local days, inclusive, and the UTC hours it covers:
// [first_hour, end_hour), hour-aligned. Zones whose offset is not a whole
// number of hours start their day at the first UTC hour that begins on it.
struct LocalRange {
  std::chrono::year_month_day from;
  std::chrono::year_month_day to;
  int64_t first_hour = 0;
  int64_t end_hour = 0;
};
// Resolves optional dates (`to` defaults to the local date of `now`, `from`
// to kDefaultRangeDays - 1 days before `to`) and checks them: from <= to and
// at most kMaxRangeDays days (kInvalidArgument).
Result<LocalRange> ResolveRange(const TimeZone& zone, std::optional<std::chrono::year_month_day> from,
                                std::optional<std::chrono::year_month_day> to, int64_t now);

// ---- Utilization ----

enum class Grain { kHour, kDay };

struct UsageRequest {
  std::optional<std::chrono::year_month_day> from, to;  // local dates, inclusive
  Grain grain = Grain::kDay;
  std::optional<std::string> source;  // one call server; nullopt = all
};

struct UsageBucket {
  int64_t start = 0;   // Unix seconds: the local day's first hour, or the hour
  std::string label;   // local: "2026-03-08" or "2026-03-08T01:00:00-05:00"
  int64_t calls = 0;   // calls that started in the bucket
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t seconds = 0;          // connected seconds that fell in the bucket
  int64_t peak_concurrent = 0;  // most calls in progress in one minute of it
};

struct UsageReport {
  std::string time_zone;
  LocalRange range;
  Grain grain = Grain::kDay;
  std::optional<std::string> source;
  std::vector<std::string> sources;  // sources with calls in the range (for a filter)
  std::vector<UsageBucket> buckets;  // every bucket of the range, in order, zeros included
  UsageBucket total;                 // sums; peak_concurrent = the range's peak
  std::optional<UsageBucket> busiest_hour;  // the hour with the most calls started (first on ties)
  std::optional<UsageBucket> peak_hour;     // the first hour that reached total.peak_concurrent (> 0)
};

Result<UsageReport> Usage(store::Store& store, const store::Tenant& tenant, const UsageRequest& request, int64_t now);

// ---- Quality ----

// What makes a stream poor (docs/analytics.md; /work/shared/domain.md §5.2):
// the Microsoft Teams CQD audio rule on averages: jitter > 30 ms, round trip
// > 500 ms (Parley's latency is one-way: > 250 ms), loss > 10 %; MOS <= 3.0
// (Twilio's "degraded"). The same cut-offs as the portal's quality colours.
struct PoorThresholds {
  double loss_pct = 10;
  double jitter_ms = 30;
  double latency_ms = 250;
  double mos = 3.0;
};
inline constexpr PoorThresholds kPoor{};

enum class QualityDimension { kSite, kModel, kSource };

struct QualityRequest {
  std::optional<std::chrono::year_month_day> from, to;
  QualityDimension dimension = QualityDimension::kSite;
};

struct QualityFigures {
  std::string key;      // the site, model or source; "" for the total
  int64_t calls = 0;    // calls that started in the range
  int64_t streams = 0;  // quality samples measured: the largest per-metric count
  int64_t loss_n = 0, jitter_n = 0, latency_n = 0, mos_n = 0;
  std::optional<double> loss_pct_avg, jitter_ms_avg, latency_ms_avg, mos_avg;  // sum / count
  std::optional<double> jitter_ms_p50, jitter_ms_p95, latency_ms_p50, latency_ms_p95;
  // Shares (0..1) of the measured streams above the poor cut-off, from the
  // merged sketches (to their 10 % bucket resolution).
  std::optional<double> poor_jitter_share, poor_latency_share;
  // The larger of the two: at least this share of streams was poor.
  std::optional<double> poor_share;
};

struct QualityReport {
  std::string time_zone;
  LocalRange range;
  QualityDimension dimension = QualityDimension::kSite;
  QualityFigures total;
  std::vector<QualityFigures> rows;  // most calls first, then by key
};

Result<QualityReport> Quality(store::Store& store, const store::Tenant& tenant, const QualityRequest& request,
                              int64_t now);

// The figures of one merged aggregate (exposed for tests).
QualityFigures FiguresOf(const std::string& key, const store::UsageAggregate& usage);
// How many values of `sketch` lie above `threshold`, judging each by its
// bucket's midpoint (the value Quantile reports).
int64_t CountAbove(const store::QuantileSketch& sketch, double threshold);

}  // namespace parley::analytics
