#include "store/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <utility>

#include "store/detail/rollup_delta.h"
#include "store/detail/sealed_fields.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/search_doc_rows.h"
#include "store/sqlite/statement.h"

namespace parley::store::sqlite {
namespace {

constexpr int kBusyTimeoutMs = 5000;
// Upper bound of one page of ListCalls, so a client cannot ask the server to
// materialize a whole tenant in memory.
constexpr int64_t kMaxCallPage = 1000;
// How many calls a party-search page walks newest first before it reads the
// rest from the term index (ListPartyCalls; at least 4 per call of the page).
// A few milliseconds of reading; a party in one call of 20 still fills a
// page of 50 in it.
constexpr int64_t kPartyWalkCalls = 1000;

// The same settings on both connections. synchronous=FULL: in WAL mode
// NORMAL may lose the last commits on power loss, and an acknowledged batch
// must never be lost (the agent keeps no copy).
//
// cache_size (64 MiB instead of SQLite's 2 MiB): a batch inserts into indexes
// keyed by random values (the blind-index terms, call ids), so the pages it
// touches are spread over the whole index; with the default cache most of
// them were read back from the file for every batch.
// wal_autocheckpoint (100,000 pages, ~400 MiB of WAL instead of ~4 MiB): a
// checkpoint copies each page changed since the last one once, however often
// it changed, so checkpointing less often copies the pages every batch
// touches (index leaves, rollups, search-index segments) once per many
// batches. Measured at 1,000,000 calls (docs/performance.md, seventh round):
// 10,000 -> 100,000 pages, +11% ingest rate, server CPU -5%. The WAL file
// keeps its largest size on disk (SQLite reuses it from the start after a
// checkpoint), and opening after a crash replays at most that much.
constexpr const char* kConnectionPragmas =
    "PRAGMA synchronous=FULL;"
    "PRAGMA foreign_keys=ON;"
    "PRAGMA cache_size=-65536;"
    "PRAGMA wal_autocheckpoint=100000;";

void CloseConnection(sqlite3* db) {
  // sqlite3_close_v2 defers the close until every statement is finalized;
  // all of ours are RAII so none should remain.
  if (db != nullptr) sqlite3_close_v2(db);
}

struct ConnectionCloser {
  void operator()(sqlite3* db) const { CloseConnection(db); }
};
using Connection = std::unique_ptr<sqlite3, ConnectionCloser>;

Result<Connection> OpenConnection(const std::string& path, bool reader) {
  sqlite3* raw = nullptr;
  // NOMUTEX: each connection is used under its own std::mutex, so SQLite's
  // internal per-connection mutex would only add cost.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Connection db(raw);
  if (rc != SQLITE_OK) return ConfigError("store.url: cannot open the SQLite database file");
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);

  // journal_mode reports the mode actually in force; a file system without
  // shared memory support would silently keep the rollback journal.
  PARLEY_ASSIGN_OR_RETURN(Statement wal, Statement::Prepare(db.get(), "PRAGMA journal_mode=WAL"));
  PARLEY_ASSIGN_OR_RETURN(const bool row, wal.Step());
  if (!row || wal.ColumnText(0) != "wal") return Internal("sqlite: cannot enable WAL journal mode");
  PARLEY_TRY(wal.Step());
  PARLEY_TRY(ExecStatic(db.get(), kConnectionPragmas));
  if (reader) {
    PARLEY_TRY(ExecStatic(db.get(), "PRAGMA query_only=ON"));
  } else {
    PARLEY_TRY(RegisterSearchDocRows(db.get()));  // SearchDocs::Flush's parley_search_docs(?1)
  }
  return db;
}

// The one value of a prepared, bound COUNT/SUM query.
Result<int64_t> SingleCount(Statement& stmt) {
  PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return Internal("store: COUNT returned no row");
  return stmt.ColumnInt64(0);
}

std::string RoleText(Role role) { return std::string(RoleName(role)); }

Result<Role> RoleFromColumn(const Statement& stmt, int column) {
  const std::optional<Role> role = ParseRole(stmt.ColumnText(column));
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

// Column lists and their readers are kept side by side so they cannot drift.
constexpr const char* kTenantColumns =
    "id, name, domains, wrapped_data_key, created_at, time_zone, subscription_end, platform";
// Read with the key-rotation state (migration 0010), which only SwapTenantKeys writes.
constexpr const char* kTenantReadColumns =
    "id, name, domains, wrapped_data_key, created_at, time_zone, subscription_end, platform, "
    "retiring_data_key, rotation_started_at, rotation_cursor";
Result<Tenant> ReadTenant(const Statement& s) {
  Tenant t;
  t.id = s.ColumnText(0);
  t.name = s.ColumnText(1);
  PARLEY_ASSIGN_OR_RETURN(t.domains, DomainsFromJson(s.ColumnText(2)));
  t.wrapped_data_key = s.ColumnBlob(3);
  t.created_at = s.ColumnInt64(4);
  t.time_zone = s.ColumnText(5);
  t.subscription_end = s.ColumnText(6);
  t.platform = s.ColumnInt64(7) != 0;
  t.retiring_data_key = s.ColumnBlob(8);
  t.rotation_started_at = s.ColumnInt64(9);
  t.rotation_cursor = s.ColumnText(10);
  return t;
}

constexpr const char* kUserColumns = "tenant_id, id, email_index, email_sealed, password_hash, role, created_at";
Result<User> ReadUser(const Statement& s) {
  User u;
  u.tenant_id = s.ColumnText(0);
  u.id = s.ColumnText(1);
  u.email_index = s.ColumnText(2);
  u.email_sealed = s.ColumnBlob(3);
  u.password_hash = s.ColumnText(4);
  PARLEY_ASSIGN_OR_RETURN(u.role, RoleFromColumn(s, 5));
  u.created_at = s.ColumnInt64(6);
  return u;
}

constexpr const char* kSessionColumns =
    "id_hash, tenant_id, user_id, role, csrf_token, created_at, last_seen_at, expires_at";
Result<Session> ReadSession(const Statement& s) {
  Session x;
  x.id_hash = s.ColumnText(0);
  x.tenant_id = s.ColumnText(1);
  x.user_id = s.ColumnText(2);
  PARLEY_ASSIGN_OR_RETURN(x.role, RoleFromColumn(s, 3));
  x.csrf_token = s.ColumnText(4);
  x.created_at = s.ColumnInt64(5);
  x.last_seen_at = s.ColumnInt64(6);
  x.expires_at = s.ColumnInt64(7);
  return x;
}

constexpr const char* kAgentColumns =
    "tenant_id, id, name, cert_fingerprint, created_at, last_heartbeat_at, heartbeat_json";
Agent ReadAgent(const Statement& s) {
  Agent a;
  a.tenant_id = s.ColumnText(0);
  a.id = s.ColumnText(1);
  a.name = s.ColumnText(2);
  a.cert_fingerprint = s.ColumnText(3);
  a.created_at = s.ColumnInt64(4);
  a.last_heartbeat_at = s.ColumnInt64(5);
  a.heartbeat_json = s.ColumnText(6);
  return a;
}

#define PARLEY_CALL_COLUMNS                                                                          \
  "tenant_id, source, call_id, agent_id, start_at, end_at, duration_s, status, protocol, call_type, " \
  "cause, bitrate_kbps, conference_id, orig_model, orig_version, orig_site, dest_model, "             \
  "dest_version, dest_site, pii_sealed, ingested_at"

StoredCall ReadCall(const Statement& s) {
  StoredCall c;
  c.tenant_id = s.ColumnText(0);
  c.source = s.ColumnText(1);
  c.call_id = s.ColumnText(2);
  c.agent_id = s.ColumnText(3);
  c.start_at = s.ColumnInt64(4);
  c.end_at = s.ColumnInt64(5);
  c.duration_s = s.ColumnInt64(6);
  c.status = s.ColumnText(7);
  c.protocol = s.ColumnText(8);
  c.call_type = s.ColumnText(9);
  c.cause = s.ColumnText(10);
  c.bitrate_kbps = s.ColumnInt64(11);
  c.conference_id = s.ColumnText(12);
  c.orig_model = s.ColumnText(13);
  c.orig_version = s.ColumnText(14);
  c.orig_site = s.ColumnText(15);
  c.dest_model = s.ColumnText(16);
  c.dest_version = s.ColumnText(17);
  c.dest_site = s.ColumnText(18);
  c.pii_sealed = s.ColumnBlob(19);
  c.ingested_at = s.ColumnInt64(20);
  return c;
}

#define PARLEY_CONFERENCE_COLUMNS                                                                \
  "tenant_id, source, conference_id, agent_id, start_at, end_at, room, mcu, participants, "          \
  "max_resources_used, scheduled_start, scheduled_end, pii_sealed, ingested_at"

StoredConference ReadConference(const Statement& s) {
  StoredConference c;
  c.tenant_id = s.ColumnText(0);
  c.source = s.ColumnText(1);
  c.conference_id = s.ColumnText(2);
  c.agent_id = s.ColumnText(3);
  c.start_at = s.ColumnInt64(4);
  c.end_at = s.ColumnInt64(5);
  c.room = s.ColumnText(6);
  c.mcu = s.ColumnText(7);
  c.participant_count = s.ColumnInt64(8);
  c.max_resources_used = s.ColumnOptionalInt64(9);
  c.scheduled_start = s.ColumnOptionalInt64(10);
  c.scheduled_end = s.ColumnOptionalInt64(11);
  c.pii_sealed = s.ColumnBlob(12);
  c.ingested_at = s.ColumnInt64(13);
  return c;
}

#define PARLEY_PARTICIPANT_COLUMNS                                                                  \
  "tenant_id, source, participant_id, conference_id, call_id, agent_id, start_at, end_at, duration_s, " \
  "protocol, role, disconnect_reason, model, version, site, pii_sealed, ingested_at"

StoredParticipant ReadParticipant(const Statement& s) {
  StoredParticipant p;
  p.tenant_id = s.ColumnText(0);
  p.source = s.ColumnText(1);
  p.participant_id = s.ColumnText(2);
  p.conference_id = s.ColumnText(3);
  p.call_id = s.ColumnText(4);
  p.agent_id = s.ColumnText(5);
  p.start_at = s.ColumnInt64(6);
  p.end_at = s.ColumnInt64(7);
  p.duration_s = s.ColumnInt64(8);
  p.protocol = s.ColumnText(9);
  p.role = s.ColumnText(10);
  p.disconnect_reason = s.ColumnText(11);
  p.model = s.ColumnText(12);
  p.version = s.ColumnText(13);
  p.site = s.ColumnText(14);
  p.pii_sealed = s.ColumnBlob(15);
  p.ingested_at = s.ColumnInt64(16);
  return p;
}

#define PARLEY_DEVICE_COLUMNS                                                                       \
  "tenant_id, source, id, agent_id, observed_at, device_type, model, version, site, status, "         \
  "registration, timezone, pii_sealed, updated_at"

StoredDevice ReadDevice(const Statement& s) {
  StoredDevice d;
  d.tenant_id = s.ColumnText(0);
  d.source = s.ColumnText(1);
  d.device_id = s.ColumnText(2);
  d.agent_id = s.ColumnText(3);
  d.observed_at = s.ColumnInt64(4);
  d.device_type = s.ColumnText(5);
  d.model = s.ColumnText(6);
  d.version = s.ColumnText(7);
  d.site = s.ColumnText(8);
  d.status = s.ColumnText(9);
  d.registration = s.ColumnText(10);
  d.timezone = s.ColumnText(11);
  d.pii_sealed = s.ColumnBlob(12);
  d.updated_at = s.ColumnInt64(13);
  return d;
}

// The columns after the key prefix (tenant_id, source, record_kind, record_id).
#define PARLEY_QUALITY_COLUMNS                                                                      \
  "party, direction, media, codec, bitrate_kbps, packet_loss_pct_avg, packet_loss_pct_max, "          \
  "jitter_ms_avg, jitter_ms_max, latency_ms_avg, latency_ms_max, mos"

QualitySample ReadQuality(const Statement& s, int first) {
  QualitySample q;
  q.party = s.ColumnText(first + 0);
  q.direction = s.ColumnText(first + 1);
  q.media = s.ColumnText(first + 2);
  q.codec = s.ColumnText(first + 3);
  q.bitrate_kbps = s.ColumnOptionalInt64(first + 4);
  q.packet_loss_pct_avg = s.ColumnOptionalDouble(first + 5);
  q.packet_loss_pct_max = s.ColumnOptionalDouble(first + 6);
  q.jitter_ms_avg = s.ColumnOptionalDouble(first + 7);
  q.jitter_ms_max = s.ColumnOptionalDouble(first + 8);
  q.latency_ms_avg = s.ColumnOptionalDouble(first + 9);
  q.latency_ms_max = s.ColumnOptionalDouble(first + 10);
  q.mos = s.ColumnOptionalDouble(first + 11);
  return q;
}

// A record that names another tenant or agent than its batch is a caller
// bug that would break tenant isolation.
template <typename T>
bool ForeignRecord(const T& record, const BatchCommit& batch) {
  return (!record.tenant_id.empty() && record.tenant_id != batch.tenant_id) ||
         (!record.agent_id.empty() && record.agent_id != batch.agent_id);
}

// Runs a query expected to return at most one row, mapping "no row" to
// kNotFound with `what` ("tenant", "user", ...) and never the key itself.
template <typename T, typename Reader>
Result<T> QueryOne(Statement& stmt, const char* what, Reader read) {
  PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return NotFound(std::string(what) + " not found");
  return read(stmt);
}

// Runs a write whose key must match one row; zero rows changed → kNotFound.
Status RunOnExisting(Statement& stmt, const char* what) {
  PARLEY_TRY(stmt.Run());
  if (stmt.Changes() == 0) return NotFound(std::string(what) + " not found");
  return Ok();
}

Result<int> MaxAppliedVersion(sqlite3* db) {
  PARLEY_ASSIGN_OR_RETURN(Statement stmt,
                          Statement::Prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return Internal("store: cannot read the schema version");
  return static_cast<int>(stmt.ColumnInt64(0));
}

}  // namespace

Result<std::unique_ptr<Store>> SqliteStore::Open(const std::string& path, SqliteOptions options) {
  // Two connections to ":memory:" would be two different databases.
  if (path.empty() || path == ":memory:" || path.starts_with("file:")) {
    return ConfigError("store.url: the SQLite store needs a file path");
  }
  // Create the file ourselves so it is private from the first byte: it holds
  // wrapped keys and password hashes. SQLite gives -wal/-shm the same mode.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ConfigError("store.url: cannot create or open the SQLite database file");
  ::close(fd);

  PARLEY_ASSIGN_OR_RETURN(Connection writer, OpenConnection(path, /*reader=*/false));
  PARLEY_ASSIGN_OR_RETURN(Connection reader, OpenConnection(path, /*reader=*/true));
  std::unique_ptr<SqliteStore> store(new SqliteStore(writer.release(), reader.release(), std::move(options)));
  PARLEY_TRY(store->Migrate());
  return std::unique_ptr<Store>(std::move(store));
}

SqliteStore::SqliteStore(sqlite3* writer, sqlite3* reader, SqliteOptions options)
    : writer_(writer), reader_(reader), options_(std::move(options)) {}

SqliteStore::~SqliteStore() {
  CloseConnection(reader_);
  CloseConnection(writer_);
}

Status SqliteStore::Fault(std::string_view step) {
  if (options_.fault_hook_for_test) return options_.fault_hook_for_test(step);
  return Ok();
}

Status SqliteStore::Migrate() {
  std::lock_guard lock(writer_mu_);
  PARLEY_TRY(ExecStatic(writer_,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version INTEGER NOT NULL PRIMARY KEY,"
                        " applied_at INTEGER NOT NULL) STRICT"));
  const std::span<const Migration> migrations = Migrations();
  const int latest = LatestSchemaVersion();
  // One transaction per migration. The applied version is re-read inside
  // each transaction, so two processes opening a new file at once apply each
  // migration exactly once (the second waits on BEGIN IMMEDIATE, then sees it).
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));
    PARLEY_ASSIGN_OR_RETURN(const int current, MaxAppliedVersion(writer_));
    if (current > latest) {
      return FailedPrecondition("the database schema (version " + std::to_string(current) +
                                ") is newer than this Parley (version " + std::to_string(latest) +
                                "): upgrade Parley");
    }
    if (current == latest) return Ok();  // nothing written; the guard rolls back
    const Migration& next = migrations[static_cast<size_t>(current)];  // versions are 1..latest, contiguous
    const std::string sql(next.sql);
    Status applied = ExecStatic(writer_, sql.c_str());
    if (!applied.ok()) {
      return Internal("migration " + std::string(next.name) + " failed: " + applied.error().detail);
    }
    PARLEY_TRY(Fault("migrate.after_sql"));
    // applied_at comes from SQLite's clock: it is audit metadata only.
    PARLEY_ASSIGN_OR_RETURN(
        Statement record,
        Statement::Prepare(writer_,
                           "INSERT INTO schema_migrations (version, applied_at)"
                           " VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))"));
    record.BindInt64(1, next.version);
    PARLEY_TRY(record.Run());
    PARLEY_TRY(tx.Commit());
  }
}

