// PostgresStore: the PostgreSQL backend of Store (store/store.h), for
// deployments that outgrow one machine. Schema, row-level security, roles and
// partitions: docs/formats/storage.md; operations: docs/postgresql.md.
//
// Behaves exactly as SqliteStore does (same results, same error codes); the
// store_test suite runs against both. What PostgreSQL adds:
//  * Row-level security. Every transaction first runs
//    set_config('parley.tenant_id', <tenant>, true); the policies then hide
//    every other tenant's rows even from a query that forgets its filter.
//    Look-ups by a key that crosses tenants (session hash, e-mail blind index,
//    certificate fingerprint, enrollment token, tenant name) first resolve the
//    tenant through a SECURITY DEFINER function, then read under the policy.
//  * Roles. `url` connects as the application role, which must neither own
//    the schema nor bypass row-level security (Open refuses it otherwise);
//    `migrate_url` connects as the owner and runs the migrations.
//  * Monthly partitions of the record tables, created on demand before a
//    batch that needs them; DropRecordsBefore (retention) drops whole ones.
//
// Connections: a fixed pool (PostgresOptions::pool_size); each method takes
// one connection for one transaction, so methods run concurrently and
// PostgreSQL's locks order conflicting writes. A connection the server
// dropped is re-opened on its next use. Thread-safe.
//
// Nothing outside src/store/ includes this header; use
// OpenStore("postgresql://...").
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "store/store.h"

namespace parley::store::detail {
struct RollupDelta;
}  // namespace parley::store::detail

namespace parley::store::postgres {

class Pool;
class Tx;
class Params;
class Rows;

struct PostgresOptions {
  // The schema owner's connection, used only to migrate and grant the
  // application role its privileges. Empty: no migration is attempted, and a
  // schema older than this Parley is a kConfig error naming store.migrate_url.
  std::string migrate_url;
  int pool_size = 4;
  // Test hook, as SqliteOptions::fault_hook_for_test (same step names).
  std::function<Status(std::string_view step)> fault_hook_for_test;
};

class PostgresStore final : public Store {
 public:
  // Connects, migrates (if migrate_url is set) and checks the application
  // role. kConfig names store.url or store.migrate_url; kFailedPrecondition if
  // the schema is newer than this binary.
  static Result<std::unique_ptr<Store>> Open(const std::string& url, PostgresOptions options = {});

  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  int SchemaVersion() override;
  Status Ping() override;

  Status CreateTenant(const Tenant& tenant) override;
  Result<Tenant> GetTenant(const std::string& tenant_id) override;
  Result<Tenant> FindTenantByName(const std::string& name) override;
  Result<std::vector<Tenant>> ListTenants() override;

  Status CreateUser(const User& user) override;
  Result<User> FindUserByEmailIndex(const std::string& email_index) override;
  Result<User> GetUser(const std::string& tenant_id, const std::string& user_id) override;
  Status SetPassword(const std::string& tenant_id, const std::string& user_id, const std::string& hash) override;
  Result<std::vector<User>> ListUsers(const std::string& tenant_id) override;
  Status SetUserRole(const std::string& tenant_id, const std::string& user_id, Role role) override;

  Status CreateSession(const Session& session) override;
  Result<Session> GetSession(const std::string& id_hash) override;
  Status TouchSession(const std::string& id_hash, int64_t now) override;
  Status DeleteSession(const std::string& id_hash) override;
  Status DeleteExpiredSessions(int64_t now, int64_t idle_seconds) override;

  Status CreateEnrollToken(const std::string& token_hash, const std::string& tenant_id, int64_t expires_at) override;
  Result<std::string> ConsumeEnrollToken(const std::string& token_hash, int64_t now) override;
  Status CreateAgent(const Agent& agent) override;
  Result<Agent> FindAgentByFingerprint(const std::string& cert_fingerprint) override;
  Result<std::vector<Agent>> ListAgents(const std::string& tenant_id) override;
  Status RecordHeartbeat(const std::string& tenant_id, const std::string& agent_id, const std::string& json,
                         int64_t now) override;

  Result<BatchCommitResult> CommitBatch(const BatchCommit& batch) override;
  Result<std::vector<CursorValue>> GetCursors(const std::string& tenant_id, const std::string& agent_id) override;

  Result<std::vector<StoredCall>> ListCalls(const std::string& tenant_id, const CallPageQuery& query) override;
  Result<int64_t> CountCalls(const std::string& tenant_id, const std::optional<std::string>& party_term) override;

  Result<std::vector<StoredConference>> ListConferences(const std::string& tenant_id,
                                                        const ConferencePageQuery& query) override;
  Result<std::vector<StoredParticipant>> ListParticipants(const std::string& tenant_id, const std::string& source,
                                                          const std::string& conference_id) override;
  Result<std::vector<StoredParticipant>> ListAllParticipants(const std::string& tenant_id,
                                                             const ParticipantPageQuery& query) override;
  Result<std::vector<StoredDevice>> ListDevices(const std::string& tenant_id, const DevicePageQuery& query) override;
  Result<std::vector<StoredQuality>> ListQuality(const std::string& tenant_id, RecordKind kind,
                                                 const std::vector<RecordRef>& records) override;

  Result<AuditEntry> AppendAudit(const AuditEntry& draft, const std::string& genesis_hash,
                                 const AuditSealer& seal) override;
  Result<std::vector<AuditEntry>> ListAudit(const std::string& tenant_id, bool newest_first, int64_t seq_bound,
                                            int64_t limit) override;
  Result<std::optional<AuditChainHead>> GetAuditHead(const std::string& tenant_id) override;
  Result<std::vector<std::string>> ListAuditChains() override;

