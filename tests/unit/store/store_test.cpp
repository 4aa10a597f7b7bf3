// Tests of the Store contract, run against both backends (StoreTest is
// value-parameterized: SQLite in a temporary directory, PostgreSQL in a fresh
// database of the throw-away cluster of support/postgres_fixture.h):
// migrations, the repositories, batch atomicity and idempotency, tenant
// isolation and keyset pagination. Backend-specific tests (SQLite file,
// PostgreSQL roles, row-level security, partitions) follow the shared ones.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <algorithm>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "store/postgres/connection.h"
#include "store/postgres/migrations.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/search_doc_rows.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"
#include "support/fault_injecting_store.h"
#include "support/postgres_fixture.h"

namespace parley::store {
namespace {

using postgres::PostgresOptions;
using postgres::PostgresStore;
using sqlite::SqliteOptions;
using sqlite::SqliteStore;
using testing::PostgresServer;
using FaultHook = std::function<Status(std::string_view step)>;

constexpr int64_t kNow = 1'700'000'000;

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "parley-store-XXXXXX").string();
    char* made = ::mkdtemp(templ.data());
    EXPECT_NE(made, nullptr);
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A raw connection for checks the Store interface deliberately does not offer.
class RawDb {
 public:
  explicit RawDb(const std::string& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK); }
  ~RawDb() { sqlite3_close(db_); }
  std::string Text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
    std::string out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      if (!out.empty()) out += "\n";
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, sqlite3_column_count(stmt) - 1));
      out += text != nullptr ? text : "";
    }
    sqlite3_finalize(stmt);
    return out;
  }
  void Exec(const std::string& sql) {
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db_);
  }
  sqlite3* handle() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

std::unique_ptr<Store> OpenOrDie(const std::string& path, SqliteOptions options = {}) {
  auto store = SqliteStore::Open(path, std::move(options));
  EXPECT_TRUE(store.ok()) << store.error().detail;
  return std::move(store).value();
}

enum class Backend { kSqlite, kPostgres };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

// One test's database in one backend: opens stores on it and runs raw SQL
// that sees every tenant (the SQLite file itself; PostgreSQL's superuser).
class BackendDb {
 public:
  virtual ~BackendDb() = default;
  virtual std::unique_ptr<Store> Open(FaultHook hook) = 0;
  // The last column of every row, joined by '\n'.
  virtual std::string Raw(const std::string& sql) = 0;
  // The tables a batch writes to (every one must stay empty after a failed commit).
  virtual std::vector<std::string> BatchTables() const = 0;
};

class SqliteDb final : public BackendDb {
 public:
  std::unique_ptr<Store> Open(FaultHook hook) override {
    SqliteOptions options;
    options.fault_hook_for_test = std::move(hook);
    return OpenOrDie(path_, std::move(options));
  }
  std::string Raw(const std::string& sql) override { return RawDb(path_).Text(sql); }
  std::vector<std::string> BatchTables() const override {
    return {"calls",      "conferences", "participants", "devices",            "quality_samples",  "sources",
            "batches",    "pii_docs",    "rollup_hour",  "rollup_day",         "concurrency_minute",
            "concurrency_hour"};
  }

 private:
  TempDir dir_;
  std::string path_ = dir_.File("parley.db");
};

class PostgresDb final : public BackendDb {
 public:
  std::unique_ptr<Store> Open(FaultHook hook) override {
    PostgresOptions options;
    options.migrate_url = server_.OwnerUrl(db_);
    options.fault_hook_for_test = std::move(hook);
    auto store = PostgresStore::Open(server_.AppUrl(db_), std::move(options));
    EXPECT_TRUE(store.ok()) << store.error().detail;
    return store.ok() ? std::move(store).value() : nullptr;
  }
  std::string Raw(const std::string& sql) override { return PostgresServer::Query(server_.SuperUrl(db_), sql); }
  std::vector<std::string> BatchTables() const override {
    return {"calls",       "conferences", "participants", "devices",    "quality_samples",    "sources",
            "batches",     "record_keys", "pii_docs",     "rollup_hour", "rollup_day",        "concurrency_minute",
            "concurrency_hour"};
  }
  const std::string& name() const { return db_; }

 private:
  PostgresServer& server_ = PostgresServer::Get();
  std::string db_ = server_.CreateDatabase();
};

std::unique_ptr<BackendDb> MakeDb(Backend backend) {
  if (backend == Backend::kSqlite) return std::make_unique<SqliteDb>();
  return std::make_unique<PostgresDb>();
}

Tenant MakeTenant(const std::string& id, const std::string& name) {
  return Tenant{.id = id,
                .name = name,
                .domains = {name + ".example", "mail." + name + ".example"},
                .wrapped_data_key = std::string("\x00\x01wrapped\xff", 10),
                .created_at = kNow,
                .time_zone = "Europe/London",
                .subscription_end = "2027-12-31",
                .platform = false,
                .retiring_data_key = {},
                .rotation_started_at = 0,
                .rotation_cursor = {}};
}

Agent MakeAgent(const std::string& tenant_id, const std::string& id) {
  return Agent{.id = id,
               .tenant_id = tenant_id,
               .name = "host-" + id,
               .cert_fingerprint = "fp-" + tenant_id + "-" + id,
               .created_at = kNow,
               .last_heartbeat_at = 0,
               .heartbeat_json = ""};
}

User MakeUser(const std::string& tenant_id, const std::string& id, const std::string& email_index, Role role) {
  User u;
  u.id = id;
  u.tenant_id = tenant_id;
  u.email_index = email_index;
  u.email_sealed = "sealed-" + email_index;
  u.role = role;
  u.created_at = kNow;
  return u;
}

CallPageQuery Page(int64_t limit, std::optional<std::tuple<int64_t, std::string, std::string>> before = {}) {
  CallPageQuery q;
  q.limit = limit;
  q.before = std::move(before);
  return q;
}

// A search term as the store takes it (16 lower-case hex characters,
// privacy::kSearchTermHexDigits), all `c`.
std::string Term(char c) { return std::string(16, c); }

StoredCall MakeCall(const std::string& source, const std::string& call_id, int64_t start_at) {
  StoredCall c;
  c.source = source;
  c.call_id = call_id;
  c.start_at = start_at;
  c.end_at = start_at + 60;
  c.duration_s = 60;
  c.status = "completed";
  c.protocol = "SIP";
  c.bitrate_kbps = 1920;
  c.orig_model = "RealPresence Group 500";
  c.pii_sealed = std::string("sealed\x00blob-", 12) + call_id;
  return c;
}

BatchCommit MakeBatch(const std::string& tenant_id, const std::string& agent_id, const std::string& batch_id,
                      std::vector<StoredCall> calls, std::vector<CursorValue> cursors) {
  // Fields assigned one by one: a designated initializer that leaves out the
  // other record types would draw -Wmissing-field-initializers.
  BatchCommit b;
  b.tenant_id = tenant_id;
  b.agent_id = agent_id;
  b.batch_id = batch_id;
  b.digest = "sha-256=:abc=:";
  b.received_at = kNow;
  b.calls = std::move(calls);
  b.cursors = std::move(cursors);
  return b;
}

// A store with tenants "ta" and "tb", each with agents "a1" and "a2".
class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen(FaultHook hook = {}) {
    store_.reset();
    store_ = db_->Open(std::move(hook));
    ASSERT_NE(store_, nullptr);
    if (!seeded_) {
      for (const char* t : {"ta", "tb"}) {
        ASSERT_TRUE(store_->CreateTenant(MakeTenant(t, std::string("org-") + t)).ok());
        for (const char* a : {"a1", "a2"}) ASSERT_TRUE(store_->CreateAgent(MakeAgent(t, a)).ok());
      }
      seeded_ = true;
    }
  }
  int64_t Count(const std::string& tenant) {
    auto n = store_->CountCalls(tenant, std::nullopt);
    EXPECT_TRUE(n.ok());
    return n.ok() ? *n : -1;
  }

  std::string Raw(const std::string& sql) { return db_->Raw(sql); }

  // The newest-first keyset query on `table` walks an index instead of
  // sorting. SQLite names the index; PostgreSQL scans the per-partition
  // indexes of the parent's (given enough rows for the planner to prefer
  // them, and fresh statistics).
  void ExpectIndexServesKeyset(const std::string& table, const std::string& id_column, const std::string& index) {
    const std::string query = "SELECT * FROM " + table + " WHERE tenant_id = 'ta' AND (start_at, source, " +
                              id_column + ") < (1, 'a', 'b') ORDER BY start_at DESC, source DESC, " + id_column +
                              " DESC LIMIT 50";
    if (GetParam() == Backend::kSqlite) {
      const std::string plan = Raw("EXPLAIN QUERY PLAN " + query);
      EXPECT_NE(plan.find(index), std::string::npos) << plan;
      EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
      return;
    }
    BatchCommit many = MakeBatch("ta", "a1", "plan-rows", {}, {});
    for (int i = 0; i < 3000; ++i) {
      // Two months, so the plan must merge two partitions' index scans.
      const int64_t start = 1000 + (i % 2) * 40 * 86400 + i;
      if (table == "calls") many.calls.push_back(MakeCall("dma", "k" + std::to_string(i), start));
      if (table == "conferences") many.conferences.push_back(MakeConferenceForPlan("k" + std::to_string(i), start));
    }
    ASSERT_TRUE(store_->CommitBatch(many).ok());
    Raw("ANALYZE " + table);
    const std::string plan = Raw("EXPLAIN (COSTS OFF) " + query);
    EXPECT_NE(plan.find("Index Scan"), std::string::npos) << plan;
    EXPECT_NE(plan.find(table + "_p197001_tenant_id_start_at"), std::string::npos) << plan;
    EXPECT_FALSE(plan.starts_with("Sort") || plan.find("->  Sort") != std::string::npos ||
                 plan.find("Incremental Sort") != std::string::npos)
        << plan;
  }
  static StoredConference MakeConferenceForPlan(const std::string& id, int64_t start_at) {
    StoredConference c;
    c.source = "dma";
    c.conference_id = id;
    c.start_at = start_at;
    c.end_at = start_at + 60;
    c.pii_sealed = "sealed";
    return c;
  }

  std::unique_ptr<BackendDb> db_ = MakeDb(GetParam());
  std::unique_ptr<Store> store_;
  bool seeded_ = false;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres), BackendName);

// ---- Key rotation (migration 0010) ----

TEST_P(StoreTest, PlatformKeyIsComparedAndSwapped) {
  EXPECT_EQ(store_->GetPlatformKey("blind-index").error().code, Code::kNotFound);
  // Wrapped keys are binary: a NUL inside must survive.
  const std::string first = std::string("\x01") + "first" + std::string(1, '\0') + "key";
  const std::string second = std::string("\x01") + "second";
  ASSERT_TRUE(store_->SwapPlatformKey("blind-index", "", first, kNow).ok());
  EXPECT_EQ(*store_->GetPlatformKey("blind-index"), first);
  // A second "first start" loses: the key is never replaced unseen.
  EXPECT_EQ(store_->SwapPlatformKey("blind-index", "", second, kNow).error().code, Code::kFailedPrecondition);
  EXPECT_EQ(store_->SwapPlatformKey("blind-index", "stale", second, kNow).error().code, Code::kFailedPrecondition);
  EXPECT_EQ(*store_->GetPlatformKey("blind-index"), first);
  ASSERT_TRUE(store_->SwapPlatformKey("blind-index", first, second, kNow + 1).ok());
  EXPECT_EQ(*store_->GetPlatformKey("blind-index"), second);
}

TEST_P(StoreTest, TenantKeysAreComparedAndSwapped) {
  const Tenant before = *store_->GetTenant("ta");
  EXPECT_EQ(before.retiring_data_key, "");
  const TenantKeys now{before.wrapped_data_key, "", 0, ""};
  const TenantKeys rotating{"new-wrapped", before.wrapped_data_key, kNow, R"(["call","dma","c1"])"};
  ASSERT_TRUE(store_->SwapTenantKeys("ta", now, rotating).ok());
  Tenant after = *store_->GetTenant("ta");
  EXPECT_EQ(after.wrapped_data_key, "new-wrapped");
  EXPECT_EQ(after.retiring_data_key, before.wrapped_data_key);
  EXPECT_EQ(after.rotation_started_at, kNow);
  EXPECT_EQ(after.rotation_cursor, R"(["call","dma","c1"])");
  // The other tenant is untouched; a stale expectation changes nothing.
  EXPECT_EQ(store_->GetTenant("tb")->wrapped_data_key, before.wrapped_data_key);
  EXPECT_EQ(store_->SwapTenantKeys("ta", now, TenantKeys{"x", "", 0, ""}).error().code, Code::kFailedPrecondition);
  EXPECT_EQ(store_->GetTenant("ta")->wrapped_data_key, "new-wrapped");
  EXPECT_EQ(store_->SwapTenantKeys("nobody", now, rotating).error().code, Code::kNotFound);
  // Finishing: the retiring key goes back to none (NULL), and compares so.
  ASSERT_TRUE(store_->SwapTenantKeys("ta", rotating, TenantKeys{"new-wrapped", "", 0, ""}).ok());
  after = *store_->GetTenant("ta");
  EXPECT_EQ(after.retiring_data_key, "");
  EXPECT_EQ(after.rotation_cursor, "");
  ASSERT_TRUE(store_->SwapTenantKeys("ta", TenantKeys{"new-wrapped", "", 0, ""}, TenantKeys{"third", "", 0, ""}).ok());
  // ListTenants carries the same state.
  auto tenants = store_->ListTenants();
  ASSERT_TRUE(tenants.ok());
  for (const Tenant& t : *tenants) {
    if (t.id == "ta") {
      EXPECT_EQ(t.wrapped_data_key, "third");
    }
  }
}

TEST_P(StoreTest, SealedValuesPageInKeyOrderAndAreReplacedOnlyIfUnchanged) {
  std::vector<StoredCall> calls;
  for (const char* id : {"c3", "c1", "c2"}) calls.push_back(MakeCall("dma", id, 100));
  calls.push_back(MakeCall("cucm", "c9", 100));
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a1", "b1", calls, {})).ok());
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("tb", "a1", "b1", {MakeCall("dma", "c0", 100)}, {})).ok());

  auto page = store_->ListSealed("ta", SealedField::kCall, "", "", 2);
  ASSERT_TRUE(page.ok()) << page.error().detail;
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].source + "/" + (*page)[0].id, "cucm/c9");
  EXPECT_EQ((*page)[1].source + "/" + (*page)[1].id, "dma/c1");
  EXPECT_EQ((*page)[1].sealed, MakeCall("dma", "c1", 100).pii_sealed);
  page = store_->ListSealed("ta", SealedField::kCall, "dma", "c1", 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);  // c2, c3: never tb's c0
  EXPECT_EQ((*page)[0].id, "c2");
  EXPECT_EQ((*page)[1].id, "c3");
  EXPECT_EQ(store_->ListSealed("ta", SealedField::kCall, "", "", 0).error().code, Code::kInvalidArgument);

  const std::string old_c2 = (*page)[0].sealed;
  auto changed = store_->ReplaceSealed("ta", SealedField::kCall,
                                       {{{"dma", "c2", "resealed-c2"}, old_c2},
                                        {{"dma", "c3", "resealed-c3"}, "not what it holds"},
                                        {{"dma", "c0", "resealed-c0"}, MakeCall("dma", "c0", 100).pii_sealed}});
  ASSERT_TRUE(changed.ok()) << changed.error().detail;
  EXPECT_EQ(*changed, 1);  // c3's expectation is stale; c0 is tb's
  page = store_->ListSealed("ta", SealedField::kCall, "dma", "c1", 10);
  EXPECT_EQ((*page)[0].sealed, "resealed-c2");
  EXPECT_EQ((*page)[1].sealed, MakeCall("dma", "c3", 100).pii_sealed);
  EXPECT_EQ((*store_->ListSealed("tb", SealedField::kCall, "", "", 10))[0].sealed, MakeCall("dma", "c0", 100).pii_sealed);

  // Fields without a source page by id alone.
  ASSERT_TRUE(store_->CreateUser(MakeUser("ta", "u2", "i2", Role::kViewer)).ok());
  ASSERT_TRUE(store_->CreateUser(MakeUser("ta", "u1", "i1", Role::kViewer)).ok());
  auto users = store_->ListSealed("ta", SealedField::kUserEmail, "", "u1", 10);
  ASSERT_TRUE(users.ok()) << users.error().detail;
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ((*users)[0].source, "");
  EXPECT_EQ((*users)[0].id, "u2");
  EXPECT_EQ(*store_->ReplaceSealed("ta", SealedField::kUserEmail, {{{"", "u2", "new"}, "sealed-i2"}}), 1);
  EXPECT_EQ(store_->GetUser("ta", "u2")->email_sealed, "new");
  // Every field's query runs on this backend.
  for (SealedField f : {SealedField::kAccountTokenEmail, SealedField::kTotpSecret, SealedField::kDevice,
                        SealedField::kConference, SealedField::kParticipant}) {
    EXPECT_TRUE(store_->ListSealed("ta", f, "", "", 10).ok());
    EXPECT_EQ(*store_->ReplaceSealed("ta", f, {{{"dma", "none", "x"}, "y"}}), 0);
  }
}

// ---- Opening and migrations ----

