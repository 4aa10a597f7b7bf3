// DmaCollector over a scripted transport: sub-resources, the JSON cursor of
// sub-cursors, CDR export windows, and how a misbehaving device degrades or
// fails the source without stalling it.
#include <gtest/gtest.h>

#include <string>

#include "agent/dma_collector.h"
#include "agent/sub_cursor.h"
#include "device_fixtures.h"
#include "support/fake_clock.h"

namespace parley::agent {
namespace {

using fixtures::FakeTransport;
using fixtures::Fixture;

constexpr int64_t kNow = 1796400000;  // 2026-12-04T16:00:00Z
const std::string kBase = "https://dma.test:8443";

struct Harness {
  explicit Harness(std::vector<std::string> collect) : clock(kNow) {
    auto t = std::make_unique<FakeTransport>(kBase);
    transport = t.get();
    DmaSettings s;
    s.collect = std::move(collect);
    s.initial_history_days = 1;
    collector = std::make_unique<DmaCollector>("dma-main", kBase, s, std::move(t), clock);
  }
  parley::testing::FakeClock clock;
  FakeTransport* transport;
  std::unique_ptr<DmaCollector> collector;
};

std::string EmptyCalls() { return R"({"plcm-call-list":{"plcm-call":[]},"next":null})"; }

TEST(DmaCollector, LegacyCursorIsTheHistoryToken) {
  Harness h({"history"});
  h.transport->Ok("/api/rest/calls", Fixture("dma/calls_page.json"));
  auto page = h.collector->FetchAfter("1796374000.old", 10);
  ASSERT_TRUE(page.ok()) << page.error().detail;
  EXPECT_NE(h.transport->requests[0].find("after=1796374000.old"), std::string::npos);
  EXPECT_EQ(page->records.size(), 1u);
  EXPECT_EQ(page->next_cursor, R"({"history":"1796374200.h-1"})");
  EXPECT_FALSE(page->more);  // a short page: caught up
  EXPECT_EQ(h.collector->health().status, SourceStatus::kOk);
}

TEST(DmaCollector, SnapshotsRunOncePerRoundAndDegradeAlone) {
  Harness h({"history", "devices", "conferences", "active_calls"});
  h.transport->Ok("/api/rest/calls", EmptyCalls());
  h.transport->Ok("/api/rest/devices", Fixture("dma/devices.json"));
  h.transport->Ok("/api/rest/active-calls", Fixture("dma/active_calls.json"));
  // /api/rest/conferences is not scripted: 404.
  auto page = h.collector->FetchAfter("", 100);
  ASSERT_TRUE(page.ok()) << page.error().detail;
  ASSERT_EQ(page->records.size(), 3u);  // the devices (history was empty)
  EXPECT_EQ(page->next_cursor, "");     // devices keep no cursor
  EXPECT_TRUE(page->more);              // active calls are still due
  const auto& d = std::get<wire::DeviceRecord>(page->records[0]);
  EXPECT_EQ(d.id, "17");  // sorted by id as strings
  EXPECT_EQ(d.observed_at, kNow);
  EXPECT_EQ(d.status, "online");
  EXPECT_EQ(d.registration, "ACTIVE");
  EXPECT_EQ(std::get<wire::DeviceRecord>(page->records[1]).status, "offline");
  EXPECT_EQ(std::get<wire::DeviceRecord>(page->records[2]).type, "mcu");

  auto rest = h.collector->FetchAfter(page->next_cursor, 100);
  ASSERT_TRUE(rest.ok()) << rest.error().detail;
  EXPECT_TRUE(rest->records.empty());
  EXPECT_FALSE(rest->more);
  SourceHealth health = h.collector->health();
  EXPECT_EQ(health.status, SourceStatus::kDegraded);
  ASSERT_TRUE(health.last_error);
  // The first problem in sub-resource order (conferences run first).
  EXPECT_EQ(*health.last_error, "conferences: device answered HTTP 404");

  // Next round: the inventory is not due again yet and unchanged devices are
  // not re-sent; the failing conferences are retried.
  size_t before = h.transport->requests.size();
  auto again = h.collector->FetchAfter(rest->next_cursor, 100);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->records.empty());
  for (size_t i = before; i < h.transport->requests.size(); ++i)
    EXPECT_EQ(h.transport->requests[i].find("/api/rest/devices"), std::string::npos);
}

TEST(DmaCollector, InventoryShipsOnlyChangesAndRereadsAfterAReset) {
  Harness h({"devices"});
  h.transport->Ok("/api/rest/devices", Fixture("dma/devices.json"));
  auto first = h.collector->FetchAfter("", 2);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->records.size(), 2u);
  EXPECT_TRUE(first->more);
  auto second = h.collector->FetchAfter(first->next_cursor, 2);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->records.size(), 1u);
  EXPECT_FALSE(second->more);
  h.clock.Advance(std::chrono::seconds(301));
  auto third = h.collector->FetchAfter(second->next_cursor, 2);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->records.empty());  // nothing changed
  // A cursor other than the one returned last: the agent reset to the
  // server's cursor; everything is sent again.
  h.clock.Advance(std::chrono::seconds(301));
  auto after_reset = h.collector->FetchAfter(R"({"history":"x"})", 10);
  ASSERT_TRUE(after_reset.ok());
  EXPECT_EQ(after_reset->records.size(), 3u);
}