int SqliteStore::SchemaVersion() {
  std::lock_guard lock(reader_mu_);
  Result<int> version = MaxAppliedVersion(reader_);
  return version.ok() ? *version : -1;
}

Status SqliteStore::Ping() {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(reader_, "SELECT 1 FROM schema_migrations LIMIT 1"));
  PARLEY_TRY(stmt.Step());
  return Ok();
}

// ---- Tenants ----

Status SqliteStore::CreateTenant(const Tenant& tenant) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_,
                         std::string("INSERT INTO tenants (") + kTenantColumns +
                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  stmt.BindText(1, tenant.id)
      .BindText(2, tenant.name)
      .BindText(3, DomainsToJson(tenant.domains))
      .BindBlob(4, tenant.wrapped_data_key)
      .BindInt64(5, tenant.created_at)
      .BindText(6, tenant.time_zone)
      .BindText(7, tenant.subscription_end)
      .BindInt64(8, tenant.platform ? 1 : 0);
  return stmt.Run();
}

Result<Tenant> SqliteStore::GetTenant(const std::string& tenant_id) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, std::string("SELECT ") + kTenantReadColumns + " FROM tenants WHERE id = ?1"));
  stmt.BindText(1, tenant_id);
  return QueryOne<Tenant>(stmt, "tenant", ReadTenant);
}

Result<Tenant> SqliteStore::FindTenantByName(const std::string& name) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, std::string("SELECT ") + kTenantReadColumns + " FROM tenants WHERE name = ?1"));
  stmt.BindText(1, name);
  return QueryOne<Tenant>(stmt, "tenant", ReadTenant);
}

Result<std::vector<Tenant>> SqliteStore::ListTenants() {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, std::string("SELECT ") + kTenantReadColumns + " FROM tenants ORDER BY name, id"));
  std::vector<Tenant> tenants;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    PARLEY_ASSIGN_OR_RETURN(Tenant tenant, ReadTenant(stmt));
    tenants.push_back(std::move(tenant));
  }
  return tenants;
}

// ---- Users ----

Status SqliteStore::CreateUser(const User& user) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_,
                         "INSERT INTO users (tenant_id, id, email_index, email_sealed, password_hash, role, created_at)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  stmt.BindText(1, user.tenant_id)
      .BindText(2, user.id)
      .BindText(3, user.email_index)
      .BindBlob(4, user.email_sealed)
      .BindText(5, user.password_hash)
      .BindText(6, RoleText(user.role))
      .BindInt64(7, user.created_at);
  return stmt.Run();
}

Result<User> SqliteStore::FindUserByEmailIndex(const std::string& email_index) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, std::string("SELECT ") + kUserColumns + " FROM users WHERE email_index = ?1"));
  stmt.BindText(1, email_index);
  return QueryOne<User>(stmt, "user", ReadUser);
}

Result<User> SqliteStore::GetUser(const std::string& tenant_id, const std::string& user_id) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, std::string("SELECT ") + kUserColumns +
                                      " FROM users WHERE tenant_id = ?1 AND id = ?2"));
  stmt.BindText(1, tenant_id).BindText(2, user_id);
  return QueryOne<User>(stmt, "user", ReadUser);
}

Status SqliteStore::SetPassword(const std::string& tenant_id, const std::string& user_id, const std::string& hash) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_, "UPDATE users SET password_hash = ?1 WHERE tenant_id = ?2 AND id = ?3"));
  stmt.BindText(1, hash).BindText(2, tenant_id).BindText(3, user_id);
  return RunOnExisting(stmt, "user");
}

Result<std::vector<User>> SqliteStore::ListUsers(const std::string& tenant_id) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, std::string("SELECT ") + kUserColumns +
                                      " FROM users WHERE tenant_id = ?1 ORDER BY created_at, id"));
  stmt.BindText(1, tenant_id);
  std::vector<User> users;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    PARLEY_ASSIGN_OR_RETURN(User user, ReadUser(stmt));
    users.push_back(std::move(user));
  }
  return users;
}

Status SqliteStore::SetUserRole(const std::string& tenant_id, const std::string& user_id, Role role) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));
  if (role != Role::kTenantAdmin) {
    // Inside the transaction: two admins demoting each other cannot both win.
    PARLEY_ASSIGN_OR_RETURN(
        Statement last,
        Statement::Prepare(writer_,
                           "SELECT COUNT(*), SUM(id = ?2) FROM users WHERE tenant_id = ?1 AND role = 'tenant_admin'"));
    last.BindText(1, tenant_id).BindText(2, user_id);
    PARLEY_ASSIGN_OR_RETURN(const bool row, last.Step());
    if (row && last.ColumnInt64(0) == 1 && last.ColumnInt64(1) == 1)
      return FailedPrecondition("the tenant's last tenant_admin cannot be demoted");
  }
  PARLEY_ASSIGN_OR_RETURN(Statement user,
                          Statement::Prepare(writer_, "UPDATE users SET role = ?1 WHERE tenant_id = ?2 AND id = ?3"));
  user.BindText(1, RoleText(role)).BindText(2, tenant_id).BindText(3, user_id);
  PARLEY_TRY(RunOnExisting(user, "user"));
  PARLEY_ASSIGN_OR_RETURN(
      Statement sessions,
      Statement::Prepare(writer_, "UPDATE sessions SET role = ?1 WHERE tenant_id = ?2 AND user_id = ?3"));
  sessions.BindText(1, RoleText(role)).BindText(2, tenant_id).BindText(3, user_id);
  PARLEY_TRY(sessions.Run());
  return tx.Commit();
}

// ---- Sessions ----

Status SqliteStore::CreateSession(const Session& session) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_, std::string("INSERT INTO sessions (") + kSessionColumns +
                                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  stmt.BindText(1, session.id_hash)
      .BindText(2, session.tenant_id)
      .BindText(3, session.user_id)
      .BindText(4, RoleText(session.role))
      .BindText(5, session.csrf_token)
      .BindInt64(6, session.created_at)
      .BindInt64(7, session.last_seen_at)
      .BindInt64(8, session.expires_at);
  return stmt.Run();
}

Result<Session> SqliteStore::GetSession(const std::string& id_hash) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, std::string("SELECT ") + kSessionColumns + " FROM sessions WHERE id_hash = ?1"));
  stmt.BindText(1, id_hash);
  return QueryOne<Session>(stmt, "session", ReadSession);
}

Status SqliteStore::TouchSession(const std::string& id_hash, int64_t now) {
  std::lock_guard lock(writer_mu_);
  // MAX(): a late, out-of-order touch never moves last_seen_at backwards.
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_, "UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?1) WHERE id_hash = ?2"));
  stmt.BindInt64(1, now).BindText(2, id_hash);
  return RunOnExisting(stmt, "session");
}

Status SqliteStore::DeleteSession(const std::string& id_hash) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(writer_, "DELETE FROM sessions WHERE id_hash = ?1"));
  stmt.BindText(1, id_hash);
  return stmt.Run();  // idempotent: signing out twice is not an error
}

Status SqliteStore::DeleteExpiredSessions(int64_t now, int64_t idle_seconds) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_, "DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at + ?2 <= ?1"));
  stmt.BindInt64(1, now).BindInt64(2, idle_seconds);
  return stmt.Run();
}

// ---- Agents and enrollment ----

Status SqliteStore::CreateEnrollToken(const std::string& token_hash, const std::string& tenant_id,
                                      int64_t expires_at) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_, "INSERT INTO enroll_tokens (token_hash, tenant_id, expires_at) VALUES (?1, ?2, ?3)"));
  stmt.BindText(1, token_hash).BindText(2, tenant_id).BindInt64(3, expires_at);
  return stmt.Run();
}

Result<std::string> SqliteStore::ConsumeEnrollToken(const std::string& token_hash, int64_t now) {
  std::lock_guard lock(writer_mu_);
  // One statement marks the token used and returns its tenant, so the check
  // and the use cannot be separated by another consumer — in this process
  // (writer_mu_) or another one (SQLite's write lock).
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_,
                         "UPDATE enroll_tokens SET used_at = ?1"
                         " WHERE token_hash = ?2 AND used_at IS NULL AND expires_at > ?1"
                         " RETURNING tenant_id"));
  stmt.BindInt64(1, now).BindText(2, token_hash);
  PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
  // One message for every failure: a caller must not learn whether a token
  // exists, expired or was used.
  if (!row) return Unauthenticated("enrollment token is invalid, expired or already used");
  std::string tenant_id = stmt.ColumnText(0);
  PARLEY_TRY(stmt.Run());  // finish the statement so the update completes
  return tenant_id;
}

Status SqliteStore::CreateAgent(const Agent& agent) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_, std::string("INSERT INTO agents (") + kAgentColumns +
                                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  stmt.BindText(1, agent.tenant_id)
      .BindText(2, agent.id)
      .BindText(3, agent.name)
      .BindText(4, agent.cert_fingerprint)
      .BindInt64(5, agent.created_at)
      .BindInt64(6, agent.last_heartbeat_at)
      .BindText(7, agent.heartbeat_json);
  return stmt.Run();
}

Result<Agent> SqliteStore::FindAgentByFingerprint(const std::string& cert_fingerprint) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_,
                         std::string("SELECT ") + kAgentColumns + " FROM agents WHERE cert_fingerprint = ?1"));
  stmt.BindText(1, cert_fingerprint);
  return QueryOne<Agent>(stmt, "agent", [](const Statement& s) -> Result<Agent> { return ReadAgent(s); });
}

Result<std::vector<Agent>> SqliteStore::ListAgents(const std::string& tenant_id) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, std::string("SELECT ") + kAgentColumns +
                                      " FROM agents WHERE tenant_id = ?1 ORDER BY name, id"));
  stmt.BindText(1, tenant_id);
  std::vector<Agent> agents;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    agents.push_back(ReadAgent(stmt));
  }
  return agents;
}

Status SqliteStore::RecordHeartbeat(const std::string& tenant_id, const std::string& agent_id,
                                    const std::string& json, int64_t now) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_,
                         "UPDATE agents SET last_heartbeat_at = ?1, heartbeat_json = ?2"
                         " WHERE tenant_id = ?3 AND id = ?4"));
  stmt.BindInt64(1, now).BindText(2, json).BindText(3, tenant_id).BindText(4, agent_id);
  return RunOnExisting(stmt, "agent");
}

// ---- Ingest ----

