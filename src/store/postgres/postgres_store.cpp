#include "store/postgres/postgres_store.h"

#include <algorithm>
#include <charconv>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <set>
#include <tuple>
#include <type_traits>
#include <utility>

#include "store/detail/rollup_delta.h"
#include "store/detail/sealed_fields.h"
#include "store/postgres/connection.h"
#include "store/postgres/migrations.h"

namespace parley::store::postgres {

struct PostgresStore::Scope {
  std::string sql;  // empty: no tenant (cross-tenant functions only)
  Params params;
};

namespace {

// Upper bound of one page, as in the SQLite backend.
constexpr int64_t kMaxPage = 1000;
constexpr int64_t kMaxAuditPage = 1000;
// Serializes migrations across processes (any constant unique to Parley).
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(hashtext('parley_migrate'))";

std::string RoleText(Role role) { return std::string(RoleName(role)); }

Result<Role> RoleFrom(const Rows& rows, int row, int column) {
  const std::optional<Role> role = ParseRole(rows.Text(row, column));
  if (!role) return Internal("store: unknown role in database");
  return *role;
}

std::string DomainsToJson(const std::vector<std::string>& domains) {
  boost::json::array array;
  for (const std::string& d : domains) array.emplace_back(d);
  return boost::json::serialize(array);
}

Result<std::vector<std::string>> DomainsFromJson(const std::string& text) {
  boost::system::error_code ec;
  const boost::json::value value = boost::json::parse(text, ec);
  if (ec || !value.is_array()) return Internal("store: tenants.domains is not a JSON array");
  std::vector<std::string> domains;
  for (const boost::json::value& item : value.get_array()) {
    if (!item.is_string()) return Internal("store: tenants.domains holds a non-string");
    domains.emplace_back(item.get_string());
  }
  return domains;
}

// Column lists and their readers side by side, as in the SQLite backend.
#define PARLEY_PG_TENANT_COLUMNS \
  "id, name, domains, wrapped_data_key, created_at, time_zone, subscription_end, platform"
// Read with the key-rotation state (migration 0010), which only SwapTenantKeys writes.
#define PARLEY_PG_TENANT_READ_COLUMNS \
  PARLEY_PG_TENANT_COLUMNS ", retiring_data_key, rotation_started_at, rotation_cursor"
Result<Tenant> ReadTenant(const Rows& r, int i) {
  Tenant t;
  t.id = r.Text(i, 0);
  t.name = r.Text(i, 1);
  PARLEY_ASSIGN_OR_RETURN(t.domains, DomainsFromJson(r.Text(i, 2)));
  t.wrapped_data_key = r.Bytea(i, 3);
  t.created_at = r.Int(i, 4);
  t.time_zone = r.Text(i, 5);
  t.subscription_end = r.Text(i, 6);
  t.platform = r.Bool(i, 7);
  t.retiring_data_key = r.Bytea(i, 8);
  t.rotation_started_at = r.Int(i, 9);
  t.rotation_cursor = r.Text(i, 10);
  return t;
}

#define PARLEY_PG_USER_COLUMNS "tenant_id, id, email_index, email_sealed, password_hash, role, created_at"
Result<User> ReadUser(const Rows& r, int i) {
  User u;
  u.tenant_id = r.Text(i, 0);
  u.id = r.Text(i, 1);
  u.email_index = r.Text(i, 2);
  u.email_sealed = r.Bytea(i, 3);
  u.password_hash = r.Text(i, 4);
  PARLEY_ASSIGN_OR_RETURN(u.role, RoleFrom(r, i, 5));
  u.created_at = r.Int(i, 6);
  return u;
}

#define PARLEY_PG_SESSION_COLUMNS \
  "id_hash, tenant_id, user_id, role, csrf_token, created_at, last_seen_at, expires_at"
Result<Session> ReadSession(const Rows& r, int i) {
  Session s;
  s.id_hash = r.Text(i, 0);
  s.tenant_id = r.Text(i, 1);
  s.user_id = r.Text(i, 2);
  PARLEY_ASSIGN_OR_RETURN(s.role, RoleFrom(r, i, 3));
  s.csrf_token = r.Text(i, 4);
  s.created_at = r.Int(i, 5);
  s.last_seen_at = r.Int(i, 6);
  s.expires_at = r.Int(i, 7);
  return s;
}

#define PARLEY_PG_AGENT_COLUMNS \
  "tenant_id, id, name, cert_fingerprint, created_at, last_heartbeat_at, heartbeat_json"
Result<Agent> ReadAgent(const Rows& r, int i) {
  Agent a;
  a.tenant_id = r.Text(i, 0);
  a.id = r.Text(i, 1);
  a.name = r.Text(i, 2);
  a.cert_fingerprint = r.Text(i, 3);
  a.created_at = r.Int(i, 4);
  a.last_heartbeat_at = r.Int(i, 5);
  a.heartbeat_json = r.Text(i, 6);
  return a;
}

#define PARLEY_PG_CALL_COLUMNS                                                                       \
  "tenant_id, source, call_id, agent_id, start_at, end_at, duration_s, status, protocol, call_type, " \
  "cause, bitrate_kbps, conference_id, orig_model, orig_version, orig_site, dest_model, "             \
  "dest_version, dest_site, pii_sealed, ingested_at"
StoredCall ReadCall(const Rows& r, int i) {
  StoredCall c;
  c.tenant_id = r.Text(i, 0);
  c.source = r.Text(i, 1);
  c.call_id = r.Text(i, 2);
  c.agent_id = r.Text(i, 3);
  c.start_at = r.Int(i, 4);
  c.end_at = r.Int(i, 5);
  c.duration_s = r.Int(i, 6);
  c.status = r.Text(i, 7);
  c.protocol = r.Text(i, 8);
  c.call_type = r.Text(i, 9);
  c.cause = r.Text(i, 10);
  c.bitrate_kbps = r.Int(i, 11);
  c.conference_id = r.Text(i, 12);
  c.orig_model = r.Text(i, 13);
  c.orig_version = r.Text(i, 14);
  c.orig_site = r.Text(i, 15);
  c.dest_model = r.Text(i, 16);
  c.dest_version = r.Text(i, 17);
  c.dest_site = r.Text(i, 18);
  c.pii_sealed = r.Bytea(i, 19);
  c.ingested_at = r.Int(i, 20);
  return c;
}

#define PARLEY_PG_CONFERENCE_COLUMNS                                                        \
  "tenant_id, source, conference_id, agent_id, start_at, end_at, room, mcu, participants, " \
  "max_resources_used, scheduled_start, scheduled_end, pii_sealed, ingested_at"
StoredConference ReadConference(const Rows& r, int i) {
  StoredConference c;
  c.tenant_id = r.Text(i, 0);
  c.source = r.Text(i, 1);
  c.conference_id = r.Text(i, 2);
  c.agent_id = r.Text(i, 3);
  c.start_at = r.Int(i, 4);
  c.end_at = r.Int(i, 5);
  c.room = r.Text(i, 6);
  c.mcu = r.Text(i, 7);
  c.participant_count = r.Int(i, 8);
  c.max_resources_used = r.OptInt(i, 9);
  c.scheduled_start = r.OptInt(i, 10);
  c.scheduled_end = r.OptInt(i, 11);
  c.pii_sealed = r.Bytea(i, 12);
  c.ingested_at = r.Int(i, 13);
  return c;
}

#define PARLEY_PG_PARTICIPANT_COLUMNS                                                                 \
  "tenant_id, source, participant_id, conference_id, call_id, agent_id, start_at, end_at, duration_s, " \
  "protocol, role, disconnect_reason, model, version, site, pii_sealed, ingested_at"
StoredParticipant ReadParticipant(const Rows& r, int i) {
  StoredParticipant p;
  p.tenant_id = r.Text(i, 0);
  p.source = r.Text(i, 1);
  p.participant_id = r.Text(i, 2);
  p.conference_id = r.Text(i, 3);
  p.call_id = r.Text(i, 4);
  p.agent_id = r.Text(i, 5);
  p.start_at = r.Int(i, 6);
  p.end_at = r.Int(i, 7);
  p.duration_s = r.Int(i, 8);
  p.protocol = r.Text(i, 9);
  p.role = r.Text(i, 10);
  p.disconnect_reason = r.Text(i, 11);
  p.model = r.Text(i, 12);
  p.version = r.Text(i, 13);
  p.site = r.Text(i, 14);
  p.pii_sealed = r.Bytea(i, 15);
  p.ingested_at = r.Int(i, 16);
  return p;
}

#define PARLEY_PG_DEVICE_COLUMNS                                                              \
  "tenant_id, source, id, agent_id, observed_at, device_type, model, version, site, status, " \
  "registration, timezone, pii_sealed, updated_at"
StoredDevice ReadDevice(const Rows& r, int i) {
  StoredDevice d;
  d.tenant_id = r.Text(i, 0);
  d.source = r.Text(i, 1);
  d.device_id = r.Text(i, 2);
  d.agent_id = r.Text(i, 3);
  d.observed_at = r.Int(i, 4);
  d.device_type = r.Text(i, 5);
  d.model = r.Text(i, 6);
  d.version = r.Text(i, 7);
  d.site = r.Text(i, 8);
  d.status = r.Text(i, 9);
  d.registration = r.Text(i, 10);
  d.timezone = r.Text(i, 11);
  d.pii_sealed = r.Bytea(i, 12);
  d.updated_at = r.Int(i, 13);
  return d;
}

#define PARLEY_PG_QUALITY_COLUMNS                                                           \
  "party, direction, media, codec, bitrate_kbps, packet_loss_pct_avg, packet_loss_pct_max, " \
  "jitter_ms_avg, jitter_ms_max, latency_ms_avg, latency_ms_max, mos"
QualitySample ReadQuality(const Rows& r, int i, int first) {
  QualitySample q;
  q.party = r.Text(i, first + 0);
  q.direction = r.Text(i, first + 1);
  q.media = r.Text(i, first + 2);
  q.codec = r.Text(i, first + 3);
  q.bitrate_kbps = r.OptInt(i, first + 4);
  q.packet_loss_pct_avg = r.OptDouble(i, first + 5);
  q.packet_loss_pct_max = r.OptDouble(i, first + 6);
  q.jitter_ms_avg = r.OptDouble(i, first + 7);
  q.jitter_ms_max = r.OptDouble(i, first + 8);
  q.latency_ms_avg = r.OptDouble(i, first + 9);
  q.latency_ms_max = r.OptDouble(i, first + 10);
  q.mos = r.OptDouble(i, first + 11);
  return q;
}

#define PARLEY_PG_AUDIT_COLUMNS \
  "tenant_id, seq, at, actor, action, target, outcome, details_json, prev_hash, entry_hash"
AuditEntry ReadAuditEntry(const Rows& r, int i) {
  AuditEntry e;
  e.tenant_id = r.Text(i, 0);
  e.seq = r.Int(i, 1);
  e.at = r.Int(i, 2);
  e.actor = r.Text(i, 3);
  e.action = r.Text(i, 4);
  e.target = r.Text(i, 5);
  e.outcome = r.Text(i, 6);
  e.details_json = r.Text(i, 7);
  e.prev_hash = r.Text(i, 8);
  e.entry_hash = r.Text(i, 9);
  return e;
}

// Reads every row of `rows` with `read` (returning T or Result<T>).
template <typename T, typename Reader>
Result<std::vector<T>> ReadAll(const Rows& rows, Reader read) {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) {
    if constexpr (std::is_same_v<decltype(read(rows, i)), T>) {
      out.push_back(read(rows, i));
    } else {
      PARLEY_ASSIGN_OR_RETURN(T value, read(rows, i));
      out.push_back(std::move(value));
    }
  }
  return out;
}

// The first row read with `read`, or kNotFound naming `what` (never the key).
template <typename T, typename Reader>
Result<T> ReadOne(const Rows& rows, const char* what, Reader read) {
  if (rows.empty()) return NotFound(std::string(what) + " not found");
  return read(rows, 0);
}

template <typename T>
bool ForeignRecord(const T& record, const BatchCommit& batch) {
  return (!record.tenant_id.empty() && record.tenant_id != batch.tenant_id) ||
         (!record.agent_id.empty() && record.agent_id != batch.agent_id);
}

// The first second (UTC) of the calendar month holding `t`.
int64_t MonthStart(int64_t t) {
  using namespace std::chrono;
  const sys_days day = floor<days>(sys_seconds(seconds(t)));
  const year_month_day ymd(day);
  return duration_cast<seconds>(sys_days(ymd.year() / ymd.month() / 1).time_since_epoch()).count();
}

// Per-connection staging tables for CommitBatch: COPY cannot write to a
// table with row-level security, so batches are COPYed here (temporary,
// private to the session, emptied at commit) and moved into the real tables
// by one INSERT ... SELECT per record type, under the policies.
constexpr const char* kCreateStaging =
    "CREATE TEMP TABLE IF NOT EXISTS stage_calls ("
    " ord bigint, source text COLLATE \"C\", call_id text COLLATE \"C\", start_at bigint, end_at bigint,"
    " duration_s bigint, status text, protocol text, call_type text, cause text, bitrate_kbps bigint,"
    " conference_id text, orig_model text, orig_version text, orig_site text, dest_model text,"
    " dest_version text, dest_site text, pii_sealed bytea, ingested_at bigint, terms bigint[]) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS stage_conferences ("
    " ord bigint, source text COLLATE \"C\", conference_id text COLLATE \"C\", start_at bigint, end_at bigint,"
    " room text, mcu text, participants bigint, max_resources_used bigint, scheduled_start bigint,"
    " scheduled_end bigint, pii_sealed bytea, ingested_at bigint) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS stage_participants ("
    " ord bigint, source text COLLATE \"C\", participant_id text COLLATE \"C\", conference_id text,"
    " call_id text, start_at bigint, end_at bigint, duration_s bigint, protocol text, role text,"
    " disconnect_reason text, model text, version text, site text, pii_sealed bytea, ingested_at bigint,"
    " terms bigint[]) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS stage_quality ("
    " kind text, rec_ord bigint, party text, direction text, media text, codec text, bitrate_kbps bigint,"
    " packet_loss_pct_avg double precision, packet_loss_pct_max double precision,"
    " jitter_ms_avg double precision, jitter_ms_max double precision, latency_ms_avg double precision,"
    " latency_ms_max double precision, mos double precision) ON COMMIT DELETE ROWS;"
    // The moves join samples to the records stored now by batch
    // position. Temporary tables have no statistics, so the planner guesses
    // one stored record and picks a nested loop: without these indexes that
    // loop scans every staged sample once per record (measured: 270 of the
    // 300 ms a 1,000-call batch took, and more with search terms).
    "CREATE INDEX IF NOT EXISTS stage_quality_by_record ON stage_quality (kind, rec_ord);";

// One INSERT per record type: keep the first occurrence of each key in the
// batch (DISTINCT ON ... ord, over the key columns only: sorting the whole
// staged rows, sealed blob and all, spilled to disk and cost a tenth of
// PostgreSQL's CPU per call), claim its key in record_keys (a key taken
// before yields no row: the record is already present), insert the records
// whose key was claimed now, and their quality samples; a call's search terms
// go into its own row (migration 0020), a participant's into a pii_docs row.
// $1 tenant, $2 agent.
// Calls and participants answer the batch positions of the records stored
// now (their rollups are added), conferences (records inserted, 0).
constexpr const char* kMoveCalls =
    "WITH chosen AS (SELECT DISTINCT ON (source, call_id) ord, source, call_id, start_at FROM pg_temp.stage_calls"
    "   ORDER BY source, call_id, ord),"
    " claimed AS (INSERT INTO record_keys (tenant_id, kind, source, record_id, start_at)"
    "   SELECT $1, 'call', source, call_id, start_at FROM chosen ON CONFLICT DO NOTHING"
    "   RETURNING source, record_id),"
    " fresh AS (SELECT c.* FROM chosen n JOIN claimed k ON k.source = n.source AND k.record_id = n.call_id"
    "   JOIN pg_temp.stage_calls c ON c.ord = n.ord),"
    " ins AS (INSERT INTO calls (" PARLEY_PG_CALL_COLUMNS ", terms)"
    "   SELECT $1, source, call_id, $2, start_at, end_at, duration_s, status, protocol, call_type, cause,"
    "   bitrate_kbps, conference_id, orig_model, orig_version, orig_site, dest_model, dest_version, dest_site,"
    "   pii_sealed, ingested_at, terms FROM fresh RETURNING 1),"
    " insq AS (INSERT INTO quality_samples (tenant_id, source, record_kind, record_id, start_at, "
    PARLEY_PG_QUALITY_COLUMNS
    ")"
    "   SELECT $1, f.source, 'call', f.call_id, f.start_at, q.party, q.direction, q.media, q.codec,"
    "   q.bitrate_kbps, q.packet_loss_pct_avg, q.packet_loss_pct_max, q.jitter_ms_avg, q.jitter_ms_max,"
    "   q.latency_ms_avg, q.latency_ms_max, q.mos"
    "   FROM fresh f JOIN pg_temp.stage_quality q ON q.kind = 'call' AND q.rec_ord = f.ord RETURNING 1)"
    // The batch positions of the calls stored now (their rollups are added);
    // data-modifying CTEs run to completion whether or not this reads them.
    " SELECT ord FROM fresh ORDER BY ord";

constexpr const char* kMoveConferences =
    "WITH chosen AS (SELECT DISTINCT ON (source, conference_id) ord, source, conference_id, start_at"
    "   FROM pg_temp.stage_conferences ORDER BY source, conference_id, ord),"
    " claimed AS (INSERT INTO record_keys (tenant_id, kind, source, record_id, start_at)"
    "   SELECT $1, 'conference', source, conference_id, start_at FROM chosen ON CONFLICT DO NOTHING"
    "   RETURNING source, record_id),"
    " ins AS (INSERT INTO conferences (" PARLEY_PG_CONFERENCE_COLUMNS ")"
    "   SELECT $1, c.source, c.conference_id, $2, c.start_at, c.end_at, c.room, c.mcu, c.participants,"
    "   c.max_resources_used, c.scheduled_start, c.scheduled_end, c.pii_sealed, c.ingested_at"
    "   FROM chosen n JOIN claimed k ON k.source = n.source AND k.record_id = n.conference_id"
    "   JOIN pg_temp.stage_conferences c ON c.ord = n.ord RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins), 0";

constexpr const char* kMoveParticipants =
    "WITH chosen AS (SELECT DISTINCT ON (source, participant_id) ord, source, participant_id, start_at"
    "   FROM pg_temp.stage_participants ORDER BY source, participant_id, ord),"
    " claimed AS (INSERT INTO record_keys (tenant_id, kind, source, record_id, start_at)"
    "   SELECT $1, 'participant', source, participant_id, start_at FROM chosen ON CONFLICT DO NOTHING"
    "   RETURNING source, record_id),"
    " fresh AS (SELECT c.* FROM chosen n JOIN claimed k ON k.source = n.source AND k.record_id = n.participant_id"
    "   JOIN pg_temp.stage_participants c ON c.ord = n.ord),"
    " ins AS (INSERT INTO participants (" PARLEY_PG_PARTICIPANT_COLUMNS ")"
    "   SELECT $1, source, participant_id, conference_id, call_id, $2, start_at, end_at, duration_s, protocol,"
    "   role, disconnect_reason, model, version, site, pii_sealed, ingested_at FROM fresh RETURNING 1),"
    " insq AS (INSERT INTO quality_samples (tenant_id, source, record_kind, record_id, start_at, "
    PARLEY_PG_QUALITY_COLUMNS
    ")"
    "   SELECT $1, f.source, 'participant', f.participant_id, f.start_at, q.party, q.direction, q.media,"
    "   q.codec, q.bitrate_kbps, q.packet_loss_pct_avg, q.packet_loss_pct_max, q.jitter_ms_avg,"
    "   q.jitter_ms_max, q.latency_ms_avg, q.latency_ms_max, q.mos"
    "   FROM fresh f JOIN pg_temp.stage_quality q ON q.kind = 'participant' AND q.rec_ord = f.ord RETURNING 1),"
    " inst AS (INSERT INTO pii_docs (tenant_id, record_kind, source, record_id, start_at, terms)"
    "   SELECT $1, 'participant', source, participant_id, start_at, terms FROM fresh WHERE terms IS NOT NULL"
    "   RETURNING 1)"
    // The batch positions of the participants stored now (their quality is
    // rolled up), as kMoveCalls.
    " SELECT ord FROM fresh ORDER BY ord";

// Runs a move (kMoveCalls, kMoveConferences, kMoveParticipants) expecting
// every key of the batch to be new, as it is but for a resent record: the
// claim is a plain INSERT into record_keys, in a savepoint. ON CONFLICT DO
// NOTHING first looks each key up in record_keys' unique index and then
// inserts it, two descents of that B-tree per record (the look-up alone was
// about 15% of PostgreSQL's CPU per call, docs/performance.md, "Twelfth
// round"). A key taken before (or twice in the batch, or by another server
// at the same moment) makes the plain INSERT fail on the unique index; then
// the savepoint is rolled back and the move runs again as written, with ON
// CONFLICT DO NOTHING, which gives the same answer it always did.
Result<Rows> MoveStaged(Tx& tx, std::string_view move, const Params& owner) {
  constexpr std::string_view kConflictClause = " ON CONFLICT DO NOTHING";
  const size_t clause = move.find(kConflictClause);
  if (clause == std::string_view::npos) return Internal("store: a move without its conflict clause");
  std::string all_new(move.substr(0, clause));
  all_new += move.substr(clause + kConflictClause.size());
  PARLEY_TRY(tx.Exec("SAVEPOINT all_new"));
  Result<Rows> moved = tx.Exec(all_new, owner);
  if (moved) {
    PARLEY_TRY(tx.Exec("RELEASE SAVEPOINT all_new"));
    return moved;
  }
  if (moved.error().code != Code::kAlreadyExists) return moved;
  PARLEY_TRY(tx.Exec("ROLLBACK TO SAVEPOINT all_new"));
  return tx.Exec(move, owner);
}

// pii_docs keeps a term as the 64-bit two's-complement number its 16 hex
// digits spell (migration 0015): a GIN entry of 8 bytes instead of a
// 16-character text. nullopt for anything that is not a term.
std::optional<int64_t> TermNumber(std::string_view term) {
  if (!IsSearchTerm(term)) return std::nullopt;
  uint64_t n = 0;
  std::from_chars(term.data(), term.data() + term.size(), n, 16);
  return static_cast<int64_t>(n);
}

// A record's distinct terms as numbers; kInvalidArgument for a term that is
// not 16 lower-case hex digits (the old text column's CHECK refused those).
Result<std::vector<int64_t>> TermNumbers(const std::vector<std::string>& terms) {
  std::vector<int64_t> out;
  for (const std::string& term : terms) {
    const std::optional<int64_t> n = TermNumber(term);
    if (!n) return InvalidArgument("store: a search term must be 16 lower-case hex digits");
    if (std::find(out.begin(), out.end(), *n) == out.end()) out.push_back(*n);
  }
  return out;
}

// A staged record's `terms` column: its distinct terms (a term listed twice
// is kept once, as SQLite does) as an array; NULL without terms (no pii_docs
// row). In the record's own staging row, not a table of their own:
// that COPY, its index and the move's join to it were a sixth of the move's
// time (docs/performance.md, "Eighth round").
Status StageTerms(BinaryCopy& out, const std::vector<std::string>& terms) {
  PARLEY_ASSIGN_OR_RETURN(const std::vector<int64_t> numbers, TermNumbers(terms));
  if (numbers.empty()) {
    out.Null();
  } else {
    out.IntArray(numbers);
  }
  return Ok();
}

void StageQuality(BinaryCopy& out, std::string_view kind, size_t ord, const std::vector<QualitySample>& samples) {
  for (const QualitySample& q : samples) {
    out.Row(14);
    out.Text(kind);
    out.Int(static_cast<int64_t>(ord));
    for (const std::string* text : {&q.party, &q.direction, &q.media, &q.codec}) out.Text(*text);
    out.OptInt(q.bitrate_kbps);
    for (const std::optional<double>* v : {&q.packet_loss_pct_avg, &q.packet_loss_pct_max, &q.jitter_ms_avg,
                                           &q.jitter_ms_max, &q.latency_ms_avg, &q.latency_ms_max, &q.mos}) {
      out.OptDouble(*v);
    }
  }
}

// COPY of a staging table, binary (BinaryCopy); nothing when there are no rows.
Status CopyStaged(Tx& tx, const char* table, BinaryCopy& rows) {
  if (rows.rows() == 0) return Ok();
  PARLEY_ASSIGN_OR_RETURN(const std::string data, rows.Finish());
  return tx.CopyIn(std::string("COPY pg_temp.") + table + " FROM STDIN (FORMAT binary)", data);
}

}  // namespace

