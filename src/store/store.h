// Store: Parley's persistence interface. Backends live behind it
// (store/sqlite/ now, store/postgres/ later); nothing outside store/ includes a
// backend header. Every call that reads or writes tenant data takes the
// tenant id as an explicit argument and filters on it.
//
// Thread-safety: all methods may be called from any thread. Writes are
// serialized on one writer connection (SQLite's model); reads run on their own
// connection concurrently with writes (WAL). The store never sees personal
// data in clear: callers pass sealed blobs (crypto::Seal) and blind indexes.
//
// Migrations are versioned and forward-only; OpenStore runs the missing ones
// inside a transaction each, before returning. Schema, sealed fields and
// durability settings: docs/formats/storage.md.
//
// Errors: a taken unique key → kAlreadyExists; a reference to a missing row
// (user of an unknown tenant, cursor of an unknown agent) → kFailedPrecondition;
// a value the schema refuses → kInvalidArgument; store busy → kUnavailable.
// Details name tables and columns, never values.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace parley::store {

enum class Role { kPlatformAdmin, kTenantAdmin, kAnalyst, kViewer };
std::string_view RoleName(Role r);
std::optional<Role> ParseRole(std::string_view s);

struct Tenant {
  std::string id;                        // UUID
  std::string name;                      // display name, e.g. "Demo Org"
  std::vector<std::string> domains;      // authorized e-mail domains (lower case)
  std::string wrapped_data_key;          // MasterKey::WrapDataKey output
  int64_t created_at = 0;
};

struct User {
  std::string id;                        // UUID
  std::string tenant_id;
  std::string email_index;               // blind index of the lower-cased e-mail
  std::string email_sealed;              // e-mail sealed under the tenant key
  std::string password_hash;             // Argon2id string; empty for SSO-only users
  Role role = Role::kViewer;
  int64_t created_at = 0;
};

struct Session {
  std::string id_hash;                   // SHA-256 hex of the cookie value
  std::string user_id;
  std::string tenant_id;
  Role role = Role::kViewer;
  std::string csrf_token;                // random, sent back in X-CSRF-Token
  int64_t created_at = 0;
  int64_t last_seen_at = 0;
  int64_t expires_at = 0;                // absolute expiry
};

struct Agent {
  std::string id;                        // UUID; also the certificate's CN
  std::string tenant_id;
  std::string name;                      // hostname the agent reported
  std::string cert_fingerprint;          // SHA-256 hex of the DER certificate
  int64_t created_at = 0;
  int64_t last_heartbeat_at = 0;         // 0 = never
  std::string heartbeat_json;            // last heartbeat body (no personal data)
};

// A call as stored: analytics fields in clear, personal fields in one sealed
// blob (see docs/formats/storage.md for the blob's JSON and its AAD).
struct StoredCall {
  std::string tenant_id;
  std::string source;
  std::string call_id;
  std::string agent_id;
  int64_t start_at = 0;
  int64_t end_at = 0;
  int64_t duration_s = 0;
  std::string status;                    // "completed" | "failed"
  std::string protocol;
  std::string call_type;
  std::string cause;
  int64_t bitrate_kbps = 0;
  std::string conference_id;
  std::string orig_model, orig_version, orig_site;
  std::string dest_model, dest_version, dest_site;
  std::string pii_sealed;                // Seal(tenant key, pii json, aad)
  int64_t ingested_at = 0;
};

struct CursorValue {
  std::string source;
  std::string value;
};

struct BatchCommit {
  std::string tenant_id;
  std::string agent_id;
  std::string batch_id;                  // Idempotency-Key
  std::string digest;                    // Content-Digest value as received
  int64_t received_at = 0;
  std::vector<StoredCall> calls;
  std::vector<CursorValue> cursors;
};

struct BatchCommitResult {
  bool duplicate = false;                // batch id seen before: nothing written
  int64_t inserted = 0;                  // new calls stored
  int64_t already_present = 0;           // calls stored before by another batch
};

