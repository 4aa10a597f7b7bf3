// CUCM CDR/CMR flat files: field codecs, whole-file parsing on the fixtures
// (tests/unit/agent/fixtures/cucm, written by make_fixtures.py), the CDR<->CMR
// join, and the collector over a directory: settle time, paging inside a
// file, cursor resume, malformed and unreadable files, health.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/cucm_collector.h"
#include "support/fake_clock.h"

namespace parley::agent {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(PARLEY_AGENT_FIXTURES) / "cucm";
constexpr int64_t kT0 = 1796371200;  // 2026-12-04T08:00:00Z, the fixtures' first call

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const wire::CallRecord* FindCall(const std::vector<wire::CallRecord>& calls, const std::string& id) {
  for (const auto& c : calls)
    if (c.id == id) return &c;
  return nullptr;
}

const wire::QualitySample* FindSample(const wire::CallRecord& c, const std::string& party, const std::string& media) {
  for (const auto& q : c.quality)
    if (q.party == party && q.media == media) return &q;
  return nullptr;
}

// ---------------------------------------------------------------- codecs

TEST(CucmCodecs, ReversedByteIpv4) {
  // Cisco's own example (CUCM 15 billing guide): -1139627840 = 0xBC12A8C0.
  EXPECT_EQ(DecodeCucmIpv4("-1139627840"), "192.168.18.188");
  // 192.168.1.1 written the CUCM way: bytes C0 A8 01 01 reversed = 0x0101A8C0.
  EXPECT_EQ(DecodeCucmIpv4("16885952"), "192.168.1.1");
  // -1062731775 is 0xC0A80001: network order would read 192.168.0.1, but
  // CUCM's bytes are reversed, so it is 1.0.168.192 (not a typical LAN address:
  // a decoder that forgets the reversal shows up here).
  EXPECT_EQ(DecodeCucmIpv4("-1062731775"), "1.0.168.192");
  EXPECT_EQ(DecodeCucmIpv4("0"), "");
  EXPECT_EQ(DecodeCucmIpv4(""), "");
  EXPECT_EQ(DecodeCucmIpv4("3155339456"), "192.168.18.188");  // the unsigned spelling of the same bits
  EXPECT_EQ(DecodeCucmIpv4("4294967296"), std::nullopt);
  EXPECT_EQ(DecodeCucmIpv4("-2147483649"), std::nullopt);
  EXPECT_EQ(DecodeCucmIpv4("10.0.0.1"), std::nullopt);
}

TEST(CucmCodecs, FileNames) {
  auto f = ParseCucmFileName("cdr_StandAloneCluster_01_202612040800_1");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->tag, "cdr");
  EXPECT_EQ(f->cluster, "StandAloneCluster");
  EXPECT_EQ(f->node, "01");
  EXPECT_EQ(f->datetime, "202612040800");
  EXPECT_EQ(f->seq, 1u);
  auto g = ParseCucmFileName("cmr_My_Cluster_02_200404061011_6125");  // a cluster id with '_'
  ASSERT_TRUE(g);
  EXPECT_EQ(g->cluster, "My_Cluster");
  EXPECT_EQ(g->node, "02");
  EXPECT_EQ(g->seq, 6125u);
  EXPECT_FALSE(ParseCucmFileName("cdr_Cluster1_01_200404021658"));
  EXPECT_FALSE(ParseCucmFileName("cdr_Cluster1_01_200413021658_1"));  // month 13
  EXPECT_FALSE(ParseCucmFileName("xyz_Cluster1_01_200404021658_1"));
  EXPECT_FALSE(ParseCucmFileName("cdr_Cluster1_01_200404021658_1.tmp"));
  EXPECT_FALSE(ParseCucmFileName("README"));
  EXPECT_EQ(ParseCucmFileTime("202612040800"), kT0);
  EXPECT_EQ(ParseCucmFileTime("202402290000"), 1709164800);  // a leap day
  EXPECT_FALSE(ParseCucmFileTime("202302290000"));
}

