#include "agent/kamailio_collector.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "common/clock.h"
#include "common/files.h"
#include "common/log.h"
#include "common/time_format.h"

namespace parley::agent {

namespace json = boost::json;

namespace {

constexpr size_t kMaxCallIdLength = 200;  // the wire's id limit
constexpr size_t kMaxReasonLength = 128;  // Kamailio's sip_reason column
// Kamailio's column default ('2000-01-01 00:00:00') means "never set".
constexpr int64_t kEarliestTime = 946684800 + 1;
constexpr int64_t kLatestTime = 253402300799;  // 9999-12-31T23:59:59Z

// Julian day numbers of 0000-01-01 and 9999-12-31 (SQLite's julianday range).
constexpr double kMinJulianDay = 1721059.5;
constexpr double kMaxJulianDay = 5373484.5;

// The optional extra columns (db_extra / cdr_extra) the collector reads, by name.
constexpr std::string_view kPartyColumns[] = {"src_user", "src_domain", "src_ip",    "dst_user",
                                              "dst_ouser", "dst_domain", "dst_ip"};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool EqualsNoCase(std::string_view a, std::string_view b) { return Lower(a) == Lower(b); }

bool IsPhoneNumber(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.size() > 32) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

wire::Party MapParty(const std::string& user, const std::string& domain, const std::string& ip) {
  wire::Party p;
  if (!user.empty()) {
    p.uri = "sip:" + user + (domain.empty() ? "" : "@" + domain);
  } else if (!domain.empty()) {
    p.uri = "sip:" + domain;
  }
  if (IsPhoneNumber(user)) p.number = user;
  p.ip = ip;
  return p;
}

void MapParties(const KamailioParties& parties, wire::CallRecord& r) {
  r.orig = MapParty(parties.src_user, parties.src_domain, parties.src_ip);
  // dst_user is the request URI's user ($rU), dst_ouser the original To user ($tU).
  r.dest = MapParty(parties.dst_user.empty() ? parties.dst_ouser : parties.dst_user, parties.dst_domain,
                    parties.dst_ip);
}

std::optional<std::string> CheckCallId(const std::string& callid, std::string_view where) {
  if (callid.empty()) return "no callid" + std::string(where);
  if (callid.size() > kMaxCallIdLength) return std::string("callid longer than 200 bytes");
  return std::nullopt;
}

std::string Cause(int code, std::string_view reason) {
  std::string out = std::to_string(code);
  if (!reason.empty()) out += ":" + std::string(reason.substr(0, kMaxReasonLength));
  return out;
}

wire::CallRecord NewCall(const std::string& source, const std::string& callid) {
  wire::CallRecord r;
  r.source = source;
  r.id = callid;
  r.protocol = "SIP";
  return r;
}

bool ValidTime(const std::optional<int64_t>& t) { return t && *t >= kEarliestTime && *t <= kLatestTime; }

}  // namespace

// ------------------------------------------------------------------ mapping

std::optional<int> ParseSipCode(std::string_view code) {
  if (code.size() != 3) return std::nullopt;
  int v = 0;
  auto [end, ec] = std::from_chars(code.data(), code.data() + code.size(), v);
  if (ec != std::errc() || end != code.data() + code.size() || v < 100 || v > 699) return std::nullopt;
  return v;
}

std::optional<int64_t> KamailioTimeFromJulianDay(double jd) {
  if (!std::isfinite(jd) || jd < kMinJulianDay || jd > kMaxJulianDay) return std::nullopt;
  return static_cast<int64_t>(std::llround((jd - 2440587.5) * 86400.0));
}

std::optional<int64_t> KamailioTimeFromText(std::string_view text) {
  // "YYYY-MM-DD HH:MM:SS[.fff]" (SQL) or RFC 3339; no zone means UTC.
  if (text.size() >= 19 && text[4] == '-' && text[10] == ' ') {
    std::string rfc(text);
    rfc[10] = 'T';
    char last = rfc.back();
    if (last != 'Z' && rfc.find_first_of("+-", 19) == std::string::npos) rfc += 'Z';
    return ParseRfc3339(rfc);
  }
  if (text.size() >= 19 && text[4] == '-' && text[10] == 'T') return ParseRfc3339(text);
  // A number: a Julian day (what Kamailio's SQLite driver stores) or Unix seconds.
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  if (auto t = KamailioTimeFromJulianDay(v)) return t;
  if (v > kMaxJulianDay && v <= static_cast<double>(kLatestTime)) return static_cast<int64_t>(v);
  return std::nullopt;
}

KamailioMapped MapKamailioCdr(const KamailioCdrRow& row, const std::string& source) {
  if (auto bad = CheckCallId(row.callid, " (add callid=$dlg(callid) to cdr_extra)")) return *bad;
  if (!ValidTime(row.start_time)) return std::string("start_time missing or malformed");
  if (!ValidTime(row.end_time)) return std::string("end_time missing or malformed");
  if (*row.end_time < *row.start_time) return std::string("end_time is before start_time");
  int64_t span = *row.end_time - *row.start_time;
  int64_t duration = span;
  if (row.duration) {
    double d = *row.duration;
    if (!std::isfinite(d) || d < 0 || d > 1e9) return std::string("duration is not a non-negative number");
    duration = static_cast<int64_t>(std::llround(d));
    // end/start are whole seconds, duration is exact: allow one second of rounding.
    if (duration > span + 1) return std::string("duration is longer than end_time - start_time");
  }
  wire::CallRecord r = NewCall(source, row.callid);
  r.start = *row.start_time;
  r.end = *row.end_time;
  r.duration_s = duration;
  r.status = wire::CallStatus::kCompleted;
  if (!row.sip_code.empty()) {
    auto code = ParseSipCode(row.sip_code);
    if (!code) return std::string("sip_code is not a SIP status code");
    if (*code >= 300) {
      r.status = wire::CallStatus::kFailed;
      r.cause = Cause(*code, row.sip_reason);
    }
  }
  MapParties(row.parties, r);
  return r;
}

KamailioMapped MapKamailioMissed(const KamailioAccRow& row, const std::string& source) {
  if (!row.method.empty() && !EqualsNoCase(row.method, "INVITE")) return KamailioIgnore{};
  if (auto bad = CheckCallId(row.callid, "")) return *bad;
  if (!ValidTime(row.time)) return std::string("time missing or malformed");
  auto code = ParseSipCode(row.sip_code);
  if (!code) return std::string("sip_code is not a SIP status code");
  if (*code < 300) return std::string("sip_code is not a failure");
  // 401/407 challenge the caller, who retries with credentials under the
  // same Call-ID: not the call's outcome.
  if (*code == 401 || *code == 407) return KamailioIgnore{};
  wire::CallRecord r = NewCall(source, row.callid);
  r.start = *row.time;
  r.end = *row.time;
  r.duration_s = 0;
  r.status = wire::CallStatus::kFailed;
  r.cause = Cause(*code, row.sip_reason);
  MapParties(row.parties, r);
  return r;
}

KamailioMapped MapKamailioAccPair(const KamailioAccRow& invite, const KamailioAccRow& bye,
                                  const std::string& source) {
  if (auto bad = CheckCallId(bye.callid, "")) return *bad;
  if (!ValidTime(invite.time)) return std::string("INVITE time missing or malformed");
  if (!ValidTime(bye.time)) return std::string("BYE time missing or malformed");
  if (*bye.time < *invite.time) return std::string("BYE is before its INVITE");
  wire::CallRecord r = NewCall(source, bye.callid);
  r.start = *invite.time;
  r.end = *bye.time;
  r.duration_s = r.end - r.start;
  r.status = wire::CallStatus::kCompleted;
  MapParties(invite.parties, r);  // BYE rows lack the request-URI user and may run callee -> caller
  return r;
}

// ------------------------------------------------------------------- cursor

Result<KamailioCursor> DecodeKamailioCursor(std::string_view cursor) {
  KamailioCursor out;
  if (cursor.empty()) return out;
  json::error_code ec;
  json::value v = json::parse(json::string_view(cursor.data(), cursor.size()), ec);
  const json::object* obj = ec ? nullptr : v.if_object();
  if (!obj) return InvalidArgument("kamailio cursor is not a JSON object");
  for (const auto& [key, value] : *obj) {
    int64_t mark = 0;
    if (value.is_int64()) {
      mark = value.get_int64();
    } else if (value.is_uint64() && value.get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
      mark = static_cast<int64_t>(value.get_uint64());
    } else {
      return InvalidArgument("kamailio cursor: value of \"" + std::string(key) + "\" is not an integer");
    }
    if (mark < 0) return InvalidArgument("kamailio cursor: negative mark");
    out[std::string(key)] = mark;
  }
  return out;
}

std::string EncodeKamailioCursor(const KamailioCursor& cursor) {
  if (cursor.empty()) return {};
  json::object obj;
  for (const auto& [table, mark] : cursor) obj[table] = mark;  // std::map: sorted, stable encoding
  return json::serialize(obj);
}

// --------------------------------------------------------------- the page

namespace {

int64_t MarkOf(const KamailioCursor& cursor, std::string_view table) {
  auto it = cursor.find(table);
  return it == cursor.end() ? 0 : it->second;
}

}  // namespace

Result<KamailioPage> ReadKamailioPage(KamailioDb& db, const std::string& source, std::string_view calls_from,
                                      const KamailioCursor& cursor, size_t max_rows) {
  KamailioPage page;
  page.next = cursor;
  std::set<std::string, std::less<>> ids;
  size_t budget = max_rows;

  // Nothing after the mark: make sure the ids did not go backwards.
  auto check_reset = [&](std::string_view table, size_t rows_read) -> Status {
    int64_t mark = MarkOf(cursor, table);
    if (rows_read > 0 || mark == 0) return Ok();
    PARLEY_ASSIGN_OR_RETURN(int64_t max_id, db.MaxId(table));
    if (max_id >= mark) return Ok();
    log::warn("{}: {} ids went back from {} to {} (rows deleted or table re-created): reading it from the start",
              source, table, mark, max_id);
    page.next[std::string(table)] = 0;
    page.more = true;
    return Ok();
  };

  auto take = [&](KamailioMapped mapped, std::string_view table, int64_t row_id) {
    if (auto* call = std::get_if<wire::CallRecord>(&mapped)) {
      if (ids.insert(call->id).second) page.records.push_back(std::move(*call));
    } else if (auto* reason = std::get_if<std::string>(&mapped)) {
      // Row ids only: a Call-ID may carry a caller's address.
      log::warn("{}: skipped {} row {}: {}", source, table, row_id, *reason);
      ++page.skipped;
    }
  };

  PARLEY_TRY(db.Begin());
  auto result = [&]() -> Status {
    PARLEY_ASSIGN_OR_RETURN(bool has_acc, db.HasTable("acc"));
    PARLEY_ASSIGN_OR_RETURN(bool has_missed, db.HasTable("missed_calls"));

    // An answered INVITE for this Call-ID means another branch took the call
    // (serial forking): the failed branch is not the call's outcome.
    auto answered_elsewhere = [&](const KamailioMapped& m, const std::string& callid) -> Result<bool> {
      if (!has_acc || !std::holds_alternative<wire::CallRecord>(m)) return false;
      PARLEY_ASSIGN_OR_RETURN(auto invite, db.FindAnsweredInvite(callid));
      return invite.has_value();
    };

    if (has_missed) {
      PARLEY_ASSIGN_OR_RETURN(auto rows, db.ReadAcc("missed_calls", MarkOf(cursor, "missed_calls"), budget));
      for (const KamailioAccRow& row : rows) {
        KamailioMapped m = MapKamailioMissed(row, source);
        PARLEY_ASSIGN_OR_RETURN(bool answered, answered_elsewhere(m, row.callid));
        take(answered ? KamailioMapped(KamailioIgnore{}) : std::move(m), "missed_calls", row.id);
        page.next["missed_calls"] = row.id;
      }
      PARLEY_TRY(check_reset("missed_calls", rows.size()));
      if (rows.size() >= budget) page.more = true;
      budget -= std::min(budget, rows.size());
    }
    if (budget == 0) {
      page.more = true;
      return Ok();
    }

    if (calls_from == "acc") {
      if (!has_acc) return FailedPrecondition("table acc not found (create it with Kamailio's acc-create.sql)");
      PARLEY_ASSIGN_OR_RETURN(auto rows, db.ReadAcc("acc", MarkOf(cursor, "acc"), budget));
      for (const KamailioAccRow& row : rows) {
        if (EqualsNoCase(row.method, "BYE")) {
          auto code = ParseSipCode(row.sip_code);
          if (code && *code < 300) {
            if (auto bad = CheckCallId(row.callid, "")) {
              take(*bad, "acc", row.id);
            } else {
              PARLEY_ASSIGN_OR_RETURN(auto invite, db.FindAnsweredInvite(row.callid));
              take(invite ? MapKamailioAccPair(*invite, row, source)
                          : KamailioMapped(std::string("BYE without an answered INVITE in acc")),
                   "acc", row.id);
            }
          }
        } else if (EqualsNoCase(row.method, "INVITE")) {
          // Answered INVITEs wait for their BYE; failed ones are failed calls.
          auto code = ParseSipCode(row.sip_code);
          if (!code || *code >= 300) {
            KamailioMapped m = MapKamailioMissed(row, source);
            PARLEY_ASSIGN_OR_RETURN(bool answered, answered_elsewhere(m, row.callid));
            take(answered ? KamailioMapped(KamailioIgnore{}) : std::move(m), "acc", row.id);
          }
        }
        page.next["acc"] = row.id;
      }
      PARLEY_TRY(check_reset("acc", rows.size()));
      if (rows.size() >= budget) page.more = true;
    } else {
      PARLEY_ASSIGN_OR_RETURN(bool has_cdrs, db.HasTable("acc_cdrs"));
      if (!has_cdrs) return FailedPrecondition("table acc_cdrs not found (create it with Kamailio's acc-create.sql)");
      PARLEY_ASSIGN_OR_RETURN(auto rows, db.ReadCdrs(MarkOf(cursor, "acc_cdrs"), budget));
      for (const KamailioCdrRow& row : rows) {
        take(MapKamailioCdr(row, source), "acc_cdrs", row.id);
        page.next["acc_cdrs"] = row.id;
      }
      PARLEY_TRY(check_reset("acc_cdrs", rows.size()));
      if (rows.size() >= budget) page.more = true;
    }
    return Ok();
  }();
  db.End();
  if (!result.ok()) return result.error();
  return page;
}

// ----------------------------------------------------------------- SQLite

namespace {

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// The select list for `wanted` columns: the column where the table has it,
// NULL where it does not (extra columns are optional).
std::string SelectList(const std::set<std::string>& have, std::initializer_list<std::string_view> wanted) {
  std::string out;
  for (std::string_view w : wanted) {
    if (!out.empty()) out += ", ";
    out += have.count(std::string(w)) ? QuoteIdent(w) : "NULL";
  }
  return out;
}

class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, const std::string& sql) { rc_ = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr); }
  ~SqliteStatement() { sqlite3_finalize(stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() const { return stmt_; }

  std::string Text(int i) const {
    if (sqlite3_column_type(stmt_, i) == SQLITE_NULL) return {};
    const unsigned char* p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
             : std::string();
  }

  std::optional<int64_t> Time(int i) const {
    switch (sqlite3_column_type(stmt_, i)) {
      case SQLITE_FLOAT:
      case SQLITE_INTEGER: {
        double v = sqlite3_column_double(stmt_, i);
        if (auto t = KamailioTimeFromJulianDay(v)) return t;
        if (v > kMaxJulianDay && v <= static_cast<double>(kLatestTime)) return static_cast<int64_t>(v);
        return std::nullopt;
      }
      case SQLITE_TEXT: return KamailioTimeFromText(Text(i));
      default: return std::nullopt;
    }
  }

  // nullopt for NULL; NaN for a value that is not a number.
  std::optional<double> Real(int i) const {
    switch (sqlite3_column_type(stmt_, i)) {
      case SQLITE_NULL: return std::nullopt;
      case SQLITE_FLOAT:
      case SQLITE_INTEGER: return sqlite3_column_double(stmt_, i);
      default: {
        std::string s = Text(i);
        double v = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nan("");
        return v;
      }
    }
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

Error SqliteError(sqlite3* db, std::string_view what) {
  int code = sqlite3_errcode(db);
  std::string detail = "kamailio database: " + std::string(what) + ": " + sqlite3_errmsg(db);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) detail += " (retrying next poll)";
  return Unavailable(detail);
}

void ReadParties(const SqliteStatement& s, int first, KamailioParties& p) {
  std::string* fields[] = {&p.src_user, &p.src_domain, &p.src_ip, &p.dst_user, &p.dst_ouser, &p.dst_domain, &p.dst_ip};
  for (int i = 0; i < 7; ++i) *fields[i] = s.Text(first + i);
}

std::string PartyList(const std::set<std::string>& have) {
  std::string out;
  for (std::string_view c : kPartyColumns) out += ", " + (have.count(std::string(c)) ? QuoteIdent(c) : std::string("NULL"));
  return out;
}

class SqliteDb final : public KamailioDb {
 public:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  ~SqliteDb() override { sqlite3_close_v2(db_); }

  Status Begin() override {
    columns_.clear();
    if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) return SqliteError(db_, "BEGIN");
    return Ok();
  }

  void End() override {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

  Result<bool> HasTable(std::string_view table) override {
    PARLEY_ASSIGN_OR_RETURN(const std::set<std::string>* cols, Columns(table));
    return !cols->empty();
  }

  Result<std::vector<KamailioAccRow>> ReadAcc(std::string_view table, int64_t after_id, size_t limit) override {
    PARLEY_ASSIGN_OR_RETURN(const std::set<std::string>* have, Columns(table));
    PARLEY_TRY(Require(table, *have, {"id", "callid", "sip_code", "time"}));
    std::string sql = "SELECT \"id\", " +
                      SelectList(*have, {"method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time"}) +
                      PartyList(*have) + " FROM " + QuoteIdent(table) + " WHERE \"id\" > ?1 ORDER BY \"id\" LIMIT ?2";
    SqliteStatement s(db_, sql);
    if (!s.ok()) return SqliteError(db_, "reading " + std::string(table));
    sqlite3_bind_int64(s.get(), 1, after_id);
    sqlite3_bind_int64(s.get(), 2, static_cast<sqlite3_int64>(limit));
    std::vector<KamailioAccRow> rows;
    PARLEY_TRY(Step(s, table, [&] { rows.push_back(AccRow(s)); }));
    return rows;
  }

  Result<std::vector<KamailioCdrRow>> ReadCdrs(int64_t after_id, size_t limit) override {
    PARLEY_ASSIGN_OR_RETURN(const std::set<std::string>* have, Columns("acc_cdrs"));
    PARLEY_TRY(Require("acc_cdrs", *have, {"id", "start_time", "end_time", "callid"}));
    std::string sql =
        "SELECT \"id\", " +
        SelectList(*have, {"start_time", "end_time", "duration", "callid", "from_tag", "sip_code", "sip_reason"}) +
        PartyList(*have) + " FROM \"acc_cdrs\" WHERE \"id\" > ?1 ORDER BY \"id\" LIMIT ?2";
    SqliteStatement s(db_, sql);
    if (!s.ok()) return SqliteError(db_, "reading acc_cdrs");
    sqlite3_bind_int64(s.get(), 1, after_id);
    sqlite3_bind_int64(s.get(), 2, static_cast<sqlite3_int64>(limit));
    std::vector<KamailioCdrRow> rows;
    PARLEY_TRY(Step(s, "acc_cdrs", [&] {
      KamailioCdrRow r;
      r.id = sqlite3_column_int64(s.get(), 0);
      r.start_time = s.Time(1);
      r.end_time = s.Time(2);
      r.duration = s.Real(3);
      r.callid = s.Text(4);
      r.from_tag = s.Text(5);
      r.sip_code = s.Text(6);
      r.sip_reason = s.Text(7);
      ReadParties(s, 8, r.parties);
      rows.push_back(std::move(r));
    }));
    return rows;
  }

  Result<int64_t> MaxId(std::string_view table) override {
    SqliteStatement s(db_, "SELECT coalesce(max(\"id\"), 0) FROM " + QuoteIdent(table));
    if (!s.ok()) return SqliteError(db_, "reading " + std::string(table));
    int64_t max_id = 0;
    PARLEY_TRY(Step(s, table, [&] { max_id = sqlite3_column_int64(s.get(), 0); }));
    return max_id;
  }

  Result<std::optional<KamailioAccRow>> FindAnsweredInvite(const std::string& callid) override {
    PARLEY_ASSIGN_OR_RETURN(const std::set<std::string>* have, Columns("acc"));
    PARLEY_TRY(Require("acc", *have, {"id", "callid", "sip_code", "time"}));
    std::string method_filter = have->count("method") ? " AND upper(\"method\") = 'INVITE'" : "";
    std::string sql = "SELECT \"id\", " +
                      SelectList(*have, {"method", "from_tag", "to_tag", "callid", "sip_code", "sip_reason", "time"}) +
                      PartyList(*have) + " FROM \"acc\" WHERE \"callid\" = ?1" + method_filter +
                      " AND \"sip_code\" LIKE '2__' ORDER BY \"id\" LIMIT 1";
    SqliteStatement s(db_, sql);
    if (!s.ok()) return SqliteError(db_, "reading acc");
    sqlite3_bind_text(s.get(), 1, callid.data(), static_cast<int>(callid.size()), SQLITE_TRANSIENT);
    std::optional<KamailioAccRow> found;
    PARLEY_TRY(Step(s, "acc", [&] { found = AccRow(s); }));
    return found;
  }

 private:
  static KamailioAccRow AccRow(const SqliteStatement& s) {
    KamailioAccRow r;
    r.id = sqlite3_column_int64(s.get(), 0);
    r.method = s.Text(1);
    r.from_tag = s.Text(2);
    r.to_tag = s.Text(3);
    r.callid = s.Text(4);
    r.sip_code = s.Text(5);
    r.sip_reason = s.Text(6);
    r.time = s.Time(7);
    ReadParties(s, 8, r.parties);
    return r;
  }

  template <typename F>
  Status Step(const SqliteStatement& s, std::string_view table, F&& on_row) {
    for (;;) {
      int rc = sqlite3_step(s.get());
      if (rc == SQLITE_DONE) return Ok();
      if (rc != SQLITE_ROW) return SqliteError(db_, "reading " + std::string(table));
      on_row();
    }
  }

  static Status Require(std::string_view table, const std::set<std::string>& have,
                        std::initializer_list<std::string_view> columns) {
    for (std::string_view c : columns) {
      if (!have.count(std::string(c)))
        return FailedPrecondition("kamailio database: table " + std::string(table) + " has no column " +
                                  std::string(c) + (c == "callid" ? " (add it and callid=$dlg(callid) to cdr_extra)" : ""));
    }
    return Ok();
  }

  // Column names of `table` (lower case), cached for one transaction; empty
  // when the table does not exist.
  Result<const std::set<std::string>*> Columns(std::string_view table) {
    auto it = columns_.find(std::string(table));
    if (it != columns_.end()) return &it->second;
    SqliteStatement s(db_, "SELECT name FROM pragma_table_info(?1)");
    if (!s.ok()) return SqliteError(db_, "reading the schema");
    sqlite3_bind_text(s.get(), 1, table.data(), static_cast<int>(table.size()), SQLITE_TRANSIENT);
    std::set<std::string> cols;
    PARLEY_TRY(Step(s, table, [&] { cols.insert(Lower(s.Text(0))); }));
    return &columns_.emplace(std::string(table), std::move(cols)).first->second;
  }

  sqlite3* db_;
  std::map<std::string, std::set<std::string>> columns_;
};

}  // namespace

Result<std::unique_ptr<KamailioDb>> OpenKamailioSqlite(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string detail = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return Unavailable("kamailio database " + path + " cannot be opened read-only: " + detail);
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_exec(db, "PRAGMA query_only = 1", nullptr, nullptr, nullptr);
  return std::unique_ptr<KamailioDb>(new SqliteDb(db));
}

// ------------------------------------------------------------- PostgreSQL

namespace {

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

class PgDb final : public KamailioDb {
 public:
  PgDb(PGconn* conn, std::string timezone) : conn_(conn), timezone_(std::move(timezone)) {}
  ~PgDb() override { PQfinish(conn_); }

  Status Begin() override {
    columns_.clear();
    if (PQstatus(conn_) != CONNECTION_OK) return Unavailable("kamailio database: connection lost");
    PARLEY_TRY(Exec("BEGIN TRANSACTION READ ONLY", {}));
    // Kamailio writes its local time into "timestamp without time zone".
    PARLEY_TRY(Exec("SELECT set_config('TimeZone', $1, true)", {timezone_}));
    return Ok();
  }

  void End() override {
    PgResult r(PQexec(conn_, "COMMIT"));
    (void)r;
  }

  Result<bool> HasTable(std::string_view table) override {
    PARLEY_ASSIGN_OR_RETURN(const std::set<std::string>* cols, Columns(table));
    return !cols->empty();
  }

  Result<std::vector<KamailioAccRow>> ReadAcc(std::string_view table, int64_t after_id, size_t limit) override {
    PARLEY_ASSIGN_OR_RETURN(const std::set<std::string>* have, Columns(table));
    PARLEY_TRY(Require(table, *have, {"id", "callid", "sip_code", "time"}));
    std::string sql = "SELECT \"id\", " + AccList(*have) + " FROM " + QuoteIdent(table) +
                      " WHERE \"id\" > $1 ORDER BY \"id\" LIMIT $2";
    PARLEY_ASSIGN_OR_RETURN(PgResult r, Query(sql, {std::to_string(after_id), std::to_string(limit)}));
    std::vector<KamailioAccRow> rows;
    for (int i = 0; i < PQntuples(r.get()); ++i) rows.push_back(AccRow(r.get(), i));
    return rows;
  }

  Result<std::vector<KamailioCdrRow>> ReadCdrs(int64_t after_id, size_t limit) override {
    PARLEY_ASSIGN_OR_RETURN(const std::set<std::string>* have, Columns("acc_cdrs"));
    PARLEY_TRY(Require("acc_cdrs", *have, {"id", "start_time", "end_time", "callid"}));
    std::string sql = "SELECT \"id\", " + Epoch(*have, "start_time") + ", " + Epoch(*have, "end_time") + ", " +
                      Col(*have, "duration") + ", " + Col(*have, "callid") + ", " + Col(*have, "from_tag") + ", " +
                      Col(*have, "sip_code") + ", " + Col(*have, "sip_reason") + Parties(*have) +
                      " FROM \"acc_cdrs\" WHERE \"id\" > $1 ORDER BY \"id\" LIMIT $2";
    PARLEY_ASSIGN_OR_RETURN(PgResult r, Query(sql, {std::to_string(after_id), std::to_string(limit)}));
    std::vector<KamailioCdrRow> rows;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      KamailioCdrRow row;
      row.id = IntAt(r.get(), i, 0).value_or(0);
      row.start_time = IntAt(r.get(), i, 1);
      row.end_time = IntAt(r.get(), i, 2);
      if (!PQgetisnull(r.get(), i, 3)) {
        std::string d = Text(r.get(), i, 3);
        double v = 0;
        auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
        row.duration = (ec == std::errc() && end == d.data() + d.size()) ? v : std::nan("");
      }
      row.callid = Text(r.get(), i, 4);
      row.from_tag = Text(r.get(), i, 5);
      row.sip_code = Text(r.get(), i, 6);
      row.sip_reason = Text(r.get(), i, 7);
      ReadPgParties(r.get(), i, 8, row.parties);
      rows.push_back(std::move(row));
    }
    return rows;
  }

  Result<int64_t> MaxId(std::string_view table) override {
    PARLEY_ASSIGN_OR_RETURN(PgResult r, Query("SELECT coalesce(max(\"id\"), 0) FROM " + QuoteIdent(table), {}));
    int64_t max_id = 0;
    if (PQntuples(r.get()) == 1) max_id = IntAt(r.get(), 0, 0).value_or(0);
    return max_id;
  }

  Result<std::optional<KamailioAccRow>> FindAnsweredInvite(const std::string& callid) override {
    PARLEY_ASSIGN_OR_RETURN(const std::set<std::string>* have, Columns("acc"));
    PARLEY_TRY(Require("acc", *have, {"id", "callid", "sip_code", "time"}));
    std::string method_filter = have->count("method") ? " AND upper(\"method\"::text) = 'INVITE'" : "";
    std::string sql = "SELECT \"id\", " + AccList(*have) + " FROM \"acc\" WHERE \"callid\" = $1" + method_filter +
                      " AND \"sip_code\"::text LIKE '2__' ORDER BY \"id\" LIMIT 1";
    PARLEY_ASSIGN_OR_RETURN(PgResult r, Query(sql, {callid}));
    if (PQntuples(r.get()) == 0) return std::optional<KamailioAccRow>();
    return std::optional<KamailioAccRow>(AccRow(r.get(), 0));
  }

 private:
  static std::string Col(const std::set<std::string>& have, std::string_view c) {
    return have.count(std::string(c)) ? QuoteIdent(c) + "::text" : "NULL";
  }
  static std::string Epoch(const std::set<std::string>& have, std::string_view c) {
    // timestamp (without zone) read in the session's TimeZone (db_timezone).
    return have.count(std::string(c)) ? "floor(extract(epoch from " + QuoteIdent(c) + "::timestamptz))::bigint"
                                      : "NULL";
  }
  static std::string Parties(const std::set<std::string>& have) {
    std::string out;
    for (std::string_view c : kPartyColumns) out += ", " + Col(have, c);
    return out;
  }
  static std::string AccList(const std::set<std::string>& have) {
    return Col(have, "method") + ", " + Col(have, "from_tag") + ", " + Col(have, "to_tag") + ", " +
           Col(have, "callid") + ", " + Col(have, "sip_code") + ", " + Col(have, "sip_reason") + ", " +
           Epoch(have, "time") + Parties(have);
  }
  static std::string Text(const PGresult* r, int row, int col) {
    if (PQgetisnull(r, row, col)) return {};
    return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
  }
  static std::optional<int64_t> IntAt(const PGresult* r, int row, int col) {
    if (PQgetisnull(r, row, col)) return std::nullopt;
    std::string s = Text(r, row, col);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
  }
  static void ReadPgParties(const PGresult* r, int row, int first, KamailioParties& p) {
    std::string* fields[] = {&p.src_user, &p.src_domain, &p.src_ip, &p.dst_user, &p.dst_ouser, &p.dst_domain, &p.dst_ip};
    for (int i = 0; i < 7; ++i) *fields[i] = Text(r, row, first + i);
  }
  static KamailioAccRow AccRow(const PGresult* r, int i) {
    KamailioAccRow row;
    row.id = IntAt(r, i, 0).value_or(0);
    row.method = Text(r, i, 1);
    row.from_tag = Text(r, i, 2);
    row.to_tag = Text(r, i, 3);
    row.callid = Text(r, i, 4);
    row.sip_code = Text(r, i, 5);
    row.sip_reason = Text(r, i, 6);
    row.time = IntAt(r, i, 7);
    ReadPgParties(r, i, 8, row.parties);
    return row;
  }
  static Status Require(std::string_view table, const std::set<std::string>& have,
                        std::initializer_list<std::string_view> columns) {
    for (std::string_view c : columns) {
      if (!have.count(std::string(c)))
        return FailedPrecondition("kamailio database: table " + std::string(table) + " has no column " +
                                  std::string(c));
    }
    return Ok();
  }

  Result<PgResult> Query(const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    for (const std::string& p : params) values.push_back(p.c_str());
    PgResult r(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                            nullptr, 0));
    if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
      std::string msg = PQerrorMessage(conn_);
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      return Unavailable("kamailio database: " + msg);
    }
    return r;
  }

  Status Exec(const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    for (const std::string& p : params) values.push_back(p.c_str());
    PgResult r(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                            nullptr, 0));
    ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string msg = PQerrorMessage(conn_);
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      return Unavailable("kamailio database: " + msg);
    }
    return Ok();
  }

  Result<const std::set<std::string>*> Columns(std::string_view table) {
    auto it = columns_.find(std::string(table));
    if (it != columns_.end()) return &it->second;
    PARLEY_ASSIGN_OR_RETURN(PgResult r, Query("SELECT lower(column_name::text) FROM information_schema.columns "
                                              "WHERE table_schema = current_schema() AND table_name = $1",
                                              {std::string(table)}));
    std::set<std::string> cols;
    for (int i = 0; i < PQntuples(r.get()); ++i) cols.insert(Text(r.get(), i, 0));
    return &columns_.emplace(std::string(table), std::move(cols)).first->second;
  }

  PGconn* conn_;
  std::string timezone_;
  std::map<std::string, std::set<std::string>> columns_;
};

}  // namespace

