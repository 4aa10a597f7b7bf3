// RPRM JSON mappings and RprmCollector over a scripted transport.
#include <gtest/gtest.h>

#include <string>

#include "agent/rprm_collector.h"
#include "device_fixtures.h"
#include "support/fake_clock.h"

namespace parley::agent {
namespace {

using fixtures::FakeTransport;
using fixtures::Fixture;

TEST(RprmTime, FullTimesAndDatePlusTime) {
  EXPECT_EQ(ParseRprmTime("", "2026-12-04T09:00:00Z"), 1796374800);
  EXPECT_EQ(ParseRprmTime("2026-12-04", "09:00:00"), 1796374800);  // UTC: our assumption
  EXPECT_EQ(ParseRprmTime("2026-12-04", "10:00:00+01:00"), 1796374800);
  EXPECT_FALSE(ParseRprmTime("2026-12-04", "25:00:00"));
  EXPECT_FALSE(ParseRprmTime("04/12/2026", "09:00:00"));
  EXPECT_FALSE(ParseRprmTime("", ""));
}

TEST(RprmDevices, MapsInventory) {
  auto page = ParseRprmDevices(Fixture("rprm/devices.json"), "rprm-main", 1796400000);
  ASSERT_TRUE(page.ok()) << page.error().detail;
  EXPECT_EQ(page->items, 4u);
  EXPECT_EQ(page->next, "ep-18");
  ASSERT_EQ(page->records.size(), 3u);
  const wire::DeviceRecord& d = page->records[0];
  EXPECT_EQ(d.id, "ep-17");
  EXPECT_EQ(d.type, "endpoint");
  EXPECT_EQ(d.model, "RealPresence Group 500");
  EXPECT_EQ(d.version, "6.2.2");
  EXPECT_EQ(d.serial, "8215190F1234AB");
  EXPECT_EQ(d.ip, "10.10.1.16");
  EXPECT_EQ(d.site, "London HQ");
  EXPECT_EQ(d.owner, "alice.smith");
  EXPECT_EQ(d.mac, "00:04:f2:12:34:56");
  EXPECT_EQ(d.timezone, "Europe/London");
  EXPECT_EQ(d.status, "online");
  EXPECT_EQ(page->records[1].status, "offline");
  EXPECT_EQ(page->records[2].type, "mcu");
  EXPECT_EQ(page->records[2].status, "unknown");
  ASSERT_EQ(page->skipped.size(), 1u);
}

TEST(RprmEndpointCdrs, MapsLegsWithQuality) {
  auto page = ParseRprmEndpointCdrs(Fixture("rprm/endpoint_cdrs.json"), "rprm-main");
  ASSERT_TRUE(page.ok()) << page.error().detail;
  ASSERT_EQ(page->records.size(), 2u);
  const wire::ParticipantRecord& p = page->records[0];
  EXPECT_EQ(p.id, "e-1");
  EXPECT_EQ(p.conference_id, "conf-1");
  EXPECT_EQ(p.call_id, "c-1");
  EXPECT_EQ(p.start, 1796374800);
  EXPECT_EQ(p.end - p.start, 1800);
  EXPECT_EQ(p.duration_s, 1795);
  EXPECT_EQ(p.protocol, "SIP");
  EXPECT_EQ(p.disconnect_reason, "Local hang up (Q.850 16)");
  EXPECT_EQ(p.party.name, "Alice Smith");
  EXPECT_EQ(p.party.number, "+442079460123");
  ASSERT_EQ(p.quality.size(), 2u);
  const wire::QualitySample& tx = p.quality[0];
  EXPECT_EQ(tx.party, "participant");
  EXPECT_EQ(tx.direction, "tx");
  EXPECT_EQ(tx.media, "video");
  EXPECT_EQ(tx.codec, "H.264");
  EXPECT_DOUBLE_EQ(*tx.packet_loss_pct_avg, 0.4);
  EXPECT_FALSE(tx.packet_loss_pct_max);  // RPRM has no maximum loss: absent, not 0
  EXPECT_DOUBLE_EQ(*tx.latency_ms_max, 80);
  const wire::QualitySample& rx = p.quality[1];
  EXPECT_EQ(rx.direction, "rx");
  EXPECT_DOUBLE_EQ(*rx.packet_loss_pct_avg, 2.5);  // numeric strings accepted
  EXPECT_DOUBLE_EQ(*rx.jitter_ms_max, 55);

  // Point-to-point: no conferenceId, the call id groups both ends; an
  // out-of-range loss (150 %) is dropped, the jitter kept; audio-only.
  const wire::ParticipantRecord& p2 = page->records[1];
  EXPECT_EQ(p2.id, "c-2|8G2140000AB");
  EXPECT_EQ(p2.conference_id, "c-2");
  EXPECT_EQ(p2.protocol, "H.323");
  EXPECT_EQ(p2.start, 1796374800);  // startDateTime 10:00+01:00 wins over the offset-less startTime
  EXPECT_EQ(p2.disconnect_reason, "(Q.850 17)");
  ASSERT_EQ(p2.quality.size(), 1u);
  EXPECT_EQ(p2.quality[0].media, "audio");
  EXPECT_EQ(p2.quality[0].codec, "G.711U");
  EXPECT_FALSE(p2.quality[0].packet_loss_pct_avg);
  EXPECT_DOUBLE_EQ(*p2.quality[0].jitter_ms_avg, 3);

  ASSERT_EQ(page->skipped.size(), 2u);
  EXPECT_EQ(page->skipped[0].id, "e-3");
  EXPECT_EQ(page->skipped[0].reason, "startDate/startTime is not a time");
}

TEST(RprmConferenceCdrs, ScheduledVersusActual) {
  auto page = ParseRprmConferenceCdrs(Fixture("rprm/conference_cdrs.json"), "rprm-main");
  ASSERT_TRUE(page.ok()) << page.error().detail;
  ASSERT_EQ(page->records.size(), 3u);
  const wire::ConferenceRecord& c = page->records[0];
  EXPECT_EQ(c.id, "conf-1");
  EXPECT_EQ(c.name, "Sales weekly");
  EXPECT_EQ(c.room, "1063");
  EXPECT_EQ(c.start, 1796374800 + 180);
  EXPECT_EQ(c.scheduled_start, 1796374800);
  EXPECT_EQ(c.scheduled_end, 1796378400);
  EXPECT_EQ(c.participant_count, 5);
  const wire::ConferenceRecord& adhoc = page->records[1];
  EXPECT_FALSE(adhoc.scheduled_start);
  EXPECT_EQ(adhoc.start, 1796382000);  // date + time of day
  EXPECT_EQ(adhoc.participant_count, 2);
  // A no-show: zero length at the scheduled start, nobody.
  const wire::ConferenceRecord& no_show = page->records[2];
  EXPECT_EQ(no_show.id, "conf-5");
  EXPECT_EQ(no_show.start, 1796392800);
  EXPECT_EQ(no_show.end, no_show.start);
  EXPECT_EQ(no_show.scheduled_end, 1796394600);
  EXPECT_EQ(no_show.participant_count, 0);
  ASSERT_EQ(page->skipped.size(), 2u);
  EXPECT_EQ(page->skipped[1].reason, "scheduledStart/scheduledStop is not a time range");
}

TEST(RprmJson, RefusesMalformedPages) {
  EXPECT_FALSE(ParseRprmEndpointCdrs(Fixture("rprm/truncated.json"), "s").ok());
  EXPECT_FALSE(ParseRprmEndpointCdrs("[]", "s").ok());
  EXPECT_FALSE(ParseRprmEndpointCdrs(R"({"plcm-endpoint-usage-cdr-list":{"plcm-endpoint-usage-cdr":7}})", "s").ok());
  EXPECT_FALSE(ParseRprmDevices(R"({"plcm-device-inventory-list":{},"next":5})", "s", 0).ok());
  auto empty = ParseRprmConferenceCdrs(R"({"plcm-conference-usage-cdr-list":{},"next":null})", "s");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->items, 0u);
}

struct Harness {
  Harness() : clock(1796400000) {
    auto t = std::make_unique<FakeTransport>("https://rprm.test");
    transport = t.get();
    RprmSettings s;
    s.collect = {"conference_cdrs", "endpoint_cdrs", "devices"};
    collector = std::make_unique<RprmCollector>("rprm-main", "https://rprm.test", s, std::move(t), clock);
  }
  parley::testing::FakeClock clock;
  FakeTransport* transport;
  std::unique_ptr<RprmCollector> collector;
};

TEST(RprmCollector, FeedsKeepTheirOwnCursorsAndDevicesSweep) {
  Harness h;
  h.transport->Ok("/api/rest/conference-usage-cdrs", Fixture("rprm/conference_cdrs.json"));
  h.transport->Ok("/api/rest/conference-usage-cdrs", R"({"plcm-conference-usage-cdr-list":{},"next":null})");
  h.transport->Ok("/api/rest/endpoint-usage-cdrs", Fixture("rprm/endpoint_cdrs.json"));
  h.transport->Ok("/api/rest/endpoint-usage-cdrs", R"({"plcm-endpoint-usage-cdr-list":{},"next":null})");
  h.transport->Ok("/api/rest/device-inventory", Fixture("rprm/devices.json"));
  h.transport->Ok("/api/rest/device-inventory", R"({"plcm-device-inventory-list":{},"next":null})");

  auto p1 = h.collector->FetchAfter("", 5);  // a full page of 5 conference CDRs
  ASSERT_TRUE(p1.ok()) << p1.error().detail;
  EXPECT_EQ(p1->records.size(), 3u);
  EXPECT_EQ(p1->next_cursor, R"({"conference_cdrs":"conf-5"})");
  EXPECT_TRUE(p1->more);
  EXPECT_EQ(h.collector->health().status, SourceStatus::kDegraded);  // two conference CDRs skipped
  auto p2 = h.collector->FetchAfter(p1->next_cursor, 5);  // conferences caught up (empty), endpoints
  ASSERT_TRUE(p2.ok()) << p2.error().detail;
  EXPECT_EQ(p2->records.size(), 2u);
  EXPECT_EQ(p2->next_cursor, R"({"conference_cdrs":"conf-5","endpoint_cdrs":"e-4"})");
  std::vector<std::string> ids;
  std::string cursor = p2->next_cursor;
  for (int i = 0; i < 5; ++i) {
    auto p = h.collector->FetchAfter(cursor, 4);
    ASSERT_TRUE(p.ok()) << p.error().detail;
    for (const auto& r : p->records) ids.push_back(wire::RecordId(r));
    cursor = p->next_cursor;
    if (!p->more) break;
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"ep-17", "ep-18", "rmx-1"}));
  EXPECT_NE(h.transport->requests.back().find("after=ep-18"), std::string::npos);
  // Health follows each sub-resource's latest page: the endpoint CDR page skipped two.
  EXPECT_EQ(h.collector->health().status, SourceStatus::kDegraded);
  EXPECT_EQ(*h.collector->health().last_error, "endpoint_cdrs: 2 record(s) could not be mapped");
}

