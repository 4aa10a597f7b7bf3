// Rollups maintained by CommitBatch, on both backends (SQLite, and a
// throw-away PostgreSQL 15): known calls give known figures; the figures do
// not depend on batch boundaries, order, resent batches or calls seen twice,
// and they equal the rollups recomputed from the raw calls.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

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

// A new, empty store of the test's backend ("sqlite" or "postgres").
std::unique_ptr<Store> NewStore(const std::string& backend, const TempDir& dir, const std::string& name) {
  Result<std::unique_ptr<Store>> store = InvalidArgument("no backend");
  if (backend == "sqlite") {
    store = OpenStore(dir.Url(name + ".db"));
  } else {
    auto& server = testing::PostgresServer::Get();
    const std::string db = server.CreateDatabase();
    store = OpenStore(server.AppUrl(db), StoreOpenOptions{server.OwnerUrl(db)});
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

Status Commit(Store& store, const std::string& batch_id, std::vector<StoredCall> calls) {
  BatchCommit b;
  b.tenant_id = "ta";
  b.agent_id = "a1";
  b.batch_id = batch_id;
  b.digest = "d";
  b.received_at = kDay0;
  b.calls = std::move(calls);
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

  EXPECT_EQ(store->ListRollups("ta", {RollupGrain::kHour, RollupDimension::kTenant, 0, 401 * 86400, std::nullopt})
                .error()
                .code,
            Code::kInvalidArgument);
  EXPECT_TRUE(store->ListRollups("tb", {RollupGrain::kHour, RollupDimension::kTenant, kDay0, kDay0 + 86400, {}})
                  ->empty());  // another tenant sees nothing
}

// Random calls over three days, committed in order into one store and
// shuffled, in other batch sizes, with resent batches and repeated calls
// into another: every rollup and every hourly peak is the same, and equals
// the figures recomputed from the raw calls.
TEST_P(Rollups, IndependentOfOrderBatchesAndDuplicatesAndEqualToRecomputation) {
  std::mt19937 rng(42);
  std::vector<StoredCall> calls;
  const char* sources[] = {"dma", "kam"};
  const char* sites[] = {"", "Paris", "London", "Austin"};
  const char* models[] = {"", "G500", "X50"};
  for (int i = 0; i < 600; ++i) {
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
    // Quarter steps: sums are exact in binary, whatever the order.
    if (rng() % 3 != 0) c.quality.push_back(Sample("orig", (rng() % 800) / 4.0, (rng() % 200) / 4.0, (rng() % 40) / 4.0, 1 + (rng() % 16) / 4.0));
    if (rng() % 3 == 0) c.quality.push_back(Sample("dest", (rng() % 800) / 4.0, (rng() % 200) / 4.0, (rng() % 40) / 4.0, 1 + (rng() % 16) / 4.0));
    calls.push_back(std::move(c));
  }

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
      ASSERT_TRUE(Commit(*shuffled, "r" + std::to_string(i), {part.front(), part.back()}).ok());  // seen before
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
}

INSTANTIATE_TEST_SUITE_P(Backends, Rollups, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace parley::store
