// Server configuration (parley.toml). Every key is declared once in
// kServerSettings; that table drives the loader's validation, the commented
// file `parley init` writes and docs/configuration.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace parley {

enum class SettingType { kString, kPath, kInt, kBool };

struct Setting {
  std::string_view key;          // "section.name"
  SettingType type;
  std::string_view default_value;  // as TOML would spell it, unquoted
  std::string_view description;
};

std::span<const Setting> ServerSettings();

struct ServerConfig {
  std::filesystem::path config_dir;  // relative paths are resolved against it
  std::string portal_listen;
  std::string ingest_listen;
  std::string public_url;
  int threads = 2;
  std::filesystem::path portal_cert, portal_key;
  std::filesystem::path ingest_cert, ingest_key;
  std::filesystem::path agent_ca_cert, agent_ca_key;
  std::filesystem::path master_key_file;
  int64_t data_key_cache_seconds = 30;
  std::string store_url;
  std::string store_migrate_url;  // PostgreSQL schema owner's URL; "" = do not migrate
  int64_t retention_months = 0;   // 0 = keep call detail records forever
  std::filesystem::path web_root;
  int64_t session_idle_seconds = 0;
  int64_t session_absolute_seconds = 0;
  int64_t max_body_bytes = 0;
  int64_t max_records_per_batch = 0;
  int64_t enroll_token_seconds = 0;
  int64_t future_tolerance_seconds = 0;
  int64_t agent_batches_per_second = 0;
  int64_t agent_burst_batches = 0;
  int64_t login_max_failures = 0;
  std::string log_level;
  // Self-registration, password reset and their mail (docs/accounts.md).
  std::string mail_smtp_url;             // "" = outbox
  std::string mail_from;
  std::string mail_username;
  std::filesystem::path mail_password_file;
  std::filesystem::path mail_ca_file;
  std::filesystem::path mail_outbox_dir;
  int64_t mail_timeout_seconds = 0;
  int64_t link_ttl_seconds = 0;
  int64_t requests_per_email_per_hour = 0;
  int64_t requests_per_address_per_hour = 0;
  // SAML single sign-on (docs/sso.md).
  std::string saml_entity_id;                  // defaults to public_url + "/saml/metadata"
  std::string saml_acs_url;                    // public_url + "/saml/acs"
  std::filesystem::path saml_sp_key, saml_sp_cert;
  int64_t saml_clock_skew_seconds = 0;
  int64_t saml_request_seconds = 0;

  // Loads and validates FILE. On error the detail names the offending key
  // (code kConfig), e.g. "server.portal_listen: expected host:port".
  static Result<ServerConfig> Load(const std::filesystem::path& file);
  static Result<ServerConfig> Parse(std::string_view toml_text, const std::filesystem::path& config_dir);
};

// The commented parley.toml `parley init` writes; `overrides` replaces
// defaults by key (values spelled as TOML literals, strings quoted).
std::string RenderServerConfig(std::span<const std::pair<std::string_view, std::string>> overrides);

// docs/configuration.md content, generated from the table.
std::string RenderConfigurationDoc();

// Splits "host:port"; port 0 means "pick a free port".
Result<std::pair<std::string, uint16_t>> ParseListen(std::string_view value, std::string_view key);

}  // namespace parley
