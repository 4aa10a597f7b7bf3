// The kamailio collector: row mapping (acc_cdrs, missed_calls, acc pairs),
// timestamps as Kamailio's SQLite driver stores them (Julian days), the
// per-table cursor, and reading a fixture database built here with
// Kamailio's schema (acc-create.sql, 5.6) plus extra columns -- including
// NULL, malformed and truncated values, and a database held open by a writer.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <variant>

#include "agent/config.h"
#include "agent/kamailio_collector.h"

namespace parley::agent {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kT0 = 1796403556;  // 2026-12-04T16:59:16Z

double Jd(int64_t unix_seconds) { return static_cast<double>(unix_seconds) / 86400.0 + 2440587.5; }

// Kamailio 5.6's kamctl/db_sqlite/acc-create.sql (table versions acc 5,
// acc_cdrs 2, missed_calls 4).
constexpr const char* kKamailioSchema = R"sql(
CREATE TABLE version (id INTEGER PRIMARY KEY NOT NULL, table_name VARCHAR(32) NOT NULL,
  table_version INTEGER DEFAULT 0 NOT NULL, CONSTRAINT version_table_name_idx UNIQUE (table_name));
CREATE TABLE acc (
    id INTEGER PRIMARY KEY NOT NULL,
    method VARCHAR(16) DEFAULT '' NOT NULL,
    from_tag VARCHAR(128) DEFAULT '' NOT NULL,
    to_tag VARCHAR(128) DEFAULT '' NOT NULL,
    callid VARCHAR(255) DEFAULT '' NOT NULL,
    sip_code VARCHAR(3) DEFAULT '' NOT NULL,
    sip_reason VARCHAR(128) DEFAULT '' NOT NULL,
    time TIMESTAMP WITHOUT TIME ZONE NOT NULL
);
CREATE INDEX acc_callid_idx ON acc (callid);
INSERT INTO version (table_name, table_version) values ('acc','5');
CREATE TABLE acc_cdrs (
    id INTEGER PRIMARY KEY NOT NULL,
    start_time TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:00' NOT NULL,
    end_time TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:00' NOT NULL,
    duration REAL DEFAULT 0 NOT NULL
);
CREATE INDEX acc_cdrs_start_time_idx ON acc_cdrs (start_time);
INSERT INTO version (table_name, table_version) values ('acc_cdrs','2');
CREATE TABLE missed_calls (
    id INTEGER PRIMARY KEY NOT NULL,
    method VARCHAR(16) DEFAULT '' NOT NULL,
    from_tag VARCHAR(128) DEFAULT '' NOT NULL,
    to_tag VARCHAR(128) DEFAULT '' NOT NULL,
    callid VARCHAR(255) DEFAULT '' NOT NULL,
    sip_code VARCHAR(3) DEFAULT '' NOT NULL,
    sip_reason VARCHAR(128) DEFAULT '' NOT NULL,
    time TIMESTAMP WITHOUT TIME ZONE NOT NULL
);
CREATE INDEX missed_calls_callid_idx ON missed_calls (callid);
INSERT INTO version (table_name, table_version) values ('missed_calls','4');
)sql";

// The extra columns docs/agent.md asks for (nullable: BYE rows have no $rU).
constexpr const char* kExtraColumns = R"sql(
ALTER TABLE acc ADD COLUMN src_user VARCHAR(64);
ALTER TABLE acc ADD COLUMN src_domain VARCHAR(128);
ALTER TABLE acc ADD COLUMN src_ip VARCHAR(64);
ALTER TABLE acc ADD COLUMN dst_ouser VARCHAR(64);
ALTER TABLE acc ADD COLUMN dst_user VARCHAR(64);
ALTER TABLE acc ADD COLUMN dst_domain VARCHAR(128);
ALTER TABLE missed_calls ADD COLUMN src_user VARCHAR(64);
ALTER TABLE missed_calls ADD COLUMN src_domain VARCHAR(128);
ALTER TABLE missed_calls ADD COLUMN src_ip VARCHAR(64);
ALTER TABLE missed_calls ADD COLUMN dst_ouser VARCHAR(64);
ALTER TABLE missed_calls ADD COLUMN dst_user VARCHAR(64);
ALTER TABLE missed_calls ADD COLUMN dst_domain VARCHAR(128);
ALTER TABLE acc_cdrs ADD COLUMN callid VARCHAR(255);
ALTER TABLE acc_cdrs ADD COLUMN from_tag VARCHAR(128);
ALTER TABLE acc_cdrs ADD COLUMN src_user VARCHAR(64);
ALTER TABLE acc_cdrs ADD COLUMN src_domain VARCHAR(128);
ALTER TABLE acc_cdrs ADD COLUMN src_ip VARCHAR(64);
ALTER TABLE acc_cdrs ADD COLUMN dst_user VARCHAR(64);
ALTER TABLE acc_cdrs ADD COLUMN dst_domain VARCHAR(128);
ALTER TABLE acc_cdrs ADD COLUMN sip_code VARCHAR(3);
ALTER TABLE acc_cdrs ADD COLUMN sip_reason VARCHAR(128);
)sql";

