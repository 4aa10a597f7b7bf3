// Dashboards from the rollups: known calls committed through
// Store::CommitBatch give exact figures, in the tenant's local days
// (America/New_York here, where local days are not UTC days), across a DST
// change, and for quality per site from the merged sums and sketches.
#include "analytics/analytics.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "common/time_format.h"

namespace parley::analytics {
namespace {

using std::chrono::year_month_day;

int64_t T(const char* rfc3339) { return ParseRfc3339(rfc3339).value(); }
year_month_day D(const char* date) { return ParseDate(date).value(); }

class AnalyticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (std::filesystem::temp_directory_path() / "parley-analytics-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    auto store = store::OpenStore("sqlite:" + (dir_ / "a.db").string());
    ASSERT_TRUE(store.ok()) << store.error().detail;
    store_ = std::move(store).value();
    tenant_.id = "tny";
    tenant_.name = "New York Org";
    tenant_.domains = {"ny.example"};
    tenant_.wrapped_data_key = "k";
    tenant_.time_zone = "America/New_York";
    ASSERT_TRUE(store_->CreateTenant(tenant_).ok());
    store::Agent a;
    a.id = "a1";
    a.tenant_id = tenant_.id;
    a.name = "host";
    a.cert_fingerprint = "fp";
    ASSERT_TRUE(store_->CreateAgent(a).ok());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  store::StoredCall Call(const std::string& source, const std::string& id, const char* start, int64_t seconds,
                         bool completed = true) {
    store::StoredCall c;
    c.source = source;
    c.call_id = id;
    c.start_at = T(start);
    c.end_at = c.start_at + seconds;
    c.duration_s = seconds;
    c.status = completed ? "completed" : "failed";
    c.orig_site = "HQ";
    c.orig_model = "Group 700";
    return c;
  }
  void Commit(std::vector<store::StoredCall> calls) {
    store::BatchCommit batch;
    batch.tenant_id = tenant_.id;
    batch.agent_id = "a1";
    batch.batch_id = "b" + std::to_string(++batches_);
    batch.received_at = T("2026-04-01T00:00:00Z");
    batch.calls = std::move(calls);
    auto r = store_->CommitBatch(batch);
    ASSERT_TRUE(r.ok()) << r.error().detail;
  }
  // Calls around local midnights of 2026-01-13..15 in New York (UTC-5).
  void CommitJanuaryCalls() {
    Commit({
        Call("dma", "c1", "2026-01-14T03:00:00Z", 1800),  // 13 Jan 22:00 local
        Call("dma", "c2", "2026-01-14T04:50:00Z", 1800),  // 13 Jan 23:50 local, ends 14 Jan 00:20
        Call("dma", "c3", "2026-01-14T15:00:00Z", 3600),  // 14 Jan 10:00
        Call("dma", "c4", "2026-01-14T15:10:00Z", 1800),  // overlaps c3: two in progress
        Call("dma", "c5", "2026-01-14T15:20:00Z", 0, false),
        Call("dma", "c6", "2026-01-15T04:30:00Z", 2400),  // 14 Jan 23:30, ends 15 Jan 00:10
    });
    Commit({Call("cucm", "c7", "2026-01-15T14:00:00Z", 1800)});  // 15 Jan 09:00
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  store::Tenant tenant_;
  int batches_ = 0;
};

TEST(TimeZoneTest, LocalDaysFollowTheTzDatabase) {
  auto ny = TimeZone::Load("America/New_York");
  ASSERT_TRUE(ny.ok());
  EXPECT_EQ(ny->StartOfDay(D("2026-01-14")), T("2026-01-14T05:00:00Z"));
  EXPECT_EQ(ny->StartOfDay(D("2026-07-14")), T("2026-07-14T04:00:00Z"));  // EDT
  EXPECT_EQ(ny->LocalDate(T("2026-01-14T04:59:59Z")), D("2026-01-13"));
  EXPECT_EQ(ny->LocalDate(T("2026-01-14T05:00:00Z")), D("2026-01-14"));
  EXPECT_EQ(ny->FormatLocal(T("2026-01-14T15:00:00Z")), "2026-01-14T10:00:00-05:00");
  EXPECT_EQ(ny->FormatLocal(T("2026-03-08T07:00:00Z")), "2026-03-08T03:00:00-04:00");
  auto kolkata = TimeZone::Load("Asia/Kolkata");
  ASSERT_TRUE(kolkata.ok());
  EXPECT_EQ(kolkata->FormatLocal(T("2026-01-13T18:30:00Z")), "2026-01-14T00:00:00+05:30");
  // A half-hour zone's day starts with the first UTC hour that begins on it.
  auto r = ResolveRange(*kolkata, D("2026-01-14"), D("2026-01-14"), 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first_hour, T("2026-01-13T19:00:00Z"));
  EXPECT_EQ(r->end_hour, T("2026-01-14T19:00:00Z"));
  auto bad = TimeZone::Load("Mars/Olympus_Mons");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Code::kFailedPrecondition);
}

TEST(TimeZoneTest, RangesAreCheckedAndDefaulted) {
  auto ny = *TimeZone::Load("America/New_York");
  // Default: the 7 local days ending today (04:00Z on 15 Jan is still 14 Jan in New York).
  auto r = ResolveRange(ny, std::nullopt, std::nullopt, T("2026-01-15T04:00:00Z"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(FormatDate(r->from), "2026-01-08");
  EXPECT_EQ(FormatDate(r->to), "2026-01-14");
  EXPECT_EQ(r->first_hour, T("2026-01-08T05:00:00Z"));
  EXPECT_EQ(r->end_hour, T("2026-01-15T05:00:00Z"));
  auto reversed = ResolveRange(ny, D("2026-01-15"), D("2026-01-14"), 0);
  ASSERT_FALSE(reversed.ok());
  EXPECT_EQ(reversed.error().code, Code::kInvalidArgument);
  EXPECT_TRUE(ResolveRange(ny, D("2025-01-01"), D("2026-02-04"), 0).ok());  // exactly 400 days
  auto too_long = ResolveRange(ny, D("2025-01-01"), D("2026-02-05"), 0);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().detail, "a range spans at most 400 days");
  EXPECT_FALSE(ParseDate("2026-02-30"));
  EXPECT_FALSE(ParseDate("2026-1-05"));
  EXPECT_FALSE(ParseDate("2026-01-05x"));
}

TEST_F(AnalyticsTest, UsagePerLocalDay) {
  CommitJanuaryCalls();
  UsageRequest q;
  q.from = D("2026-01-13");
  q.to = D("2026-01-15");
  auto r = Usage(*store_, tenant_, q, 0);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  ASSERT_EQ(r->buckets.size(), 3u);
  const auto& d13 = r->buckets[0];
  const auto& d14 = r->buckets[1];
  const auto& d15 = r->buckets[2];
  EXPECT_EQ(d13.label, "2026-01-13");
  EXPECT_EQ(d13.start, T("2026-01-13T05:00:00Z"));
  // 13 Jan (local): c1 and c2 started; c1's 30 min and the 10 min of c2 before midnight.
  EXPECT_EQ(d13.calls, 2);
  EXPECT_EQ(d13.completed, 2);
  EXPECT_EQ(d13.failed, 0);
  EXPECT_EQ(d13.seconds, 2400);
  EXPECT_EQ(d13.peak_concurrent, 1);
  // 14 Jan: c3..c6 started (a UTC day would have counted c1..c5); c2's last
  // 20 min, c3 60, c4 30, c6's first 30.
  EXPECT_EQ(d14.calls, 4);
  EXPECT_EQ(d14.completed, 3);
  EXPECT_EQ(d14.failed, 1);
  EXPECT_EQ(d14.seconds, 1200 + 3600 + 1800 + 1800);
  EXPECT_EQ(d14.peak_concurrent, 2);
  // 15 Jan: c7; c6's last 10 min.
  EXPECT_EQ(d15.calls, 1);
  EXPECT_EQ(d15.seconds, 600 + 1800);
  EXPECT_EQ(d15.peak_concurrent, 1);
  EXPECT_EQ(r->total.calls, 7);
  EXPECT_EQ(r->total.completed, 6);
  EXPECT_EQ(r->total.failed, 1);
  EXPECT_EQ(r->total.seconds, 13200);
  EXPECT_EQ(r->total.peak_concurrent, 2);
  ASSERT_TRUE(r->busiest_hour);
  EXPECT_EQ(r->busiest_hour->label, "2026-01-14T10:00:00-05:00");
  EXPECT_EQ(r->busiest_hour->calls, 3);
  ASSERT_TRUE(r->peak_hour);
  EXPECT_EQ(r->peak_hour->start, T("2026-01-14T15:00:00Z"));
  EXPECT_EQ(r->sources, (std::vector<std::string>{"cucm", "dma"}));
}

TEST_F(AnalyticsTest, UsagePerHourAndPerSource) {
  CommitJanuaryCalls();
  UsageRequest q;
  q.from = D("2026-01-14");
  q.to = D("2026-01-14");
  q.grain = Grain::kHour;
  auto r = Usage(*store_, tenant_, q, 0);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  ASSERT_EQ(r->buckets.size(), 24u);
  EXPECT_EQ(r->buckets[0].label, "2026-01-14T00:00:00-05:00");
  EXPECT_EQ(r->buckets[0].seconds, 1200);  // c2 after midnight
  EXPECT_EQ(r->buckets[0].calls, 0);
  EXPECT_EQ(r->buckets[0].peak_concurrent, 1);
  EXPECT_EQ(r->buckets[10].calls, 3);
  EXPECT_EQ(r->buckets[10].peak_concurrent, 2);
  EXPECT_EQ(r->buckets[23].calls, 1);  // c6 at 23:30
  EXPECT_EQ(r->buckets[23].seconds, 1800);
  EXPECT_EQ(r->buckets[5].peak_concurrent, 0);

  UsageRequest cucm;
  cucm.from = D("2026-01-13");
  cucm.to = D("2026-01-15");
  cucm.source = "cucm";
  auto c = Usage(*store_, tenant_, cucm, 0);
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c->total.calls, 1);
  EXPECT_EQ(c->total.seconds, 1800);
  EXPECT_EQ(c->total.peak_concurrent, 1);
  EXPECT_EQ(c->buckets[2].calls, 1);
  EXPECT_EQ(c->buckets[1].calls, 0);
}

TEST_F(AnalyticsTest, DaylightSavingDayHasTwentyThreeHours) {
  // 8 Mar 2026: clocks go from 02:00 EST to 03:00 EDT.
  Commit({Call("dma", "before", "2026-03-08T06:30:00Z", 600),    // 01:30 EST
          Call("dma", "after", "2026-03-08T07:30:00Z", 600),     // 03:30 EDT
          Call("dma", "late", "2026-03-09T03:30:00Z", 600)});    // 23:30 EDT, still 8 Mar
  UsageRequest q;
  q.from = D("2026-03-08");
  q.to = D("2026-03-08");
  q.grain = Grain::kHour;
  auto r = Usage(*store_, tenant_, q, 0);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  ASSERT_EQ(r->buckets.size(), 23u);
  EXPECT_EQ(r->buckets[1].label, "2026-03-08T01:00:00-05:00");
  EXPECT_EQ(r->buckets[2].label, "2026-03-08T03:00:00-04:00");
  EXPECT_EQ(r->buckets[1].calls, 1);
  EXPECT_EQ(r->buckets[2].calls, 1);
  EXPECT_EQ(r->buckets[22].calls, 1);
  q.grain = Grain::kDay;
  auto day = Usage(*store_, tenant_, q, 0);
  ASSERT_TRUE(day.ok());
  ASSERT_EQ(day->buckets.size(), 1u);
  EXPECT_EQ(day->buckets[0].calls, 3);
  EXPECT_EQ(day->buckets[0].seconds, 1800);
}

store::QualitySample Sample(const std::string& party, std::optional<double> loss, std::optional<double> jitter,
                            std::optional<double> latency, std::optional<double> mos) {
  store::QualitySample q;
  q.party = party;
  q.direction = "rx";
  q.media = "video";
  q.packet_loss_pct_avg = loss;
  q.jitter_ms_avg = jitter;
  q.latency_ms_avg = latency;
  q.mos = mos;
  return q;
}

TEST_F(AnalyticsTest, QualityPerSiteFromMergedRollups) {
  auto q1 = Call("cucm", "q1", "2026-01-13T06:00:00Z", 600);  // 13 Jan 01:00 local (an hourly head row)
  q1.orig_site = "London", q1.dest_site = "Paris";
  q1.orig_model = "Group 700", q1.dest_model = "RealPresence";
  q1.quality = {Sample("orig", 1.0, 10, 100, 4.2), Sample("dest", 3.0, 50, 300, 3.0)};
  auto q2 = Call("cucm", "q2", "2026-01-14T12:00:00Z", 600);  // a whole UTC day (daily row)
  q2.orig_site = "London";
  q2.quality = {Sample("orig", 0.5, 20, 120, std::nullopt)};
  auto q3 = Call("cucm", "q3", "2026-01-16T03:00:00Z", 600);  // 15 Jan 22:00 local (an hourly tail row)
  q3.orig_site = "Paris";
  q3.quality = {Sample("orig", std::nullopt, std::nullopt, std::nullopt, std::nullopt)};
  auto outside = Call("cucm", "q4", "2026-01-16T06:00:00Z", 600);  // 16 Jan 01:00 local: outside
  outside.orig_site = "Paris";
  outside.quality = {Sample("orig", 90, 900, 900, 1.0)};
  Commit({q1, q2, q3, outside});

  QualityRequest req;
  req.from = D("2026-01-13");
  req.to = D("2026-01-15");
  auto r = Quality(*store_, tenant_, req, 0);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  // Total: three measured streams of three calls.
  const QualityFigures& t = r->total;
  EXPECT_EQ(t.calls, 3);
  EXPECT_EQ(t.streams, 3);
  EXPECT_DOUBLE_EQ(*t.loss_pct_avg, 1.5);
  EXPECT_NEAR(*t.jitter_ms_avg, 80.0 / 3, 1e-9);
  EXPECT_NEAR(*t.latency_ms_avg, 520.0 / 3, 1e-9);
  EXPECT_DOUBLE_EQ(*t.mos_avg, 3.6);
  EXPECT_EQ(t.mos_n, 2);
  EXPECT_NEAR(*t.poor_jitter_share, 1.0 / 3, 1e-12);
  EXPECT_NEAR(*t.poor_latency_share, 1.0 / 3, 1e-12);
  EXPECT_NEAR(*t.poor_share, 1.0 / 3, 1e-12);
  // Percentiles: the sketch's bucket midpoints, within 5 % of the values.
  store::QuantileSketch jitter;
  for (double v : {10.0, 20.0, 50.0}) jitter.Add(v);
  EXPECT_EQ(t.jitter_ms_p50, jitter.Quantile(0.5));
  EXPECT_EQ(t.jitter_ms_p95, jitter.Quantile(0.95));
  EXPECT_NEAR(*t.jitter_ms_p50, 20, 1.0);
  EXPECT_NEAR(*t.jitter_ms_p95, 50, 2.5);
  EXPECT_NEAR(*t.latency_ms_p95, 300, 15);

  ASSERT_EQ(r->rows.size(), 2u);
  // London: two calls, its own ends' streams only (q1 orig, q2 orig).
  const QualityFigures& london = r->rows[0];
  EXPECT_EQ(london.key, "London");
  EXPECT_EQ(london.calls, 2);
  EXPECT_EQ(london.streams, 2);
  EXPECT_DOUBLE_EQ(*london.loss_pct_avg, 0.75);
  EXPECT_DOUBLE_EQ(*london.jitter_ms_avg, 15);
  EXPECT_DOUBLE_EQ(*london.latency_ms_avg, 110);
  EXPECT_DOUBLE_EQ(*london.mos_avg, 4.2);
  EXPECT_DOUBLE_EQ(*london.poor_share, 0);
  // Paris: q1 (its dest end, poor on jitter and latency) and q3 (measured nothing).
  const QualityFigures& paris = r->rows[1];
  EXPECT_EQ(paris.key, "Paris");
  EXPECT_EQ(paris.calls, 2);
  EXPECT_EQ(paris.streams, 1);
  EXPECT_DOUBLE_EQ(*paris.loss_pct_avg, 3);
  EXPECT_DOUBLE_EQ(*paris.mos_avg, 3.0);
  EXPECT_DOUBLE_EQ(*paris.poor_jitter_share, 1);
  EXPECT_DOUBLE_EQ(*paris.poor_latency_share, 1);
  EXPECT_DOUBLE_EQ(*paris.poor_share, 1);

  req.dimension = QualityDimension::kModel;
  auto models = Quality(*store_, tenant_, req, 0);
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->rows.size(), 2u);
  EXPECT_EQ(models->rows[0].key, "Group 700");
  EXPECT_EQ(models->rows[0].calls, 3);
  EXPECT_EQ(models->rows[1].key, "RealPresence");
  EXPECT_DOUBLE_EQ(*models->rows[1].latency_ms_avg, 300);
}

TEST(QualityFiguresTest, UnmeasuredIsAbsentNotZero) {
  store::UsageAggregate u;
  u.calls = 4;
  QualityFigures f = FiguresOf("Oslo", u);
  EXPECT_EQ(f.calls, 4);
  EXPECT_EQ(f.streams, 0);
  EXPECT_FALSE(f.loss_pct_avg);
  EXPECT_FALSE(f.jitter_ms_p95);
  EXPECT_FALSE(f.poor_share);
}

TEST(QualityFiguresTest, CountAboveJudgesBucketMidpoints) {
  store::QuantileSketch s;
  EXPECT_EQ(CountAbove(s, 30), 0);
  // 29 and 30.5 share the bucket [28.1, 30.9) (midpoint 29.5: not above 30);
  // 31 lies in [30.9, 34.0).
  for (double v : {10.0, 29.0, 30.5, 31.0, 100.0, 300.0}) s.Add(v);
  s.Add(300, 4);
  EXPECT_EQ(CountAbove(s, 30), 7);
  EXPECT_EQ(CountAbove(s, 250), 5);
  EXPECT_EQ(CountAbove(s, 0), 10);
  EXPECT_EQ(CountAbove(s, 1e9), 0);
}

}  // namespace
}  // namespace parley::analytics