namespace {

constexpr const char* kInsertQuality =
    "INSERT INTO quality_samples (tenant_id, source, record_kind, record_id, " PARLEY_QUALITY_COLUMNS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

// `insert` is kInsertQuality, prepared once per batch.
Status InsertQuality(Statement& insert, const std::string& tenant_id, RecordKind kind, const std::string& source,
                     const std::string& record_id, const std::vector<QualitySample>& samples) {
  for (const QualitySample& q : samples) {
    insert.Reset();
    insert.BindText(1, tenant_id)
        .BindText(2, source)
        .BindText(3, RecordKindName(kind))
        .BindText(4, record_id)
        .BindText(5, q.party)
        .BindText(6, q.direction)
        .BindText(7, q.media)
        .BindText(8, q.codec)
        .BindOptionalInt64(9, q.bitrate_kbps)
        .BindOptionalDouble(10, q.packet_loss_pct_avg)
        .BindOptionalDouble(11, q.packet_loss_pct_max)
        .BindOptionalDouble(12, q.jitter_ms_avg)
        .BindOptionalDouble(13, q.jitter_ms_max)
        .BindOptionalDouble(14, q.latency_ms_avg)
        .BindOptionalDouble(15, q.latency_ms_max)
        .BindOptionalDouble(16, q.mos);
    // No ON CONFLICT: the record is new, so a conflict means two samples for
    // one stream in one record, which the wire parser refuses; if one got
    // here anyway the batch fails rather than keep an arbitrary one.
    PARLEY_TRY(insert.Run());
  }
  return Ok();
}

// Runs `insert` (an INSERT ... SELECT ... FROM parley_search_docs(?1)) over
// `rows`, and unbinds them before they go.
Status InsertRows(Statement& insert, const std::vector<SearchDocRow>& rows) {
  insert.Reset();
  insert.BindPointer(1, &rows, kSearchDocRowsPointer);
  const Status inserted = insert.Run();
  insert.Reset();
  return inserted;
}

// A participant's or device's search terms are one row of pii_docs, indexed
// by the FTS5 table pii_terms through triggers (migration 0015; a call's are
// in its own row since 0019, see CallTerms). Its id is (start_at << 24) + n,
// n the next free number of that start second, so the index lists a term's
// records in start order.
//
// A batch's rows reach pii_docs in ONE statement, in id order, read from
// memory by the table-valued function parley_search_docs (search_doc_rows.h;
// until the twelfth round, through a temporary queue table). FTS5 keeps a
// transaction's new terms in memory and writes them out as a segment at
// commit, but also at the end of every statement that writes to it (its
// savepoint release) and at every step back in id. One INSERT per record
// therefore wrote one tiny segment per record, and merging those took a
// fifth of the server's CPU (docs/performance.md).
class SearchDocs {
 public:
  static constexpr int kStartShift = 24;
  // The first id of the records that start in `second`.
  static int64_t FirstId(int64_t second) { return second << kStartShift; }

  static Result<SearchDocs> Prepare(sqlite3* db) {
    PARLEY_ASSIGN_OR_RETURN(Statement last,
                            Statement::Prepare(db, "SELECT id FROM pii_docs WHERE id >= ?1 AND id < ?2"
                                                   " ORDER BY id DESC LIMIT 1"));
    PARLEY_ASSIGN_OR_RETURN(
        Statement insert,
        Statement::Prepare(db, "INSERT INTO pii_docs (id, tenant_id, record_kind, source, record_id, start_at, terms)"
                               " SELECT id, tenant_id, record_kind, source, record_id, start_at, terms"
                               " FROM parley_search_docs(?1) ORDER BY id"));
    return SearchDocs(std::move(last), std::move(insert));
  }

  // A record's terms as pii_docs.terms holds them: checked, a term listed
  // twice kept once, one space between two; "" for none.
  static Result<std::string> Join(const std::vector<std::string>& terms) {
    std::string joined;
    for (auto it = terms.begin(); it != terms.end(); ++it) {
      // The table's CHECK would take "<term> <term>" as two terms, so each
      // is checked here.
      if (!IsSearchTerm(*it)) return InvalidArgument("store: a search term must be 16 lower-case hex digits");
      if (std::find(terms.begin(), it, *it) != it) continue;
      if (!joined.empty()) joined += ' ';
      joined += *it;
    }
    return joined;
  }

  // Join for each record of `records`, in order.
  template <typename Record>
  static Result<std::vector<std::string>> JoinEach(const std::vector<Record>& records) {
    std::vector<std::string> out;
    out.reserve(records.size());
    for (const Record& r : records) {
      PARLEY_ASSIGN_OR_RETURN(std::string joined, Join(r.search_terms));
      out.push_back(std::move(joined));
    }
    return out;
  }

  // Queues a record's joined terms until Flush. Only for a record stored now
  // (or a device state that replaced the stored one), so a resent record
  // adds nothing.
  void Add(const std::string& tenant_id, std::string_view kind, const std::string& source,
           const std::string& record_id, int64_t start_at, std::string joined) {
    if (!joined.empty()) pending_.push_back({start_at, &tenant_id, kind, &source, &record_id, std::move(joined)});
  }

  // Writes the queued rows. REQUIRES: the strings Add referred to are alive;
  // in the transaction of the records.
  Status Flush() {
    if (pending_.empty()) return Ok();
    std::stable_sort(pending_.begin(), pending_.end(),
                     [](const Pending& x, const Pending& y) { return x.start_at < y.start_at; });
    std::vector<SearchDocRow> rows;
    rows.reserve(pending_.size());
    int64_t id = 0;
    for (size_t i = 0; i < pending_.size(); ++i) {
      const Pending& doc = pending_[i];
      if (i == 0 || doc.start_at != pending_[i - 1].start_at) {
        last_.Reset();
        last_.BindInt64(1, FirstId(doc.start_at)).BindInt64(2, FirstId(doc.start_at + 1));
        PARLEY_ASSIGN_OR_RETURN(const bool taken, last_.Step());
        id = taken ? last_.ColumnInt64(0) + 1 : FirstId(doc.start_at);
      } else {
        ++id;
      }
      // 2^24 records starting in one second would spill into the next
      // second's ids; refused (the batch fails whole) rather than stored out
      // of order.
      if (id >= FirstId(doc.start_at + 1)) return Internal("store: more than 2^24 records start in one second");
      rows.push_back({id, *doc.tenant_id, doc.kind, *doc.source, *doc.record_id, doc.start_at, doc.terms});
    }
    const Status inserted = InsertRows(insert_, rows);
    pending_.clear();
    return inserted;
  }

 private:
  struct Pending {
    int64_t start_at;
    const std::string* tenant_id;
    std::string_view kind;
    const std::string* source;
    const std::string* record_id;
    std::string terms;
  };
  SearchDocs(Statement last, Statement insert) : last_(std::move(last)), insert_(std::move(insert)) {}
  Statement last_;
  Statement insert_;
  std::vector<Pending> pending_;
};

// A call's search terms are in its own row (calls.terms), indexed by the FTS5
// table call_terms keyed by the call's id (migration 0019). The writer adds a
// batch's new calls to the index itself, in ONE statement (as SearchDocs, and
// for the same reason: FTS5 writes out a segment at the end of every
// statement that wrote to it); a trigger takes a deleted call's out.
class CallTerms {
 public:
  static Result<CallTerms> Prepare(sqlite3* db) {
    PARLEY_ASSIGN_OR_RETURN(Statement insert,
                            Statement::Prepare(db, "INSERT INTO call_terms (rowid, terms)"
                                                   " SELECT id, terms FROM parley_search_docs(?1) ORDER BY id"));
    return CallTerms(std::move(insert));
  }

  // Queues a call stored now (its id the calls row's), in ascending id
  // order. REQUIRES: `terms` lives until Flush.
  void Add(int64_t id, std::string_view terms) {
    if (terms.empty()) return;
    SearchDocRow row;  // the other columns stay empty: the statement reads these two
    row.id = id;
    row.terms = terms;
    rows_.push_back(row);
  }

  // Indexes the queued calls. REQUIRES: in the transaction that stored them.
  Status Flush() {
    if (rows_.empty()) return Ok();
    const Status inserted = InsertRows(insert_, rows_);
    rows_.clear();
    return inserted;
  }

 private:
  explicit CallTerms(Statement insert) : insert_(std::move(insert)) {}
  Statement insert_;
  std::vector<SearchDocRow> rows_;
};

}  // namespace

// In the batch's write transaction (the writer lock orders batches), so the
// cursor read is the one the batch's own upsert replaces.
Status SqliteStore::CheckExpectedCursors(const BatchCommit& batch) {
  for (const CursorValue& cursor : batch.cursors) {
    if (!cursor.expected) continue;
    PARLEY_ASSIGN_OR_RETURN(
        Statement stored,
        Statement::Prepare(writer_, "SELECT cursor FROM sources WHERE tenant_id = ?1 AND agent_id = ?2 AND name = ?3"));
    stored.BindText(1, batch.tenant_id).BindText(2, batch.agent_id).BindText(3, cursor.source);
    PARLEY_ASSIGN_OR_RETURN(const bool found, stored.Step());
    PARLEY_TRY(CheckExpectedCursor(cursor, found ? std::optional<std::string>(stored.ColumnText(0)) : std::nullopt));
  }
  return Ok();
}

