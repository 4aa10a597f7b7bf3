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
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "common/result.h"

namespace parley::store {

namespace detail {
struct RollupDelta;  // store/detail/rollup_delta.h
}  // namespace detail

enum class Role { kPlatformAdmin, kTenantAdmin, kAnalyst, kViewer };
std::string_view RoleName(Role r);
std::optional<Role> ParseRole(std::string_view s);

struct Tenant {
  std::string id;                        // UUID
  std::string name;                      // display name, e.g. "Demo Org"
  std::vector<std::string> domains;      // authorized e-mail domains (lower case)
  std::string wrapped_data_key;          // MasterKey::WrapDataKey output
  int64_t created_at = 0;
  std::string time_zone = "UTC";         // IANA name, e.g. "Europe/London"
  std::string subscription_end;          // last day "YYYY-MM-DD" (UTC); "" = open ended
  bool platform = false;                 // the reserved platform tenant (platform admins only)
  // Data-key rotation (migration 0010; docs/keys.md): the previous data key,
  // wrapped, while personal data is being re-encrypted ("" otherwise), when
  // that began and the last row done. Set only through SwapTenantKeys.
  std::string retiring_data_key;
  int64_t rotation_started_at = 0;
  std::string rotation_cursor;
};

// A tenant's key state, compared and replaced as one by SwapTenantKeys.
struct TenantKeys {
  std::string wrapped_data_key;
  std::string retiring_data_key;         // "" = no rotation under way
  int64_t rotation_started_at = 0;
  std::string rotation_cursor;
};

// The columns that hold personal data sealed under a tenant's data key,
// for re-encryption under a new one (docs/keys.md lists each with its AAD).
enum class SealedField { kUserEmail, kAccountTokenEmail, kTotpSecret, kDevice, kConference, kParticipant, kCall };
// One sealed value and the row it belongs to: (source, id) for records,
// ("", id) for users (user id), account tokens (token hash) and TOTP (user id).
struct SealedValue {
  std::string source;
  std::string id;
  std::string sealed;
};
struct SealedRewrite {
  SealedValue value;                     // the row and its new blob
  std::string expected;                  // the blob it must still hold
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

// Media quality of one stream of a call or participant (no personal data).
// Unmeasured values are nullopt (NULL in the store), never 0.
struct QualitySample {
  std::string party;      // "orig" | "dest" (calls), "participant" (participants)
  std::string direction;  // "rx" | "tx"
  std::string media;      // "audio" | "video" | "content"
  std::string codec;
  std::optional<int64_t> bitrate_kbps;
  std::optional<double> packet_loss_pct_avg, packet_loss_pct_max;
  std::optional<double> jitter_ms_avg, jitter_ms_max;
  std::optional<double> latency_ms_avg, latency_ms_max;
  std::optional<double> mos;
};

// What a quality sample belongs to.
enum class RecordKind { kCall, kParticipant };
std::string_view RecordKindName(RecordKind k);  // "call" | "participant"

// A record named by its key within a tenant.
struct RecordRef {
  std::string source;
  std::string id;
};

// A quality sample as read back, with the record it belongs to.
struct StoredQuality {
  RecordKind kind = RecordKind::kCall;
  std::string source;
  std::string record_id;
  QualitySample sample;
};

// A call as stored: analytics fields in clear, personal fields in one sealed
// blob (see docs/formats/storage.md for the blob's JSON and its AAD).
// A search term as the store takes it: 16 lower-case hex digits
// (privacy::kSearchTermHexDigits). CommitBatch refuses any other with
// kInvalidArgument; a search for one finds nothing.
bool IsSearchTerm(std::string_view term);

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
  // Written by CommitBatch together with a new call; ListCalls leaves it
  // empty (read samples with ListQuality).
  std::vector<QualitySample> quality;
  // Blind-index search terms of its parties (IsSearchTerm, see
  // privacy/search_terms.h), written into pii_docs with a new call only;
  // ListCalls leaves it empty.
  std::vector<std::string> search_terms;
};

// A conference (meeting) as stored; its personal field (name) is sealed.
struct StoredConference {
  std::string tenant_id;
  std::string source;
  std::string conference_id;
  std::string agent_id;
  int64_t start_at = 0;
  int64_t end_at = 0;
  std::string room;
  std::string mcu;
  int64_t participant_count = 0;         // as the source reported it
  std::optional<int64_t> max_resources_used;
  std::optional<int64_t> scheduled_start;
  std::optional<int64_t> scheduled_end;
  std::string pii_sealed;
  int64_t ingested_at = 0;
  // Read-only (ListConferences): participant rows stored for it.
  int64_t stored_participants = 0;
};

// One participant (leg) of a conference; party personal fields are sealed.
struct StoredParticipant {
  std::string tenant_id;
  std::string source;
  std::string participant_id;
  std::string conference_id;             // a conference of the same source
  std::string call_id;                   // a call of the same source, or ""
  std::string agent_id;
  int64_t start_at = 0;
  int64_t end_at = 0;
  int64_t duration_s = 0;
  std::string protocol;
  std::string role;                      // "" | "chair" | "guest" | "participant"
  std::string disconnect_reason;
  std::string model, version, site;      // the party's clear fields
  std::string pii_sealed;
  int64_t ingested_at = 0;
  // Written with a new participant; ListParticipants leaves it empty.
  std::vector<QualitySample> quality;
  // Search terms of its party, as StoredCall::search_terms.
  std::vector<std::string> search_terms;
};

// The newest observed inventory state of one device.
struct StoredDevice {
  std::string tenant_id;
  std::string source;
  std::string device_id;
  std::string agent_id;
  int64_t observed_at = 0;
  std::string device_type;
  std::string model, version, site;
  std::string status;                    // "" | "online" | "offline" | "unknown"
  std::string registration;
  std::string timezone;
  std::string pii_sealed;                // name, serial, ip, mac, owner
  int64_t updated_at = 0;                // when the server stored it; 0 = the batch's received_at
  // Search terms of its ip and owner; they replace the stored ones whenever
  // this observation replaces the stored state. ListDevices leaves it empty.
  std::vector<std::string> search_terms;
};

struct CursorValue {
  std::string source;
  std::string value;
  // CommitBatch only: the stored cursor the batch must follow (wire "after";
  // no stored cursor counts as ""). If the stored one differs, the batch is
  // kAborted and nothing is written: an earlier batch of the source is not
  // stored yet (or never will be), so storing this one would skip it.
  std::optional<std::string> expected = std::nullopt;
};

// CommitBatch's rule for a cursor with an `expected` value, for both
// backends: `stored` is the source's stored cursor (nullopt: none, which
// counts as ""); kAborted if it is not `expected`. Ok without `expected`.
Status CheckExpectedCursor(const CursorValue& cursor, const std::optional<std::string>& stored);

// Records of one batch refused on their own (implausible times), grouped.
struct QuarantineCount {
  std::string source;
  std::string record_type;  // "call", "conference", ...
  std::string reason;       // PII-free, from wire::RefusedRecord
  int64_t count = 0;
};

// What the tenant admin sees: refused records grouped by agent, source,
// type and reason.
struct QuarantineEntry {
  std::string agent_id;
  std::string source;
  std::string record_type;
  std::string reason;
  int64_t count = 0;
  int64_t first_seen = 0;  // received_at of the first batch that had one
  int64_t last_seen = 0;
};

struct BatchCommit {
  std::string tenant_id;
  std::string agent_id;
  std::string batch_id;                  // Idempotency-Key
  std::string digest;                    // Content-Digest value as received
  int64_t received_at = 0;
  std::vector<StoredCall> calls;
  std::vector<CursorValue> cursors;
  std::vector<StoredConference> conferences;
  std::vector<StoredParticipant> participants;
  std::vector<StoredDevice> devices;
  // Counted in the same transaction, and only when the batch is new, so a
  // resent batch never counts its refused records twice.
  std::vector<QuarantineCount> quarantined;
};

// Counts over every record type of the batch.
struct BatchCommitResult {
  bool duplicate = false;                // batch id seen before: nothing written
  // Calls, conferences and participants stored now, plus devices whose
  // stored state this batch replaced (or created).
  int64_t inserted = 0;
  // Calls, conferences and participants stored before (by another batch or
  // earlier in this one), plus device observations not newer than the
  // stored one.
  int64_t already_present = 0;
};

// Keyset pagination: newest first by (start_at, source, call_id).
struct CallPageQuery {
  int64_t limit = 50;
  std::optional<std::tuple<int64_t, std::string, std::string>> before;  // exclusive
  // Only calls with this search term (a StoredCall::search_terms value).
  std::optional<std::string> party_term;
};

// Keyset pagination: newest first by (start_at, source, conference_id).
struct ConferencePageQuery {
  int64_t limit = 50;
  std::optional<std::tuple<int64_t, std::string, std::string>> before;  // exclusive
};

// Keyset pagination in key order (source, participant_id).
struct ParticipantPageQuery {
  int64_t limit = 100;
  std::optional<std::pair<std::string, std::string>> after;  // exclusive
};

// Keyset pagination in key order (source, device_id).
struct DevicePageQuery {
  int64_t limit = 100;
  std::optional<std::pair<std::string, std::string>> after;  // exclusive
};

// One audit-log entry as stored (table audit_log; docs/security.md "Audit
// log"). Ids only, never personal data. tenant_id names the chain: a tenant's
// id, or kPlatformAuditChain.
struct AuditEntry {
  std::string tenant_id;
  int64_t seq = 0;                       // 1, 2, 3, ... per chain
  int64_t at = 0;                        // Unix seconds
  std::string actor;
  std::string action;
  std::string target;
  std::string outcome;
  std::string details_json;              // canonical JSON object
  std::string prev_hash;                 // 64 hex
  std::string entry_hash;                // 64 hex
};
inline constexpr std::string_view kPlatformAuditChain = "platform";

// The newest entry of a chain as recorded in chain_heads.
struct AuditChainHead {
  int64_t seq = 0;
  std::string entry_hash;
};

// Given a draft whose seq and prev_hash the store has filled from the chain
// head, returns its entry_hash. Runs inside the append transaction.
using AuditSealer = std::function<Result<std::string>(const AuditEntry& draft)>;

// ---- Retention ----

// What a retention run deleted (or, counted, would delete), all tenants.
// Rollups (hour, day, calls in progress) are kept: they hold no personal
// data and the dashboards read them, so past months stay charted after
// their records went. So are devices (their newest state, not records) and,
// on PostgreSQL, record_keys: a late resend of an expired record is still
// "already present" there.
struct RetentionResult {
  int64_t boundary = 0;         // records that started before this (a UTC month start) went
  int64_t calls = 0;
  int64_t conferences = 0;
  int64_t participants = 0;
  int64_t quality_samples = 0;  // of the calls and participants
  int64_t search_terms = 0;     // search terms of the calls and participants (not pii_docs rows)
  int64_t partitions = 0;       // PostgreSQL: monthly partitions dropped (SQLite: 0)
  bool operator==(const RetentionResult&) const = default;
};
// Records per SQLite retention transaction.
inline constexpr int64_t kRetentionChunk = 5000;
// The start of the UTC month that contains `t` (Unix seconds): the boundary
// retention applies for a cutoff `t`, as PostgreSQL drops the partitions
// whose month ends at or before `t`.
int64_t RetentionBoundary(int64_t t);

// ---- Rollups (docs/formats/storage.md, "Rollups") ----
//
// Maintained by CommitBatch for every newly stored call and participant, in
// the batch's transaction, so a resent batch or a record seen before adds
// nothing; every figure is a sum or a count (never an average of averages)
// and the quantile sketches merge by adding counts, so the order in which
// records arrive does not matter. Calls give the usage figures and their
// quality samples; participants (conference legs) give only their quality
// samples. Dashboards read these, never the raw records.

// A mergeable quantile sketch of non-negative values (milliseconds): counts in
// logarithmic buckets 10% wide, so two sketches merge by adding counts and a
// quantile is right to within one bucket (about ±5%). Values below 1 share
// bucket 0; values are capped at kMaxValue.
class QuantileSketch {
 public:
  static constexpr double kMaxValue = 1e6;
  void Add(double value, int64_t count = 1);
  void Merge(const QuantileSketch& other);
  int64_t Count() const;
  // The q-quantile (0 <= q <= 1) as its bucket's midpoint; nullopt when empty.
  std::optional<double> Quantile(double q) const;
  // "index:count,index:count" in index order; "" when empty.
  std::string Encode() const;
  static std::optional<QuantileSketch> Decode(std::string_view text);
  bool operator==(const QuantileSketch&) const = default;