TEST(CucmCodecs, VarVqMetrics) {
  auto m = ParseVarVqMetrics(
      "MLQK=4.1000;MLQKav=3.9500;MLQKmn=3.2000;MLQKmx=4.5000;ICR=0.0000;CCR=0.0021;ICRmx=0.0100;CS=2;SCS=0;"
      "MLQKvr=0.95;maxJitter=31;VoOneWayDelayMs=42;VoRxCodec=G711U");
  EXPECT_DOUBLE_EQ(*m.mos, 4.1);
  EXPECT_DOUBLE_EQ(*m.mos_avg, 3.95);
  EXPECT_DOUBLE_EQ(*m.mos_min, 3.2);
  EXPECT_DOUBLE_EQ(*m.max_jitter_ms, 31);
  EXPECT_DOUBLE_EQ(*m.one_way_delay_ms, 42);
  EXPECT_DOUBLE_EQ(*m.ccr, 0.0021);
  EXPECT_EQ(m.codec, "G711U");
  auto junk = ParseVarVqMetrics(";;=;MLQK;MLQK=abc;maxJitter=-3;VoOneWayDelayMs= 7 ;");
  EXPECT_FALSE(junk.mos);
  EXPECT_FALSE(junk.max_jitter_ms);
  EXPECT_DOUBLE_EQ(*junk.one_way_delay_ms, 7);
  EXPECT_FALSE(ParseVarVqMetrics("").mos);
}

TEST(CucmCodecs, Causes) {
  EXPECT_FALSE(DescribeCucmCause(0).abnormal);
  EXPECT_EQ(DescribeCucmCause(0).text, "");
  EXPECT_FALSE(DescribeCucmCause(16).abnormal);
  EXPECT_EQ(DescribeCucmCause(17).text, "17:User busy");
  EXPECT_TRUE(DescribeCucmCause(17).abnormal);
  EXPECT_FALSE(DescribeCucmCause(393216).abnormal);  // call split by a transfer
  EXPECT_TRUE(DescribeCucmCause(4242).abnormal);
  EXPECT_EQ(DescribeCucmCause(4242).text, "4242:cause 4242");
}

// ---------------------------------------------------------------- whole files

TEST(CucmCdrFile, MapsTheGoodFile) {
  auto file = ParseCucmCdrFile(Slurp(kFixtures / "cdr_StandAloneCluster_01_202612040800_1"), "cucm-main");
  ASSERT_TRUE(file.ok()) << file.error().detail;
  EXPECT_EQ(file->rows, 5);
  EXPECT_TRUE(file->skipped.empty());
  ASSERT_EQ(file->calls.size(), 4u);  // the start record (type 0) is not a call

  const wire::CallRecord* c = FindCall(file->calls, "1-100001-20001-20002");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->source, "cucm-main");
  EXPECT_EQ(c->start, kT0);
  EXPECT_EQ(c->end, kT0 + 305);
  EXPECT_EQ(c->duration_s, 300);
  EXPECT_EQ(c->status, wire::CallStatus::kCompleted);
  EXPECT_EQ(c->cause, "");
  EXPECT_EQ(c->bitrate_kbps, 64);
  EXPECT_EQ(c->orig.number, "1001");
  EXPECT_EQ(c->orig.uri, "alice@example.com");
  EXPECT_EQ(c->orig.name, "SEP001122334455");
  EXPECT_EQ(c->orig.ip, "192.168.18.188");
  EXPECT_EQ(c->dest.number, "1002");
  EXPECT_EQ(c->dest.uri, "bob@example.com");
  EXPECT_EQ(c->dest.ip, "192.168.1.1");
  EXPECT_TRUE(c->quality.empty());

  const wire::CallRecord* busy = FindCall(file->calls, "1-100002-20003-20004");
  ASSERT_NE(busy, nullptr);
  EXPECT_EQ(busy->status, wire::CallStatus::kFailed);
  EXPECT_EQ(busy->cause, "17:User busy");
  EXPECT_EQ(busy->duration_s, 0);
  EXPECT_EQ(busy->dest.ip, "");

  const wire::CallRecord* sip = FindCall(file->calls, "2-7-30001-30002");
  ASSERT_NE(sip, nullptr);
  EXPECT_EQ(sip->protocol, "SIP");
  EXPECT_EQ(sip->status, wire::CallStatus::kCompleted);
  EXPECT_EQ(sip->bitrate_kbps, 64 + 1920);
  EXPECT_EQ(sip->orig.ip, "2001:db8::10");  // the text column wins over the integer one
  EXPECT_EQ(sip->dest.ip, "10.20.30.40");
  EXPECT_EQ(sip->orig.number, "+442079460123");

  const wire::CallRecord* abandoned = FindCall(file->calls, "1-100003-20005-20006");
  ASSERT_NE(abandoned, nullptr);
  EXPECT_EQ(abandoned->status, wire::CallStatus::kFailed);
  EXPECT_EQ(abandoned->cause, "16:Normal call clearing (not connected)");
}