Result<BatchCommitResult> SqliteStore::CommitBatch(const BatchCommit& batch) {
  // Refuse a foreign record before touching the file.
  const bool foreign = std::any_of(batch.calls.begin(), batch.calls.end(),
                                   [&](const auto& r) { return ForeignRecord(r, batch); }) ||
                       std::any_of(batch.conferences.begin(), batch.conferences.end(),
                                   [&](const auto& r) { return ForeignRecord(r, batch); }) ||
                       std::any_of(batch.participants.begin(), batch.participants.end(),
                                   [&](const auto& r) { return ForeignRecord(r, batch); }) ||
                       std::any_of(batch.devices.begin(), batch.devices.end(),
                                   [&](const auto& r) { return ForeignRecord(r, batch); });
  if (foreign) return InvalidArgument("a record's tenant or agent differs from its batch's");

  // What needs no database is done before taking the writer, while it may
  // still be storing another batch: the records' joined search terms, and
  // what the batch adds to the rollups if its calls and participants are all
  // new (they are, unless it repeats records already stored; then the delta
  // is computed again from the new ones only).
  PARLEY_ASSIGN_OR_RETURN(std::vector<std::string> call_terms, SearchDocs::JoinEach(batch.calls));
  PARLEY_ASSIGN_OR_RETURN(std::vector<std::string> participant_terms, SearchDocs::JoinEach(batch.participants));
  detail::RollupDelta all_new;
  for (const StoredCall& c : batch.calls) detail::AddCallToRollups(c, all_new);
  for (const StoredParticipant& p : batch.participants) detail::AddParticipantToRollups(p, all_new);

  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));

  // Inside the transaction, so two servers committing the same retried batch
  // cannot both see it as new.
  PARLEY_ASSIGN_OR_RETURN(
      Statement seen,
      Statement::Prepare(writer_, "SELECT 1 FROM batches WHERE tenant_id = ?1 AND batch_id = ?2"));
  seen.BindText(1, batch.tenant_id).BindText(2, batch.batch_id);
  PARLEY_ASSIGN_OR_RETURN(const bool duplicate, seen.Step());
  if (duplicate) {
    BatchCommitResult seen_before;
    seen_before.duplicate = true;
    return seen_before;  // the guard rolls back: nothing written
  }
  PARLEY_TRY(CheckExpectedCursors(batch));

  BatchCommitResult result;
  PARLEY_ASSIGN_OR_RETURN(Statement insert_quality, Statement::Prepare(writer_, kInsertQuality));
  PARLEY_ASSIGN_OR_RETURN(SearchDocs search_docs, SearchDocs::Prepare(writer_));
  PARLEY_ASSIGN_OR_RETURN(CallTerms new_call_terms, CallTerms::Prepare(writer_));
  std::vector<bool> call_new(batch.calls.size()), participant_new(batch.participants.size());
  PARLEY_ASSIGN_OR_RETURN(
      Statement insert_call,
      Statement::Prepare(writer_, "INSERT INTO calls (" PARLEY_CALL_COLUMNS
                                  ", terms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
                                  " ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)"
                                  " ON CONFLICT (tenant_id, source, call_id) DO NOTHING"));
  // The batch's strings outlive the statements of its records: bound without
  // a copy (BindTextRef) here and in the loops below.
  for (size_t i = 0; i < batch.calls.size(); ++i) {
    const StoredCall& c = batch.calls[i];
    insert_call.Reset();
    insert_call.BindTextRef(1, batch.tenant_id)
        .BindTextRef(2, c.source)
        .BindTextRef(3, c.call_id)
        .BindTextRef(4, batch.agent_id)
        .BindInt64(5, c.start_at)
        .BindInt64(6, c.end_at)
        .BindInt64(7, c.duration_s)
        .BindTextRef(8, c.status)
        .BindTextRef(9, c.protocol)
        .BindTextRef(10, c.call_type)
        .BindTextRef(11, c.cause)
        .BindInt64(12, c.bitrate_kbps)
        .BindTextRef(13, c.conference_id)
        .BindTextRef(14, c.orig_model)
        .BindTextRef(15, c.orig_version)
        .BindTextRef(16, c.orig_site)
        .BindTextRef(17, c.dest_model)
        .BindTextRef(18, c.dest_version)
        .BindTextRef(19, c.dest_site)
        .BindBlobRef(20, c.pii_sealed)
        .BindInt64(21, c.ingested_at != 0 ? c.ingested_at : batch.received_at)
        .BindTextRef(22, call_terms[i]);
    PARLEY_TRY(insert_call.Run());
    // DO NOTHING changes no row: the call came before, in another batch or
    // earlier in this one.
    if (insert_call.Changes() == 1) {
      ++result.inserted;
      call_new[i] = true;
      // The id the insert gave the row (no trigger on calls inserts one).
      new_call_terms.Add(sqlite3_last_insert_rowid(writer_), call_terms[i]);
      PARLEY_TRY(InsertQuality(insert_quality, batch.tenant_id, RecordKind::kCall, c.source, c.call_id, c.quality));
    } else {
      ++result.already_present;
    }
  }
  PARLEY_TRY(new_call_terms.Flush());
  PARLEY_TRY(Fault("commit_batch.after_calls"));

  if (!batch.conferences.empty()) {
    PARLEY_ASSIGN_OR_RETURN(
        Statement insert_conference,
        Statement::Prepare(writer_, "INSERT INTO conferences (" PARLEY_CONFERENCE_COLUMNS
                                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
                                    " ON CONFLICT (tenant_id, source, conference_id) DO NOTHING"));
    for (const StoredConference& c : batch.conferences) {
      insert_conference.Reset();
      insert_conference.BindTextRef(1, batch.tenant_id)
          .BindTextRef(2, c.source)
          .BindTextRef(3, c.conference_id)
          .BindTextRef(4, batch.agent_id)
          .BindInt64(5, c.start_at)
          .BindInt64(6, c.end_at)
          .BindTextRef(7, c.room)
          .BindTextRef(8, c.mcu)
          .BindInt64(9, c.participant_count)
          .BindOptionalInt64(10, c.max_resources_used)
          .BindOptionalInt64(11, c.scheduled_start)
          .BindOptionalInt64(12, c.scheduled_end)
          .BindBlobRef(13, c.pii_sealed)
          .BindInt64(14, c.ingested_at != 0 ? c.ingested_at : batch.received_at);
      PARLEY_TRY(insert_conference.Run());
      if (insert_conference.Changes() == 1) {
        ++result.inserted;
      } else {
        ++result.already_present;
      }
    }
  }
  PARLEY_TRY(Fault("commit_batch.after_conferences"));

  if (!batch.participants.empty()) {
    PARLEY_ASSIGN_OR_RETURN(
        Statement insert_participant,
        Statement::Prepare(writer_, "INSERT INTO participants (" PARLEY_PARTICIPANT_COLUMNS
                                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
                                    " ?16, ?17)"
                                    " ON CONFLICT (tenant_id, source, participant_id) DO NOTHING"));
    for (size_t i = 0; i < batch.participants.size(); ++i) {
      const StoredParticipant& p = batch.participants[i];
      insert_participant.Reset();
      insert_participant.BindTextRef(1, batch.tenant_id)
          .BindTextRef(2, p.source)
          .BindTextRef(3, p.participant_id)
          .BindTextRef(4, p.conference_id)
          .BindTextRef(5, p.call_id)
          .BindTextRef(6, batch.agent_id)
          .BindInt64(7, p.start_at)
          .BindInt64(8, p.end_at)
          .BindInt64(9, p.duration_s)
          .BindTextRef(10, p.protocol)
          .BindTextRef(11, p.role)
          .BindTextRef(12, p.disconnect_reason)
          .BindTextRef(13, p.model)
          .BindTextRef(14, p.version)
          .BindTextRef(15, p.site)
          .BindBlobRef(16, p.pii_sealed)
          .BindInt64(17, p.ingested_at != 0 ? p.ingested_at : batch.received_at);
      PARLEY_TRY(insert_participant.Run());
      if (insert_participant.Changes() == 1) {
        ++result.inserted;
        participant_new[i] = true;
        PARLEY_TRY(InsertQuality(insert_quality, batch.tenant_id, RecordKind::kParticipant, p.source,
                                 p.participant_id, p.quality));
        search_docs.Add(batch.tenant_id, "participant", p.source, p.participant_id, p.start_at,
                        std::move(participant_terms[i]));
      } else {
        ++result.already_present;
      }
    }
  }
  // Once for the batch: the new calls' and participants' figures, the new participants' terms.
  if (std::find(call_new.begin(), call_new.end(), false) == call_new.end() &&
      std::find(participant_new.begin(), participant_new.end(), false) == participant_new.end()) {
    PARLEY_TRY(ApplyRollups(batch.tenant_id, all_new));
  } else {
    detail::RollupDelta rollups;
    for (size_t i = 0; i < batch.calls.size(); ++i)
      if (call_new[i]) detail::AddCallToRollups(batch.calls[i], rollups);
    for (size_t i = 0; i < batch.participants.size(); ++i)
      if (participant_new[i]) detail::AddParticipantToRollups(batch.participants[i], rollups);
    PARLEY_TRY(ApplyRollups(batch.tenant_id, rollups));
  }
  PARLEY_TRY(search_docs.Flush());
  PARLEY_TRY(Fault("commit_batch.after_participants"));

  if (!batch.devices.empty()) {
    // The WHERE on DO UPDATE keeps a newer stored observation: batches from
    // two agents, or a late retry, may arrive out of order. Ties keep the
    // stored state, so replaying a batch changes nothing.
    PARLEY_ASSIGN_OR_RETURN(
        Statement upsert_device,
        Statement::Prepare(writer_, "INSERT INTO devices (" PARLEY_DEVICE_COLUMNS
                                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
                                    " ON CONFLICT (tenant_id, source, id) DO UPDATE SET"
                                    " agent_id = excluded.agent_id, observed_at = excluded.observed_at,"
                                    " device_type = excluded.device_type, model = excluded.model,"
                                    " version = excluded.version, site = excluded.site, status = excluded.status,"
                                    " registration = excluded.registration, timezone = excluded.timezone,"
                                    " pii_sealed = excluded.pii_sealed, updated_at = excluded.updated_at"
                                    " WHERE excluded.observed_at > devices.observed_at"));
    PARLEY_ASSIGN_OR_RETURN(
        Statement delete_terms,
        // INDEXED BY: without statistics the planner might walk the rows by
        // id instead.
        Statement::Prepare(writer_, "DELETE FROM pii_docs INDEXED BY pii_docs_devices"
                                    " WHERE tenant_id = ?1 AND record_kind = 'device'"
                                    " AND source = ?2 AND record_id = ?3"));
    for (const StoredDevice& d : batch.devices) {
      upsert_device.Reset();
      upsert_device.BindTextRef(1, batch.tenant_id)
          .BindTextRef(2, d.source)
          .BindTextRef(3, d.device_id)
          .BindTextRef(4, batch.agent_id)
          .BindInt64(5, d.observed_at)
          .BindTextRef(6, d.device_type)
          .BindTextRef(7, d.model)
          .BindTextRef(8, d.version)
          .BindTextRef(9, d.site)
          .BindTextRef(10, d.status)
          .BindTextRef(11, d.registration)
          .BindTextRef(12, d.timezone)
          .BindBlobRef(13, d.pii_sealed)
          .BindInt64(14, d.updated_at != 0 ? d.updated_at : batch.received_at);
      PARLEY_TRY(upsert_device.Run());
      if (upsert_device.Changes() == 1) {
        ++result.inserted;
        // The terms follow the stored state: the old ip's go with it.
        delete_terms.Reset();
        delete_terms.BindText(1, batch.tenant_id).BindText(2, d.source).BindText(3, d.device_id);
        PARLEY_TRY(delete_terms.Run());
        PARLEY_ASSIGN_OR_RETURN(std::string joined, SearchDocs::Join(d.search_terms));
        search_docs.Add(batch.tenant_id, "device", d.source, d.device_id, d.observed_at, std::move(joined));
        PARLEY_TRY(search_docs.Flush());  // now: the same device's next state deletes these
      } else {
        ++result.already_present;
      }
    }
  }
  PARLEY_TRY(Fault("commit_batch.after_devices"));

  PARLEY_ASSIGN_OR_RETURN(
      Statement upsert_cursor,
      Statement::Prepare(writer_,
                         "INSERT INTO sources (tenant_id, agent_id, name, cursor, updated_at)"
                         " VALUES (?1, ?2, ?3, ?4, ?5)"
                         " ON CONFLICT (tenant_id, agent_id, name)"
                         " DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at"));
  for (const CursorValue& cursor : batch.cursors) {
    upsert_cursor.Reset();
    upsert_cursor.BindText(1, batch.tenant_id)
        .BindText(2, batch.agent_id)
        .BindText(3, cursor.source)
        .BindText(4, cursor.value)
        .BindInt64(5, batch.received_at);
    PARLEY_TRY(upsert_cursor.Run());
  }
  PARLEY_TRY(Fault("commit_batch.after_cursors"));

  if (!batch.quarantined.empty()) {
    PARLEY_ASSIGN_OR_RETURN(
        Statement count_refused,
        Statement::Prepare(writer_,
                           "INSERT INTO quarantine (tenant_id, agent_id, source, record_type, reason, count,"
                           " first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
                           " ON CONFLICT (tenant_id, agent_id, source, record_type, reason)"
                           " DO UPDATE SET count = count + excluded.count, last_seen = excluded.last_seen"));
    for (const QuarantineCount& q : batch.quarantined) {
      if (q.count <= 0) return InvalidArgument("quarantine count must be positive");
      count_refused.Reset();
      count_refused.BindText(1, batch.tenant_id)
          .BindText(2, batch.agent_id)
          .BindText(3, q.source)
          .BindText(4, q.record_type)
          .BindText(5, q.reason)
          .BindInt64(6, q.count)
          .BindInt64(7, batch.received_at);
      PARLEY_TRY(count_refused.Run());
    }
  }

  PARLEY_ASSIGN_OR_RETURN(
      Statement insert_batch,
      Statement::Prepare(writer_,
                         "INSERT INTO batches (tenant_id, batch_id, agent_id, digest, received_at, records)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
  insert_batch.BindText(1, batch.tenant_id)
      .BindText(2, batch.batch_id)
      .BindText(3, batch.agent_id)
      .BindText(4, batch.digest)
      .BindInt64(5, batch.received_at)
      .BindInt64(6, static_cast<int64_t>(batch.calls.size() + batch.conferences.size() +
                                         batch.participants.size() + batch.devices.size()));
  PARLEY_TRY(insert_batch.Run());

  PARLEY_TRY(tx.Commit());
  return result;
}

Result<std::vector<CursorValue>> SqliteStore::GetCursors(const std::string& tenant_id, const std::string& agent_id) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_,
                         "SELECT name, cursor FROM sources WHERE tenant_id = ?1 AND agent_id = ?2 ORDER BY name"));
  stmt.BindText(1, tenant_id).BindText(2, agent_id);
  std::vector<CursorValue> cursors;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    cursors.push_back(CursorValue{stmt.ColumnText(0), stmt.ColumnText(1)});
  }
  return cursors;
}

Result<std::vector<QuarantineEntry>> SqliteStore::ListQuarantine(const std::string& tenant_id) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_,
                         "SELECT agent_id, source, record_type, reason, count, first_seen, last_seen"
                         " FROM quarantine WHERE tenant_id = ?1"
                         " ORDER BY last_seen DESC, agent_id, source, record_type, reason LIMIT 1000"));
  stmt.BindText(1, tenant_id);
  std::vector<QuarantineEntry> out;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    out.push_back(QuarantineEntry{stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnText(2), stmt.ColumnText(3),
                                  stmt.ColumnInt64(4), stmt.ColumnInt64(5), stmt.ColumnInt64(6)});
  }
  return out;
}

// ---- Rollups ----

namespace {

using detail::kRollupColumns;
using detail::RollupTable;

// Reads kRollupColumns starting at column `first` (only the usage ones
// without `with_quality`: detail::RollupReadColumns).
Result<UsageAggregate> ReadUsage(const Statement& stmt, int first, bool with_quality = true) {
  UsageAggregate u;
  u.calls = stmt.ColumnInt64(first + 0);
  u.completed = stmt.ColumnInt64(first + 1);
  u.failed = stmt.ColumnInt64(first + 2);
  u.seconds = stmt.ColumnInt64(first + 3);
  if (!with_quality) return u;
  QualityAggregate& q = u.quality;
  q.loss_pct_sum = stmt.ColumnOptionalDouble(first + 4).value_or(0);
  q.loss_n = stmt.ColumnInt64(first + 5);
  q.jitter_ms_sum = stmt.ColumnOptionalDouble(first + 6).value_or(0);
  q.jitter_n = stmt.ColumnInt64(first + 7);
  q.latency_ms_sum = stmt.ColumnOptionalDouble(first + 8).value_or(0);
  q.latency_n = stmt.ColumnInt64(first + 9);
  q.mos_sum = stmt.ColumnOptionalDouble(first + 10).value_or(0);
  q.mos_n = stmt.ColumnInt64(first + 11);
  auto jitter = QuantileSketch::Decode(stmt.ColumnText(first + 12));
  auto latency = QuantileSketch::Decode(stmt.ColumnText(first + 13));
  if (!jitter || !latency) return Internal("a rollup row holds a malformed quantile sketch");
  q.jitter_ms = std::move(*jitter);
  q.latency_ms = std::move(*latency);
  return u;
}

// Binds kRollupColumns to ?first, ?first+1, ...
void BindUsage(Statement& stmt, int first, const UsageAggregate& u) {
  const QualityAggregate& q = u.quality;
  stmt.BindInt64(first + 0, u.calls)
      .BindInt64(first + 1, u.completed)
      .BindInt64(first + 2, u.failed)
      .BindInt64(first + 3, u.seconds)
      .BindDouble(first + 4, q.loss_pct_sum)
      .BindInt64(first + 5, q.loss_n)
      .BindDouble(first + 6, q.jitter_ms_sum)
      .BindInt64(first + 7, q.jitter_n)
      .BindDouble(first + 8, q.latency_ms_sum)
      .BindInt64(first + 9, q.latency_n)
      .BindDouble(first + 10, q.mos_sum)
      .BindInt64(first + 11, q.mos_n)
      .BindText(first + 12, q.jitter_ms.Encode())
      .BindText(first + 13, q.latency_ms.Encode());
}

}  // namespace

