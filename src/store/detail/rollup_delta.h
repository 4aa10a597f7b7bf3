// What a set of newly stored calls adds to the rollups, computed the same way
// for every backend (and by tests recomputing rollups from raw rows). Private
// to the store module.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "store/store.h"

namespace parley::store::detail {

struct RollupDelta {
  // (grain, dimension, key, bucket start) -> what to add.
  std::map<std::tuple<RollupGrain, RollupDimension, std::string, int64_t>, UsageAggregate> usage;
  // (source, or "" for the tenant; minute start) -> change in calls in
  // progress from that minute on: +1 where a call starts, -1 in the minute
  // after the last one it touches.
  std::map<std::pair<std::string, int64_t>, int64_t> concurrency;
};

// Adds one call (with its quality samples) to `delta`.
void AddCallToRollups(const StoredCall& call, RollupDelta& delta);

int64_t FloorTo(int64_t t, int64_t step);

// The peak, relative to the level at the hour's start, of the calls in
// progress during one hour, from that hour's minute deltas in minute order:
// the level before the first delta counts unless a delta falls in the
// hour's first minute.
int64_t RelativePeak(int64_t hour, const std::vector<std::pair<int64_t, int64_t>>& minute_deltas);

}  // namespace parley::store::detail
