// VerifyRollups and RebuildRollups (store.h): the rollups recomputed from the
// raw calls and participants, with the arithmetic CommitBatch uses
// (detail::AddCallToRollups, AddParticipantToRollups, RelativePeak,
// HourlyPeaksFrom), against what the store serves. Reads only through the
// Store interface, so it checks either backend the same way.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/time_format.h"
#include "store/detail/rollup_delta.h"
#include "store/store.h"

namespace parley::store {
namespace {

constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;
constexpr int64_t kPage = 1000;  // ListCalls', ListAllParticipants' and ListQuality's most per call
// The widest ranges ListRollups and ListHourlyPeaks accept (CheckRollupQuery).
constexpr int64_t kHourWindow = 400 * kDay;
constexpr int64_t kDayWindow = 20 * 365 * kDay;
// Rounding of a sum of ~1e6 doubles added in another order stays far below this.
constexpr double kRelativeTolerance = 1e-9;
// After a retention boundary, buckets within this are not compared (Verifier).
constexpr int64_t kRetentionGrace = kDay;

using RowKey = std::pair<std::string, int64_t>;  // (key, bucket)
using Rows = std::map<RowKey, UsageAggregate>;

const char* GrainName(RollupGrain g) { return g == RollupGrain::kHour ? "hour" : "day"; }

const char* DimensionName(RollupDimension d) {
  switch (d) {
    case RollupDimension::kTenant: return "tenant";
    case RollupDimension::kSource: return "source";
    case RollupDimension::kSite: return "site";
    case RollupDimension::kModel: return "model";
  }
  return "?";
}

bool SameSum(double a, double b) {
  return std::fabs(a - b) <= kRelativeTolerance * std::max({1.0, std::fabs(a), std::fabs(b)});
}

// "calls 12 stored, 11 recomputed; seconds ..." for every figure that differs.
std::string Differences(const UsageAggregate& got, const UsageAggregate& want) {
  std::ostringstream out;
  out.precision(12);  // enough digits to show a difference past the tolerance
  auto note = [&](const char* name, const auto& g, const auto& w) {
    if (out.tellp() > 0) out << "; ";
    out << name << ' ' << g << " stored, " << w << " recomputed";
  };
  auto count = [&](const char* name, int64_t g, int64_t w) {
    if (g != w) note(name, g, w);
  };
  auto sum = [&](const char* name, double g, double w) {
    if (!SameSum(g, w)) note(name, g, w);
  };
  auto sketch = [&](const char* name, const QuantileSketch& g, const QuantileSketch& w) {
    if (!(g == w)) note(name, "\"" + g.Encode() + "\"", "\"" + w.Encode() + "\"");
  };
  count("calls", got.calls, want.calls);
  count("completed", got.completed, want.completed);
  count("failed", got.failed, want.failed);
  count("seconds", got.seconds, want.seconds);
  const QualityAggregate& g = got.quality;
  const QualityAggregate& w = want.quality;
  sum("loss_pct_sum", g.loss_pct_sum, w.loss_pct_sum);
  count("loss_n", g.loss_n, w.loss_n);
  sum("jitter_ms_sum", g.jitter_ms_sum, w.jitter_ms_sum);
  count("jitter_n", g.jitter_n, w.jitter_n);
  sum("latency_ms_sum", g.latency_ms_sum, w.latency_ms_sum);
  count("latency_n", g.latency_n, w.latency_n);
  sum("mos_sum", g.mos_sum, w.mos_sum);
  count("mos_n", g.mos_n, w.mos_n);
  sketch("jitter_sketch", g.jitter_ms, w.jitter_ms);
  sketch("latency_sketch", g.latency_ms, w.latency_ms);
  return out.str();
}

// Every call and participant of a tenant with its quality samples, added to
// a RollupDelta as CommitBatch added them when they were stored (pages of
// kPage through the Store interface).
class Recomputer {
 public:
  Recomputer(Store& store, std::string tenant_id) : store_(store), tenant_(std::move(tenant_id)) {}