// Columns are found by name: the node-02 file has them in reverse order.
// Bad rows are listed with a reason naming columns (never values), and the
// unterminated last row is reported as truncated.
TEST(CucmCdrFile, BadRowsAreSkippedWithReasons) {
  auto file = ParseCucmCdrFile(Slurp(kFixtures / "cdr_StandAloneCluster_02_202612040801_2"), "cucm-main");
  ASSERT_TRUE(file.ok()) << file.error().detail;
  ASSERT_EQ(file->calls.size(), 1u);
  EXPECT_EQ(file->calls[0].id, "2-200001-40001-40002");
  EXPECT_EQ(file->calls[0].orig.ip, "192.168.18.188");
  ASSERT_EQ(file->skipped.size(), 4u);
  EXPECT_EQ(file->skipped[0].row, 2);
  EXPECT_EQ(file->skipped[0].reason, "dateTimeDisconnect is before dateTimeOrigination");
  EXPECT_EQ(file->skipped[0].id, "2-200002-40001-40002");
  EXPECT_EQ(file->skipped[1].row, 3);
  EXPECT_NE(file->skipped[1].reason.find("globalCallID_callManagerId/callId"), std::string::npos);
  EXPECT_EQ(file->skipped[2].row, 4);
  EXPECT_NE(file->skipped[2].reason.find("has 40 columns"), std::string::npos);
  EXPECT_EQ(file->skipped[3].row, 5);
  EXPECT_EQ(file->skipped[3].reason, "truncated last row (no line end)");
  for (const auto& s : file->skipped) EXPECT_EQ(s.reason.find("SEP"), std::string::npos);
}

TEST(CucmCdrFile, MalformedFilesAreRefusedWithTheReason) {
  struct Case {
    const char* file;
    const char* reason;
  };
  const Case cases[] = {
      {"cdr_Bad_01_202612040800_1", "no type line"},
      {"cdr_Bad_01_202612040801_2", "no column globalCallID_callId"},
      {"cdr_Bad_01_202612040802_3", "the type line has 2 columns, the header 129"},
      {"cdr_Bad_01_202612040803_4", "empty file"},
      {"cdr_Bad_01_202612040804_5", "column dateTimeOrigination is typed VARCHAR, expected INTEGER"},
  };
  for (const Case& c : cases) {
    auto file = ParseCucmCdrFile(Slurp(kFixtures / "malformed" / c.file), "cucm-main");
    ASSERT_FALSE(file.ok()) << c.file;
    EXPECT_NE(file.error().detail.find(c.reason), std::string::npos) << c.file << ": " << file.error().detail;
  }
  // Cut inside a quoted field of row 1: that row is truncated, nothing else.
  auto cut = ParseCucmCdrFile(Slurp(kFixtures / "malformed" / "cdr_Bad_01_202612040805_6"), "cucm-main");
  ASSERT_TRUE(cut.ok()) << cut.error().detail;
  EXPECT_TRUE(cut->calls.empty());
  ASSERT_EQ(cut->skipped.size(), 1u);
  EXPECT_EQ(cut->skipped[0].reason, "truncated last row (no line end)");
}