Status SqliteStore::ApplyRollups(const std::string& tenant_id, const detail::RollupDelta& delta) {
  for (RollupGrain grain : {RollupGrain::kHour, RollupGrain::kDay}) {
    const std::string table = RollupTable(grain);
    PARLEY_ASSIGN_OR_RETURN(
        Statement read, Statement::Prepare(writer_, "SELECT " + std::string(kRollupColumns) + " FROM " + table +
                                                        " WHERE tenant_id = ?1 AND dimension = ?2 AND key = ?3"
                                                        " AND bucket = ?4"));
    PARLEY_ASSIGN_OR_RETURN(
        Statement write,
        Statement::Prepare(writer_, "INSERT OR REPLACE INTO " + table + " (tenant_id, dimension, key, bucket, " +
                                        kRollupColumns +
                                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
                                        " ?16, ?17, ?18)"));
    for (const auto& [k, add] : delta.usage) {
      const auto& [g, dimension, key, bucket] = k;
      if (g != grain) continue;
      read.Reset();
      read.BindText(1, tenant_id).BindInt64(2, static_cast<int64_t>(dimension)).BindText(3, key).BindInt64(4, bucket);
      PARLEY_ASSIGN_OR_RETURN(const bool found, read.Step());
      UsageAggregate merged = add;
      if (found) {
        PARLEY_ASSIGN_OR_RETURN(UsageAggregate stored, ReadUsage(read, 0));
        stored.Merge(add);
        merged = std::move(stored);
      }
      read.Reset();
      write.Reset();
      write.BindText(1, tenant_id).BindInt64(2, static_cast<int64_t>(dimension)).BindText(3, key).BindInt64(4, bucket);
      BindUsage(write, 5, merged);
      PARLEY_TRY(write.Run());
    }
  }

  if (delta.concurrency.empty()) return Ok();
  PARLEY_ASSIGN_OR_RETURN(
      Statement add_minute,
      Statement::Prepare(writer_,
                         "INSERT INTO concurrency_minute (tenant_id, source, minute, delta) VALUES (?1, ?2, ?3, ?4)"
                         " ON CONFLICT (tenant_id, source, minute) DO UPDATE SET delta = delta + excluded.delta"));
  for (const auto& [k, d] : delta.concurrency) {
    add_minute.Reset();
    add_minute.BindText(1, tenant_id).BindText(2, k.first).BindInt64(3, k.second).BindInt64(4, d);
    PARLEY_TRY(add_minute.Run());
  }
  PARLEY_ASSIGN_OR_RETURN(
      Statement minutes,
      Statement::Prepare(writer_,
                         "SELECT minute, delta FROM concurrency_minute WHERE tenant_id = ?1 AND source = ?2"
                         " AND minute >= ?3 AND minute < ?4 ORDER BY minute"));
  PARLEY_ASSIGN_OR_RETURN(
      Statement write_hour,
      Statement::Prepare(writer_,
                         "INSERT OR REPLACE INTO concurrency_hour (tenant_id, source, hour, net, peak_rel)"
                         " VALUES (?1, ?2, ?3, ?4, ?5)"));
  for (const auto& [source, hour] : detail::ConcurrencyHours(delta)) {
    minutes.Reset();
    minutes.BindText(1, tenant_id).BindText(2, source).BindInt64(3, hour).BindInt64(4, hour + 3600);
    std::vector<std::pair<int64_t, int64_t>> rows;
    int64_t net = 0;
    for (;;) {
      PARLEY_ASSIGN_OR_RETURN(const bool row, minutes.Step());
      if (!row) break;
      rows.emplace_back(minutes.ColumnInt64(0), minutes.ColumnInt64(1));
      net += rows.back().second;
    }
    write_hour.Reset();
    write_hour.BindText(1, tenant_id)
        .BindText(2, source)
        .BindInt64(3, hour)
        .BindInt64(4, net)
        .BindInt64(5, detail::RelativePeak(hour, rows));
    PARLEY_TRY(write_hour.Run());
  }
  return Ok();
}

Status SqliteStore::ReplaceRollups(const std::string& tenant_id, int64_t from,
                                   const std::function<Result<detail::RollupDelta>()>& recompute) {
  std::lock_guard lock(writer_mu_);
  // BEGIN IMMEDIATE takes the database's write lock before the raw records
  // are read (on the reader connection): no batch commits until the rollups
  // are replaced, whether from this process or from a server sharing the
  // file (its batch waits busy_timeout, is answered 503 and is sent again).
  PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));
  PARLEY_ASSIGN_OR_RETURN(const detail::RollupDelta delta, recompute());
  const int64_t days_from = detail::FirstDayFrom(from);
  for (const auto& [sql, cut] : {std::pair{"DELETE FROM rollup_hour WHERE tenant_id = ?1 AND bucket >= ?2", from},
                                 std::pair{"DELETE FROM rollup_day WHERE tenant_id = ?1 AND bucket >= ?2", days_from},
                                 std::pair{"DELETE FROM concurrency_minute WHERE tenant_id = ?1 AND minute >= ?2", from},
                                 std::pair{"DELETE FROM concurrency_hour WHERE tenant_id = ?1 AND hour >= ?2", from}}) {
    PARLEY_ASSIGN_OR_RETURN(Statement erase, Statement::Prepare(writer_, sql));
    erase.BindText(1, tenant_id).BindInt64(2, cut);
    PARLEY_TRY(erase.Run());
  }
  PARLEY_TRY(ApplyRollups(tenant_id, delta));
  return tx.Commit();
}

Result<std::vector<RollupRow>> SqliteStore::ListRollups(const std::string& tenant_id, const RollupQuery& q) {
  PARLEY_TRY(detail::CheckRollupQuery(q));
  std::string sql = "SELECT key, bucket, " + std::string(detail::RollupReadColumns(q)) + " FROM " + RollupTable(q.grain) +
                    " WHERE tenant_id = ?1 AND dimension = ?2 AND bucket >= ?3 AND bucket < ?4";
  if (q.key) sql += " AND key = ?5";
  sql += " ORDER BY key, bucket";
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(reader_, sql));
  stmt.BindText(1, tenant_id).BindInt64(2, static_cast<int64_t>(q.dimension)).BindInt64(3, q.from).BindInt64(4, q.to);
  if (q.key) stmt.BindText(5, *q.key);
  std::vector<RollupRow> out;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    RollupRow r;
    r.key = stmt.ColumnText(0);
    r.bucket = stmt.ColumnInt64(1);
    PARLEY_ASSIGN_OR_RETURN(r.usage, ReadUsage(stmt, 2, q.with_quality));
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<HourlyPeak>> SqliteStore::ListHourlyPeaks(const std::string& tenant_id, const std::string& source,
                                                             int64_t from, int64_t to) {
  PARLEY_TRY(detail::CheckPeakRange(from, to));
  from = detail::FloorTo(from, 3600);
  std::lock_guard lock(reader_mu_);
  // The level at `from`: every change before it.
  PARLEY_ASSIGN_OR_RETURN(
      Statement before,
      Statement::Prepare(reader_,
                         "SELECT COALESCE(SUM(net), 0) FROM concurrency_hour WHERE tenant_id = ?1 AND source = ?2"
                         " AND hour < ?3"));
  before.BindText(1, tenant_id).BindText(2, source).BindInt64(3, from);
  PARLEY_ASSIGN_OR_RETURN(const bool got, before.Step());
  const int64_t level = got ? before.ColumnInt64(0) : 0;
  PARLEY_ASSIGN_OR_RETURN(
      Statement hours,
      Statement::Prepare(reader_,
                         "SELECT hour, net, peak_rel FROM concurrency_hour WHERE tenant_id = ?1 AND source = ?2"
                         " AND hour >= ?3 AND hour < ?4 ORDER BY hour"));
  hours.BindText(1, tenant_id).BindText(2, source).BindInt64(3, from).BindInt64(4, to);
  std::vector<detail::ConcurrencyHourRow> rows;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, hours.Step());
    if (!row) break;
    rows.push_back({hours.ColumnInt64(0), hours.ColumnInt64(1), hours.ColumnInt64(2)});
  }
  return detail::HourlyPeaksFrom(from, to, level, rows);
}

// ---- Calls ----

Result<std::vector<StoredCall>> SqliteStore::ListCalls(const std::string& tenant_id, const CallPageQuery& query) {
  if (query.limit < 1) return InvalidArgument("page size must be at least 1");
  const int64_t limit = std::min(query.limit, kMaxCallPage);

  // Keyset pagination: both forms walk calls_by_start from the tenant's
  // newest row, so a deep page costs the same as the first (no OFFSET scan).
  static constexpr const char* kFirstPage =
      "SELECT " PARLEY_CALL_COLUMNS
      " FROM calls WHERE tenant_id = ?1"
      " ORDER BY start_at DESC, source DESC, call_id DESC LIMIT ?2";
  static constexpr const char* kNextPage =
      "SELECT " PARLEY_CALL_COLUMNS
      " FROM calls WHERE tenant_id = ?1 AND (start_at, source, call_id) < (?3, ?4, ?5)"
      " ORDER BY start_at DESC, source DESC, call_id DESC LIMIT ?2";
  if (query.party_term) return ListPartyCalls(tenant_id, *query.party_term, query.before, limit);

  const char* sql = query.before ? kNextPage : kFirstPage;
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(reader_, sql));
  stmt.BindText(1, tenant_id).BindInt64(2, limit);
  if (query.before) {
    const auto& [start_at, source, call_id] = *query.before;
    stmt.BindInt64(3, start_at).BindText(4, source).BindText(5, call_id);
  }
  std::vector<StoredCall> calls;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    calls.push_back(ReadCall(stmt));
  }
  return calls;
}

namespace {

// The FTS5 query that matches one search term: a phrase of its one token.
// Anything but a term matches nothing (and is not FTS5 syntax).
std::optional<std::string> TermMatch(const std::string& term) {
  if (!IsSearchTerm(term)) return std::nullopt;
  return '"' + term + '"';
}

// Whether `terms` (calls.terms: 16-digit terms, one space between two)
// lists `term`. Every term is 17 characters from the previous one's start.
bool ListsTerm(std::string_view terms, std::string_view term) {
  for (size_t at = 0; at + term.size() <= terms.size(); at += term.size() + 1) {
    if (terms.substr(at, term.size()) == term) return true;
  }
  return false;
}

}  // namespace

Result<std::vector<StoredCall>> SqliteStore::ListPartyCalls(const std::string& tenant_id, const std::string& term,
                                                            const std::optional<CallKey>& before, int64_t limit) {
  // A call's terms are in its row and call_terms lists a term's calls by id,
  // which is arrival order, not start order (migration 0019). So the page is
  // found in up to two steps, from one snapshot:
  //  1. Walk the tenant's calls newest first from the cursor (calls_by_start,
  //     as the unfiltered list does), testing each call's terms, for at most
  //     `walk` calls. A party with many calls fills its page here, reading
  //     only the calls around it however many it has.
  //  2. If the walk ran out of budget before the page was full, the rest are
  //     the party's calls older than the last one walked: all of them read
  //     through call_terms, the newest kept (a party with few calls, or none
  //     lately), then read whole by id. CROSS JOIN: the index drives; driven
  //     from calls, SQLite's planner would scan the tenant's calls. Only the
  //     id goes through the sort: with the whole rows it took twice as long.
  static constexpr const char* kWalk =
      "SELECT " PARLEY_CALL_COLUMNS ", terms FROM calls"
      " WHERE tenant_id = ?1 AND (start_at, source, call_id) < (?2, ?3, ?4)"
      " ORDER BY start_at DESC, source DESC, call_id DESC LIMIT ?5";
  static constexpr const char* kOlder =
      "SELECT c.id FROM call_terms t CROSS JOIN calls c ON c.id = t.rowid"
      " WHERE call_terms MATCH ?1 AND c.tenant_id = ?2 AND (c.start_at, c.source, c.call_id) < (?3, ?4, ?5)"
      " ORDER BY c.start_at DESC, c.source DESC, c.call_id DESC LIMIT ?6";
  const std::optional<std::string> match = TermMatch(term);
  if (!match) return std::vector<StoredCall>{};
  // No cursor: past every call (a key sorts after any with a smaller start).
  const CallKey after_all{std::numeric_limits<int64_t>::max(), "", ""};
  const CallKey& cursor = before ? *before : after_all;
  const int64_t walk = std::max(kPartyWalkCalls, 4 * limit);

  std::lock_guard lock(reader_mu_);
  PARLEY_TRY(ExecStatic(reader_, "BEGIN"));  // both steps from one snapshot
  auto page = [&]() -> Result<std::vector<StoredCall>> {
    std::vector<StoredCall> calls;
    PARLEY_ASSIGN_OR_RETURN(Statement newest, Statement::Prepare(reader_, kWalk));
    newest.BindText(1, tenant_id).BindInt64(2, std::get<0>(cursor)).BindText(3, std::get<1>(cursor));
    newest.BindText(4, std::get<2>(cursor)).BindInt64(5, walk);
    int64_t walked = 0;
    CallKey last_walked;
    for (;;) {
      PARLEY_ASSIGN_OR_RETURN(const bool row, newest.Step());
      if (!row) return calls;  // every call before the cursor was walked
      ++walked;
      // Only a listed call is read whole.
      if (ListsTerm(newest.ColumnText(21), term)) {
        calls.push_back(ReadCall(newest));
        if (static_cast<int64_t>(calls.size()) == limit) return calls;
      }
      if (walked == walk) {
        last_walked = {newest.ColumnInt64(4), newest.ColumnText(1), newest.ColumnText(2)};
        break;
      }
    }
    PARLEY_ASSIGN_OR_RETURN(Statement older, Statement::Prepare(reader_, kOlder));
    older.BindText(1, *match).BindText(2, tenant_id).BindInt64(3, std::get<0>(last_walked));
    older.BindText(4, std::get<1>(last_walked)).BindText(5, std::get<2>(last_walked));
    older.BindInt64(6, limit - static_cast<int64_t>(calls.size()));
    std::vector<int64_t> ids;
    for (;;) {
      PARLEY_ASSIGN_OR_RETURN(const bool row, older.Step());
      if (!row) break;
      ids.push_back(older.ColumnInt64(0));
    }
    PARLEY_ASSIGN_OR_RETURN(Statement by_id,
                            Statement::Prepare(reader_, "SELECT " PARLEY_CALL_COLUMNS " FROM calls WHERE id = ?1"));
    for (const int64_t id : ids) {
      by_id.Reset();
      by_id.BindInt64(1, id);
      PARLEY_ASSIGN_OR_RETURN(const bool row, by_id.Step());
      if (row) calls.push_back(ReadCall(by_id));  // always: same snapshot
    }
    return calls;
  }();
  (void)ExecStatic(reader_, "COMMIT");  // read-only: ending it cannot lose anything
  return page;
}

// ---- Conferences, participants, devices, quality ----