std::string Reason(const KamailioMapped& m) {
  if (auto* r = std::get_if<std::string>(&m)) return *r;
  return "(not skipped)";
}

wire::CallRecord Call(const KamailioMapped& m) {
  EXPECT_TRUE(std::holds_alternative<wire::CallRecord>(m)) << Reason(m);
  if (auto* c = std::get_if<wire::CallRecord>(&m)) return *c;
  return {};
}


// ------------------------------------------------------------ pure mapping

KamailioCdrRow GoodCdr() {
  KamailioCdrRow r;
  r.id = 1;
  r.start_time = kT0;
  r.end_time = kT0 + 62;
  r.duration = 61.604;
  r.callid = "a84b4c76e66710@pc33.example.com";
  r.from_tag = "1928301774";
  r.sip_code = "200";
  r.sip_reason = "OK";
  r.parties.src_user = "alice";
  r.parties.src_domain = "example.com";
  r.parties.src_ip = "192.0.2.10";
  r.parties.dst_user = "+4930123456";
  r.parties.dst_domain = "example.com";
  return r;
}

TEST(KamailioMapping, AnsweredDialogCdrIsACompletedSipCall) {
  const auto& c = Call(MapKamailioCdr(GoodCdr(), "kam"));
  EXPECT_EQ(c.source, "kam");
  EXPECT_EQ(c.id, "a84b4c76e66710@pc33.example.com");
  EXPECT_EQ(c.start, kT0);
  EXPECT_EQ(c.end, kT0 + 62);
  EXPECT_EQ(c.duration_s, 62);  // 61.604 rounded
  EXPECT_EQ(c.status, wire::CallStatus::kCompleted);
  EXPECT_EQ(c.cause, "");
  EXPECT_EQ(c.protocol, "SIP");
  EXPECT_EQ(c.orig.uri, "sip:alice@example.com");
  EXPECT_EQ(c.orig.number, "");
  EXPECT_EQ(c.orig.ip, "192.0.2.10");
  EXPECT_EQ(c.dest.uri, "sip:+4930123456@example.com");
  EXPECT_EQ(c.dest.number, "+4930123456");
}

TEST(KamailioMapping, FailedDialogCdrCarriesTheCause) {
  KamailioCdrRow r = GoodCdr();
  r.end_time = r.start_time;
  r.duration = 0.0;
  r.sip_code = "486";
  r.sip_reason = "Busy Here";
  const auto& c = Call(MapKamailioCdr(r, "kam"));
  EXPECT_EQ(c.status, wire::CallStatus::kFailed);
  EXPECT_EQ(c.cause, "486:Busy Here");
  EXPECT_EQ(c.duration_s, 0);
}

TEST(KamailioMapping, CdrWithoutSipCodeColumnIsCompletedAndNullDurationIsTheSpan) {
  KamailioCdrRow r = GoodCdr();
  r.sip_code.clear();
  r.sip_reason.clear();
  r.duration.reset();
  const auto& c = Call(MapKamailioCdr(r, "kam"));
  EXPECT_EQ(c.status, wire::CallStatus::kCompleted);
  EXPECT_EQ(c.duration_s, 62);
}

TEST(KamailioMapping, MalformedCdrsAreSkippedWithAReason) {
  KamailioCdrRow r = GoodCdr();
  r.callid.clear();
  EXPECT_NE(Reason(MapKamailioCdr(r, "kam")).find("no callid"), std::string::npos);

  r = GoodCdr();
  r.callid = std::string(201, 'x');
  EXPECT_EQ(Reason(MapKamailioCdr(r, "kam")), "callid longer than 200 bytes");

  r = GoodCdr();
  r.start_time.reset();
  EXPECT_EQ(Reason(MapKamailioCdr(r, "kam")), "start_time missing or malformed");

  r = GoodCdr();
  r.start_time = 946684800;  // the column default '2000-01-01 00:00:00': never set
  EXPECT_EQ(Reason(MapKamailioCdr(r, "kam")), "start_time missing or malformed");

  r = GoodCdr();
  r.end_time.reset();
  EXPECT_EQ(Reason(MapKamailioCdr(r, "kam")), "end_time missing or malformed");

  r = GoodCdr();
  r.end_time = kT0 - 1;
  EXPECT_EQ(Reason(MapKamailioCdr(r, "kam")), "end_time is before start_time");

  r = GoodCdr();
  r.duration = std::nan("");
  EXPECT_EQ(Reason(MapKamailioCdr(r, "kam")), "duration is not a non-negative number");

  r = GoodCdr();
  r.duration = -3;
  EXPECT_EQ(Reason(MapKamailioCdr(r, "kam")), "duration is not a non-negative number");

  r = GoodCdr();
  r.duration = 64;  // > end - start + 1 s of rounding
  EXPECT_EQ(Reason(MapKamailioCdr(r, "kam")), "duration is longer than end_time - start_time");

  r = GoodCdr();
  r.sip_code = "48";  // truncated
  EXPECT_EQ(Reason(MapKamailioCdr(r, "kam")), "sip_code is not a SIP status code");
}