Result<std::unique_ptr<KamailioDb>> OpenKamailioPostgres(const std::string& url, const std::string& password,
                                                         const std::string& timezone) {
  const char* keys[] = {"dbname", "password", "connect_timeout", "application_name", nullptr};
  const char* values[] = {url.c_str(), password.empty() ? nullptr : password.c_str(), "10", "parley-agent", nullptr};
  // expand_dbname = 1: the URL in "dbname" supplies host, port, user, database.
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (!conn) return Unavailable("kamailio database: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    PQfinish(conn);
    return Unavailable("kamailio database: cannot connect: " + msg);
  }
  return std::unique_ptr<KamailioDb>(new PgDb(conn, timezone));
}

// --------------------------------------------------------------- collector

Result<std::unique_ptr<KamailioCollector>> KamailioCollector::Create(const SourceConfig& source) {
  std::string label = "source " + source.name + ": ";
  if (source.db_path.empty() == source.db_url.empty())
    return ConfigError(label + "db_path: set exactly one of db_path and db_url");
  std::string password;
  if (!source.db_url.empty() && !source.password_file.empty()) {
    if (Status s = CheckPrivateFile(source.password_file); !s.ok())
      return ConfigError(label + "password_file: " + s.error().detail);
    auto pw = ReadFile(source.password_file);
    if (!pw.ok()) return ConfigError(label + "password_file: " + pw.error().detail);
    password = std::move(*pw);
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
    if (password.empty()) return ConfigError(label + "password_file: is empty");
  }
  return std::unique_ptr<KamailioCollector>(new KamailioCollector(source, std::move(password)));
}