// ---- Opening, migrations, the transaction helper ----

PostgresStore::Scope PostgresStore::ForTenant(std::string_view tenant_id) {
  Scope s{"SELECT set_config('parley.tenant_id', $1, true)", {}};
  s.params.Text(tenant_id);
  return s;
}

PostgresStore::Scope PostgresStore::ForTenantOf(std::string_view resolver, std::string_view key) {
  Scope s{"SELECT set_config('parley.tenant_id', COALESCE(" + std::string(resolver) + "($1), ''), true)", {}};
  s.params.Text(key);
  return s;
}

PostgresStore::Scope PostgresStore::NoTenant() { return Scope{}; }

template <typename Body>
auto PostgresStore::Run(const Scope& scope, bool read_only, Body&& body) -> decltype(body(std::declval<Tx&>())) {
  PARLEY_ASSIGN_OR_RETURN(Pool::Lease lease, pool_->Acquire());
  PARLEY_ASSIGN_OR_RETURN(Tx tx, Tx::Begin(std::move(lease), read_only));
  if (!scope.sql.empty()) PARLEY_TRY(tx.Exec(scope.sql, scope.params));
  auto result = body(tx);
  if (!result.ok()) return result;  // the Tx destructor rolls back
  PARLEY_TRY(tx.Commit());
  return result;
}

Status PostgresStore::WriteExisting(const Scope& scope, std::string_view sql, const Params& params, const char* what) {
  return Write(scope, [&](Tx& tx) -> Status {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec(sql, params));
    if (rows.Affected() == 0) return NotFound(std::string(what) + " not found");
    return Ok();
  });
}

namespace {

Result<int> AppliedVersion(Tx& tx) {
  PARLEY_ASSIGN_OR_RETURN(Rows exists, tx.Exec("SELECT to_regclass('schema_migrations') IS NOT NULL"));
  if (!exists.Bool(0, 0)) return 0;
  PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  return static_cast<int>(rows.Int(0, 0));
}

std::string NewerSchema(int current, int latest) {
  return "the database schema (version " + std::to_string(current) + ") is newer than this Parley (version " +
         std::to_string(latest) + "): upgrade Parley";
}

// Applies the missing migrations over the owner's connection, one
// transaction each under an advisory lock (two servers starting at once
// apply each migration once), then grants `app_role` its privileges.
Status Migrate(Pool& owner, const std::string& app_role,
               const std::function<Status(std::string_view)>& fault) {
  const std::span<const Migration> migrations = Migrations();
  const int latest = LatestSchemaVersion();
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(Pool::Lease lease, owner.Acquire());
    PARLEY_ASSIGN_OR_RETURN(Tx tx, Tx::Begin(std::move(lease), /*read_only=*/false));
    PARLEY_TRY(tx.Exec(kMigrationLock));
    PARLEY_TRY(tx.Exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                       " version integer NOT NULL PRIMARY KEY, applied_at bigint NOT NULL)"));
    PARLEY_ASSIGN_OR_RETURN(const int current, AppliedVersion(tx));
    if (current > latest) return FailedPrecondition(NewerSchema(current, latest));
    if (current == latest) {
      PARLEY_TRY(tx.Exec("SELECT parley_grant_app($1::name)", Params().Text(app_role)));
      return tx.Commit();
    }
    const Migration& next = migrations[static_cast<size_t>(current)];  // versions are 1..latest, contiguous
    Status applied = tx.conn().ExecStatic(std::string(next.sql));
    if (!applied.ok()) {
      return Internal("migration " + std::string(next.name) + " failed: " + applied.error().detail);
    }
    if (fault) PARLEY_TRY(fault("migrate.after_sql"));
    PARLEY_TRY(tx.Exec("INSERT INTO schema_migrations (version, applied_at)"
                       " VALUES ($1, extract(epoch FROM now())::bigint)",
                       Params().Int(next.version)));
    PARLEY_TRY(tx.Commit());
  }
}

}  // namespace