 private:
  // (bucket index, count) in index order, counts > 0. A sorted vector rather
  // than a map: a year of hourly rollups decodes ~17,000 sketches of ~40
  // buckets each, and one allocation per sketch instead of one per bucket is
  // what keeps that query within its budget (docs/performance.md).
  std::vector<std::pair<int, int64_t>> buckets_;
};

// Media quality of the samples in a bucket: sums and counts per measure.
struct QualityAggregate {
  double loss_pct_sum = 0;
  int64_t loss_n = 0;
  double jitter_ms_sum = 0;
  int64_t jitter_n = 0;
  double latency_ms_sum = 0;
  int64_t latency_n = 0;
  double mos_sum = 0;
  int64_t mos_n = 0;
  QuantileSketch jitter_ms;
  QuantileSketch latency_ms;
  void Add(const QualitySample& sample);  // the sample's averages
  void Merge(const QualityAggregate& other);
  bool operator==(const QualityAggregate&) const = default;
};

struct UsageAggregate {
  int64_t calls = 0;      // calls that started in the bucket
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t seconds = 0;    // connected seconds that fell in the bucket
  QualityAggregate quality;  // samples of calls and participants that started in the bucket
  void Merge(const UsageAggregate& other);
  bool operator==(const UsageAggregate&) const = default;
};

enum class RollupGrain { kHour, kDay };  // UTC hours and UTC days
// What a rollup row is per: the whole tenant, one call server (source), one
// site or one device model. A call counts once for the tenant and its source,
// and once for each distinct site and model of its two ends (so a site's row
// counts the calls it took part in). A participant's quality samples count
// for the tenant, its source, its site and its model.
enum class RollupDimension { kTenant, kSource, kSite, kModel };

struct RollupRow {
  int64_t bucket = 0;  // start, Unix seconds
  std::string key;     // the source, site or model; "" for kTenant
  UsageAggregate usage;
};

struct RollupQuery {
  RollupGrain grain = RollupGrain::kHour;
  RollupDimension dimension = RollupDimension::kTenant;
  int64_t from = 0;  // [from, to), Unix seconds
  int64_t to = 0;
  std::optional<std::string> key;  // one source/site/model; nullopt = every one
  // false: only calls, completed, failed and seconds are read (quality left
  // empty). Usage views ask for no more: a year of hourly rows carries ~17,000
  // quantile sketches, most of what the query would otherwise read and decode.
  bool with_quality = true;
};

// The most calls in progress at once during one UTC hour, at minute
// resolution: a completed call counts in every minute from its start to its
// end that it touches.
struct HourlyPeak {
  int64_t hour = 0;  // start, Unix seconds
  int64_t peak = 0;
};

// ---- Account links (registration and password reset; docs/accounts.md) ----
// A pending registration or reset: the row behind a single-use e-mail link.
enum class AccountTokenPurpose { kRegister, kReset };
std::string_view AccountTokenPurposeName(AccountTokenPurpose p);  // "register" | "reset"

struct AccountToken {
  std::string token_hash;                // SHA-256 hex of the link's token (never the token)
  std::string tenant_id;
  AccountTokenPurpose purpose = AccountTokenPurpose::kRegister;
  std::string user_id;                   // reset: the user; register: ""
  std::string email_index;               // blind index of the normalized address
  std::string email_sealed;              // the address, sealed under the tenant key
  int64_t created_at = 0;
  int64_t expires_at = 0;
  std::optional<int64_t> used_at;        // set once redeemed
};

// A local user's TOTP second factor (RFC 6238). The secret is sealed under
// the tenant key by the caller (portal/account_security.h).
struct UserTotp {
  std::string tenant_id;
  std::string user_id;
  std::string secret_sealed;
  int64_t created_at = 0;
  int64_t enabled_at = 0;                // 0 = set up, awaiting the first code
  int64_t last_step = -1;                // newest accepted 30-second step
};

// ---- SAML single sign-on (migration 0009; docs/sso.md) ----

// A tenant's SSO settings. The IdP metadata is public data (endpoints and
// the signing certificate), stored in clear.
struct TenantSso {
  std::string tenant_id;
  bool enabled = false;
  std::string idp_entity_id;             // from the metadata
  std::string idp_metadata_xml;
  std::string group_attribute;           // claim URI carrying group names
  std::string role_map_json = "{}";      // {"group": "role", ...}
  std::string default_role = "viewer";   // "" = refuse users in no mapped group
  bool allow_idp_initiated = false;
  int64_t updated_at = 0;
};

// An SP-initiated AuthnRequest waiting for its response.
struct SamlRequest {
  std::string tenant_id;
  std::string binding_hash;              // SHA-256 hex of the browser cookie's random value
  std::string request_id;
  std::string login_state;               // Lasso's dump of the request
  int64_t expires_at = 0;
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
  // The tenant's users, by creation time.
  virtual Result<std::vector<User>> ListUsers(const std::string& tenant_id) = 0;
  // Changes a user's role and the role of the user's open sessions, in one
  // transaction. Demoting a tenant's last tenant_admin is kFailedPrecondition.
  virtual Status SetUserRole(const std::string& tenant_id, const std::string& user_id, Role role) = 0;

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

