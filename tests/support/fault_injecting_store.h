// FaultInjectingStore: a Store that forwards to a real one and fails one named
// call on demand — before it reaches the store (the write never happened) or
// after it returned (the write committed but its answer was lost, as when the
// server dies between COMMIT and the HTTP response). Style §7, modelled on
// leveldb's FaultInjectionTestEnv.
//
// Faults *inside* a backend transaction (after the calls, before the cursor)
// need the backend's own hook: sqlite::SqliteOptions::fault_hook_for_test.
//
// Thread-safe as the wrapped store is; the fault table has its own mutex.
// Owns the wrapped store.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "store/store.h"

namespace parley::testing {

class FaultInjectingStore final : public store::Store {
 public:
  enum class When { kBefore, kAfter };

  explicit FaultInjectingStore(std::unique_ptr<store::Store> inner) : inner_(std::move(inner)) {}

  // The next call of `method` (e.g. "CommitBatch") fails with `error`, once.
  void FailNext(const std::string& method, Error error, When when = When::kBefore) {
    std::lock_guard lock(mu_);
    faults_[method] = Fault{std::move(error), when};
  }

  // The next call of `method` runs `before` first (on the caller's thread),
  // once: a test holds a call back there to order it against another thread.
  void BeforeNext(const std::string& method, std::function<void()> before) {
    std::lock_guard lock(mu_);
    befores_[method] = std::move(before);
  }

  store::Store& inner() { return *inner_; }

  int SchemaVersion() override { return inner_->SchemaVersion(); }
  Status Ping() override { return Call("Ping", [&] { return inner_->Ping(); }); }

  Status CreateTenant(const store::Tenant& t) override {
    return Call("CreateTenant", [&] { return inner_->CreateTenant(t); });
  }
  Result<store::Tenant> GetTenant(const std::string& id) override {
    return Call("GetTenant", [&] { return inner_->GetTenant(id); });
  }
  Result<store::Tenant> FindTenantByName(const std::string& name) override {
    return Call("FindTenantByName", [&] { return inner_->FindTenantByName(name); });
  }
  Result<std::vector<store::Tenant>> ListTenants() override {
    return Call("ListTenants", [&] { return inner_->ListTenants(); });
  }

  Status CreateUser(const store::User& u) override { return Call("CreateUser", [&] { return inner_->CreateUser(u); }); }
  Result<store::User> FindUserByEmailIndex(const std::string& index) override {
    return Call("FindUserByEmailIndex", [&] { return inner_->FindUserByEmailIndex(index); });
  }
  Result<store::User> GetUser(const std::string& tenant_id, const std::string& user_id) override {
    return Call("GetUser", [&] { return inner_->GetUser(tenant_id, user_id); });
  }
  Status SetPassword(const std::string& tenant_id, const std::string& user_id, const std::string& hash) override {
    return Call("SetPassword", [&] { return inner_->SetPassword(tenant_id, user_id, hash); });
  }  Result<std::vector<store::User>> ListUsers(const std::string& tenant_id) override {
    return Call("ListUsers", [&] { return inner_->ListUsers(tenant_id); });
  }
  Status SetUserRole(const std::string& tenant_id, const std::string& user_id, store::Role role) override {
    return Call("SetUserRole", [&] { return inner_->SetUserRole(tenant_id, user_id, role); });
  }


  Status CreateSession(const store::Session& s) override {
    return Call("CreateSession", [&] { return inner_->CreateSession(s); });
  }
  Result<store::Session> GetSession(const std::string& id_hash) override {
    return Call("GetSession", [&] { return inner_->GetSession(id_hash); });
  }
  Status TouchSession(const std::string& id_hash, int64_t now) override {
    return Call("TouchSession", [&] { return inner_->TouchSession(id_hash, now); });
  }
  Status DeleteSession(const std::string& id_hash) override {
    return Call("DeleteSession", [&] { return inner_->DeleteSession(id_hash); });
  }
  Status DeleteExpiredSessions(int64_t now, int64_t idle_seconds) override {
    return Call("DeleteExpiredSessions", [&] { return inner_->DeleteExpiredSessions(now, idle_seconds); });
  }