Result<std::unique_ptr<Store>> PostgresStore::Open(const std::string& url, PostgresOptions options) {
  const int latest = LatestSchemaVersion();
  auto app_pool = Pool::Open(url, std::max(1, options.pool_size));
  if (!app_pool.ok()) return ConfigError("store.url: " + app_pool.error().detail);
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(*app_pool), std::move(options)));

  PARLEY_ASSIGN_OR_RETURN(
      const std::string app_role,
      store->Read(NoTenant(), [](Tx& tx) -> Result<std::string> {
        PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("SELECT current_user"));
        return rows.Text(0, 0);
      }));

  if (!store->options_.migrate_url.empty()) {
    auto owner = Pool::Open(store->options_.migrate_url, 1);
    if (!owner.ok()) return ConfigError("store.migrate_url: " + owner.error().detail);
    Status migrated = Migrate(**owner, app_role, store->options_.fault_hook_for_test);
    if (!migrated.ok()) {
      if (migrated.error().code == Code::kFailedPrecondition) return migrated.error();
      return ConfigError("store.migrate_url: " + migrated.error().detail);
    }
  }

  PARLEY_ASSIGN_OR_RETURN(const int current, store->Read(NoTenant(), [](Tx& tx) { return AppliedVersion(tx); }));
  if (current > latest) return FailedPrecondition(NewerSchema(current, latest));
  if (current < latest) {
    return ConfigError("store.migrate_url: the database schema is at version " + std::to_string(current) +
                       " and this Parley needs version " + std::to_string(latest) +
                       "; set store.migrate_url to the schema owner's connection so Parley can migrate it"
                       " (docs/postgresql.md)");
  }

  // Row-level security protects nothing from a role that owns the tables
  // or bypasses it: refuse to serve over such a connection.
  PARLEY_ASSIGN_OR_RETURN(
      const bool unsafe, store->Read(NoTenant(), [](Tx& tx) -> Result<bool> {
        PARLEY_ASSIGN_OR_RETURN(
            Rows rows, tx.Exec("SELECT r.rolsuper OR r.rolbypassrls OR pg_has_role(current_user, c.relowner, 'MEMBER')"
                               " FROM pg_roles r, pg_class c"
                               " WHERE r.rolname = current_user AND c.oid = 'calls'::regclass"));
        return rows.empty() || rows.Bool(0, 0);
      }));
  if (unsafe) {
    return ConfigError("store.url: connects as a role that owns the Parley schema, is a superuser or bypasses"
                       " row-level security; connect as the application role (docs/postgresql.md)");
  }
  return std::unique_ptr<Store>(std::move(store));
}

PostgresStore::PostgresStore(std::unique_ptr<Pool> pool, PostgresOptions options)
    : pool_(std::move(pool)), options_(std::move(options)) {}

PostgresStore::~PostgresStore() = default;

Status PostgresStore::Fault(std::string_view step) {
  if (options_.fault_hook_for_test) return options_.fault_hook_for_test(step);
  return Ok();
}

int PostgresStore::SchemaVersion() {
  Result<int> version = Read(NoTenant(), [](Tx& tx) { return AppliedVersion(tx); });
  return version.ok() ? *version : -1;
}

Status PostgresStore::Ping() {
  return Read(NoTenant(), [](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("SELECT 1 FROM schema_migrations LIMIT 1"));
    return Ok();
  });
}

// ---- Tenants ----

Status PostgresStore::CreateTenant(const Tenant& tenant) {
  return Write(ForTenant(tenant.id), [&](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("INSERT INTO tenants (" PARLEY_PG_TENANT_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8 <> 0)",
                       Params()
                           .Text(tenant.id)
                           .Text(tenant.name)
                           .Text(DomainsToJson(tenant.domains))
                           .Bytea(tenant.wrapped_data_key)
                           .Int(tenant.created_at)
                           .Text(tenant.time_zone)
                           .Text(tenant.subscription_end)
                           .Int(tenant.platform ? 1 : 0)));
    return Ok();
  });
}

Result<Tenant> PostgresStore::GetTenant(const std::string& tenant_id) {
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<Tenant> {
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows, tx.Exec("SELECT " PARLEY_PG_TENANT_READ_COLUMNS " FROM tenants WHERE id = $1", Params().Text(tenant_id)));
    return ReadOne<Tenant>(rows, "tenant", ReadTenant);
  });
}

Result<Tenant> PostgresStore::FindTenantByName(const std::string& name) {
  return Read(ForTenantOf("parley_tenant_of_name", name), [&](Tx& tx) -> Result<Tenant> {
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows, tx.Exec("SELECT " PARLEY_PG_TENANT_READ_COLUMNS " FROM tenants WHERE name = $1", Params().Text(name)));
    return ReadOne<Tenant>(rows, "tenant", ReadTenant);
  });
}

Result<std::vector<Tenant>> PostgresStore::ListTenants() {
  // The directory of ids crosses tenants; each row is then read under its
  // own tenant, like any other.
  return Read(NoTenant(), [&](Tx& tx) -> Result<std::vector<Tenant>> {
    PARLEY_ASSIGN_OR_RETURN(Rows ids, tx.Exec("SELECT id FROM parley_tenant_ids() AS id"));
    std::vector<Tenant> tenants;
    for (int i = 0; i < ids.size(); ++i) {
      PARLEY_TRY(tx.Exec("SELECT set_config('parley.tenant_id', $1, true)", Params().Text(ids.Text(i, 0))));
      PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("SELECT " PARLEY_PG_TENANT_READ_COLUMNS " FROM tenants WHERE id = $1",
                                                 Params().Text(ids.Text(i, 0))));
      if (rows.empty()) continue;  // deleted between the two reads
      PARLEY_ASSIGN_OR_RETURN(Tenant t, ReadTenant(rows, 0));
      tenants.push_back(std::move(t));
    }
    std::sort(tenants.begin(), tenants.end(),
              [](const Tenant& a, const Tenant& b) { return std::tie(a.name, a.id) < std::tie(b.name, b.id); });
    return tenants;
  });
}

// ---- Users ----

Status PostgresStore::CreateUser(const User& user) {
  return Write(ForTenant(user.tenant_id), [&](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("INSERT INTO users (" PARLEY_PG_USER_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
                       Params()
                           .Text(user.tenant_id)
                           .Text(user.id)
                           .Text(user.email_index)
                           .Bytea(user.email_sealed)
                           .Text(user.password_hash)
                           .Text(RoleText(user.role))
                           .Int(user.created_at)));
    return Ok();
  });
}

Result<User> PostgresStore::FindUserByEmailIndex(const std::string& email_index) {
  return Read(ForTenantOf("parley_tenant_of_user", email_index), [&](Tx& tx) -> Result<User> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("SELECT " PARLEY_PG_USER_COLUMNS " FROM users WHERE email_index = $1",
                                               Params().Text(email_index)));
    return ReadOne<User>(rows, "user", ReadUser);
  });
}

Result<User> PostgresStore::GetUser(const std::string& tenant_id, const std::string& user_id) {
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<User> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows,
                            tx.Exec("SELECT " PARLEY_PG_USER_COLUMNS " FROM users WHERE tenant_id = $1 AND id = $2",
                                    Params().Text(tenant_id).Text(user_id)));
    return ReadOne<User>(rows, "user", ReadUser);
  });
}

Status PostgresStore::SetPassword(const std::string& tenant_id, const std::string& user_id, const std::string& hash) {
  return WriteExisting(ForTenant(tenant_id), "UPDATE users SET password_hash = $1 WHERE tenant_id = $2 AND id = $3",
                       Params().Text(hash).Text(tenant_id).Text(user_id), "user");
}

Result<std::vector<User>> PostgresStore::ListUsers(const std::string& tenant_id) {
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<User>> {
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows, tx.Exec("SELECT " PARLEY_PG_USER_COLUMNS " FROM users WHERE tenant_id = $1 ORDER BY created_at, id",
                           Params().Text(tenant_id)));
    return ReadAll<User>(rows, ReadUser);
  });
}

Status PostgresStore::SetUserRole(const std::string& tenant_id, const std::string& user_id, Role role) {
  return Write(ForTenant(tenant_id), [&](Tx& tx) -> Status {
    if (role != Role::kTenantAdmin) {
      // FOR UPDATE locks the tenant's admins: two admins demoting each other
      // at once are ordered, and the second sees the first one's demotion.
      PARLEY_ASSIGN_OR_RETURN(Rows admins,
                              tx.Exec("SELECT id FROM users WHERE tenant_id = $1 AND role = 'tenant_admin' FOR UPDATE",
                                      Params().Text(tenant_id)));
      if (admins.size() == 1 && admins.Text(0, 0) == user_id) {
        return FailedPrecondition("the tenant's last tenant_admin cannot be demoted");
      }
    }
    PARLEY_ASSIGN_OR_RETURN(Rows user, tx.Exec("UPDATE users SET role = $1 WHERE tenant_id = $2 AND id = $3",
                                               Params().Text(RoleText(role)).Text(tenant_id).Text(user_id)));
    if (user.Affected() == 0) return NotFound("user not found");
    PARLEY_TRY(tx.Exec("UPDATE sessions SET role = $1 WHERE tenant_id = $2 AND user_id = $3",
                       Params().Text(RoleText(role)).Text(tenant_id).Text(user_id)));
    return Ok();
  });
}

// ---- Sessions ----

Status PostgresStore::CreateSession(const Session& session) {
  return Write(ForTenant(session.tenant_id), [&](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("INSERT INTO sessions (" PARLEY_PG_SESSION_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                       Params()
                           .Text(session.id_hash)
                           .Text(session.tenant_id)
                           .Text(session.user_id)
                           .Text(RoleText(session.role))
                           .Text(session.csrf_token)
                           .Int(session.created_at)
                           .Int(session.last_seen_at)
                           .Int(session.expires_at)));
    return Ok();
  });
}

Result<Session> PostgresStore::GetSession(const std::string& id_hash) {
  return Read(ForTenantOf("parley_tenant_of_session", id_hash), [&](Tx& tx) -> Result<Session> {
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows, tx.Exec("SELECT " PARLEY_PG_SESSION_COLUMNS " FROM sessions WHERE id_hash = $1", Params().Text(id_hash)));
    return ReadOne<Session>(rows, "session", ReadSession);
  });
}

Status PostgresStore::TouchSession(const std::string& id_hash, int64_t now) {
  // GREATEST: a late, out-of-order touch never moves last_seen_at backwards.
  return WriteExisting(ForTenantOf("parley_tenant_of_session", id_hash),
                       "UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id_hash = $2",
                       Params().Int(now).Text(id_hash), "session");
}

Status PostgresStore::DeleteSession(const std::string& id_hash) {
  return Write(ForTenantOf("parley_tenant_of_session", id_hash), [&](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("DELETE FROM sessions WHERE id_hash = $1", Params().Text(id_hash)));
    return Ok();  // idempotent: signing out twice is not an error
  });
}

Status PostgresStore::DeleteExpiredSessions(int64_t now, int64_t idle_seconds) {
  return Write(NoTenant(), [&](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("SELECT parley_delete_expired_sessions($1, $2)", Params().Int(now).Int(idle_seconds)));
    return Ok();
  });
}

// ---- Agents and enrollment ----

Status PostgresStore::CreateEnrollToken(const std::string& token_hash, const std::string& tenant_id,
                                        int64_t expires_at) {
  return Write(ForTenant(tenant_id), [&](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("INSERT INTO enroll_tokens (token_hash, tenant_id, expires_at) VALUES ($1, $2, $3)",
                       Params().Text(token_hash).Text(tenant_id).Int(expires_at)));
    return Ok();
  });
}

Result<std::string> PostgresStore::ConsumeEnrollToken(const std::string& token_hash, int64_t now) {
  // One UPDATE marks the token used and returns its tenant; a concurrent
  // consumer waits for the row lock, re-checks used_at and finds no row.
  return Write(ForTenantOf("parley_tenant_of_enroll_token", token_hash), [&](Tx& tx) -> Result<std::string> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("UPDATE enroll_tokens SET used_at = $1"
                                               " WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1"
                                               " RETURNING tenant_id",
                                               Params().Int(now).Text(token_hash)));
    // One message for every failure, as in the SQLite backend.
    if (rows.empty()) return Unauthenticated("enrollment token is invalid, expired or already used");
    return rows.Text(0, 0);
  });
}

Status PostgresStore::CreateAgent(const Agent& agent) {
  return Write(ForTenant(agent.tenant_id), [&](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("INSERT INTO agents (" PARLEY_PG_AGENT_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
                       Params()
                           .Text(agent.tenant_id)
                           .Text(agent.id)
                           .Text(agent.name)
                           .Text(agent.cert_fingerprint)
                           .Int(agent.created_at)
                           .Int(agent.last_heartbeat_at)
                           .Text(agent.heartbeat_json)));
    return Ok();
  });
}

Result<Agent> PostgresStore::FindAgentByFingerprint(const std::string& cert_fingerprint) {
  return Read(ForTenantOf("parley_tenant_of_agent", cert_fingerprint), [&](Tx& tx) -> Result<Agent> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows,
                            tx.Exec("SELECT " PARLEY_PG_AGENT_COLUMNS " FROM agents WHERE cert_fingerprint = $1",
                                    Params().Text(cert_fingerprint)));
    return ReadOne<Agent>(rows, "agent", ReadAgent);
  });
}

Result<std::vector<Agent>> PostgresStore::ListAgents(const std::string& tenant_id) {
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<Agent>> {
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows, tx.Exec("SELECT " PARLEY_PG_AGENT_COLUMNS " FROM agents WHERE tenant_id = $1 ORDER BY name, id",
                           Params().Text(tenant_id)));
    return ReadAll<Agent>(rows, ReadAgent);
  });
}