  // Ingest. CommitBatch is atomic: the batch row, its records and the cursor
  // advance commit together or not at all. Calls, conferences and
  // participants are each stored once per (tenant, source, id), with their
  // quality samples only when the record itself is new (a record's samples
  // come from one observation); devices are upserted, the newest
  // observed_at winning (ties keep the stored state). A batch id seen before
  // writes nothing and reports duplicate. A cursor whose `expected` differs
  // from the stored cursor makes the batch kAborted, nothing written
  // (CheckExpectedCursor; checked after the duplicate check, so a resent
  // stored batch is still duplicate). Records are stored under the batch's
  // tenant and agent: a record whose tenant_id/agent_id is set and
  // differs is kInvalidArgument (empty = the batch's). An ingested_at /
  // updated_at of 0 means the batch's received_at.
  virtual Result<BatchCommitResult> CommitBatch(const BatchCommit& batch) = 0;
  virtual Result<std::vector<CursorValue>> GetCursors(const std::string& tenant_id, const std::string& agent_id) = 0;
  // The tenant's refused records (BatchCommit::quarantined), most recently
  // seen first; at most 1000 groups.
  virtual Result<std::vector<QuarantineEntry>> ListQuarantine(const std::string& tenant_id) = 0;

  // Rollups, ordered by key then bucket. REQUIRES: from <= to, and a span of
  // at most 400 days of hours or 20 years of days (kInvalidArgument).
  virtual Result<std::vector<RollupRow>> ListRollups(const std::string& tenant_id, const RollupQuery& query) = 0;
  // Every hour of [from, to) (hour-aligned), in order, for one source or
  // (source "") the whole tenant. Same span limit as hourly rollups.
  virtual Result<std::vector<HourlyPeak>> ListHourlyPeaks(const std::string& tenant_id, const std::string& source,
                                                          int64_t from, int64_t to) = 0;
  // For RebuildRollups: runs `recompute` while no batch of the tenant can
  // commit (SQLite: under the database's write lock; PostgreSQL: the rollup
  // tables locked against writes), then, in one transaction, deletes the
  // tenant's hourly rows, calls-in-progress minutes and hours from `from` on
  // (hour-aligned, or INT64_MIN) and its daily rows from the first day
  // boundary at or after `from`, and adds what `recompute` returned (which
  // holds nothing earlier). Older rows stay. An error of `recompute` changes
  // nothing.
  virtual Status ReplaceRollups(const std::string& tenant_id, int64_t from,
                                const std::function<Result<detail::RollupDelta>()>& recompute) = 0;