  Status CreateEnrollToken(const std::string& token_hash, const std::string& tenant_id, int64_t expires_at) override {
    return Call("CreateEnrollToken", [&] { return inner_->CreateEnrollToken(token_hash, tenant_id, expires_at); });
  }
  Result<std::string> ConsumeEnrollToken(const std::string& token_hash, int64_t now) override {
    return Call("ConsumeEnrollToken", [&] { return inner_->ConsumeEnrollToken(token_hash, now); });
  }
  Status CreateAgent(const store::Agent& a) override { return Call("CreateAgent", [&] { return inner_->CreateAgent(a); }); }
  Result<store::Agent> FindAgentByFingerprint(const std::string& fp) override {
    return Call("FindAgentByFingerprint", [&] { return inner_->FindAgentByFingerprint(fp); });
  }
  Result<std::vector<store::Agent>> ListAgents(const std::string& tenant_id) override {
    return Call("ListAgents", [&] { return inner_->ListAgents(tenant_id); });
  }
  Status RecordHeartbeat(const std::string& tenant_id, const std::string& agent_id, const std::string& json,
                         int64_t now) override {
    return Call("RecordHeartbeat", [&] { return inner_->RecordHeartbeat(tenant_id, agent_id, json, now); });
  }

  Result<store::BatchCommitResult> CommitBatch(const store::BatchCommit& batch) override {
    return Call("CommitBatch", [&] { return inner_->CommitBatch(batch); });
  }
  Result<std::vector<store::CursorValue>> GetCursors(const std::string& tenant_id,
                                                     const std::string& agent_id) override {
    return Call("GetCursors", [&] { return inner_->GetCursors(tenant_id, agent_id); });
  }  Result<std::vector<store::QuarantineEntry>> ListQuarantine(const std::string& tenant_id) override {
    return Call("ListQuarantine", [&] { return inner_->ListQuarantine(tenant_id); });
  }
  Result<std::vector<store::RollupRow>> ListRollups(const std::string& tenant_id,
                                                    const store::RollupQuery& query) override {
    return Call("ListRollups", [&] { return inner_->ListRollups(tenant_id, query); });
  }
  Result<std::vector<store::HourlyPeak>> ListHourlyPeaks(const std::string& tenant_id, const std::string& source,
                                                         int64_t from, int64_t to) override {
    return Call("ListHourlyPeaks", [&] { return inner_->ListHourlyPeaks(tenant_id, source, from, to); });
  }
  Status ReplaceRollups(const std::string& tenant_id, int64_t from,
                        const std::function<Result<store::detail::RollupDelta>()>& recompute) override {
    return Call("ReplaceRollups", [&] { return inner_->ReplaceRollups(tenant_id, from, recompute); });
  }


  Result<std::vector<store::StoredCall>> ListCalls(const std::string& tenant_id,
                                                   const store::CallPageQuery& query) override {
    return Call("ListCalls", [&] { return inner_->ListCalls(tenant_id, query); });
  }
  Result<int64_t> CountCalls(const std::string& tenant_id, const std::optional<std::string>& party_term) override {
    return Call("CountCalls", [&] { return inner_->CountCalls(tenant_id, party_term); });
  }

  Result<std::vector<store::StoredConference>> ListConferences(const std::string& tenant_id,
                                                               const store::ConferencePageQuery& query) override {
    return Call("ListConferences", [&] { return inner_->ListConferences(tenant_id, query); });
  }
  Result<std::vector<store::StoredParticipant>> ListParticipants(const std::string& tenant_id,
                                                                 const std::string& source,
                                                                 const std::string& conference_id) override {
    return Call("ListParticipants", [&] { return inner_->ListParticipants(tenant_id, source, conference_id); });
  }
  Result<std::vector<store::StoredParticipant>> ListAllParticipants(const std::string& tenant_id,
                                                                    const store::ParticipantPageQuery& query) override {
    return Call("ListAllParticipants", [&] { return inner_->ListAllParticipants(tenant_id, query); });
  }
  Result<std::vector<store::StoredDevice>> ListDevices(const std::string& tenant_id,
                                                       const store::DevicePageQuery& query) override {
    return Call("ListDevices", [&] { return inner_->ListDevices(tenant_id, query); });
  }
  Result<std::vector<store::StoredQuality>> ListQuality(const std::string& tenant_id, store::RecordKind kind,
                                                        const std::vector<store::RecordRef>& records) override {
    return Call("ListQuality", [&] { return inner_->ListQuality(tenant_id, kind, records); });
  }

