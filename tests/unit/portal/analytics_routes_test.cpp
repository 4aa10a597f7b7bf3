// The analytics routes' query handling and JSON (the figures themselves:
// tests/unit/analytics): clear 400s for bad dates, ranges, grains and
// dimensions; defaults; the documented fields.
#include "portal/analytics_routes.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>

#include "common/time_format.h"

namespace parley::portal {
namespace {

namespace json = boost::json;

class AnalyticsRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (std::filesystem::temp_directory_path() / "parley-analytics-routes-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    store_ = std::move(store::OpenStore("sqlite:" + (dir_ / "p.db").string())).value();
    store::Tenant t;
    t.id = "tny";
    t.name = "NY";
    t.domains = {"ny.example"};
    t.wrapped_data_key = "k";
    t.time_zone = "America/New_York";
    ASSERT_TRUE(store_->CreateTenant(t).ok());
    store::Agent a;
    a.id = "a1", a.tenant_id = "tny", a.name = "host", a.cert_fingerprint = "fp";
    ASSERT_TRUE(store_->CreateAgent(a).ok());
    store::BatchCommit batch;
    batch.tenant_id = "tny", batch.agent_id = "a1", batch.batch_id = "b1", batch.received_at = now_;
    auto call = [](const char* id, const char* start, int64_t seconds, const char* status) {
      store::StoredCall c;
      c.source = "dma", c.call_id = id, c.start_at = *ParseRfc3339(start), c.end_at = c.start_at + seconds;
      c.duration_s = seconds, c.status = status, c.orig_site = "HQ";
      store::QualitySample q;
      q.party = "orig", q.direction = "rx", q.media = "audio", q.jitter_ms_avg = 12, q.packet_loss_pct_avg = 0.5;
      c.quality = {q};
      return c;
    };
    batch.calls = {call("c1", "2026-01-14T15:00:00Z", 3600, "completed"),
                   call("c2", "2026-01-14T15:30:00Z", 900, "completed"),
                   call("c3", "2026-01-14T16:00:00Z", 0, "failed")};
    ASSERT_TRUE(store_->CommitBatch(batch).ok());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  http::Response Get(const std::string& target) {
    http::Request r;
    r.method = "GET";
    r.target = target;
    EXPECT_TRUE(http::ParseTarget(target, r.path, r.query).ok());
    return target.find("/quality") != std::string::npos ? AnalyticsQuality(*store_, r, "tny", now_)
                                                        : AnalyticsUsage(*store_, r, "tny", now_);
  }
  void ExpectBadRequest(const std::string& target, const std::string& detail) {
    auto res = Get(target);
    EXPECT_EQ(res.status, 400) << target << ": " << res.body;
    auto body = json::parse(res.body).as_object();
    EXPECT_EQ(body.at("error").as_string(), "invalid_argument") << target;
    EXPECT_EQ(body.at("detail").as_string(), detail) << target;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  int64_t now_ = *ParseRfc3339("2026-01-16T12:00:00Z");
};

TEST_F(AnalyticsRoutesTest, BadQueriesAreClear400s) {
  ExpectBadRequest("/api/v1/analytics/usage?from=2026-02-30", "from must be a calendar date YYYY-MM-DD");
  ExpectBadRequest("/api/v1/analytics/usage?to=yesterday", "to must be a calendar date YYYY-MM-DD");
  ExpectBadRequest("/api/v1/analytics/usage?from=2026-01-15&to=2026-01-14",
                   "from (2026-01-15) is after to (2026-01-14)");
  ExpectBadRequest("/api/v1/analytics/usage?from=2024-01-01&to=2026-01-14", "a range spans at most 400 days");
  ExpectBadRequest("/api/v1/analytics/usage?grain=week", "grain must be hour or day");
  ExpectBadRequest("/api/v1/analytics/quality?dimension=room", "dimension must be site, model or source");
  ExpectBadRequest("/api/v1/analytics/quality?from=2026-13-01", "from must be a calendar date YYYY-MM-DD");
}

TEST_F(AnalyticsRoutesTest, UsageJson) {
  // Default range: the 7 local days ending today (16 Jan in New York).
  auto res = Get("/api/v1/analytics/usage");
  ASSERT_EQ(res.status, 200) << res.body;
  auto body = json::parse(res.body).as_object();
  EXPECT_EQ(body.at("from").as_string(), "2026-01-10");
  EXPECT_EQ(body.at("to").as_string(), "2026-01-16");
  EXPECT_EQ(body.at("time_zone").as_string(), "America/New_York");
  EXPECT_EQ(body.at("start").as_string(), "2026-01-10T05:00:00Z");
  EXPECT_EQ(body.at("grain").as_string(), "day");
  EXPECT_EQ(body.at("buckets").as_array().size(), 7u);
  const auto& kpis = body.at("kpis").as_object();
  EXPECT_EQ(kpis.at("calls").as_int64(), 3);
  EXPECT_EQ(kpis.at("completed").as_int64(), 2);
  EXPECT_EQ(kpis.at("failed").as_int64(), 1);
  EXPECT_DOUBLE_EQ(kpis.at("completion_rate").as_double(), 0.6667);
  EXPECT_EQ(kpis.at("seconds").as_int64(), 4500);
  EXPECT_DOUBLE_EQ(kpis.at("hours").as_double(), 1.25);
  EXPECT_EQ(kpis.at("peak_concurrent").as_int64(), 2);
  EXPECT_EQ(kpis.at("peak_hour").at("label").as_string(), "2026-01-14T10:00:00-05:00");
  EXPECT_EQ(kpis.at("busiest_hour").at("calls").as_int64(), 2);
  EXPECT_EQ(body.at("sources").as_array(), json::array{"dma"});
  const auto& day = body.at("buckets").as_array()[4].as_object();
  EXPECT_EQ(day.at("label").as_string(), "2026-01-14");
  EXPECT_EQ(day.at("calls").as_int64(), 3);
  EXPECT_DOUBLE_EQ(day.at("minutes").as_double(), 75);
  EXPECT_EQ(day.at("peak_concurrent").as_int64(), 2);

  auto hours = json::parse(Get("/api/v1/analytics/usage?from=2026-01-14&to=2026-01-14&grain=hour&source=dma").body);
  EXPECT_EQ(hours.at("buckets").as_array().size(), 24u);
  EXPECT_EQ(hours.at("source").as_string(), "dma");
  EXPECT_EQ(hours.at("buckets").as_array()[10].at("calls").as_int64(), 2);
  auto none = json::parse(Get("/api/v1/analytics/usage?from=2026-01-14&to=2026-01-14&source=cucm").body);
  EXPECT_EQ(none.at("kpis").at("calls").as_int64(), 0);
  EXPECT_TRUE(none.at("kpis").at("completion_rate").is_null());
  EXPECT_TRUE(none.at("kpis").at("busiest_hour").is_null());
}

TEST_F(AnalyticsRoutesTest, QualityJson) {
  auto res = Get("/api/v1/analytics/quality?from=2026-01-14&to=2026-01-14");
  ASSERT_EQ(res.status, 200) << res.body;
  auto body = json::parse(res.body).as_object();
  EXPECT_EQ(body.at("dimension").as_string(), "site");
  EXPECT_DOUBLE_EQ(body.at("thresholds").at("latency_ms").as_double(), 250);
  const auto& rows = body.at("rows").as_array();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("key").as_string(), "HQ");
  EXPECT_EQ(rows[0].at("calls").as_int64(), 3);
  EXPECT_EQ(rows[0].at("streams").as_int64(), 3);
  EXPECT_DOUBLE_EQ(rows[0].at("loss_pct_avg").as_double(), 0.5);
  EXPECT_DOUBLE_EQ(rows[0].at("jitter_ms_avg").as_double(), 12);
  EXPECT_TRUE(rows[0].at("latency_ms_avg").is_null());  // not measured: null, never 0
  EXPECT_TRUE(rows[0].at("poor_latency_share").is_null());
  EXPECT_DOUBLE_EQ(rows[0].at("poor_share").as_double(), 0);
  EXPECT_EQ(body.at("total").at("calls").as_int64(), 3);
  EXPECT_FALSE(body.at("total").as_object().contains("key"));
}

}  // namespace
}  // namespace parley::portal
