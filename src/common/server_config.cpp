#include "common/server_config.h"

#include <charconv>
#include <fstream>
#include <map>
#include <sstream>
#include <toml++/toml.h>

namespace parley {

namespace {

constexpr Setting kServerSettings[] = {
    {"server.portal_listen", SettingType::kString, "127.0.0.1:8443", "Portal and JSON API listener (HTTPS), host:port."},
    {"server.ingest_listen", SettingType::kString, "127.0.0.1:8444", "Agent ingest listener (HTTPS with required client certificates), host:port."},
    {"server.public_url", SettingType::kString, "https://127.0.0.1:8443", "URL users reach the portal at; browsers' Origin must match it."},
    {"server.threads", SettingType::kInt, "2", "Worker threads serving HTTP."},
    {"tls.portal_cert", SettingType::kPath, "portal.crt", "Portal certificate chain (PEM). `parley init` makes a self-signed one; use your own in production."},
    {"tls.portal_key", SettingType::kPath, "portal.key", "Portal private key (PEM, mode 0600)."},
    {"tls.ingest_cert", SettingType::kPath, "ingest.crt", "Ingest listener certificate (PEM), issued by the agent CA."},
    {"tls.ingest_key", SettingType::kPath, "ingest.key", "Ingest listener private key (PEM, mode 0600)."},
    {"tls.agent_ca_cert", SettingType::kPath, "agent-ca.crt", "Internal CA that signs agent client certificates (PEM)."},
    {"tls.agent_ca_key", SettingType::kPath, "agent-ca.key", "Private key of the internal agent CA (PEM, mode 0600)."},
    {"keys.master_key_file", SettingType::kPath, "master.key", "256-bit master key wrapping every tenant data key (mode 0600). During a rotation it holds several keys, one per line, the active key first (docs/keys.md)."},
    {"keys.data_key_cache_seconds", SettingType::kInt, "30", "Seconds a server keeps a tenant's unwrapped data key before reading it again; a data-key rotation waits twice this long before re-encrypting, so every server seals with the new key by then."},
    {"store.url", SettingType::kString, "sqlite:parley.db", "Data store. `sqlite:PATH` (relative to this file's directory), or `postgresql://USER@HOST/DB` connecting as the application role (docs/postgresql.md)."},
    {"store.migrate_url", SettingType::kString, "", "PostgreSQL only: connection of the schema owner role, used to migrate the schema and grant the application role its privileges at start-up. Empty: Parley only checks that the schema is current and exits 2 if it is not."},
    {"store.retention_months", SettingType::kInt, "0", "Months of call detail records to keep before the current month: calls, conferences and participants (with their quality samples and search terms) that started earlier are deleted, for every tenant, by `parley serve` at start and then daily (docs/operations.md, Retention). Rollups are kept. 0: keep forever."},
    {"portal.web_root", SettingType::kPath, "web", "Directory holding the built portal front end (index.html and assets/)."},
    {"portal.session_idle_minutes", SettingType::kInt, "30", "A session ends after this many minutes without a request."},
    {"portal.session_absolute_hours", SettingType::kInt, "12", "A session ends this many hours after sign-in, active or not."},
    {"portal.login_max_failures", SettingType::kInt, "5", "Failed sign-ins per account or address before sign-in is throttled."},
    {"ingest.max_body_bytes", SettingType::kInt, "33554432", "Largest accepted request body on the ingest listener, in bytes (32 MiB: a batch of 20,000 DMA calls is about 11.5 MB)."},
    {"ingest.max_records_per_batch", SettingType::kInt, "20000", "Most records one batch may carry. A batch is stored in one transaction, so larger batches ingest faster; each batch being stored holds its records in the server's memory (docs/performance.md)."},
    {"ingest.enroll_token_hours", SettingType::kInt, "24", "Hours an agent enrollment token stays valid."},
    {"ingest.future_tolerance_minutes", SettingType::kInt, "1440", "A record whose times lie further than this ahead of the server's clock is refused and counted in the quarantine (so are times before 2000)."},
    {"ingest.agent_batches_per_second", SettingType::kInt, "20", "Batches per second one agent may send on average; more are answered 429 with Retry-After."},
    {"ingest.agent_burst_batches", SettingType::kInt, "60", "Batches one agent may send at once above its average rate."},
    {"log.level", SettingType::kString, "info", "Log level: trace, debug, info, warn, error."},
    // Self-registration, password reset and their mail (docs/accounts.md).
    {"mail.smtp_url", SettingType::kString, "", "SMTP server for outgoing mail: `smtp://host:587` (STARTTLS required) or `smtps://host:465` (implicit TLS). Empty: write messages to `mail.outbox_dir` instead (the demo)."},
    {"mail.from", SettingType::kString, "Parley <parley@localhost>", "From address of outgoing mail, `address` or `Name <address>` (ASCII)."},
    {"mail.username", SettingType::kString, "", "SMTP user name; empty: no authentication."},
    {"mail.password_file", SettingType::kPath, "", "File holding the SMTP password (one line, mode 0600: a file readable by group or others is refused)."},
    {"mail.ca_file", SettingType::kPath, "", "CA certificates (PEM) the SMTP server's certificate must chain to; empty: the system's trust store."},
    {"mail.outbox_dir", SettingType::kPath, "outbox", "Without `mail.smtp_url`: directory that receives each message as an .eml file (mode 0600)."},
    {"mail.timeout_seconds", SettingType::kInt, "30", "Time limit of one SMTP delivery attempt; a failed one is retried 4 times with growing delays."},
    {"accounts.link_ttl_seconds", SettingType::kInt, "86400", "How long a registration or password-reset link stays valid (default 24 hours)."},
    {"accounts.requests_per_email_per_hour", SettingType::kInt, "5", "Registration and reset requests accepted per e-mail address per hour (more get 429)."},
    {"accounts.requests_per_address_per_hour", SettingType::kInt, "20", "Registration and reset requests (and, separately, link completions) accepted per client IP address per hour."},
    {"saml.entity_id", SettingType::kString, "", "SAML service provider entity ID (docs/sso.md). Empty: `<server.public_url>/saml/metadata`. The ACS URL is always `<server.public_url>/saml/acs`."},
    {"saml.sp_key", SettingType::kPath, "saml-sp.key", "RSA private key that signs SAML AuthnRequests (PEM, mode 0600; `parley init` creates it)."},
    {"saml.sp_cert", SettingType::kPath, "saml-sp.crt", "Certificate of `saml.sp_key`, published in the SP metadata at /saml/metadata."},
    {"saml.clock_skew_seconds", SettingType::kInt, "90", "Tolerance on the NotBefore/NotOnOrAfter times of SAML assertions (at most 300)."},
    {"saml.request_minutes", SettingType::kInt, "10", "Minutes a browser may take at the identity provider before its SP-initiated sign-in request expires."},
};

// Integer settings for which 0 is a value (off), not a mistake.
bool ZeroMeansOff(std::string_view key) { return key == "store.retention_months"; }

std::string TypeName(SettingType t) {
  switch (t) {
    case SettingType::kString: return "string";
    case SettingType::kPath: return "path";
    case SettingType::kInt: return "integer";
    case SettingType::kBool: return "boolean";
  }
  return "string";
}

std::string TomlLiteral(const Setting& s) {
  if (s.type == SettingType::kString || s.type == SettingType::kPath) return "\"" + std::string(s.default_value) + "\"";
  return std::string(s.default_value);
}

}  // namespace

std::span<const Setting> ServerSettings() { return kServerSettings; }

Result<std::pair<std::string, uint16_t>> ParseListen(std::string_view value, std::string_view key) {
  auto colon = value.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return ConfigError(std::string(key) + ": expected host:port, got \"" + std::string(value) + "\"");
  unsigned port = 0;
  auto tail = value.substr(colon + 1);
  auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), port);
  if (ec != std::errc() || p != tail.data() + tail.size() || port > 65535)
    return ConfigError(std::string(key) + ": port must be 0-65535, got \"" + std::string(tail) + "\"");
  std::string host(value.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::pair{host, static_cast<uint16_t>(port)};
}