  // Calls. REQUIRES: query.limit >= 1 (else kInvalidArgument); pages are
  // capped at 1000 rows. Pass the last row's (start_at, source, call_id) as
  // `before` to get the next page. With query.party_term, only the calls
  // that have that search term.
  virtual Result<std::vector<StoredCall>> ListCalls(const std::string& tenant_id, const CallPageQuery& query) = 0;
  // The tenant's calls; with `party_term`, only those that have that term.
  virtual Result<int64_t> CountCalls(const std::string& tenant_id, const std::optional<std::string>& party_term) = 0;

  // Conferences, newest first, each with stored_participants filled.
  // REQUIRES: query.limit >= 1; pages are capped at 1000 rows.
  virtual Result<std::vector<StoredConference>> ListConferences(const std::string& tenant_id,
                                                                const ConferencePageQuery& query) = 0;
  // The participants of one conference, by start time; at most 1000 (a
  // conference's stored_participants tells whether some were left out).
  virtual Result<std::vector<StoredParticipant>> ListParticipants(const std::string& tenant_id,
                                                                  const std::string& source,
                                                                  const std::string& conference_id) = 0;
  // Every participant of the tenant, whatever its conference, in
  // (source, participant_id) order (rollups verify reads them all this way).
  // REQUIRES: query.limit >= 1; capped at 1000 rows.
  virtual Result<std::vector<StoredParticipant>> ListAllParticipants(const std::string& tenant_id,
                                                                     const ParticipantPageQuery& query) = 0;
  // Device inventory in (source, device_id) order. REQUIRES: query.limit >= 1;
  // capped at 1000 rows.
  virtual Result<std::vector<StoredDevice>> ListDevices(const std::string& tenant_id,
                                                        const DevicePageQuery& query) = 0;
  // The quality samples of the given calls or participants, grouped by
  // record in the order of `records`, then by (party, direction, media).
  // At most 1000 records per call (kInvalidArgument beyond).
  virtual Result<std::vector<StoredQuality>> ListQuality(const std::string& tenant_id, RecordKind kind,
                                                         const std::vector<RecordRef>& records) = 0;