KamailioAccRow Missed(std::string code, std::string reason) {
  KamailioAccRow r;
  r.id = 7;
  r.method = "INVITE";
  r.callid = "busy-1@parley.test";
  r.sip_code = std::move(code);
  r.sip_reason = std::move(reason);
  r.time = kT0;
  r.parties.src_user = "bob";
  r.parties.src_domain = "parley.test";
  r.parties.dst_ouser = "busy";
  return r;
}

TEST(KamailioMapping, MissedCallIsAFailedCallWithCodeAndReason) {
  const auto& c = Call(MapKamailioMissed(Missed("404", "Not Found"), "kam"));
  EXPECT_EQ(c.status, wire::CallStatus::kFailed);
  EXPECT_EQ(c.cause, "404:Not Found");
  EXPECT_EQ(c.start, kT0);
  EXPECT_EQ(c.end, kT0);
  EXPECT_EQ(c.duration_s, 0);
  EXPECT_EQ(c.orig.uri, "sip:bob@parley.test");
  EXPECT_EQ(c.dest.uri, "sip:busy");  // dst_ouser without a domain
  EXPECT_EQ(Call(MapKamailioMissed(Missed("603", ""), "kam")).cause, "603");
}

TEST(KamailioMapping, MissedRowsThatAreNotCallOutcomesAreIgnoredOrSkipped) {
  EXPECT_TRUE(std::holds_alternative<KamailioIgnore>(MapKamailioMissed(Missed("407", "Proxy Auth"), "kam")));
  EXPECT_TRUE(std::holds_alternative<KamailioIgnore>(MapKamailioMissed(Missed("401", "Unauthorized"), "kam")));
  KamailioAccRow message = Missed("404", "Not Found");
  message.method = "MESSAGE";
  EXPECT_TRUE(std::holds_alternative<KamailioIgnore>(MapKamailioMissed(message, "kam")));
  EXPECT_EQ(Reason(MapKamailioMissed(Missed("200", "OK"), "kam")), "sip_code is not a failure");
  EXPECT_EQ(Reason(MapKamailioMissed(Missed("", ""), "kam")), "sip_code is not a SIP status code");
  EXPECT_EQ(Reason(MapKamailioMissed(Missed("4x6", ""), "kam")), "sip_code is not a SIP status code");
  KamailioAccRow no_time = Missed("486", "Busy Here");
  no_time.time.reset();
  EXPECT_EQ(Reason(MapKamailioMissed(no_time, "kam")), "time missing or malformed");
  KamailioAccRow no_callid = Missed("486", "Busy Here");
  no_callid.callid.clear();
  EXPECT_EQ(Reason(MapKamailioMissed(no_callid, "kam")), "no callid");
}

TEST(KamailioMapping, AccPairSpansInviteToBye) {
  KamailioAccRow invite = Missed("200", "OK");
  invite.parties.dst_user = "answer";
  KamailioAccRow bye = invite;
  bye.method = "BYE";
  bye.time = kT0 + 95;
  bye.parties = {};  // BYE rows have no R-URI user
  const auto& c = Call(MapKamailioAccPair(invite, bye, "kam"));
  EXPECT_EQ(c.status, wire::CallStatus::kCompleted);
  EXPECT_EQ(c.duration_s, 95);
  EXPECT_EQ(c.dest.uri, "sip:answer");
  bye.time = kT0 - 5;
  EXPECT_EQ(Reason(MapKamailioAccPair(invite, bye, "kam")), "BYE is before its INVITE");
}