// A new file gets every migration; reopening applies nothing and keeps the version.
// The bytes of COPY's binary format (PostgreSQL 15 docs, sql-copy "Binary
// Format"); the store tests on PostgreSQL prove the server reads them back.
TEST(PostgresBinaryCopy, WritesHeaderRowsNullsArraysAndTrailer) {
  postgres::BinaryCopy copy;
  copy.Row(4);
  copy.Int(-2);
  copy.Text("ab");
  copy.Null();
  copy.IntArray({1});
  auto data = copy.Finish();
  ASSERT_TRUE(data.ok()) << data.error().detail;
  const std::string expected = std::string("PGCOPY\n\377\r\n\0", 11) + std::string(8, '\0') +  // flags, extension
                               std::string("\0\4", 2) +                                          // 4 fields
                               std::string("\0\0\0\10", 4) + std::string(7, '\377') + "\376" +   // int8 -2
                               std::string("\0\0\0\2", 4) + "ab" +                               // text
                               std::string("\377\377\377\377", 4) +                              // NULL
                               std::string("\0\0\0\40", 4) +                                     // 32-byte array
                               std::string("\0\0\0\1\0\0\0\0\0\0\0\24\0\0\0\1\0\0\0\1", 20) +    // 1 dim, int8, [1:1]
                               std::string("\0\0\0\10", 4) + std::string(7, '\0') + "\1" +       // element 1
                               std::string("\377\377", 2);                                       // trailer
  EXPECT_EQ(*data, expected);
}

TEST(PostgresBinaryCopy, RefusesARowWithFewerFieldsThanAnnounced) {
  postgres::BinaryCopy copy;
  copy.Row(2);
  copy.Int(1);
  copy.Row(2);
  copy.Int(2);
  copy.Int(3);
  auto data = copy.Finish();
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.error().code, Code::kInternal);
}

TEST(SqliteMigrations, AppliedOnNewFileAndIdempotentOnReopen) {
  TempDir dir;
  const std::string path = dir.File("p.db");
  {
    auto store = OpenOrDie(path);
    EXPECT_EQ(store->SchemaVersion(), sqlite::LatestSchemaVersion());
    EXPECT_TRUE(store->Ping().ok());
  }
  {
    auto store = OpenOrDie(path);
    EXPECT_EQ(store->SchemaVersion(), sqlite::LatestSchemaVersion());
  }
  RawDb raw(path);
  EXPECT_EQ(raw.Text("SELECT COUNT(*) FROM schema_migrations"), std::to_string(sqlite::LatestSchemaVersion()));
}

// A database migrated by a newer Parley is refused instead of misread.
TEST(SqliteMigrations, RefusesDatabaseNewerThanBinary) {
  TempDir dir;
  const std::string path = dir.File("p.db");
  OpenOrDie(path);
  {
    RawDb raw(path);
    raw.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)");
  }
  auto store = SqliteStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Code::kFailedPrecondition);
}

// A migration that fails midway leaves no table and no version behind; the next open applies it cleanly.
TEST(SqliteMigrations, FailedMigrationRollsBackCompletely) {
  TempDir dir;
  const std::string path = dir.File("p.db");
  SqliteOptions failing;
  failing.fault_hook_for_test = [](std::string_view step) -> Status {
    if (step == "migrate.after_sql") return Internal("injected");
    return Ok();
  };
  auto broken = SqliteStore::Open(path, failing);
  ASSERT_FALSE(broken.ok());
  {
    RawDb raw(path);
    EXPECT_EQ(raw.Text("SELECT COUNT(*) FROM schema_migrations"), "0");
    EXPECT_EQ(raw.Text("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'calls'"), "0");
  }
  auto store = OpenOrDie(path);
  EXPECT_EQ(store->SchemaVersion(), sqlite::LatestSchemaVersion());
}

// The file is in WAL mode and private to its owner.
TEST(SqliteStoreFile, UsesWalModeAndOwnerOnlyPermissions) {
  TempDir dir;
  const std::string path = dir.File("p.db");
  auto store = OpenOrDie(path);
  RawDb raw(path);
  EXPECT_EQ(raw.Text("PRAGMA journal_mode"), "wal");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// OpenStore dispatches sqlite: URLs and refuses any other scheme as a config error.
TEST(OpenStore, DispatchesSqliteAndRefusesOtherSchemes) {
  TempDir dir;
  auto ok = OpenStore("sqlite:" + dir.File("p.db"));
  ASSERT_TRUE(ok.ok()) << ok.error().detail;
  EXPECT_EQ((*ok)->SchemaVersion(), sqlite::LatestSchemaVersion());

  auto bad = OpenStore("mysql://localhost/parley");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Code::kConfig);
  EXPECT_EQ(bad.error().detail, "store.url: unsupported scheme");

  auto empty = OpenStore("sqlite:");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, Code::kConfig);

  auto missing_dir = OpenStore("sqlite:" + dir.File("no/such/dir/p.db"));
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_EQ(missing_dir.error().code, Code::kConfig);
}

// Role names round-trip and unknown names are refused.
TEST(Roles, NamesRoundTrip) {
  for (Role r : {Role::kPlatformAdmin, Role::kTenantAdmin, Role::kAnalyst, Role::kViewer}) {
    EXPECT_EQ(ParseRole(RoleName(r)), r);
  }
  EXPECT_EQ(RoleName(Role::kTenantAdmin), "tenant_admin");
  EXPECT_FALSE(ParseRole("root").has_value());
  EXPECT_FALSE(ParseRole("").has_value());
}

// ---- Tenants and users ----

// A tenant reads back whole by id and by name; names are unique.
TEST_P(StoreTest, TenantCreateGetFindList) {
  auto got = store_->GetTenant("ta");
  ASSERT_TRUE(got.ok());
  const Tenant want = MakeTenant("ta", "org-ta");
  EXPECT_EQ(got->name, want.name);
  EXPECT_EQ(got->domains, want.domains);
  EXPECT_EQ(got->wrapped_data_key, want.wrapped_data_key);
  EXPECT_EQ(got->created_at, kNow);
  EXPECT_EQ(got->time_zone, "Europe/London");
  EXPECT_EQ(got->subscription_end, "2027-12-31");
  EXPECT_FALSE(got->platform);

  auto by_name = store_->FindTenantByName("org-tb");
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name->id, "tb");

  auto all = store_->ListTenants();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);

  EXPECT_EQ(store_->GetTenant("nope").error().code, Code::kNotFound);
  EXPECT_EQ(store_->CreateTenant(MakeTenant("tc", "org-ta")).error().code, Code::kAlreadyExists);
}

// Only one platform tenant; a malformed subscription date is refused by the schema.
TEST_P(StoreTest, TenantSettingsAndSinglePlatformTenant) {
  Tenant p = MakeTenant("tp", "platform");
  p.platform = true;
  p.subscription_end = "";
  ASSERT_TRUE(store_->CreateTenant(p).ok());
  Tenant q = MakeTenant("tq", "platform-2");
  q.platform = true;
  EXPECT_EQ(store_->CreateTenant(q).error().code, Code::kAlreadyExists);
  Tenant bad = MakeTenant("tx", "bad-date");
  bad.subscription_end = "31/12/2027";
  EXPECT_FALSE(store_->CreateTenant(bad).ok());
  EXPECT_TRUE(store_->GetTenant("tp")->platform);
}

// Roles change for the user and its sessions together; the last tenant admin stays.
TEST_P(StoreTest, SetUserRoleKeepsTheLastTenantAdmin) {
  User admin{.id = "adm", .tenant_id = "ta", .email_index = "i-adm", .email_sealed = "s", .password_hash = "",
             .role = Role::kTenantAdmin, .created_at = kNow};
  User other{.id = "oth", .tenant_id = "ta", .email_index = "i-oth", .email_sealed = "s", .password_hash = "",
             .role = Role::kViewer, .created_at = kNow + 1};
  ASSERT_TRUE(store_->CreateUser(admin).ok());
  ASSERT_TRUE(store_->CreateUser(other).ok());
  Session sess{.id_hash = "h-oth", .user_id = "oth", .tenant_id = "ta", .role = Role::kViewer, .csrf_token = "c",
               .created_at = kNow, .last_seen_at = kNow, .expires_at = kNow + 100};
  ASSERT_TRUE(store_->CreateSession(sess).ok());
  auto users = store_->ListUsers("ta");
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].id, "adm");
  EXPECT_TRUE(store_->ListUsers("tb")->empty());

  EXPECT_EQ(store_->SetUserRole("ta", "adm", Role::kAnalyst).error().code, Code::kFailedPrecondition);
  ASSERT_TRUE(store_->SetUserRole("ta", "oth", Role::kTenantAdmin).ok());
  EXPECT_EQ(store_->GetSession("h-oth")->role, Role::kTenantAdmin);
  ASSERT_TRUE(store_->SetUserRole("ta", "adm", Role::kAnalyst).ok());  // another admin remains
  EXPECT_EQ(store_->GetUser("ta", "adm")->role, Role::kAnalyst);
  EXPECT_EQ(store_->SetUserRole("tb", "oth", Role::kViewer).error().code, Code::kNotFound);  // other tenant
}

// Users are found by blind index; a second user with the same index is refused.
TEST_P(StoreTest, UserCreateFindAndDuplicateEmailRefused) {
  User u{.id = "u1",
         .tenant_id = "ta",
         .email_index = "idx-alice",
         .email_sealed = std::string("\x00sealed", 7),
         .password_hash = "$argon2id$...",
         .role = Role::kAnalyst,
         .created_at = kNow};
  ASSERT_TRUE(store_->CreateUser(u).ok());

  auto found = store_->FindUserByEmailIndex("idx-alice");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->id, "u1");
  EXPECT_EQ(found->tenant_id, "ta");
  EXPECT_EQ(found->email_sealed, u.email_sealed);
  EXPECT_EQ(found->role, Role::kAnalyst);

  User dup = u;
  dup.id = "u2";
  dup.tenant_id = "tb";  // the index is unique across tenants: sign-in must resolve to one user
  auto st = store_->CreateUser(dup);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Code::kAlreadyExists);
  EXPECT_EQ(st.error().detail.find("idx-alice"), std::string::npos) << "no values in error messages";

  ASSERT_TRUE(store_->SetPassword("ta", "u1", "$argon2id$new").ok());
  EXPECT_EQ(store_->GetUser("ta", "u1")->password_hash, "$argon2id$new");
  EXPECT_EQ(store_->GetUser("tb", "u1").error().code, Code::kNotFound);
  EXPECT_EQ(store_->SetPassword("tb", "u1", "x").error().code, Code::kNotFound);
  EXPECT_EQ(store_->FindUserByEmailIndex("idx-bob").error().code, Code::kNotFound);

  User orphan = u;
  orphan.id = "u3";
  orphan.email_index = "idx-orphan";
  orphan.tenant_id = "no-such-tenant";
  EXPECT_EQ(store_->CreateUser(orphan).error().code, Code::kFailedPrecondition);
}

// ---- Sessions ----

// A session reads back, touch advances last_seen, delete removes it (twice is fine).
TEST_P(StoreTest, SessionCreateGetTouchDelete) {
  ASSERT_TRUE(store_->CreateUser(MakeUser("ta", "u1", "i1", Role::kViewer)).ok());
  Session s{.id_hash = "h1",
            .user_id = "u1",
            .tenant_id = "ta",
            .role = Role::kViewer,
            .csrf_token = "csrf",
            .created_at = kNow,
            .last_seen_at = kNow,
            .expires_at = kNow + 3600};
  ASSERT_TRUE(store_->CreateSession(s).ok());
  auto got = store_->GetSession("h1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->user_id, "u1");
  EXPECT_EQ(got->csrf_token, "csrf");
  EXPECT_EQ(got->expires_at, kNow + 3600);

  ASSERT_TRUE(store_->TouchSession("h1", kNow + 100).ok());
  ASSERT_TRUE(store_->TouchSession("h1", kNow + 50).ok());  // late touch: never backwards
  EXPECT_EQ(store_->GetSession("h1")->last_seen_at, kNow + 100);
  EXPECT_EQ(store_->TouchSession("nope", kNow).error().code, Code::kNotFound);

  ASSERT_TRUE(store_->DeleteSession("h1").ok());
  EXPECT_EQ(store_->GetSession("h1").error().code, Code::kNotFound);
  EXPECT_TRUE(store_->DeleteSession("h1").ok());
}

// Expiry removes sessions past their absolute expiry or idle too long, and keeps the rest.
TEST_P(StoreTest, DeleteExpiredSessionsByAbsoluteAndIdleLimits) {
  ASSERT_TRUE(store_->CreateUser(MakeUser("ta", "u1", "i1", Role::kViewer)).ok());
  auto make = [](const std::string& id, int64_t last_seen, int64_t expires) {
    Session s;
    s.id_hash = id;
    s.user_id = "u1";
    s.tenant_id = "ta";
    s.csrf_token = "c";
    s.created_at = kNow - 10000;
    s.last_seen_at = last_seen;
    s.expires_at = expires;
    return s;
  };
  ASSERT_TRUE(store_->CreateSession(make("live", kNow - 10, kNow + 3600)).ok());
  ASSERT_TRUE(store_->CreateSession(make("absolute", kNow - 10, kNow)).ok());
  ASSERT_TRUE(store_->CreateSession(make("idle", kNow - 1800, kNow + 3600)).ok());
  ASSERT_TRUE(store_->DeleteExpiredSessions(kNow, /*idle_seconds=*/1800).ok());
  EXPECT_TRUE(store_->GetSession("live").ok());
  EXPECT_EQ(store_->GetSession("absolute").error().code, Code::kNotFound);
  EXPECT_EQ(store_->GetSession("idle").error().code, Code::kNotFound);
}

// ---- Enrollment and agents ----

// A token returns its tenant once; the second use is refused.
TEST_P(StoreTest, EnrollTokenWorksOnce) {
  ASSERT_TRUE(store_->CreateEnrollToken("tok", "tb", kNow + 600).ok());
  auto first = store_->ConsumeEnrollToken("tok", kNow);
  ASSERT_TRUE(first.ok()) << first.error().detail;
  EXPECT_EQ(*first, "tb");
  auto second = store_->ConsumeEnrollToken("tok", kNow + 1);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Code::kUnauthenticated);
  EXPECT_EQ(second.error().detail, "enrollment token is invalid, expired or already used");
  EXPECT_EQ(store_->ConsumeEnrollToken("unknown", kNow).error().code, Code::kUnauthenticated);
}

// A token at or past its expiry is refused.
TEST_P(StoreTest, ExpiredEnrollTokenRefused) {
  ASSERT_TRUE(store_->CreateEnrollToken("tok", "ta", kNow).ok());
  EXPECT_EQ(store_->ConsumeEnrollToken("tok", kNow).error().code, Code::kUnauthenticated);
}

