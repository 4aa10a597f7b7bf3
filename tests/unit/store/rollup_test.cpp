// Rollups maintained by CommitBatch, on both backends (SQLite, and a
// throw-away PostgreSQL 15): known calls and participants give known
// figures; the figures do not depend on batch boundaries, order, resent
// batches or records seen twice, and they equal the rollups recomputed from
// the raw records; VerifyRollups (`parley rollups verify`) agrees, and names
// each row someone tampered with.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <filesystem>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/time_format.h"
#include "store/detail/rollup_delta.h"
#include "store/store.h"
#include "support/postgres_fixture.h"

namespace parley::store {
namespace {

constexpr int64_t kDay0 = 20'000LL * 86400;  // 2024-10-04T00:00:00Z
constexpr int64_t kH = 3600;

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "parley-rollup-XXXXXX").string();
    EXPECT_NE(::mkdtemp(templ.data()), nullptr);
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Url(const std::string& name) const { return "sqlite:" + (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Raw SQL on a store's database, past the Store interface (to tamper with
// rollups): the SQLite file, or PostgreSQL as the superuser (no row-level
// security).
class RawSql {
 public:
  RawSql() = default;
  RawSql(std::string backend, std::string target) : backend_(std::move(backend)), target_(std::move(target)) {}
  void Exec(const std::string& sql) const {
    if (backend_ == "postgres") {
      EXPECT_EQ(testing::PostgresServer::ErrorOf(target_, sql), "") << sql;
      return;
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(target_.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "") << sql;
    sqlite3_free(error);
    sqlite3_close(db);
  }

 private:
  std::string backend_;
  std::string target_;  // SQLite file path or PostgreSQL superuser URL
};

// A new, empty store of the test's backend ("sqlite" or "postgres"); `raw`,
// if given, is set to reach its database directly.
std::unique_ptr<Store> NewStore(const std::string& backend, const TempDir& dir, const std::string& name,
                                RawSql* raw = nullptr) {
  Result<std::unique_ptr<Store>> store = InvalidArgument("no backend");
  if (backend == "sqlite") {
    store = OpenStore(dir.Url(name + ".db"));
    if (raw) *raw = RawSql(backend, dir.Url(name + ".db").substr(std::string_view("sqlite:").size()));
  } else {
    auto& server = testing::PostgresServer::Get();
    const std::string db = server.CreateDatabase();
    store = OpenStore(server.AppUrl(db), StoreOpenOptions{server.OwnerUrl(db)});
    if (raw) *raw = RawSql(backend, server.SuperUrl(db));
  }
  EXPECT_TRUE(store.ok()) << store.error().detail;
  Tenant t;
  t.id = "ta";
  t.name = "org-a";
  t.domains = {"a.example"};
  t.wrapped_data_key = "k";
  EXPECT_TRUE((*store)->CreateTenant(t).ok());
  Agent a;
  a.id = "a1";
  a.tenant_id = "ta";
  a.name = "host";
  a.cert_fingerprint = "fp";
  EXPECT_TRUE((*store)->CreateAgent(a).ok());
  return std::move(store).value();
}

QualitySample Sample(const std::string& party, double latency, double jitter, double loss, double mos) {
  QualitySample q;
  q.party = party;
  q.direction = "rx";
  q.media = "video";
  q.latency_ms_avg = latency;
  q.jitter_ms_avg = jitter;
  q.packet_loss_pct_avg = loss;
  q.mos = mos;
  return q;
}

StoredCall Call(const std::string& source, const std::string& id, int64_t start, int64_t end, int64_t duration,
                bool completed) {
  StoredCall c;
  c.source = source;
  c.call_id = id;
  c.start_at = start;
  c.end_at = end;
  c.duration_s = duration;
  c.status = completed ? "completed" : "failed";
  c.protocol = "SIP";
  c.pii_sealed = "sealed";
  return c;
}

// A conference leg with its own end's site and model (an RPRM endpoint CDR
// or a Pexip participant); `call_id` as the collectors set it.
StoredParticipant Participant(const std::string& source, const std::string& id, int64_t start,
                              const std::string& site, const std::string& model) {
  StoredParticipant p;
  p.source = source;
  p.participant_id = id;
  p.conference_id = "conf-" + id;
  p.call_id = "call-" + id;
  p.start_at = start;
  p.end_at = start + 600;
  p.duration_s = 600;
  p.protocol = "SIP";
  p.site = site;
  p.model = model;
  p.pii_sealed = "sealed";
  return p;
}

Status Commit(Store& store, const std::string& batch_id, std::vector<StoredCall> calls,
              std::vector<StoredParticipant> participants = {}) {
  BatchCommit b;
  b.tenant_id = "ta";
  b.agent_id = "a1";
  b.batch_id = batch_id;
  b.digest = "d";
  b.received_at = kDay0;
  b.calls = std::move(calls);
  b.participants = std::move(participants);
  auto r = store.CommitBatch(b);
  if (!r.ok()) return r.error();
  return Ok();
}

std::map<std::pair<std::string, int64_t>, UsageAggregate> Rows(Store& store, RollupGrain grain, RollupDimension dim,
                                                                 int64_t from, int64_t to) {
  auto rows = store.ListRollups("ta", {grain, dim, from, to, std::nullopt});
  EXPECT_TRUE(rows.ok()) << rows.error().detail;
  std::map<std::pair<std::string, int64_t>, UsageAggregate> out;
  for (auto& r : *rows) out[{r.key, r.bucket}] = r.usage;
  return out;
}

// The row for (key, bucket); a default (all zero) one when absent.
UsageAggregate At(const std::map<std::pair<std::string, int64_t>, UsageAggregate>& rows, const std::string& key,
                  int64_t bucket) {
  auto it = rows.find({key, bucket});
  return it == rows.end() ? UsageAggregate{} : it->second;
}

std::vector<int64_t> Peaks(Store& store, const std::string& source, int64_t from, int64_t to) {
  auto peaks = store.ListHourlyPeaks("ta", source, from, to);
  EXPECT_TRUE(peaks.ok()) << peaks.error().detail;
  std::vector<int64_t> out;
  for (const auto& p : *peaks) out.push_back(p.peak);
  return out;
}

TEST(QuantileSketch, QuantilesWithinOneBucketAndMergeable) {
  QuantileSketch all, low, high;
  for (int v = 1; v <= 1000; ++v) {
    all.Add(v);
    (v <= 500 ? low : high).Add(v);
  }
  EXPECT_EQ(all.Count(), 1000);
  EXPECT_NEAR(*all.Quantile(0.5), 500, 500 * 0.06);
  EXPECT_NEAR(*all.Quantile(0.95), 950, 950 * 0.06);
  EXPECT_NEAR(*all.Quantile(1.0), 1000, 1000 * 0.06);
  low.Merge(high);
  EXPECT_EQ(low, all);  // merging is adding counts: no loss
  auto decoded = QuantileSketch::Decode(all.Encode());
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, all);
  EXPECT_FALSE(QuantileSketch().Quantile(0.5));
  EXPECT_EQ(QuantileSketch().Encode(), "");
  for (const char* bad : {"x", "1:", ":1", "1:0", "-1:2", "1:2,", "99999:1", "1:2;3:4"})
    EXPECT_FALSE(QuantileSketch::Decode(bad)) << bad;
}

class Rollups : public ::testing::TestWithParam<std::string> {};

TEST_P(Rollups, KnownCallsGiveKnownFigures) {
  TempDir dir;
  auto store = NewStore(GetParam(), dir, "r");
  const int64_t h9 = kDay0 + 9 * kH, h10 = kDay0 + 10 * kH;
  // 09:50-10:20, connected all along, Paris (G500) -> London (G500).
  StoredCall c1 = Call("dma", "c1", h9 + 50 * 60, h10 + 20 * 60, 1800, true);
  c1.orig_site = "Paris";
  c1.dest_site = "London";
  c1.orig_model = c1.dest_model = "G500";
  c1.quality = {Sample("orig", 40, 5, 1.0, 4.0), Sample("dest", 80, 15, 0.5, 3.5)};
  // 10:05-10:10 from Paris.
  StoredCall c2 = Call("dma", "c2", h10 + 5 * 60, h10 + 10 * 60, 300, true);
  c2.orig_site = "Paris";
  // A failed call on another call server.
  StoredCall c3 = Call("kam", "c3", h10 + 15 * 60, h10 + 15 * 60 + 30, 0, false);
  ASSERT_TRUE(Commit(*store, "b1", {c1, c2, c3}).ok());

  auto tenant = Rows(*store, RollupGrain::kHour, RollupDimension::kTenant, kDay0, kDay0 + 86400);
  ASSERT_EQ(tenant.size(), 2u);
  const UsageAggregate t9 = At(tenant, "", h9);
  EXPECT_EQ(t9.calls, 1);
  EXPECT_EQ(t9.completed, 1);
  EXPECT_EQ(t9.seconds, 600);  // 09:50-10:00
  EXPECT_EQ(t9.quality.latency_n, 2);
  EXPECT_EQ(t9.quality.latency_ms_sum, 120);
  EXPECT_EQ(t9.quality.loss_pct_sum, 1.5);
  EXPECT_EQ(t9.quality.mos_n, 2);
  const UsageAggregate t10 = At(tenant, "", h10);
  EXPECT_EQ(t10.calls, 2);
  EXPECT_EQ(t10.completed, 1);
  EXPECT_EQ(t10.failed, 1);
  EXPECT_EQ(t10.seconds, 1200 + 300);

  auto sources = Rows(*store, RollupGrain::kHour, RollupDimension::kSource, kDay0, kDay0 + 86400);
  EXPECT_EQ(At(sources, "dma", h10).calls, 1);
  EXPECT_EQ(At(sources, "dma", h10).seconds, 1500);
  EXPECT_EQ(At(sources, "kam", h10).failed, 1);
  EXPECT_EQ(At(sources, "kam", h10).seconds, 0);

  // A site counts the calls it took part in, with the quality of its own end.
  auto sites = Rows(*store, RollupGrain::kHour, RollupDimension::kSite, kDay0, kDay0 + 86400);
  EXPECT_EQ(At(sites, "Paris", h9).calls, 1);
  EXPECT_EQ(At(sites, "Paris", h9).quality.latency_ms_sum, 40);
  EXPECT_EQ(At(sites, "London", h9).quality.latency_ms_sum, 80);
  EXPECT_EQ(At(sites, "Paris", h10).calls, 1);
  EXPECT_EQ(At(sites, "Paris", h10).seconds, 1200 + 300);
  // One model at both ends counts the call once, with both ends' samples.
  auto models = Rows(*store, RollupGrain::kHour, RollupDimension::kModel, kDay0, kDay0 + 86400);
  EXPECT_EQ(At(models, "G500", h9).calls, 1);
  EXPECT_EQ(At(models, "G500", h9).quality.latency_n, 2);
  EXPECT_EQ(*At(models, "G500", h9).quality.latency_ms.Quantile(1.0), *t9.quality.latency_ms.Quantile(1.0));

  auto day = Rows(*store, RollupGrain::kDay, RollupDimension::kTenant, kDay0, kDay0 + 86400);
  ASSERT_EQ(day.size(), 1u);
  EXPECT_EQ(At(day, "", kDay0).calls, 3);
  EXPECT_EQ(At(day, "", kDay0).seconds, 2100);

  // Calls in progress: c1 09:50-10:19, c2 10:05-10:09 overlap; c3 failed.
  EXPECT_EQ(Peaks(*store, "", h9 - kH, h10 + 2 * kH), (std::vector<int64_t>{0, 1, 2, 0}));
  EXPECT_EQ(Peaks(*store, "dma", h9, h10 + kH), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Peaks(*store, "kam", h9, h10 + kH), (std::vector<int64_t>{0, 0}));

  // The same calls again (a resent batch, or another batch): nothing changes.
  ASSERT_TRUE(Commit(*store, "b1", {c1, c2, c3}).ok());
  ASSERT_TRUE(Commit(*store, "b2", {c3, c1}).ok());
  EXPECT_EQ(Rows(*store, RollupGrain::kHour, RollupDimension::kTenant, kDay0, kDay0 + 86400), tenant);
  EXPECT_EQ(Peaks(*store, "", h9 - kH, h10 + 2 * kH), (std::vector<int64_t>{0, 1, 2, 0}));

  // Usage only (the usage views): the same figures, no quality read.
  for (RollupGrain grain : {RollupGrain::kHour, RollupGrain::kDay}) {
    for (RollupDimension dim : {RollupDimension::kTenant, RollupDimension::kSite}) {
      auto full = store->ListRollups("ta", {grain, dim, kDay0, kDay0 + 86400, std::nullopt});
      auto usage = store->ListRollups("ta", {grain, dim, kDay0, kDay0 + 86400, std::nullopt, /*with_quality=*/false});
      ASSERT_TRUE(full.ok() && usage.ok());
      ASSERT_EQ(usage->size(), full->size());
      EXPECT_TRUE(std::any_of(full->begin(), full->end(), [](const auto& r) { return r.usage.quality.latency_n > 0; }));
      for (size_t i = 0; i < full->size(); ++i) {
        UsageAggregate expected = (*full)[i].usage;
        expected.quality = {};
        EXPECT_EQ((*usage)[i].key, (*full)[i].key);
        EXPECT_EQ((*usage)[i].bucket, (*full)[i].bucket);
        EXPECT_EQ((*usage)[i].usage, expected);
      }
    }
  }

  EXPECT_EQ(store->ListRollups("ta", {RollupGrain::kHour, RollupDimension::kTenant, 0, 401 * 86400, std::nullopt})
                .error()
                .code,
            Code::kInvalidArgument);
  EXPECT_TRUE(store->ListRollups("tb", {RollupGrain::kHour, RollupDimension::kTenant, kDay0, kDay0 + 86400, {}})
                  ->empty());  // another tenant sees nothing
}

// Participants' quality samples count in the quality figures of the
// tenant, their source, site and model at their start hour and day, once:
// not as calls, seconds or calls in progress, not again when the batch or
// the participant is sent again, and not at all without a measured value.
TEST_P(Rollups, ParticipantQualityCountsOnceAndNotAsCalls) {
  TempDir dir;
  auto store = NewStore(GetParam(), dir, "p");
  const int64_t h9 = kDay0 + 9 * kH, h10 = kDay0 + 10 * kH;
  // A call 09:50-10:20 from Paris (G500) measured at its origin.
  StoredCall c1 = Call("dma", "c1", h9 + 50 * 60, h10 + 20 * 60, 1800, true);
  c1.orig_site = "Paris";
  c1.orig_model = "G500";
  c1.quality = {Sample("orig", 40, 5, 1.0, 4.0)};
  ASSERT_TRUE(Commit(*store, "calls", {c1}).ok());
  const auto calls_only = Rows(*store, RollupGrain::kHour, RollupDimension::kTenant, kDay0, kDay0 + 86400);
  const auto peaks = Peaks(*store, "", h9, h10 + kH);

  // An RPRM endpoint in Paris (G7500), both directions measured, 09:55.
  StoredParticipant p1 = Participant("rprm", "p1", h9 + 55 * 60, "Paris", "G7500");
  QualitySample tx = Sample("participant", 120, 20, 2.5, 3.0), rx = Sample("participant", 100, 10, 0.5, 4.5);
  tx.direction = "tx";
  p1.quality = {tx, rx};
  // A Pexip leg in Oslo at 10:30 with loss only (Pexip measures no jitter).
  StoredParticipant p2 = Participant("pexip", "p2", h10 + 30 * 60, "Oslo", "");
  QualitySample loss_only;
  loss_only.party = "participant";
  loss_only.direction = "rx";
  loss_only.media = "audio";
  loss_only.packet_loss_pct_avg = 0.25;
  p2.quality = {loss_only};
  // Legs that measured nothing, or only maxima, add no row.
  StoredParticipant p3 = Participant("blind", "p3", h10, "Lima", "M1");
  StoredParticipant p4 = Participant("blind", "p4", h10, "Lima", "M1");
  QualitySample maxima;
  maxima.party = "participant";
  maxima.direction = "rx";
  maxima.media = "audio";
  maxima.jitter_ms_max = 30;
  p4.quality = {maxima};
  ASSERT_TRUE(Commit(*store, "legs", {}, {p1, p2, p3, p4}).ok());

  QualityAggregate q1;  // p1's samples
  q1.Add(tx);
  q1.Add(rx);
  QualityAggregate q2;
  q2.Add(loss_only);
  QualityAggregate paris9;  // c1's origin and p1
  paris9.Add(c1.quality[0]);
  paris9.Merge(q1);
  EXPECT_EQ(q1.latency_n, 2);
  EXPECT_EQ(q1.latency_ms_sum, 220);

  auto tenant = Rows(*store, RollupGrain::kHour, RollupDimension::kTenant, kDay0, kDay0 + 86400);
  ASSERT_EQ(tenant.size(), 2u);
  for (int64_t h : {h9, h10}) {  // usage figures unchanged
    EXPECT_EQ(At(tenant, "", h).calls, At(calls_only, "", h).calls);
    EXPECT_EQ(At(tenant, "", h).completed, At(calls_only, "", h).completed);
    EXPECT_EQ(At(tenant, "", h).failed, At(calls_only, "", h).failed);
    EXPECT_EQ(At(tenant, "", h).seconds, At(calls_only, "", h).seconds);
  }
  EXPECT_EQ(At(tenant, "", h9).quality, paris9);
  EXPECT_EQ(At(tenant, "", h9).quality.latency_n, 3);
  EXPECT_EQ(At(tenant, "", h9).quality.latency_ms_sum, 260);
  EXPECT_EQ(At(tenant, "", h9).quality.mos_sum, 11.5);
  EXPECT_EQ(At(tenant, "", h9).quality.jitter_ms.Count(), 3);
  EXPECT_EQ(At(tenant, "", h10).quality, q2);
  EXPECT_EQ(At(tenant, "", h10).quality.loss_n, 1);
  EXPECT_EQ(At(tenant, "", h10).quality.jitter_n, 0);

  auto sources = Rows(*store, RollupGrain::kHour, RollupDimension::kSource, kDay0, kDay0 + 86400);
  EXPECT_EQ(sources.size(), 4u);  // dma 09 and 10, rprm 09, pexip 10; not "blind"
  EXPECT_EQ(At(sources, "rprm", h9).calls, 0);
  EXPECT_EQ(At(sources, "rprm", h9).seconds, 0);
  EXPECT_EQ(At(sources, "rprm", h9).quality, q1);
  EXPECT_EQ(At(sources, "pexip", h10).quality, q2);
  EXPECT_EQ(At(sources, "dma", h9).quality.latency_n, 1);  // the call's own

  auto sites = Rows(*store, RollupGrain::kHour, RollupDimension::kSite, kDay0, kDay0 + 86400);
  EXPECT_EQ(At(sites, "Paris", h9).calls, 1);
  EXPECT_EQ(At(sites, "Paris", h9).quality, paris9);
  EXPECT_EQ(At(sites, "Oslo", h10).calls, 0);
  EXPECT_EQ(At(sites, "Oslo", h10).quality, q2);
  EXPECT_EQ(sites.count({"Lima", h10}), 0u);
  auto models = Rows(*store, RollupGrain::kHour, RollupDimension::kModel, kDay0, kDay0 + 86400);
  EXPECT_EQ(At(models, "G500", h9).quality.latency_n, 1);
  EXPECT_EQ(At(models, "G7500", h9).calls, 0);
  EXPECT_EQ(At(models, "G7500", h9).quality, q1);
  EXPECT_EQ(models.count({"M1", h10}), 0u);
  EXPECT_EQ(models.size(), 3u);  // G500 09 and 10, G7500 09; p2 has no model

  auto day = Rows(*store, RollupGrain::kDay, RollupDimension::kTenant, kDay0, kDay0 + 86400);
  QualityAggregate all = paris9;
  all.Merge(q2);
  EXPECT_EQ(At(day, "", kDay0).calls, 1);
  EXPECT_EQ(At(day, "", kDay0).quality, all);
  EXPECT_EQ(Peaks(*store, "", h9, h10 + kH), peaks);  // legs are not calls in progress
  EXPECT_EQ(Peaks(*store, "rprm", h9, h10 + kH), (std::vector<int64_t>{0, 0}));

  // The batch resent, the legs again in another batch, alone or with a new
  // leg: only the new leg adds.
  auto everything = [&] {
    std::vector<std::map<std::pair<std::string, int64_t>, UsageAggregate>> out;
    for (RollupGrain grain : {RollupGrain::kHour, RollupGrain::kDay})
      for (RollupDimension dim :
           {RollupDimension::kTenant, RollupDimension::kSource, RollupDimension::kSite, RollupDimension::kModel})
        out.push_back(Rows(*store, grain, dim, kDay0, kDay0 + 86400));
    return out;
  };
  const auto before = everything();
  ASSERT_TRUE(Commit(*store, "legs", {}, {p1, p2, p3, p4}).ok());
  ASSERT_TRUE(Commit(*store, "again", {c1}, {p2, p1}).ok());
  ASSERT_TRUE(Commit(*store, "twice", {}, {p1, p1}).ok());
  EXPECT_EQ(everything(), before);
  StoredParticipant p5 = Participant("rprm", "p5", h9 + 5 * 60, "Paris", "G7500");
  p5.quality = {Sample("participant", 60, 8, 0.75, 4.25)};
  ASSERT_TRUE(Commit(*store, "new", {}, {p1, p5, p5}).ok());
  QualityAggregate with_p5 = q1;
  with_p5.Add(p5.quality[0]);
  sources = Rows(*store, RollupGrain::kHour, RollupDimension::kSource, kDay0, kDay0 + 86400);
  EXPECT_EQ(At(sources, "rprm", h9).quality, with_p5);
  EXPECT_EQ(At(sources, "rprm", h9).quality.latency_n, 3);
  EXPECT_EQ(Rows(*store, RollupGrain::kHour, RollupDimension::kTenant, kDay0, kDay0 + 86400).at({"", h9}).calls, 1);

  auto report = VerifyRollups(*store, "ta", kDay0);
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_TRUE(report->ok()) << (report->examples.empty() ? "" : report->examples.front());
  EXPECT_EQ(report->calls, 1);
  EXPECT_EQ(report->participants, 5);
}

// `n` random calls over three days from kDay0 on two sources, with sites,
// models and quality samples (quarter steps: sums are exact in binary,
// whatever the order).
std::vector<StoredCall> RandomCalls(std::mt19937& rng, int n) {
  std::vector<StoredCall> calls;
  const char* sources[] = {"dma", "kam"};
  const char* sites[] = {"", "Paris", "London", "Austin"};
  const char* models[] = {"", "G500", "X50"};
  for (int i = 0; i < n; ++i) {
    int64_t start = kDay0 + static_cast<int64_t>(rng() % (3 * 86400));
    int64_t length = static_cast<int64_t>(rng() % 7200);
    bool completed = rng() % 5 != 0;
    StoredCall c = Call(sources[rng() % 2], "c" + std::to_string(i), start, start + length,
                        completed ? length - static_cast<int64_t>(rng() % 20 < 5 ? rng() % (length + 1) : 0) : 0,
                        completed);
    c.orig_site = sites[rng() % 4];
    c.dest_site = sites[rng() % 4];
    c.orig_model = models[rng() % 3];
    c.dest_model = models[rng() % 3];
    if (rng() % 3 != 0) c.quality.push_back(Sample("orig", (rng() % 800) / 4.0, (rng() % 200) / 4.0, (rng() % 40) / 4.0, 1 + (rng() % 16) / 4.0));
    if (rng() % 3 == 0) c.quality.push_back(Sample("dest", (rng() % 800) / 4.0, (rng() % 200) / 4.0, (rng() % 40) / 4.0, 1 + (rng() % 16) / 4.0));
    calls.push_back(std::move(c));
  }
  return calls;
}

// `n` random participants over three days from kDay0 on two sources of
// their own (as RPRM and Pexip: no calls), with sites, models and zero to
// two samples.
std::vector<StoredParticipant> RandomParticipants(std::mt19937& rng, int n) {
  std::vector<StoredParticipant> out;
  const char* sources[] = {"rprm", "pexip"};
  const char* sites[] = {"", "Paris", "Oslo"};
  const char* models[] = {"", "G500", "G7500"};
  for (int i = 0; i < n; ++i) {
    StoredParticipant p = Participant(sources[rng() % 2], "p" + std::to_string(i),
                                      kDay0 + static_cast<int64_t>(rng() % (3 * 86400)), sites[rng() % 3],
                                      models[rng() % 3]);
    for (const char* direction : {"tx", "rx"}) {
      if (rng() % 3 == 0) continue;
      QualitySample q = Sample("participant", (rng() % 800) / 4.0, (rng() % 200) / 4.0, (rng() % 40) / 4.0, 0);
      q.direction = direction;
      q.mos.reset();  // RPRM and Pexip give no MOS
      if (rng() % 4 == 0) q.jitter_ms_avg.reset();
      p.quality.push_back(q);
    }
    out.push_back(std::move(p));
  }
  return out;
}

// Random calls over three days, committed in order into one store and
// shuffled, in other batch sizes, with resent batches and repeated calls
// into another: every rollup and every hourly peak is the same, and equals
// the figures recomputed from the raw calls.
TEST_P(Rollups, IndependentOfOrderBatchesAndDuplicatesAndEqualToRecomputation) {
  std::mt19937 rng(42);
  std::vector<StoredCall> calls = RandomCalls(rng, 600);

  TempDir dir;
  auto in_order = NewStore(GetParam(), dir, "a");
  auto shuffled = NewStore(GetParam(), dir, "b");
  std::vector<StoredCall> sorted = calls;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.start_at < b.start_at; });
  for (size_t i = 0; i < sorted.size(); i += 50)
    ASSERT_TRUE(Commit(*in_order, "o" + std::to_string(i),
                       std::vector<StoredCall>(sorted.begin() + static_cast<long>(i),
                                               sorted.begin() + static_cast<long>(std::min(sorted.size(), i + 50))))
                    .ok());
  std::vector<StoredCall> mixed = calls;
  std::shuffle(mixed.begin(), mixed.end(), rng);
  for (size_t i = 0; i < mixed.size(); i += 37) {
    std::vector<StoredCall> part(mixed.begin() + static_cast<long>(i),
                                 mixed.begin() + static_cast<long>(std::min(mixed.size(), i + 37)));
    ASSERT_TRUE(Commit(*shuffled, "s" + std::to_string(i), part).ok());
    if (i % 3 == 0) {
      ASSERT_TRUE(Commit(*shuffled, "s" + std::to_string(i), part).ok());  // resent
    }
    if (i % 5 == 0) {
      // Two calls seen before and one not yet stored (the next part's
      // first): only the new call counts, and that part then repeats it.
      std::vector<StoredCall> repeat{part.front(), part.back()};
      if (i + 37 < mixed.size()) repeat.push_back(mixed[i + 37]);
      ASSERT_TRUE(Commit(*shuffled, "r" + std::to_string(i), repeat).ok());
    }
  }

  // Recomputed from the raw calls (each once).
  detail::RollupDelta expected;
  for (const auto& c : calls) detail::AddCallToRollups(c, expected);

  const int64_t from = kDay0 - kH, to = kDay0 + 4 * 86400;
  size_t compared = 0;
  for (RollupGrain grain : {RollupGrain::kHour, RollupGrain::kDay}) {
    for (RollupDimension dim :
         {RollupDimension::kTenant, RollupDimension::kSource, RollupDimension::kSite, RollupDimension::kModel}) {
      auto a = Rows(*in_order, grain, dim, from - 86400, to);
      EXPECT_EQ(a, Rows(*shuffled, grain, dim, from - 86400, to));
      std::map<std::pair<std::string, int64_t>, UsageAggregate> want;
      for (const auto& [k, u] : expected.usage)
        if (std::get<0>(k) == grain && std::get<1>(k) == dim) want[{std::get<2>(k), std::get<3>(k)}] = u;
      EXPECT_EQ(a, want);
      compared += a.size();
    }
  }
  EXPECT_GT(compared, 500u);

  // Peaks against a brute-force count of calls in progress per minute.
  for (std::string source : {"", "dma", "kam"}) {
    std::map<int64_t, int64_t> per_minute;
    for (const auto& c : calls) {
      if (c.status != "completed" || c.end_at <= c.start_at || (!source.empty() && c.source != source)) continue;
      for (int64_t m = detail::FloorTo(c.start_at, 60); m < c.end_at; m += 60) ++per_minute[m];
    }
    std::vector<int64_t> brute;
    for (int64_t h = from; h < to; h += kH) {
      int64_t peak = 0;
      for (int64_t m = h; m < h + kH; m += 60) peak = std::max(peak, per_minute.count(m) ? per_minute[m] : 0);
      brute.push_back(peak);
    }
    EXPECT_EQ(Peaks(*in_order, source, from, to), brute) << source;
    EXPECT_EQ(Peaks(*shuffled, source, from, to), brute) << source;
  }

  // VerifyRollups (`parley rollups verify`) recomputes the same from the
  // stored calls and finds both stores right.
  for (Store* store : {in_order.get(), shuffled.get()}) {
    auto report = VerifyRollups(*store, "ta", kDay0);
    ASSERT_TRUE(report.ok()) << report.error().detail;
    EXPECT_TRUE(report->ok()) << (report->examples.empty() ? "" : report->examples.front());
    EXPECT_EQ(report->calls, 600);
    EXPECT_EQ(report->rows_compared, static_cast<int64_t>(expected.usage.size()));
    EXPECT_GT(report->peak_hours_compared, 3 * 72);  // the tenant's and both sources' busy hours
  }
}

// Calls and participants in mixed batches, in order into one store and
// shuffled, resent and repeated into another: the rollups are the same,
// equal to the recomputation from the raw records, and VerifyRollups (which
// pages participants past 1000) agrees; the call figures are the calls'.
TEST_P(Rollups, MixedCallsAndParticipantsEqualToRecomputation) {
  std::mt19937 rng(11);
  std::vector<StoredCall> calls = RandomCalls(rng, 200);
  std::vector<StoredParticipant> legs = RandomParticipants(rng, 1100);
  TempDir dir;
  auto in_order = NewStore(GetParam(), dir, "m1");
  auto shuffled = NewStore(GetParam(), dir, "m2");
  for (size_t i = 0, j = 0; i < calls.size() || j < legs.size(); i += 20, j += 110) {
    std::vector<StoredCall> c(calls.begin() + static_cast<long>(std::min(calls.size(), i)),
                              calls.begin() + static_cast<long>(std::min(calls.size(), i + 20)));
    std::vector<StoredParticipant> p(legs.begin() + static_cast<long>(std::min(legs.size(), j)),
                                     legs.begin() + static_cast<long>(std::min(legs.size(), j + 110)));
    ASSERT_TRUE(Commit(*in_order, "o" + std::to_string(i), c, p).ok());
  }
  std::vector<StoredParticipant> mixed = legs;
  std::shuffle(mixed.begin(), mixed.end(), rng);
  for (size_t j = 0; j < mixed.size(); j += 97) {
    std::vector<StoredParticipant> part(mixed.begin() + static_cast<long>(j),
                                        mixed.begin() + static_cast<long>(std::min(mixed.size(), j + 97)));
    std::vector<StoredCall> c;
    if (j / 97 < calls.size() / 20)
      c.assign(calls.begin() + static_cast<long>(j / 97 * 20), calls.begin() + static_cast<long>(j / 97 * 20 + 20));
    ASSERT_TRUE(Commit(*shuffled, "s" + std::to_string(j), c, part).ok());
    if (j % 2 == 0) {
      ASSERT_TRUE(Commit(*shuffled, "s" + std::to_string(j), c, part).ok());  // resent
    }
    ASSERT_TRUE(Commit(*shuffled, "r" + std::to_string(j), {calls.front()}, {part.back(), legs.front()}).ok());
  }
  ASSERT_TRUE(Commit(*shuffled, "rest", calls, {}).ok());  // the calls not sent yet (and all others again)

  detail::RollupDelta expected, calls_only;
  for (const auto& c : calls) {
    detail::AddCallToRollups(c, expected);
    detail::AddCallToRollups(c, calls_only);
  }
  for (const auto& p : legs) detail::AddParticipantToRollups(p, expected);
  ASSERT_GT(expected.usage.size(), calls_only.usage.size());
  const int64_t from = kDay0 - 86400, to = kDay0 + 4 * 86400;
  for (RollupGrain grain : {RollupGrain::kHour, RollupGrain::kDay}) {
    for (RollupDimension dim :
         {RollupDimension::kTenant, RollupDimension::kSource, RollupDimension::kSite, RollupDimension::kModel}) {
      auto a = Rows(*in_order, grain, dim, from, to);
      EXPECT_EQ(a, Rows(*shuffled, grain, dim, from, to));
      std::map<std::pair<std::string, int64_t>, UsageAggregate> want;
      for (const auto& [k, u] : expected.usage)
        if (std::get<0>(k) == grain && std::get<1>(k) == dim) want[{std::get<2>(k), std::get<3>(k)}] = u;
      EXPECT_EQ(a, want);
      // Calls, outcomes and seconds are the calls' alone.
      for (const auto& [k, u] : a) {
        auto c = calls_only.usage.find({grain, dim, k.first, k.second});
        const UsageAggregate none;
        const UsageAggregate& w = c == calls_only.usage.end() ? none : c->second;
        EXPECT_EQ(std::make_tuple(u.calls, u.completed, u.failed, u.seconds),
                  std::make_tuple(w.calls, w.completed, w.failed, w.seconds));
      }
    }
  }
  for (Store* store : {in_order.get(), shuffled.get()}) {
    auto report = VerifyRollups(*store, "ta", kDay0);
    ASSERT_TRUE(report.ok()) << report.error().detail;
    EXPECT_TRUE(report->ok()) << (report->examples.empty() ? "" : report->examples.front());
    EXPECT_EQ(report->calls, 200);
    EXPECT_EQ(report->participants, 1100);
    EXPECT_EQ(report->rows_compared, static_cast<int64_t>(expected.usage.size()));
  }
}

// `parley rollups verify` on a tampered store: a changed hourly figure, a
// removed daily row, an extra row, a changed quality sum and a changed
// hourly peak are each reported once, with the row they are in; an empty
// tenant verifies.
TEST_P(Rollups, VerifyReportsEachTamperedRow) {
  std::mt19937 rng(7);
  std::vector<StoredCall> calls = RandomCalls(rng, 300);
  TempDir dir;
  RawSql raw;
  auto store = NewStore(GetParam(), dir, "v", &raw);
  for (size_t i = 0; i < calls.size(); i += 40)
    ASSERT_TRUE(Commit(*store, "v" + std::to_string(i),
                       std::vector<StoredCall>(calls.begin() + static_cast<long>(i),
                                               calls.begin() + static_cast<long>(std::min(calls.size(), i + 40))))
                    .ok());
  auto clean = VerifyRollups(*store, "ta", kDay0);
  ASSERT_TRUE(clean.ok()) << clean.error().detail;
  EXPECT_TRUE(clean->ok()) << (clean->examples.empty() ? "" : clean->examples.front());
  EXPECT_EQ(clean->calls, 300);
  EXPECT_GT(clean->rows_compared, 300);
  EXPECT_TRUE(clean->examples.empty());
  auto other = VerifyRollups(*store, "tb", kDay0);  // no such tenant: nothing stored, nothing recomputed
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->ok());
  EXPECT_EQ(other->calls, 0);
  EXPECT_EQ(other->rows_compared, 0);