Result<std::vector<StoredConference>> SqliteStore::ListConferences(const std::string& tenant_id,
                                                                   const ConferencePageQuery& query) {
  if (query.limit < 1) return InvalidArgument("page size must be at least 1");
  const int64_t limit = std::min(query.limit, kMaxCallPage);
  // Keyset pagination on conferences_by_start, as for calls. The count is a
  // range scan of participants_by_conference per row.
#define PARLEY_CONFERENCE_SELECT                                                                        \
  "SELECT " PARLEY_CONFERENCE_COLUMNS                                                                   \
  ", (SELECT COUNT(*) FROM participants p WHERE p.tenant_id = conferences.tenant_id"                     \
  " AND p.source = conferences.source AND p.conference_id = conferences.conference_id)"                 \
  " FROM conferences WHERE tenant_id = ?1"
  static constexpr const char* kFirstPage =
      PARLEY_CONFERENCE_SELECT " ORDER BY start_at DESC, source DESC, conference_id DESC LIMIT ?2";
  static constexpr const char* kNextPage =
      PARLEY_CONFERENCE_SELECT
      " AND (start_at, source, conference_id) < (?3, ?4, ?5)"
      " ORDER BY start_at DESC, source DESC, conference_id DESC LIMIT ?2";
#undef PARLEY_CONFERENCE_SELECT

  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(reader_, query.before ? kNextPage : kFirstPage));
  stmt.BindText(1, tenant_id).BindInt64(2, limit);
  if (query.before) {
    const auto& [start_at, source, conference_id] = *query.before;
    stmt.BindInt64(3, start_at).BindText(4, source).BindText(5, conference_id);
  }
  std::vector<StoredConference> conferences;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    StoredConference c = ReadConference(stmt);
    c.stored_participants = stmt.ColumnInt64(14);
    conferences.push_back(std::move(c));
  }
  return conferences;
}

Result<std::vector<StoredParticipant>> SqliteStore::ListParticipants(const std::string& tenant_id,
                                                                     const std::string& source,
                                                                     const std::string& conference_id) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, "SELECT " PARLEY_PARTICIPANT_COLUMNS
                                  " FROM participants WHERE tenant_id = ?1 AND source = ?2 AND conference_id = ?3"
                                  " ORDER BY start_at, participant_id LIMIT ?4"));
  stmt.BindText(1, tenant_id).BindText(2, source).BindText(3, conference_id).BindInt64(4, kMaxCallPage);
  std::vector<StoredParticipant> participants;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    participants.push_back(ReadParticipant(stmt));
  }
  return participants;
}

namespace {

// One keyset page of a tenant's rows of `table` in primary-key order
// (source, `id_column`), after `after` (exclusive): a range seek on the key.
template <typename T>
Result<std::vector<T>> KeyPage(sqlite3* db, const std::string& tenant_id, const char* columns, const char* table,
                               const char* id_column, int64_t limit,
                               const std::optional<std::pair<std::string, std::string>>& after,
                               T (*read)(const Statement&)) {
  if (limit < 1) return InvalidArgument("page size must be at least 1");
  std::string sql = std::string("SELECT ") + columns + " FROM " + table + " WHERE tenant_id = ?1";
  if (after) sql += std::string(" AND (source, ") + id_column + ") > (?3, ?4)";
  sql += std::string(" ORDER BY source, ") + id_column + " LIMIT ?2";
  PARLEY_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, sql));
  stmt.BindText(1, tenant_id).BindInt64(2, std::min(limit, kMaxCallPage));
  if (after) stmt.BindText(3, after->first).BindText(4, after->second);
  std::vector<T> out;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    out.push_back(read(stmt));
  }
  return out;
}

}  // namespace

Result<std::vector<StoredParticipant>> SqliteStore::ListAllParticipants(const std::string& tenant_id,
                                                                        const ParticipantPageQuery& query) {
  std::lock_guard lock(reader_mu_);
  return KeyPage<StoredParticipant>(reader_, tenant_id, PARLEY_PARTICIPANT_COLUMNS, "participants", "participant_id",
                                    query.limit, query.after, &ReadParticipant);
}

Result<std::vector<StoredDevice>> SqliteStore::ListDevices(const std::string& tenant_id, const DevicePageQuery& query) {
  std::lock_guard lock(reader_mu_);
  return KeyPage<StoredDevice>(reader_, tenant_id, PARLEY_DEVICE_COLUMNS, "devices", "id", query.limit, query.after,
                               &ReadDevice);
}

Result<std::vector<StoredQuality>> SqliteStore::ListQuality(const std::string& tenant_id, RecordKind kind,
                                                            const std::vector<RecordRef>& records) {
  if (static_cast<int64_t>(records.size()) > kMaxCallPage) {
    return InvalidArgument("at most 1000 records per quality look-up");
  }
  std::lock_guard lock(reader_mu_);
  // One primary-key range seek per record; the ORDER BY is the key order.
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, "SELECT " PARLEY_QUALITY_COLUMNS
                                  " FROM quality_samples"
                                  " WHERE tenant_id = ?1 AND source = ?2 AND record_kind = ?3 AND record_id = ?4"
                                  " ORDER BY party, direction, media"));
  std::vector<StoredQuality> out;
  for (const RecordRef& ref : records) {
    stmt.Reset();
    stmt.BindText(1, tenant_id).BindText(2, ref.source).BindText(3, RecordKindName(kind)).BindText(4, ref.id);
    for (;;) {
      PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
      if (!row) break;
      StoredQuality q;
      q.kind = kind;
      q.source = ref.source;
      q.record_id = ref.id;
      q.sample = ReadQuality(stmt, 0);
      out.push_back(std::move(q));
    }
  }
  return out;
}

Result<int64_t> SqliteStore::CountCalls(const std::string& tenant_id, const std::optional<std::string>& party_term) {
  std::optional<std::string> match;
  if (party_term) {
    match = TermMatch(*party_term);
    if (!match) return 0;
  }
  // A party's count: the calls call_terms lists under the term that are the
  // tenant's, each call's row read for its tenant (CROSS JOIN: the index
  // drives, as in ListPartyCalls). When the file holds this one tenant only,
  // every call is its (calls.tenant_id is a foreign key to tenants) and the
  // index's own count is the answer, without reading a row per call: ~12x
  // faster for a party in 687,000 calls (docs/performance.md). One
  // statement, so both come from one snapshot.
  static constexpr const char* kPartyCount =
      "SELECT CASE WHEN (SELECT COUNT(*) FROM tenants) = 1 AND EXISTS (SELECT 1 FROM tenants WHERE id = ?1)"
      " THEN (SELECT COUNT(*) FROM call_terms WHERE call_terms MATCH ?2)"
      " ELSE (SELECT COUNT(*) FROM call_terms t CROSS JOIN calls c ON c.id = t.rowid"
      "       WHERE call_terms MATCH ?2 AND c.tenant_id = ?1) END";
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, party_term ? kPartyCount : "SELECT COUNT(*) FROM calls WHERE tenant_id = ?1"));
  stmt.BindText(1, tenant_id);
  if (match) stmt.BindText(2, *match);
  return SingleCount(stmt);
}

}  // namespace parley::store::sqlite

// ---- Audit log ------------------------------------------------------------

namespace parley::store::sqlite {
namespace {

constexpr const char* kAuditColumns =
    "tenant_id, seq, at, actor, action, target, outcome, details_json, prev_hash, entry_hash";
AuditEntry ReadAuditEntry(const Statement& s) {
  AuditEntry e;
  e.tenant_id = s.ColumnText(0);
  e.seq = s.ColumnInt64(1);
  e.at = s.ColumnInt64(2);
  e.actor = s.ColumnText(3);
  e.action = s.ColumnText(4);
  e.target = s.ColumnText(5);
  e.outcome = s.ColumnText(6);
  e.details_json = s.ColumnText(7);
  e.prev_hash = s.ColumnText(8);
  e.entry_hash = s.ColumnText(9);
  return e;
}

constexpr int64_t kMaxAuditPage = 1000;

}  // namespace

Result<AuditEntry> SqliteStore::AppendAudit(const AuditEntry& draft, const std::string& genesis_hash,
                                            const AuditSealer& seal) {
  std::lock_guard lock(writer_mu_);
  // BEGIN IMMEDIATE: the head read below and the insert are one atomic step
  // for this process (writer_mu_) and for any other process (write lock).
  PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));
  AuditEntry e = draft;
  {
    PARLEY_ASSIGN_OR_RETURN(Statement head,
                            Statement::Prepare(writer_, "SELECT seq, entry_hash FROM chain_heads WHERE tenant_id = ?1"));
    head.BindText(1, e.tenant_id);
    PARLEY_ASSIGN_OR_RETURN(const bool row, head.Step());
    if (row) {
      e.seq = head.ColumnInt64(0) + 1;
      e.prev_hash = head.ColumnText(1);
    } else {
      e.seq = 1;
      e.prev_hash = genesis_hash;
    }
  }
  PARLEY_ASSIGN_OR_RETURN(e.entry_hash, seal(e));
  PARLEY_ASSIGN_OR_RETURN(Statement insert,
                          Statement::Prepare(writer_, std::string("INSERT INTO audit_log (") + kAuditColumns +
                                                          ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
  insert.BindText(1, e.tenant_id)
      .BindInt64(2, e.seq)
      .BindInt64(3, e.at)
      .BindText(4, e.actor)
      .BindText(5, e.action)
      .BindText(6, e.target)
      .BindText(7, e.outcome)
      .BindText(8, e.details_json)
      .BindText(9, e.prev_hash)
      .BindText(10, e.entry_hash);
  PARLEY_TRY(insert.Run());
  PARLEY_ASSIGN_OR_RETURN(Statement head,
                          Statement::Prepare(writer_,
                                             "INSERT INTO chain_heads (tenant_id, seq, entry_hash) VALUES (?1, ?2, ?3)"
                                             " ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq,"
                                             " entry_hash = excluded.entry_hash"));
  head.BindText(1, e.tenant_id).BindInt64(2, e.seq).BindText(3, e.entry_hash);
  PARLEY_TRY(head.Run());
  PARLEY_TRY(tx.Commit());
  return e;
}

Result<std::vector<AuditEntry>> SqliteStore::ListAudit(const std::string& tenant_id, bool newest_first,
                                                       int64_t seq_bound, int64_t limit) {
  if (limit < 1 || limit > kMaxAuditPage) return InvalidArgument("audit page limit must be 1..1000");
  std::lock_guard lock(reader_mu_);
  std::string sql = std::string("SELECT ") + kAuditColumns + " FROM audit_log WHERE tenant_id = ?1";
  if (newest_first) {
    sql += " AND (?2 = 0 OR seq < ?2) ORDER BY seq DESC LIMIT ?3";
  } else {
    sql += " AND seq > ?2 ORDER BY seq ASC LIMIT ?3";
  }
  PARLEY_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(reader_, sql));
  stmt.BindText(1, tenant_id).BindInt64(2, seq_bound).BindInt64(3, limit);
  std::vector<AuditEntry> out;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    out.push_back(ReadAuditEntry(stmt));
  }
  return out;
}

Result<std::optional<AuditChainHead>> SqliteStore::GetAuditHead(const std::string& tenant_id) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt,
                          Statement::Prepare(reader_, "SELECT seq, entry_hash FROM chain_heads WHERE tenant_id = ?1"));
  stmt.BindText(1, tenant_id);
  PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return std::optional<AuditChainHead>();
  return std::optional<AuditChainHead>(AuditChainHead{stmt.ColumnInt64(0), stmt.ColumnText(1)});
}

Result<std::vector<std::string>> SqliteStore::ListAuditChains() {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt,
                          Statement::Prepare(reader_,
                                             "SELECT tenant_id FROM chain_heads UNION"
                                             " SELECT DISTINCT tenant_id FROM audit_log ORDER BY 1"));
  std::vector<std::string> out;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    out.push_back(stmt.ColumnText(0));
  }
  return out;
}

// ---- Account links (registration and password reset; docs/accounts.md) ----

namespace {

constexpr const char* kAccountTokenColumns =
    "token_hash, tenant_id, purpose, user_id, email_index, email_sealed, created_at, expires_at, used_at";

Result<AccountToken> ReadAccountToken(Statement& stmt) {
  AccountToken t;
  t.token_hash = stmt.ColumnText(0);
  t.tenant_id = stmt.ColumnText(1);
  t.purpose = stmt.ColumnText(2) == "reset" ? AccountTokenPurpose::kReset : AccountTokenPurpose::kRegister;
  t.user_id = stmt.ColumnText(3);
  t.email_index = stmt.ColumnText(4);
  t.email_sealed = stmt.ColumnBlob(5);
  t.created_at = stmt.ColumnInt64(6);
  t.expires_at = stmt.ColumnInt64(7);
  t.used_at = stmt.ColumnOptionalInt64(8);
  return t;
}

constexpr int64_t kKeepExpiredTokensSeconds = 7 * 24 * 3600;

// Marks an unused, unexpired token of `purpose` used, inside the caller's
// transaction; the WHERE clause is the check, so it cannot race.
Result<AccountToken> ClaimAccountToken(sqlite3* db, const std::string& token_hash, AccountTokenPurpose purpose,
                                       int64_t now) {
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db, std::string("UPDATE account_tokens SET used_at = ?1"
                                         " WHERE token_hash = ?2 AND purpose = ?3 AND used_at IS NULL"
                                         " AND expires_at > ?1 RETURNING ") +
                                 kAccountTokenColumns));
  stmt.BindInt64(1, now).BindText(2, token_hash).BindText(3, AccountTokenPurposeName(purpose));
  PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return FailedPrecondition("account link is unknown, used or expired");
  PARLEY_ASSIGN_OR_RETURN(AccountToken token, ReadAccountToken(stmt));
  PARLEY_TRY(stmt.Run());  // finish the statement so the update completes
  return token;
}

}  // namespace

Status SqliteStore::CreateAccountToken(const AccountToken& token, int64_t now) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));
  {
    PARLEY_ASSIGN_OR_RETURN(Statement prune,
                            Statement::Prepare(writer_, "DELETE FROM account_tokens WHERE expires_at < ?1"));
    prune.BindInt64(1, now - kKeepExpiredTokensSeconds);
    PARLEY_TRY(prune.Run());
  }
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_, std::string("INSERT INTO account_tokens (") + kAccountTokenColumns +
                                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
  stmt.BindText(1, token.token_hash)
      .BindText(2, token.tenant_id)
      .BindText(3, AccountTokenPurposeName(token.purpose))
      .BindText(4, token.user_id)
      .BindText(5, token.email_index)
      .BindBlob(6, token.email_sealed)
      .BindInt64(7, token.created_at)
      .BindInt64(8, token.expires_at)
      .BindOptionalInt64(9, token.used_at);
  PARLEY_TRY(stmt.Run());
  return tx.Commit();
}