TEST(DmaCollector, MalformedTruncatedAndRepeatingPagesFail) {
  {
    Harness h({"devices"});
    h.transport->Ok("/api/rest/devices", Fixture("dma/devices_truncated.json"));
    auto page = h.collector->FetchAfter("", 10);
    ASSERT_FALSE(page.ok());
    EXPECT_EQ(h.collector->health().status, SourceStatus::kFailing);
    EXPECT_NE(h.collector->health().last_error->find("not JSON"), std::string::npos);
  }
  {
    Harness h({"history"});
    // A full page whose next token is the cursor it was asked after.
    std::string repeat = R"({"plcm-call-list":{"plcm-call":[{"callIdentifier":"r","startTime":"2026-12-04T10:00:00Z",
        "endTime":"2026-12-04T10:01:00Z"}]},"next":"tok"})";
    h.transport->Ok("/api/rest/calls", repeat);
    auto page = h.collector->FetchAfter("tok", 1);
    ASSERT_FALSE(page.ok());
    EXPECT_NE(page.error().detail.find("repeated a page"), std::string::npos);
    EXPECT_EQ(h.collector->health().status, SourceStatus::kFailing);
  }
  {
    Harness h({"history"});
    h.transport->Script("/api/rest/calls", {500, "oops", {}, false});
    auto page = h.collector->FetchAfter("", 10);
    ASSERT_FALSE(page.ok());
    EXPECT_EQ(*h.collector->health().last_error, "history: device answered HTTP 500");
  }
}

TEST(DmaCollector, APageThatGoesBackIsRefused) {
  Harness h({"history"});
  auto page_json = [](const std::string& id, const std::string& next) {
    return R"({"plcm-call-list":{"plcm-call":[{"callIdentifier":")" + id +
           R"(","startTime":"2026-12-04T10:00:00Z","endTime":"2026-12-04T10:01:00Z"}]},"next":")" + next + R"("})";
  };
  h.transport->Ok("/api/rest/calls", page_json("a", "t1"));
  h.transport->Ok("/api/rest/calls", page_json("b", "t2"));
  h.transport->Ok("/api/rest/calls", page_json("a", "t1"));  // the first page again
  auto p1 = h.collector->FetchAfter("", 1);
  ASSERT_TRUE(p1.ok());
  auto p2 = h.collector->FetchAfter(p1->next_cursor, 1);
  ASSERT_TRUE(p2.ok());
  auto p3 = h.collector->FetchAfter(p2->next_cursor, 1);
  ASSERT_FALSE(p3.ok());
  EXPECT_NE(p3.error().detail.find("went back"), std::string::npos);
  EXPECT_EQ(h.collector->health().status, SourceStatus::kFailing);
}

// A page of `n` calls named <prefix>0.. whose next token is `next`.
std::string CallsPage(const std::string& prefix, size_t n, const std::string& next) {
  std::string items;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) items += ',';
    items += R"({"callIdentifier":")" + prefix + std::to_string(i) +
             R"(","startTime":"2026-12-04T10:00:00Z","endTime":"2026-12-04T10:01:00Z"})";
  }
  return R"({"plcm-call-list":{"plcm-call":[)" + items + R"(]},"next":")" + next + R"("})";
}

