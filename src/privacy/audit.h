// The audit log: append-only, one hash chain per tenant plus the platform
// chain (store::kPlatformAuditChain). Format, what is recorded and the limits
// of the protection: docs/security.md, "Audit log".
//
//   entry_hash = hex(SHA-256(prev_hash || canonical JSON))
//   canonical JSON = {"action":…,"actor":…,"details":{…},"outcome":…,
//                     "seq":N,"target":…,"time":N}
//     keys sorted, no white space, strings escaped as Boost.JSON does,
//     details canonical the same way (keys sorted at every level)
//   prev_hash of seq 1 = GenesisHash(chain) = hex(SHA-256("parley:audit:v1:" + chain))
//
// Entries name actors and targets by id ("user:<uuid>", "agent:<uuid>",
// "session:<16 hex of the id hash>", "email_index:<16 hex of the blind
// index>"), never personal data: callers must not put e-mail addresses,
// names, numbers or IP addresses into any field (use KeyedRef for a source
// address).
//
// Thread-safe: appends are serialized by the store's single writer inside
// one transaction that reads the chain head, so chains never fork.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "crypto/crypto.h"
#include "store/store.h"

namespace parley::privacy {

// Action names. Hook points for later work are listed too, so every caller
// spells them the same way.
namespace audit_action {
inline constexpr std::string_view kLogin = "auth.login";
inline constexpr std::string_view kLogout = "auth.logout";
inline constexpr std::string_view kRegistration = "auth.register";  // a registration completed (or refused)
inline constexpr std::string_view kRegistrationRequest = "auth.register.request";
inline constexpr std::string_view kPasswordReset = "auth.password_reset";
inline constexpr std::string_view kPasswordResetRequest = "auth.password_reset.request";
inline constexpr std::string_view kAgentEnroll = "agent.enroll";
inline constexpr std::string_view kCdrView = "cdr.view";
inline constexpr std::string_view kAuditExport = "audit.export";
inline constexpr std::string_view kRoleChange = "role.change";
inline constexpr std::string_view kSsoConfig = "sso.config";
inline constexpr std::string_view kExport = "data.export";
inline constexpr std::string_view kPrivacyRequest = "privacy.request";  // deletion / anonymization
inline constexpr std::string_view kKeyRotation = "key.rotate";
}  // namespace audit_action

// Sign-in hardening and the platform admin's tenant management.
namespace audit_action {
inline constexpr std::string_view kLogoutAll = "auth.logout_all";      // sign out everywhere
inline constexpr std::string_view kTotpSetup = "auth.totp_setup";      // a secret issued, not yet active
inline constexpr std::string_view kTotpEnable = "auth.totp_enable";    // confirmed with a first code
inline constexpr std::string_view kTotpDisable = "auth.totp_disable";
inline constexpr std::string_view kTenantCreate = "tenant.create";     // platform chain
inline constexpr std::string_view kTenantUpdate = "tenant.update";     // platform chain
inline constexpr std::string_view kRetention = "data.retention";       // platform chain (privacy/retention.h)
}  // namespace audit_action

namespace audit_outcome {
inline constexpr std::string_view kSuccess = "success";
inline constexpr std::string_view kFailure = "failure";
inline constexpr std::string_view kDenied = "denied";
}  // namespace audit_outcome

// Id-only references for actors and targets.
std::string AuditUser(std::string_view user_id);              // "user:<id>"
std::string AuditAgent(std::string_view agent_id);            // "agent:<id>"
std::string AuditSession(std::string_view session_id_hash);   // "session:<first 16 hex>"
std::string AuditEmailIndex(std::string_view blind_index);    // "email_index:<first 16 hex>"
// "<kind>:<16 hex of HMAC-SHA-256(key, "parley:audit:<kind>:" + value)>": a
// pseudonymous, keyed reference (e.g. a source IP address) that lets entries
// be correlated without storing the value.
std::string KeyedRef(const crypto::Key256& key, std::string_view kind, std::string_view value);

// The result of checking one chain.
struct AuditVerifyReport {
  std::string chain;
  int64_t entries = 0;
  bool ok = true;
  int64_t bad_seq = 0;      // first bad seq when !ok
  std::string problem;      // what is wrong there, when !ok
};

class AuditLog {
 public:
  AuditLog(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  // Appends one entry to `chain` (a tenant id or store::kPlatformAuditChain).
  // `details` holds ids, counts and codes only.
  Result<store::AuditEntry> Append(std::string_view chain, std::string_view actor, std::string_view action,
                                   std::string_view target, std::string_view outcome,
                                   const boost::json::object& details = {});

  // Recomputes the chain from the first entry: seq contiguity, each
  // prev_hash, each entry_hash, and the last entry against chain_heads.
  // An error only when the store cannot be read; tampering is a report.
  Result<AuditVerifyReport> Verify(std::string_view chain);

  static std::string GenesisHash(std::string_view chain);
  // Keys sorted at every level, no white space.
  static std::string CanonicalJson(const boost::json::value& value);
  // The entry_hash the entry's stored fields call for.
  static std::string ComputeEntryHash(const store::AuditEntry& entry);

 private:
  store::Store& store_;
  const Clock& clock_;
};

}  // namespace parley::privacy
