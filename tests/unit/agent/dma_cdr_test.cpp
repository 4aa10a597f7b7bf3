// DMA CDR export: CSV (libcsv), ZIP (libzip), summary, and the mapping to
// call and conference records, on fixtures that follow domain.md 3.2.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "agent/dma_cdr.h"
#include "device_fixtures.h"
#include "devsim/cdr_export.h"

namespace parley::agent {
namespace {

using fixtures::Fixture;

const wire::CallRecord& Call(const DmaCdrFile& f, size_t i) { return std::get<wire::CallRecord>(f.entries[i].record); }
const wire::ConferenceRecord& Conf(const DmaCdrFile& f, size_t i) {
  return std::get<wire::ConferenceRecord>(f.entries[i].record);
}

TEST(DmaCdrTime, ParsesOffsetsFractionsAndZ) {
  EXPECT_EQ(ParseDmaTimeMs("2026-12-04T09:00:00.250+01:00"), 1796371200250);
  EXPECT_EQ(ParseDmaTimeMs("2026-12-04T08:00:00.250Z"), 1796371200250);
  EXPECT_EQ(ParseDmaTimeMs("2026-12-04 08:00:00Z"), 1796371200000);
  EXPECT_EQ(ParseDmaTimeMs("2026-12-04T03:00:00.1-0500"), 1796371200100);
  EXPECT_EQ(ParseDmaTimeMs("2026-12-04T08:00:00.123456789Z"), 1796371200123);
  EXPECT_FALSE(ParseDmaTimeMs("2026-12-04T08:00:00"));  // no zone: refused, never guessed
  EXPECT_FALSE(ParseDmaTimeMs("2026-12-04T08:00:00.Z"));
  EXPECT_FALSE(ParseDmaTimeMs("2026-02-30T08:00:00Z"));
  EXPECT_FALSE(ParseDmaTimeMs("yesterday"));
  EXPECT_FALSE(ParseDmaTimeMs(""));
}

TEST(DmaCdrResources, ParsesVideoAndVoice) {
  auto r = ParseDmaMaxResources("video: 12 voice: 3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->video, 12);
  EXPECT_EQ(r->voice, 3);
  r = ParseDmaMaxResources("voice: 4");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->video);
  EXPECT_EQ(r->voice, 4);
  EXPECT_FALSE(ParseDmaMaxResources("lots"));
}

TEST(DmaCdrCsv, QuotingFollowsTheDmaRules) {
  std::vector<std::vector<std::string>> rows;
  Status s = ReadCsv("a,\" b\",\"c,d\",\"e \"\"q\"\"\",  f  \r\n\r\n\"multi\nline\",x\n", [&](auto& row) {
    rows.push_back(row);
    return Ok();
  });
  ASSERT_TRUE(s.ok()) << s.error().detail;
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a", " b", "c,d", "e \"q\"", "f"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"multi\nline", "x"}));
}

TEST(DmaCdrCsv, RefusesBadQuotingAndUnterminatedFields) {
  auto ignore = [](auto&) { return Ok(); };
  EXPECT_FALSE(ReadCsv("a,b\"c\"d\n", ignore).ok());
  EXPECT_FALSE(ReadCsv("a,\"open\n", ignore).ok());
  EXPECT_FALSE(ReadCsv("\"a\"b,c\n", ignore).ok());
  std::string wide(2 * kMaxCsvFieldsPerRow, ',');
  EXPECT_FALSE(ReadCsv(wide + "\n", ignore).ok());
}

