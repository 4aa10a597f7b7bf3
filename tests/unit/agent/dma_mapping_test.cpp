// DMA call list JSON -> wire::CallRecord mapping, and duration parsing.
#include <gtest/gtest.h>

#include <string>

#include "agent/device_json.h"
#include "agent/dma_collector.h"

namespace parley::agent {
namespace {

// A page as the DMA (and parley-devsim) sends it: a completed SIP call with
// full details, a failed H.323 call with sparse details, a call with every
// optional field missing, and two calls that cannot be mapped.
constexpr const char* kPage = R"({
  "plcm-call-list": {"plcm-call": [
    {"callIdentifier": "c-1", "callType": "PT-PT", "callSignaling": "SIP",
     "originator": "sip:alice@example.com", "originatorRegisteredName": "Alice Smith",
     "destination": "sip:room-1@example.com", "dialString": "sip:room-1@example.com",
     "startTime": "2026-12-04T09:00:00.000+01:00", "endTime": "2026-12-04T09:12:34.000+01:00",
     "callDuration": "00:12:30", "callStatus": "ENDED", "confUuid": "conf-9", "bitRate": 1920,
     "failureSignalingCode": "",
     "originatorDetails": {"deviceName": "Alice's Group 500", "deviceModel": "Group 500",
        "deviceVersion": "6.2.2", "ipAddress": "10.1.2.3", "site": "London",
        "aliases": ["sip:alice@example.com", "+442079460123"]},
     "destinationDetails": {"deviceName": "Room 1", "deviceModel": "RealPresence Trio",
        "deviceVersion": "7.1", "ipAddress": "10.1.2.4", "site": "Paris",
        "aliases": ["4401", "+33140000000"]}},
    {"callIdentifier": "c-2", "callType": "VMR", "callSignaling": "H323",
     "originator": "h323:bob", "originatorRegisteredName": "Bob Jones", "destination": "h323:vmr-7",
     "startTime": "2026-12-04T10:00:00-05:00", "endTime": "2026-12-04T10:00:03-05:00",
     "callDuration": "00:00:00", "callStatus": "ENDED", "confUuid": null, "bitRate": 768,
     "failureSignalingCode": "486:BUSY HERE",
     "originatorDetails": {"deviceModel": "HDX 8000", "aliases": []}},
    {"callIdentifier": "c-3", "startTime": "2026-12-04T11:00:00Z", "endTime": "2026-12-04T11:01:00Z"},
    {"callType": "PT-PT", "startTime": "2026-12-04T11:00:00Z", "endTime": "2026-12-04T11:01:00Z"},
    {"callIdentifier": "c-5", "startTime": "yesterday", "endTime": "2026-12-04T11:01:00Z",
     "originatorRegisteredName": "Carol Secret"}
  ]},
  "next": "tok-5"
})";

class DmaMappingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto page = ParseDmaCallList(kPage, "dma-main");
    ASSERT_TRUE(page.ok()) << page.error().detail;
    page_ = std::move(*page);
    ASSERT_EQ(page_.records.size(), 3u);
  }
  DmaPage page_;
};

// A completed SIP call maps every field; times with +01:00 become UTC.
TEST_F(DmaMappingTest, MapsCompletedSipCall) {
  const wire::CallRecord& r = page_.records[0];
  EXPECT_EQ(r.source, "dma-main");
  EXPECT_EQ(r.id, "c-1");
  EXPECT_EQ(r.start, 1796371200);  // 2026-12-04T08:00:00Z
  EXPECT_EQ(r.end, 1796371200 + 754);
  EXPECT_EQ(r.duration_s, 750);
  EXPECT_EQ(r.status, wire::CallStatus::kCompleted);
  EXPECT_EQ(r.cause, "");
  EXPECT_EQ(r.protocol, "SIP");
  EXPECT_EQ(r.call_type, "PT-PT");
  EXPECT_EQ(r.bitrate_kbps, 1920);
  EXPECT_EQ(r.conference_id, "conf-9");
  EXPECT_EQ(r.orig.name, "Alice's Group 500");  // deviceName wins over the registered name
  EXPECT_EQ(r.orig.uri, "sip:alice@example.com");
  EXPECT_EQ(r.orig.number, "+442079460123");
  EXPECT_EQ(r.orig.ip, "10.1.2.3");
  EXPECT_EQ(r.orig.model, "Group 500");
  EXPECT_EQ(r.orig.version, "6.2.2");
  EXPECT_EQ(r.orig.site, "London");
  EXPECT_EQ(r.dest.name, "Room 1");
  EXPECT_EQ(r.dest.uri, "sip:room-1@example.com");
  EXPECT_EQ(r.dest.number, "4401");  // first alias that is all digits
  EXPECT_EQ(r.dest.site, "Paris");
}

// A failed H.323 call: status failed with the cause, "H323" spelled "H.323",
// negative offset converted to UTC, registered name as the fallback name.
TEST_F(DmaMappingTest, MapsFailedH323Call) {
  const wire::CallRecord& r = page_.records[1];
  EXPECT_EQ(r.id, "c-2");
  EXPECT_EQ(r.status, wire::CallStatus::kFailed);
  EXPECT_EQ(r.cause, "486:BUSY HERE");
  EXPECT_EQ(r.protocol, "H.323");
  EXPECT_EQ(r.call_type, "VMR");
  EXPECT_EQ(r.start, 1796396400);  // 2026-12-04T15:00:00Z
  EXPECT_EQ(r.end - r.start, 3);
  EXPECT_EQ(r.duration_s, 0);
  EXPECT_EQ(r.conference_id, "");
  EXPECT_EQ(r.orig.name, "Bob Jones");
  EXPECT_EQ(r.orig.model, "HDX 8000");
  EXPECT_EQ(r.orig.number, "");
  EXPECT_EQ(r.dest.name, "");
  EXPECT_EQ(r.dest.uri, "h323:vmr-7");
}