  Result<std::vector<QuarantineEntry>> ListQuarantine(const std::string& tenant_id) override;
  Result<std::vector<RollupRow>> ListRollups(const std::string& tenant_id, const RollupQuery& query) override;
  Result<std::vector<HourlyPeak>> ListHourlyPeaks(const std::string& tenant_id, const std::string& source,
                                                  int64_t from, int64_t to) override;
  Status ReplaceRollups(const std::string& tenant_id, int64_t from,
                        const std::function<Result<detail::RollupDelta>()>& recompute) override;

  Status CreateAccountToken(const AccountToken& token, int64_t now) override;
  Result<AccountToken> GetAccountToken(const std::string& token_hash) override;
  Status RedeemRegistrationToken(const std::string& token_hash, int64_t now, const User& user) override;
  Result<std::pair<AccountToken, int64_t>> RedeemResetToken(const std::string& token_hash, int64_t now,
                                                            const std::string& password_hash) override;

  Result<int64_t> DeleteUserSessions(const std::string& tenant_id, const std::string& user_id) override;
  Status UpdateTenant(const Tenant& tenant) override;
  Result<UserTotp> GetUserTotp(const std::string& tenant_id, const std::string& user_id) override;
  Status PutPendingTotp(const UserTotp& totp) override;
  Status EnableTotp(const std::string& tenant_id, const std::string& user_id, int64_t step, int64_t now) override;
  Result<bool> UseTotpStep(const std::string& tenant_id, const std::string& user_id, int64_t step) override;
  Status DeleteUserTotp(const std::string& tenant_id, const std::string& user_id) override;

  Result<TenantSso> GetTenantSso(const std::string& tenant_id) override;
  Status PutTenantSso(const TenantSso& sso) override;
  Result<std::vector<TenantSso>> FindTenantSsoByIdp(const std::string& idp_entity_id) override;
  Status CreateSamlRequest(const SamlRequest& request, int64_t now) override;
  Result<SamlRequest> ConsumeSamlRequest(const std::string& tenant_id, const std::string& binding_hash,
                                         int64_t now) override;
  Status RecordSamlAssertion(const std::string& tenant_id, const std::string& assertion_key, int64_t keep_until,
                             int64_t now) override;

  // ---- Key rotation (migration 0010) ----
  Result<std::string> GetPlatformKey(const std::string& name) override;
  Status SwapPlatformKey(const std::string& name, const std::string& expected, const std::string& wrapped,
                         int64_t now) override;
  Status SwapTenantKeys(const std::string& tenant_id, const TenantKeys& expected, const TenantKeys& next) override;
  Result<std::vector<SealedValue>> ListSealed(const std::string& tenant_id, SealedField field,
                                              const std::string& after_source, const std::string& after_id,
                                              int64_t limit) override;
  Result<int64_t> ReplaceSealed(const std::string& tenant_id, SealedField field,
                                const std::vector<SealedRewrite>& rewrites) override;

  // ---- Retention: parley_drop_partitions_before drops every monthly
  // partition of the record tables whose month ends at or before the
  // boundary, all tenants at once, and the search terms of their records ----
  Result<RetentionResult> DropRecordsBefore(int64_t cutoff) override;
  Result<RetentionResult> CountRecordsBefore(int64_t cutoff) override;

 private:
  // What a transaction runs before its body: which tenant's rows it sees.
  struct Scope;
  static Scope ForTenant(std::string_view tenant_id);
  // The tenant that `resolver` (a SECURITY DEFINER function of the schema)
  // returns for `key`; no tenant (no rows) if it returns NULL.
  static Scope ForTenantOf(std::string_view resolver, std::string_view key);
  static Scope NoTenant();

  PostgresStore(std::unique_ptr<Pool> pool, PostgresOptions options);

  // One keyset page of a tenant's `table` in (source, id_column) order.
  template <typename T>
  Result<std::vector<T>> KeyPage(const std::string& tenant_id, const char* columns, const char* table,
                                 const char* id_column, int64_t limit,
                                 const std::optional<std::pair<std::string, std::string>>& after,
                                 T (*read)(const Rows&, int));

  // Runs body(tx) in one transaction of `scope` on a pooled connection and
  // commits if it succeeded. The one way every method talks to PostgreSQL.
  template <typename Body>
  auto Run(const Scope& scope, bool read_only, Body&& body) -> decltype(body(std::declval<Tx&>()));
  template <typename Body>
  auto Read(const Scope& scope, Body&& body) { return Run(scope, /*read_only=*/true, std::forward<Body>(body)); }
  template <typename Body>
  auto Write(const Scope& scope, Body&& body) { return Run(scope, /*read_only=*/false, std::forward<Body>(body)); }
  // A single statement that must change one row; zero rows → kNotFound(what).
  Status WriteExisting(const Scope& scope, std::string_view sql, const Params& params, const char* what);

  Result<BatchCommitResult> CommitBatchOnce(const BatchCommit& batch);
  // Adds a batch's rollup delta inside its transaction.
  Status ApplyRollups(Tx& tx, const std::string& tenant_id, const detail::RollupDelta& delta);
  // The batch's expected cursors locked and checked (CommitBatchOnce); false
  // if one was held by another transaction and wait was false.
  Result<bool> LockExpectedCursors(Tx& tx, const BatchCommit& batch, bool wait);
  Status EnsurePartitions(const BatchCommit& batch);
  Status Fault(std::string_view step);

  std::unique_ptr<Pool> pool_;
  const PostgresOptions options_;
  std::mutex months_mu_;
  std::set<int64_t> known_months_;  // GUARDED_BY(months_mu_): month starts with partitions
};

}  // namespace parley::store::postgres