Status PostgresStore::RecordHeartbeat(const std::string& tenant_id, const std::string& agent_id,
                                      const std::string& json, int64_t now) {
  return WriteExisting(ForTenant(tenant_id),
                       "UPDATE agents SET last_heartbeat_at = $1, heartbeat_json = $2 WHERE tenant_id = $3 AND id = $4",
                       Params().Int(now).Text(json).Text(tenant_id).Text(agent_id), "agent");
}

// ---- Ingest ----

Status PostgresStore::EnsurePartitions(const BatchCommit& batch) {
  std::set<int64_t> months;
  for (const StoredCall& c : batch.calls) months.insert(MonthStart(c.start_at));
  for (const StoredConference& c : batch.conferences) months.insert(MonthStart(c.start_at));
  for (const StoredParticipant& p : batch.participants) months.insert(MonthStart(p.start_at));
  std::vector<int64_t> missing;
  {
    std::lock_guard lock(months_mu_);
    for (int64_t m : months) {
      if (!known_months_.contains(m)) missing.push_back(m);
    }
  }
  if (missing.empty()) return Ok();
  // Its own short transaction, before the batch's: creating a partition
  // locks the parent table, which must not be held for a whole batch.
  PARLEY_TRY(Write(NoTenant(), [&](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("SELECT parley_ensure_partitions($1)", Params().IntArray(missing)));
    return Ok();
  }));
  std::lock_guard lock(months_mu_);
  known_months_.insert(missing.begin(), missing.end());
  return Ok();
}

Result<BatchCommitResult> PostgresStore::CommitBatch(const BatchCommit& batch) {
  const bool foreign = std::any_of(batch.calls.begin(), batch.calls.end(),
                                   [&](const auto& r) { return ForeignRecord(r, batch); }) ||
                       std::any_of(batch.conferences.begin(), batch.conferences.end(),
                                   [&](const auto& r) { return ForeignRecord(r, batch); }) ||
                       std::any_of(batch.participants.begin(), batch.participants.end(),
                                   [&](const auto& r) { return ForeignRecord(r, batch); }) ||
                       std::any_of(batch.devices.begin(), batch.devices.end(),
                                   [&](const auto& r) { return ForeignRecord(r, batch); });
  if (foreign) return InvalidArgument("a record's tenant or agent differs from its batch's");

  Result<BatchCommitResult> result = CommitBatchOnce(batch);
  // A partition dropped by retention (in this or another process) after we
  // saw it: forget what we know and try once more.
  if (!result.ok() && result.error().detail.find("no partition of relation") != std::string::npos) {
    {
      std::lock_guard lock(months_mu_);
      known_months_.clear();
    }
    result = CommitBatchOnce(batch);
  }
  return result;
}

// Locks the rows of the batch's sources whose cursor has an `expected` and
// compares (CheckExpectedCursor, store.h). With wait=false a row another
// transaction holds is skipped (SKIP LOCKED) and the answer is false: call
// again with wait=true, which blocks until that transaction ends and then
// reads the cursor it left (READ COMMITTED re-reads the row).
Result<bool> PostgresStore::LockExpectedCursors(Tx& tx, const BatchCommit& batch, bool wait) {
  for (const CursorValue& cursor : batch.cursors) {
    if (!cursor.expected) continue;
    PARLEY_ASSIGN_OR_RETURN(
        Rows stored, tx.Exec(wait ? "SELECT cursor FROM sources WHERE tenant_id = $1 AND agent_id = $2 AND name = $3"
                                    " FOR UPDATE"
                                  : "SELECT cursor FROM sources WHERE tenant_id = $1 AND agent_id = $2 AND name = $3"
                                    " FOR UPDATE SKIP LOCKED",
                             Params().Text(batch.tenant_id).Text(batch.agent_id).Text(cursor.source)));
    if (stored.size() == 0 && !wait) {
      // Held by another transaction, or no row yet: decide after the records.
      return false;
    }
    PARLEY_TRY(CheckExpectedCursor(cursor, stored.size() == 1 ? std::optional<std::string>(stored.Text(0, 0))
                                                              : std::nullopt));
  }
  return true;
}

Result<BatchCommitResult> PostgresStore::CommitBatchOnce(const BatchCommit& batch) {
  PARLEY_TRY(EnsurePartitions(batch));

  PARLEY_ASSIGN_OR_RETURN(Pool::Lease lease, pool_->Acquire());
  if (!lease->session_ready) {
    PARLEY_TRY(lease->ExecStatic(kCreateStaging));
    lease->session_ready = true;
  }
  PARLEY_ASSIGN_OR_RETURN(Tx tx, Tx::Begin(std::move(lease), /*read_only=*/false));
  const Scope scope = ForTenant(batch.tenant_id);
  PARLEY_TRY(tx.Exec(scope.sql, scope.params));

  // The batch row first: it claims the batch id. A concurrent commit of the
  // same batch waits on this row, then finds it taken and reports duplicate.
  const int64_t records = static_cast<int64_t>(batch.calls.size() + batch.conferences.size() +
                                               batch.participants.size() + batch.devices.size());
  PARLEY_ASSIGN_OR_RETURN(
      Rows claimed, tx.Exec("INSERT INTO batches (tenant_id, batch_id, agent_id, digest, received_at, records)"
                            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, batch_id) DO NOTHING",
                            Params()
                                .Text(batch.tenant_id)
                                .Text(batch.batch_id)
                                .Text(batch.agent_id)
                                .Text(batch.digest)
                                .Int(batch.received_at)
                                .Int(records)));
  if (claimed.Affected() == 0) {
    BatchCommitResult seen_before;
    seen_before.duplicate = true;
    return seen_before;  // the Tx destructor rolls back: nothing written
  }
  // Batches of one source commit in order (CursorValue::expected): each
  // holds its source's row lock to the end of its transaction. A batch
  // takes the lock here, before its records, if it is free; if another
  // transaction holds it (the agent's previous batch, still storing), the
  // records go in meanwhile and the lock is waited for before the rollups,
  // so two batches of a source store their records at the same time and only
  // the rollups and the cursor are taken in turn.
  PARLEY_ASSIGN_OR_RETURN(const bool cursors_checked, LockExpectedCursors(tx, batch, /*wait=*/false));

  BatchCommitResult result;
  detail::RollupDelta rollups;  // what this batch's new calls and participants add
  const Params owner = Params().Text(batch.tenant_id).Text(batch.agent_id);
  auto ingested = [&](int64_t at) { return at != 0 ? at : batch.received_at; };

  // Quality samples of calls and participants, staged once.
  BinaryCopy quality;
  for (size_t i = 0; i < batch.calls.size(); ++i) StageQuality(quality, "call", i, batch.calls[i].quality);
  for (size_t i = 0; i < batch.participants.size(); ++i) {
    StageQuality(quality, "participant", i, batch.participants[i].quality);
  }
  PARLEY_TRY(CopyStaged(tx, "stage_quality", quality));

  if (!batch.calls.empty()) {
    BinaryCopy rows;
    for (size_t i = 0; i < batch.calls.size(); ++i) {
      const StoredCall& c = batch.calls[i];
      rows.Row(21);
      rows.Int(static_cast<int64_t>(i));
      for (const std::string* text : {&c.source, &c.call_id}) rows.Text(*text);
      for (int64_t v : {c.start_at, c.end_at, c.duration_s}) rows.Int(v);
      for (const std::string* text : {&c.status, &c.protocol, &c.call_type, &c.cause}) rows.Text(*text);
      rows.Int(c.bitrate_kbps);
      for (const std::string* text : {&c.conference_id, &c.orig_model, &c.orig_version, &c.orig_site, &c.dest_model,
                                      &c.dest_version, &c.dest_site}) {
        rows.Text(*text);
      }
      rows.Bytea(c.pii_sealed);
      rows.Int(ingested(c.ingested_at));
      PARLEY_TRY(StageTerms(rows, c.search_terms));
    }
    PARLEY_TRY(CopyStaged(tx, "stage_calls", rows));
    PARLEY_ASSIGN_OR_RETURN(Rows moved, MoveStaged(tx, kMoveCalls, owner));
    result.inserted += moved.size();
    result.already_present += static_cast<int64_t>(batch.calls.size()) - moved.size();
    for (int i = 0; i < moved.size(); ++i) {
      const int64_t ord = moved.Int(i, 0);
      if (ord < 0 || static_cast<size_t>(ord) >= batch.calls.size()) return Internal("store: call position out of range");
      detail::AddCallToRollups(batch.calls[static_cast<size_t>(ord)], rollups);
    }
  }
  PARLEY_TRY(Fault("commit_batch.after_calls"));

  if (!batch.conferences.empty()) {
    BinaryCopy rows;
    for (size_t i = 0; i < batch.conferences.size(); ++i) {
      const StoredConference& c = batch.conferences[i];
      rows.Row(13);
      rows.Int(static_cast<int64_t>(i));
      for (const std::string* text : {&c.source, &c.conference_id}) rows.Text(*text);
      for (int64_t v : {c.start_at, c.end_at}) rows.Int(v);
      for (const std::string* text : {&c.room, &c.mcu}) rows.Text(*text);
      rows.Int(c.participant_count);
      for (const std::optional<int64_t>* v : {&c.max_resources_used, &c.scheduled_start, &c.scheduled_end}) {
        rows.OptInt(*v);
      }
      rows.Bytea(c.pii_sealed);
      rows.Int(ingested(c.ingested_at));
    }
    PARLEY_TRY(CopyStaged(tx, "stage_conferences", rows));
    PARLEY_ASSIGN_OR_RETURN(Rows moved, MoveStaged(tx, kMoveConferences, owner));
    result.inserted += moved.Int(0, 0);
    result.already_present += static_cast<int64_t>(batch.conferences.size()) - moved.Int(0, 0);
  }
  PARLEY_TRY(Fault("commit_batch.after_conferences"));

  if (!batch.participants.empty()) {
    BinaryCopy rows;
    for (size_t i = 0; i < batch.participants.size(); ++i) {
      const StoredParticipant& p = batch.participants[i];
      rows.Row(17);
      rows.Int(static_cast<int64_t>(i));
      for (const std::string* text : {&p.source, &p.participant_id, &p.conference_id, &p.call_id}) rows.Text(*text);
      for (int64_t v : {p.start_at, p.end_at, p.duration_s}) rows.Int(v);
      for (const std::string* text : {&p.protocol, &p.role, &p.disconnect_reason, &p.model, &p.version, &p.site}) {
        rows.Text(*text);
      }
      rows.Bytea(p.pii_sealed);
      rows.Int(ingested(p.ingested_at));
      PARLEY_TRY(StageTerms(rows, p.search_terms));
    }
    PARLEY_TRY(CopyStaged(tx, "stage_participants", rows));
    PARLEY_ASSIGN_OR_RETURN(Rows moved, MoveStaged(tx, kMoveParticipants, owner));
    result.inserted += moved.size();
    result.already_present += static_cast<int64_t>(batch.participants.size()) - moved.size();
    for (int i = 0; i < moved.size(); ++i) {
      const int64_t ord = moved.Int(i, 0);
      if (ord < 0 || static_cast<size_t>(ord) >= batch.participants.size()) {
        return Internal("store: participant position out of range");
      }
      detail::AddParticipantToRollups(batch.participants[static_cast<size_t>(ord)], rollups);
    }
  }
  if (!cursors_checked) PARLEY_TRY(LockExpectedCursors(tx, batch, /*wait=*/true));
  // Once for the batch: the new calls' and the new participants' figures
  // (rollup rows are locked last, after the batch's record keys).
  if (!rollups.usage.empty() || !rollups.concurrency.empty()) {
    PARLEY_TRY(ApplyRollups(tx, batch.tenant_id, rollups));
  }
  PARLEY_TRY(Fault("commit_batch.after_participants"));

  // Devices one statement each: each observation is compared with the state
  // the previous one left (newest observed_at wins, ties keep the stored
  // state), which one set-based upsert cannot do for repeats in one batch.
  for (const StoredDevice& d : batch.devices) {
    PARLEY_ASSIGN_OR_RETURN(
        Rows changed,
        tx.Exec("INSERT INTO devices (" PARLEY_PG_DEVICE_COLUMNS
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                " ON CONFLICT (tenant_id, source, id) DO UPDATE SET"
                " agent_id = excluded.agent_id, observed_at = excluded.observed_at,"
                " device_type = excluded.device_type, model = excluded.model,"
                " version = excluded.version, site = excluded.site, status = excluded.status,"
                " registration = excluded.registration, timezone = excluded.timezone,"
                " pii_sealed = excluded.pii_sealed, updated_at = excluded.updated_at"
                " WHERE excluded.observed_at > devices.observed_at",
                Params()
                    .Text(batch.tenant_id)
                    .Text(d.source)
                    .Text(d.device_id)
                    .Text(batch.agent_id)
                    .Int(d.observed_at)
                    .Text(d.device_type)
                    .Text(d.model)
                    .Text(d.version)
                    .Text(d.site)
                    .Text(d.status)
                    .Text(d.registration)
                    .Text(d.timezone)
                    .Bytea(d.pii_sealed)
                    .Int(d.updated_at != 0 ? d.updated_at : batch.received_at)));
    if (changed.Affected() == 1) {
      ++result.inserted;
      // The terms follow the stored state: the old ip's go with it.
      PARLEY_TRY(tx.Exec("DELETE FROM pii_docs WHERE tenant_id = $1 AND record_kind = 'device' AND source = $2"
                         " AND record_id = $3",
                         Params().Text(batch.tenant_id).Text(d.source).Text(d.device_id)));
      PARLEY_ASSIGN_OR_RETURN(const std::vector<int64_t> terms, TermNumbers(d.search_terms));
      if (!terms.empty()) {
        PARLEY_TRY(tx.Exec("INSERT INTO pii_docs (tenant_id, record_kind, source, record_id, start_at, terms)"
                           " VALUES ($1, 'device', $2, $3, $4, $5)",
                           Params().Text(batch.tenant_id).Text(d.source).Text(d.device_id).Int(d.observed_at)
                               .IntArray(terms)));
      }
    } else {
      ++result.already_present;
    }
  }
  PARLEY_TRY(Fault("commit_batch.after_devices"));

  for (const CursorValue& cursor : batch.cursors) {
    PARLEY_TRY(tx.Exec("INSERT INTO sources (tenant_id, agent_id, name, cursor, updated_at)"
                       " VALUES ($1, $2, $3, $4, $5)"
                       " ON CONFLICT (tenant_id, agent_id, name)"
                       " DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                       Params()
                           .Text(batch.tenant_id)
                           .Text(batch.agent_id)
                           .Text(cursor.source)
                           .Text(cursor.value)
                           .Int(batch.received_at)));
  }
  PARLEY_TRY(Fault("commit_batch.after_cursors"));

  for (const QuarantineCount& q : batch.quarantined) {
    if (q.count <= 0) return InvalidArgument("quarantine count must be positive");
    PARLEY_TRY(tx.Exec("INSERT INTO quarantine (tenant_id, agent_id, source, record_type, reason, count, first_seen,"
                       " last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
                       " ON CONFLICT (tenant_id, agent_id, source, record_type, reason)"
                       " DO UPDATE SET count = quarantine.count + excluded.count, last_seen = excluded.last_seen",
                       Params()
                           .Text(batch.tenant_id)
                           .Text(batch.agent_id)
                           .Text(q.source)
                           .Text(q.record_type)
                           .Text(q.reason)
                           .Int(q.count)
                           .Int(batch.received_at)));
  }

  PARLEY_TRY(tx.Commit());
  return result;
}