// Many threads, through one store and through a second store on the same file, race for one token: one wins.
TEST_P(StoreTest, ConcurrentEnrollTokenConsumptionSucceedsOnce) {
  ASSERT_TRUE(store_->CreateEnrollToken("tok", "ta", kNow + 600).ok());
  auto other = db_->Open({});
  std::atomic<int> successes{0};
  std::atomic<int> other_errors{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    Store* target = (i % 2 == 0) ? store_.get() : other.get();
    threads.emplace_back([target, &successes, &other_errors] {
      auto r = target->ConsumeEnrollToken("tok", kNow);
      if (r.ok()) {
        ++successes;
      } else if (r.error().code != Code::kUnauthenticated) {
        ++other_errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(successes.load(), 1);
  EXPECT_EQ(other_errors.load(), 0);
}

// Agents are found by certificate fingerprint, listed per tenant, and record heartbeats.
TEST_P(StoreTest, AgentCreateFindListHeartbeat) {
  auto found = store_->FindAgentByFingerprint("fp-tb-a2");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->tenant_id, "tb");
  EXPECT_EQ(found->id, "a2");
  EXPECT_EQ(found->last_heartbeat_at, 0);
  EXPECT_EQ(store_->FindAgentByFingerprint("fp-none").error().code, Code::kNotFound);

  Agent dup = MakeAgent("ta", "a9");
  dup.cert_fingerprint = "fp-tb-a2";
  EXPECT_EQ(store_->CreateAgent(dup).error().code, Code::kAlreadyExists);

  ASSERT_TRUE(store_->RecordHeartbeat("ta", "a1", R"({"version":"0.1.0"})", kNow + 5).ok());
  auto agents = store_->ListAgents("ta");
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 2u);
  EXPECT_EQ((*agents)[0].id, "a1");
  EXPECT_EQ((*agents)[0].last_heartbeat_at, kNow + 5);
  EXPECT_EQ((*agents)[0].heartbeat_json, R"({"version":"0.1.0"})");
  EXPECT_EQ(store_->RecordHeartbeat("tb", "a9", "{}", kNow).error().code, Code::kNotFound);
}

// ---- Batches ----

// Calls and the cursor advance commit together, and calls read back field for field.
TEST_P(StoreTest, CommitBatchStoresCallsAndCursorTogether) {
  auto r = store_->CommitBatch(MakeBatch("ta", "a1", "b1", {MakeCall("dma", "c1", 100), MakeCall("dma", "c2", 200)},
                                         {{"dma", "cursor-200"}}));
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_FALSE(r->duplicate);
  EXPECT_EQ(r->inserted, 2);
  EXPECT_EQ(r->already_present, 0);

  auto cursors = store_->GetCursors("ta", "a1");
  ASSERT_TRUE(cursors.ok());
  ASSERT_EQ(cursors->size(), 1u);
  EXPECT_EQ((*cursors)[0].source, "dma");
  EXPECT_EQ((*cursors)[0].value, "cursor-200");

  auto calls = store_->ListCalls("ta", {});
  ASSERT_TRUE(calls.ok());
  ASSERT_EQ(calls->size(), 2u);
  const StoredCall& c = (*calls)[0];
  const StoredCall want = MakeCall("dma", "c2", 200);
  EXPECT_EQ(c.tenant_id, "ta");
  EXPECT_EQ(c.agent_id, "a1");
  EXPECT_EQ(c.call_id, "c2");
  EXPECT_EQ(c.start_at, 200);
  EXPECT_EQ(c.end_at, 260);
  EXPECT_EQ(c.status, "completed");
  EXPECT_EQ(c.bitrate_kbps, 1920);
  EXPECT_EQ(c.orig_model, want.orig_model);
  EXPECT_EQ(c.pii_sealed, want.pii_sealed);
  EXPECT_EQ(c.ingested_at, kNow);

  // The next batch moves the cursor forward.
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a1", "b2", {MakeCall("dma", "c3", 300)}, {{"dma", "cursor-300"}})).ok());
  EXPECT_EQ((*store_->GetCursors("ta", "a1"))[0].value, "cursor-300");
}

// The same batch id twice is reported duplicate and stored once; its second cursor is ignored.
TEST_P(StoreTest, SameBatchTwiceIsDuplicateAndStoredOnce) {
  const BatchCommit batch = MakeBatch("ta", "a1", "b1", {MakeCall("dma", "c1", 100)}, {{"dma", "x1"}});
  ASSERT_TRUE(store_->CommitBatch(batch).ok());
  BatchCommit again = batch;
  again.cursors = {{"dma", "x2"}};
  again.calls.push_back(MakeCall("dma", "c-new", 150));
  auto r = store_->CommitBatch(again);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->duplicate);
  EXPECT_EQ(r->inserted, 0);
  EXPECT_EQ(Count("ta"), 1);
  EXPECT_EQ((*store_->GetCursors("ta", "a1"))[0].value, "x1");
}

// A cursor with `expected` is stored only over that stored cursor (none
// counts as ""): a batch that follows an unstored one is kAborted with nothing
// written, and stores once its predecessor has. A resent stored batch is
// still a duplicate, whatever the cursor has moved on to.
TEST_P(StoreTest, ExpectedCursorKeepsBatchesOfOneSourceInOrder) {
  auto after = [](std::string value, std::string expected) {
    return CursorValue{"dma", std::move(value), std::move(expected)};
  };
  const BatchCommit first = MakeBatch("ta", "a1", "b1", {MakeCall("dma", "c1", 100)}, {after("x1", "")});
  const BatchCommit second = MakeBatch("ta", "a1", "b2", {MakeCall("dma", "c2", 200)}, {after("x2", "x1")});
  const BatchCommit third = MakeBatch("ta", "a1", "b3", {MakeCall("dma", "c3", 300)}, {after("x3", "x2")});

  auto early = store_->CommitBatch(third);  // overtook both
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, Code::kAborted);
  EXPECT_NE(early.error().detail.find("source \"dma\""), std::string::npos) << early.error().detail;
  EXPECT_EQ(Count("ta"), 0);
  EXPECT_TRUE(store_->GetCursors("ta", "a1")->empty());

  ASSERT_TRUE(store_->CommitBatch(first).ok());
  EXPECT_EQ(store_->CommitBatch(third).error().code, Code::kAborted);
  EXPECT_EQ(Count("ta"), 1);
  ASSERT_TRUE(store_->CommitBatch(second).ok());
  auto stored = store_->CommitBatch(third);  // its predecessor is in: stored, not a duplicate
  ASSERT_TRUE(stored.ok()) << stored.error().detail;
  EXPECT_FALSE(stored->duplicate);
  EXPECT_EQ(stored->inserted, 1);
  EXPECT_EQ(Count("ta"), 3);
  EXPECT_EQ((*store_->GetCursors("ta", "a1"))[0].value, "x3");

  auto resent = store_->CommitBatch(second);  // expected x1, stored x3: still the duplicate it is
  ASSERT_TRUE(resent.ok()) << resent.error().detail;
  EXPECT_TRUE(resent->duplicate);
  // The first batch ever of a source must say "" (or nothing) to be stored;
  // another agent's cursor of the same name is not this one's.
  EXPECT_EQ(store_->CommitBatch(MakeBatch("ta", "a2", "b4", {}, {after("y2", "y1")})).error().code, Code::kAborted);
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a2", "b5", {}, {after("y1", "")})).ok());
  // Without `expected`, as before: stored over whatever is there.
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a1", "b6", {}, {{"dma", "reset"}})).ok());
  EXPECT_EQ((*store_->GetCursors("ta", "a1"))[0].value, "reset");
}

// Two batches of one source committed at once, the later one started while
// the earlier one is inside its transaction: the later one waits for it
// (SQLite's writer lock; PostgreSQL's row lock on the source) and then sees
// the cursor it stored, so both are stored, in order.
TEST_P(StoreTest, ExpectedCursorSeesThePredecessorCommittedMeanwhile) {
  std::promise<void> inside;
  std::shared_future<void> inside_seen = inside.get_future().share();
  std::atomic<bool> armed{false};
  Reopen([&](std::string_view step) -> Status {
    if (step == "commit_batch.after_calls" && armed.exchange(false)) {
      inside.set_value();
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    return Ok();
  });
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a1", "b1", {}, {{"dma", "x1", ""}})).ok());
  armed = true;
  Result<BatchCommitResult> earlier = Internal("not run"), later = Internal("not run");
  std::thread t([&] { earlier = store_->CommitBatch(MakeBatch("ta", "a1", "b2", {MakeCall("dma", "c2", 200)},
                                                              {{"dma", "x2", "x1"}})); });
  inside_seen.wait();
  later = store_->CommitBatch(MakeBatch("ta", "a1", "b3", {MakeCall("dma", "c3", 300)}, {{"dma", "x3", "x2"}}));
  t.join();
  ASSERT_TRUE(earlier.ok()) << earlier.error().detail;
  ASSERT_TRUE(later.ok()) << later.error().detail;
  EXPECT_EQ(Count("ta"), 2);
  EXPECT_EQ((*store_->GetCursors("ta", "a1"))[0].value, "x3");
}

// A new batch that repeats calls stores only the new ones and counts the others.
TEST_P(StoreTest, OverlappingCallsCountedAsAlreadyPresent) {
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a1", "b1", {MakeCall("dma", "c1", 100), MakeCall("dma", "c2", 200)}, {})).ok());
  auto r = store_->CommitBatch(
      MakeBatch("ta", "a1", "b2", {MakeCall("dma", "c2", 200), MakeCall("dma", "c3", 300), MakeCall("dma", "c3", 300)}, {}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->duplicate);
  EXPECT_EQ(r->inserted, 1);
  EXPECT_EQ(r->already_present, 2);
  EXPECT_EQ(Count("ta"), 3);
}

// Each agent has its own cursors, even for a source of the same name.
TEST_P(StoreTest, CursorsArePerAgent) {
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a1", "b1", {}, {{"dma", "one"}, {"rprm", "r1"}})).ok());
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a2", "b2", {}, {{"dma", "two"}})).ok());
  auto a1 = store_->GetCursors("ta", "a1");
  auto a2 = store_->GetCursors("ta", "a2");
  ASSERT_TRUE(a1.ok() && a2.ok());
  ASSERT_EQ(a1->size(), 2u);
  EXPECT_EQ((*a1)[0].value, "one");
  EXPECT_EQ((*a1)[1].source, "rprm");
  ASSERT_EQ(a2->size(), 1u);
  EXPECT_EQ((*a2)[0].value, "two");
  EXPECT_TRUE(store_->GetCursors("tb", "a1")->empty());
}

// A call that names another tenant than its batch is refused whole.
TEST_P(StoreTest, CommitBatchRefusesCallOfAnotherTenant) {
  StoredCall foreign = MakeCall("dma", "c1", 100);
  foreign.tenant_id = "tb";
  auto r = store_->CommitBatch(MakeBatch("ta", "a1", "b1", {foreign}, {{"dma", "x"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_EQ(Count("ta") + Count("tb"), 0);
}

// A failure at any step inside the transaction leaves neither calls, cursor nor batch row.
TEST_P(StoreTest, FailedCommitLeavesNeitherCallsNorCursor) {
  for (const char* failing_step : {"commit_batch.after_calls", "commit_batch.after_cursors"}) {
    SCOPED_TRACE(failing_step);
    Reopen([failing_step](std::string_view step) -> Status {
      if (step == failing_step) return Unavailable("injected crash");
      return Ok();
    });
    const BatchCommit batch = MakeBatch("ta", "a1", "b1", {MakeCall("dma", "c1", 100)}, {{"dma", "x1"}});
    auto r = store_->CommitBatch(batch);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(Count("ta"), 0);
    EXPECT_TRUE(store_->GetCursors("ta", "a1")->empty());

    // The same batch, retried after the fault, is new (no batch row was left) and commits whole.
    Reopen();
    auto retry = store_->CommitBatch(batch);
    ASSERT_TRUE(retry.ok());
    EXPECT_FALSE(retry->duplicate);
    EXPECT_EQ(Count("ta"), 1);
    // Reset for the next step.
    for (const std::string& table : db_->BatchTables()) Raw("DELETE FROM " + table);
  }
}

// A value the schema refuses (an empty source name in a cursor) fails the whole batch, calls included.
TEST_P(StoreTest, ConstraintViolationLeavesNeitherCallsNorCursor) {
  auto r = store_->CommitBatch(MakeBatch("ta", "a1", "b1", {MakeCall("dma", "c1", 100)}, {{"dma", "ok"}, {"", "bad"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_EQ(Count("ta"), 0);
  EXPECT_TRUE(store_->GetCursors("ta", "a1")->empty());

  // An unknown agent cannot own cursors either.
  auto orphan = store_->CommitBatch(MakeBatch("ta", "a-unknown", "b2", {MakeCall("dma", "c1", 100)}, {{"dma", "x"}}));
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(Count("ta"), 0);
}

// A commit whose answer is lost is retried by the agent: the retry is a duplicate and nothing is doubled.
TEST_P(StoreTest, LostAcknowledgementRetryIsDuplicate) {
  testing::FaultInjectingStore faulty(std::move(store_));
  faulty.FailNext("CommitBatch", Unavailable("connection reset"), testing::FaultInjectingStore::When::kAfter);
  const BatchCommit batch = MakeBatch("ta", "a1", "b1", {MakeCall("dma", "c1", 100)}, {{"dma", "x1"}});
  EXPECT_FALSE(faulty.CommitBatch(batch).ok());
  auto retry = faulty.CommitBatch(batch);
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(*faulty.CountCalls("ta", std::nullopt), 1);
}

// ---- Reading calls ----

// Tenant B never sees tenant A's calls, even with the same source and call ids.
TEST_P(StoreTest, TenantIsolationInListAndCount) {
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a1", "b1", {MakeCall("dma", "c1", 100), MakeCall("dma", "c2", 200)}, {})).ok());
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("tb", "a1", "b1", {MakeCall("dma", "c1", 100)}, {})).ok());
  EXPECT_EQ(Count("ta"), 2);
  EXPECT_EQ(Count("tb"), 1);
  EXPECT_EQ(Count("tc"), 0);
  for (const auto& tenant : {std::string("ta"), std::string("tb")}) {
    auto calls = store_->ListCalls(tenant, Page(100));
    ASSERT_TRUE(calls.ok());
    for (const StoredCall& c : *calls) EXPECT_EQ(c.tenant_id, tenant);
  }
  // Paging from a key taken from tenant A's rows still returns only B's rows.
  auto page = store_->ListCalls("tb", Page(10, std::make_tuple(int64_t{1000}, std::string("zzz"), std::string("zzz"))));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].tenant_id, "tb");
}

// Keyset pages walk every row exactly once, newest first, with ties on start time broken by (source, call_id).
TEST_P(StoreTest, KeysetPaginationWalksAllRowsOnceNewestFirst) {
  std::vector<StoredCall> calls;
  for (int i = 0; i < 23; ++i) {
    // Only 4 distinct start times: most rows tie and page boundaries fall inside ties.
    calls.push_back(MakeCall(i % 2 == 0 ? "dma" : "rprm", "c" + std::to_string(i), 1000 + (i % 4) * 10));
  }
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a1", "b1", calls, {})).ok());
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("tb", "a1", "b1", {MakeCall("dma", "other", 1015)}, {})).ok());

  std::vector<std::tuple<int64_t, std::string, std::string>> seen;
  CallPageQuery query = Page(4);
  for (int pages = 0; pages < 100; ++pages) {
    auto page = store_->ListCalls("ta", query);
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    EXPECT_LE(page->size(), 4u);
    for (const StoredCall& c : *page) seen.emplace_back(c.start_at, c.source, c.call_id);
    const StoredCall& last = page->back();
    query.before = std::make_tuple(last.start_at, last.source, last.call_id);
  }
  ASSERT_EQ(seen.size(), 23u);
  EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend())) << "strictly newest first";
  EXPECT_EQ(std::set(seen.begin(), seen.end()).size(), 23u) << "no row twice";

  EXPECT_EQ(store_->ListCalls("ta", Page(0)).error().code, Code::kInvalidArgument);
}

// The keyset query is served by calls_by_start (in PostgreSQL: its per-partition twins), not a scan and sort.
TEST_P(StoreTest, KeysetQueryUsesCallsByStartIndex) {
  ExpectIndexServesKeyset("calls", "call_id", "calls_by_start");
}

// Closing and reopening the file keeps tenants, users, agents, calls and cursors.
TEST_P(StoreTest, ReopenKeepsEverything) {
  ASSERT_TRUE(store_->CreateUser(MakeUser("ta", "u1", "i1", Role::kTenantAdmin)).ok());
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a1", "b1", {MakeCall("dma", "c1", 100)}, {{"dma", "x1"}})).ok());
  Reopen();
  EXPECT_EQ(store_->ListTenants()->size(), 2u);
  EXPECT_EQ(store_->FindUserByEmailIndex("i1")->role, Role::kTenantAdmin);
  EXPECT_TRUE(store_->FindAgentByFingerprint("fp-ta-a1").ok());
  EXPECT_EQ(Count("ta"), 1);
  EXPECT_EQ((*store_->GetCursors("ta", "a1"))[0].value, "x1");
  EXPECT_TRUE(store_->CommitBatch(MakeBatch("ta", "a1", "b1", {}, {}))->duplicate);
}

// ---- The normalized model: conferences, participants, quality, devices ----

QualitySample MakeSample(const std::string& party, const std::string& direction, const std::string& media) {
  QualitySample q;
  q.party = party;
  q.direction = direction;
  q.media = media;
  return q;
}

StoredConference MakeConference(const std::string& source, const std::string& id, int64_t start_at) {
  StoredConference c;
  c.source = source;
  c.conference_id = id;
  c.start_at = start_at;
  c.end_at = start_at + 3600;
  c.room = "7001";
  c.mcu = "RMX-1";
  c.participant_count = 3;
  c.pii_sealed = "sealed-conf-" + id;
  return c;
}

StoredParticipant MakeParticipant(const std::string& source, const std::string& id, const std::string& conference_id,
                                  int64_t start_at) {
  StoredParticipant p;
  p.source = source;
  p.participant_id = id;
  p.conference_id = conference_id;
  p.start_at = start_at;
  p.end_at = start_at + 600;
  p.duration_s = 600;
  p.protocol = "SIP";
  p.role = "guest";
  p.model = "Group 500";
  p.pii_sealed = "sealed-part-" + id;
  return p;
}

StoredDevice MakeDevice(const std::string& source, const std::string& id, int64_t observed_at,
                        const std::string& version) {
  StoredDevice d;
  d.source = source;
  d.device_id = id;
  d.observed_at = observed_at;
  d.device_type = "endpoint";
  d.model = "Group 500";
  d.version = version;
  d.site = "Paris";
  d.status = "online";
  d.pii_sealed = "sealed-dev-" + id + "-" + version;
  return d;
}

// A batch of new records that repeats a key (no record of it stored before)
// keeps the key's first occurrence, once, and rolls it up once; the other
// records of the batch are stored. On PostgreSQL this is the path where the
// plain claim of all-new keys fails on the repeat and the move runs again
// with de-duplication.
TEST_P(StoreTest, KeyRepeatedInOneBatchKeepsTheFirstOnce) {
  StoredCall first = MakeCall("dma", "c1", 100);
  StoredCall repeat = MakeCall("dma", "c1", 100);
  repeat.status = "failed";
  StoredParticipant p = MakeParticipant("dma", "p1", "conf-1", 100);
  p.search_terms = {Term('a')};
  BatchCommit batch = MakeBatch("ta", "a1", "b1", {first, MakeCall("dma", "c2", 200), repeat}, {});
  batch.participants = {p, p};
  auto r = store_->CommitBatch(batch);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r->inserted, 3);  // c1, c2, p1
  EXPECT_EQ(r->already_present, 2);
  EXPECT_EQ(Count("ta"), 2);
  auto calls = store_->ListCalls("ta", {});
  ASSERT_TRUE(calls.ok());
  ASSERT_EQ(calls->size(), 2u);
  EXPECT_EQ(calls->back().call_id, "c1");
  EXPECT_EQ(calls->back().status, "completed");
  RollupQuery all{RollupGrain::kDay, RollupDimension::kTenant, 0, 86400, std::nullopt};
  auto rows = store_->ListRollups("ta", all);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().usage.calls, 2);
  EXPECT_EQ(rows->front().usage.failed, 0);
  auto verified = VerifyRollups(*store_, "ta", kNow);
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->ok());

  // The next batch of new records takes the plain claim again.
  auto next = store_->CommitBatch(MakeBatch("ta", "a1", "b2", {MakeCall("dma", "c3", 300)}, {}));
  ASSERT_TRUE(next.ok()) << next.error().detail;
  EXPECT_EQ(next->inserted, 1);
  EXPECT_EQ(Count("ta"), 3);
}