// Keyset pagination: newest first by (start_at, source, call_id).
struct CallPageQuery {
  int64_t limit = 50;
  std::optional<std::tuple<int64_t, std::string, std::string>> before;  // exclusive
};

class Store {
 public:
  virtual ~Store() = default;

  virtual int SchemaVersion() = 0;  // applied migrations; -1 if unreadable
  virtual Status Ping() = 0;  // for /readyz

  // Tenants
  virtual Status CreateTenant(const Tenant& tenant) = 0;
  virtual Result<Tenant> GetTenant(const std::string& tenant_id) = 0;
  virtual Result<Tenant> FindTenantByName(const std::string& name) = 0;
  virtual Result<std::vector<Tenant>> ListTenants() = 0;

  // Users. Sign-in looks users up by blind index across tenants.
  virtual Status CreateUser(const User& user) = 0;             // kAlreadyExists on a taken e-mail
  virtual Result<User> FindUserByEmailIndex(const std::string& email_index) = 0;
  virtual Result<User> GetUser(const std::string& tenant_id, const std::string& user_id) = 0;
  virtual Status SetPassword(const std::string& tenant_id, const std::string& user_id, const std::string& hash) = 0;

  // Sessions
  virtual Status CreateSession(const Session& session) = 0;
  virtual Result<Session> GetSession(const std::string& id_hash) = 0;
  virtual Status TouchSession(const std::string& id_hash, int64_t now) = 0;  // never moves last_seen back
  virtual Status DeleteSession(const std::string& id_hash) = 0;             // idempotent
  // Deletes sessions with expires_at <= now or last_seen_at + idle_seconds <= now.
  virtual Status DeleteExpiredSessions(int64_t now, int64_t idle_seconds) = 0;

  // Agent enrollment. ConsumeEnrollToken marks the token used and returns its
  // tenant atomically: a token works once, even under concurrent use.
  virtual Status CreateEnrollToken(const std::string& token_hash, const std::string& tenant_id, int64_t expires_at) = 0;
  virtual Result<std::string> ConsumeEnrollToken(const std::string& token_hash, int64_t now) = 0;
  virtual Status CreateAgent(const Agent& agent) = 0;
  virtual Result<Agent> FindAgentByFingerprint(const std::string& cert_fingerprint) = 0;
  virtual Result<std::vector<Agent>> ListAgents(const std::string& tenant_id) = 0;
  virtual Status RecordHeartbeat(const std::string& tenant_id, const std::string& agent_id, const std::string& json,
                                 int64_t now) = 0;

  // Ingest. CommitBatch is atomic: the batch row, its calls (each stored once
  // per (tenant, source, call_id)) and the cursor advance commit together or
  // not at all. A batch id seen before writes nothing and reports duplicate.
  // Calls are stored under the batch's tenant and agent: a call whose
  // tenant_id/agent_id is set and differs is kInvalidArgument (empty = the
  // batch's). A call's ingested_at of 0 means the batch's received_at.
  virtual Result<BatchCommitResult> CommitBatch(const BatchCommit& batch) = 0;
  virtual Result<std::vector<CursorValue>> GetCursors(const std::string& tenant_id, const std::string& agent_id) = 0;

  // Calls. REQUIRES: query.limit >= 1 (else kInvalidArgument); pages are
  // capped at 1000 rows. Pass the last row's (start_at, source, call_id) as
  // `before` to get the next page.
  virtual Result<std::vector<StoredCall>> ListCalls(const std::string& tenant_id, const CallPageQuery& query) = 0;
  virtual Result<int64_t> CountCalls(const std::string& tenant_id) = 0;
};

// Opens the store named by `url` ("sqlite:/abs/path.db") and migrates it.
Result<std::unique_ptr<Store>> OpenStore(const std::string& url);

}  // namespace parley::store