Result<AccountToken> SqliteStore::GetAccountToken(const std::string& token_hash) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt,
                          Statement::Prepare(reader_, std::string("SELECT ") + kAccountTokenColumns +
                                                          " FROM account_tokens WHERE token_hash = ?1"));
  stmt.BindText(1, token_hash);
  return QueryOne<AccountToken>(stmt, "account link", ReadAccountToken);
}

Status SqliteStore::RedeemRegistrationToken(const std::string& token_hash, int64_t now, const User& user) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));
  PARLEY_ASSIGN_OR_RETURN(AccountToken token,
                          ClaimAccountToken(writer_, token_hash, AccountTokenPurpose::kRegister, now));
  if (token.tenant_id != user.tenant_id || token.email_index != user.email_index)
    return InvalidArgument("the user does not match the registration link");
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_,
                         "INSERT INTO users (tenant_id, id, email_index, email_sealed, password_hash, role, created_at)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  stmt.BindText(1, user.tenant_id)
      .BindText(2, user.id)
      .BindText(3, user.email_index)
      .BindBlob(4, user.email_sealed)
      .BindText(5, user.password_hash)
      .BindText(6, RoleText(user.role))
      .BindInt64(7, user.created_at);
  PARLEY_TRY(stmt.Run());
  return tx.Commit();
}

Result<std::pair<AccountToken, int64_t>> SqliteStore::RedeemResetToken(const std::string& token_hash, int64_t now,
                                                                        const std::string& password_hash) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));
  PARLEY_ASSIGN_OR_RETURN(AccountToken token, ClaimAccountToken(writer_, token_hash, AccountTokenPurpose::kReset, now));
  {
    PARLEY_ASSIGN_OR_RETURN(
        Statement stmt,
        Statement::Prepare(writer_, "UPDATE users SET password_hash = ?1 WHERE tenant_id = ?2 AND id = ?3"));
    stmt.BindText(1, password_hash).BindText(2, token.tenant_id).BindText(3, token.user_id);
    PARLEY_TRY(RunOnExisting(stmt, "user"));
  }
  {
    // Every other reset link of this user dies with the password it was sent for.
    PARLEY_ASSIGN_OR_RETURN(Statement stmt,
                            Statement::Prepare(writer_,
                                               "UPDATE account_tokens SET used_at = ?1 WHERE tenant_id = ?2"
                                               " AND user_id = ?3 AND purpose = 'reset' AND used_at IS NULL"));
    stmt.BindInt64(1, now).BindText(2, token.tenant_id).BindText(3, token.user_id);
    PARLEY_TRY(stmt.Run());
  }
  PARLEY_ASSIGN_OR_RETURN(Statement del,
                          Statement::Prepare(writer_, "DELETE FROM sessions WHERE tenant_id = ?1 AND user_id = ?2"));
  del.BindText(1, token.tenant_id).BindText(2, token.user_id);
  PARLEY_TRY(del.Run());
  const int64_t ended = del.Changes();
  PARLEY_TRY(tx.Commit());
  return std::make_pair(std::move(token), ended);
}

// ---- Sign-in hardening: sessions, tenant edits, TOTP (migration 0008) ----

Result<int64_t> SqliteStore::DeleteUserSessions(const std::string& tenant_id, const std::string& user_id) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt, Statement::Prepare(writer_, "DELETE FROM sessions WHERE tenant_id = ?1 AND user_id = ?2"));
  stmt.BindText(1, tenant_id).BindText(2, user_id);
  PARLEY_TRY(stmt.Run());
  return stmt.Changes();
}

Status SqliteStore::UpdateTenant(const Tenant& tenant) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_,
                         "UPDATE tenants SET name = ?2, domains = ?3, time_zone = ?4, subscription_end = ?5"
                         " WHERE id = ?1"));
  stmt.BindText(1, tenant.id)
      .BindText(2, tenant.name)
      .BindText(3, DomainsToJson(tenant.domains))
      .BindText(4, tenant.time_zone)
      .BindText(5, tenant.subscription_end);
  return RunOnExisting(stmt, "tenant");
}

namespace {

constexpr const char* kTotpColumns = "tenant_id, user_id, secret_sealed, created_at, enabled_at, last_step";
UserTotp ReadTotp(const Statement& s) {
  UserTotp t;
  t.tenant_id = s.ColumnText(0);
  t.user_id = s.ColumnText(1);
  t.secret_sealed = s.ColumnBlob(2);
  t.created_at = s.ColumnInt64(3);
  t.enabled_at = s.ColumnInt64(4);
  t.last_step = s.ColumnInt64(5);
  return t;
}

}  // namespace

Result<UserTotp> SqliteStore::GetUserTotp(const std::string& tenant_id, const std::string& user_id) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt,
                          Statement::Prepare(reader_, std::string("SELECT ") + kTotpColumns +
                                                          " FROM user_totp WHERE tenant_id = ?1 AND user_id = ?2"));
  stmt.BindText(1, tenant_id).BindText(2, user_id);
  return QueryOne<UserTotp>(stmt, "totp", [](const Statement& s) -> Result<UserTotp> { return ReadTotp(s); });
}

Status SqliteStore::PutPendingTotp(const UserTotp& totp) {
  std::lock_guard lock(writer_mu_);
  // The upsert only replaces an unconfirmed secret: an enabled factor is
  // changed by disabling it first (which needs the password and a code).
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_,
                         "INSERT INTO user_totp (tenant_id, user_id, secret_sealed, created_at, enabled_at, last_step)"
                         " VALUES (?1, ?2, ?3, ?4, 0, -1)"
                         " ON CONFLICT (tenant_id, user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed,"
                         " created_at = excluded.created_at, last_step = -1 WHERE enabled_at = 0"));
  stmt.BindText(1, totp.tenant_id).BindText(2, totp.user_id).BindBlob(3, totp.secret_sealed).BindInt64(4, totp.created_at);
  PARLEY_TRY(stmt.Run());
  if (stmt.Changes() == 0) return FailedPrecondition("two-factor authentication is already enabled");
  return Ok();
}

Status SqliteStore::EnableTotp(const std::string& tenant_id, const std::string& user_id, int64_t step, int64_t now) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt,
                          Statement::Prepare(writer_,
                                             "UPDATE user_totp SET enabled_at = ?3, last_step = ?4"
                                             " WHERE tenant_id = ?1 AND user_id = ?2 AND enabled_at = 0"));
  stmt.BindText(1, tenant_id).BindText(2, user_id).BindInt64(3, now).BindInt64(4, step);
  PARLEY_TRY(stmt.Run());
  if (stmt.Changes() == 0) return FailedPrecondition("no two-factor set-up is waiting for confirmation");
  return Ok();
}

Result<bool> SqliteStore::UseTotpStep(const std::string& tenant_id, const std::string& user_id, int64_t step) {
  std::lock_guard lock(writer_mu_);
  // One conditional UPDATE: of two requests with the same code, one wins.
  PARLEY_ASSIGN_OR_RETURN(Statement stmt,
                          Statement::Prepare(writer_,
                                             "UPDATE user_totp SET last_step = ?3 WHERE tenant_id = ?1 AND user_id = ?2"
                                             " AND enabled_at > 0 AND last_step < ?3"));
  stmt.BindText(1, tenant_id).BindText(2, user_id).BindInt64(3, step);
  PARLEY_TRY(stmt.Run());
  return stmt.Changes() == 1;
}

Status SqliteStore::DeleteUserTotp(const std::string& tenant_id, const std::string& user_id) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt,
                          Statement::Prepare(writer_, "DELETE FROM user_totp WHERE tenant_id = ?1 AND user_id = ?2"));
  stmt.BindText(1, tenant_id).BindText(2, user_id);
  return stmt.Run();
}

// ---- SAML single sign-on (migration 0009) ----

namespace {

constexpr const char* kTenantSsoColumns =
    "tenant_id, enabled, idp_entity_id, idp_metadata_xml, group_attribute, role_map_json, default_role, "
    "allow_idp_initiated, updated_at";
Result<TenantSso> ReadTenantSso(const Statement& s) {
  TenantSso t;
  t.tenant_id = s.ColumnText(0);
  t.enabled = s.ColumnInt64(1) != 0;
  t.idp_entity_id = s.ColumnText(2);
  t.idp_metadata_xml = s.ColumnText(3);
  t.group_attribute = s.ColumnText(4);
  t.role_map_json = s.ColumnText(5);
  t.default_role = s.ColumnText(6);
  t.allow_idp_initiated = s.ColumnInt64(7) != 0;
  t.updated_at = s.ColumnInt64(8);
  return t;
}

}  // namespace

Result<TenantSso> SqliteStore::GetTenantSso(const std::string& tenant_id) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, std::string("SELECT ") + kTenantSsoColumns + " FROM tenant_sso WHERE tenant_id = ?1"));
  stmt.BindText(1, tenant_id);
  return QueryOne<TenantSso>(stmt, "tenant SSO settings", ReadTenantSso);
}

Status SqliteStore::PutTenantSso(const TenantSso& sso) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_, std::string("INSERT OR REPLACE INTO tenant_sso (") + kTenantSsoColumns +
                                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"));
  stmt.BindText(1, sso.tenant_id)
      .BindInt64(2, sso.enabled ? 1 : 0)
      .BindText(3, sso.idp_entity_id)
      .BindText(4, sso.idp_metadata_xml)
      .BindText(5, sso.group_attribute)
      .BindText(6, sso.role_map_json)
      .BindText(7, sso.default_role)
      .BindInt64(8, sso.allow_idp_initiated ? 1 : 0)
      .BindInt64(9, sso.updated_at);
  return stmt.Run();
}

Result<std::vector<TenantSso>> SqliteStore::FindTenantSsoByIdp(const std::string& idp_entity_id) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(reader_, std::string("SELECT ") + kTenantSsoColumns +
                                      " FROM tenant_sso WHERE idp_entity_id = ?1 AND enabled = 1 ORDER BY tenant_id"));
  stmt.BindText(1, idp_entity_id);
  std::vector<TenantSso> out;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    PARLEY_ASSIGN_OR_RETURN(TenantSso t, ReadTenantSso(stmt));
    out.push_back(std::move(t));
  }
  return out;
}

Status SqliteStore::CreateSamlRequest(const SamlRequest& request, int64_t now) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));
  PARLEY_ASSIGN_OR_RETURN(Statement purge,
                          Statement::Prepare(writer_, "DELETE FROM saml_requests WHERE tenant_id = ?1 AND expires_at <= ?2"));
  purge.BindText(1, request.tenant_id).BindInt64(2, now);
  PARLEY_TRY(purge.Run());
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_,
                         "INSERT INTO saml_requests (tenant_id, binding_hash, request_id, login_state, expires_at)"
                         " VALUES (?1, ?2, ?3, ?4, ?5)"));
  stmt.BindText(1, request.tenant_id)
      .BindText(2, request.binding_hash)
      .BindText(3, request.request_id)
      .BindText(4, request.login_state)
      .BindInt64(5, request.expires_at);
  PARLEY_TRY(stmt.Run());
  return tx.Commit();
}

Result<SamlRequest> SqliteStore::ConsumeSamlRequest(const std::string& tenant_id, const std::string& binding_hash,
                                                    int64_t now) {
  std::lock_guard lock(writer_mu_);
  // DELETE ... RETURNING: the check and the use are one statement, so a
  // request answers at most one response.
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_,
                         "DELETE FROM saml_requests WHERE tenant_id = ?1 AND binding_hash = ?2"
                         " RETURNING request_id, login_state, expires_at"));
  stmt.BindText(1, tenant_id).BindText(2, binding_hash);
  PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
  if (!row) return NotFound("SAML request not found");
  SamlRequest r;
  r.tenant_id = tenant_id;
  r.binding_hash = binding_hash;
  r.request_id = stmt.ColumnText(0);
  r.login_state = stmt.ColumnText(1);
  r.expires_at = stmt.ColumnInt64(2);
  PARLEY_TRY(stmt.Run());  // finish the statement so the delete completes
  if (r.expires_at <= now) return NotFound("SAML request expired");
  return r;
}

Status SqliteStore::RecordSamlAssertion(const std::string& tenant_id, const std::string& assertion_key,
                                        int64_t keep_until, int64_t now) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));
  PARLEY_ASSIGN_OR_RETURN(
      Statement purge,
      Statement::Prepare(writer_, "DELETE FROM saml_assertions_seen WHERE tenant_id = ?1 AND keep_until < ?2"));
  purge.BindText(1, tenant_id).BindInt64(2, now);
  PARLEY_TRY(purge.Run());
  // The primary key makes a second insert of the same assertion fail with
  // kAlreadyExists: the check and the record cannot be separated.
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_,
                         "INSERT INTO saml_assertions_seen (tenant_id, assertion_key, keep_until) VALUES (?1, ?2, ?3)"));
  stmt.BindText(1, tenant_id).BindText(2, assertion_key).BindInt64(3, keep_until);
  PARLEY_TRY(stmt.Run());
  return tx.Commit();
}

// ---- Key rotation (migration 0010) ----

namespace {
std::string SqlitePlaceholder(int n) { return "?" + std::to_string(n); }
// A blob column bound for comparison: NULL for "" so "no retiring key"
// matches the column's NULL (IS, not =, in the statement).
void BindOptionalBlob(Statement& stmt, int index, const std::string& bytes) {
  if (bytes.empty())
    stmt.BindNull(index);
  else
    stmt.BindBlob(index, bytes);
}
}  // namespace

Result<std::string> SqliteStore::GetPlatformKey(const std::string& name) {
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt,
                          Statement::Prepare(reader_, "SELECT wrapped FROM platform_keys WHERE name = ?1"));
  stmt.BindText(1, name);
  return QueryOne<std::string>(stmt, "platform key", [](const Statement& s) { return s.ColumnBlob(0); });
}