  // Audit log (append-only). AppendAudit runs one write transaction: reads
  // the chain head of draft.tenant_id, sets seq = head + 1 and prev_hash =
  // head hash (or `genesis_hash` for the first entry), calls `seal` for the
  // entry_hash, inserts the entry and moves chain_heads — so concurrent
  // appends never fork a chain. Returns the stored entry.
  virtual Result<AuditEntry> AppendAudit(const AuditEntry& draft, const std::string& genesis_hash,
                                         const AuditSealer& seal) = 0;
  // Entries of one chain in seq order with seq > after_seq (ascending) —
  // or, if newest_first, with seq < before_seq (0 = from the head), newest
  // first. REQUIRES: 1 <= limit <= 1000.
  virtual Result<std::vector<AuditEntry>> ListAudit(const std::string& tenant_id, bool newest_first,
                                                    int64_t seq_bound, int64_t limit) = 0;
  virtual Result<std::optional<AuditChainHead>> GetAuditHead(const std::string& tenant_id) = 0;
  // Every chain id that has entries or a head.
  virtual Result<std::vector<std::string>> ListAuditChains() = 0;

  // ---- Account links (registration and password reset; docs/accounts.md) ----
  // Stores a new token; also deletes tokens that expired more than a week
  // ago (kept until then so a late click gets "expired", not "unknown").
  virtual Status CreateAccountToken(const AccountToken& token, int64_t now) = 0;
  // kNotFound when no token has this hash.
  virtual Result<AccountToken> GetAccountToken(const std::string& token_hash) = 0;
  // One transaction: marks the registration token used and creates `user`.
  // kFailedPrecondition if the token is unknown, not a registration token,
  // used or expired at `now` (nothing changes); kAlreadyExists if the
  // e-mail is taken (the token stays unused).
  virtual Status RedeemRegistrationToken(const std::string& token_hash, int64_t now, const User& user) = 0;
  // One transaction: marks the reset token used (kFailedPrecondition as
  // above), sets its user's password hash, marks the user's other reset
  // tokens used and deletes all the user's sessions. Returns the token (its
  // tenant and user) and the number of sessions ended.
  virtual Result<std::pair<AccountToken, int64_t>> RedeemResetToken(const std::string& token_hash, int64_t now,
                                                                     const std::string& password_hash) = 0;