// Missing optional fields give empty values; duration falls back to end - start.
TEST_F(DmaMappingTest, MissingOptionalFieldsAreEmpty) {
  const wire::CallRecord& r = page_.records[2];
  EXPECT_EQ(r.id, "c-3");
  EXPECT_EQ(r.duration_s, 60);
  EXPECT_EQ(r.status, wire::CallStatus::kCompleted);
  EXPECT_EQ(r.protocol, "");
  EXPECT_EQ(r.bitrate_kbps, 0);
  EXPECT_EQ(r.orig.name, "");
  EXPECT_EQ(r.dest.ip, "");
}

// Unmappable calls are skipped and listed with their id and a reason that
// carries no personal data; the page's next token is kept.
TEST_F(DmaMappingTest, SkipsMalformedRecords) {
  EXPECT_EQ(page_.items, 5u);
  ASSERT_EQ(page_.skipped.size(), 2u);
  EXPECT_EQ(page_.skipped[0].call_id, "");
  EXPECT_EQ(page_.skipped[0].reason, "missing callIdentifier");
  EXPECT_EQ(page_.skipped[1].call_id, "c-5");
  EXPECT_EQ(page_.skipped[1].reason, "startTime is not an RFC 3339 time");
  EXPECT_EQ(page_.skipped[1].reason.find("Carol"), std::string::npos);
  ASSERT_TRUE(page_.next.has_value());
  EXPECT_EQ(*page_.next, "tok-5");
}

// An empty page has a null next; a lone call may come as an object.
TEST(DmaCallList, EmptyPageAndSingleObject) {
  auto empty = ParseDmaCallList(R"({"plcm-call-list":{"plcm-call":[]},"next":null})", "s");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->items, 0u);
  EXPECT_FALSE(empty->next.has_value());

  auto single = ParseDmaCallList(
      R"({"plcm-call-list":{"plcm-call":{"callIdentifier":"x","startTime":"2026-01-01T00:00:00Z",)"
      R"("endTime":"2026-01-01T00:00:10Z"}},"next":"t"})",
      "s");
  ASSERT_TRUE(single.ok());
  ASSERT_EQ(single->records.size(), 1u);
  EXPECT_EQ(single->records[0].id, "x");
}

// The parsed page lives in the list's arena, the lone-item array too: moved
// into a value of the default storage it would be copied to the heap item by
// item (a fifth of the agent's CPU once).
TEST(DeviceItemList, DocumentStaysInTheArena) {
  for (const char* text : {kPage, R"({"plcm-call-list":{"plcm-call":{"callIdentifier":"x"}}})"}) {
    auto list = ParseDeviceItemList(text, "plcm-call-list", "plcm-call", /*paged=*/false);
    ASSERT_TRUE(list.ok());
    const boost::json::memory_resource* arena = &(*list)->arena;
    EXPECT_EQ((*list)->root.storage().get(), arena);
    ASSERT_FALSE((*list)->items->empty());
    EXPECT_EQ((*list)->items->storage().get(), arena);
    EXPECT_EQ((*list)->items->front().storage().get(), arena);
    EXPECT_TRUE((*list)->items->front().storage().is_deallocate_trivial());
  }
}

// A page that is not a call list is an error, not an empty page.
TEST(DmaCallList, RefusesMalformedPage) {
  EXPECT_FALSE(ParseDmaCallList("not json", "s").ok());
  EXPECT_FALSE(ParseDmaCallList(R"({"calls":[]})", "s").ok());
  EXPECT_FALSE(ParseDmaCallList(R"({"plcm-call-list":{"plcm-call":7}})", "s").ok());
  EXPECT_FALSE(ParseDmaCallList(R"({"plcm-call-list":{},"next":5})", "s").ok());
}

// End before start is unmappable.
TEST(DmaCallList, SkipsEndBeforeStart) {
  auto page = ParseDmaCallList(
      R"({"plcm-call-list":{"plcm-call":[{"callIdentifier":"x","startTime":"2026-01-01T00:00:10Z",)"
      R"("endTime":"2026-01-01T00:00:00Z"}]},"next":"t"})",
      "s");
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->records.empty());
  ASSERT_EQ(page->skipped.size(), 1u);
  EXPECT_EQ(page->skipped[0].reason, "endTime is before startTime");
}

// "HH:MM:SS" durations, hours beyond a day included; malformed ones refused.
TEST(DmaDuration, ParsesHoursMinutesSeconds) {
  EXPECT_EQ(ParseDmaDuration("00:00:00"), 0);
  EXPECT_EQ(ParseDmaDuration("00:12:34"), 754);
  EXPECT_EQ(ParseDmaDuration("01:00:01"), 3601);
  EXPECT_EQ(ParseDmaDuration("27:59:59"), 27 * 3600 + 59 * 60 + 59);
  EXPECT_EQ(ParseDmaDuration("123:00:00"), 123 * 3600);
  for (const char* bad : {"", "12:34", "00:60:00", "00:00:60", "0:0:0", "aa:bb:cc", "00:00:00:00", "-1:00:00",
                          "00:1:00", " 00:00:01"}) {
    EXPECT_FALSE(ParseDmaDuration(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace parley::agent