TEST(KamailioTime, JulianDaysTextAndUnixSeconds) {
  // The value Kamailio 5.6's db_sqlite wrote for 2026-12-04 16:59:16 UTC.
  EXPECT_EQ(KamailioTimeFromJulianDay(2461379.20782986), kT0);
  EXPECT_EQ(KamailioTimeFromJulianDay(Jd(kT0 + 1)), kT0 + 1);
  EXPECT_EQ(KamailioTimeFromJulianDay(12.5), std::nullopt);
  EXPECT_EQ(KamailioTimeFromJulianDay(std::nan("")), std::nullopt);
  EXPECT_EQ(KamailioTimeFromText("2026-12-04 16:59:16"), kT0);
  EXPECT_EQ(KamailioTimeFromText("2026-12-04 16:59:16.250"), kT0);
  EXPECT_EQ(KamailioTimeFromText("2026-12-04T16:59:16Z"), kT0);
  EXPECT_EQ(KamailioTimeFromText("2461379.20782986"), kT0);
  EXPECT_EQ(KamailioTimeFromText("1796403556"), kT0);
  EXPECT_EQ(KamailioTimeFromText("2026-12-04 16:59"), std::nullopt);
  EXPECT_EQ(KamailioTimeFromText("2026-13-04 16:59:16"), std::nullopt);
  EXPECT_EQ(KamailioTimeFromText("yesterday"), std::nullopt);
  EXPECT_EQ(KamailioTimeFromText(""), std::nullopt);
}

TEST(KamailioTime, SipCodes) {
  EXPECT_EQ(ParseSipCode("486"), 486);
  EXPECT_EQ(ParseSipCode("200"), 200);
  EXPECT_EQ(ParseSipCode("48"), std::nullopt);
  EXPECT_EQ(ParseSipCode("4860"), std::nullopt);
  EXPECT_EQ(ParseSipCode("099"), std::nullopt);
  EXPECT_EQ(ParseSipCode("700"), std::nullopt);
  EXPECT_EQ(ParseSipCode("-12"), std::nullopt);
}

TEST(KamailioCursor, RoundTripsAndRefusesGarbage) {
  EXPECT_TRUE(DecodeKamailioCursor("")->empty());
  KamailioCursor c{{"missed_calls", 7}, {"acc_cdrs", 41}};
  std::string encoded = EncodeKamailioCursor(c);
  EXPECT_EQ(encoded, R"({"acc_cdrs":41,"missed_calls":7})");
  EXPECT_EQ(*DecodeKamailioCursor(encoded), c);
  EXPECT_EQ(EncodeKamailioCursor({}), "");
  EXPECT_FALSE(DecodeKamailioCursor("41").ok());
  EXPECT_FALSE(DecodeKamailioCursor("{\"acc\":\"41\"}").ok());
  EXPECT_FALSE(DecodeKamailioCursor("{\"acc\":-1}").ok());
  EXPECT_FALSE(DecodeKamailioCursor("{\"acc\":1.5}").ok());
  EXPECT_FALSE(DecodeKamailioCursor("{\"acc\":").ok());
}

// --------------------------------------------------------- fixture database

class KamailioDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("parley-kamailio-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "kamailio.sqlite").string();
    ASSERT_EQ(sqlite3_open(path_.c_str(), &writer_), SQLITE_OK);
    Exec("PRAGMA synchronous = OFF");  // a fixture: no fsync per INSERT
  }
  void TearDown() override {
    sqlite3_close(writer_);
    fs::remove_all(dir_);
  }

  void Exec(const std::string& sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(writer_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "") << "\n" << sql;
  }
  void CreateSchema(bool extras = true) {
    Exec(kKamailioSchema);
    if (extras) Exec(kExtraColumns);
  }
  static std::string Q(const std::string& s) { return "'" + s + "'"; }
  static std::string J(int64_t t) { return std::to_string(Jd(t)); }

  void Cdr(const std::string& callid, int64_t start, int64_t end, double duration, const std::string& code = "200",
           const std::string& reason = "OK") {
    Exec("INSERT INTO acc_cdrs (start_time, end_time, duration, callid, from_tag, src_user, src_domain, src_ip, "
         "dst_user, dst_domain, sip_code, sip_reason) VALUES (" +
         J(start) + ", " + J(end) + ", " + std::to_string(duration) + ", " + Q(callid) +
         ", 'ft', 'alice', 'parley.test', '127.0.0.1', 'answer', 'parley.test', " + Q(code) + ", " + Q(reason) + ")");
  }
  void AccRow(const std::string& table, const std::string& method, const std::string& callid, const std::string& code,
              const std::string& reason, int64_t t) {
    Exec("INSERT INTO " + table +
         " (method, from_tag, to_tag, callid, sip_code, sip_reason, time, src_user, src_domain, src_ip, dst_ouser, "
         "dst_user, dst_domain) VALUES (" +
         Q(method) + ", 'ft', 'tt', " + Q(callid) + ", " + Q(code) + ", " + Q(reason) + ", " + J(t) +
         ", 'bob', 'parley.test', '127.0.0.1', 'busy', " + (method == "BYE" ? "NULL" : "'busy'") + ", '127.0.0.1')");
  }

  std::string FileBytes() const {
    std::ifstream in(path_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::unique_ptr<KamailioDb> Open() {
    auto db = OpenKamailioSqlite(path_);
    EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.error().detail);
    return db.ok() ? std::move(*db) : nullptr;
  }

  // Pages until caught up; returns every record and the final cursor.
  std::vector<wire::CallRecord> Drain(KamailioDb& db, std::string_view calls_from, KamailioCursor& cursor,
                                      size_t page_size, size_t* skipped = nullptr, int* pages = nullptr) {
    std::vector<wire::CallRecord> out;
    for (int i = 0; i < 100; ++i) {
      auto page = ReadKamailioPage(db, "kam", calls_from, cursor, page_size);
      EXPECT_TRUE(page.ok()) << (page.ok() ? "" : page.error().detail);
      if (!page.ok()) break;
      EXPECT_LE(page->records.size(), page_size);
      for (auto& r : page->records) out.push_back(r);
      if (skipped) *skipped += page->skipped;
      if (pages) ++*pages;
      cursor = page->next;
      if (!page->more) break;
    }
    return out;
  }

  fs::path dir_;
  std::string path_;
  sqlite3* writer_ = nullptr;
};