  Status Run() {
    PARLEY_TRY(ReadCalls());
    return ReadParticipants();
  }

  detail::RollupDelta& delta() { return delta_; }
  int64_t calls() const { return calls_; }
  int64_t participants() const { return participants_; }
  int64_t oldest() const { return oldest_; }
  int64_t newest() const { return newest_; }
  const std::set<std::string>& series() const { return series_; }

 private:
  // Every call of the tenant, newest first, with its quality samples.
  Status ReadCalls() {
    CallPageQuery page;
    page.limit = kPage;
    for (;;) {
      PARLEY_ASSIGN_OR_RETURN(std::vector<StoredCall> calls, store_.ListCalls(tenant_, page));
      if (calls.empty()) break;
      std::vector<RecordRef> refs;
      refs.reserve(calls.size());
      for (const StoredCall& c : calls) refs.push_back({c.source, c.call_id});
      PARLEY_TRY(AttachQuality(RecordKind::kCall, refs, calls));
      for (StoredCall& c : calls) {
        detail::AddCallToRollups(c, delta_);
        oldest_ = std::min(oldest_, c.start_at);
        newest_ = std::max(newest_, c.end_at);
        series_.insert(c.source);
      }
      calls_ += static_cast<int64_t>(calls.size());
      const StoredCall& last = calls.back();
      page.before = std::make_tuple(last.start_at, last.source, last.call_id);
      if (static_cast<int64_t>(calls.size()) < kPage) break;
    }
    return Ok();
  }

  // Every participant of the tenant with its quality samples, added to
  // delta_ as CommitBatch added it. Participants add quality only: no calls,
  // seconds or peaks (so no series), and buckets only at their start.
  Status ReadParticipants() {
    ParticipantPageQuery page;
    page.limit = kPage;
    for (;;) {
      PARLEY_ASSIGN_OR_RETURN(std::vector<StoredParticipant> participants,
                              store_.ListAllParticipants(tenant_, page));
      if (participants.empty()) break;
      std::vector<RecordRef> refs;
      refs.reserve(participants.size());
      for (const StoredParticipant& p : participants) refs.push_back({p.source, p.participant_id});
      PARLEY_TRY(AttachQuality(RecordKind::kParticipant, refs, participants));
      for (StoredParticipant& p : participants) {
        detail::AddParticipantToRollups(p, delta_);
        oldest_ = std::min(oldest_, p.start_at);
        newest_ = std::max(newest_, p.start_at);
      }
      participants_ += static_cast<int64_t>(participants.size());
      page.after = std::make_pair(participants.back().source, participants.back().participant_id);
      if (static_cast<int64_t>(participants.size()) < kPage) break;
    }
    return Ok();
  }

  // Reads the quality samples of `records` (whose keys are `refs`, in the
  // same order) and appends each to its record's `quality`.
  template <typename Record>
  Status AttachQuality(RecordKind kind, const std::vector<RecordRef>& refs, std::vector<Record>& records) {
    PARLEY_ASSIGN_OR_RETURN(std::vector<StoredQuality> quality, store_.ListQuality(tenant_, kind, refs));
    // Samples come grouped by record, in the order of refs.
    size_t q = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      for (; q < quality.size() && quality[q].source == refs[i].source && quality[q].record_id == refs[i].id; ++q)
        records[i].quality.push_back(std::move(quality[q].sample));
    }
    if (q != quality.size()) return Internal("rollups: quality samples out of record order");
    return Ok();
  }

  Store& store_;
  const std::string tenant_;
  detail::RollupDelta delta_;
  std::set<std::string> series_{""};  // "" = the tenant-wide series
  int64_t calls_ = 0;
  int64_t participants_ = 0;
  int64_t oldest_ = 0;
  int64_t newest_ = 0;
};

class Verifier {
 public:
  Verifier(Store& store, std::string tenant_id, size_t max_examples, int64_t retained_from)
      : store_(store),
        tenant_(std::move(tenant_id)),
        max_examples_(max_examples),
        // Retention deleted the records before retained_from but kept the
        // rollups; a call that started before it and ran past it still
        // counts in the seconds and calls in progress of the hours after it.
        // Buckets are compared from a day later (kRetentionGrace).
        compare_from_(retained_from > 0 ? retained_from + kRetentionGrace : INT64_MIN) {}