  Result<store::AuditEntry> AppendAudit(const store::AuditEntry& draft, const std::string& genesis_hash,
                                        const store::AuditSealer& seal) override {
    return Call("AppendAudit", [&] { return inner_->AppendAudit(draft, genesis_hash, seal); });
  }
  Result<std::vector<store::AuditEntry>> ListAudit(const std::string& tenant_id, bool newest_first,
                                                   int64_t seq_bound, int64_t limit) override {
    return Call("ListAudit", [&] { return inner_->ListAudit(tenant_id, newest_first, seq_bound, limit); });
  }
  Result<std::optional<store::AuditChainHead>> GetAuditHead(const std::string& tenant_id) override {
    return Call("GetAuditHead", [&] { return inner_->GetAuditHead(tenant_id); });
  }
  Result<std::vector<std::string>> ListAuditChains() override {
    return Call("ListAuditChains", [&] { return inner_->ListAuditChains(); });
  }

  // ---- Account links (registration and password reset) ----
  Status CreateAccountToken(const store::AccountToken& t, int64_t now) override {
    return Call("CreateAccountToken", [&] { return inner_->CreateAccountToken(t, now); });
  }
  Result<store::AccountToken> GetAccountToken(const std::string& hash) override {
    return Call("GetAccountToken", [&] { return inner_->GetAccountToken(hash); });
  }
  Status RedeemRegistrationToken(const std::string& hash, int64_t now, const store::User& u) override {
    return Call("RedeemRegistrationToken", [&] { return inner_->RedeemRegistrationToken(hash, now, u); });
  }
  Result<std::pair<store::AccountToken, int64_t>> RedeemResetToken(const std::string& hash, int64_t now,
                                                                   const std::string& password_hash) override {
    return Call("RedeemResetToken", [&] { return inner_->RedeemResetToken(hash, now, password_hash); });
  }
  // Sign-in hardening (sessions, tenant edits, TOTP).
  Result<int64_t> DeleteUserSessions(const std::string& tenant_id, const std::string& user_id) override {
    return Call("DeleteUserSessions", [&] { return inner_->DeleteUserSessions(tenant_id, user_id); });
  }
  Status UpdateTenant(const store::Tenant& t) override {
    return Call("UpdateTenant", [&] { return inner_->UpdateTenant(t); });
  }
  Result<store::UserTotp> GetUserTotp(const std::string& tenant_id, const std::string& user_id) override {
    return Call("GetUserTotp", [&] { return inner_->GetUserTotp(tenant_id, user_id); });
  }
  Status PutPendingTotp(const store::UserTotp& t) override {
    return Call("PutPendingTotp", [&] { return inner_->PutPendingTotp(t); });
  }
  Status EnableTotp(const std::string& tenant_id, const std::string& user_id, int64_t step, int64_t now) override {
    return Call("EnableTotp", [&] { return inner_->EnableTotp(tenant_id, user_id, step, now); });
  }
  Result<bool> UseTotpStep(const std::string& tenant_id, const std::string& user_id, int64_t step) override {
    return Call("UseTotpStep", [&] { return inner_->UseTotpStep(tenant_id, user_id, step); });
  }
  Status DeleteUserTotp(const std::string& tenant_id, const std::string& user_id) override {
    return Call("DeleteUserTotp", [&] { return inner_->DeleteUserTotp(tenant_id, user_id); });
  }
  // ---- SAML single sign-on (migration 0009) ----
  Result<store::TenantSso> GetTenantSso(const std::string& tenant_id) override {
    return Call("GetTenantSso", [&] { return inner_->GetTenantSso(tenant_id); });
  }
  Status PutTenantSso(const store::TenantSso& sso) override {
    return Call("PutTenantSso", [&] { return inner_->PutTenantSso(sso); });
  }
  Result<std::vector<store::TenantSso>> FindTenantSsoByIdp(const std::string& idp_entity_id) override {
    return Call("FindTenantSsoByIdp", [&] { return inner_->FindTenantSsoByIdp(idp_entity_id); });
  }
  Status CreateSamlRequest(const store::SamlRequest& request, int64_t now) override {
    return Call("CreateSamlRequest", [&] { return inner_->CreateSamlRequest(request, now); });
  }
  Result<store::SamlRequest> ConsumeSamlRequest(const std::string& tenant_id, const std::string& binding_hash,
                                                int64_t now) override {
    return Call("ConsumeSamlRequest", [&] { return inner_->ConsumeSamlRequest(tenant_id, binding_hash, now); });
  }
  Status RecordSamlAssertion(const std::string& tenant_id, const std::string& key, int64_t keep_until,
                             int64_t now) override {
    return Call("RecordSamlAssertion", [&] { return inner_->RecordSamlAssertion(tenant_id, key, keep_until, now); });
  }
  Result<std::string> GetPlatformKey(const std::string& name) override {
    return Call("GetPlatformKey", [&] { return inner_->GetPlatformKey(name); });
  }
  Status SwapPlatformKey(const std::string& name, const std::string& expected, const std::string& wrapped,
                         int64_t now) override {
    return Call("SwapPlatformKey", [&] { return inner_->SwapPlatformKey(name, expected, wrapped, now); });
  }
  Status SwapTenantKeys(const std::string& tenant_id, const store::TenantKeys& expected,
                        const store::TenantKeys& next) override {
    return Call("SwapTenantKeys", [&] { return inner_->SwapTenantKeys(tenant_id, expected, next); });
  }
  Result<std::vector<store::SealedValue>> ListSealed(const std::string& tenant_id, store::SealedField field,
                                                     const std::string& after_source, const std::string& after_id,
                                                     int64_t limit) override {
    return Call("ListSealed", [&] { return inner_->ListSealed(tenant_id, field, after_source, after_id, limit); });
  }
  Result<int64_t> ReplaceSealed(const std::string& tenant_id, store::SealedField field,
                                const std::vector<store::SealedRewrite>& rewrites) override {
    return Call("ReplaceSealed", [&] { return inner_->ReplaceSealed(tenant_id, field, rewrites); });
  }