TEST_F(KamailioDbTest, ReadsCdrsAndMissedCallsOncePerCursor) {
  CreateSchema();
  Cdr("ok-1@t", kT0, kT0 + 3, 3.004);
  Cdr("ok-2@t", kT0 + 1, kT0 + 6, 5.01);
  Cdr("busy-1@t", kT0 + 2, kT0 + 2, 0, "486", "Busy Here");  // cdr_on_failed = 1
  AccRow("missed_calls", "INVITE", "busy-1@t", "486", "Busy Here", kT0 + 2);
  AccRow("missed_calls", "INVITE", "nf-1@t", "404", "Not Found", kT0 + 3);
  std::string before = FileBytes();
  auto db = Open();
  ASSERT_TRUE(db);

  KamailioCursor cursor;
  size_t skipped = 0;
  int pages = 0;
  auto calls = Drain(*db, "acc_cdrs", cursor, 2, &skipped, &pages);
  EXPECT_EQ(FileBytes(), before);  // read-only: not a byte changed
  EXPECT_EQ(skipped, 0u);
  EXPECT_GE(pages, 3);
  std::map<std::string, wire::CallRecord> by_id;
  for (const auto& c : calls) EXPECT_TRUE(by_id.emplace(c.id, c).second || c.id == "busy-1@t") << c.id;
  ASSERT_EQ(by_id.size(), 4u);
  EXPECT_EQ(by_id["ok-1@t"].duration_s, 3);
  EXPECT_EQ(by_id["ok-2@t"].duration_s, 5);
  EXPECT_EQ(by_id["ok-2@t"].start, kT0 + 1);
  EXPECT_EQ(by_id["ok-1@t"].orig.uri, "sip:alice@parley.test");
  EXPECT_EQ(by_id["busy-1@t"].cause, "486:Busy Here");
  EXPECT_EQ(by_id["nf-1@t"].cause, "404:Not Found");
  EXPECT_EQ(by_id["nf-1@t"].status, wire::CallStatus::kFailed);
  EXPECT_EQ(EncodeKamailioCursor(cursor), R"({"acc_cdrs":3,"missed_calls":2})");

  // Caught up: nothing new, the cursor stays.
  auto again = ReadKamailioPage(*db, "kam", "acc_cdrs", cursor, 10);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->records.empty());
  EXPECT_FALSE(again->more);
  EXPECT_EQ(again->next, cursor);

  // New rows after the cursor, and only they, come next.
  Cdr("ok-3@t", kT0 + 10, kT0 + 12, 2);
  auto more = Drain(*db, "acc_cdrs", cursor, 10);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].id, "ok-3@t");
}