Result<std::vector<CursorValue>> PostgresStore::GetCursors(const std::string& tenant_id, const std::string& agent_id) {
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<CursorValue>> {
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows, tx.Exec("SELECT name, cursor FROM sources WHERE tenant_id = $1 AND agent_id = $2 ORDER BY name",
                           Params().Text(tenant_id).Text(agent_id)));
    return ReadAll<CursorValue>(rows, [](const Rows& r, int i) { return CursorValue{r.Text(i, 0), r.Text(i, 1)}; });
  });
}

// ---- Reading records ----

Result<std::vector<StoredCall>> PostgresStore::ListCalls(const std::string& tenant_id, const CallPageQuery& query) {
  if (query.limit < 1) return InvalidArgument("page size must be at least 1");
  const int64_t limit = std::min(query.limit, kMaxPage);
  Params params = Params().Text(tenant_id).Int(limit);
  std::string sql = "SELECT " PARLEY_PG_CALL_COLUMNS " FROM calls WHERE tenant_id = $1";
  if (query.party_term) {
    // A party's calls: its term is in each call's row, under a GIN index
    // (migration 0020). The planner walks calls_by_start newest first keeping
    // the calls that hold it when the party is frequent, or reads the term's
    // calls from the GIN index and sorts them when it is rare.
    const std::optional<int64_t> term = TermNumber(*query.party_term);
    if (!term) return std::vector<StoredCall>{};
    params.Int(*term);
    sql += " AND terms @> ARRAY[$3::bigint]";
  }
  if (query.before) {
    const auto& [start_at, source, call_id] = *query.before;
    const int n = params.size();  // the keyset's three parameters follow the others
    params.Int(start_at).Text(source).Text(call_id);
    sql += " AND (start_at, source, call_id) < ($" + std::to_string(n + 1) + ", $" + std::to_string(n + 2) + ", $" +
           std::to_string(n + 3) + ")";
  }
  sql += " ORDER BY start_at DESC, source DESC, call_id DESC LIMIT $2";
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<StoredCall>> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec(sql, params));
    return ReadAll<StoredCall>(rows, ReadCall);
  });
}

Result<int64_t> PostgresStore::CountCalls(const std::string& tenant_id, const std::optional<std::string>& party_term) {
  std::optional<int64_t> term;
  if (party_term) {
    term = TermNumber(*party_term);
    if (!term) return 0;
  }
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<int64_t> {
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows, term ? tx.Exec("SELECT count(*) FROM calls WHERE tenant_id = $1 AND terms @> ARRAY[$2::bigint]",
                                  Params().Text(tenant_id).Int(*term))
                        : tx.Exec("SELECT count(*) FROM calls WHERE tenant_id = $1", Params().Text(tenant_id)));
    return rows.Int(0, 0);
  });
}

Result<std::vector<StoredConference>> PostgresStore::ListConferences(const std::string& tenant_id,
                                                                     const ConferencePageQuery& query) {
  if (query.limit < 1) return InvalidArgument("page size must be at least 1");
  const int64_t limit = std::min(query.limit, kMaxPage);
  Params params = Params().Text(tenant_id).Int(limit);
  std::string sql =
      "SELECT " PARLEY_PG_CONFERENCE_COLUMNS
      ", (SELECT count(*) FROM participants p WHERE p.tenant_id = conferences.tenant_id"
      " AND p.source = conferences.source AND p.conference_id = conferences.conference_id)"
      " FROM conferences WHERE tenant_id = $1";
  if (query.before) {
    const auto& [start_at, source, conference_id] = *query.before;
    params.Int(start_at).Text(source).Text(conference_id);
    sql += " AND (start_at, source, conference_id) < ($3, $4, $5)";
  }
  sql += " ORDER BY start_at DESC, source DESC, conference_id DESC LIMIT $2";
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<StoredConference>> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec(sql, params));
    return ReadAll<StoredConference>(rows, [](const Rows& r, int i) {
      StoredConference c = ReadConference(r, i);
      c.stored_participants = r.Int(i, 14);
      return c;
    });
  });
}

Result<std::vector<StoredParticipant>> PostgresStore::ListParticipants(const std::string& tenant_id,
                                                                       const std::string& source,
                                                                       const std::string& conference_id) {
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<StoredParticipant>> {
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows,
        tx.Exec("SELECT " PARLEY_PG_PARTICIPANT_COLUMNS
                " FROM participants WHERE tenant_id = $1 AND source = $2 AND conference_id = $3"
                " ORDER BY start_at, participant_id LIMIT $4",
                Params().Text(tenant_id).Text(source).Text(conference_id).Int(kMaxPage)));
    return ReadAll<StoredParticipant>(rows, ReadParticipant);
  });
}

// One keyset page of a tenant's rows of `table` in key order (source,
// `id_column`), after `after` (exclusive). For participants the key is each
// month's partition's (tenant_id, source, participant_id, start_at), merged
// in key order; a key lives in one partition.
template <typename T>
Result<std::vector<T>> PostgresStore::KeyPage(const std::string& tenant_id, const char* columns, const char* table,
                                              const char* id_column, int64_t limit,
                                              const std::optional<std::pair<std::string, std::string>>& after,
                                              T (*read)(const Rows&, int)) {
  if (limit < 1) return InvalidArgument("page size must be at least 1");
  Params params = Params().Text(tenant_id).Int(std::min(limit, kMaxPage));
  std::string sql = std::string("SELECT ") + columns + " FROM " + table + " WHERE tenant_id = $1";
  if (after) {
    params.Text(after->first).Text(after->second);
    sql += std::string(" AND (source, ") + id_column + ") > ($3, $4)";
  }
  sql += std::string(" ORDER BY source, ") + id_column + " LIMIT $2";
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<T>> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec(sql, params));
    return ReadAll<T>(rows, read);
  });
}

Result<std::vector<StoredParticipant>> PostgresStore::ListAllParticipants(const std::string& tenant_id,
                                                                          const ParticipantPageQuery& query) {
  return KeyPage<StoredParticipant>(tenant_id, PARLEY_PG_PARTICIPANT_COLUMNS, "participants", "participant_id",
                                    query.limit, query.after, &ReadParticipant);
}

Result<std::vector<StoredDevice>> PostgresStore::ListDevices(const std::string& tenant_id,
                                                             const DevicePageQuery& query) {
  return KeyPage<StoredDevice>(tenant_id, PARLEY_PG_DEVICE_COLUMNS, "devices", "id", query.limit, query.after,
                               &ReadDevice);
}

Result<std::vector<StoredQuality>> PostgresStore::ListQuality(const std::string& tenant_id, RecordKind kind,
                                                              const std::vector<RecordRef>& records) {
  if (static_cast<int64_t>(records.size()) > kMaxPage) {
    return InvalidArgument("at most 1000 records per quality look-up");
  }
  if (records.empty()) return std::vector<StoredQuality>{};
  std::vector<std::string_view> sources, ids;
  for (const RecordRef& ref : records) {
    sources.push_back(ref.source);
    ids.push_back(ref.id);
  }
  // record_keys gives each record's start_at, so each look-up touches the
  // one partition that holds the record.
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<StoredQuality>> {
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows,
        tx.Exec("SELECT r.ord, " PARLEY_PG_QUALITY_COLUMNS
                " FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS r(source, id, ord)"
                " JOIN record_keys k ON k.tenant_id = $1 AND k.kind = $4 AND k.source = r.source"
                "  AND k.record_id = r.id"
                " JOIN quality_samples q ON q.tenant_id = $1 AND q.start_at = k.start_at AND q.source = r.source"
                "  AND q.record_kind = $4 AND q.record_id = r.id"
                " ORDER BY r.ord, q.party, q.direction, q.media",
                Params().Text(tenant_id).TextArray(sources).TextArray(ids).Text(RecordKindName(kind))));
    std::vector<StoredQuality> out;
    out.reserve(static_cast<size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) {
      const RecordRef& ref = records[static_cast<size_t>(rows.Int(i, 0) - 1)];
      StoredQuality q;
      q.kind = kind;
      q.source = ref.source;
      q.record_id = ref.id;
      q.sample = ReadQuality(rows, i, 1);
      out.push_back(std::move(q));
    }
    return out;
  });
}

// ---- Audit log ----

Result<AuditEntry> PostgresStore::AppendAudit(const AuditEntry& draft, const std::string& genesis_hash,
                                              const AuditSealer& seal) {
  // The chain id is the tenant the policies see (a tenant id or "platform").
  return Write(ForTenant(draft.tenant_id), [&](Tx& tx) -> Result<AuditEntry> {
    // One appender per chain at a time, including the chain's first entry
    // (no head row to lock yet): concurrent appends never fork a chain.
    PARLEY_TRY(tx.Exec("SELECT pg_advisory_xact_lock(hashtext('parley_audit:' || $1))", Params().Text(draft.tenant_id)));
    AuditEntry e = draft;
    PARLEY_ASSIGN_OR_RETURN(Rows head, tx.Exec("SELECT seq, entry_hash FROM chain_heads WHERE tenant_id = $1",
                                               Params().Text(e.tenant_id)));
    if (!head.empty()) {
      e.seq = head.Int(0, 0) + 1;
      e.prev_hash = head.Text(0, 1);
    } else {
      e.seq = 1;
      e.prev_hash = genesis_hash;
    }
    PARLEY_ASSIGN_OR_RETURN(e.entry_hash, seal(e));
    PARLEY_TRY(tx.Exec("INSERT INTO audit_log (" PARLEY_PG_AUDIT_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                       Params()
                           .Text(e.tenant_id)
                           .Int(e.seq)
                           .Int(e.at)
                           .Text(e.actor)
                           .Text(e.action)
                           .Text(e.target)
                           .Text(e.outcome)
                           .Text(e.details_json)
                           .Text(e.prev_hash)
                           .Text(e.entry_hash)));
    PARLEY_TRY(tx.Exec("INSERT INTO chain_heads (tenant_id, seq, entry_hash) VALUES ($1, $2, $3)"
                       " ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, entry_hash = excluded.entry_hash",
                       Params().Text(e.tenant_id).Int(e.seq).Text(e.entry_hash)));
    return e;
  });
}

Result<std::vector<AuditEntry>> PostgresStore::ListAudit(const std::string& tenant_id, bool newest_first,
                                                         int64_t seq_bound, int64_t limit) {
  if (limit < 1 || limit > kMaxAuditPage) return InvalidArgument("audit page limit must be 1..1000");
  std::string sql = "SELECT " PARLEY_PG_AUDIT_COLUMNS " FROM audit_log WHERE tenant_id = $1";
  sql += newest_first ? " AND ($2 = 0 OR seq < $2) ORDER BY seq DESC LIMIT $3" : " AND seq > $2 ORDER BY seq ASC LIMIT $3";
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<AuditEntry>> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec(sql, Params().Text(tenant_id).Int(seq_bound).Int(limit)));
    return ReadAll<AuditEntry>(rows, ReadAuditEntry);
  });
}

Result<std::optional<AuditChainHead>> PostgresStore::GetAuditHead(const std::string& tenant_id) {
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::optional<AuditChainHead>> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("SELECT seq, entry_hash FROM chain_heads WHERE tenant_id = $1",
                                               Params().Text(tenant_id)));
    if (rows.empty()) return std::optional<AuditChainHead>();
    return std::optional<AuditChainHead>(AuditChainHead{rows.Int(0, 0), rows.Text(0, 1)});
  });
}

Result<std::vector<std::string>> PostgresStore::ListAuditChains() {
  return Read(NoTenant(), [&](Tx& tx) -> Result<std::vector<std::string>> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("SELECT c FROM parley_audit_chains() AS c ORDER BY c COLLATE \"C\""));
    return ReadAll<std::string>(rows, [](const Rows& r, int i) { return r.Text(i, 0); });
  });
}

// ---- Retention ----