TEST(DmaCollector, HistoryFillsABatchFromSeveralPagesOfThePageLimit) {
  Harness h({"history"});
  h.transport->Ok("/api/rest/calls", CallsPage("a", kDmaHistoryPageLimit, "t1"));
  h.transport->Ok("/api/rest/calls", CallsPage("b", kDmaHistoryPageLimit, "t2"));
  h.transport->Ok("/api/rest/calls", CallsPage("c", 500, "t3"));
  auto page = h.collector->FetchAfter("", 2 * kDmaHistoryPageLimit + 500);
  ASSERT_TRUE(page.ok()) << page.error().detail;
  ASSERT_EQ(h.transport->requests.size(), 3u);
  EXPECT_NE(h.transport->requests[0].find("limit=1000"), std::string::npos);
  EXPECT_EQ(h.transport->requests[0].find("after="), std::string::npos);
  EXPECT_NE(h.transport->requests[1].find("limit=1000&after=t1"), std::string::npos);
  EXPECT_NE(h.transport->requests[2].find("limit=500&after=t2"), std::string::npos);
  EXPECT_EQ(page->records.size(), 2 * kDmaHistoryPageLimit + 500);
  EXPECT_EQ(page->next_cursor, R"({"history":"t3"})");
  EXPECT_TRUE(page->more);  // the last page was full for what was asked: the device may have more
}

TEST(DmaCollector, HistoryStopsAtAShortPageAndShipsThePagesBeforeAFailure) {
  {
    Harness h({"history"});
    h.transport->Ok("/api/rest/calls", CallsPage("a", kDmaHistoryPageLimit, "t1"));
    h.transport->Ok("/api/rest/calls", CallsPage("b", 3, "t2"));
    auto page = h.collector->FetchAfter("", 5000);
    ASSERT_TRUE(page.ok()) << page.error().detail;
    EXPECT_EQ(h.transport->requests.size(), 2u);
    EXPECT_EQ(page->records.size(), kDmaHistoryPageLimit + 3);
    EXPECT_EQ(page->next_cursor, R"({"history":"t2"})");
    EXPECT_FALSE(page->more);  // a short page: caught up
  }
  {
    Harness h({"history"});
    h.transport->Ok("/api/rest/calls", CallsPage("a", kDmaHistoryPageLimit, "t1"));
    h.transport->Script("/api/rest/calls", {500, "oops", {}, false});
    auto page = h.collector->FetchAfter("", 5000);
    ASSERT_TRUE(page.ok()) << page.error().detail;
    EXPECT_EQ(page->records.size(), kDmaHistoryPageLimit);
    EXPECT_EQ(page->next_cursor, R"({"history":"t1"})");  // after the page read, not the failed one
    EXPECT_TRUE(page->more);
    auto next = h.collector->FetchAfter(page->next_cursor, 5000);  // the failure, now on its own
    ASSERT_FALSE(next.ok());
    EXPECT_EQ(*h.collector->health().last_error, "history: device answered HTTP 500");
  }
}

TEST(DmaCollector, AnUnreachableDeviceEndsTheRoundAtOnce) {
  Harness h({"history", "devices", "conferences", "active_calls"});
  h.transport->Script("/api/rest/conferences", {0, "", {}, true});
  h.transport->Ok("/api/rest/calls", EmptyCalls());
  auto page = h.collector->FetchAfter("", 10);
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(h.transport->requests.size(), 1u);  // no timeout per sub-resource
  EXPECT_EQ(h.collector->health().status, SourceStatus::kFailing);
  EXPECT_EQ(page.error().code, Code::kUnavailable);
}

TEST(DmaCollector, ProbeListsEverySubResource) {
  Harness h({"history", "devices", "conferences"});
  h.transport->Ok("/api/rest/calls", Fixture("dma/calls_page.json"));
  h.transport->Ok("/api/rest/devices", Fixture("dma/devices.json"));
  h.transport->Ok("/api/rest/conferences", Fixture("dma/conferences.json"));
  auto ok = h.collector->Probe("");
  ASSERT_TRUE(ok.ok()) << ok.error().detail;
  EXPECT_EQ(*ok, "conferences ok; history ok (new records); devices ok (new records)");
  Harness bad({"history", "devices"});
  bad.transport->Ok("/api/rest/calls", EmptyCalls());
  auto fail = bad.collector->Probe("");
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.error().detail, "devices: device answered HTTP 404 [history ok]");
}