TEST(CucmCdrFile, QuotingLineEndsAndTypes) {
  // Minimal header, CRLF line ends, a quoted field with a comma, a doubled
  // quote and a line break inside quotes (libcsv handles all of them).
  std::string text =
      "\"cdrRecordType\",\"globalCallID_callManagerId\",\"globalCallID_callId\",\"origLegCallIdentifier\","
      "\"destLegCallIdentifier\",\"dateTimeOrigination\",\"dateTimeConnect\",\"dateTimeDisconnect\","
      "\"origCause_value\",\"destCause_value\",\"callingPartyNumber\"\r\n"
      "INTEGER,INTEGER,INTEGER,INTEGER,INTEGER,INTEGER,INTEGER,INTEGER,INTEGER,INTEGER,VARCHAR(50)\r\n"
      "1,1,5,6,7,1796371200,1796371201,1796371260,16,0,\"10,01 \"\"x\"\"\nline\"\r\n";
  auto file = ParseCucmCdrFile(text, "s");
  ASSERT_TRUE(file.ok()) << file.error().detail;
  ASSERT_EQ(file->calls.size(), 1u);
  EXPECT_EQ(file->calls[0].orig.number, "10,01 \"x\"line");  // control characters dropped
  EXPECT_EQ(file->calls[0].duration_s, 59);                   // no duration column: disconnect - connect
  EXPECT_EQ(file->calls[0].protocol, "");
  // Invalid UTF-8 in a text field becomes '?', so the server never refuses the line.
  std::string latin1 = text;
  latin1.replace(latin1.find("10,01"), 5, "J\xF6rg");
  auto f2 = ParseCucmCdrFile(latin1, "s");
  ASSERT_TRUE(f2.ok());
  EXPECT_EQ(f2->calls[0].orig.number.substr(0, 4), "J?rg");
}

TEST(CucmCmrFile, SamplesAndJoin) {
  auto cdr = ParseCucmCdrFile(Slurp(kFixtures / "cdr_StandAloneCluster_01_202612040800_1"), "cucm-main");
  auto cmr1 = ParseCucmCmrFile(Slurp(kFixtures / "cmr_StandAloneCluster_01_202612040800_1"));
  auto cmr2 = ParseCucmCmrFile(Slurp(kFixtures / "cmr_StandAloneCluster_02_202612040801_3"));
  ASSERT_TRUE(cdr.ok() && cmr1.ok() && cmr2.ok());
  std::vector<CucmCmr> cmrs = cmr1->cmrs;
  cmrs.insert(cmrs.end(), cmr2->cmrs.begin(), cmr2->cmrs.end());
  AttachCucmCmrs(cdr->calls, cmrs);

  const wire::CallRecord* c = FindCall(cdr->calls, "1-100001-20001-20002");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->quality.size(), 2u);
  const wire::QualitySample* orig = FindSample(*c, "orig", "audio");
  ASSERT_NE(orig, nullptr);
  EXPECT_EQ(orig->direction, "rx");
  EXPECT_EQ(orig->codec, "G711U");
  EXPECT_DOUBLE_EQ(*orig->packet_loss_pct_avg, 1.0);  // 150 of 15000
  EXPECT_DOUBLE_EQ(*orig->jitter_ms_avg, 12);
  EXPECT_DOUBLE_EQ(*orig->jitter_ms_max, 31);
  EXPECT_DOUBLE_EQ(*orig->latency_ms_avg, 42);        // VoOneWayDelayMs
  EXPECT_DOUBLE_EQ(*orig->mos, 3.95);                 // MLQKav
  EXPECT_EQ(*orig->bitrate_kbps, 63);                 // 2376000 octets * 8 / 300 s
  const wire::QualitySample* dest = FindSample(*c, "dest", "audio");
  ASSERT_NE(dest, nullptr);
  EXPECT_DOUBLE_EQ(*dest->packet_loss_pct_avg, 0.0);
  EXPECT_DOUBLE_EQ(*dest->latency_ms_avg, 20);        // the latency column when there is no VQ delay
  EXPECT_FALSE(dest->mos);                            // no varVQMetrics: absent, not 0
  EXPECT_FALSE(dest->jitter_ms_max);

  const wire::CallRecord* sip = FindCall(cdr->calls, "2-7-30001-30002");
  ASSERT_NE(sip, nullptr);
  const wire::QualitySample* video = FindSample(*sip, "dest", "video");
  ASSERT_NE(video, nullptr);
  EXPECT_DOUBLE_EQ(*video->packet_loss_pct_avg, 2000.0 * 100 / 200000);
  EXPECT_DOUBLE_EQ(*video->jitter_ms_avg, 9);
  EXPECT_DOUBLE_EQ(*video->latency_ms_avg, 40);       // RTT / 2
  EXPECT_EQ(*video->bitrate_kbps, 1920);
  const wire::QualitySample* audio = FindSample(*sip, "dest", "audio");
  ASSERT_NE(audio, nullptr);
  EXPECT_FALSE(audio->mos);                           // MLQK=0.0000 means "not computed"
  EXPECT_EQ(FindSample(*sip, "orig", "audio"), nullptr);  // the trunk side has no CMR

  EXPECT_TRUE(FindCall(cdr->calls, "1-100002-20003-20004")->quality.empty());
}