  Result<RollupVerifyReport> Run(int64_t now) {
    Recomputer recomputed(store_, tenant_);
    PARLEY_TRY(recomputed.Run());
    report_.calls = recomputed.calls();
    report_.participants = recomputed.participants();
    want_ = std::move(recomputed.delta());
    series_ = recomputed.series();
    // Every bucket a stored row could have: from the epoch (ingest refuses
    // older calls) to well past now (and past the newest call).
    from_ = std::min<int64_t>(0, detail::FloorTo(recomputed.oldest(), kDay));
    to_ = detail::FloorTo(std::max(recomputed.newest(), now), kDay) + 401 * kDay;
    for (RollupGrain grain : {RollupGrain::kHour, RollupGrain::kDay})
      for (RollupDimension dim :
           {RollupDimension::kTenant, RollupDimension::kSource, RollupDimension::kSite, RollupDimension::kModel})
        PARLEY_TRY(CompareRows(grain, dim));
    for (const std::string& series : series_) PARLEY_TRY(ComparePeaks(series));
    return std::move(report_);
  }

 private:
  void Mismatch(std::string what) {
    ++report_.mismatches;
    if (report_.examples.size() < max_examples_) report_.examples.push_back(std::move(what));
  }

  Status CompareRows(RollupGrain grain, RollupDimension dim) {
    Rows stored;
    const int64_t window = grain == RollupGrain::kHour ? kHourWindow : kDayWindow;
    for (int64_t w = from_; w < to_; w += window) {
      PARLEY_ASSIGN_OR_RETURN(std::vector<RollupRow> rows,
                              store_.ListRollups(tenant_, {grain, dim, w, std::min(to_, w + window), std::nullopt}));
      for (RollupRow& r : rows) stored.emplace(RowKey{r.key, r.bucket}, std::move(r.usage));
    }
    Rows want;
    for (const auto& [k, usage] : want_.usage)
      if (std::get<0>(k) == grain && std::get<1>(k) == dim) want.emplace(RowKey{std::get<2>(k), std::get<3>(k)}, usage);
    std::erase_if(stored, [&](const auto& row) { return row.first.second < compare_from_; });
    std::erase_if(want, [&](const auto& row) { return row.first.second < compare_from_; });
    if (dim == RollupDimension::kSource)  // a stored series with no raw call is checked too
      for (const auto& [k, usage] : stored) series_.insert(k.first);

    auto label = [&](const RowKey& k) {
      return std::string(GrainName(grain)) + " " + DimensionName(dim) + " '" + k.first + "' " + FormatUtc(k.second);
    };
    auto s = stored.begin();
    auto w = want.begin();
    while (s != stored.end() || w != want.end()) {
      ++report_.rows_compared;
      if (w == want.end() || (s != stored.end() && s->first < w->first)) {
        Mismatch(label(s->first) + ": stored (" + std::to_string(s->second.calls) +
                 " calls) but no stored call or participant adds to it");
        ++s;
      } else if (s == stored.end() || w->first < s->first) {
        Mismatch(label(w->first) + ": not stored (recomputed: " + std::to_string(w->second.calls) + " calls)");
        ++w;
      } else {
        if (std::string diff = Differences(s->second, w->second); !diff.empty()) Mismatch(label(s->first) + ": " + diff);
        ++s;
        ++w;
      }
    }
    return Ok();
  }