KamailioCollector::KamailioCollector(const SourceConfig& source, std::string password)
    : name_(source.name),
      db_path_(source.db_path.string()),
      db_url_(source.db_url),
      password_(std::move(password)),
      calls_from_(source.calls_from),
      db_timezone_(source.db_timezone),
      health_(SystemClock::Instance()) {}

Result<KamailioDb*> KamailioCollector::Db() {
  if (!db_) {
    auto db = db_path_.empty() ? OpenKamailioPostgres(db_url_, password_, db_timezone_) : OpenKamailioSqlite(db_path_);
    if (!db.ok()) return db.error();
    db_ = std::move(*db);
  }
  return db_.get();
}

Result<CollectedPage> KamailioCollector::FetchAfter(const std::string& cursor, size_t max_records) {
  auto marks = DecodeKamailioCursor(cursor);
  if (!marks.ok()) {
    health_.Failing(marks.error().detail);
    return marks.error();
  }
  auto db = Db();
  if (!db.ok()) {
    health_.Failing(db.error().detail);
    return db.error();
  }
  auto page = ReadKamailioPage(**db, name_, calls_from_, *marks, max_records);
  if (!page.ok()) {
    db_.reset();  // reopen next time (the file may have been replaced, the server restarted)
    health_.Failing(page.error().detail);
    return page.error();
  }
  CollectedPage out;
  out.records.reserve(page->records.size());
  for (wire::CallRecord& r : page->records) out.records.emplace_back(std::move(r));
  out.next_cursor = EncodeKamailioCursor(page->next);
  out.more = page->more;
  out.skipped = page->skipped;
  if (page->skipped > 0) {
    health_.Degraded(std::to_string(page->skipped) + " accounting row(s) could not be mapped");
  } else {
    health_.Ok();
  }
  return out;
}

SourceHealth KamailioCollector::health() const { return health_.Get(); }

}  // namespace parley::agent