namespace {

constexpr const char* kRecordTables = "'calls', 'conferences', 'participants', 'quality_samples'";

// What parley_drop_partitions_before(boundary) would drop, counted row by
// row: the partition count from the catalog (the function's own test of a
// partition's upper bound), the rows tenant by tenant under the ordinary
// row-level security (the application role sees one tenant at a time).
Result<RetentionResult> CountExpired(Tx& tx, int64_t boundary) {
  RetentionResult out;
  out.boundary = boundary;
  PARLEY_ASSIGN_OR_RETURN(
      Rows parts,
      tx.Exec(std::string("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                          " JOIN pg_class p ON p.oid = i.inhparent"
                          " WHERE p.relname IN (") +
                  kRecordTables +
                  ") AND p.relnamespace = 'public'::regnamespace"
                  " AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''?(-?[0-9]+)''?\\)'))[1]::bigint"
                  " <= $1",
              Params().Int(boundary)));
  out.partitions = parts.Int(0, 0);
  PARLEY_ASSIGN_OR_RETURN(Rows ids, tx.Exec("SELECT id FROM parley_tenant_ids() AS id"));
  for (int i = 0; i < ids.size(); ++i) {
    const std::string tenant = ids.Text(i, 0);
    PARLEY_TRY(tx.Exec("SELECT set_config('parley.tenant_id', $1, true)", Params().Text(tenant)));
    PARLEY_ASSIGN_OR_RETURN(
        Rows n, tx.Exec("SELECT (SELECT count(*) FROM calls WHERE tenant_id = $1 AND start_at < $2),"
                        " (SELECT count(*) FROM conferences WHERE tenant_id = $1 AND start_at < $2),"
                        " (SELECT count(*) FROM participants WHERE tenant_id = $1 AND start_at < $2),"
                        " (SELECT count(*) FROM quality_samples WHERE tenant_id = $1 AND start_at < $2),"
                        // Terms, one per array element, as SQLite counts them:
                        // the calls' in their rows, the participants' in pii_docs.
                        " (SELECT coalesce(sum(cardinality(terms)), 0) FROM calls WHERE tenant_id = $1"
                        "  AND start_at < $2)"
                        " + (SELECT coalesce(sum(cardinality(terms)), 0) FROM pii_docs WHERE tenant_id = $1"
                        "  AND record_kind = 'participant' AND start_at < $2)",
                        Params().Text(tenant).Int(boundary)));
    out.calls += n.Int(0, 0);
    out.conferences += n.Int(0, 1);
    out.participants += n.Int(0, 2);
    out.quality_samples += n.Int(0, 3);
    out.search_terms += n.Int(0, 4);
  }
  PARLEY_TRY(tx.Exec("SELECT set_config('parley.tenant_id', '', true)"));
  return out;
}

}  // namespace

Result<RetentionResult> PostgresStore::CountRecordsBefore(int64_t cutoff) {
  return Read(NoTenant(), [&](Tx& tx) { return CountExpired(tx, RetentionBoundary(cutoff)); });
}

Result<RetentionResult> PostgresStore::DropRecordsBefore(int64_t cutoff) {
  // Counted and dropped in one transaction. A partition is dropped whole
  // (its month ends at or before the boundary), so the rows counted in it
  // are the rows that go, bar a late record committed between the two.
  PARLEY_ASSIGN_OR_RETURN(RetentionResult out, Write(NoTenant(), [&](Tx& tx) -> Result<RetentionResult> {
                            PARLEY_ASSIGN_OR_RETURN(RetentionResult counted,
                                                    CountExpired(tx, RetentionBoundary(cutoff)));
                            PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("SELECT parley_drop_partitions_before($1)",
                                                                       Params().Int(counted.boundary)));
                            counted.partitions = rows.Int(0, 0);
                            return counted;
                          }));
  // A dropped month needs its partitions created again before a batch uses it.
  std::lock_guard lock(months_mu_);
  known_months_.clear();
  return out;
}

// ---- Quarantine ----

Result<std::vector<QuarantineEntry>> PostgresStore::ListQuarantine(const std::string& tenant_id) {
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<QuarantineEntry>> {
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows, tx.Exec("SELECT agent_id, source, record_type, reason, count, first_seen, last_seen FROM quarantine"
                           " WHERE tenant_id = $1"
                           " ORDER BY last_seen DESC, agent_id, source, record_type, reason LIMIT 1000",
                           Params().Text(tenant_id)));
    return ReadAll<QuarantineEntry>(rows, [](const Rows& r, int i) {
      return QuarantineEntry{r.Text(i, 0), r.Text(i, 1), r.Text(i, 2), r.Text(i, 3),
                             r.Int(i, 4),  r.Int(i, 5),  r.Int(i, 6)};
    });
  });
}

// ---- Rollups (the same arithmetic as the SQLite backend: store/rollup.cpp) ----

namespace {

// Reads kRollupColumns of row `i` starting at column `first` (only the
// usage ones without `with_quality`: detail::RollupReadColumns).
Result<UsageAggregate> ReadPgUsage(const Rows& r, int i, int first, bool with_quality = true) {
  UsageAggregate u;
  u.calls = r.Int(i, first + 0);
  u.completed = r.Int(i, first + 1);
  u.failed = r.Int(i, first + 2);
  u.seconds = r.Int(i, first + 3);
  if (!with_quality) return u;
  QualityAggregate& q = u.quality;
  q.loss_pct_sum = r.OptDouble(i, first + 4).value_or(0);
  q.loss_n = r.Int(i, first + 5);
  q.jitter_ms_sum = r.OptDouble(i, first + 6).value_or(0);
  q.jitter_n = r.Int(i, first + 7);
  q.latency_ms_sum = r.OptDouble(i, first + 8).value_or(0);
  q.latency_n = r.Int(i, first + 9);
  q.mos_sum = r.OptDouble(i, first + 10).value_or(0);
  q.mos_n = r.Int(i, first + 11);
  auto jitter = QuantileSketch::Decode(r.Text(i, first + 12));
  auto latency = QuantileSketch::Decode(r.Text(i, first + 13));
  if (!jitter || !latency) return Internal("a rollup row holds a malformed quantile sketch");
  q.jitter_ms = std::move(*jitter);
  q.latency_ms = std::move(*latency);
  return u;
}

}  // namespace

namespace {

// The touched rows of one rollup table, in the delta's (key) order.
struct UsageRows {
  RollupGrain grain;
  std::vector<int64_t> dims, buckets;
  std::vector<std::string_view> keys;
  std::vector<UsageAggregate> adds;
};

std::vector<UsageRows> UsageRowsByTable(const detail::RollupDelta& delta) {
  std::vector<UsageRows> tables;
  for (const auto& [k, add] : delta.usage) {
    const auto& [grain, dimension, key, bucket] = k;
    if (tables.empty() || tables.back().grain != grain) tables.push_back(UsageRows{grain, {}, {}, {}, {}});
    UsageRows& t = tables.back();
    t.dims.push_back(static_cast<int64_t>(dimension));
    t.keys.push_back(key);
    t.buckets.push_back(bucket);
    t.adds.push_back(add);
  }
  return tables;
}

// `unnest(...) WITH ORDINALITY AS k(...)`: the keys in the order given.
// CROSS JOIN LATERAL over it (with FOR UPDATE or OFFSET 0 inside, so the
// planner cannot flatten it) reads each key with its own primary-key probe
// in that order: a hash join over the whole table, which the planner picks
// for a plain join with an array, made the batch slower than a probe each.
constexpr const char* kUsageKeys =
    " unnest($2::bigint[], $3::text[], $4::bigint[]) WITH ORDINALITY AS k(d, key, b, n)";
constexpr const char* kHourKeys = " unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS k(s, h, n)";

}  // namespace

Status PostgresStore::ReplaceRollups(const std::string& tenant_id, int64_t from,
                                     const std::function<Result<detail::RollupDelta>()>& recompute) {
  // `recompute` reads through other connections of the pool while this one
  // holds the lock.
  if (options_.pool_size < 2) return FailedPrecondition("rebuilding rollups needs a pool of at least 2 connections");
  return Write(ForTenant(tenant_id), [&](Tx& tx) -> Status {
    // Taken before the raw records are read. It conflicts with the ROW
    // EXCLUSIVE lock of every write, so a batch (of any tenant) that has not
    // yet updated its rollups waits until this transaction ends, and one
    // that has is committed first and read: none is lost or counted twice.
    // Reads (ACCESS SHARE) go on.
    PARLEY_TRY(tx.Exec("LOCK TABLE rollup_hour, rollup_day, concurrency_minute, concurrency_hour"
                       " IN SHARE ROW EXCLUSIVE MODE"));
    PARLEY_ASSIGN_OR_RETURN(const detail::RollupDelta delta, recompute());
    const Params range = Params().Text(tenant_id).Int(from);
    PARLEY_TRY(tx.Exec("DELETE FROM rollup_hour WHERE tenant_id = $1 AND bucket >= $2", range));
    PARLEY_TRY(tx.Exec("DELETE FROM rollup_day WHERE tenant_id = $1 AND bucket >= $2",
                       Params().Text(tenant_id).Int(detail::FirstDayFrom(from))));
    PARLEY_TRY(tx.Exec("DELETE FROM concurrency_minute WHERE tenant_id = $1 AND minute >= $2", range));
    PARLEY_TRY(tx.Exec("DELETE FROM concurrency_hour WHERE tenant_id = $1 AND hour >= $2", range));
    return ApplyRollups(tx, tenant_id, delta);
  });
}

// Concurrent batches (other connections, other servers) may touch the same
// rows: each row is created if missing, then locked (FOR UPDATE) before it
// is read and rewritten, always in key order (rollup rows, then
// concurrency hours), so two transactions serialize instead of losing an
// update or deadlocking. A concurrency hour is locked before its minutes
// change, so its recomputation sees every committed minute.
//
// A few statements per table for the whole batch, each over arrays of the
// touched keys, sent in two pipelines (Connection::ExecPipeline): the first
// creates, locks and reads the rollup rows, locks the hours, adds the
// minutes' deltas and reads the hours' minutes; the second writes the merged
// rows and the hours' peaks. Before, a batch cost a round trip per rollup
// row, minute and hour statement (hundreds per batch).
Status PostgresStore::ApplyRollups(Tx& tx, const std::string& tenant_id, const detail::RollupDelta& delta) {
  const std::vector<UsageRows> tables = UsageRowsByTable(delta);
  const std::set<std::pair<std::string, int64_t>> hours = detail::ConcurrencyHours(delta);
  std::vector<std::string_view> hour_sources, minute_sources;
  std::vector<int64_t> hour_starts, minutes, minute_deltas;
  for (const auto& [source, hour] : hours) hour_sources.push_back(source), hour_starts.push_back(hour);
  for (const auto& [k, d] : delta.concurrency) {
    minute_sources.push_back(k.first);
    minutes.push_back(k.second);
    minute_deltas.push_back(d);
  }

  std::vector<Statement> reads;
  const std::string empty_sketch = QuantileSketch().Encode();
  for (const UsageRows& t : tables) {
    const std::string table = detail::RollupTable(t.grain);
    reads.push_back({"INSERT INTO " + table + " (tenant_id, dimension, key, bucket, " + detail::kRollupColumns +
                         ") SELECT $1, k.d, k.key, k.b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, $5, $5 FROM" + kUsageKeys +
                         " ORDER BY k.n ON CONFLICT (tenant_id, dimension, key, bucket) DO NOTHING",
                     Params().Text(tenant_id).IntArray(t.dims).TextArray(t.keys).IntArray(t.buckets).Text(empty_sketch)});
    reads.push_back({std::string("SELECT k.n, r.* FROM") + kUsageKeys + " CROSS JOIN LATERAL (SELECT " +
                         detail::kRollupColumns + " FROM " + table +
                         " WHERE tenant_id = $1 AND dimension = k.d AND key = k.key AND bucket = k.b FOR UPDATE) r",
                     Params().Text(tenant_id).IntArray(t.dims).TextArray(t.keys).IntArray(t.buckets)});
  }
  size_t minutes_read = 0;  // position of the hours' minutes read in `reads`
  if (!hours.empty()) {
    const Params hour_keys = Params().Text(tenant_id).TextArray(hour_sources).IntArray(hour_starts);
    reads.push_back({std::string("INSERT INTO concurrency_hour (tenant_id, source, hour, net, peak_rel)"
                                 " SELECT $1, k.s, k.h, 0, 0 FROM") + kHourKeys +
                         " ORDER BY k.n ON CONFLICT (tenant_id, source, hour) DO NOTHING",
                     hour_keys});
    reads.push_back({std::string("SELECT k.n FROM") + kHourKeys +
                         " CROSS JOIN LATERAL (SELECT 1 FROM concurrency_hour WHERE tenant_id = $1 AND source = k.s"
                         " AND hour = k.h FOR UPDATE) c",
                     hour_keys});
    reads.push_back({"INSERT INTO concurrency_minute (tenant_id, source, minute, delta)"
                     " SELECT $1, k.s, k.m, k.d FROM unnest($2::text[], $3::bigint[], $4::bigint[])"
                     " WITH ORDINALITY AS k(s, m, d, n) ORDER BY k.n ON CONFLICT (tenant_id, source, minute)"
                     " DO UPDATE SET delta = concurrency_minute.delta + excluded.delta",
                     Params().Text(tenant_id).TextArray(minute_sources).IntArray(minutes).IntArray(minute_deltas)});
    minutes_read = reads.size();
    reads.push_back({std::string("SELECT k.n, m.minute, m.delta FROM") + kHourKeys +
                         " CROSS JOIN LATERAL (SELECT minute, delta FROM concurrency_minute WHERE tenant_id = $1"
                         " AND source = k.s AND minute >= k.h AND minute < k.h + 3600 OFFSET 0) m",
                     hour_keys});
  }
  if (reads.empty()) return Ok();
  PARLEY_ASSIGN_OR_RETURN(std::vector<Rows> answers, tx.ExecPipeline(reads));

  std::vector<Statement> writes;
  for (size_t ti = 0; ti < tables.size(); ++ti) {
    const UsageRows& t = tables[ti];
    const Rows& stored = answers[2 * ti + 1];
    if (static_cast<size_t>(stored.size()) != t.adds.size()) return Internal("store: a rollup row vanished");
    std::vector<int64_t> calls, completed, failed, seconds, loss_n, jitter_n, latency_n, mos_n;
    std::vector<double> loss_sum, jitter_sum, latency_sum, mos_sum;
    std::vector<std::string> jitter_sketch, latency_sketch;
    std::vector<UsageAggregate> merged(t.adds.size());
    for (int i = 0; i < stored.size(); ++i) {
      const int64_t n = stored.Int(i, 0);  // ordinality: 1-based position in the arrays
      if (n < 1 || static_cast<size_t>(n) > merged.size()) return Internal("store: an unexpected rollup row");
      PARLEY_ASSIGN_OR_RETURN(merged[static_cast<size_t>(n - 1)], ReadPgUsage(stored, i, 1));
    }
    for (size_t i = 0; i < merged.size(); ++i) {
      UsageAggregate& u = merged[i];
      u.Merge(t.adds[i]);
      const QualityAggregate& q = u.quality;
      calls.push_back(u.calls), completed.push_back(u.completed), failed.push_back(u.failed);
      seconds.push_back(u.seconds);
      loss_sum.push_back(q.loss_pct_sum), loss_n.push_back(q.loss_n);
      jitter_sum.push_back(q.jitter_ms_sum), jitter_n.push_back(q.jitter_n);
      latency_sum.push_back(q.latency_ms_sum), latency_n.push_back(q.latency_n);
      mos_sum.push_back(q.mos_sum), mos_n.push_back(q.mos_n);
      jitter_sketch.push_back(q.jitter_ms.Encode());
      latency_sketch.push_back(q.latency_ms.Encode());
    }
    Params update;
    update.Text(tenant_id).IntArray(t.dims).TextArray(t.keys).IntArray(t.buckets).IntArray(calls).IntArray(completed)
        .IntArray(failed).IntArray(seconds).DoubleArray(loss_sum).IntArray(loss_n).DoubleArray(jitter_sum)
        .IntArray(jitter_n).DoubleArray(latency_sum).IntArray(latency_n).DoubleArray(mos_sum).IntArray(mos_n)
        .TextArray({jitter_sketch.begin(), jitter_sketch.end()})
        .TextArray({latency_sketch.begin(), latency_sketch.end()});
    // Every row exists and is locked: ON CONFLICT turns each into an update
    // found by a primary-key probe (an UPDATE ... FROM unnest would be
    // planned as a join again).
    writes.push_back({"INSERT INTO " + std::string(detail::RollupTable(t.grain)) + " (tenant_id, dimension, key, bucket, " +
                          detail::kRollupColumns +
                          ") SELECT $1, u.* FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bigint[],"
                          " $6::bigint[], $7::bigint[], $8::bigint[], $9::float8[], $10::bigint[], $11::float8[],"
                          " $12::bigint[], $13::float8[], $14::bigint[], $15::float8[], $16::bigint[], $17::text[],"
                          " $18::text[]) AS u ON CONFLICT (tenant_id, dimension, key, bucket) DO UPDATE SET"
                          " calls = excluded.calls, completed = excluded.completed, failed = excluded.failed,"
                          " seconds = excluded.seconds, loss_pct_sum = excluded.loss_pct_sum,"
                          " loss_n = excluded.loss_n, jitter_ms_sum = excluded.jitter_ms_sum,"
                          " jitter_n = excluded.jitter_n, latency_ms_sum = excluded.latency_ms_sum,"
                          " latency_n = excluded.latency_n, mos_sum = excluded.mos_sum, mos_n = excluded.mos_n,"
                          " jitter_sketch = excluded.jitter_sketch, latency_sketch = excluded.latency_sketch",
                      std::move(update)});
  }
  if (!hours.empty()) {
    const Rows& minute_rows = answers[minutes_read];
    std::vector<std::vector<std::pair<int64_t, int64_t>>> by_hour(hours.size());
    for (int i = 0; i < minute_rows.size(); ++i) {
      const int64_t n = minute_rows.Int(i, 0);
      if (n < 1 || static_cast<size_t>(n) > by_hour.size()) return Internal("store: an unexpected concurrency minute");
      by_hour[static_cast<size_t>(n - 1)].emplace_back(minute_rows.Int(i, 1), minute_rows.Int(i, 2));
    }
    std::vector<int64_t> nets, peaks;
    for (size_t i = 0; i < by_hour.size(); ++i) {
      std::sort(by_hour[i].begin(), by_hour[i].end());
      int64_t net = 0;
      for (const auto& [minute, d] : by_hour[i]) net += d;
      nets.push_back(net);
      peaks.push_back(detail::RelativePeak(hour_starts[i], by_hour[i]));
    }
    writes.push_back({std::string("INSERT INTO concurrency_hour (tenant_id, source, hour, net, peak_rel)"
                                  " SELECT $1, u.* FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS u"
                                  " ON CONFLICT (tenant_id, source, hour) DO UPDATE SET net = excluded.net,"
                                  " peak_rel = excluded.peak_rel"),
                      Params().Text(tenant_id).TextArray(hour_sources).IntArray(hour_starts).IntArray(nets)
                          .IntArray(peaks)});
  }
  PARLEY_TRY(tx.ExecPipeline(writes));
  return Ok();
}