TEST(DmaCollector, BadServerCursorFails) {
  Harness h({"history"});
  EXPECT_FALSE(h.collector->FetchAfter("{not json", 10).ok());
  EXPECT_EQ(h.collector->health().status, SourceStatus::kFailing);
}

TEST(DmaCdrKeyCodec, RoundTrips) {
  DmaCdrKey k{1796371200250, "call", "c|1"};
  EXPECT_EQ(DecodeDmaCdrKey(EncodeDmaCdrKey(k)), k);
  EXPECT_FALSE(DecodeDmaCdrKey("x|call|a"));
  EXPECT_FALSE(DecodeDmaCdrKey("1|nope|a"));
  EXPECT_FALSE(DecodeDmaCdrKey("1|call|"));
  EXPECT_FALSE(DecodeDmaCdrKey("-5||"));
}

TEST(DmaCollector, CdrExportWalksWindowsInKeyOrder) {
  Harness h({"cdr_export", "conferences"});
  h.clock.Set(1796400000);  // the fixture's CDRs end on 2026-12-04 (and one in March)
  h.transport->Ok("/api/rest/cdr-export", Fixture("dma/export.zip"));
  h.transport->Ok("/api/rest/conferences", Fixture("dma/conferences.json"));
  // Start the window before the fixture's first December CDR.
  std::string cursor = R"({"cdr":"1796360000000||"})";
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) {
    auto page = h.collector->FetchAfter(cursor, 2);
    ASSERT_TRUE(page.ok()) << page.error().detail;
    for (const auto& r : page->records) ids.push_back(wire::RecordId(r));
    cursor = page->next_cursor;
    if (!page->more) break;
  }
  // Sorted by end time; the March call is outside the window; the cut-off
  // pages resume exactly after the last record shipped.
  // (c-2 ends 10:00:03-05:00 = 15:00:03Z, the last.)
  EXPECT_EQ(ids, (std::vector<std::string>{"c-1", "itp-1", "c-7", "conf-1", "conf-2", "c-2"}));
  // One second before the cursor, to the UTC second.
  EXPECT_NE(h.transport->requests[1].find("/api/rest/cdr-export?ended-after=2026-12-04T04%3A53%3A19Z"),
            std::string::npos);
  auto cursors = DecodeSubCursors(cursor, "history");
  ASSERT_TRUE(cursors.ok());
  // The window ended a settle minute before now.
  EXPECT_EQ(cursors->at("cdr"), std::to_string((1796400000 - kDmaCdrSettleSeconds) * 1000) + "||");
}

TEST(DmaCollector, CdrExportEnrichesMcuFromLiveConferencesAndReportsExcludedClusters) {
  Harness h({"conferences", "cdr_export"});
  h.transport->Ok("/api/rest/conferences", Fixture("dma/conferences.json"));
  h.transport->Ok("/api/rest/cdr-export", Fixture("dma/export_excluded.zip"));
  std::string cursor = R"({"cdr":"1796360000000||"})";
  std::optional<wire::ConferenceRecord> conf2;
  for (int i = 0; i < 5; ++i) {
    auto page = h.collector->FetchAfter(cursor, 100);
    ASSERT_TRUE(page.ok()) << page.error().detail;
    for (const auto& r : page->records)
      if (auto* c = std::get_if<wire::ConferenceRecord>(&r); c && c->id == "conf-2") conf2 = *c;
    cursor = page->next_cursor;
    if (!page->more) break;
  }
  ASSERT_TRUE(conf2);
  EXPECT_EQ(conf2->mcu, "RMX 2000 - London HQ");
  SourceHealth health = h.collector->health();
  EXPECT_EQ(health.status, SourceStatus::kDegraded);
  EXPECT_NE(health.last_error->find("excluded 2 unreachable cluster(s)"), std::string::npos);
}

TEST(DmaCollector, CdrExportStartsInitialHistoryDaysBackAndRefusesInconsistentExports) {
  Harness h({"cdr_export"});
  h.transport->Ok("/api/rest/cdr-export", Fixture("dma/export_count_mismatch.zip"));
  auto page = h.collector->FetchAfter("", 10);
  ASSERT_FALSE(page.ok());
  EXPECT_NE(h.transport->requests[0].find("ended-after=2026-12-03T15%3A59%3A59Z"), std::string::npos);
  EXPECT_EQ(h.collector->health().status, SourceStatus::kFailing);
}

}  // namespace
}  // namespace parley::agent
