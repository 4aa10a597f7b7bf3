// What a set of newly stored calls and participants adds to the rollups,
// computed the same way for every backend (and by VerifyRollups,
// rollup_verify.cpp, recomputing rollups from the raw records). Private to
// the store module.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "store/store.h"

namespace parley::store::detail {

// Orders (series, minute) keys, stored (std::string) or looked up by view
// (std::string_view), as std::pair's own operator< orders the stored ones.
struct SeriesMinuteLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const std::pair<A, int64_t>& x, const std::pair<B, int64_t>& y) const {
    const int c = std::string_view(x.first).compare(std::string_view(y.first));
    return c < 0 || (c == 0 && x.second < y.second);
  }
};

struct RollupDelta {
  // (grain, dimension, key, bucket start) -> what to add.
  std::map<std::tuple<RollupGrain, RollupDimension, std::string, int64_t>, UsageAggregate, std::less<>> usage;
  // (source, or "" for the tenant; minute start) -> change in calls in
  // progress from that minute on: +1 where a call starts, -1 in the minute
  // after the last one it touches.
  std::map<std::pair<std::string, int64_t>, int64_t, SeriesMinuteLess> concurrency;

  // usage[...] and concurrency[...] looked up by the key's view (the maps'
  // comparators are transparent): a call's every row would otherwise copy its
  // key string (a model name is longer than a short string's 15 bytes) for
  // each look-up, a dozen or more per call.
  UsageAggregate& UsageAt(RollupGrain grain, RollupDimension dimension, std::string_view key, int64_t bucket);
  int64_t& ConcurrencyAt(std::string_view series, int64_t minute);
};

// Adds one call (with its quality samples) to `delta`.
void AddCallToRollups(const StoredCall& call, RollupDelta& delta);

// Adds one participant's quality samples to `delta`: to the quality figures
// of the tenant, its source, its site and its model (when not empty) at the
// hour and day of its start. A participant is a leg of a conference, not a
// call: it adds no calls, seconds or concurrency, and one without a
// measured value adds nothing (no row).
void AddParticipantToRollups(const StoredParticipant& participant, RollupDelta& delta);

int64_t FloorTo(int64_t t, int64_t step);
// The first day boundary (UTC) at or after `t`; INT64_MIN stays INT64_MIN.
int64_t FirstDayFrom(int64_t t);

// The peak, relative to the level at the hour's start, of the calls in
// progress during one hour, from that hour's minute deltas in minute order:
// the level before the first delta counts unless a delta falls in the
// hour's first minute.
int64_t RelativePeak(int64_t hour, const std::vector<std::pair<int64_t, int64_t>>& minute_deltas);

// The value columns of rollup_hour and rollup_day, in the order both
// backends read and write them, and the table of a grain.
inline constexpr const char* kRollupColumns =
    "calls, completed, failed, seconds, loss_pct_sum, loss_n, jitter_ms_sum, jitter_n, latency_ms_sum, latency_n,"
    " mos_sum, mos_n, jitter_sketch, latency_sketch";
const char* RollupTable(RollupGrain grain);
// What ListRollups reads for `query`: kRollupColumns, or only their first
// four (calls, completed, failed, seconds) without `with_quality`.
const char* RollupReadColumns(const RollupQuery& query);

// The range checks of Store::ListRollups and Store::ListHourlyPeaks.
Status CheckRollupQuery(const RollupQuery& query);
Status CheckPeakRange(int64_t from, int64_t to);

// The (source, hour) pairs whose concurrency_hour row `delta` changes.
std::set<std::pair<std::string, int64_t>> ConcurrencyHours(const RollupDelta& delta);

// One concurrency_hour row as read back.
struct ConcurrencyHourRow {
  int64_t hour = 0;
  int64_t net = 0;
  int64_t peak_rel = 0;
};
// Every hour of [from, to) (from hour-aligned) with its absolute peak, from
// the level at `from` (the sum of net over earlier hours) and the stored
// rows of the range in hour order; an hour without a row stays at the level.
std::vector<HourlyPeak> HourlyPeaksFrom(int64_t from, int64_t to, int64_t level_at_from,
                                        const std::vector<ConcurrencyHourRow>& rows);

}  // namespace parley::store::detail