Result<std::vector<RollupRow>> PostgresStore::ListRollups(const std::string& tenant_id, const RollupQuery& q) {
  PARLEY_TRY(detail::CheckRollupQuery(q));
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<RollupRow>> {
    std::string sql = "SELECT key, bucket, " + std::string(detail::RollupReadColumns(q)) + " FROM " +
                      detail::RollupTable(q.grain) +
                      " WHERE tenant_id = $1 AND dimension = $2 AND bucket >= $3 AND bucket < $4";
    Params params;
    params.Text(tenant_id).Int(static_cast<int64_t>(q.dimension)).Int(q.from).Int(q.to);
    if (q.key) {
      sql += " AND key = $5";
      params.Text(*q.key);
    }
    sql += " ORDER BY key COLLATE \"C\", bucket";
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec(sql, params));
    return ReadAll<RollupRow>(rows, [&q](const Rows& r, int i) -> Result<RollupRow> {
      RollupRow row;
      row.key = r.Text(i, 0);
      row.bucket = r.Int(i, 1);
      PARLEY_ASSIGN_OR_RETURN(row.usage, ReadPgUsage(r, i, 2, q.with_quality));
      return row;
    });
  });
}

Result<std::vector<HourlyPeak>> PostgresStore::ListHourlyPeaks(const std::string& tenant_id, const std::string& source,
                                                               int64_t from, int64_t to) {
  PARLEY_TRY(detail::CheckPeakRange(from, to));
  from = detail::FloorTo(from, 3600);
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<HourlyPeak>> {
    PARLEY_ASSIGN_OR_RETURN(
        Rows before, tx.Exec("SELECT COALESCE(SUM(net), 0) FROM concurrency_hour WHERE tenant_id = $1 AND source = $2"
                             " AND hour < $3",
                             Params().Text(tenant_id).Text(source).Int(from)));
    const int64_t level = before.empty() ? 0 : before.Int(0, 0);
    PARLEY_ASSIGN_OR_RETURN(
        Rows hours, tx.Exec("SELECT hour, net, peak_rel FROM concurrency_hour WHERE tenant_id = $1 AND source = $2"
                            " AND hour >= $3 AND hour < $4 ORDER BY hour",
                            Params().Text(tenant_id).Text(source).Int(from).Int(to)));
    std::vector<detail::ConcurrencyHourRow> rows;
    for (int i = 0; i < hours.size(); ++i) rows.push_back({hours.Int(i, 0), hours.Int(i, 1), hours.Int(i, 2)});
    return detail::HourlyPeaksFrom(from, to, level, rows);
  });
}

// ---- Account links (registration and password reset; docs/accounts.md) ----

namespace {

#define PARLEY_PG_ACCOUNT_TOKEN_COLUMNS \
  "token_hash, tenant_id, purpose, user_id, email_index, email_sealed, created_at, expires_at, used_at"

AccountToken ReadAccountToken(const Rows& r, int i) {
  AccountToken t;
  t.token_hash = r.Text(i, 0);
  t.tenant_id = r.Text(i, 1);
  t.purpose = r.Text(i, 2) == "reset" ? AccountTokenPurpose::kReset : AccountTokenPurpose::kRegister;
  t.user_id = r.Text(i, 3);
  t.email_index = r.Text(i, 4);
  t.email_sealed = r.Bytea(i, 5);
  t.created_at = r.Int(i, 6);
  t.expires_at = r.Int(i, 7);
  t.used_at = r.OptInt(i, 8);
  return t;
}

constexpr int64_t kKeepExpiredAccountTokensSeconds = 7 * 24 * 3600;

// Marks an unused, unexpired token of `purpose` used; the WHERE clause is
// the check, so two redemptions cannot both succeed.
Result<AccountToken> ClaimAccountToken(Tx& tx, const std::string& token_hash, AccountTokenPurpose purpose,
                                       int64_t now) {
  PARLEY_ASSIGN_OR_RETURN(
      Rows rows, tx.Exec("UPDATE account_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3"
                         " AND used_at IS NULL AND expires_at > $1 RETURNING " PARLEY_PG_ACCOUNT_TOKEN_COLUMNS,
                         Params().Int(now).Text(token_hash).Text(AccountTokenPurposeName(purpose))));
  if (rows.empty()) return FailedPrecondition("account link is unknown, used or expired");
  return ReadAccountToken(rows, 0);
}

}  // namespace

Status PostgresStore::CreateAccountToken(const AccountToken& token, int64_t now) {
  return Write(ForTenant(token.tenant_id), [&](Tx& tx) -> Status {
    // This tenant's long-expired links (the SQLite backend prunes every
    // tenant's; here each tenant prunes its own under its policy).
    PARLEY_TRY(tx.Exec("DELETE FROM account_tokens WHERE tenant_id = $1 AND expires_at < $2",
                       Params().Text(token.tenant_id).Int(now - kKeepExpiredAccountTokensSeconds)));
    PARLEY_TRY(tx.Exec("INSERT INTO account_tokens (" PARLEY_PG_ACCOUNT_TOKEN_COLUMNS
                       ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                       Params()
                           .Text(token.token_hash)
                           .Text(token.tenant_id)
                           .Text(AccountTokenPurposeName(token.purpose))
                           .Text(token.user_id)
                           .Text(token.email_index)
                           .Bytea(token.email_sealed)
                           .Int(token.created_at)
                           .Int(token.expires_at)
                           .OptInt(token.used_at)));
    return Ok();
  });
}

Result<AccountToken> PostgresStore::GetAccountToken(const std::string& token_hash) {
  return Read(ForTenantOf("parley_tenant_of_account_token", token_hash), [&](Tx& tx) -> Result<AccountToken> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("SELECT " PARLEY_PG_ACCOUNT_TOKEN_COLUMNS
                                               " FROM account_tokens WHERE token_hash = $1",
                                               Params().Text(token_hash)));
    return ReadOne<AccountToken>(rows, "account link", ReadAccountToken);
  });
}

Status PostgresStore::RedeemRegistrationToken(const std::string& token_hash, int64_t now, const User& user) {
  return Write(ForTenantOf("parley_tenant_of_account_token", token_hash), [&](Tx& tx) -> Status {
    PARLEY_ASSIGN_OR_RETURN(AccountToken token, ClaimAccountToken(tx, token_hash, AccountTokenPurpose::kRegister, now));
    if (token.tenant_id != user.tenant_id || token.email_index != user.email_index)
      return InvalidArgument("the user does not match the registration link");
    PARLEY_TRY(tx.Exec("INSERT INTO users (" PARLEY_PG_USER_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
                       Params()
                           .Text(user.tenant_id)
                           .Text(user.id)
                           .Text(user.email_index)
                           .Bytea(user.email_sealed)
                           .Text(user.password_hash)
                           .Text(RoleText(user.role))
                           .Int(user.created_at)));
    return Ok();
  });
}

Result<std::pair<AccountToken, int64_t>> PostgresStore::RedeemResetToken(const std::string& token_hash, int64_t now,
                                                                          const std::string& password_hash) {
  return Write(ForTenantOf("parley_tenant_of_account_token", token_hash),
               [&](Tx& tx) -> Result<std::pair<AccountToken, int64_t>> {
                 PARLEY_ASSIGN_OR_RETURN(AccountToken token,
                                         ClaimAccountToken(tx, token_hash, AccountTokenPurpose::kReset, now));
                 PARLEY_ASSIGN_OR_RETURN(
                     Rows updated, tx.Exec("UPDATE users SET password_hash = $1 WHERE tenant_id = $2 AND id = $3",
                                           Params().Text(password_hash).Text(token.tenant_id).Text(token.user_id)));
                 if (updated.Affected() == 0) return NotFound("user not found");
                 // Every other reset link of this user dies with the password it was sent for.
                 PARLEY_TRY(tx.Exec("UPDATE account_tokens SET used_at = $1 WHERE tenant_id = $2 AND user_id = $3"
                                    " AND purpose = 'reset' AND used_at IS NULL",
                                    Params().Int(now).Text(token.tenant_id).Text(token.user_id)));
                 PARLEY_ASSIGN_OR_RETURN(Rows ended,
                                         tx.Exec("DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2",
                                                 Params().Text(token.tenant_id).Text(token.user_id)));
                 return std::make_pair(std::move(token), ended.Affected());
               });
}


// ---- Sign-in hardening: sessions, tenant edits, TOTP (migration 0008) ----

Result<int64_t> PostgresStore::DeleteUserSessions(const std::string& tenant_id, const std::string& user_id) {
  return Write(ForTenant(tenant_id), [&](Tx& tx) -> Result<int64_t> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2",
                                               Params().Text(tenant_id).Text(user_id)));
    return rows.Affected();
  });
}

Status PostgresStore::UpdateTenant(const Tenant& tenant) {
  return WriteExisting(ForTenant(tenant.id),
                       "UPDATE tenants SET name = $2, domains = $3, time_zone = $4, subscription_end = $5 WHERE id = $1",
                       Params()
                           .Text(tenant.id)
                           .Text(tenant.name)
                           .Text(DomainsToJson(tenant.domains))
                           .Text(tenant.time_zone)
                           .Text(tenant.subscription_end),
                       "tenant");
}

namespace {

#define PARLEY_PG_TOTP_COLUMNS "tenant_id, user_id, secret_sealed, created_at, enabled_at, last_step"
UserTotp ReadTotp(const Rows& r, int i) {
  UserTotp t;
  t.tenant_id = r.Text(i, 0);
  t.user_id = r.Text(i, 1);
  t.secret_sealed = r.Bytea(i, 2);
  t.created_at = r.Int(i, 3);
  t.enabled_at = r.Int(i, 4);
  t.last_step = r.Int(i, 5);
  return t;
}

}  // namespace

Result<UserTotp> PostgresStore::GetUserTotp(const std::string& tenant_id, const std::string& user_id) {
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<UserTotp> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("SELECT " PARLEY_PG_TOTP_COLUMNS
                                               " FROM user_totp WHERE tenant_id = $1 AND user_id = $2",
                                               Params().Text(tenant_id).Text(user_id)));
    return ReadOne<UserTotp>(rows, "totp", ReadTotp);
  });
}