// One batch with every record type: a call with quality, a conference with
// two participants (one with quality) and a device.
BatchCommit FullBatch(const std::string& tenant_id, const std::string& batch_id) {
  StoredCall call = MakeCall("dma", "c1", 100);
  call.conference_id = "conf-1";
  QualitySample video = MakeSample("orig", "rx", "video");
  video.codec = "H.264";
  video.bitrate_kbps = 1920;
  video.packet_loss_pct_avg = 0.25;
  video.packet_loss_pct_max = 3;
  video.jitter_ms_avg = 4.5;
  video.jitter_ms_max = 20;
  video.latency_ms_avg = 35.5;
  video.latency_ms_max = 80;
  video.mos = 4.2;
  call.quality = {video, MakeSample("dest", "tx", "audio")};
  call.search_terms = {Term('c')};
  BatchCommit b = MakeBatch(tenant_id, "a1", batch_id, {call}, {{"dma", "x1"}});
  b.conferences = {MakeConference("dma", "conf-1", 100)};
  StoredParticipant p1 = MakeParticipant("dma", "p1", "conf-1", 110);
  p1.call_id = "c1";
  QualitySample pq = MakeSample("participant", "rx", "audio");
  pq.mos = 3.9;
  p1.quality = {pq};
  b.participants = {p1, MakeParticipant("dma", "p2", "conf-1", 105)};
  b.devices = {MakeDevice("rprm", "dev-1", 100, "6.4.2")};
  b.quarantined = {{"dma", "call", "start is before the earliest accepted time", 1}};
  return b;
}

// Every record type commits with the calls and cursor and reads back field for field.
TEST_P(StoreTest, CommitBatchStoresEveryRecordType) {
  auto r = store_->CommitBatch(FullBatch("ta", "b1"));
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r->inserted, 5);  // call, conference, 2 participants, device
  EXPECT_EQ(r->already_present, 0);

  auto conferences = store_->ListConferences("ta", {});
  ASSERT_TRUE(conferences.ok()) << conferences.error().detail;
  ASSERT_EQ(conferences->size(), 1u);
  const StoredConference& c = (*conferences)[0];
  EXPECT_EQ(c.tenant_id, "ta");
  EXPECT_EQ(c.agent_id, "a1");
  EXPECT_EQ(c.conference_id, "conf-1");
  EXPECT_EQ(c.end_at, 3700);
  EXPECT_EQ(c.room, "7001");
  EXPECT_EQ(c.mcu, "RMX-1");
  EXPECT_EQ(c.participant_count, 3);
  EXPECT_EQ(c.stored_participants, 2);
  EXPECT_FALSE(c.max_resources_used.has_value());
  EXPECT_FALSE(c.scheduled_start.has_value());
  EXPECT_EQ(c.pii_sealed, "sealed-conf-conf-1");
  EXPECT_EQ(c.ingested_at, kNow);

  auto participants = store_->ListParticipants("ta", "dma", "conf-1");
  ASSERT_TRUE(participants.ok()) << participants.error().detail;
  ASSERT_EQ(participants->size(), 2u);
  EXPECT_EQ((*participants)[0].participant_id, "p2");  // by start time
  const StoredParticipant& p = (*participants)[1];
  EXPECT_EQ(p.participant_id, "p1");
  EXPECT_EQ(p.call_id, "c1");
  EXPECT_EQ(p.agent_id, "a1");
  EXPECT_EQ(p.duration_s, 600);
  EXPECT_EQ(p.role, "guest");
  EXPECT_EQ(p.model, "Group 500");
  EXPECT_EQ(p.pii_sealed, "sealed-part-p1");
  EXPECT_TRUE(p.quality.empty()) << "read separately";

  auto devices = store_->ListDevices("ta", {});
  ASSERT_TRUE(devices.ok()) << devices.error().detail;
  ASSERT_EQ(devices->size(), 1u);
  const StoredDevice& d = (*devices)[0];
  EXPECT_EQ(d.source, "rprm");
  EXPECT_EQ(d.device_id, "dev-1");
  EXPECT_EQ(d.observed_at, 100);
  EXPECT_EQ(d.device_type, "endpoint");
  EXPECT_EQ(d.version, "6.4.2");
  EXPECT_EQ(d.status, "online");
  EXPECT_EQ(d.pii_sealed, "sealed-dev-dev-1-6.4.2");
  EXPECT_EQ(d.updated_at, kNow);

  auto quality = store_->ListQuality("ta", RecordKind::kCall, {{"dma", "c1"}});
  ASSERT_TRUE(quality.ok()) << quality.error().detail;
  ASSERT_EQ(quality->size(), 2u);
  // Key order: party, direction, media.
  EXPECT_EQ((*quality)[0].sample.party, "dest");
  const QualitySample& unmeasured = (*quality)[0].sample;
  EXPECT_FALSE(unmeasured.bitrate_kbps || unmeasured.packet_loss_pct_avg || unmeasured.packet_loss_pct_max ||
               unmeasured.jitter_ms_avg || unmeasured.jitter_ms_max || unmeasured.latency_ms_avg ||
               unmeasured.latency_ms_max || unmeasured.mos)
      << "unmeasured stays absent, never 0";
  const StoredQuality& v = (*quality)[1];
  EXPECT_EQ(v.kind, RecordKind::kCall);
  EXPECT_EQ(v.source, "dma");
  EXPECT_EQ(v.record_id, "c1");
  EXPECT_EQ(v.sample.media, "video");
  EXPECT_EQ(v.sample.codec, "H.264");
  EXPECT_EQ(v.sample.bitrate_kbps, 1920);
  EXPECT_EQ(v.sample.packet_loss_pct_avg, 0.25);
  EXPECT_EQ(v.sample.packet_loss_pct_max, 3);
  EXPECT_EQ(v.sample.jitter_ms_avg, 4.5);
  EXPECT_EQ(v.sample.jitter_ms_max, 20);
  EXPECT_EQ(v.sample.latency_ms_avg, 35.5);
  EXPECT_EQ(v.sample.latency_ms_max, 80);
  EXPECT_EQ(v.sample.mos, 4.2);

  // Participant samples are a different kind: the same ids never mix.
  auto pq = store_->ListQuality("ta", RecordKind::kParticipant, {{"dma", "p2"}, {"dma", "p1"}, {"dma", "c1"}});
  ASSERT_TRUE(pq.ok());
  ASSERT_EQ(pq->size(), 1u);
  EXPECT_EQ((*pq)[0].record_id, "p1");
  EXPECT_EQ((*pq)[0].sample.mos, 3.9);

  EXPECT_EQ(Raw("SELECT records FROM batches WHERE tenant_id = 'ta' AND batch_id = 'b1'"), "5");
}

// Conferences and participants are stored once, with the samples of their first observation only.
TEST_P(StoreTest, ModelRecordsStoredOncePerKey) {
  ASSERT_TRUE(store_->CommitBatch(FullBatch("ta", "b1")).ok());
  BatchCommit again = FullBatch("ta", "b2");
  again.calls[0].quality = {MakeSample("orig", "tx", "content")};
  again.conferences[0].room = "changed";
  again.participants[0].quality = {MakeSample("participant", "tx", "video")};
  again.participants.push_back(MakeParticipant("dma", "p3", "conf-1", 120));
  again.devices.clear();
  auto r = store_->CommitBatch(again);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_FALSE(r->duplicate);
  EXPECT_EQ(r->inserted, 1);         // p3
  EXPECT_EQ(r->already_present, 4);  // call, conference, p1, p2
  EXPECT_EQ((*store_->ListConferences("ta", {}))[0].room, "7001");
  EXPECT_EQ((*store_->ListConferences("ta", {}))[0].stored_participants, 3);
  auto cq = store_->ListQuality("ta", RecordKind::kCall, {{"dma", "c1"}});
  ASSERT_EQ(cq->size(), 2u);
  for (const StoredQuality& q : *cq) EXPECT_NE(q.sample.media, "content");
  auto pq = store_->ListQuality("ta", RecordKind::kParticipant, {{"dma", "p1"}});
  ASSERT_EQ(pq->size(), 1u);
  EXPECT_EQ(pq->at(0).sample.media, "audio");
}

// Devices are upserted per (tenant, source, id): a newer observation wins, an older one or a tie changes nothing.
TEST_P(StoreTest, DeviceUpsertKeepsNewestObservation) {
  auto commit = [&](const std::string& batch_id, std::vector<StoredDevice> devices) {
    BatchCommit b = MakeBatch("ta", "a1", batch_id, {}, {});
    b.devices = std::move(devices);
    auto r = store_->CommitBatch(b);
    EXPECT_TRUE(r.ok()) << r.error().detail;
    return r.ok() ? *r : BatchCommitResult{};
  };
  commit("b1", {MakeDevice("rprm", "d1", 100, "v1"), MakeDevice("dma", "d1", 100, "other-source")});
  BatchCommitResult newer = commit("b2", {MakeDevice("rprm", "d1", 200, "v2")});
  EXPECT_EQ(newer.inserted, 1);
  BatchCommitResult older = commit("b3", {MakeDevice("rprm", "d1", 150, "v-old")});
  EXPECT_EQ(older.inserted, 0);
  EXPECT_EQ(older.already_present, 1);
  BatchCommitResult tie = commit("b4", {MakeDevice("rprm", "d1", 200, "v-tie")});
  EXPECT_EQ(tie.already_present, 1);
  // Within one batch, too, the newest observation wins whatever the order.
  commit("b5", {MakeDevice("dma", "d1", 300, "new"), MakeDevice("dma", "d1", 250, "stale")});

  auto devices = store_->ListDevices("ta", {});
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 2u);  // same id in two sources: two devices
  EXPECT_EQ((*devices)[0].source, "dma");
  EXPECT_EQ((*devices)[0].version, "new");
  EXPECT_EQ((*devices)[1].source, "rprm");
  EXPECT_EQ((*devices)[1].version, "v2");
  EXPECT_EQ((*devices)[1].observed_at, 200);
  EXPECT_EQ((*devices)[1].pii_sealed, "sealed-dev-d1-v2");
}

// ---- Search terms (pii_search) ----


StoredCall CallWithTerms(const std::string& id, int64_t start_at, std::vector<std::string> terms) {
  StoredCall c = MakeCall("dma", id, start_at);
  c.search_terms = std::move(terms);
  return c;
}

std::vector<std::string> Ids(const Result<std::vector<StoredCall>>& calls) {
  std::vector<std::string> ids;
  if (!calls.ok()) return {"error: " + calls.error().detail};
  for (const StoredCall& c : *calls) ids.push_back(c.call_id);
  return ids;
}

CallPageQuery PartyPage(const std::string& term, int64_t limit,
                        std::optional<std::tuple<int64_t, std::string, std::string>> before = {}) {
  CallPageQuery q = Page(limit, std::move(before));
  q.party_term = term;
  return q;
}

// A party's calls, newest first, paged by the same keyset as all calls,
// counted, and only the batch's tenant's.
TEST_P(StoreTest, PartyTermFiltersCallsWithKeysetPaginationPerTenant) {
  const std::string a = Term('a'), b = Term('b');
  auto r = store_->CommitBatch(MakeBatch("ta", "a1", "b1",
                                         {CallWithTerms("c1", 100, {a}), CallWithTerms("c2", 200, {a, b}),
                                          CallWithTerms("c3", 300, {b}), CallWithTerms("c4", 400, {a}),
                                          CallWithTerms("c5", 200, {a})},
                                         {}));
  ASSERT_TRUE(r.ok()) << r.error().detail;
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("tb", "a1", "b1", {CallWithTerms("other", 250, {a})}, {})).ok());

  EXPECT_EQ(Ids(store_->ListCalls("ta", PartyPage(a, 10))), (std::vector<std::string>{"c4", "c5", "c2", "c1"}));
  EXPECT_EQ(Ids(store_->ListCalls("ta", PartyPage(b, 10))), (std::vector<std::string>{"c3", "c2"}));
  EXPECT_EQ(Ids(store_->ListCalls("ta", PartyPage(Term('f'), 10))), std::vector<std::string>{});
  EXPECT_EQ(Ids(store_->ListCalls("tb", PartyPage(a, 10))), std::vector<std::string>{"other"});
  // Keyset pages: ties on start_at are broken by (source, call_id) as for all calls.
  EXPECT_EQ(Ids(store_->ListCalls("ta", PartyPage(a, 2))), (std::vector<std::string>{"c4", "c5"}));
  EXPECT_EQ(Ids(store_->ListCalls("ta", PartyPage(a, 2, std::make_tuple(int64_t{200}, std::string("dma"),
                                                                          std::string("c5"))))),
            (std::vector<std::string>{"c2", "c1"}));
  auto full = store_->ListCalls("ta", PartyPage(a, 1));
  ASSERT_TRUE(full.ok());
  EXPECT_EQ((*full)[0].pii_sealed, MakeCall("dma", "c4", 400).pii_sealed);  // the whole row, read by its key
  EXPECT_TRUE((*full)[0].search_terms.empty());
  EXPECT_EQ(store_->ListCalls("ta", PartyPage(a, 0)).error().code, Code::kInvalidArgument);

  EXPECT_EQ(*store_->CountCalls("ta", a), 4);
  EXPECT_EQ(*store_->CountCalls("ta", b), 2);
  EXPECT_EQ(*store_->CountCalls("tb", a), 1);
  EXPECT_EQ(*store_->CountCalls("ta", std::nullopt), 5);
}

// Many of a party's calls start in the same second, stored in an order
// that is not their key order: pages still follow (start, source, call id)
// newest first, each call once, whatever the page size. (SQLite's index
// lists a second's records in the order they came, migration 0015.)
TEST_P(StoreTest, PartyPagesFollowKeyOrderWithinOneSecond) {
  const std::string a = Term('a');
  std::vector<StoredCall> calls;
  for (const char* id : {"m", "c", "x", "a", "q", "b", "z", "k"}) calls.push_back(CallWithTerms(id, 500, {a}));
  calls.push_back(CallWithTerms("later", 501, {a}));
  calls.push_back(CallWithTerms("earlier", 499, {a}));
  StoredCall other_source = CallWithTerms("n", 500, {a});
  other_source.source = "cucm";
  calls.push_back(other_source);
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a1", "b1", calls, {})).ok());
  const std::vector<std::string> expected{"later", "z", "x", "q", "m", "k", "c", "b", "a", "n", "earlier"};
  for (int64_t size : {1, 2, 3, 4, 20}) {
    SCOPED_TRACE(size);
    std::vector<std::string> seen;
    std::optional<std::tuple<int64_t, std::string, std::string>> before;
    for (int pages = 0; pages < 20; ++pages) {
      auto page = store_->ListCalls("ta", PartyPage(a, size, before));
      ASSERT_TRUE(page.ok()) << page.error().detail;
      ASSERT_LE(static_cast<int64_t>(page->size()), size);
      for (const StoredCall& c : *page) seen.push_back(c.call_id);
      if (static_cast<int64_t>(page->size()) < size) break;
      before = std::make_tuple(page->back().start_at, page->back().source, page->back().call_id);
    }
    EXPECT_EQ(seen, expected);
  }
  EXPECT_EQ(*store_->CountCalls("ta", a), 11);
  // A term that is not 16 hex digits matches nothing (and is no FTS5 query).
  EXPECT_EQ(Ids(store_->ListCalls("ta", PartyPage("\"*\" OR x", 10))), std::vector<std::string>{});
  EXPECT_EQ(*store_->CountCalls("ta", std::string("\"")), 0);
}

// Enough calls that a page is found both ways SQLite's ListPartyCalls finds
// one (migration 0019): by walking the newest calls (a frequent party) and
// through the term index after the walk's budget (a party with few calls,
// most of them old). Every page size gives each call once in key order, as a
// model computed here says; calls start three to a second and arrive out of
// start order; the other tenant's calls with the same terms are never shown.
TEST_P(StoreTest, PartyPagesWalkAndIndexAgreeWithAModel) {
  const std::string dense = Term('d'), sparse = Term('5'), none = Term('9');
  constexpr int64_t kCalls = 3000;
  constexpr int64_t kStart = 1767225600;
  using Key = std::tuple<int64_t, std::string, std::string>;
  std::map<std::string, std::vector<Key>> expected;
  std::vector<StoredCall> calls;
  for (int64_t n = 0; n < kCalls; ++n) {
    const int64_t i = n * 7919 % kCalls;  // arrival order is not start order
    StoredCall c = MakeCall(i % 2 ? "dma" : "cucm", "c" + std::to_string(i), kStart + i / 3);
    if (i % 3 == 0) c.search_terms.push_back(dense);
    if (i < 30 || i == kCalls - 10) c.search_terms.push_back(sparse);
    for (const std::string& t : c.search_terms) expected[t].emplace_back(c.start_at, c.source, c.call_id);
    calls.push_back(std::move(c));
  }
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("ta", "a1", "b1", calls, {})).ok());
  std::vector<StoredCall> theirs;
  for (int64_t i = 0; i < 500; ++i) {
    theirs.push_back(CallWithTerms("t" + std::to_string(i), kStart + (i % 2 ? -1000 : 5000) + i, {dense, sparse}));
  }
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("tb", "a1", "b1", theirs, {})).ok());

  for (auto& [term, keys] : expected) std::sort(keys.begin(), keys.end(), std::greater<>());
  ASSERT_EQ(expected[dense].size(), 1000u);
  ASSERT_EQ(expected[sparse].size(), 31u);
  for (const std::string& term : {dense, sparse, none}) {
    EXPECT_EQ(*store_->CountCalls("ta", term), static_cast<int64_t>(expected[term].size()));
    for (int64_t size : {1, 7, 50, 1000}) {
      SCOPED_TRACE(term.substr(0, 1) + " pages of " + std::to_string(size));
      std::vector<Key> seen;
      std::optional<Key> before;
      for (int pages = 0; pages < 2000; ++pages) {
        auto page = store_->ListCalls("ta", PartyPage(term, size, before));
        ASSERT_TRUE(page.ok()) << page.error().detail;
        ASSERT_LE(static_cast<int64_t>(page->size()), size);
        for (const StoredCall& c : *page) {
          EXPECT_EQ(c.tenant_id, "ta");
          seen.emplace_back(c.start_at, c.source, c.call_id);
        }
        if (static_cast<int64_t>(page->size()) < size) break;
        before = seen.back();
      }
      EXPECT_EQ(seen, expected[term]);
    }
  }
  // From a cursor in the middle of one second.
  const Key middle = expected[dense][500];
  auto page = store_->ListCalls("ta", PartyPage(dense, 3, middle));
  ASSERT_TRUE(page.ok()) << page.error().detail;
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].call_id, std::get<2>(expected[dense][501]));
  EXPECT_EQ((*page)[2].call_id, std::get<2>(expected[dense][503]));
}