  // One series' hourly peaks, recomputed the way the store keeps them: the
  // minute changes of each hour give its net and relative peak, and
  // HourlyPeaksFrom walks the hours.
  Status ComparePeaks(const std::string& series) {
    std::vector<detail::ConcurrencyHourRow> hours;
    for (auto it = want_.concurrency.lower_bound({series, INT64_MIN});
         it != want_.concurrency.end() && it->first.first == series;) {
      const int64_t hour = detail::FloorTo(it->first.second, kHour);
      std::vector<std::pair<int64_t, int64_t>> minutes;
      int64_t net = 0;
      for (; it != want_.concurrency.end() && it->first.first == series && it->first.second < hour + kHour; ++it) {
        minutes.emplace_back(it->first.second, it->second);
        net += it->second;
      }
      hours.push_back({hour, net, detail::RelativePeak(hour, minutes)});
    }
    const std::string name = series.empty() ? "all sources" : "'" + series + "'";
    int64_t level = 0;  // sum of net before the window
    auto next = hours.begin();
    for (int64_t w = from_; w < to_; w += kHourWindow) {
      const int64_t end = std::min(to_, w + kHourWindow);
      PARLEY_ASSIGN_OR_RETURN(std::vector<HourlyPeak> stored, store_.ListHourlyPeaks(tenant_, series, w, end));
      auto in_window = next;
      while (in_window != hours.end() && in_window->hour < end) ++in_window;
      const std::vector<HourlyPeak> want =
          detail::HourlyPeaksFrom(w, end, level, std::vector<detail::ConcurrencyHourRow>(next, in_window));
      for (; next != in_window; ++next) level += next->net;
      if (stored.size() != want.size()) return Internal("rollups verify: hourly peaks of another length");
      for (size_t i = 0; i < want.size(); ++i) {
        if (stored[i].peak == 0 && want[i].peak == 0) continue;
        if (want[i].hour < compare_from_) continue;
        ++report_.peak_hours_compared;
        if (stored[i].hour != want[i].hour || stored[i].peak != want[i].peak)
          Mismatch("peak " + name + " " + FormatUtc(want[i].hour) + ": " + std::to_string(stored[i].peak) +
                   " stored, " + std::to_string(want[i].peak) + " recomputed");
      }
    }
    return Ok();
  }

  Store& store_;
  const std::string tenant_;
  const size_t max_examples_;
  const int64_t compare_from_;  // buckets before it are not compared
  RollupVerifyReport report_;
  detail::RollupDelta want_;
  std::set<std::string> series_;  // Recomputer::series
  int64_t from_ = 0;
  int64_t to_ = 0;
};

}  // namespace

Result<RollupVerifyReport> VerifyRollups(Store& store, const std::string& tenant_id, int64_t now,
                                         size_t max_examples, int64_t retained_from) {
  return Verifier(store, tenant_id, max_examples, retained_from).Run(now);
}

Result<RollupRebuildReport> RebuildRollups(Store& store, const std::string& tenant_id, int64_t retained_from) {
  RollupRebuildReport report;
  // The first hour boundary at least kRetentionGrace after the retention
  // boundary: VerifyRollups compares the buckets from there.
  report.from = retained_from > 0 ? detail::FloorTo(retained_from + kRetentionGrace + kHour - 1, kHour) : INT64_MIN;
  const int64_t days_from = detail::FirstDayFrom(report.from);
  PARLEY_TRY(store.ReplaceRollups(tenant_id, report.from, [&]() -> Result<detail::RollupDelta> {
    Recomputer recomputed(store, tenant_id);
    PARLEY_TRY(recomputed.Run());
    report.calls = recomputed.calls();
    report.participants = recomputed.participants();
    detail::RollupDelta delta = std::move(recomputed.delta());
    std::erase_if(delta.usage, [&](const auto& row) {
      return std::get<3>(row.first) < (std::get<0>(row.first) == RollupGrain::kDay ? days_from : report.from);
    });
    std::erase_if(delta.concurrency, [&](const auto& minute) { return minute.first.second < report.from; });
    return delta;
  }));
  return report;
}

}  // namespace parley::store