// A conference CDR page of `n` items named <prefix>0.., the last `skipped`
// of them without an end (not mappable), whose next token is `next`.
std::string ConferencePage(const std::string& prefix, size_t n, size_t skipped, const std::string& next) {
  std::string items;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) items += ',';
    items += R"({"conferenceId":")" + prefix + std::to_string(i) + R"(","actualStart":"2026-12-04T12:00:00Z")" +
             (i + skipped >= n ? std::string() : R"(,"actualStop":"2026-12-04T13:00:00Z")") + "}";
  }
  return R"({"plcm-conference-usage-cdr-list":{"plcm-conference-usage-cdr":[)" + items + R"(]},"next":")" + next +
         R"("})";
}

TEST(RprmCollector, AFeedFillsABatchFromSeveralPagesCountingSkippedItems) {
  Harness h;
  h.transport->Ok("/api/rest/conference-usage-cdrs", ConferencePage("a", kRprmPageLimit, 10, "t1"));
  h.transport->Ok("/api/rest/conference-usage-cdrs", ConferencePage("b", 200, 0, "t2"));
  auto page = h.collector->FetchAfter("", kRprmPageLimit + 200);
  ASSERT_TRUE(page.ok()) << page.error().detail;
  ASSERT_EQ(h.transport->requests.size(), 2u);
  EXPECT_NE(h.transport->requests[0].find("limit=1000"), std::string::npos);
  // The second page is asked for what the batch has room for in items: the
  // ten skipped ones count, so the batch never outgrows max_batch_records.
  EXPECT_NE(h.transport->requests[1].find("limit=200&after=t1"), std::string::npos);
  EXPECT_EQ(page->records.size(), kRprmPageLimit - 10 + 200);
  EXPECT_EQ(page->next_cursor, R"({"conference_cdrs":"t2"})");
  EXPECT_TRUE(page->more);
}

TEST(RprmCollector, RepeatingPageAndServerErrorsFailTheSource) {
  Harness h;
  h.transport->Ok("/api/rest/conference-usage-cdrs", Fixture("rprm/conference_cdrs.json"));
  h.transport->Script("/api/rest/endpoint-usage-cdrs", {503, "", {}, false});
  h.transport->Script("/api/rest/device-inventory", {0, "", {}, true});
  auto p = h.collector->FetchAfter(R"({"conference_cdrs":"conf-5"})", 5);
  ASSERT_FALSE(p.ok());  // conference page repeats; endpoints 503; devices unreachable
  SourceHealth health = h.collector->health();
  EXPECT_EQ(health.status, SourceStatus::kFailing);
}

}  // namespace
}  // namespace parley::agent