// parley_search_docs(?1), the batch's search-term rows read from memory by
// one INSERT ... SELECT: exactly the bound rows, in order and without a sort
// (the table reports their id order), nothing for any other argument, and
// not usable from a view or trigger.
TEST(SqliteSearchDocRows, ReadsOnlyTheBoundRows) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  ASSERT_TRUE(sqlite::RegisterSearchDocRows(db).ok());
  const std::string terms_a = Term('a'), terms_b = Term('b') + " " + Term('c');
  const std::vector<sqlite::SearchDocRow> rows = {{(100LL << 24), "ta", "call", "dma", "c1", 100, terms_a},
                                                  {(100LL << 24) + 1, "ta", "participant", "dma", "p1", 100, terms_b}};
  auto read = [&](auto bind) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT id, tenant_id, record_kind, source, record_id, start_at, terms"
                                 " FROM parley_search_docs(?1) ORDER BY id",
                                 -1, &stmt, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    bind(stmt);
    std::vector<std::string> out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::string row;
      for (int c = 0; c < 7; ++c) {
        if (c > 0) row += "|";
        row += reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
      }
      out.push_back(row);
    }
    sqlite3_finalize(stmt);
    return out;
  };
  const auto bound = read([&](sqlite3_stmt* stmt) {
    sqlite3_bind_pointer(stmt, 1, const_cast<std::vector<sqlite::SearchDocRow>*>(&rows), sqlite::kSearchDocRowsPointer,
                         nullptr);
  });
  EXPECT_EQ(bound,
            (std::vector<std::string>{std::to_string(100LL << 24) + "|ta|call|dma|c1|100|" + terms_a,
                                      std::to_string((100LL << 24) + 1) + "|ta|participant|dma|p1|100|" + terms_b}));
  EXPECT_TRUE(read([](sqlite3_stmt*) {}).empty());  // NULL
  EXPECT_TRUE(read([&](sqlite3_stmt* stmt) {
                sqlite3_bind_pointer(stmt, 1, const_cast<std::vector<sqlite::SearchDocRow>*>(&rows), "other", nullptr);
              }).empty());
  EXPECT_TRUE(read([](sqlite3_stmt* stmt) { sqlite3_bind_text(stmt, 1, "rows", -1, SQLITE_STATIC); }).empty());

  sqlite3_stmt* plan = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT id FROM parley_search_docs(?1) ORDER BY id", -1, &plan,
                               nullptr),
            SQLITE_OK);
  std::string steps;
  while (sqlite3_step(plan) == SQLITE_ROW) steps += reinterpret_cast<const char*>(sqlite3_column_text(plan, 3));
  sqlite3_finalize(plan);
  EXPECT_EQ(steps.find("TEMP B-TREE"), std::string::npos) << steps;

  ASSERT_EQ(sqlite3_exec(db, "CREATE VIEW v AS SELECT id FROM parley_search_docs(NULL)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db, "SELECT * FROM v", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_NE(std::string(sqlite3_errmsg(db)).find("unsafe use"), std::string::npos) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

// SQLite's term indexes follow every write and delete: call_terms over
// calls.terms (migration 0019) and pii_terms over pii_docs, the participants'
// and devices' (0015). New records, a device's replaced terms, retention and a
// deleted tenant leave each equal to its content table, and neither a
// pii_docs row nor a call's terms or id can be updated behind their backs.
TEST(SqliteSearchTerms, IndexFollowsEveryWriteAndDelete) {
  TempDir dir;
  const std::string path = dir.File("parley.db");
  auto store = OpenOrDie(path);
  for (const char* t : {"ta", "tb"}) {
    ASSERT_TRUE(store->CreateTenant(MakeTenant(t, std::string("org-") + t)).ok());
    ASSERT_TRUE(store->CreateAgent(MakeAgent(t, "a1")).ok());
  }
  const std::string a = Term('a'), b = Term('b'), c = Term('c');
  BatchCommit first = MakeBatch("ta", "a1", "b1", {CallWithTerms("old", 100, {a, b}), CallWithTerms("new", 1000000000, {a})}, {});
  StoredDevice d = MakeDevice("rprm", "d1", 100, "v1");
  d.search_terms = {b};
  first.devices = {d};
  ASSERT_TRUE(store->CommitBatch(first).ok());
  ASSERT_TRUE(store->CommitBatch(MakeBatch("tb", "a1", "b1", {CallWithTerms("theirs", 100, {a})}, {})).ok());
  // rank 1: FTS5 also compares each index with its content table, calls
  // and pii_docs (fails with SQLITE_CORRUPT_VTAB when they differ).
  auto index_ok = [&] {
    RawDb raw(path);
    raw.Exec("INSERT INTO call_terms (call_terms, rank) VALUES ('integrity-check', 1)");
    raw.Exec("INSERT INTO pii_terms (pii_terms, rank) VALUES ('integrity-check', 1)");
    return raw.Text("PRAGMA integrity_check") == "ok";
  };
  // The records either index lists under `term`.
  auto matches = [&](const std::string& term) {
    return RawDb(path).Text("SELECT (SELECT count(*) FROM call_terms WHERE call_terms MATCH '\"" + term +
                            "\"') + (SELECT count(*) FROM pii_terms WHERE pii_terms MATCH '\"" + term + "\"')");
  };
  EXPECT_TRUE(index_ok());
  EXPECT_EQ(matches(a), "3");
  EXPECT_EQ(matches(b), "2");

  d.observed_at = 200;  // a newer state: its terms replace the old ones
  d.search_terms = {c};
  BatchCommit device = MakeBatch("ta", "a1", "b2", {}, {});
  device.devices = {d};
  ASSERT_TRUE(store->CommitBatch(device).ok());
  EXPECT_EQ(matches(b), "1");
  EXPECT_EQ(matches(c), "1");

  auto dropped = store->DropRecordsBefore(86400 * 40);
  ASSERT_TRUE(dropped.ok()) << dropped.error().detail;
  EXPECT_EQ(dropped->search_terms, 3);  // old (a, b), theirs (a); the device's stay
  EXPECT_EQ(matches(a), "1");
  EXPECT_EQ(matches(b), "0");
  EXPECT_EQ(Ids(store->ListCalls("ta", PartyPage(a, 10))), std::vector<std::string>{"new"});
  EXPECT_TRUE(index_ok());
  // VACUUM may renumber a table's implicit rowids, never an INTEGER PRIMARY
  // KEY: the index still names the right calls after one (ids now sparse).
  const std::string ids_before = RawDb(path).Text("SELECT group_concat(id || ':' || call_id) FROM calls");
  RawDb(path).Exec("VACUUM");
  EXPECT_EQ(RawDb(path).Text("SELECT group_concat(id || ':' || call_id) FROM calls"), ids_before);
  EXPECT_EQ(Ids(store->ListCalls("ta", PartyPage(a, 10))), std::vector<std::string>{"new"});
  EXPECT_TRUE(index_ok());

  RawDb(path).Exec("PRAGMA foreign_keys = ON; DELETE FROM tenants WHERE id = 'ta'");
  EXPECT_EQ(matches(a), "0");
  EXPECT_EQ(matches(c), "0");
  EXPECT_EQ(RawDb(path).Text("SELECT count(*) FROM pii_docs"), "0");
  EXPECT_EQ(RawDb(path).Text("SELECT count(*) FROM calls WHERE tenant_id = 'ta'"), "0");
  EXPECT_TRUE(index_ok());

  ASSERT_TRUE(store->CommitBatch(MakeBatch("tb", "a1", "b2", {CallWithTerms("kept", 1000000000, {b})}, {})).ok());
  {
    RawDb raw(path);
    auto refused = [&](const std::string& sql) {
      char* error = nullptr;
      const int rc = sqlite3_exec(raw.handle(), sql.c_str(), nullptr, nullptr, &error);
      sqlite3_free(error);
      return rc != SQLITE_OK;
    };
    raw.Exec("INSERT INTO pii_docs (id, tenant_id, record_kind, source, record_id, start_at, terms)"
             " VALUES (100 << 24, 'tb', 'participant', 'dma', 'x', 100, '" + a + "')");
    EXPECT_EQ(matches(a), "1");
    EXPECT_TRUE(refused("UPDATE pii_docs SET terms = '" + c + "'"));
    // A call's terms live in its row now; pii_docs refuses them.
    EXPECT_TRUE(refused("INSERT INTO pii_docs (id, tenant_id, record_kind, source, record_id, start_at, terms)"
                        " VALUES (101 << 24, 'tb', 'call', 'dma', 'y', 101, '" + c + "')"));
    EXPECT_TRUE(refused("UPDATE calls SET terms = '" + c + "'"));
    EXPECT_TRUE(refused("UPDATE calls SET id = id + 1000"));
    raw.Exec("UPDATE calls SET pii_sealed = x'00'");  // what a data-key rotation rewrites
    EXPECT_EQ(matches(b), "1");
  }
  EXPECT_EQ(Ids(store->ListCalls("tb", PartyPage(b, 10))), std::vector<std::string>{"kept"});
  EXPECT_TRUE(index_ok());
}

// A party's count on SQLite: with one tenant in the file the index's own
// count answers (no call row read); a tenant that is not that one, or any
// tenant once there are two, counts through the calls' rows. Every answer is
// the tenant's own calls.
TEST(SqliteSearchTerms, CountIsTheTenantsWithOneTenantOrMany) {
  TempDir dir;
  auto store = OpenOrDie(dir.File("parley.db"));
  ASSERT_TRUE(store->CreateTenant(MakeTenant("ta", "org-ta")).ok());
  ASSERT_TRUE(store->CreateAgent(MakeAgent("ta", "a1")).ok());
  const std::string a = Term('a'), b = Term('b');
  ASSERT_TRUE(store->CommitBatch(MakeBatch("ta", "a1", "b1",
                                           {CallWithTerms("c1", 100, {a}), CallWithTerms("c2", 200, {a, b}),
                                            CallWithTerms("c3", 300, {a}), CallWithTerms("c4", 400, {})},
                                           {}))
                  .ok());
  EXPECT_EQ(*store->CountCalls("ta", a), 3);
  EXPECT_EQ(*store->CountCalls("ta", b), 1);
  EXPECT_EQ(*store->CountCalls("nobody", a), 0);
  ASSERT_TRUE(store->CreateTenant(MakeTenant("tb", "org-tb")).ok());
  ASSERT_TRUE(store->CreateAgent(MakeAgent("tb", "a1")).ok());
  ASSERT_TRUE(store->CommitBatch(MakeBatch("tb", "a1", "b1", {CallWithTerms("theirs", 250, {a})}, {})).ok());
  EXPECT_EQ(*store->CountCalls("ta", a), 3);
  EXPECT_EQ(*store->CountCalls("tb", a), 1);
  EXPECT_EQ(*store->CountCalls("tb", b), 0);
}

// Terms are written only with a record stored now: a record seen before, or
// a duplicate batch, adds none; a device's follow its stored state. A term
// listed twice for one record is stored once.
TEST_P(StoreTest, SearchTermsOnlyForNewRecordsAndDeviceState) {
  const std::string a = Term('a'), b = Term('b');
  BatchCommit first = MakeBatch("ta", "a1", "b1", {CallWithTerms("c1", 100, {a, b, a})}, {});
  StoredParticipant p = MakeParticipant("dma", "p1", "conf-1", 110);
  p.search_terms = {a, a};
  first.participants = {p};
  StoredDevice d = MakeDevice("rprm", "d1", 100, "v1");
  d.search_terms = {a};
  first.devices = {d};
  ASSERT_TRUE(store_->CommitBatch(first).ok());
  const std::string rows_sql =
      "SELECT group_concat(record_kind || ':' || record_id || ':' || substr(term, 1, 1) || ':' || start_at, ',')"
      " FROM (SELECT * FROM pii_search ORDER BY record_kind, record_id, term)";
  const std::string pg_rows_sql =
      "SELECT string_agg(record_kind || ':' || record_id || ':' || substr(term, 1, 1) || ':' || start_at, ','"
      " ORDER BY record_kind, record_id, term) FROM pii_search";
  auto rows = [&] { return Raw(GetParam() == Backend::kSqlite ? rows_sql : pg_rows_sql); };
  EXPECT_EQ(rows(), "call:c1:a:100,call:c1:b:100,device:d1:a:100,participant:p1:a:110");

  // The same batch again, and the same records in a new batch with other terms.
  EXPECT_TRUE(store_->CommitBatch(first)->duplicate);
  BatchCommit again = MakeBatch("ta", "a1", "b2", {CallWithTerms("c1", 100, {Term('c')})}, {});
  p.search_terms = {Term('c')};
  again.participants = {p};
  d.search_terms = {Term('c')};
  again.devices = {d};  // same observed_at: the stored state stays
  auto r = store_->CommitBatch(again);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r->inserted, 0);
  EXPECT_EQ(rows(), "call:c1:a:100,call:c1:b:100,device:d1:a:100,participant:p1:a:110");

  // A newer device observation replaces its terms; an older one does not.
  StoredDevice newer = MakeDevice("rprm", "d1", 200, "v2");
  newer.search_terms = {b};
  BatchCommit replace = MakeBatch("ta", "a1", "b3", {}, {});
  replace.devices = {newer};
  ASSERT_TRUE(store_->CommitBatch(replace).ok());
  StoredDevice older = MakeDevice("rprm", "d1", 150, "v-old");
  older.search_terms = {Term('d')};
  replace.batch_id = "b4";
  replace.devices = {older};
  ASSERT_TRUE(store_->CommitBatch(replace).ok());
  EXPECT_EQ(rows(), "call:c1:a:100,call:c1:b:100,device:d1:b:200,participant:p1:a:110");
}

// The table refuses anything but a 16-hex term: no value in clear gets in
// (an E.164 number has at most 15 digits), nor a whole MAC of the format
// before migration 0013.
TEST_P(StoreTest, SearchTermMustBeHex) {
  const std::vector<std::string> refused{"+442079460000", "442079460000123", "ABCDEF0123456789", std::string(64, 'a')};
  for (const std::string& bad : refused) {
    auto r = store_->CommitBatch(MakeBatch("ta", "a1", "b-" + bad, {CallWithTerms("c1", 100, {bad})}, {}));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(Count("ta"), 0);
}

// Device pages walk the inventory in key order, each row once.
TEST_P(StoreTest, DevicePaginationWalksInventoryOnce) {
  std::vector<StoredDevice> devices;
  for (int i = 0; i < 11; ++i) devices.push_back(MakeDevice(i % 2 ? "dma" : "rprm", "d" + std::to_string(i), 1, "v"));
  BatchCommit b = MakeBatch("ta", "a1", "b1", {}, {});
  b.devices = devices;
  ASSERT_TRUE(store_->CommitBatch(b).ok());
  std::vector<std::pair<std::string, std::string>> seen;
  DevicePageQuery q;
  q.limit = 3;
  for (int pages = 0; pages < 20; ++pages) {
    auto page = store_->ListDevices("ta", q);
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    for (const StoredDevice& d : *page) seen.emplace_back(d.source, d.device_id);
    q.after = std::make_pair(page->back().source, page->back().device_id);
  }
  ASSERT_EQ(seen.size(), 11u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  q.limit = 0;
  EXPECT_EQ(store_->ListDevices("ta", q).error().code, Code::kInvalidArgument);
}

// Pages of every participant walk them in key order, each once, whatever
// their conference or month (PostgreSQL partition), and only the tenant's.
TEST_P(StoreTest, AllParticipantsPagesWalkEachOnceInKeyOrder) {
  BatchCommit b = MakeBatch("ta", "a1", "b1", {}, {});
  for (int i = 0; i < 11; ++i) {
    b.participants.push_back(MakeParticipant(i % 2 ? "pexip" : "rprm", "p" + std::to_string(i),
                                             "conf-" + std::to_string(i % 3), 1000 + (i % 2) * 40 * 86400 + i));
  }
  ASSERT_TRUE(store_->CommitBatch(b).ok());
  BatchCommit other = MakeBatch("tb", "a1", "b1", {}, {});
  other.participants = {MakeParticipant("rprm", "p0", "conf-0", 1000)};
  ASSERT_TRUE(store_->CommitBatch(other).ok());
  std::vector<std::pair<std::string, std::string>> seen;
  ParticipantPageQuery q;
  q.limit = 3;
  for (int pages = 0; pages < 20; ++pages) {
    auto page = store_->ListAllParticipants("ta", q);
    ASSERT_TRUE(page.ok()) << page.error().detail;
    if (page->empty()) break;
    EXPECT_LE(page->size(), 3u);
    for (const StoredParticipant& p : *page) {
      EXPECT_EQ(p.tenant_id, "ta");
      seen.emplace_back(p.source, p.participant_id);
    }
    q.after = std::make_pair(page->back().source, page->back().participant_id);
  }
  ASSERT_EQ(seen.size(), 11u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set(seen.begin(), seen.end()).size(), 11u);
  EXPECT_EQ(store_->ListAllParticipants("tb", {})->size(), 1u);
  EXPECT_TRUE(store_->ListAllParticipants("tc", {})->empty());
  q.limit = 0;
  EXPECT_EQ(store_->ListAllParticipants("ta", q).error().code, Code::kInvalidArgument);
}

// Conference pages walk newest first, each once, served by conferences_by_start.
TEST_P(StoreTest, ConferencePaginationNewestFirst) {
  BatchCommit b = MakeBatch("ta", "a1", "b1", {}, {});
  for (int i = 0; i < 9; ++i) b.conferences.push_back(MakeConference("dma", "k" + std::to_string(i), 1000 + (i % 3)));
  ASSERT_TRUE(store_->CommitBatch(b).ok());
  std::vector<std::tuple<int64_t, std::string, std::string>> seen;
  ConferencePageQuery q;
  q.limit = 2;
  for (int pages = 0; pages < 20; ++pages) {
    auto page = store_->ListConferences("ta", q);
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    for (const StoredConference& c : *page) seen.emplace_back(c.start_at, c.source, c.conference_id);
    q.before = std::make_tuple(page->back().start_at, page->back().source, page->back().conference_id);
  }
  ASSERT_EQ(seen.size(), 9u);
  EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));
  EXPECT_EQ(std::set(seen.begin(), seen.end()).size(), 9u);

  ExpectIndexServesKeyset("conferences", "conference_id", "conferences_by_start");
}

// Tenant B never sees tenant A's conferences, participants, devices or samples, even under the same keys.
TEST_P(StoreTest, ModelTenantIsolation) {
  ASSERT_TRUE(store_->CommitBatch(FullBatch("ta", "b1")).ok());
  BatchCommit other = MakeBatch("tb", "a1", "b1", {}, {});
  other.conferences = {MakeConference("dma", "conf-1", 100)};
  ASSERT_TRUE(store_->CommitBatch(other).ok());

  auto conferences = store_->ListConferences("tb", {});
  ASSERT_TRUE(conferences.ok());
  ASSERT_EQ(conferences->size(), 1u);
  EXPECT_EQ((*conferences)[0].tenant_id, "tb");
  EXPECT_EQ((*conferences)[0].stored_participants, 0) << "A's participants are not counted for B";
  EXPECT_TRUE(store_->ListParticipants("tb", "dma", "conf-1")->empty());
  EXPECT_TRUE(store_->ListDevices("tb", {})->empty());
  EXPECT_TRUE(store_->ListQuality("tb", RecordKind::kCall, {{"dma", "c1"}})->empty());
  EXPECT_TRUE(store_->ListQuality("tb", RecordKind::kParticipant, {{"dma", "p1"}})->empty());
  EXPECT_TRUE(store_->ListConferences("tc", {})->empty());
}

// A failure at any step leaves no record of any type, no sample, no cursor and no batch row.
TEST_P(StoreTest, FailedCommitLeavesNoRecordOfAnyType) {
  for (const char* failing_step :
       {"commit_batch.after_calls", "commit_batch.after_conferences", "commit_batch.after_participants",
        "commit_batch.after_devices", "commit_batch.after_cursors"}) {
    SCOPED_TRACE(failing_step);
    Reopen([failing_step](std::string_view step) -> Status {
      if (step == failing_step) return Unavailable("injected crash");
      return Ok();
    });
    ASSERT_FALSE(store_->CommitBatch(FullBatch("ta", "b1")).ok());
    for (const std::string& table : db_->BatchTables()) {
      EXPECT_EQ(Raw("SELECT COUNT(*) FROM " + table), "0") << table;
    }
  }
  Reopen();
  auto retry = store_->CommitBatch(FullBatch("ta", "b1"));
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->inserted, 5);
}