Result<ServerConfig> ServerConfig::Load(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return ConfigError("config file " + file.string() + " cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  auto dir = std::filesystem::absolute(file).parent_path();
  return Parse(ss.str(), dir);
}

Result<ServerConfig> ServerConfig::Parse(std::string_view text, const std::filesystem::path& dir) {
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    std::ostringstream m;
    m << "parley.toml line " << e.source().begin.line << ": " << e.description();
    return ConfigError(m.str());
  }
  // Unknown keys are errors: a typo must not silently fall back to a default.
  std::map<std::string, const Setting*, std::less<>> known;
  for (const auto& s : kServerSettings) known[std::string(s.key)] = &s;
  for (auto&& [section, node] : root) {
    const toml::table* t = node.as_table();
    if (!t) return ConfigError(std::string(section.str()) + ": unknown key (expected a [section])");
    for (auto&& [name, _] : *t) {
      std::string full = std::string(section.str()) + "." + std::string(name.str());
      if (!known.count(full)) return ConfigError(full + ": unknown key");
    }
  }
  std::map<std::string, std::string, std::less<>> str;
  std::map<std::string, int64_t, std::less<>> num;
  for (const auto& s : kServerSettings) {
    std::string key(s.key);
    auto node = root.at_path(key);
    switch (s.type) {
      case SettingType::kString:
      case SettingType::kPath: {
        std::string v(s.default_value);
        if (node) {
          auto got = node.value<std::string>();
          if (!got) return ConfigError(key + ": expected a string");
          v = *got;
        }
        if (s.type == SettingType::kPath && !v.empty()) {
          std::filesystem::path p(v);
          if (p.is_relative()) p = dir / p;
          v = p.lexically_normal().string();
        }
        str[key] = v;
        break;
      }
      case SettingType::kInt: {
        int64_t v = std::stoll(std::string(s.default_value));
        if (node) {
          auto got = node.value<int64_t>();
          if (!got || !node.is_integer()) return ConfigError(key + ": expected an integer");
          v = *got;
        }
        if (v < 0 || (v == 0 && !ZeroMeansOff(s.key))) return ConfigError(key + ": must be positive");
        num[key] = v;
        break;
      }
      case SettingType::kBool: {
        bool v = s.default_value == "true";
        if (node) {
          auto got = node.value<bool>();
          if (!got) return ConfigError(key + ": expected true or false");
          v = *got;
        }
        num[key] = v ? 1 : 0;
        break;
      }
    }
  }
  ServerConfig c;
  c.config_dir = dir;
  c.portal_listen = str["server.portal_listen"];
  c.ingest_listen = str["server.ingest_listen"];
  PARLEY_TRY(ParseListen(c.portal_listen, "server.portal_listen"));
  PARLEY_TRY(ParseListen(c.ingest_listen, "server.ingest_listen"));
  c.public_url = str["server.public_url"];
  if (c.public_url.rfind("https://", 0) != 0) return ConfigError("server.public_url: must start with https://");
  while (!c.public_url.empty() && c.public_url.back() == '/') c.public_url.pop_back();
  c.threads = static_cast<int>(num["server.threads"]);
  c.portal_cert = str["tls.portal_cert"];
  c.portal_key = str["tls.portal_key"];
  c.ingest_cert = str["tls.ingest_cert"];
  c.ingest_key = str["tls.ingest_key"];
  c.agent_ca_cert = str["tls.agent_ca_cert"];
  c.agent_ca_key = str["tls.agent_ca_key"];
  c.master_key_file = str["keys.master_key_file"];
  c.data_key_cache_seconds = num["keys.data_key_cache_seconds"];
  if (c.data_key_cache_seconds < 1 || c.data_key_cache_seconds > 3600)
    return ConfigError("keys.data_key_cache_seconds: must be between 1 and 3600");
  c.store_url = str["store.url"];
  c.store_migrate_url = str["store.migrate_url"];
  c.retention_months = num["store.retention_months"];
  if (c.retention_months < 0 || c.retention_months > 1200)
    return ConfigError("store.retention_months: must be between 0 (keep forever) and 1200");
  const bool postgres = c.store_url.starts_with("postgresql://") || c.store_url.starts_with("postgres://");
  if (!postgres && !c.store_url.starts_with("sqlite:"))
    return ConfigError("store.url: expected sqlite:PATH or a postgresql:// URL");
  if (!c.store_migrate_url.empty() && !postgres)
    return ConfigError("store.migrate_url: only used with a postgresql:// store.url");
  if (!c.store_migrate_url.empty() && !c.store_migrate_url.starts_with("postgresql://") &&
      !c.store_migrate_url.starts_with("postgres://"))
    return ConfigError("store.migrate_url: expected a postgresql:// URL");
  if (!postgres) {
    std::filesystem::path p(c.store_url.substr(7));
    if (p.empty()) return ConfigError("store.url: sqlite: needs a file path");
    if (p.is_relative()) p = dir / p;
    c.store_url = "sqlite:" + p.lexically_normal().string();
  }
  c.web_root = str["portal.web_root"];
  c.session_idle_seconds = num["portal.session_idle_minutes"] * 60;
  c.session_absolute_seconds = num["portal.session_absolute_hours"] * 3600;
  c.login_max_failures = num["portal.login_max_failures"];
  c.max_body_bytes = num["ingest.max_body_bytes"];
  c.max_records_per_batch = num["ingest.max_records_per_batch"];
  c.enroll_token_seconds = num["ingest.enroll_token_hours"] * 3600;
  c.future_tolerance_seconds = num["ingest.future_tolerance_minutes"] * 60;
  if (c.future_tolerance_seconds < 0) return ConfigError("ingest.future_tolerance_minutes: must not be negative");
  c.agent_batches_per_second = num["ingest.agent_batches_per_second"];
  if (c.agent_batches_per_second < 1) return ConfigError("ingest.agent_batches_per_second: must be at least 1");
  c.agent_burst_batches = num["ingest.agent_burst_batches"];
  if (c.agent_burst_batches < 1) return ConfigError("ingest.agent_burst_batches: must be at least 1");
  c.log_level = str["log.level"];
  c.mail_smtp_url = str["mail.smtp_url"];
  if (!c.mail_smtp_url.empty() && c.mail_smtp_url.rfind("smtp://", 0) != 0 && c.mail_smtp_url.rfind("smtps://", 0) != 0)
    return ConfigError("mail.smtp_url: must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)");
  c.mail_from = str["mail.from"];
  c.mail_username = str["mail.username"];
  c.mail_password_file = str["mail.password_file"];
  if (!c.mail_username.empty() && c.mail_password_file.empty())
    return ConfigError("mail.password_file: required when mail.username is set");
  c.mail_ca_file = str["mail.ca_file"];
  c.mail_outbox_dir = str["mail.outbox_dir"];
  c.mail_timeout_seconds = num["mail.timeout_seconds"];
  c.link_ttl_seconds = num["accounts.link_ttl_seconds"];
  c.requests_per_email_per_hour = num["accounts.requests_per_email_per_hour"];
  c.requests_per_address_per_hour = num["accounts.requests_per_address_per_hour"];
  c.saml_entity_id = str["saml.entity_id"];
  if (c.saml_entity_id.empty()) c.saml_entity_id = c.public_url + "/saml/metadata";
  c.saml_acs_url = c.public_url + "/saml/acs";
  c.saml_sp_key = str["saml.sp_key"];
  c.saml_sp_cert = str["saml.sp_cert"];
  c.saml_clock_skew_seconds = num["saml.clock_skew_seconds"];
  if (c.saml_clock_skew_seconds > 300) return ConfigError("saml.clock_skew_seconds: at most 300 (a small skew)");
  c.saml_request_seconds = num["saml.request_minutes"] * 60;
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
  bool level_ok = false;
  for (auto* l : kLevels) level_ok |= c.log_level == l;
  if (!level_ok) return ConfigError("log.level: must be one of trace, debug, info, warn, error");
  return c;
}