TEST_F(KamailioDbTest, NullMalformedAndTruncatedRowsAreSkippedAndTheCursorMovesOn) {
  CreateSchema();
  Cdr("good-1@t", kT0, kT0 + 10, 10);
  // NULL callid (cdr_extra not configured for this row), text garbage times,
  // a truncated sip_code, a duration that is text, end before start.
  Exec("INSERT INTO acc_cdrs (start_time, end_time, duration, callid) VALUES (" + J(kT0) + ", " + J(kT0 + 1) +
       ", 1, NULL)");
  Exec("INSERT INTO acc_cdrs (start_time, end_time, duration, callid) VALUES ('not a time', " + J(kT0) +
       ", 1, 'x-1@t')");
  Exec("INSERT INTO acc_cdrs (start_time, end_time, duration, callid, sip_code) VALUES (" + J(kT0) + ", " +
       J(kT0 + 1) + ", 1, 'x-2@t', '48')");
  Exec("INSERT INTO acc_cdrs (start_time, end_time, duration, callid) VALUES (" + J(kT0) + ", " + J(kT0 + 1) +
       ", 'one', 'x-3@t')");
  Exec("INSERT INTO acc_cdrs (start_time, end_time, duration, callid) VALUES (" + J(kT0 + 5) + ", " + J(kT0) +
       ", 0, 'x-4@t')");
  // The schema default: a CDR whose start was never set.
  Exec("INSERT INTO acc_cdrs (end_time, duration, callid) VALUES (" + J(kT0) + ", 0, 'x-5@t')");
  // Text timestamps (another writer than Kamailio's driver) are accepted.
  Exec("INSERT INTO acc_cdrs (start_time, end_time, duration, callid) VALUES ('2026-12-04 16:59:16', "
       "'2026-12-04 16:59:46', 30.2, 'text-1@t')");
  Cdr("good-2@t", kT0, kT0 + 20, 20);
  Exec("INSERT INTO missed_calls (method, callid, sip_code, sip_reason, time) VALUES ('INVITE', '', '486', 'Busy', " +
       J(kT0) + ")");
  Exec("INSERT INTO missed_calls (method, callid, sip_code, sip_reason, time) VALUES ('INVITE', 'm-1@t', '486', "
       "'', " + J(kT0) + ")");
  Exec("INSERT INTO missed_calls (method, callid, sip_code, sip_reason, time) VALUES ('INVITE', 'm-2@t', '407', "
       "'Proxy Authentication Required', " + J(kT0) + ")");
  Exec("INSERT INTO missed_calls (method, callid, sip_code, sip_reason, time) VALUES ('INVITE', 'm-3@t', '4', "
       "'Bu', " + J(kT0) + ")");

  auto db = Open();
  ASSERT_TRUE(db);
  KamailioCursor cursor;
  size_t skipped = 0;
  auto calls = Drain(*db, "acc_cdrs", cursor, 3, &skipped);
  std::set<std::string> ids;
  for (const auto& c : calls) ids.insert(c.id);
  EXPECT_EQ(ids, (std::set<std::string>{"good-1@t", "good-2@t", "text-1@t", "m-1@t"}));
  EXPECT_EQ(skipped, 8u);  // 6 CDRs + 2 missed rows; the 407 is ignored, not skipped
  EXPECT_EQ(cursor.at("acc_cdrs"), 9);
  EXPECT_EQ(cursor.at("missed_calls"), 4);
  for (const auto& c : calls) {
    if (c.id == "m-1@t") {
      EXPECT_EQ(c.cause, "486");
    }
    if (c.id == "text-1@t") {
      EXPECT_EQ(c.duration_s, 30);
    }
  }
}

TEST_F(KamailioDbTest, SchemaWithoutExtraColumnsFailsClearlyForCdrsButReadsMissedCalls) {
  CreateSchema(/*extras=*/false);
  Exec("INSERT INTO acc_cdrs (start_time, end_time, duration) VALUES (" + J(kT0) + ", " + J(kT0 + 5) + ", 5)");
  Exec("INSERT INTO missed_calls (method, callid, sip_code, sip_reason, time) VALUES ('INVITE', 'm-1@t', '404', "
       "'Not Found', " + J(kT0) + ")");
  auto db = Open();
  ASSERT_TRUE(db);
  auto page = ReadKamailioPage(*db, "kam", "acc_cdrs", {}, 10);
  ASSERT_FALSE(page.ok());
  EXPECT_NE(page.error().detail.find("acc_cdrs has no column callid"), std::string::npos) << page.error().detail;

  // calls_from = acc: the base acc tables need no extra columns.
  KamailioCursor cursor;
  auto calls = Drain(*db, "acc", cursor, 10);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].cause, "404:Not Found");
  EXPECT_EQ(calls[0].orig.uri, "");
}

TEST_F(KamailioDbTest, AccModePairsByeWithItsAnsweredInvite) {
  CreateSchema();
  AccRow("acc", "INVITE", "ok-1@t", "200", "OK", kT0);
  AccRow("acc", "INVITE", "ok-2@t", "200", "OK", kT0 + 1);
  AccRow("acc", "INVITE", "busy-1@t", "486", "Busy Here", kT0 + 1);  // failed_transaction_flag
  AccRow("missed_calls", "INVITE", "busy-1@t", "486", "Busy Here", kT0 + 1);
  AccRow("acc", "BYE", "ok-1@t", "200", "OK", kT0 + 4);
  AccRow("acc", "BYE", "orphan@t", "200", "OK", kT0 + 5);  // its INVITE was lost ("database is locked")
  // ok-2 has not hung up yet: nothing for it.
  auto db = Open();
  ASSERT_TRUE(db);
  KamailioCursor cursor;
  size_t skipped = 0;
  auto calls = Drain(*db, "acc", cursor, 2, &skipped);
  std::map<std::string, wire::CallRecord> by_id;
  for (const auto& c : calls) by_id.emplace(c.id, c);
  EXPECT_EQ(by_id.size(), 2u);
  EXPECT_EQ(by_id["ok-1@t"].duration_s, 4);
  EXPECT_EQ(by_id["ok-1@t"].status, wire::CallStatus::kCompleted);
  EXPECT_EQ(by_id["ok-1@t"].dest.uri, "sip:busy@127.0.0.1");  // from the INVITE row
  EXPECT_EQ(by_id["busy-1@t"].cause, "486:Busy Here");
  EXPECT_EQ(skipped, 1u);  // the orphan BYE
  EXPECT_EQ(cursor.at("acc"), 5);

  // ok-2 hangs up later: it arrives then, from the INVITE below the cursor.
  AccRow("acc", "BYE", "ok-2@t", "200", "OK", kT0 + 31);
  auto later = Drain(*db, "acc", cursor, 2);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].id, "ok-2@t");
  EXPECT_EQ(later[0].duration_s, 30);
}