  // The first hourly row of Paris and of source dma, the first daily row.
  const int64_t from = kDay0 - kH, to = kDay0 + 4 * 86400;
  auto paris = Rows(*store, RollupGrain::kHour, RollupDimension::kSite, from, to);
  auto dma = Rows(*store, RollupGrain::kHour, RollupDimension::kSource, from, to);
  auto days = Rows(*store, RollupGrain::kDay, RollupDimension::kTenant, from, to);
  auto first_of = [](const auto& rows, const std::string& key) {
    auto it = rows.lower_bound({key, INT64_MIN});
    return it != rows.end() && it->first.first == key ? it->first.second : int64_t{-1};
  };
  const int64_t hp = first_of(paris, "Paris"), hd = first_of(dma, "dma"), d1 = first_of(days, "");
  ASSERT_GE(hp, kDay0);
  ASSERT_GE(hd, kDay0);
  ASSERT_GE(d1, kDay0);
  const std::string b = std::to_string(hp), d = std::to_string(d1);
  raw.Exec("UPDATE rollup_hour SET calls = calls + 1, completed = completed + 1 WHERE tenant_id = 'ta'"
           " AND dimension = 2 AND key = 'Paris' AND bucket = " + b);
  raw.Exec("DELETE FROM rollup_day WHERE tenant_id = 'ta' AND dimension = 0 AND bucket = " + d);
  raw.Exec("UPDATE rollup_hour SET latency_ms_sum = latency_ms_sum + 0.5 WHERE tenant_id = 'ta'"
           " AND dimension = 1 AND key = 'dma' AND bucket = " + std::to_string(hd));
  raw.Exec("INSERT INTO rollup_hour (tenant_id, dimension, key, bucket, " + std::string(detail::kRollupColumns) +
           ") SELECT tenant_id, dimension, 'Nowhere', bucket, " + std::string(detail::kRollupColumns) +
           " FROM rollup_hour WHERE tenant_id = 'ta' AND dimension = 2"
           " AND key = 'Paris' AND bucket = " + b);
  raw.Exec("UPDATE concurrency_hour SET peak_rel = peak_rel + 3 WHERE tenant_id = 'ta' AND source = 'kam'"
           " AND hour = (SELECT MIN(hour) FROM concurrency_hour WHERE tenant_id = 'ta' AND source = 'kam')");