  // ---- Sign-in hardening: sessions, tenant edits, TOTP (migration 0008) ----

  // Ends every session of one user (sign out everywhere, role changes);
  // returns how many there were.
  virtual Result<int64_t> DeleteUserSessions(const std::string& tenant_id, const std::string& user_id) = 0;
  // Rewrites a tenant's name, domains, time zone and subscription end (its
  // id, key, creation time and platform flag never change). kNotFound for an
  // unknown id, kAlreadyExists for a name another tenant has.
  virtual Status UpdateTenant(const Tenant& tenant) = 0;
  // The user's TOTP record; kNotFound when there is none.
  virtual Result<UserTotp> GetUserTotp(const std::string& tenant_id, const std::string& user_id) = 0;
  // Stores a new, not yet confirmed secret (enabled_at = 0), replacing an
  // unconfirmed one; kFailedPrecondition when TOTP is already enabled.
  virtual Status PutPendingTotp(const UserTotp& totp) = 0;
  // Confirms the pending secret: enabled_at = now, last_step = step.
  // kFailedPrecondition when there is no pending secret.
  virtual Status EnableTotp(const std::string& tenant_id, const std::string& user_id, int64_t step, int64_t now) = 0;
  // Records that the code of `step` was used, atomically: true only if TOTP
  // is enabled and `step` is newer than every step used before (a code
  // works once, even for two concurrent requests).
  virtual Result<bool> UseTotpStep(const std::string& tenant_id, const std::string& user_id, int64_t step) = 0;
  virtual Status DeleteUserTotp(const std::string& tenant_id, const std::string& user_id) = 0;  // idempotent

