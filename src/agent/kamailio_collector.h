// KamailioCollector: call records from Kamailio's accounting tables, read
// read-only from Kamailio's own database (SQLite file or PostgreSQL).
// docs/agent.md "The kamailio source" is the operator's reference: the
// kamailio.cfg modparams it needs, the mapping and the cursor.
//
// Tables (Kamailio 5.x schema, acc-create.sql; extra columns come from
// kamailio.cfg's db_extra / cdr_extra and are optional, found by name):
//   acc_cdrs      dialog CDRs: start_time, end_time, duration (+ callid,
//                 from_tag, sip_code, sip_reason, src_/dst_ columns)
//   missed_calls  failed INVITE transactions: callid, sip_code, sip_reason, time
//   acc           completed transactions (INVITE 2xx, BYE, ...): callid, time
// calls_from = "acc_cdrs" takes completed calls from acc_cdrs; "acc" pairs a
// BYE row with its answered INVITE. Failed calls come from missed_calls (and
// from acc_cdrs rows whose sip_code extra column is >= 300, or failed INVITE
// rows in acc with calls_from = "acc").
//
// Cursor = JSON object of per-table high-water marks, the largest row `id`
// already shipped, e.g. {"acc_cdrs":41,"missed_calls":7}. The tables only
// ever get new rows (ids grow; rows are never updated), so "id > mark" is
// exactly what is new. "" means from the beginning.
//
// The row structs and Map* functions are pure and exposed for tests; the
// database readers (OpenKamailioSqlite, OpenKamailioPostgres) turn a table
// into rows. KamailioCollector follows the Collector threading contract.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "agent/collector.h"
#include "agent/source_health.h"

namespace parley::agent {

// The caller/callee columns an operator may add with db_extra / cdr_extra
// (the names of Kamailio's sample kamailio.cfg). Absent columns and NULLs
// read as "".
struct KamailioParties {
  std::string src_user, src_domain, src_ip;
  std::string dst_user, dst_ouser, dst_domain, dst_ip;
};

// A row of acc or missed_calls. `time` is Unix seconds; nullopt when NULL or
// not a readable timestamp.
struct KamailioAccRow {
  int64_t id = 0;
  std::string method, from_tag, to_tag, callid, sip_code, sip_reason;
  std::optional<int64_t> time;
  KamailioParties parties;
};

// A row of acc_cdrs. duration is seconds (REAL in Kamailio's schema).
struct KamailioCdrRow {
  int64_t id = 0;
  std::optional<int64_t> start_time, end_time;
  std::optional<double> duration;
  std::string callid, from_tag, sip_code, sip_reason;
  KamailioParties parties;
};

// What one row turns into: a call, nothing (a row that is not a call
// outcome, e.g. the INVITE half of a pair or a 407 challenge), or a skip with
// a PII-free reason (the row is malformed; the source becomes degraded).
struct KamailioIgnore {};
using KamailioMapped = std::variant<wire::CallRecord, KamailioIgnore, std::string>;

// acc_cdrs row -> call. Completed unless sip_code is a failure (>= 300).
KamailioMapped MapKamailioCdr(const KamailioCdrRow& row, const std::string& source);
// missed_calls row (or a failed INVITE row of acc) -> failed call.
KamailioMapped MapKamailioMissed(const KamailioAccRow& row, const std::string& source);
// BYE row of acc + the answered INVITE row of the same Call-ID -> completed call.
KamailioMapped MapKamailioAccPair(const KamailioAccRow& invite, const KamailioAccRow& bye, const std::string& source);

// A database timestamp -> Unix seconds: a Julian day number (Kamailio's
// SQLite driver), "YYYY-MM-DD HH:MM:SS[.fff]" read as UTC, or Unix seconds.
std::optional<int64_t> KamailioTimeFromJulianDay(double julian_day);
std::optional<int64_t> KamailioTimeFromText(std::string_view text);

// "486" + "Busy Here" -> 486; nullopt unless three digits 100..699.
std::optional<int> ParseSipCode(std::string_view code);

// The per-table high-water marks.
using KamailioCursor = std::map<std::string, int64_t, std::less<>>;
// "" -> {}; kInvalidArgument unless a JSON object of non-negative integers.
Result<KamailioCursor> DecodeKamailioCursor(std::string_view cursor);
std::string EncodeKamailioCursor(const KamailioCursor& cursor);

// Read-only access to Kamailio's accounting tables. Every Read* happens inside
// Begin()/End() (one short read transaction: a consistent snapshot, no lock
// held between polls). Not thread-safe; the collector serializes use.
class KamailioDb {
 public:
  virtual ~KamailioDb() = default;
  virtual Status Begin() = 0;
  virtual void End() = 0;
  // Does `table` exist?
  virtual Result<bool> HasTable(std::string_view table) = 0;
  // Rows with id > after_id, by id, at most `limit`. table: acc | missed_calls.
  virtual Result<std::vector<KamailioAccRow>> ReadAcc(std::string_view table, int64_t after_id, size_t limit) = 0;
  virtual Result<std::vector<KamailioCdrRow>> ReadCdrs(int64_t after_id, size_t limit) = 0;
  // The largest id in `table`; 0 when it is empty.
  virtual Result<int64_t> MaxId(std::string_view table) = 0;
  // The first INVITE row of acc with a 2xx sip_code for `callid`, if any.
  virtual Result<std::optional<KamailioAccRow>> FindAnsweredInvite(const std::string& callid) = 0;
};

// Opens Kamailio's SQLite file with SQLITE_OPEN_READONLY (and query_only):
// the agent never writes it.
Result<std::unique_ptr<KamailioDb>> OpenKamailioSqlite(const std::string& path);
// Connects with libpq; every read runs in a READ ONLY transaction whose
// TimeZone is `timezone` (Kamailio writes its local time into "timestamp
// without time zone" columns). `password` may be empty (then libpq's own
// means apply: .pgpass, peer, trust).
Result<std::unique_ptr<KamailioDb>> OpenKamailioPostgres(const std::string& url, const std::string& password,
                                                         const std::string& timezone);

struct KamailioPage {
  std::vector<wire::CallRecord> records;
  size_t skipped = 0;
  KamailioCursor next;
  bool more = false;  // some table returned a full read
};

// One page from an open database: reads the tables after `cursor`
// (missed_calls first, then acc_cdrs or acc), at most `max_rows` rows in all.
// A call id seen twice in the page is kept once (the first). A table whose
// largest id is below its mark was emptied or re-created (SQLite reuses ids
// once the newest rows are deleted): its mark goes back to 0, with a warning.
Result<KamailioPage> ReadKamailioPage(KamailioDb& db, const std::string& source, std::string_view calls_from,
                                      const KamailioCursor& cursor, size_t max_rows);

class KamailioCollector final : public Collector {
 public:
  static Result<std::unique_ptr<KamailioCollector>> Create(const SourceConfig& source);

  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "kamailio"; }
  Result<CollectedPage> FetchAfter(const std::string& cursor, size_t max_records) override;
  SourceHealth health() const override;

 private:
  KamailioCollector(const SourceConfig& source, std::string password);
  Result<KamailioDb*> Db();

  const std::string name_;
  const std::string db_path_;
  const std::string db_url_;
  const std::string password_;  // PostgreSQL only; never logged
  const std::string calls_from_;
  const std::string db_timezone_;
  std::unique_ptr<KamailioDb> db_;  // opened lazily, dropped after an error; FetchAfter's thread only
  HealthTracker health_;
};

}  // namespace parley::agent