  auto report = VerifyRollups(*store, "ta", kDay0);
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_FALSE(report->ok());
  EXPECT_EQ(report->mismatches, 5);
  EXPECT_EQ(report->rows_compared, clean->rows_compared + 1);  // the extra row
  std::string all;
  for (const auto& e : report->examples) all += e + "\n";
  const std::string hour = FormatUtc(hp);
  EXPECT_NE(all.find("hour site 'Paris' " + hour + ": calls "), std::string::npos) << all;
  EXPECT_NE(all.find("completed "), std::string::npos) << all;
  EXPECT_NE(all.find("day tenant '' " + FormatUtc(d1) + ": not stored"), std::string::npos) << all;
  EXPECT_NE(all.find("hour source 'dma' " + FormatUtc(hd) + ": latency_ms_sum "), std::string::npos) << all;
  EXPECT_NE(all.find("hour site 'Nowhere' " + hour + ": stored"), std::string::npos) << all;
  EXPECT_NE(all.find("peak 'kam' "), std::string::npos) << all;
  EXPECT_EQ(all.find("peak all sources"), std::string::npos) << all;  // only kam's series was changed

  auto capped = VerifyRollups(*store, "ta", kDay0, 2);
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->mismatches, 5);
  EXPECT_EQ(capped->examples.size(), 2u);
}