TEST_F(KamailioDbTest, IdsGoingBackwardsRestartTheTableFromTheBeginning) {
  CreateSchema();
  Cdr("ok-1@t", kT0, kT0 + 3, 3);
  Cdr("ok-2@t", kT0, kT0 + 3, 3);
  auto db = Open();
  ASSERT_TRUE(db);
  KamailioCursor cursor;
  ASSERT_EQ(Drain(*db, "acc_cdrs", cursor, 10).size(), 2u);
  ASSERT_EQ(cursor.at("acc_cdrs"), 2);
  // A cleanup deletes every row: SQLite (no AUTOINCREMENT) reuses id 1.
  Exec("DELETE FROM acc_cdrs");
  auto page = ReadKamailioPage(*db, "kam", "acc_cdrs", cursor, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->next.at("acc_cdrs"), 0);
  EXPECT_TRUE(page->more);
  cursor = page->next;
  Cdr("ok-3@t", kT0 + 60, kT0 + 63, 3);
  auto calls = Drain(*db, "acc_cdrs", cursor, 10);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].id, "ok-3@t");
  EXPECT_EQ(cursor.at("acc_cdrs"), 1);
}

TEST_F(KamailioDbTest, FailedBranchOfAnAnsweredCallIsNotAFailedCall) {
  CreateSchema();
  // Serial forking: branch 1 busy (missed_calls), branch 2 answered (acc).
  AccRow("missed_calls", "INVITE", "fork-1@t", "486", "Busy Here", kT0);
  AccRow("acc", "INVITE", "fork-1@t", "200", "OK", kT0 + 3);
  Cdr("fork-1@t", kT0 + 3, kT0 + 9, 6);
  auto db = Open();
  ASSERT_TRUE(db);
  KamailioCursor cursor;
  auto calls = Drain(*db, "acc_cdrs", cursor, 10);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].status, wire::CallStatus::kCompleted);
  EXPECT_EQ(calls[0].duration_s, 6);
}

TEST_F(KamailioDbTest, ReadsWhileKamailioHoldsAWriteTransactionAndNeverWrites) {
  CreateSchema();
  Exec("PRAGMA journal_mode=WAL");
  Cdr("ok-1@t", kT0, kT0 + 3, 3);
  auto db = Open();
  ASSERT_TRUE(db);
  // Kamailio mid-insert: the reader sees the committed snapshot, no error.
  Exec("BEGIN IMMEDIATE");
  Cdr("ok-2@t", kT0, kT0 + 4, 4);
  KamailioCursor cursor;
  auto calls = Drain(*db, "acc_cdrs", cursor, 10);
  ASSERT_EQ(calls.size(), 1u);
  Exec("COMMIT");
  // The reader holds no lock between pages: the writer commits freely, and
  // the committed row comes next.
  Exec("BEGIN IMMEDIATE; COMMIT;");
  calls = Drain(*db, "acc_cdrs", cursor, 10);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].id, "ok-2@t");

}

TEST_F(KamailioDbTest, MissingDatabaseIsAnErrorNotACreatedFile) {
  auto db = OpenKamailioSqlite((dir_ / "absent.sqlite").string());
  EXPECT_FALSE(db.ok());
  EXPECT_FALSE(fs::exists(dir_ / "absent.sqlite"));
}