TEST(CucmCursor, RoundTripAndLimits) {
  CucmCursor c;
  c.high_water["StandAloneCluster_01"] = "202612040800_1";
  c.since = "202611040800";
  c.file = "cdr_StandAloneCluster_02_202612040801_2";
  c.rows = 3;
  auto text = EncodeCucmCursor(c);
  ASSERT_TRUE(text.ok());
  auto back = DecodeCucmCursor(*text);
  ASSERT_TRUE(back.ok()) << back.error().detail;
  EXPECT_EQ(back->high_water, c.high_water);
  EXPECT_EQ(back->file, c.file);
  EXPECT_EQ(back->rows, 3);
  EXPECT_EQ(back->since, c.since);
  EXPECT_TRUE(DecodeCucmCursor("").ok());
  EXPECT_FALSE(DecodeCucmCursor("tok-5").ok());
  EXPECT_FALSE(DecodeCucmCursor(R"({"v":2})").ok());
  EXPECT_FALSE(DecodeCucmCursor(R"({"v":1,"hw":{"a":"x"}})").ok());
  for (int i = 0; i < 60; ++i) c.high_water["Cluster_" + std::to_string(i)] = "202612040800_123456";
  EXPECT_FALSE(EncodeCucmCursor(c).ok());
}

// ---------------------------------------------------------------- the collector

class CucmCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("parley-cucm-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    source_.name = "cucm-main";
    source_.type = "cucm";
    source_.dir = dir_;
    source_.settle_seconds = 120;
    source_.initial_history_days = 30;
  }
  void TearDown() override {
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(dir_);
  }

  // Copies a fixture into the test directory with mtime `age` seconds before the fake now.
  void Put(const std::string& fixture, int64_t age = 3600, const std::string& as = "") {
    fs::path to = dir_ / (as.empty() ? fs::path(fixture).filename().string() : as);
    fs::copy_file(kFixtures / fixture, to, fs::copy_options::overwrite_existing);
    SetAge(to, age);
  }
  void SetAge(const fs::path& p, int64_t age) {
    struct timespec times[2];
    times[0].tv_sec = times[1].tv_sec = clock_.NowUnixSeconds() - age;
    times[0].tv_nsec = times[1].tv_nsec = 0;
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
  }

  std::unique_ptr<CucmCollector> Make() {
    auto c = CucmCollector::Create(source_, clock_);
    EXPECT_TRUE(c.ok());
    return std::move(*c);
  }

  // Fetches until caught up, returning every record and the final cursor.
  std::vector<wire::CallRecord> Drain(CucmCollector& c, std::string& cursor, size_t page = 500, int* pages = nullptr) {
    std::vector<wire::CallRecord> out;
    for (int i = 0; i < 100; ++i) {
      auto p = c.FetchAfter(cursor, page);
      EXPECT_TRUE(p.ok()) << p.error().detail;
      if (!p.ok()) break;
      EXPECT_LE(p->records.size(), page);
      for (auto& r : p->records) out.push_back(std::get<wire::CallRecord>(r));
      cursor = p->next_cursor;
      if (pages) ++*pages;
      if (!p->more) break;
    }
    return out;
  }

  testing::FakeClock clock_{kT0 + 86400};
  fs::path dir_;
  SourceConfig source_;
};