  // ---- SAML single sign-on (migration 0009; docs/sso.md) ----
  // kNotFound when the tenant has no SSO settings.
  virtual Result<TenantSso> GetTenantSso(const std::string& tenant_id) = 0;
  // Inserts or replaces the tenant's settings (kFailedPrecondition for an unknown tenant).
  virtual Status PutTenantSso(const TenantSso& sso) = 0;
  // Enabled settings whose IdP has this entity ID (routing of IdP-initiated responses).
  virtual Result<std::vector<TenantSso>> FindTenantSsoByIdp(const std::string& idp_entity_id) = 0;
  // Stores a pending request and purges the tenant's expired ones.
  virtual Status CreateSamlRequest(const SamlRequest& request, int64_t now) = 0;
  // Deletes and returns the pending request in one statement: each works
  // once, even under concurrent use. Unknown or expired → kNotFound.
  virtual Result<SamlRequest> ConsumeSamlRequest(const std::string& tenant_id, const std::string& binding_hash,
                                                 int64_t now) = 0;
  // The replay cache: records an assertion as used, atomically. An assertion
  // recorded before (and not yet purged) → kAlreadyExists. Purges the
  // tenant's entries whose keep_until passed.
  virtual Status RecordSamlAssertion(const std::string& tenant_id, const std::string& assertion_key,
                                     int64_t keep_until, int64_t now) = 0;

  // ---- Key rotation (migration 0010; docs/keys.md) ----
  // A platform secret wrapped by the master key; kNotFound when absent.
  virtual Result<std::string> GetPlatformKey(const std::string& name) = 0;
  // Stores `wrapped` under `name` if the stored value still equals
  // `expected` ("" = absent): kFailedPrecondition when another writer got
  // there first (re-read and decide again).
  virtual Status SwapPlatformKey(const std::string& name, const std::string& expected, const std::string& wrapped,
                                 int64_t now) = 0;
  // Replaces the tenant's key state if its wrapped and retiring data keys
  // still equal `expected`'s (compare-and-swap, so concurrent rotations and
  // re-wraps cannot lose a key): kFailedPrecondition otherwise, kNotFound
  // for an unknown tenant.
  virtual Status SwapTenantKeys(const std::string& tenant_id, const TenantKeys& expected, const TenantKeys& next) = 0;
  // Sealed values of one field in (source, id) order after (after_source,
  // after_id). REQUIRES: 1 <= limit <= 5000.
  virtual Result<std::vector<SealedValue>> ListSealed(const std::string& tenant_id, SealedField field,
                                                      const std::string& after_source, const std::string& after_id,
                                                      int64_t limit) = 0;
  // In one transaction, writes each new blob whose row still holds
  // `expected`; returns how many rows changed (a row rewritten meanwhile is
  // left alone).
  virtual Result<int64_t> ReplaceSealed(const std::string& tenant_id, SealedField field,
                                        const std::vector<SealedRewrite>& rewrites) = 0;

