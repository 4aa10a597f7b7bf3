// SqliteStore: the embedded SQLite backend of Store (store/store.h).
// Schema and durability rules: docs/formats/storage.md.
//
// Connections: one writer and one reader, both in WAL mode with
// synchronous=FULL (a commit that returned is on disk, even across power
// loss), foreign_keys=ON and busy_timeout=5000 ms.
//  * Every write runs on the writer connection under writer_mu_, so there is
//    exactly one writer per process; multi-statement writes use BEGIN
//    IMMEDIATE transactions. Another process on the same file waits up to the
//    busy timeout, then gets kUnavailable.
//  * Reads run on the reader connection under reader_mu_, concurrently with
//    writes (WAL gives each read a consistent snapshot of committed data).
//    The reader is query_only: it cannot write even by mistake.
// Thread-safe: every method may be called from any thread.
//
// Nothing outside src/store/ includes this header; use OpenStore("sqlite:PATH").
#pragma once

#include <sqlite3.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "store/store.h"

namespace parley::store::detail {
struct RollupDelta;
}  // namespace parley::store::detail

namespace parley::store::sqlite {

struct SqliteOptions {
  // Test hook (style §7): called at named steps inside write transactions;
  // a non-OK Status makes the operation fail there and roll back, as a crash
  // at that point would. Steps: "commit_batch.after_calls",
  // "commit_batch.after_conferences", "commit_batch.after_participants",
  // "commit_batch.after_devices", "commit_batch.after_cursors",
  // "migrate.after_sql", "retention.before_commit" (each chunk). Empty in production.
  std::function<Status(std::string_view step)> fault_hook_for_test;
};

class SqliteStore final : public Store {
 public:
  // Opens (creating with mode 0600 if missing) the database at `path`,
  // configures both connections and applies the missing migrations, each in
  // its own transaction. Fails with kFailedPrecondition if the database was
  // migrated by a newer Parley than this binary; kConfig if the file cannot
  // be opened.
  static Result<std::unique_ptr<Store>> Open(const std::string& path, SqliteOptions options = {});

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

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
  Result<std::vector<QuarantineEntry>> ListQuarantine(const std::string& tenant_id) override;
  Result<std::vector<RollupRow>> ListRollups(const std::string& tenant_id, const RollupQuery& query) override;
  Result<std::vector<HourlyPeak>> ListHourlyPeaks(const std::string& tenant_id, const std::string& source,
                                                  int64_t from, int64_t to) override;
  Status ReplaceRollups(const std::string& tenant_id, int64_t from,
                        const std::function<Result<detail::RollupDelta>()>& recompute) override;

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

  // Sign-in hardening (sessions, tenant edits, TOTP).
  Result<int64_t> DeleteUserSessions(const std::string& tenant_id, const std::string& user_id) override;
  Status UpdateTenant(const Tenant& tenant) override;
  Result<UserTotp> GetUserTotp(const std::string& tenant_id, const std::string& user_id) override;
  Status PutPendingTotp(const UserTotp& totp) override;
  Status EnableTotp(const std::string& tenant_id, const std::string& user_id, int64_t step, int64_t now) override;
  Result<bool> UseTotpStep(const std::string& tenant_id, const std::string& user_id, int64_t step) override;
  Status DeleteUserTotp(const std::string& tenant_id, const std::string& user_id) override;
  // ---- SAML single sign-on (migration 0009) ----
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

  // ---- Retention: deletes in chunks of kRetentionChunk records ----
  Result<RetentionResult> DropRecordsBefore(int64_t cutoff) override;
  Result<RetentionResult> CountRecordsBefore(int64_t cutoff) override;

 private:
  SqliteStore(sqlite3* writer, sqlite3* reader, SqliteOptions options);

  Status Migrate();                      // REQUIRES: not yet shared with other threads
  Status Fault(std::string_view step);   // runs the test hook, if any
  // CheckExpectedCursor (store.h) for each of the batch's cursors.
  // REQUIRES: writer_mu_ held, in the batch's transaction.
  Status CheckExpectedCursors(const BatchCommit& batch);
  // Adds a batch's rollup delta. REQUIRES: writer_mu_ held, in the batch's transaction.
  Status ApplyRollups(const std::string& tenant_id, const detail::RollupDelta& delta);
  // ListCalls with a party term: the page of that party's calls (calls_by_start, call_terms).
  using CallKey = std::tuple<int64_t, std::string, std::string>;  // start_at, source, call_id
  Result<std::vector<StoredCall>> ListPartyCalls(const std::string& tenant_id, const std::string& term,
                                                 const std::optional<CallKey>& before, int64_t limit);

  std::mutex writer_mu_;
  sqlite3* const writer_;                // GUARDED_BY(writer_mu_)
  std::mutex reader_mu_;
  sqlite3* const reader_;                // GUARDED_BY(reader_mu_)
  const SqliteOptions options_;
  // ---- Account links (registration and password reset) ----
 public:
  Status CreateAccountToken(const AccountToken& token, int64_t now) override;
  Result<AccountToken> GetAccountToken(const std::string& token_hash) override;
  Status RedeemRegistrationToken(const std::string& token_hash, int64_t now, const User& user) override;
  Result<std::pair<AccountToken, int64_t>> RedeemResetToken(const std::string& token_hash, int64_t now,
                                                             const std::string& password_hash) override;
};

}  // namespace parley::store::sqlite