TEST_F(CucmCollectorTest, CollectsJoinsAndResumes) {
  Put("cdr_StandAloneCluster_01_202612040800_1");
  Put("cmr_StandAloneCluster_01_202612040800_1");
  Put("cmr_StandAloneCluster_02_202612040801_3");
  Put("cdr_StandAloneCluster_02_202612040801_2");
  std::ofstream(dir_ / "README.txt") << "not a CDR file\n";
  auto c = Make();
  std::string cursor;
  auto calls = Drain(*c, cursor);
  ASSERT_EQ(calls.size(), 5u);
  std::set<std::string> ids;
  for (const auto& r : calls) ids.insert(r.id);
  EXPECT_EQ(ids.size(), 5u);
  const wire::CallRecord* joined = FindCall(calls, "1-100001-20001-20002");
  ASSERT_NE(joined, nullptr);
  EXPECT_EQ(joined->quality.size(), 2u);  // both CMR files joined, across nodes
  // The bad rows of the node-02 file make the source degraded, not failing.
  EXPECT_EQ(c->health().status, SourceStatus::kDegraded);
  ASSERT_TRUE(c->health().last_error);
  EXPECT_NE(c->health().last_error->find("cdr_StandAloneCluster_02_202612040801_2"), std::string::npos);

  // Caught up: the same cursor again yields nothing new.
  auto again = c->FetchAfter(cursor, 500);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->records.empty());
  EXPECT_EQ(again->next_cursor, cursor);
  EXPECT_FALSE(again->more);

  // A new file of node 01 is read once it has settled; the old ones are not read again.
  Put("cdr_StandAloneCluster_01_202612040800_1", 10, "cdr_StandAloneCluster_01_202612040805_2");
  auto young = c->FetchAfter(cursor, 500);
  ASSERT_TRUE(young.ok());
  EXPECT_TRUE(young->records.empty());  // 10 s old, settle_seconds is 120
  clock_.Advance(std::chrono::seconds(200));
  auto settled = c->FetchAfter(cursor, 500);
  ASSERT_TRUE(settled.ok());
  EXPECT_EQ(settled->records.size(), 4u);

  // The agent never changes the directory.
  size_t files = 0;
  for (auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 6u);
}

TEST_F(CucmCollectorTest, PagesInsideAFileResumeByRow) {
  Put("cdr_StandAloneCluster_01_202612040800_1");
  Put("cdr_StandAloneCluster_02_202612040801_2");
  auto c = Make();
  std::string cursor;
  int pages = 0;
  auto calls = Drain(*c, cursor, 1, &pages);
  EXPECT_EQ(calls.size(), 5u);
  EXPECT_GE(pages, 5);
  std::set<std::string> ids;
  for (const auto& r : calls) EXPECT_TRUE(ids.insert(r.id).second) << "repeated " << r.id;

  // A new collector (agent restart) resumes from the server's cursor alone.
  auto c2 = Make();
  std::string mid;
  auto first = c2->FetchAfter("", 2);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->records.size(), 2u);
  EXPECT_TRUE(first->more);
  EXPECT_NE(first->next_cursor.find("\"f\":\"cdr_StandAloneCluster_01_202612040800_1\""), std::string::npos);
  mid = first->next_cursor;
  auto c3 = Make();
  auto rest = Drain(*c3, mid);
  EXPECT_EQ(rest.size(), 3u);
  for (const auto& r : rest) {
    EXPECT_NE(r.id, std::get<wire::CallRecord>(first->records[0]).id);
    EXPECT_NE(r.id, std::get<wire::CallRecord>(first->records[1]).id);
  }
}

