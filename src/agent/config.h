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
  std::filesystem::path ca_file;        // trust anchor(s) for the device's certificate
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