Status PostgresStore::PutPendingTotp(const UserTotp& totp) {
  return Write(ForTenant(totp.tenant_id), [&](Tx& tx) -> Status {
    // Only an unconfirmed secret is replaced: an enabled factor is changed
    // by disabling it first (which needs the password and a code).
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows, tx.Exec("INSERT INTO user_totp (" PARLEY_PG_TOTP_COLUMNS ") VALUES ($1, $2, $3, $4, 0, -1)"
                           " ON CONFLICT (tenant_id, user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed,"
                           " created_at = excluded.created_at, last_step = -1 WHERE user_totp.enabled_at = 0",
                           Params().Text(totp.tenant_id).Text(totp.user_id).Bytea(totp.secret_sealed).Int(totp.created_at)));
    if (rows.Affected() == 0) return FailedPrecondition("two-factor authentication is already enabled");
    return Ok();
  });
}

Status PostgresStore::EnableTotp(const std::string& tenant_id, const std::string& user_id, int64_t step, int64_t now) {
  return Write(ForTenant(tenant_id), [&](Tx& tx) -> Status {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("UPDATE user_totp SET enabled_at = $3, last_step = $4"
                                               " WHERE tenant_id = $1 AND user_id = $2 AND enabled_at = 0",
                                               Params().Text(tenant_id).Text(user_id).Int(now).Int(step)));
    if (rows.Affected() == 0) return FailedPrecondition("no two-factor set-up is waiting for confirmation");
    return Ok();
  });
}

Result<bool> PostgresStore::UseTotpStep(const std::string& tenant_id, const std::string& user_id, int64_t step) {
  return Write(ForTenant(tenant_id), [&](Tx& tx) -> Result<bool> {
    // One conditional UPDATE: of two requests with the same code, one wins.
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("UPDATE user_totp SET last_step = $3 WHERE tenant_id = $1"
                                               " AND user_id = $2 AND enabled_at > 0 AND last_step < $3",
                                               Params().Text(tenant_id).Text(user_id).Int(step)));
    return rows.Affected() == 1;
  });
}

Status PostgresStore::DeleteUserTotp(const std::string& tenant_id, const std::string& user_id) {
  return Write(ForTenant(tenant_id), [&](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("DELETE FROM user_totp WHERE tenant_id = $1 AND user_id = $2",
                       Params().Text(tenant_id).Text(user_id)));
    return Ok();
  });
}


// ---- SAML single sign-on (migration 0009; docs/sso.md) ----

namespace {

#define PARLEY_PG_TENANT_SSO_COLUMNS                                                                \
  "tenant_id, enabled, idp_entity_id, idp_metadata_xml, group_attribute, role_map_json, default_role, " \
  "allow_idp_initiated, updated_at"
TenantSso ReadTenantSso(const Rows& r, int i) {
  TenantSso t;
  t.tenant_id = r.Text(i, 0);
  t.enabled = r.Bool(i, 1);
  t.idp_entity_id = r.Text(i, 2);
  t.idp_metadata_xml = r.Text(i, 3);
  t.group_attribute = r.Text(i, 4);
  t.role_map_json = r.Text(i, 5);
  t.default_role = r.Text(i, 6);
  t.allow_idp_initiated = r.Bool(i, 7);
  t.updated_at = r.Int(i, 8);
  return t;
}

}  // namespace

Result<TenantSso> PostgresStore::GetTenantSso(const std::string& tenant_id) {
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<TenantSso> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("SELECT " PARLEY_PG_TENANT_SSO_COLUMNS
                                               " FROM tenant_sso WHERE tenant_id = $1",
                                               Params().Text(tenant_id)));
    return ReadOne<TenantSso>(rows, "tenant SSO settings", ReadTenantSso);
  });
}

Status PostgresStore::PutTenantSso(const TenantSso& sso) {
  return Write(ForTenant(sso.tenant_id), [&](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("INSERT INTO tenant_sso (" PARLEY_PG_TENANT_SSO_COLUMNS
                       ") VALUES ($1, $2::boolean, $3, $4, $5, $6, $7, $8::boolean, $9)"
                       " ON CONFLICT (tenant_id) DO UPDATE SET enabled = excluded.enabled,"
                       " idp_entity_id = excluded.idp_entity_id, idp_metadata_xml = excluded.idp_metadata_xml,"
                       " group_attribute = excluded.group_attribute, role_map_json = excluded.role_map_json,"
                       " default_role = excluded.default_role, allow_idp_initiated = excluded.allow_idp_initiated,"
                       " updated_at = excluded.updated_at",
                       Params()
                           .Text(sso.tenant_id)
                           .Text(sso.enabled ? "true" : "false")
                           .Text(sso.idp_entity_id)
                           .Text(sso.idp_metadata_xml)
                           .Text(sso.group_attribute)
                           .Text(sso.role_map_json)
                           .Text(sso.default_role)
                           .Text(sso.allow_idp_initiated ? "true" : "false")
                           .Int(sso.updated_at)));
    return Ok();
  });
}

Result<std::vector<TenantSso>> PostgresStore::FindTenantSsoByIdp(const std::string& idp_entity_id) {
  // The tenants first (a SECURITY DEFINER look-up that returns ids only),
  // then each tenant's row under its own policy.
  PARLEY_ASSIGN_OR_RETURN(std::vector<std::string> tenants,
                          Read(NoTenant(), [&](Tx& tx) -> Result<std::vector<std::string>> {
                            PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("SELECT parley_tenants_of_idp($1)",
                                                                       Params().Text(idp_entity_id)));
                            return ReadAll<std::string>(rows, [](const Rows& r, int i) { return r.Text(i, 0); });
                          }));
  std::vector<TenantSso> out;
  for (const std::string& tenant : tenants) {
    auto sso = GetTenantSso(tenant);
    if (!sso.ok()) {
      if (sso.error().code == Code::kNotFound) continue;  // changed meanwhile
      return sso.error();
    }
    if (sso->enabled && sso->idp_entity_id == idp_entity_id) out.push_back(std::move(*sso));
  }
  return out;
}

Status PostgresStore::CreateSamlRequest(const SamlRequest& request, int64_t now) {
  return Write(ForTenant(request.tenant_id), [&](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("DELETE FROM saml_requests WHERE tenant_id = $1 AND expires_at <= $2",
                       Params().Text(request.tenant_id).Int(now)));
    PARLEY_TRY(tx.Exec("INSERT INTO saml_requests (tenant_id, binding_hash, request_id, login_state, expires_at)"
                       " VALUES ($1, $2, $3, $4, $5)",
                       Params()
                           .Text(request.tenant_id)
                           .Text(request.binding_hash)
                           .Text(request.request_id)
                           .Text(request.login_state)
                           .Int(request.expires_at)));
    return Ok();
  });
}

Result<SamlRequest> PostgresStore::ConsumeSamlRequest(const std::string& tenant_id, const std::string& binding_hash,
                                                      int64_t now) {
  PARLEY_ASSIGN_OR_RETURN(
      SamlRequest r, Write(ForTenant(tenant_id), [&](Tx& tx) -> Result<SamlRequest> {
        // DELETE ... RETURNING: the check and the use are one statement.
        PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec("DELETE FROM saml_requests WHERE tenant_id = $1"
                                                   " AND binding_hash = $2 RETURNING request_id, login_state, expires_at",
                                                   Params().Text(tenant_id).Text(binding_hash)));
        if (rows.empty()) return NotFound("SAML request not found");
        SamlRequest req;
        req.tenant_id = tenant_id;
        req.binding_hash = binding_hash;
        req.request_id = rows.Text(0, 0);
        req.login_state = rows.Text(0, 1);
        req.expires_at = rows.Int(0, 2);
        return req;
      }));
  if (r.expires_at <= now) return NotFound("SAML request expired");
  return r;
}

Status PostgresStore::RecordSamlAssertion(const std::string& tenant_id, const std::string& assertion_key,
                                          int64_t keep_until, int64_t now) {
  return Write(ForTenant(tenant_id), [&](Tx& tx) -> Status {
    PARLEY_TRY(tx.Exec("DELETE FROM saml_assertions_seen WHERE tenant_id = $1 AND keep_until < $2",
                       Params().Text(tenant_id).Int(now)));
    // The primary key makes a second insert of the same assertion fail
    // (kAlreadyExists): check and record cannot be separated.
    PARLEY_TRY(tx.Exec("INSERT INTO saml_assertions_seen (tenant_id, assertion_key, keep_until) VALUES ($1, $2, $3)",
                       Params().Text(tenant_id).Text(assertion_key).Int(keep_until)));
    return Ok();
  });
}

// ---- Key rotation (migration 0010) ----

namespace {
std::string PgPlaceholder(int n) { return "$" + std::to_string(n); }
Params& OptionalBytea(Params& p, const std::string& bytes) { return bytes.empty() ? p.Null() : p.Bytea(bytes); }
}  // namespace

Result<std::string> PostgresStore::GetPlatformKey(const std::string& name) {
  return Read(NoTenant(), [&](Tx& tx) -> Result<std::string> {
    PARLEY_ASSIGN_OR_RETURN(Rows rows,
                            tx.Exec("SELECT wrapped FROM platform_keys WHERE name = $1", Params().Text(name)));
    if (rows.empty()) return NotFound("platform key not found");
    return rows.Bytea(0, 0);
  });
}

Status PostgresStore::SwapPlatformKey(const std::string& name, const std::string& expected, const std::string& wrapped,
                                      int64_t now) {
  return Write(NoTenant(), [&](Tx& tx) -> Status {
    Params params;
    params.Text(name).Bytea(wrapped).Int(now);
    if (!expected.empty()) params.Bytea(expected);
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows,
        tx.Exec(expected.empty() ? "INSERT INTO platform_keys (name, wrapped, updated_at) VALUES ($1, $2, $3) "
                                   "ON CONFLICT (name) DO NOTHING"
                                 : "UPDATE platform_keys SET wrapped = $2, updated_at = $3 WHERE name = $1 AND wrapped = $4",
                params));
    if (rows.Affected() == 0) return FailedPrecondition("platform key " + name + " changed meanwhile");
    return Ok();
  });
}

Status PostgresStore::SwapTenantKeys(const std::string& tenant_id, const TenantKeys& expected, const TenantKeys& next) {
  return Write(ForTenant(tenant_id), [&](Tx& tx) -> Status {
    Params params;
    params.Text(tenant_id).Bytea(next.wrapped_data_key);
    OptionalBytea(params, next.retiring_data_key).Int(next.rotation_started_at).Text(next.rotation_cursor);
    params.Bytea(expected.wrapped_data_key);
    OptionalBytea(params, expected.retiring_data_key);
    PARLEY_ASSIGN_OR_RETURN(
        Rows rows, tx.Exec("UPDATE tenants SET wrapped_data_key = $2, retiring_data_key = $3, rotation_started_at = $4,"
                           " rotation_cursor = $5 WHERE id = $1 AND wrapped_data_key = $6"
                           " AND retiring_data_key IS NOT DISTINCT FROM $7::bytea",
                           params));
    if (rows.Affected() == 1) return Ok();
    PARLEY_ASSIGN_OR_RETURN(Rows exists, tx.Exec("SELECT 1 FROM tenants WHERE id = $1", Params().Text(tenant_id)));
    if (exists.empty()) return NotFound("tenant not found");
    return FailedPrecondition("the tenant's keys changed meanwhile");
  });
}

// Calls have no key of their own to walk (migration 0017): record_keys holds
// each call's key once, in key order, with its start_at, and calls_by_start
// finds the row from the four columns. Parameters as detail::ListSealedSql
// and detail::ReplaceSealedSql.
constexpr const char* kListSealedCalls =
    "SELECT k.source, k.record_id, c.pii_sealed FROM record_keys k"
    " JOIN calls c ON c.tenant_id = k.tenant_id AND c.start_at = k.start_at AND c.source = k.source"
    " AND c.call_id = k.record_id"
    " WHERE k.tenant_id = $1 AND k.kind = 'call' AND (k.source, k.record_id) > ($2, $3)"
    " ORDER BY k.source, k.record_id LIMIT $4";
constexpr const char* kReplaceSealedCall =
    "UPDATE calls SET pii_sealed = $1 WHERE pii_sealed = $2 AND tenant_id = $3 AND source = $4 AND call_id = $5"
    " AND start_at = (SELECT start_at FROM record_keys WHERE tenant_id = $3 AND kind = 'call' AND source = $4"
    " AND record_id = $5)";

Result<std::vector<SealedValue>> PostgresStore::ListSealed(const std::string& tenant_id, SealedField field,
                                                           const std::string& after_source,
                                                           const std::string& after_id, int64_t limit) {
  if (limit < 1 || limit > 5000) return InvalidArgument("limit must be between 1 and 5000");
  const bool has_source = detail::ColumnsOf(field).source != nullptr;
  return Read(ForTenant(tenant_id), [&](Tx& tx) -> Result<std::vector<SealedValue>> {
    Params params;
    params.Text(tenant_id);
    if (has_source) params.Text(after_source);
    params.Text(after_id).Int(limit);
    PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec(field == SealedField::kCall ? std::string(kListSealedCalls)
                                                                            : detail::ListSealedSql(field, PgPlaceholder),
                                               params));
    std::vector<SealedValue> out;
    out.reserve(static_cast<size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) out.push_back({rows.Text(i, 0), rows.Text(i, 1), rows.Bytea(i, 2)});
    return out;
  });
}

Result<int64_t> PostgresStore::ReplaceSealed(const std::string& tenant_id, SealedField field,
                                             const std::vector<SealedRewrite>& rewrites) {
  const bool has_source = detail::ColumnsOf(field).source != nullptr;
  const std::string sql =
      field == SealedField::kCall ? std::string(kReplaceSealedCall) : detail::ReplaceSealedSql(field, PgPlaceholder);
  return Write(ForTenant(tenant_id), [&](Tx& tx) -> Result<int64_t> {
    int64_t changed = 0;
    for (const SealedRewrite& r : rewrites) {
      Params params;
      params.Bytea(r.value.sealed).Bytea(r.expected).Text(tenant_id);
      if (has_source) params.Text(r.value.source);
      params.Text(r.value.id);
      PARLEY_ASSIGN_OR_RETURN(Rows rows, tx.Exec(sql, params));
      changed += rows.Affected();
    }
    return changed;
  });
}

}  // namespace parley::store::postgres