  Result<store::RetentionResult> DropRecordsBefore(int64_t cutoff) override {
    return Call("DropRecordsBefore", [&] { return inner_->DropRecordsBefore(cutoff); });
  }
  Result<store::RetentionResult> CountRecordsBefore(int64_t cutoff) override {
    return Call("CountRecordsBefore", [&] { return inner_->CountRecordsBefore(cutoff); });
  }

 private:
  struct Fault {
    Error error;
    When when;
  };

  std::optional<Fault> TakeFault(const std::string& method) {
    std::lock_guard lock(mu_);
    auto it = faults_.find(method);
    if (it == faults_.end()) return std::nullopt;
    Fault fault = std::move(it->second);
    faults_.erase(it);
    return fault;
  }

  std::function<void()> TakeBefore(const std::string& method) {
    std::lock_guard lock(mu_);
    auto it = befores_.find(method);
    if (it == befores_.end()) return {};
    std::function<void()> before = std::move(it->second);
    befores_.erase(it);
    return before;
  }

  template <typename F>
  auto Call(const std::string& method, F&& forward) -> decltype(forward()) {
    if (std::function<void()> before = TakeBefore(method)) before();
    std::optional<Fault> fault = TakeFault(method);
    if (fault && fault->when == When::kBefore) return fault->error;
    auto result = forward();
    if (fault) return fault->error;  // the call took effect; its answer is lost
    return result;
  }

  std::unique_ptr<store::Store> inner_;
  std::mutex mu_;
  std::map<std::string, Fault> faults_;  // GUARDED_BY(mu_)
  std::map<std::string, std::function<void()>> befores_;  // GUARDED_BY(mu_)
};

}  // namespace parley::testing