// A sample the schema refuses, or two samples for one stream, fail the whole batch.
TEST_P(StoreTest, BadQualitySampleFailsWholeBatch) {
  BatchCommit bad = FullBatch("ta", "b1");
  bad.participants[0].quality[0].mos = 7;
  auto r = store_->CommitBatch(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  BatchCommit twice = FullBatch("ta", "b1");
  twice.calls[0].quality.push_back(twice.calls[0].quality[0]);
  ASSERT_FALSE(store_->CommitBatch(twice).ok());
  EXPECT_EQ(Count("ta"), 0);
  EXPECT_TRUE(store_->ListConferences("ta", {})->empty());
  EXPECT_TRUE(store_->GetCursors("ta", "a1")->empty());
}

// A conference, participant or device naming another tenant is refused before anything is written.
TEST_P(StoreTest, CommitBatchRefusesForeignModelRecords) {
  for (int which = 0; which < 3; ++which) {
    BatchCommit b = FullBatch("ta", "b1");
    if (which == 0) b.conferences[0].tenant_id = "tb";
    if (which == 1) b.participants[1].agent_id = "a2";
    if (which == 2) b.devices[0].tenant_id = "tb";
    auto r = store_->CommitBatch(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  }
  EXPECT_EQ(Count("ta"), 0);
  EXPECT_EQ(store_->ListQuality("ta", RecordKind::kCall, std::vector<RecordRef>(1001)).error().code,
            Code::kInvalidArgument);
}

// Brings a new file to schema `version` as a Parley of that version would
// have left it, for the upgrade tests.
void MigrateSqliteTo(RawDb& raw, int version) {
  raw.Exec("CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT");
  for (const auto& m : sqlite::Migrations()) {
    if (m.version > version) break;
    raw.Exec(std::string(m.sql));
    raw.Exec("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", 0)");
  }
}

// A call row as the schema before migration 0019 held it (no id, no terms).
std::string OldCallRow(const std::string& call_id, int64_t start_at) {
  const std::string start = std::to_string(start_at);
  return "INSERT INTO calls (tenant_id, source, call_id, agent_id, start_at, end_at, duration_s, status, pii_sealed,"
         " ingested_at) VALUES ('ta', 'dma', '" + call_id + "', 'a1', " + start + ", " + start + " + 60, 60,"
         " 'completed', x'00', 0)";
}

// A database at version 1 migrates to the current schema and keeps its device rows under the new key.
TEST(SqliteMigrations, Version1DatabaseUpgradesKeepingDevices) {
  TempDir dir;
  const std::string path = dir.File("v1.db");
  {
    RawDb raw(path);
    MigrateSqliteTo(raw, 1);
    raw.Exec("INSERT INTO tenants (id, name, wrapped_data_key, created_at) VALUES ('ta', 'org', x'00', 0)");
    raw.Exec("INSERT INTO devices (tenant_id, id, source, model, version, site, pii_sealed, updated_at)"
             " VALUES ('ta', 'd1', 'rprm', 'Group 500', '6.4', 'Paris', x'01', 42)");
  }
  auto store = OpenOrDie(path);
  EXPECT_EQ(store->SchemaVersion(), sqlite::LatestSchemaVersion());
  auto devices = store->ListDevices("ta", {});
  ASSERT_TRUE(devices.ok()) << devices.error().detail;
  ASSERT_EQ(devices->size(), 1u);
  EXPECT_EQ((*devices)[0].source, "rprm");
  EXPECT_EQ((*devices)[0].device_id, "d1");
  EXPECT_EQ((*devices)[0].observed_at, 42);
  EXPECT_EQ((*devices)[0].model, "Group 500");
  RawDb raw(path);
  EXPECT_EQ(raw.Text("PRAGMA foreign_key_check"), "");
  EXPECT_EQ(raw.Text("PRAGMA integrity_check"), "ok");
}

// Migration 0013 cuts the whole-MAC terms stored before it to the 64-bit
// prefix that search computes now, in both term tables: a party found before
// the upgrade is found after it.
TEST(SqliteMigrations, Version12TermsAreCutToThePrefixSearchComputes) {
  TempDir dir;
  const std::string path = dir.File("v12.db");
  const std::string mac = "0123456789abcdef" + std::string(48, 'e');
  {
    RawDb raw(path);
    MigrateSqliteTo(raw, 12);
    raw.Exec("INSERT INTO tenants (id, name, wrapped_data_key, created_at) VALUES ('ta', 'org', x'00', 0)");
    for (const char* table : {"pii_search", "pii_search_recent"}) {
      raw.Exec(OldCallRow(table, 100));
      raw.Exec(std::string("INSERT INTO ") + table + " (tenant_id, record_kind, source, record_id, term, start_at)"
               " VALUES ('ta', 'call', 'dma', '" + table + "', '" + mac + "', 100)");
    }
  }
  auto store = OpenOrDie(path);
  EXPECT_EQ(store->SchemaVersion(), sqlite::LatestSchemaVersion());
  const auto found = store->CountCalls("ta", mac.substr(0, 16));
  ASSERT_TRUE(found.ok()) << found.error().detail;
  EXPECT_EQ(*found, 2);
  RawDb raw(path);
  EXPECT_EQ(raw.Text("SELECT group_concat(length(term)) FROM pii_search"), "16,16");
  // Migration 0015 moved both tables' terms into pii_docs, 0019 into their calls.
  EXPECT_EQ(raw.Text("SELECT group_concat(call_id || ':' || terms, ',') FROM (SELECT * FROM calls ORDER BY call_id)"),
            "pii_search:" + mac.substr(0, 16) + ",pii_search_recent:" + mac.substr(0, 16));
  EXPECT_EQ(raw.Text("SELECT count(*) FROM pii_docs"), "0");
  EXPECT_EQ(raw.Text("INSERT INTO call_terms (call_terms, rank) VALUES ('integrity-check', 1)"), "");
  EXPECT_EQ(raw.Text("INSERT INTO pii_terms (pii_terms, rank) VALUES ('integrity-check', 1)"), "");
  EXPECT_EQ(raw.Text("PRAGMA foreign_key_check"), "");
  EXPECT_EQ(raw.Text("PRAGMA integrity_check"), "ok");
}


// Migration 0016 rebuilt pii_docs with a cheaper CHECK; 0019 moves each
// call's terms from it into the call's row, indexed by call_terms. The calls
// keep their ids (arrival order) and every term; a participant's row stays; a
// call's row whose call is gone is dropped, and of a call's two rows the
// newer counts. The delete trigger keeps the index in step, and the shape of
// a call's terms is checked as pii_docs' is: an upper-case term, a double
// space or a short term is refused.
TEST(SqliteMigrations, Version15CallTermsMoveIntoTheirCalls) {
  TempDir dir;
  const std::string path = dir.File("v15.db");
  const std::string t1 = "0123456789abcdef", t2 = "fedcba9876543210", t3 = "00000000000000aa";
  {
    RawDb raw(path);
    MigrateSqliteTo(raw, 15);
    raw.Exec("INSERT INTO tenants (id, name, wrapped_data_key, created_at) VALUES ('ta', 'org', x'00', 0)");
    raw.Exec(OldCallRow("c2", 200));  // arrived first
    raw.Exec(OldCallRow("c1", 100));
    raw.Exec("INSERT INTO pii_docs (id, tenant_id, record_kind, source, record_id, start_at, terms) VALUES"
             " ((50 << 24), 'ta', 'call', 'dma', 'gone', 50, '" + t1 + "'),"
             " ((100 << 24), 'ta', 'call', 'dma', 'c1', 100, '" + t1 + " " + t2 + "'),"
             " ((150 << 24), 'ta', 'participant', 'dma', 'p1', 150, '" + t1 + "'),"
             " ((200 << 24), 'ta', 'call', 'dma', 'c2', 200, '" + t3 + "'),"
             " ((200 << 24) + 1, 'ta', 'call', 'dma', 'c2', 200, '" + t2 + "')");
  }
  auto store = OpenOrDie(path);
  EXPECT_EQ(store->SchemaVersion(), sqlite::LatestSchemaVersion());
  EXPECT_EQ(*store->CountCalls("ta", t1), 1);
  EXPECT_EQ(*store->CountCalls("ta", t2), 2);
  EXPECT_EQ(*store->CountCalls("ta", t3), 0);
  EXPECT_EQ(Ids(store->ListCalls("ta", PartyPage(t2, 10))), (std::vector<std::string>{"c2", "c1"}));
  RawDb raw(path);
  EXPECT_EQ(raw.Text("SELECT group_concat(id || ':' || call_id || ':' || terms, ',') FROM"
                     " (SELECT * FROM calls ORDER BY id)"),
            "1:c2:" + t2 + ",2:c1:" + t1 + " " + t2);
  EXPECT_EQ(raw.Text("SELECT group_concat(record_kind || ':' || record_id) FROM pii_docs"), "participant:p1");
  EXPECT_EQ(raw.Text("SELECT count(*) FROM pii_search"), "4");
  raw.Exec("DELETE FROM calls WHERE call_id = 'c2'");  // the trigger takes its terms out of the index
  EXPECT_EQ(*store->CountCalls("ta", t2), 1);
  EXPECT_EQ(raw.Text("INSERT INTO call_terms (call_terms, rank) VALUES ('integrity-check', 1)"), "");
  EXPECT_EQ(raw.Text("INSERT INTO pii_terms (pii_terms, rank) VALUES ('integrity-check', 1)"), "");
  for (const std::string& bad : {t1.substr(0, 15), std::string("0123456789ABCDEF"), t1 + "  " + t2, " " + t1.substr(1)}) {
    const std::string call = "INSERT INTO calls (tenant_id, source, call_id, agent_id, start_at, end_at, duration_s,"
                             " status, pii_sealed, ingested_at, terms) VALUES ('ta', 'dma', 'c3', 'a1', 300, 360, 60,"
                             " 'completed', x'00', 0, '" + bad + "')";
    EXPECT_EQ(sqlite3_exec(raw.handle(), call.c_str(), nullptr, nullptr, nullptr), SQLITE_CONSTRAINT) << bad;
    const std::string doc = "INSERT INTO pii_docs (id, tenant_id, record_kind, source, record_id, start_at,"
                            " terms) VALUES ((300 << 24), 'ta', 'participant', 'dma', 'p3', 300, '" + bad + "')";
    EXPECT_EQ(sqlite3_exec(raw.handle(), doc.c_str(), nullptr, nullptr, nullptr), SQLITE_CONSTRAINT) << bad;
  }
  EXPECT_EQ(raw.Text("SELECT count(*) FROM calls"), "1");
  EXPECT_EQ(raw.Text("SELECT count(*) FROM pii_docs"), "1");
  EXPECT_EQ(raw.Text("PRAGMA foreign_key_check"), "");
  EXPECT_EQ(raw.Text("PRAGMA integrity_check"), "ok");
}

// ---- Both backends, concurrency ----

// Two stores on one database commit the same batch at once: it is stored once, the other call reports duplicate.
TEST_P(StoreTest, ConcurrentCommitsOfOneBatchStoreItOnce) {
  auto other = db_->Open({});
  const BatchCommit batch = FullBatch("ta", "b-race");
  Result<BatchCommitResult> first = InvalidArgument("not run"), second = InvalidArgument("not run");
  std::thread t1([&] { first = store_->CommitBatch(batch); });
  std::thread t2([&] { second = other->CommitBatch(batch); });
  t1.join();
  t2.join();
  ASSERT_TRUE(first.ok()) << first.error().detail;
  ASSERT_TRUE(second.ok()) << second.error().detail;
  EXPECT_EQ(first->duplicate + second->duplicate, 1);
  EXPECT_EQ(first->inserted + second->inserted, 5);
  EXPECT_EQ(Count("ta"), 1);
  EXPECT_EQ(store_->ListQuality("ta", RecordKind::kCall, {{"dma", "c1"}})->size(), 2u);
}

// ---- Retention ----

// Retention is platform-wide and by month of start: every record type of
// every tenant that started before the boundary goes with its quality
// samples and search terms; later ones, devices and rollups stay. The dry
// run counts exactly what the run then deletes.
TEST_P(StoreTest, RetentionDropsOldRecordsOfEveryTenant) {
  constexpr int64_t kDec2025 = 1764547200;  // 2025-12-01T00:00:00Z
  constexpr int64_t kJan2026 = 1767225600;
  constexpr int64_t kFeb2026 = 1769904000;
  constexpr int64_t kDay = 86400;
  auto with = [](StoredCall c, int samples, char term) {
    const char* media[] = {"audio", "video", "content"};
    for (int i = 0; i < samples; ++i) {
      QualitySample q = MakeSample("orig", "rx", media[i]);
      q.jitter_ms_avg = 5 + i;
      c.quality.push_back(q);
    }
    if (term != 0) c.search_terms = {Term(term)};
    return c;
  };
  const std::string old_term = Term('a'), new_term = Term('b'), device_term = Term('d');
  BatchCommit a = MakeBatch("ta", "a1", "ret-a",
                            {with(MakeCall("dma", "old", kJan2026 + 100), 2, 'a'),
                             with(MakeCall("dma", "edge", kFeb2026 - 1), 1, 0),  // runs into February
                             with(MakeCall("dma", "at", kFeb2026), 0, 'b'),
                             with(MakeCall("dma", "new", kFeb2026 + 2 * kDay), 1, 'b')},
                            {});
  a.conferences = {MakeConference("dma", "conf-old", kJan2026 + 50), MakeConference("dma", "conf-new", kFeb2026 + 50)};
  StoredParticipant p_old = MakeParticipant("dma", "p-old", "conf-old", kJan2026 + 60);
  p_old.quality = {MakeSample("participant", "rx", "audio")};
  p_old.search_terms = {old_term};
  StoredParticipant p_late = MakeParticipant("dma", "p-late", "conf-old", kFeb2026 + 10);  // its own start counts
  p_late.search_terms = {new_term};
  a.participants = {p_old, p_late, MakeParticipant("dma", "p-new", "conf-new", kFeb2026 + 60)};
  StoredDevice device = MakeDevice("rprm", "dev-1", kDec2025, "6.4.2");  // devices are not records
  device.search_terms = {device_term};
  a.devices = {device};
  ASSERT_TRUE(store_->CommitBatch(a).ok());
  ASSERT_TRUE(store_->CommitBatch(MakeBatch("tb", "a1", "ret-b",
                                            {with(MakeCall("dma", "old", kDec2025 + 5), 1, 'a'),
                                             with(MakeCall("dma", "new", kFeb2026 + 3 * kDay), 1, 'a')},
                                            {}))
                  .ok());

  RetentionResult want;
  want.boundary = kFeb2026;
  want.calls = 3;            // ta old, edge; tb old
  want.conferences = 1;      // conf-old
  want.participants = 1;     // p-old
  want.quality_samples = 5;  // 2 + 1 + 1 (tb) + 1 (p-old)
  want.search_terms = 3;     // ta old, p-old, tb old
  // PostgreSQL: December and January of calls, conferences, participants and quality_samples.
  want.partitions = GetParam() == Backend::kPostgres ? 8 : 0;
  const int64_t mid_february = kFeb2026 + 12 * kDay;  // a cutoff within a month means its start
  auto counted = store_->CountRecordsBefore(mid_february);
  ASSERT_TRUE(counted.ok()) << counted.error().detail;
  EXPECT_EQ(*counted, want);
  EXPECT_EQ(Count("ta"), 4);  // the dry run deleted nothing

  auto dropped = store_->DropRecordsBefore(mid_february);
  ASSERT_TRUE(dropped.ok()) << dropped.error().detail;
  EXPECT_EQ(*dropped, want);
  RetentionResult none;
  none.boundary = kFeb2026;
  EXPECT_EQ(*store_->CountRecordsBefore(mid_february), none);
  EXPECT_EQ(*store_->DropRecordsBefore(mid_february), none);  // again: nothing left

  // What stays, in every table.
  auto calls = [&](const std::string& tenant) {
    std::string ids;
    const auto listed = store_->ListCalls(tenant, Page(100));
    EXPECT_TRUE(listed.ok());
    if (listed.ok())
      for (const StoredCall& c : *listed) ids += c.call_id + ",";
    return ids;
  };
  EXPECT_EQ(calls("ta"), "new,at,");
  EXPECT_EQ(calls("tb"), "new,");
  EXPECT_EQ(Raw("SELECT count(*) FROM calls"), "3");
  EXPECT_EQ(Raw("SELECT conference_id FROM conferences"), "conf-new");
  EXPECT_EQ(Raw("SELECT count(*) FROM participants WHERE participant_id IN ('p-late', 'p-new')"), "2");
  EXPECT_EQ(Raw("SELECT count(*) FROM participants"), "2");
  EXPECT_EQ(Raw("SELECT count(*) FROM quality_samples"), "2");
  EXPECT_EQ(store_->ListQuality("ta", RecordKind::kCall, {{"dma", "new"}})->size(), 1u);
  EXPECT_EQ(store_->ListQuality("tb", RecordKind::kCall, {{"dma", "new"}})->size(), 1u);
  EXPECT_EQ(Raw("SELECT count(*) FROM pii_search WHERE record_kind <> 'device'"), "4");  // at, new (ta, tb), p-late
  EXPECT_EQ(Raw("SELECT count(*) FROM pii_search WHERE term = '" + old_term + "' AND record_kind = 'participant'"),
            "0");
  EXPECT_EQ(*store_->CountCalls("ta", old_term), 0);
  EXPECT_EQ(*store_->CountCalls("tb", old_term), 1);  // tb's new call has the same term
  EXPECT_EQ(*store_->CountCalls("ta", new_term), 2);
  EXPECT_EQ(store_->ListDevices("ta", {})->size(), 1u);
  EXPECT_EQ(Raw("SELECT count(*) FROM pii_search WHERE record_kind = 'device'"), "1");

  // Rollups are kept: January is still charted. Verified from the boundary
  // (plus the day "edge" ran into) they match the records left; verified
  // from the epoch they cannot.
  RollupQuery january{RollupGrain::kDay, RollupDimension::kTenant, kJan2026, kFeb2026, std::nullopt};
  auto rows = store_->ListRollups("ta", january);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);  // the 1st and the 31st
  EXPECT_EQ(rows->front().usage.calls + rows->back().usage.calls, 2);  // old and edge
  for (const char* tenant : {"ta", "tb"}) {
    SCOPED_TRACE(tenant);
    auto from_boundary = VerifyRollups(*store_, tenant, kNow, 10, kFeb2026);
    ASSERT_TRUE(from_boundary.ok());
    EXPECT_TRUE(from_boundary->ok()) << (from_boundary->examples.empty() ? "" : from_boundary->examples.front());
    EXPECT_GT(from_boundary->rows_compared, 0);
    auto whole = VerifyRollups(*store_, tenant, kNow);
    ASSERT_TRUE(whole.ok());
    EXPECT_GT(whole->mismatches, 0);
  }
}

// The boundary is the start of the UTC month of any cutoff.
TEST(Retention, BoundaryIsTheMonthStart) {
  EXPECT_EQ(RetentionBoundary(1769904000), 1769904000);      // 2026-02-01T00:00:00Z
  EXPECT_EQ(RetentionBoundary(1769904000 - 1), 1767225600);  // 2026-01-31T23:59:59Z
  EXPECT_EQ(RetentionBoundary(1772323199), 1769904000);      // 2026-02-28T23:59:59Z
  EXPECT_EQ(RetentionBoundary(0), 0);
}

// SQLite deletes in transactions of kRetentionChunk records, walking the
// keys once; interrupted between chunks it keeps what it deleted and the
// next run finishes.
TEST(SqliteRetention, DeletesInChunksAndResumes) {
  TempDir dir;
  const std::string path = dir.File("parley.db");
  int commits = 0;
  bool fail_second = true;
  SqliteOptions options;
  options.fault_hook_for_test = [&](std::string_view step) -> Status {
    if (step != "retention.before_commit") return Ok();
    ++commits;
    if (fail_second && commits == 2) return Unavailable("injected");
    return Ok();
  };
  auto store = OpenOrDie(path, std::move(options));
  ASSERT_TRUE(store->CreateTenant(MakeTenant("ta", "org-ta")).ok());
  ASSERT_TRUE(store->CreateAgent(MakeAgent("ta", "a1")).ok());
  constexpr int64_t kJan2026 = 1767225600;
  constexpr int64_t kFeb2026 = 1769904000;
  const int64_t old_calls = 2 * kRetentionChunk + 7;
  BatchCommit batch = MakeBatch("ta", "a1", "many", {}, {});
  auto term = [](int64_t i) {
    std::string t = Term('0');
    const std::string digits = std::to_string(i);
    return t.replace(t.size() - digits.size(), digits.size(), digits);
  };
  for (int64_t i = 0; i < old_calls; ++i) {
    StoredCall c = MakeCall(i % 2 ? "dma" : "cucm", "c" + std::to_string(i), kJan2026 + i);
    c.quality = {MakeSample("orig", "rx", "audio")};
    c.search_terms = {term(i)};
    batch.calls.push_back(std::move(c));
  }
  batch.calls.push_back(MakeCall("dma", "keep", kFeb2026));
  batch.calls.back().search_terms = {term(0)};
  ASSERT_TRUE(store->CommitBatch(batch).ok());

  auto interrupted = store->DropRecordsBefore(kFeb2026);
  ASSERT_FALSE(interrupted.ok());
  EXPECT_EQ(*store->CountCalls("ta", std::nullopt), old_calls + 1 - kRetentionChunk);  // the first chunk went
  EXPECT_EQ(RawDb(path).Text("SELECT count(*) FROM quality_samples"), std::to_string(old_calls - kRetentionChunk));

  fail_second = false;
  commits = 0;
  auto rest = store->DropRecordsBefore(kFeb2026);
  ASSERT_TRUE(rest.ok()) << rest.error().detail;
  EXPECT_EQ(rest->calls, old_calls - kRetentionChunk);
  EXPECT_EQ(rest->quality_samples, old_calls - kRetentionChunk);
  // A call's terms go with its row (migration 0019): the first chunk's went
  // with the interrupted run's calls.
  EXPECT_EQ(rest->search_terms, old_calls - kRetentionChunk);
  // kRetentionChunk + 7 calls: two transactions; then one that finds no
  // participant terms.
  EXPECT_EQ(commits, 3);
  EXPECT_EQ(*store->CountCalls("ta", std::nullopt), 1);
  EXPECT_EQ(RawDb(path).Text("SELECT count(*) FROM quality_samples"), "0");
  EXPECT_EQ(*store->CountCalls("ta", term(0)), 1);  // the February call's term is kept
  EXPECT_EQ(RawDb(path).Text("SELECT count(*) FROM pii_search"), "1");
}

// ---- PostgreSQL: migrations, roles, row-level security, partitions ----

// Pipeline mode (ApplyRollups' two round trips): answers come back in
// statement order across several chunks; a failure mid-pipeline is reported
// as Exec would report it, the statements after it do not run, and the
// connection stays usable.
TEST(PostgresPipeline, AnswersInOrderAcrossChunksAndStopsAtFirstFailure) {
  PostgresServer& server = PostgresServer::Get();
  const std::string db = server.CreateDatabase();
  auto conn = postgres::Connection::Open(server.OwnerUrl(db));
  ASSERT_TRUE(conn.ok()) << conn.error().detail;
  postgres::Connection& c = **conn;
  ASSERT_TRUE(c.ExecStatic("CREATE TABLE t (n bigint PRIMARY KEY, label text)").ok());

  std::vector<postgres::Statement> statements;
  for (int64_t i = 0; i < 600; ++i) {  // more than two chunks of 256
    statements.push_back({"INSERT INTO t VALUES ($1, $2)", postgres::Params().Int(i).Text("n" + std::to_string(i))});
    statements.push_back({"SELECT count(*), max(label COLLATE \"C\") FROM t WHERE n <= $1", postgres::Params().Int(i)});
  }
  auto answers = c.ExecPipeline(statements);
  ASSERT_TRUE(answers.ok()) << answers.error().detail;
  ASSERT_EQ(answers->size(), 1200u);
  for (int64_t i = 0; i < 600; ++i) {
    EXPECT_EQ((*answers)[2 * i].Affected(), 1);
    ASSERT_EQ((*answers)[2 * i + 1].size(), 1);
    EXPECT_EQ((*answers)[2 * i + 1].Int(0, 0), i + 1) << "statement " << 2 * i + 1 << " saw the inserts before it";
  }
  EXPECT_TRUE(c.ExecPipeline({}).ok());

  ASSERT_TRUE(c.ExecStatic("BEGIN").ok());
  auto failed = c.ExecPipeline({{"INSERT INTO t VALUES (1000, 'a')", {}},
                                {"INSERT INTO t VALUES (5, 'duplicate key')", {}},
                                {"INSERT INTO t VALUES (1001, 'never runs')", {}}});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, Code::kAlreadyExists) << failed.error().detail;
  EXPECT_TRUE(c.InTransaction());
  ASSERT_TRUE(c.ExecStatic("ROLLBACK").ok());
  auto count = c.Exec("SELECT count(*) FROM t WHERE n >= 1000");
  ASSERT_TRUE(count.ok()) << count.error().detail;
  EXPECT_EQ(count->Int(0, 0), 0);
  auto total = c.Exec("SELECT count(*) FROM t");
  ASSERT_TRUE(total.ok());
  EXPECT_EQ(total->Int(0, 0), 600);
}