TEST_F(CucmCollectorTest, MalformedFilesAreSkippedAndReported) {
  for (const char* f : {"cdr_Bad_01_202612040800_1", "cdr_Bad_01_202612040801_2", "cdr_Bad_01_202612040803_4"})
    Put(std::string("malformed/") + f);
  Put("cdr_StandAloneCluster_01_202612040800_1", 3600, "cdr_Bad_01_202612040810_9");
  auto c = Make();
  std::string cursor;
  auto calls = Drain(*c, cursor);
  EXPECT_EQ(calls.size(), 4u);  // the good file after the bad ones of the same node
  EXPECT_EQ(c->health().status, SourceStatus::kDegraded);
  auto again = c->FetchAfter(cursor, 500);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->records.empty());
}

TEST_F(CucmCollectorTest, UnreadableFileAndMissingDirectoryFail) {
  if (::geteuid() == 0) {
    // root reads mode-000 files; a directory that is not there still fails.
    source_.dir = dir_ / "missing";
    auto c = Make();
    auto p = c->FetchAfter("", 10);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(c->health().status, SourceStatus::kFailing);
    EXPECT_NE(c->health().last_error->find("missing"), std::string::npos);
    auto probe = c->Probe("");
    EXPECT_FALSE(probe.ok());
    // A FIFO with a CDR name never blocks the agent: skipped as not a regular file.
    ASSERT_EQ(::mkfifo((dir_ / "cdr_X_01_202612040800_1").c_str(), 0600), 0);
    SetAge(dir_ / "cdr_X_01_202612040800_1", 3600);
    source_.dir = dir_;
    auto c2 = Make();
    auto p2 = c2->FetchAfter("", 10);
    ASSERT_TRUE(p2.ok()) << p2.error().detail;
    EXPECT_EQ(c2->health().status, SourceStatus::kDegraded);
    return;
  }
  Put("cdr_StandAloneCluster_01_202612040800_1");
  fs::permissions(dir_ / "cdr_StandAloneCluster_01_202612040800_1", fs::perms::none);
  auto c = Make();
  auto p = c->FetchAfter("", 10);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(c->health().status, SourceStatus::kFailing);
  EXPECT_NE(c->health().last_error->find("cdr_StandAloneCluster_01_202612040800_1"), std::string::npos);
}

TEST_F(CucmCollectorTest, NewSourceStartsInitialHistoryDaysBack) {
  Put("cdr_StandAloneCluster_01_202612040800_1");
  clock_.Advance(std::chrono::hours(24 * 40));  // the file is now 41 days old
  auto c = Make();
  auto p = c->FetchAfter("", 500);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->records.empty());
  EXPECT_EQ(p->next_cursor, "");
}

TEST_F(CucmCollectorTest, ProbeDescribesTheDirectory) {
  Put("cdr_StandAloneCluster_01_202612040800_1");
  Put("cmr_StandAloneCluster_01_202612040800_1");
  Put("cdr_StandAloneCluster_02_202612040801_2", 5);
  auto c = Make();
  auto probe = c->Probe("");
  ASSERT_TRUE(probe.ok()) << probe.error().detail;
  EXPECT_EQ(*probe,
            "1 CDR file(s) to read (+1 settling), 1 CMR file(s); cdr_StandAloneCluster_01_202612040800_1: "
            "4 call record(s) readable");
}

}  // namespace
}  // namespace parley::agent