std::string RenderServerConfig(std::span<const std::pair<std::string_view, std::string>> overrides) {
  std::ostringstream out;
  out << "# Parley server configuration. Every key is listed with its default;\n"
         "# relative paths are resolved against this file's directory.\n"
         "# Reference: docs/configuration.md\n";
  std::string section;
  for (const auto& s : kServerSettings) {
    auto dot = s.key.find('.');
    std::string sec(s.key.substr(0, dot));
    std::string name(s.key.substr(dot + 1));
    if (sec != section) {
      out << "\n[" << sec << "]\n";
      section = sec;
    }
    std::string value = TomlLiteral(s);
    bool overridden = false;
    for (const auto& [k, v] : overrides)
      if (k == s.key) {
        value = v;
        overridden = true;
      }
    out << "# " << s.description << "\n";
    out << (overridden ? "" : "# ") << name << " = " << value << "\n";
  }
  return out.str();
}

std::string RenderConfigurationDoc() {
  std::ostringstream out;
  out << "# Configuration reference (`parley.toml`)\n\n"
         "Generated from `src/common/server_config.cpp` (`parley config-doc`); do not edit by hand.\n"
         "An unknown key or a value of the wrong type stops `parley serve` with exit code 2 and the key named.\n"
         "Relative paths are resolved against the directory of `parley.toml`.\n\n"
         "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const auto& s : kServerSettings)
    out << "| `" << s.key << "` | " << TypeName(s.type) << " | `" << s.default_value << "` | " << s.description << " |\n";
  return out.str();
}

}  // namespace parley
