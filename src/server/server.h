// The `parley` server's commands as library functions, so main() stays thin
// and tests can run them in-process. Each returns a process exit code:
// 0 success, 1 failure, 2 bad configuration (the message names the key).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace parley::server {

struct InitOptions {
  std::filesystem::path dir;
  bool demo = false;
  std::filesystem::path web_root;  // empty: the front end built in this source tree
};
int RunInit(const InitOptions& options);

struct ServeOptions {
  std::filesystem::path config_file;
  std::filesystem::path ports_file;  // optional: write {"portal":P,"ingest":P} once listening
};
int RunServe(const ServeOptions& options);

// Prints a one-time agent enrollment token for tenant (name or id).
int RunEnrollToken(const std::filesystem::path& config_file, const std::string& tenant);
int RunTenantList(const std::filesystem::path& config_file);

struct TenantCreateOptions {
  std::filesystem::path config_file;
  std::string name;
  std::vector<std::string> domains;   // at least one
  std::string time_zone = "UTC";      // IANA name
  std::string subscription_end;       // "YYYY-MM-DD"; empty = open ended
};
int RunTenantCreate(const TenantCreateOptions& options);

// `parley tenant sso set`: changes a tenant's SAML SSO settings (docs/sso.md);
// unset options keep their value. Audited (sso.config, actor "cli").
struct TenantSsoSetOptions {
  std::filesystem::path config_file;
  std::string tenant;                          // name or id
  std::filesystem::path idp_metadata_file;     // empty: keep
  std::optional<std::string> group_attribute;
  std::optional<std::string> role_map;         // "group=role,group=role"
  std::optional<std::string> default_role;     // viewer|analyst|tenant_admin|none
  std::optional<bool> idp_initiated;
  std::optional<bool> enabled;                 // default: on when metadata is first set
};
int RunTenantSsoSet(const TenantSsoSetOptions& options);

// Creates a local user. The password comes from PARLEY_USER_PASSWORD, or a
// random one is generated and printed once. --role platform_admin puts the
// user in the reserved platform tenant (created on demand); --tenant must
// then be "platform".
struct UserCreateOptions {
  std::filesystem::path config_file;
  std::string tenant;                 // name or id; "platform" for platform admins
  std::string email;
  std::string role;                   // platform_admin | tenant_admin | analyst | viewer
};
int RunUserCreate(const UserCreateOptions& options);

// `parley audit verify`: recomputes every audit chain (or the one of
// `tenant`: name, id or "platform") and prints OK or the first bad seq with
// what is wrong. Returns 0 when every chain is intact, 1 when one is
// tampered with, 2 on a configuration error, 3 when the store cannot be read.
int RunAuditVerify(const std::filesystem::path& config_file, const std::string& tenant);

// `parley keys status`: the master keys in the key file and, per tenant,
// which one wraps its data key and whether a data-key rotation is under way.
int RunKeysStatus(const std::filesystem::path& config_file);

// `parley keys rotate` (docs/keys.md): without `tenant`, a new master key
// and every data key re-wrapped under it; with `tenant` and `data_key`, that
// tenant's personal data re-encrypted under a new data key (resumed if an
// earlier run was interrupted). The servers keep running. Returns 0 when
// done, 1 on failure (run it again: it resumes), 2 on a configuration error.
struct KeysRotateOptions {
  std::filesystem::path config_file;
  std::string tenant;                 // name or id; with data_key
  bool data_key = false;
  int64_t grace_seconds = -1;         // < 0: 2 x keys.data_key_cache_seconds + 5
  int64_t batch_rows = 1000;
};
int RunKeysRotate(const KeysRotateOptions& options);

// `parley rollups verify`: recomputes every rollup row and hourly peak of
// every tenant (or of `tenant`: name or id) from its raw calls and compares
// them with the stored rollups (store::VerifyRollups). Prints one line per
// tenant and the first mismatches. Returns 0 when they are equal, 1 when a
// tenant's differ, 2 on a configuration error or an unknown tenant, 3 when
// the store cannot be read. After retention (the newest data.retention
// boundary on the platform audit chain) only the buckets from a day after
// that boundary are compared.
int RunRollupsVerify(const std::filesystem::path& config_file, const std::string& tenant);

// `parley rollups rebuild`: recomputes the rollups of every tenant (or of
// `tenant`) from its raw calls and participants and replaces the stored ones
// (store::RebuildRollups; ingest waits meanwhile). After retention only the
// buckets from a day after its boundary are replaced. Returns 0 when done, 2
// on a configuration error or an unknown tenant, 3 when the store cannot be
// read or written (that tenant's rollups are unchanged).
int RunRollupsRebuild(const std::filesystem::path& config_file, const std::string& tenant);

// `parley retention apply` (docs/operations.md, "Retention"): deletes, for
// every tenant, the call detail records that started before the cutoff (the
// start of the month `months` months before the current one, by default
// store.retention_months; or the start of `before`, "YYYY-MM") and prints
// per table how many rows (and, on PostgreSQL, partitions) went; with
// dry_run, how many would go, deleting nothing. A run that deleted something
// is audited on the platform chain (data.retention, actor "cli"). Returns 0
// when done, 1 on failure, 2 on a configuration error or bad options.
struct RetentionApplyOptions {
  std::filesystem::path config_file;
  std::optional<int64_t> months;  // >= 1
  std::string before;             // "YYYY-MM"; exclusive with months
  bool dry_run = false;
};
int RunRetentionApply(const RetentionApplyOptions& options);

}  // namespace parley::server