// Both backends are at the same schema version: a migration added to one needs its twin in the other.
TEST(PostgresMigrations, SameVersionsAsSqlite) {
  EXPECT_EQ(postgres::LatestSchemaVersion(), sqlite::LatestSchemaVersion());
  for (size_t i = 0; i < postgres::Migrations().size(); ++i) {
    EXPECT_EQ(postgres::Migrations()[i].name, sqlite::Migrations()[i].name) << "twins share the file name";
  }
}

// A new database gets every migration; reopening applies nothing and keeps the version.
TEST(PostgresMigrations, AppliedOnNewDatabaseAndIdempotentOnReopen) {
  PostgresDb db;
  {
    auto store = db.Open({});
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->SchemaVersion(), postgres::LatestSchemaVersion());
    EXPECT_TRUE(store->Ping().ok());
  }
  auto again = db.Open({});
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->SchemaVersion(), postgres::LatestSchemaVersion());
  EXPECT_EQ(db.Raw("SELECT COUNT(*) FROM schema_migrations"), std::to_string(postgres::LatestSchemaVersion()));
  EXPECT_EQ(db.Raw("SELECT tableowner FROM pg_tables WHERE tablename = 'calls'"), "parley_owner");
}

// A database as Parley left it at `version`: the migrations up to it, as the owner.
void MigratePostgresTo(PostgresDb& db, int version) {
  const std::string owner = PostgresServer::Get().OwnerUrl(db.name());
  PostgresServer::Query(owner, "CREATE TABLE schema_migrations (version integer NOT NULL PRIMARY KEY,"
                               " applied_at bigint NOT NULL)");
  for (const auto& m : postgres::Migrations()) {
    if (m.version > version) break;
    PostgresServer::Query(owner, std::string(m.sql));
    PostgresServer::Query(owner, "INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", 0)");
  }
}

// A tenant row (the columns every schema version requires), written
// as the superuser, past row-level security, by the migration tests.
void InsertTenantAsSuperuser(PostgresDb& db, const std::string& tenant) {
  db.Raw("INSERT INTO tenants (id, name, wrapped_data_key, created_at) VALUES ('" + tenant + "', 'org " + tenant +
         "', 'k', 0)");
}

// The PostgreSQL twin of Version1DatabaseUpgradesKeepingDevices: migration
// 0002's copy of updated_at into observed_at must reach every tenant's rows
// through the row-level security forced on the owner.
TEST(PostgresMigrations, Version1DatabaseUpgradesKeepingDevices) {
  PostgresDb db;
  MigratePostgresTo(db, 1);
  for (const char* tenant : {"ta", "tb"}) {
    InsertTenantAsSuperuser(db, tenant);
    db.Raw(std::string("INSERT INTO devices (tenant_id, id, source, model, version, site, pii_sealed, updated_at)"
                       " VALUES ('") + tenant + "', 'd1', 'rprm', 'Group 500', '6.4', 'Paris', '\\x01', 42)");
  }
  auto store = db.Open({});
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), postgres::LatestSchemaVersion());
  for (const char* tenant : {"ta", "tb"}) {
    auto devices = store->ListDevices(tenant, {});
    ASSERT_TRUE(devices.ok()) << devices.error().detail;
    ASSERT_EQ(devices->size(), 1u) << tenant;
    EXPECT_EQ((*devices)[0].source, "rprm");
    EXPECT_EQ((*devices)[0].observed_at, 42) << tenant;
    EXPECT_EQ((*devices)[0].model, "Group 500");
  }
}

// A call row as the schema before migration 0020 has it (no terms column),
// in a partition made for it, written as the superuser.
void InsertCallBeforeVersion20(PostgresDb& db, const std::string& tenant, const std::string& call_id, int64_t start) {
  db.Raw("SELECT parley_ensure_partitions(ARRAY[" + std::to_string(start) + "::bigint])");
  db.Raw("INSERT INTO calls (tenant_id, source, call_id, agent_id, start_at, end_at, duration_s, status, pii_sealed,"
         " ingested_at) VALUES ('" + tenant + "', 'dma', '" + call_id + "', 'a1', " + std::to_string(start) + ", " +
         std::to_string(start + 60) + ", 60, 'completed', 'x', 0)");
}

// Migration 0013 cuts the whole-MAC terms of every tenant to the 64-bit
// prefix search computes now (row-level security is forced on the owner too,
// so the migration must lift it for its UPDATE).
TEST(PostgresMigrations, Version12TermsOfEveryTenantAreCutToThePrefixSearchComputes) {
  PostgresDb db;
  MigratePostgresTo(db, 12);
  const std::string mac = "0123456789abcdef" + std::string(48, 'e');
  for (const char* tenant : {"ta", "tb"}) {
    InsertTenantAsSuperuser(db, tenant);
    db.Raw(std::string("INSERT INTO pii_search (tenant_id, record_kind, source, record_id, term, start_at)"
                       " VALUES ('") + tenant + "', 'call', 'dma', 'c1', '" + mac + "', 100)");
    InsertCallBeforeVersion20(db, tenant, "c1", 100);
  }
  auto store = db.Open({});
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), postgres::LatestSchemaVersion());
  for (const char* tenant : {"ta", "tb"}) {
    const auto found = store->CountCalls(tenant, mac.substr(0, 16));
    ASSERT_TRUE(found.ok()) << found.error().detail;
    EXPECT_EQ(*found, 1) << tenant;
  }
  EXPECT_EQ(db.Raw("SELECT string_agg(DISTINCT length(term)::text, ',') FROM pii_search"), "16");
}