Status SqliteStore::SwapPlatformKey(const std::string& name, const std::string& expected, const std::string& wrapped,
                                    int64_t now) {
  std::lock_guard lock(writer_mu_);
  const char* sql = expected.empty()
                        ? "INSERT INTO platform_keys (name, wrapped, updated_at) VALUES (?1, ?2, ?3) "
                          "ON CONFLICT (name) DO NOTHING"
                        : "UPDATE platform_keys SET wrapped = ?2, updated_at = ?3 WHERE name = ?1 AND wrapped = ?4";
  PARLEY_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(writer_, sql));
  stmt.BindText(1, name).BindBlob(2, wrapped).BindInt64(3, now);
  if (!expected.empty()) stmt.BindBlob(4, expected);
  PARLEY_TRY(stmt.Run());
  if (stmt.Changes() == 0) return FailedPrecondition("platform key " + name + " changed meanwhile");
  return Ok();
}

Status SqliteStore::SwapTenantKeys(const std::string& tenant_id, const TenantKeys& expected, const TenantKeys& next) {
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(writer_,
                         "UPDATE tenants SET wrapped_data_key = ?2, retiring_data_key = ?3, rotation_started_at = ?4,"
                         " rotation_cursor = ?5 WHERE id = ?1 AND wrapped_data_key = ?6 AND retiring_data_key IS ?7"));
  stmt.BindText(1, tenant_id).BindBlob(2, next.wrapped_data_key);
  BindOptionalBlob(stmt, 3, next.retiring_data_key);
  stmt.BindInt64(4, next.rotation_started_at).BindText(5, next.rotation_cursor).BindBlob(6, expected.wrapped_data_key);
  BindOptionalBlob(stmt, 7, expected.retiring_data_key);
  PARLEY_TRY(stmt.Run());
  if (stmt.Changes() == 1) return Ok();
  PARLEY_ASSIGN_OR_RETURN(Statement exists, Statement::Prepare(writer_, "SELECT 1 FROM tenants WHERE id = ?1"));
  exists.BindText(1, tenant_id);
  PARLEY_ASSIGN_OR_RETURN(const bool found, exists.Step());
  if (!found) return NotFound("tenant not found");
  return FailedPrecondition("the tenant's keys changed meanwhile");
}

Result<std::vector<SealedValue>> SqliteStore::ListSealed(const std::string& tenant_id, SealedField field,
                                                         const std::string& after_source, const std::string& after_id,
                                                         int64_t limit) {
  if (limit < 1 || limit > 5000) return InvalidArgument("limit must be between 1 and 5000");
  const bool has_source = detail::ColumnsOf(field).source != nullptr;
  std::lock_guard lock(reader_mu_);
  PARLEY_ASSIGN_OR_RETURN(Statement stmt,
                          Statement::Prepare(reader_, detail::ListSealedSql(field, SqlitePlaceholder)));
  int n = 1;
  stmt.BindText(n++, tenant_id);
  if (has_source) stmt.BindText(n++, after_source);
  stmt.BindText(n, after_id);
  stmt.BindInt64(n + 1, limit);
  std::vector<SealedValue> out;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    out.push_back({stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnBlob(2)});
  }
  return out;
}

Result<int64_t> SqliteStore::ReplaceSealed(const std::string& tenant_id, SealedField field,
                                           const std::vector<SealedRewrite>& rewrites) {
  const bool has_source = detail::ColumnsOf(field).source != nullptr;
  std::lock_guard lock(writer_mu_);
  PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));
  PARLEY_ASSIGN_OR_RETURN(Statement stmt,
                          Statement::Prepare(writer_, detail::ReplaceSealedSql(field, SqlitePlaceholder)));
  int64_t changed = 0;
  for (const SealedRewrite& r : rewrites) {
    stmt.Reset();
    stmt.BindBlob(1, r.value.sealed).BindBlob(2, r.expected).BindText(3, tenant_id);
    int n = 4;
    if (has_source) stmt.BindText(n++, r.value.source);
    stmt.BindText(n, r.value.id);
    PARLEY_TRY(stmt.Run());
    changed += stmt.Changes();
  }
  PARLEY_TRY(tx.Commit());
  return changed;
}

}  // namespace parley::store::sqlite

// ---- Retention ----

namespace parley::store::sqlite {
namespace {

// A record table retention deletes from: its id column, for calls and
// participants the record_kind of their quality samples, and how many search
// terms a row holds in itself (a call's, migration 0019; a participant's are
// in pii_docs), counted one per term as PostgreSQL's pii_search rows are:
// 17 characters a term, less the last space.
struct RetentionTable {
  const char* table;
  const char* id_column;
  const char* kind;       // nullptr: no samples
  const char* own_terms;  // SQL over the row
};
constexpr RetentionTable kRetentionTables[] = {
    {"calls", "call_id", "call", "(length(terms) + 1) / 17"},
    {"participants", "participant_id", "participant", "0"},
    {"conferences", "conference_id", nullptr, "0"},
};

int64_t& CountOf(RetentionResult& r, std::string_view table) {
  if (table == "calls") return r.calls;
  if (table == "participants") return r.participants;
  return r.conferences;
}

Result<std::vector<std::string>> TenantIds(sqlite3* db) {
  PARLEY_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, "SELECT id FROM tenants ORDER BY id"));
  std::vector<std::string> ids;
  for (;;) {
    PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
    if (!row) break;
    ids.push_back(stmt.ColumnText(0));
  }
  return ids;
}

Result<int64_t> CountOne(sqlite3* db, const std::string& sql, const std::string& tenant_id, int64_t boundary) {
  PARLEY_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, sql));
  stmt.BindText(1, tenant_id).BindInt64(2, boundary);
  return SingleCount(stmt);
}

// The expired participants' search terms in pii_docs, every tenant's, counted
// one per term (RetentionTable::own_terms); the delete takes ?2 records at a
// time. A call's go with its row (migration 0019). Found by id: a row's id
// is (start_at << 24) + n (migration 0015, CHECK id >> 24 = start_at), so
// "start before the boundary" is "id below ?1 = SearchDocs::FirstId(boundary)",
// a range of the table's own B-tree. Migration 0018 dropped the index these
// used before.
constexpr const char* kCountExpiredTerms =
    "SELECT COALESCE(SUM((length(terms) + 1) / 17), 0) FROM pii_docs WHERE id < ?1 AND record_kind <> 'device'";
constexpr const char* kDeleteExpiredTerms =
    "DELETE FROM pii_docs WHERE id IN (SELECT id FROM pii_docs WHERE id < ?1 AND record_kind <> 'device' LIMIT ?2)"
    " RETURNING (length(terms) + 1) / 17";

// The first pii_docs id of a record starting at `second` or later, for any
// second (ingest stores only starts from 2000 on, within a day of now).
int64_t FirstDocIdFrom(int64_t second) {
  constexpr int64_t kLastSecond = std::numeric_limits<int64_t>::max() >> SearchDocs::kStartShift;
  return SearchDocs::FirstId(std::clamp<int64_t>(second, 0, kLastSecond));
}

// "JOIN <table> x ON x is one of the record's rows" for a record table aliased r.
std::string JoinRecordRows(const RetentionTable& t, const char* rows_table) {
  return std::string(" JOIN ") + rows_table + " x ON x.tenant_id = r.tenant_id AND x.record_kind = '" + t.kind +
         "' AND x.source = r.source AND x.record_id = r." + t.id_column;
}

}  // namespace

Result<RetentionResult> SqliteStore::CountRecordsBefore(int64_t cutoff) {
  RetentionResult out;
  out.boundary = RetentionBoundary(cutoff);
  std::lock_guard lock(reader_mu_);
  // One read transaction: every count from the same snapshot.
  PARLEY_TRY(ExecStatic(reader_, "BEGIN"));
  auto counted = [&]() -> Status {
    PARLEY_ASSIGN_OR_RETURN(const std::vector<std::string> tenants, TenantIds(reader_));
    for (const std::string& tenant : tenants) {
      for (const RetentionTable& t : kRetentionTables) {
        const std::string old_records = std::string(" FROM ") + t.table + " r";
        const std::string where = " WHERE r.tenant_id = ?1 AND r.start_at < ?2";
        // The records and the terms they hold in their rows, in one pass.
        PARLEY_ASSIGN_OR_RETURN(Statement records,
                                Statement::Prepare(reader_, std::string("SELECT COUNT(*), COALESCE(SUM(") +
                                                                t.own_terms + "), 0)" + old_records + where));
        records.BindText(1, tenant).BindInt64(2, out.boundary);
        PARLEY_ASSIGN_OR_RETURN(const bool row, records.Step());
        if (!row) return Internal("store: COUNT returned no row");
        CountOf(out, t.table) += records.ColumnInt64(0);
        out.search_terms += records.ColumnInt64(1);
        if (t.kind == nullptr) continue;
        PARLEY_ASSIGN_OR_RETURN(
            const int64_t samples,
            CountOne(reader_, "SELECT COUNT(*)" + old_records + JoinRecordRows(t, "quality_samples") + where, tenant,
                     out.boundary));
        out.quality_samples += samples;
      }
    }
    PARLEY_ASSIGN_OR_RETURN(Statement terms, Statement::Prepare(reader_, kCountExpiredTerms));
    terms.BindInt64(1, FirstDocIdFrom(out.boundary));
    PARLEY_ASSIGN_OR_RETURN(const int64_t participant_terms, SingleCount(terms));
    out.search_terms += participant_terms;
    return Ok();
  }();
  (void)ExecStatic(reader_, "COMMIT");  // read-only: ending it cannot lose anything
  PARLEY_TRY(counted);
  return out;
}

Result<RetentionResult> SqliteStore::DropRecordsBefore(int64_t cutoff) {
  RetentionResult out;
  out.boundary = RetentionBoundary(cutoff);
  std::vector<std::string> tenants;
  {
    std::lock_guard lock(reader_mu_);
    PARLEY_ASSIGN_OR_RETURN(tenants, TenantIds(reader_));
  }
  for (const std::string& tenant : tenants) {
    for (const RetentionTable& t : kRetentionTables) {
      // Keys are found on the reader (WAL: ingest is not held up), in key
      // order after the last chunk's, then deleted on the writer in one
      // short transaction per chunk. The record goes first and its samples
      // and terms only if it did, so a record stored again meanwhile (a
      // resend) keeps its own.
      const std::string find = std::string("SELECT source, ") + t.id_column + " FROM " + t.table +
                               " WHERE tenant_id = ?1 AND start_at < ?2 AND (source, " + t.id_column +
                               ") > (?3, ?4) ORDER BY source, " + t.id_column + " LIMIT ?5";
      const std::string erase = std::string("DELETE FROM ") + t.table + " WHERE tenant_id = ?1 AND source = ?2 AND " +
                                t.id_column + " = ?3 AND start_at < ?4 RETURNING " + t.own_terms;
      std::pair<std::string, std::string> after;  // ("", "") sorts before every key
      for (;;) {
        std::vector<std::pair<std::string, std::string>> keys;
        {
          std::lock_guard lock(reader_mu_);
          PARLEY_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(reader_, find));
          stmt.BindText(1, tenant).BindInt64(2, out.boundary).BindText(3, after.first).BindText(4, after.second);
          stmt.BindInt64(5, kRetentionChunk);
          for (;;) {
            PARLEY_ASSIGN_OR_RETURN(const bool row, stmt.Step());
            if (!row) break;
            keys.emplace_back(stmt.ColumnText(0), stmt.ColumnText(1));
          }
        }
        if (keys.empty()) break;
        std::lock_guard lock(writer_mu_);
        PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));
        PARLEY_ASSIGN_OR_RETURN(Statement record, Statement::Prepare(writer_, erase));
        std::optional<Statement> samples;
        if (t.kind != nullptr) {
          PARLEY_ASSIGN_OR_RETURN(samples, Statement::Prepare(writer_, "DELETE FROM quality_samples WHERE tenant_id = ?1"
                                                                       " AND source = ?2 AND record_kind = ?3"
                                                                       " AND record_id = ?4"));
        }
        RetentionResult chunk;
        for (const auto& [source, id] : keys) {
          record.Reset();
          record.BindText(1, tenant).BindText(2, source).BindText(3, id).BindInt64(4, out.boundary);
          PARLEY_ASSIGN_OR_RETURN(const bool deleted, record.Step());  // the delete is done in the first step
          if (!deleted) continue;
          ++CountOf(chunk, t.table);
          chunk.search_terms += record.ColumnInt64(0);
          record.Reset();  // finished before the commit
          if (t.kind == nullptr) continue;
          samples->Reset();
          samples->BindText(1, tenant).BindText(2, source).BindText(3, t.kind).BindText(4, id);
          PARLEY_TRY(samples->Run());
          chunk.quality_samples += samples->Changes();
        }
        PARLEY_TRY(Fault("retention.before_commit"));
        PARLEY_TRY(tx.Commit());
        CountOf(out, t.table) += CountOf(chunk, t.table);
        out.quality_samples += chunk.quality_samples;
        out.search_terms += chunk.search_terms;
        after = keys.back();
        if (static_cast<int64_t>(keys.size()) < kRetentionChunk) break;
      }
    }
  }
  // The expired participants' search terms, every tenant's, by their start
  // (kDeleteExpiredTerms), as PostgreSQL's retention deletes them.
  for (;;) {
    std::lock_guard lock(writer_mu_);
    PARLEY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(writer_));
    PARLEY_ASSIGN_OR_RETURN(Statement terms, Statement::Prepare(writer_, kDeleteExpiredTerms));
    terms.BindInt64(1, FirstDocIdFrom(out.boundary)).BindInt64(2, kRetentionChunk);
    int64_t records = 0;
    int64_t deleted = 0;
    for (;;) {
      PARLEY_ASSIGN_OR_RETURN(const bool row, terms.Step());
      if (!row) break;
      ++records;
      deleted += terms.ColumnInt64(0);
    }
    PARLEY_TRY(Fault("retention.before_commit"));
    PARLEY_TRY(tx.Commit());
    out.search_terms += deleted;
    if (records < kRetentionChunk) break;
  }
  return out;
}

}  // namespace parley::store::sqlite