TEST(DmaCdrCalls, MapsTheFixture) {
  auto f = ParseDmaCdrCalls(Fixture("dma/calls.csv"), "dma-main");
  ASSERT_TRUE(f.ok()) << f.error().detail;
  EXPECT_EQ(f->rows, 7u);
  ASSERT_EQ(f->entries.size(), 5u);

  const wire::CallRecord& c1 = Call(*f, 0);
  EXPECT_EQ(c1.source, "dma-main");
  EXPECT_EQ(c1.id, "c-1");
  EXPECT_EQ(c1.start, 1796371200);  // 09:00:00.250+01:00 -> 08:00:00Z, fraction dropped
  EXPECT_EQ(f->entries[0].end_ms, 1796371200000 + 754750);
  EXPECT_EQ(c1.duration_s, 750);
  EXPECT_EQ(c1.status, wire::CallStatus::kCompleted);
  EXPECT_EQ(c1.protocol, "SIP");
  EXPECT_EQ(c1.call_type, "VMR");
  EXPECT_EQ(c1.bitrate_kbps, 1920);
  EXPECT_EQ(c1.conference_id, "conf-1");
  EXPECT_EQ(c1.orig.uri, "sip:alice@example.com");
  EXPECT_EQ(c1.orig.model, "RealPresence Group 500");
  EXPECT_EQ(c1.orig.version, "6.2.2");
  EXPECT_EQ(c1.orig.site, "London HQ");
  EXPECT_EQ(c1.dest.model, "RealPresence Collaboration Server 2000");
  EXPECT_EQ(c1.dest.version, "8.10.2");

  const wire::CallRecord& c2 = Call(*f, 1);
  EXPECT_EQ(c2.id, "c-2");
  EXPECT_EQ(c2.status, wire::CallStatus::kFailed);
  EXPECT_EQ(c2.cause, "486:BUSY HERE");
  EXPECT_EQ(c2.protocol, "H.323");
  EXPECT_EQ(c2.start, 1796396400);  // 10:00-05:00
  EXPECT_EQ(c2.duration_s, 0);      // failed, no duration column value
  EXPECT_EQ(c2.conference_id, "");
  EXPECT_EQ(c2.dest.model, "Studio X50");

  // ITP: one CDR, the first value of every list.
  const wire::CallRecord& itp = Call(*f, 2);
  EXPECT_EQ(itp.id, "itp-1");
  EXPECT_EQ(itp.start, 1796382000);
  EXPECT_EQ(itp.duration_s, 1800);
  EXPECT_EQ(itp.bitrate_kbps, 4096);
  EXPECT_EQ(itp.orig.uri, "sip:itp@example.com");
  EXPECT_EQ(itp.orig.model, "RealPresence Immersive Studio");
  EXPECT_EQ(itp.orig.site, "London HQ");

  // Across a DST change the offsets differ: still two minutes.
  const wire::CallRecord& dst = Call(*f, 3);
  EXPECT_EQ(dst.id, "c-4");
  EXPECT_EQ(dst.end - dst.start, 120);

  const wire::CallRecord& c7 = Call(*f, 4);
  EXPECT_EQ(c7.duration_s, 2700);  // whole seconds accepted too

  ASSERT_EQ(f->skipped.size(), 2u);
  EXPECT_EQ(f->skipped[0].id, "c-5");
  EXPECT_EQ(f->skipped[0].reason, "startTime is not a DMA time");
  EXPECT_EQ(f->skipped[1].id, "");
  EXPECT_EQ(f->skipped[1].reason, "missing callUuid");
}

TEST(DmaCdrCalls, ColumnsAreFoundByNameInAnyOrder) {
  std::string csv =
      "endTime,CALLUUID,startTime,extra,failureSignalingCode\n"
      "2026-12-04T10:00:10.000Z,x-1,2026-12-04T10:00:00.000Z,ignored,404:NOT FOUND\n";
  auto f = ParseDmaCdrCalls(csv, "s");
  ASSERT_TRUE(f.ok()) << f.error().detail;
  ASSERT_EQ(f->entries.size(), 1u);
  EXPECT_EQ(Call(*f, 0).id, "x-1");
  EXPECT_EQ(Call(*f, 0).cause, "404:NOT FOUND");
}