TEST_F(KamailioDbTest, CollectorReportsHealthAndOpensTheDatabaseOnceItExists) {
  SourceConfig source;
  source.name = "kam";
  source.type = "kamailio";
  source.db_path = dir_ / "later.sqlite";
  auto collector = KamailioCollector::Create(source);
  ASSERT_TRUE(collector.ok());
  auto page = (*collector)->FetchAfter("", 10);
  EXPECT_FALSE(page.ok());
  EXPECT_EQ((*collector)->health().status, SourceStatus::kFailing);
  EXPECT_FALSE(fs::exists(source.db_path));

  source.db_path = path_;
  collector = KamailioCollector::Create(source);
  ASSERT_TRUE(collector.ok());
  CreateSchema();
  Cdr("ok-1@t", kT0, kT0 + 3, 3);
  Exec("INSERT INTO acc_cdrs (start_time, end_time, duration, callid) VALUES ('', '', 0, 'bad@t')");
  page = (*collector)->FetchAfter("", 10);
  ASSERT_TRUE(page.ok()) << page.error().detail;
  EXPECT_EQ(page->records.size(), 1u);
  EXPECT_EQ(page->skipped, 1u);
  EXPECT_EQ(page->next_cursor, R"({"acc_cdrs":2})");
  EXPECT_FALSE(page->more);
  EXPECT_EQ((*collector)->health().status, SourceStatus::kDegraded);
  EXPECT_EQ(std::get<wire::CallRecord>(page->records[0]).source, "kam");

  EXPECT_FALSE((*collector)->FetchAfter("not json", 10).ok());
  EXPECT_EQ((*collector)->health().status, SourceStatus::kFailing);
}

// ------------------------------------------------------------------ config

class KamailioConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("parley-kamailio-config-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    std::ofstream(dir_ / "pg.password") << "pw\n";
    ::chmod((dir_ / "pg.password").c_str(), 0600);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<AgentConfig> Parse(const std::string& source) {
    return AgentConfig::Parse("[server]\nurl = \"https://127.0.0.1:8444\"\n\n[[sources]]\nname = \"kam\"\n"
                              "type = \"kamailio\"\n" + source,
                              dir_);
  }
  std::string Error(const std::string& source) {
    auto c = Parse(source);
    return c.ok() ? "(ok)" : c.error().detail;
  }

  fs::path dir_;
};

TEST_F(KamailioConfigTest, SqliteAndPostgresSources) {
  auto c = Parse("db_path = \"/var/lib/kamailio/kamailio.sqlite\"\n");
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c->sources[0].db_path, "/var/lib/kamailio/kamailio.sqlite");
  EXPECT_EQ(c->sources[0].calls_from, "acc_cdrs");

  c = Parse("db_url = \"postgresql://kamailioro@db.example:5432/kamailio\"\npassword_file = \"pg.password\"\n"
            "db_timezone = \"Europe/Berlin\"\ncalls_from = \"acc\"\n");
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c->sources[0].db_url, "postgresql://kamailioro@db.example:5432/kamailio");
  EXPECT_EQ(c->sources[0].password_file, dir_ / "pg.password");
  EXPECT_EQ(c->sources[0].db_timezone, "Europe/Berlin");
  EXPECT_EQ(c->sources[0].calls_from, "acc");
}

TEST_F(KamailioConfigTest, RefusesWhatDoesNotFit) {
  EXPECT_EQ(Error(""), "sources[0].db_path: set exactly one of db_path (SQLite) and db_url (PostgreSQL)");
  EXPECT_EQ(Error("db_path = \"k.sqlite\"\ndb_url = \"postgresql://u@h/k\"\n"),
            "sources[0].db_path: set exactly one of db_path (SQLite) and db_url (PostgreSQL)");
  EXPECT_EQ(Error("db_path = \"k.sqlite\"\nurl = \"https://x\"\n"), "sources[0].url: not used by kamailio sources");
  EXPECT_EQ(Error("db_path = \"k.sqlite\"\npassword_file = \"pg.password\"\n"),
            "sources[0].password_file: only used with db_url");
  EXPECT_EQ(Error("db_url = \"postgresql://u:secret@h/k\"\n"),
            "sources[0].db_url: must not contain a password (use password_file)");
  EXPECT_EQ(Error("db_url = \"postgresql://u@h/k?password=secret\"\n"),
            "sources[0].db_url: must not contain a password (use password_file)");
  EXPECT_EQ(Error("db_url = \"mysql://u@h/k\"\n"), "sources[0].db_url: must be postgresql://user@host[:port]/dbname");
  EXPECT_EQ(Error("db_path = \"k.sqlite\"\ncalls_from = \"cdrs\"\n"), "sources[0].calls_from: must be acc_cdrs or acc");
  EXPECT_EQ(Error("db_url = \"postgresql://u@h/k\"\ndb_timezone = \"UTC'; DROP\"\n"),
            "sources[0].db_timezone: must be a time zone name such as UTC or Europe/Berlin");
  ::chmod((dir_ / "pg.password").c_str(), 0644);
  EXPECT_NE(Error("db_url = \"postgresql://u@h/k\"\npassword_file = \"pg.password\"\n").find("mode 0600"),
            std::string::npos);
}

}  // namespace
}  // namespace parley::agent