// Several servers (here: threads, each CommitBatch on its own pooled
// connection on PostgreSQL) committing batches whose calls fall in the same
// hours, sites and minutes at once: no update is lost, no batch fails with
// a deadlock, and the rollups equal the recomputation.
TEST_P(Rollups, ConcurrentBatchesTouchingTheSameRowsLoseNothing) {
  std::mt19937 rng(99);
  std::vector<StoredCall> calls = RandomCalls(rng, 1200);
  TempDir dir;
  auto store = NewStore(GetParam(), dir, "c");
  constexpr int kThreads = 4, kBatch = 30;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::mutex mu;
  std::string first_failure;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Thread t takes every kThreads-th batch: all threads work over the
      // whole three days at once.
      for (size_t i = static_cast<size_t>(t) * kBatch; i < calls.size(); i += kThreads * kBatch) {
        std::vector<StoredCall> part(calls.begin() + static_cast<long>(i),
                                     calls.begin() + static_cast<long>(std::min(calls.size(), i + kBatch)));
        Status s = Commit(*store, "t" + std::to_string(i), std::move(part));
        if (!s.ok()) {
          std::lock_guard lock(mu);
          if (failures++ == 0) first_failure = s.error().detail;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0) << first_failure;

  detail::RollupDelta expected;
  for (const auto& c : calls) detail::AddCallToRollups(c, expected);
  const int64_t from = kDay0 - 86400 - kH, to = kDay0 + 4 * 86400;
  for (RollupGrain grain : {RollupGrain::kHour, RollupGrain::kDay}) {
    for (RollupDimension dim :
         {RollupDimension::kTenant, RollupDimension::kSource, RollupDimension::kSite, RollupDimension::kModel}) {
      std::map<std::pair<std::string, int64_t>, UsageAggregate> want;
      for (const auto& [k, u] : expected.usage)
        if (std::get<0>(k) == grain && std::get<1>(k) == dim) want[{std::get<2>(k), std::get<3>(k)}] = u;
      EXPECT_EQ(Rows(*store, grain, dim, from, to), want);
    }
  }
  auto report = VerifyRollups(*store, "ta", kDay0);
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_TRUE(report->ok()) << (report->examples.empty() ? "" : report->examples.front());
  EXPECT_EQ(report->calls, 1200);
}

// Verify counts participants' quality: a changed figure in a row only
// participants add to, and such a row removed, are each reported once.
TEST_P(Rollups, VerifyReportsTamperedParticipantRows) {
  std::mt19937 rng(3);
  std::vector<StoredCall> calls = RandomCalls(rng, 50);
  std::vector<StoredParticipant> legs = RandomParticipants(rng, 120);
  TempDir dir;
  RawSql raw;
  auto store = NewStore(GetParam(), dir, "vp", &raw);
  ASSERT_TRUE(Commit(*store, "b1", calls, legs).ok());
  auto clean = VerifyRollups(*store, "ta", kDay0);
  ASSERT_TRUE(clean.ok()) << clean.error().detail;
  EXPECT_TRUE(clean->ok()) << (clean->examples.empty() ? "" : clean->examples.front());
  EXPECT_EQ(clean->participants, 120);

  const int64_t from = kDay0 - kH, to = kDay0 + 4 * 86400;
  auto rprm = Rows(*store, RollupGrain::kHour, RollupDimension::kSource, from, to);
  auto g7500 = Rows(*store, RollupGrain::kDay, RollupDimension::kModel, from, to);
  auto first_of = [](const auto& rows, const std::string& key) {
    auto it = rows.lower_bound({key, INT64_MIN});
    return it != rows.end() && it->first.first == key ? it->first.second : int64_t{-1};
  };
  const int64_t hr = first_of(rprm, "rprm"), dg = first_of(g7500, "G7500");
  ASSERT_GE(hr, kDay0);
  ASSERT_GE(dg, kDay0);
  raw.Exec("UPDATE rollup_hour SET jitter_n = jitter_n + 1 WHERE tenant_id = 'ta' AND dimension = 1"
           " AND key = 'rprm' AND bucket = " + std::to_string(hr));
  raw.Exec("DELETE FROM rollup_day WHERE tenant_id = 'ta' AND dimension = 3 AND key = 'G7500' AND bucket = " +
           std::to_string(dg));
  auto report = VerifyRollups(*store, "ta", kDay0);
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_EQ(report->mismatches, 2);
  std::string all;
  for (const auto& e : report->examples) all += e + "\n";
  EXPECT_NE(all.find("hour source 'rprm' " + FormatUtc(hr) + ": jitter_n "), std::string::npos) << all;
  EXPECT_NE(all.find("day model 'G7500' " + FormatUtc(dg) + ": not stored"), std::string::npos) << all;
}

// Every rollup row (both grains, every dimension) and the hourly peaks of
// the tenant-wide and per-source series, for comparing a store's rollups.
struct RollupSnapshot {
  std::map<std::tuple<RollupGrain, RollupDimension, std::string, int64_t>, UsageAggregate> rows;
  std::map<std::string, std::vector<int64_t>> peaks;
  bool operator==(const RollupSnapshot&) const = default;
};

RollupSnapshot Snapshot(Store& store, const std::string& tenant = "ta") {
  const int64_t from = kDay0 - 86400, to = kDay0 + 6 * 86400;
  RollupSnapshot out;
  for (RollupGrain grain : {RollupGrain::kHour, RollupGrain::kDay})
    for (RollupDimension dim :
         {RollupDimension::kTenant, RollupDimension::kSource, RollupDimension::kSite, RollupDimension::kModel}) {
      auto rows = store.ListRollups(tenant, {grain, dim, from, to, std::nullopt});
      EXPECT_TRUE(rows.ok()) << rows.error().detail;
      for (auto& r : *rows) out.rows[{grain, dim, r.key, r.bucket}] = r.usage;
    }
  for (const char* source : {"", "dma", "kam"}) {
    auto peaks = store.ListHourlyPeaks(tenant, source, from, to);
    EXPECT_TRUE(peaks.ok()) << peaks.error().detail;
    for (const auto& p : *peaks) out.peaks[source].push_back(p.peak);
  }
  return out;
}

// `parley rollups rebuild`: rollups with rows changed, missing (as for calls
// stored before the rollups existed), extra, and without their calls in
// progress are recomputed from the raw records and replaced, equal to what
// ingest kept; a second rebuild changes nothing; another tenant's rows stay.
TEST_P(Rollups, RebuildRestoresWhatIngestKept) {
  std::mt19937 rng(21);
  std::vector<StoredCall> calls = RandomCalls(rng, 300);
  std::vector<StoredParticipant> legs = RandomParticipants(rng, 150);
  TempDir dir;
  RawSql raw;
  auto store = NewStore(GetParam(), dir, "rb", &raw);
  ASSERT_TRUE(Commit(*store, "b1", std::vector<StoredCall>(calls.begin(), calls.begin() + 150), legs).ok());
  ASSERT_TRUE(Commit(*store, "b2", std::vector<StoredCall>(calls.begin() + 150, calls.end())).ok());
  const RollupSnapshot kept = Snapshot(*store);
  ASSERT_GT(kept.rows.size(), 300u);
  Tenant other;
  other.id = "tb";
  other.name = "org-b";
  other.domains = {"b.example"};
  other.wrapped_data_key = "k";
  ASSERT_TRUE(store->CreateTenant(other).ok());
  raw.Exec("INSERT INTO rollup_hour (tenant_id, dimension, key, bucket, " + std::string(detail::kRollupColumns) +
           ") SELECT 'tb', dimension, key, bucket, " + std::string(detail::kRollupColumns) +
           " FROM rollup_hour WHERE tenant_id = 'ta' AND dimension = 0");
  const RollupSnapshot other_kept = Snapshot(*store, "tb");
  ASSERT_FALSE(other_kept.rows.empty());

  raw.Exec("UPDATE rollup_hour SET calls = calls + 5, jitter_n = jitter_n + 1 WHERE tenant_id = 'ta'"
           " AND dimension = 2");
  raw.Exec("DELETE FROM rollup_day WHERE tenant_id = 'ta' AND dimension = 3");
  raw.Exec("DELETE FROM rollup_hour WHERE tenant_id = 'ta' AND dimension = 1 AND key = 'rprm'");
  raw.Exec("INSERT INTO rollup_day (tenant_id, dimension, key, bucket, " + std::string(detail::kRollupColumns) +
           ") SELECT tenant_id, dimension, 'Nowhere', bucket, " + std::string(detail::kRollupColumns) +
           " FROM rollup_day WHERE tenant_id = 'ta' AND dimension = 0");
  raw.Exec("DELETE FROM concurrency_minute WHERE tenant_id = 'ta' AND source = 'kam'");
  raw.Exec("DELETE FROM concurrency_hour WHERE tenant_id = 'ta'");
  ASSERT_NE(Snapshot(*store), kept);
  auto tampered = VerifyRollups(*store, "ta", kDay0);
  ASSERT_TRUE(tampered.ok()) << tampered.error().detail;
  EXPECT_FALSE(tampered->ok());

  for (int round = 0; round < 2; ++round) {
    auto rebuilt = RebuildRollups(*store, "ta");
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().detail;
    EXPECT_EQ(rebuilt->calls, 300);
    EXPECT_EQ(rebuilt->participants, 150);
    EXPECT_EQ(rebuilt->from, INT64_MIN);
    EXPECT_EQ(Snapshot(*store), kept) << "round " << round;
    auto verified = VerifyRollups(*store, "ta", kDay0);
    ASSERT_TRUE(verified.ok()) << verified.error().detail;
    EXPECT_TRUE(verified->ok()) << (verified->examples.empty() ? "" : verified->examples.front());
  }
  EXPECT_EQ(Snapshot(*store, "tb"), other_kept);
  // Ingest after a rebuild adds to the rebuilt rows as before.
  ASSERT_TRUE(Commit(*store, "b3", RandomCalls(rng, 20)).ok());
  auto after = VerifyRollups(*store, "ta", kDay0);
  ASSERT_TRUE(after.ok()) << after.error().detail;
  EXPECT_TRUE(after->ok()) << (after->examples.empty() ? "" : after->examples.front());
}

// A batch committed while the rollups are being replaced waits until they
// are, then adds to the replaced rows: it is neither lost (committed before
// the recomputation read it, then overwritten) nor counted twice.
TEST_P(Rollups, ReplaceRollupsHoldsIngestOff) {
  std::mt19937 rng(23);
  std::vector<StoredCall> first = RandomCalls(rng, 100);
  std::vector<StoredCall> second = RandomCalls(rng, 50);
  for (StoredCall& c : second) c.call_id = "late-" + c.call_id;
  TempDir dir;
  auto store = NewStore(GetParam(), dir, "hold");
  ASSERT_TRUE(Commit(*store, "b1", first).ok());
  std::thread ingest;
  std::atomic<bool> committed{false};
  Status replaced = store->ReplaceRollups("ta", INT64_MIN, [&]() -> Result<detail::RollupDelta> {
    ingest = std::thread([&] {
      EXPECT_TRUE(Commit(*store, "b2", second).ok());
      committed = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_FALSE(committed.load());  // waiting on the lock
    auto stored = store->CountCalls("ta", std::nullopt);
    EXPECT_TRUE(stored.ok());
    EXPECT_EQ(stored.ok() ? *stored : -1, 100);
    detail::RollupDelta delta;
    for (const StoredCall& c : first) detail::AddCallToRollups(c, delta);
    return delta;
  });
  ASSERT_TRUE(replaced.ok()) << replaced.error().detail;
  ingest.join();
  EXPECT_TRUE(committed.load());
  auto verified = VerifyRollups(*store, "ta", kDay0);
  ASSERT_TRUE(verified.ok()) << verified.error().detail;
  EXPECT_EQ(verified->calls, 150);
  EXPECT_TRUE(verified->ok()) << (verified->examples.empty() ? "" : verified->examples.front());
}

// After retention the records before its boundary are gone but their
// rollups are not: a rebuild replaces only the buckets from the first day
// boundary a day after it, and keeps the older rows as they are.
TEST_P(Rollups, RebuildAfterRetentionKeepsTheOlderBuckets) {
  std::mt19937 rng(22);
  std::vector<StoredCall> calls = RandomCalls(rng, 300);
  TempDir dir;
  RawSql raw;
  auto store = NewStore(GetParam(), dir, "rr", &raw);
  ASSERT_TRUE(Commit(*store, "b1", calls).ok());
  const RollupSnapshot kept = Snapshot(*store);
  const int64_t retained_from = kDay0 + kH;
  const int64_t from = kDay0 + 86400 + kH;       // the first hour boundary a day after retained_from
  const int64_t days_from = kDay0 + 2 * 86400;  // and the first day boundary after that
  raw.Exec("UPDATE rollup_day SET calls = calls + 7 WHERE tenant_id = 'ta' AND dimension = 0");
  raw.Exec("UPDATE rollup_hour SET seconds = seconds + 60 WHERE tenant_id = 'ta' AND dimension = 1");

  auto rebuilt = RebuildRollups(*store, "ta", retained_from);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().detail;
  EXPECT_EQ(rebuilt->from, from);
  const RollupSnapshot now = Snapshot(*store);
  int before = 0, after = 0;
  for (const auto& [k, usage] : kept.rows) {
    const auto& [grain, dim, key, bucket] = k;
    const bool tampered = (grain == RollupGrain::kDay && dim == RollupDimension::kTenant) ||
                          (grain == RollupGrain::kHour && dim == RollupDimension::kSource);
    if (!tampered) continue;
    ASSERT_EQ(now.rows.count(k), 1u);
    if (bucket < (grain == RollupGrain::kDay ? days_from : from)) {
      ++before;
      EXPECT_NE(now.rows.at(k).calls + now.rows.at(k).seconds, usage.calls + usage.seconds);  // still tampered
    } else {
      ++after;
      EXPECT_EQ(now.rows.at(k), usage);  // restored
    }
  }
  EXPECT_GT(before, 0);
  EXPECT_GT(after, 0);
  EXPECT_EQ(now.peaks, kept.peaks);
  auto verified = VerifyRollups(*store, "ta", kDay0, 10, retained_from);
  ASSERT_TRUE(verified.ok()) << verified.error().detail;
  EXPECT_TRUE(verified->ok()) << (verified->examples.empty() ? "" : verified->examples.front());
}

INSTANTIATE_TEST_SUITE_P(Backends, Rollups, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace parley::store