  // ---- Retention (`parley retention apply`, store.retention_months;
  // docs/operations.md "Retention") ----
  // Deletes, across every tenant, the call detail records that started
  // before RetentionBoundary(cutoff) (whole UTC months): calls,
  // conferences, participants, their quality samples and their search
  // terms. Rollups, devices and the de-duplication keys stay (see
  // RetentionResult). PostgreSQL drops whole monthly partitions in one
  // transaction; SQLite deletes in transactions of at most
  // kRetentionChunk records, so ingest waits for at most one chunk.
  // Interrupted, it leaves whole records behind, never a record without its
  // samples and terms: run it again.
  virtual Result<RetentionResult> DropRecordsBefore(int64_t cutoff) = 0;
  // What DropRecordsBefore(cutoff) would delete now; deletes nothing.
  virtual Result<RetentionResult> CountRecordsBefore(int64_t cutoff) = 0;
};

// Opens the store named by `url` ("sqlite:/abs/path.db") and migrates it.
Result<std::unique_ptr<Store>> OpenStore(const std::string& url);

// ---- PostgreSQL backend (issue 4) ----
// OpenStore(url, options) also accepts "postgresql://..." and "postgres://..."
// (libpq URIs; docs/postgresql.md). The PostgreSQL store migrates only over
// options.migrate_url (store.migrate_url: the schema owner's connection);
// without it a schema older than this binary is a kConfig error naming
// store.migrate_url. SQLite ignores migrate_url.
struct StoreOpenOptions {
  std::string migrate_url;
};
Result<std::unique_ptr<Store>> OpenStore(const std::string& url, const StoreOpenOptions& options);

// ---- Rollup verification (`parley rollups verify`; docs/operations.md) ----
// What VerifyRollups found for one tenant.
struct RollupVerifyReport {
  int64_t calls = 0;                // raw calls read
  int64_t participants = 0;         // raw participants read (their quality counts too)
  int64_t rows_compared = 0;        // rollup rows stored or recomputed (both grains, every dimension)
  int64_t peak_hours_compared = 0;  // (series, hour) pairs with calls in progress on either side
  int64_t mismatches = 0;           // rows and hours that differ
  // The first mismatches: grain, dimension, key, bucket and the figures
  // that differ, stored against recomputed (no personal data: keys are
  // sources, sites and models).
  std::vector<std::string> examples;
  bool ok() const { return mismatches == 0; }
};
// Recomputes every rollup row (hour and day; tenant, source, site, model) and
// every hourly peak of calls in progress of `tenant_id` from its raw calls
// and participants (ListCalls and ListAllParticipants pages with their
// ListQuality samples, through the arithmetic CommitBatch uses) and compares
// them with ListRollups and ListHourlyPeaks over every bucket from the Unix
// epoch (or the oldest record) to 400 days past `now` (or the newest
// record). Integer figures and sketches must be equal; sums of quality
// values may differ by rounding (relative 1e-9), since they were added up
// in another order. Records stored while it runs show as mismatches: run
// it on a quiet store. Keeps at most `max_examples` examples.
//
// `retained_from` > 0: retention deleted the records that started before it
// and kept their rollups, so rows and peak hours before it have nothing to
// be checked against and are skipped, and so is the day after it (a record
// that started before it and ran across it still counts in the connected
// seconds and calls in progress there; a longer one shows as a mismatch).
Result<RollupVerifyReport> VerifyRollups(Store& store, const std::string& tenant_id, int64_t now,
                                         size_t max_examples = 10, int64_t retained_from = 0);

// ---- Rollup rebuild (`parley rollups rebuild`; docs/operations.md) ----
struct RollupRebuildReport {
  int64_t calls = 0;         // raw calls read
  int64_t participants = 0;  // raw participants read
  int64_t from = 0;          // the first hour replaced (INT64_MIN: all)
};
// Recomputes `tenant_id`'s rollups from its raw calls and participants, as
// VerifyRollups does, and replaces the stored ones with them
// (Store::ReplaceRollups), so a verify afterwards finds them equal. For
// rollups that miss records: calls stored before the rollups existed
// (migration 0007) and participants' quality stored by a server that did
// not yet roll it up. Ingest of the tenant waits while it runs.
//
// `retained_from` > 0: retention deleted the records before it and kept
// their rollups, so only the hours from the first hour boundary a day after
// it, and the days from the first day boundary after that, are replaced
// (VerifyRollups compares from there too).
Result<RollupRebuildReport> RebuildRollups(Store& store, const std::string& tenant_id, int64_t retained_from = 0);

}  // namespace parley::store
