// Agent configuration (agent.toml; reference in docs/agent.md).
//
// AgentConfig is a plain value: Load/Parse validate everything up front and
// return a kConfig error whose detail starts with the offending key
// ("agent.poll_interval_seconds: must be positive", "sources[0].colour:
// unknown key"), so the CLI can exit 2 naming it. Relative paths are resolved
// against the directory of the config file. Secrets are never held here: a
// source names its password *file*, which must be private (mode 0600); the
// collector reads it when it is built.
//
// Thread-safe: immutable after Load.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace parley::agent {

// One device or record store the agent collects from.
struct SourceConfig {
  std::string name;                     // unique; [A-Za-z0-9._-], the server's cursor key
  std::string type;                     // "dma" (the only collector so far)
  std::string url;                      // https://host[:port], no credentials in it
  std::string username;
  std::filesystem::path password_file;  // mode 0600, checked at load
  std::filesystem::path ca_file;        // trust anchor(s) for the device's certificate; may be empty if pinned
  // TLS to HTTPS devices (dma, rprm): ca_file and/or pin_sha256, or an
  // explicit insecure_skip_verify (exactly one way must be configured).
  std::string pin_sha256;               // leaf certificate SHA-256, normalized to 64 lowercase hex; or empty
  bool insecure_skip_verify = false;
  // dma, rprm: the sub-resources collected (docs/agent.md); the type's default when not set.
  std::vector<std::string> collect;
  int64_t inventory_interval_seconds = 300;  // dma, rprm: seconds between device inventory reads
  int64_t initial_history_days = 30;         // dma cdr_export, rprm CDRs: how far back a new source starts
  // kamailio: Kamailio's accounting database, read-only (docs/agent.md "The
  // kamailio source"). Exactly one of db_path (SQLite) and db_url
  // (postgresql://user@host[:port]/db, no password in it; the password, if
  // any, comes from password_file).
  std::filesystem::path db_path;
  std::string db_url;
  std::string calls_from = "acc_cdrs";  // kamailio: "acc_cdrs" (dialog CDRs) or "acc" (INVITE/BYE pairs)
  std::string db_timezone = "UTC";      // kamailio + db_url: the zone Kamailio wrote its local times in
  // cucm: the directory CUCM (or its billing-server push) writes CDR/CMR flat files to; read only.
  std::filesystem::path dir;
  // cucm, pexip: files / history records younger than this are left for a later poll (still being written).
  int64_t settle_seconds = 120;
};

struct AgentConfig {
  std::filesystem::path config_dir;
  // [server]
  std::string server_url;  // https://host:port, no trailing slash
  std::filesystem::path server_ca_file;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  // [agent]
  int64_t poll_interval_seconds = 10;
  int64_t max_batch_records = 500;
  int64_t max_batches_in_memory = 4;
  // Batches uploaded at once. Above 1 each cursor line names the cursor the
  // batch follows ("after"), so the server stores a source's batches in order.
  int64_t uploads_in_flight = 2;
  int64_t heartbeat_interval_seconds = 30;
  int64_t backoff_cap_seconds = 60;
  std::string log_level = "info";
  // [[sources]]
  std::vector<SourceConfig> sources;

  static Result<AgentConfig> Load(const std::filesystem::path& file);
  static Result<AgentConfig> Parse(std::string_view toml_text, const std::filesystem::path& config_dir);
};

// The agent.toml `parley-agent enroll` writes: [server] filled in, [agent]
// with its defaults, and a commented [[sources]] example.
std::string RenderAgentConfig(std::string_view server_url);

// True for "https://host[:port][/path]" without user-info ("user:pw@").
bool IsCredentialFreeHttpsUrl(std::string_view url);

}  // namespace parley::agent