TEST(DmaCdrCalls, RefusesTruncatedMalformedAndHeaderless) {
  auto t = ParseDmaCdrCalls(Fixture("dma/calls_truncated.csv"), "s");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().detail.find("calls CSV"), std::string::npos);
  EXPECT_FALSE(ParseDmaCdrCalls(Fixture("dma/calls_bad_quote.csv"), "s").ok());
  EXPECT_FALSE(ParseDmaCdrCalls("", "s").ok());
  EXPECT_FALSE(ParseDmaCdrCalls("version,type\n1,CALL\n", "s").ok());  // no callUuid column
  // Short rows are fine: missing fields are empty.
  auto shortrow = ParseDmaCdrCalls("callUuid,startTime,endTime\nq-1,2026-12-04T10:00:00Z\n", "s");
  ASSERT_TRUE(shortrow.ok());
  ASSERT_EQ(shortrow->skipped.size(), 1u);
  EXPECT_EQ(shortrow->skipped[0].reason, "missing endTime");
}

TEST(DmaCdrConferences, MapsTheFixture) {
  auto f = ParseDmaCdrConferences(Fixture("dma/conferences.csv"), "dma-main");
  ASSERT_TRUE(f.ok()) << f.error().detail;
  EXPECT_EQ(f->rows, 4u);
  ASSERT_EQ(f->entries.size(), 2u);
  const wire::ConferenceRecord& c1 = Conf(*f, 0);
  EXPECT_EQ(c1.id, "conf-1");
  EXPECT_EQ(c1.start, 1796371080);
  EXPECT_EQ(c1.room, "1063");
  EXPECT_EQ(c1.participant_count, 5);
  EXPECT_EQ(c1.max_resources_used, 12);  // video ports
  EXPECT_FALSE(c1.scheduled_start);
  const wire::ConferenceRecord& c2 = Conf(*f, 1);
  EXPECT_EQ(c2.max_resources_used, 4);  // audio-only: voice ports
  ASSERT_EQ(f->skipped.size(), 2u);
  EXPECT_EQ(f->skipped[0].id, "conf-3");
  EXPECT_EQ(f->skipped[0].reason, "partCount is not a non-negative integer");
  EXPECT_EQ(f->skipped[1].reason, "endTime is before startTime");
}