// Migration 0015 folds a record's term rows into one pii_docs row of
// numbers: terms with the high bit set (negative as bigint) and device terms
// survive, the per-term view gives back the same hex, and search finds them.
TEST(PostgresMigrations, Version14TermRowsBecomeOneRowPerRecord) {
  PostgresDb db;
  MigratePostgresTo(db, 14);
  InsertTenantAsSuperuser(db, "ta");
  for (const char* row : {"'call', 'c1', '0123456789abcdef'", "'call', 'c1', 'fedcba9876543210'",
                          "'call', 'c2', 'fedcba9876543210'", "'device', 'd1', '00000000000000ff'"}) {
    db.Raw(std::string("INSERT INTO pii_search (tenant_id, record_kind, record_id, term, source, start_at)"
                       " VALUES ('ta', ") + row + ", 'dma', 100)");
  }
  for (const char* call : {"c1", "c2"}) InsertCallBeforeVersion20(db, "ta", call, 100);
  auto store = db.Open({});
  ASSERT_NE(store, nullptr);
  // 0015 made one pii_docs row per record; 0020 moved the calls' into their rows.
  EXPECT_EQ(db.Raw("SELECT string_agg(record_id || ':' || cardinality(terms), ',' ORDER BY record_id) FROM"
                   " (SELECT record_id, terms FROM pii_docs UNION ALL SELECT call_id, terms FROM calls) AS d"),
            "c1:2,c2:1,d1:1");
  EXPECT_EQ(db.Raw("SELECT string_agg(record_id || ':' || term, ',' ORDER BY record_id, term) FROM pii_search"),
            "c1:0123456789abcdef,c1:fedcba9876543210,c2:fedcba9876543210,d1:00000000000000ff");
  EXPECT_EQ(*store->CountCalls("ta", "fedcba9876543210"), 2);
  EXPECT_EQ(*store->CountCalls("ta", "0123456789abcdef"), 1);
}

// Migration 0020 moves each call's pii_docs row into the call's own row
// (every tenant's, through the row-level security forced on the owner): a
// row whose call is gone is dropped, participants and devices stay, search
// and the per-term view find the same terms, and pii_docs refuses a call.
TEST(PostgresMigrations, Version19CallTermsMoveIntoTheirCalls) {
  PostgresDb db;
  MigratePostgresTo(db, 19);
  for (const char* tenant : {"ta", "tb"}) InsertTenantAsSuperuser(db, tenant);
  InsertCallBeforeVersion20(db, "ta", "c1", 100);
  InsertCallBeforeVersion20(db, "ta", "c2", 200);  // no terms
  InsertCallBeforeVersion20(db, "tb", "c1", 100);
  const std::string a = "0123456789abcdef", b = "fedcba9876543210", c = "00000000000000ff";
  auto doc = [&](const std::string& tenant, const std::string& kind, const std::string& id,
                 const std::vector<std::string>& terms) {
    std::string array;
    for (const std::string& t : terms) array += (array.empty() ? "" : ",") + ("('x' || '" + t + "')::bit(64)::bigint");
    db.Raw("INSERT INTO pii_docs (tenant_id, record_kind, source, record_id, start_at, terms) VALUES ('" + tenant +
           "', '" + kind + "', 'dma', '" + id + "', 100, ARRAY[" + array + "])");
  };
  doc("ta", "call", "c1", {a, b});
  doc("tb", "call", "c1", {c});
  doc("ta", "call", "gone", {a});
  doc("ta", "participant", "p1", {b});
  doc("ta", "device", "d1", {c});

  auto store = db.Open({});
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), postgres::LatestSchemaVersion());
  EXPECT_EQ(db.Raw("SELECT string_agg(tenant_id || ':' || call_id || ':' || coalesce(array_to_string(terms, ' '), '-'),"
                   " ',' ORDER BY tenant_id, call_id) FROM calls"),
            "ta:c1:81985529216486895 -81985529216486896,ta:c2:-,tb:c1:255");
  EXPECT_EQ(db.Raw("SELECT string_agg(record_kind || ':' || record_id, ',' ORDER BY record_id) FROM pii_docs"),
            "device:d1,participant:p1");
  EXPECT_EQ(db.Raw("SELECT string_agg(tenant_id || ':' || record_kind || ':' || record_id || ':' || term, ','"
                   " ORDER BY tenant_id, record_kind, record_id, term) FROM pii_search"),
            "ta:call:c1:" + a + ",ta:call:c1:" + b + ",ta:device:d1:" + c + ",ta:participant:p1:" + b +
                ",tb:call:c1:" + c);
  EXPECT_EQ(*store->CountCalls("ta", a), 1);
  EXPECT_EQ(*store->CountCalls("ta", c), 0);  // the device's term, not a call's
  EXPECT_EQ(*store->CountCalls("tb", c), 1);
  CallPageQuery query;
  query.party_term = b;
  auto page = store->ListCalls("ta", query);
  ASSERT_TRUE(page.ok()) << page.error().detail;
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].call_id, "c1");
  // A call's terms live in its row now; pii_docs refuses them, and the
  // column refuses what pii_docs refused.
  EXPECT_NE(PostgresServer::ErrorOf(PostgresServer::Get().SuperUrl(db.name()),
                                    "INSERT INTO pii_docs (tenant_id, record_kind, source,"
                                    " record_id, start_at, terms) VALUES ('ta', 'call', 'dma', 'c9', 1, '{1}')")
                .find("pii_docs_no_calls"),
            std::string::npos);
  for (const char* bad : {"'{}'", "'{1,NULL}'", "'{{1},{2}}'"}) {
    EXPECT_NE(PostgresServer::ErrorOf(PostgresServer::Get().SuperUrl(db.name()),
                                      std::string("UPDATE calls SET terms = ") + bad)
                  .find("calls_terms_shape"),
              std::string::npos)
        << bad;
  }
}

// A database migrated by a newer Parley is refused instead of misread.
TEST(PostgresMigrations, RefusesDatabaseNewerThanBinary) {
  PostgresDb db;
  ASSERT_NE(db.Open({}), nullptr);
  db.Raw("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)");
  PostgresServer& server = PostgresServer::Get();
  PostgresOptions options;
  options.migrate_url = server.OwnerUrl(db.name());
  auto store = PostgresStore::Open(server.AppUrl(db.name()), options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Code::kFailedPrecondition);
  auto without_owner = PostgresStore::Open(server.AppUrl(db.name()));
  ASSERT_FALSE(without_owner.ok());
  EXPECT_EQ(without_owner.error().code, Code::kFailedPrecondition);
}

// A migration that fails midway leaves no table and no version behind; the next open applies it cleanly.
TEST(PostgresMigrations, FailedMigrationRollsBackCompletely) {
  PostgresDb db;
  PostgresServer& server = PostgresServer::Get();
  PostgresOptions failing;
  failing.migrate_url = server.OwnerUrl(db.name());
  failing.fault_hook_for_test = [](std::string_view step) -> Status {
    if (step == "migrate.after_sql") return Internal("injected");
    return Ok();
  };
  auto broken = PostgresStore::Open(server.AppUrl(db.name()), failing);
  ASSERT_FALSE(broken.ok());
  // The version table was created in the failed transaction too.
  EXPECT_EQ(db.Raw("SELECT COUNT(*) FROM pg_class WHERE relname IN ('schema_migrations', 'calls')"), "0");
  auto store = db.Open({});
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), postgres::LatestSchemaVersion());
}

// Without store.migrate_url a schema behind the binary is a config error naming that key; the app role
// cannot migrate, and a role that owns the schema or bypasses RLS is refused as store.url.
TEST(PostgresOpen, RolesAreCheckedAndMissingMigrationsNameTheKey) {
  PostgresDb db;
  PostgresServer& server = PostgresServer::Get();
  auto behind = OpenStore(server.AppUrl(db.name()));
  ASSERT_FALSE(behind.ok());
  EXPECT_EQ(behind.error().code, Code::kConfig);
  EXPECT_TRUE(behind.error().detail.starts_with("store.migrate_url: ")) << behind.error().detail;

  StoreOpenOptions app_migrates;
  app_migrates.migrate_url = server.AppUrl(db.name());  // the app role may not create tables
  auto refused = OpenStore(server.AppUrl(db.name()), app_migrates);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Code::kConfig);
  EXPECT_TRUE(refused.error().detail.starts_with("store.migrate_url: ")) << refused.error().detail;

  StoreOpenOptions owner;
  owner.migrate_url = server.OwnerUrl(db.name());
  auto ok = OpenStore("postgres://" + server.AppUrl(db.name()).substr(std::string("postgresql://").size()), owner);
  ASSERT_TRUE(ok.ok()) << ok.error().detail;
  EXPECT_EQ((*ok)->SchemaVersion(), sqlite::LatestSchemaVersion());

  for (const std::string& url : {server.OwnerUrl(db.name()), server.SuperUrl(db.name())}) {
    auto unsafe = OpenStore(url, owner);
    ASSERT_FALSE(unsafe.ok());
    EXPECT_EQ(unsafe.error().code, Code::kConfig);
    EXPECT_TRUE(unsafe.error().detail.starts_with("store.url: ")) << unsafe.error().detail;
  }
  auto unreachable = OpenStore("postgresql://parley_app@/nosuchdb?host=/nonexistent&port=1");
  ASSERT_FALSE(unreachable.ok());
  EXPECT_EQ(unreachable.error().code, Code::kConfig);
  EXPECT_TRUE(unreachable.error().detail.starts_with("store.url: ")) << unreachable.error().detail;
}

// Every tenant table: as the application role, a raw SELECT without a tenant filter sees only the tenant
// set for the transaction, and nothing when none is set. Partitions cannot be read directly, and RLS cannot
// be switched off.
TEST(PostgresRls, RawSelectSeesOnlyTheCurrentTenant) {
  PostgresDb db;
  auto store = db.Open({});
  ASSERT_NE(store, nullptr);
  for (const std::string t : {"ta", "tb"}) {
    ASSERT_TRUE(store->CreateTenant(MakeTenant(t, "org-" + t)).ok());
    ASSERT_TRUE(store->CreateAgent(MakeAgent(t, "a1")).ok());
    ASSERT_TRUE(store->CreateUser(MakeUser(t, "u1", "idx-" + t, Role::kTenantAdmin)).ok());
    Session session{.id_hash = "h-" + t, .user_id = "u1", .tenant_id = t, .role = Role::kTenantAdmin,
                    .csrf_token = "c", .created_at = kNow, .last_seen_at = kNow, .expires_at = kNow + 60};
    ASSERT_TRUE(store->CreateSession(session).ok());
    ASSERT_TRUE(store->CreateEnrollToken("tok-" + t, t, kNow + 60).ok());
    BatchCommit full = FullBatch(t, "b1");
    full.participants[0].search_terms = {Term('f')};  // a pii_docs row (a call's terms are in its row)
    auto committed = store->CommitBatch(full);
    ASSERT_TRUE(committed.ok()) << committed.error().detail;
    AccountToken link;
    link.token_hash = "link-" + t;
    link.tenant_id = t;
    link.email_index = "idx-new-" + t;
    link.email_sealed = "sealed";
    link.created_at = kNow;
    link.expires_at = kNow + 60;
    ASSERT_TRUE(store->CreateAccountToken(link, kNow).ok());
    UserTotp totp;
    totp.tenant_id = t;
    totp.user_id = "u1";
    totp.secret_sealed = "sealed";
    totp.created_at = kNow;
    ASSERT_TRUE(store->PutPendingTotp(totp).ok());
    TenantSso sso;
    sso.tenant_id = t;
    sso.enabled = true;
    sso.idp_entity_id = "https://idp.example/" + t;
    sso.group_attribute = "groups";
    sso.updated_at = kNow;
    auto put_sso = store->PutTenantSso(sso);
    ASSERT_TRUE(put_sso.ok()) << put_sso.error().detail;
    ASSERT_TRUE(store->CreateSamlRequest({t, "bind-" + t, "req-" + t, "state", kNow + 600}, kNow).ok());
    ASSERT_TRUE(store->RecordSamlAssertion(t, "assertion-" + t, kNow + 600, kNow).ok());
    AuditEntry draft;
    draft.tenant_id = t;
    draft.actor = "system";
    draft.action = "test";
    draft.target = "none";
    draft.outcome = "success";
    draft.details_json = "{}";
    ASSERT_TRUE(store->AppendAudit(draft, std::string(64, '0'), [](const AuditEntry&) -> Result<std::string> {
                        return std::string(64, 'a');
                      }).ok());
  }

  PostgresServer& server = PostgresServer::Get();
  const std::string tables = db.Raw(
      "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')"
      " AND NOT c.relispartition AND c.relname NOT IN ('schema_migrations', 'partitioned_tables', 'parley_app_grants',"
      " 'platform_keys') ORDER BY 1");  // platform_keys: no tenant rows (wrapped platform secrets)
  std::vector<std::string> names;
  for (size_t at = 0; at < tables.size();) {
    const size_t nl = tables.find('\n', at);
    names.push_back(tables.substr(at, nl == std::string::npos ? std::string::npos : nl - at));
    at = nl == std::string::npos ? tables.size() : nl + 1;
  }
  EXPECT_EQ(names.size(), 26u) << tables;
  for (const std::string& table : names) {
    SCOPED_TRACE(table);
    EXPECT_EQ(db.Raw("SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = '" + table +
                     "'::regclass"),
              "t");
    const std::string column = table == "tenants" ? "id" : "tenant_id";
    const std::string as_a = PostgresServer::Query(
        server.AppUrl(db.name()),
        "BEGIN; SELECT set_config('parley.tenant_id', 'ta', true);"
        " SELECT count(*) FILTER (WHERE " + column + " <> 'ta') || '/' || (count(*) > 0) FROM " + table);
    EXPECT_EQ(as_a, "0/true") << "foreign rows / own rows visible";
    EXPECT_EQ(PostgresServer::Query(server.AppUrl(db.name()), "SELECT count(*) FROM " + table), "0");
    EXPECT_NE(db.Raw("SELECT count(DISTINCT " + column + ") FROM " + table), "1") << "both tenants have rows";
  }
  const std::string partition = db.Raw("SELECT min(relname) FROM pg_class WHERE relname LIKE 'calls_p%' AND relkind = 'r'");
  EXPECT_NE(PostgresServer::ErrorOf(server.AppUrl(db.name()), "SELECT * FROM " + partition).find("permission denied"),
            std::string::npos);
  EXPECT_NE(PostgresServer::ErrorOf(server.AppUrl(db.name()), "SET row_security = off; SELECT * FROM calls"), "");
  // The per-term view over pii_docs (migration 0015) is for the owner only.
  EXPECT_NE(PostgresServer::ErrorOf(server.AppUrl(db.name()), "SELECT * FROM pii_search").find("permission denied"),
            std::string::npos);
  // The variable that opens the owner's look-up policy does nothing for the application role.
  EXPECT_EQ(PostgresServer::Query(server.AppUrl(db.name()),
                                  "SELECT set_config('parley.cross_tenant', 'on', false); SELECT count(*) FROM users"),
            "0");
}

// Partitions appear on demand, per month; dedup holds across months (a record whose start moved is still
// stored once); retention drops whole months and a batch for a dropped month recreates its partition.
TEST(PostgresPartitions, CreatedOnDemandDedupAcrossMonthsAndRetention) {
  PostgresDb db;
  auto opened = db.Open({});
  ASSERT_NE(opened, nullptr);
  auto* store = static_cast<PostgresStore*>(opened.get());
  ASSERT_TRUE(store->CreateTenant(MakeTenant("ta", "org-ta")).ok());
  ASSERT_TRUE(store->CreateAgent(MakeAgent("ta", "a1")).ok());
  constexpr int64_t kJan2026 = 1767225600;  // 2026-01-01T00:00:00Z
  constexpr int64_t kFeb2026 = 1769904000;
  constexpr int64_t kMar2026 = 1772323200;
  const std::string term = Term('e');
  auto with_term = [&](StoredCall c) {
    c.search_terms = {term};
    return c;
  };
  auto r = store->CommitBatch(MakeBatch("ta", "a1", "b1",
                                        {with_term(MakeCall("dma", "jan", kJan2026 + 5)),
                                         with_term(MakeCall("dma", "feb", kFeb2026)),
                                         with_term(MakeCall("dma", "mar", kMar2026 - 1))},
                                        {}));
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(db.Raw("SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i"
                   " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'calls'::regclass"),
            "calls_p202601,calls_p202602");
  EXPECT_EQ(db.Raw("SELECT count(*) FROM calls_p202602"), "2");

  // The same call id with another start time (another month) is already present.
  auto moved = store->CommitBatch(MakeBatch("ta", "a1", "b2", {MakeCall("dma", "jan", kMar2026 + 10)}, {}));
  ASSERT_TRUE(moved.ok()) << moved.error().detail;
  EXPECT_EQ(moved->inserted, 0);
  EXPECT_EQ(moved->already_present, 1);
  EXPECT_EQ(*store->CountCalls("ta", std::nullopt), 3);

  auto dropped = store->DropRecordsBefore(kFeb2026);
  ASSERT_TRUE(dropped.ok()) << dropped.error().detail;
  EXPECT_EQ(dropped->partitions, 4);  // January of calls, conferences, participants, quality_samples
  EXPECT_EQ(dropped->calls, 1);
  EXPECT_EQ(*store->CountCalls("ta", std::nullopt), 2);
  EXPECT_EQ(db.Raw("SELECT count(*) FROM pg_class WHERE relname LIKE '%_p202601'"), "0");
  // The expired calls' search terms went with them; the others' stay.
  EXPECT_EQ(db.Raw("SELECT string_agg(record_id, ',' ORDER BY record_id) FROM pii_search"), "feb,mar");
  EXPECT_EQ(*store->CountCalls("ta", term), 2);

  // An expired record sent again stays expired; a new one in that month gets a new partition.
  auto late = store->CommitBatch(MakeBatch("ta", "a1", "b3", {MakeCall("dma", "jan", kJan2026 + 5),
                                                              MakeCall("dma", "jan-2", kJan2026 + 9)}, {}));
  ASSERT_TRUE(late.ok()) << late.error().detail;
  EXPECT_EQ(late->inserted, 1);
  EXPECT_EQ(late->already_present, 1);
  EXPECT_EQ(db.Raw("SELECT count(*) FROM calls_p202601"), "1");
}

}  // namespace
}  // namespace parley::store