TEST(DmaCdrSummary, ReadsCountsAndExcludedClusters) {
  DmaCdrSummary s = ParseDmaCdrSummary(Fixture("dma/summary.txt"));
  EXPECT_EQ(s.calls, 7);
  EXPECT_EQ(s.conferences, 4);
  EXPECT_TRUE(s.excluded_clusters.empty());
  s = ParseDmaCdrSummary("Clusters excluded: a, b\nnonsense\n=\n:");
  EXPECT_EQ(s.excluded_clusters, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(s.calls);
}

TEST(DmaCdrZip, UnpacksAndParsesTheExport) {
  auto e = ParseDmaCdrExport(Fixture("dma/export.zip"), "dma-main");
  ASSERT_TRUE(e.ok()) << e.error().detail;
  EXPECT_EQ(e->entries.size(), 7u);  // 5 calls + 2 conferences
  EXPECT_EQ(e->skipped.size(), 4u);
  EXPECT_TRUE(e->summary.excluded_clusters.empty());

  auto excluded = ParseDmaCdrExport(Fixture("dma/export_excluded.zip"), "dma-main");
  ASSERT_TRUE(excluded.ok());
  EXPECT_EQ(excluded->summary.excluded_clusters.size(), 2u);
}

// The export is parsed while it inflates, 64 KiB at a time: rows, quoted
// fields with line breaks and a long header line cross chunk boundaries.
// The streamed result must equal the parse of the whole files.
TEST(DmaCdrZip, StreamedParseEqualsWholeFileParse) {
  devsim::CdrFiles files;
  files.calls_csv = "callUuid,type,startTime,endTime,callDuration,failureSignalingCode,origName";
  for (int i = 0; i < 300; ++i) files.calls_csv += ",extraColumn" + std::to_string(i);  // a header > 4 KB
  files.calls_csv += "\r\n";
  for (int i = 0; i < 6000; ++i) {
    files.calls_csv += "c-" + std::to_string(i) + ",CALL,2026-12-04T09:00:00.000+01:00,2026-12-04T09:" +
                       (i % 60 < 10 ? "0" : "") + std::to_string(i % 60) + ":30.000+01:00,00:00:" +
                       (i % 2 ? "30" : "00") + "," + (i % 7 == 0 ? "486" : "") + ",\"Room, \"\"" +
                       std::to_string(i) + "\"\"\nsecond line\"\r\n";
  }
  files.calls_csv += "bad-1,CALL,nonsense,2026-12-04T09:00:00Z,,,\r\n";
  files.conferences_csv = "confUUID,type,startTime,endTime,partCount\r\n";
  for (int i = 0; i < 2000; ++i)
    files.conferences_csv += "f-" + std::to_string(i) + ",CONF,2026-12-04T08:00:00Z,2026-12-04T08:30:00Z," +
                             std::to_string(i % 9) + "\r\n";
  files.summary = "Calls: 6001\r\nConferences: 2000\r\n";
  ASSERT_GT(files.calls_csv.size(), 4u * 65536);
  auto zip = devsim::ZipCdrFiles(files, 1796371200, devsim::TimeZone{"UTC", 0, devsim::DstRule::kNone});
  ASSERT_TRUE(zip.ok()) << zip.error().detail;

  auto calls = ParseDmaCdrCalls(files.calls_csv, "s");
  auto confs = ParseDmaCdrConferences(files.conferences_csv, "s");
  ASSERT_TRUE(calls.ok() && confs.ok());
  ASSERT_EQ(calls->entries.size(), 6000u);
  ASSERT_EQ(calls->skipped.size(), 1u);

  std::vector<std::string> streamed;
  size_t skips = 0;
  DmaCdrHandlers handlers{[&](DmaCdrEntry&& e) { streamed.push_back(wire::RecordId(e.record)); },
                          [&](DmaCdrSkip&&) { ++skips; }};
  auto info = StreamDmaCdrExport(*zip, "s", handlers);
  ASSERT_TRUE(info.ok()) << info.error().detail;
  EXPECT_EQ(info->call_rows, 6001u);
  EXPECT_EQ(info->conference_rows, 2000u);
  EXPECT_EQ(skips, 1u);
  std::vector<std::string> whole;
  for (const auto& e : calls->entries) whole.push_back(wire::RecordId(e.record));
  for (const auto& e : confs->entries) whole.push_back(wire::RecordId(e.record));
  std::sort(streamed.begin(), streamed.end());
  std::sort(whole.begin(), whole.end());
  EXPECT_EQ(streamed, whole);
  // A quoted name with a line break and doubled quotes survives the chunking.
  EXPECT_EQ(std::get<wire::CallRecord>(calls->entries[4321].record).orig.name, "Room, \"4321\"\nsecond line");

  // A summary that disagrees with the rows streamed is an error, after the
  // entries were handed out (the caller discards them).
  files.summary = "Calls: 6002\r\nConferences: 2000\r\n";
  auto short_zip = devsim::ZipCdrFiles(files, 1796371200, devsim::TimeZone{"UTC", 0, devsim::DstRule::kNone});
  ASSERT_TRUE(short_zip.ok());
  EXPECT_FALSE(StreamDmaCdrExport(*short_zip, "s", handlers).ok());
}

TEST(DmaCdrZip, RefusesBrokenExports) {
  auto mismatch = ParseDmaCdrExport(Fixture("dma/export_count_mismatch.zip"), "s");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().detail.find("truncated"), std::string::npos);
  EXPECT_FALSE(ParseDmaCdrExport(Fixture("dma/export_no_conferences.zip"), "s").ok());
  std::string zip = Fixture("dma/export.zip");
  EXPECT_FALSE(ParseDmaCdrExport(zip.substr(0, zip.size() / 2), "s").ok());  // truncated download
  std::string flipped = zip;
  flipped[60] = static_cast<char>(flipped[60] ^ 0x55);  // corrupt compressed data (CRC)
  EXPECT_FALSE(ParseDmaCdrExport(flipped, "s").ok());
  EXPECT_FALSE(ParseDmaCdrExport("", "s").ok());
  EXPECT_FALSE(ParseDmaCdrExport("PK\x03\x04 not really", "s").ok());
}

}  // namespace
}  // namespace parley::agent
