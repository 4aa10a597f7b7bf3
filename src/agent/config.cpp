#include "agent/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "common/files.h"

namespace parley::agent {

namespace {

enum class Kind { kString, kPath, kInt };

// Every key, declared once: the loader's validation and RenderAgentConfig
// read this table.
struct Key {
  std::string_view section;  // "server", "agent", "sources"
  std::string_view name;
  Kind kind;
  std::string_view default_value;  // empty: required (or no default)
  std::string_view description;
};

constexpr Key kKeys[] = {
    {"server", "url", Kind::kString, "", "Parley ingest URL, https://host:port."},
    {"server", "ca_file", Kind::kPath, "server-ca.crt", "CA that signed the ingest server's certificate (PEM)."},
    {"server", "cert_file", Kind::kPath, "agent.crt", "This agent's client certificate (PEM), from enrollment."},
    {"server", "key_file", Kind::kPath, "agent.key", "This agent's private key (PEM, mode 0600)."},
    {"agent", "poll_interval_seconds", Kind::kInt, "10", "Wait between polls once a source is caught up."},
    {"agent", "max_batch_records", Kind::kInt, "500", "Most records per batch (and per device page)."},
    {"agent", "max_batches_in_memory", Kind::kInt, "4", "Most built batches held in memory at once."},
    {"agent", "heartbeat_interval_seconds", Kind::kInt, "30", "Seconds between heartbeats."},
    {"agent", "backoff_cap_seconds", Kind::kInt, "60", "Longest wait between retries after network errors."},
    {"agent", "log_level", Kind::kString, "info", "trace, debug, info, warn or error."},
    {"sources", "name", Kind::kString, "", "Unique source name ([A-Za-z0-9._-])."},
    {"sources", "type", Kind::kString, "", "Collector type: dma."},
    {"sources", "url", Kind::kString, "", "Device base URL, https://host:port."},
    {"sources", "username", Kind::kString, "", "Device API user (read-only role suffices)."},
    {"sources", "password_file", Kind::kPath, "", "File holding the device password (mode 0600)."},
    {"sources", "ca_file", Kind::kPath, "", "CA (or self-signed certificate) of the device (PEM)."},
};

const Key* FindKey(std::string_view section, std::string_view name) {
  for (const auto& k : kKeys)
    if (k.section == section && k.name == name) return &k;
  return nullptr;
}

// Reads one key of `table` under the table-driven rules; `label` is the
// section as the user should see it ("server", "sources[1]").
class TableReader {
 public:
  TableReader(const toml::table* table, std::string section, std::string label, std::filesystem::path dir)
      : table_(table), section_(std::move(section)), label_(std::move(label)), dir_(std::move(dir)) {}

  Status CheckUnknown() const {
    if (!table_) return Ok();
    for (auto&& [name, _] : *table_)
      if (!FindKey(section_, name.str())) return ConfigError(Full(name.str()) + ": unknown key");
    return Ok();
  }

  Result<std::string> String(std::string_view name) const {
    const Key* key = FindKey(section_, name);
    const toml::node* node = table_ ? table_->get(name) : nullptr;
    if (!node) {
      if (key->default_value.empty()) return ConfigError(Full(name) + ": required");
      return Resolve(*key, std::string(key->default_value));
    }
    auto v = node->value<std::string>();
    if (!node->is_string() || !v) return ConfigError(Full(name) + ": expected a string");
    if (v->empty()) return ConfigError(Full(name) + ": must not be empty");
    return Resolve(*key, *v);
  }

  Result<int64_t> Int(std::string_view name) const {
    const Key* key = FindKey(section_, name);
    const toml::node* node = table_ ? table_->get(name) : nullptr;
    int64_t v = 0;
    if (!node) {
      v = std::stoll(std::string(key->default_value));
    } else {
      auto got = node->value<int64_t>();
      if (!node->is_integer() || !got) return ConfigError(Full(name) + ": expected an integer");
      v = *got;
    }
    if (v <= 0) return ConfigError(Full(name) + ": must be positive");
    return v;
  }

  std::string Full(std::string_view name) const { return label_ + "." + std::string(name); }

 private:
  std::string Resolve(const Key& key, std::string v) const {
    if (key.kind != Kind::kPath) return v;
    std::filesystem::path p(v);
    if (p.is_relative()) p = dir_ / p;
    return p.lexically_normal().string();
  }

  const toml::table* table_;
  std::string section_;
  std::string label_;
  std::filesystem::path dir_;
};

bool IsValidSourceName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

std::string TomlQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

bool IsCredentialFreeHttpsUrl(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) return false;
  std::string_view rest = url.substr(kScheme.size());
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty()) return false;
  return authority.find('@') == std::string_view::npos;
}

Result<AgentConfig> AgentConfig::Load(const std::filesystem::path& file) {
  auto text = ReadFile(file);
  if (!text.ok()) return ConfigError("config file " + file.string() + " cannot be read");
  return Parse(*text, std::filesystem::absolute(file).parent_path());
}

Result<AgentConfig> AgentConfig::Parse(std::string_view toml_text, const std::filesystem::path& dir) {
  toml::table root;
  try {
    root = toml::parse(toml_text);
  } catch (const toml::parse_error& e) {
    std::ostringstream m;
    m << "agent.toml line " << e.source().begin.line << ": " << e.description();
    return ConfigError(m.str());
  }
  for (auto&& [name, node] : root) {
    std::string_view n = name.str();
    if (n == "server" || n == "agent") {
      if (!node.is_table()) return ConfigError(std::string(n) + ": expected a [" + std::string(n) + "] section");
    } else if (n == "sources") {
      if (!node.is_array_of_tables()) return ConfigError("sources: expected [[sources]] tables");
    } else {
      return ConfigError(std::string(n) + ": unknown key");
    }
  }

  AgentConfig c;
  c.config_dir = dir;
  TableReader server(root["server"].as_table(), "server", "server", dir);
  PARLEY_TRY(server.CheckUnknown());
  PARLEY_ASSIGN_OR_RETURN(c.server_url, server.String("url"));
  if (!IsCredentialFreeHttpsUrl(c.server_url))
    return ConfigError("server.url: must be https://host:port without credentials");
  while (c.server_url.back() == '/') c.server_url.pop_back();
  PARLEY_ASSIGN_OR_RETURN(std::string ca, server.String("ca_file"));
  PARLEY_ASSIGN_OR_RETURN(std::string cert, server.String("cert_file"));
  PARLEY_ASSIGN_OR_RETURN(std::string key, server.String("key_file"));
  c.server_ca_file = ca;
  c.cert_file = cert;
  c.key_file = key;

  TableReader agent(root["agent"].as_table(), "agent", "agent", dir);
  PARLEY_TRY(agent.CheckUnknown());
  PARLEY_ASSIGN_OR_RETURN(c.poll_interval_seconds, agent.Int("poll_interval_seconds"));
  PARLEY_ASSIGN_OR_RETURN(c.max_batch_records, agent.Int("max_batch_records"));
  PARLEY_ASSIGN_OR_RETURN(c.max_batches_in_memory, agent.Int("max_batches_in_memory"));
  PARLEY_ASSIGN_OR_RETURN(c.heartbeat_interval_seconds, agent.Int("heartbeat_interval_seconds"));
  PARLEY_ASSIGN_OR_RETURN(c.backoff_cap_seconds, agent.Int("backoff_cap_seconds"));
  PARLEY_ASSIGN_OR_RETURN(c.log_level, agent.String("log_level"));
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error"};
  if (std::find(std::begin(kLevels), std::end(kLevels), c.log_level) == std::end(kLevels))
    return ConfigError("agent.log_level: must be one of trace, debug, info, warn, error");
  if (c.max_batch_records > 5000) return ConfigError("agent.max_batch_records: at most 5000 (the server's limit)");

  std::set<std::string> names;
  if (const toml::array* sources = root["sources"].as_array()) {
    for (size_t i = 0; i < sources->size(); ++i) {
      std::string label = "sources[" + std::to_string(i) + "]";
      TableReader r((*sources)[i].as_table(), "sources", label, dir);
      PARLEY_TRY(r.CheckUnknown());
      SourceConfig s;
      PARLEY_ASSIGN_OR_RETURN(s.name, r.String("name"));
      if (!IsValidSourceName(s.name))
        return ConfigError(label + ".name: use 1-64 characters from A-Z a-z 0-9 . _ -");
      if (!names.insert(s.name).second) return ConfigError(label + ".name: \"" + s.name + "\" is used twice");
      PARLEY_ASSIGN_OR_RETURN(s.type, r.String("type"));
      if (s.type != "dma") return ConfigError(label + ".type: unknown collector type (supported: dma)");
      PARLEY_ASSIGN_OR_RETURN(s.url, r.String("url"));
      if (!IsCredentialFreeHttpsUrl(s.url))
        return ConfigError(label + ".url: must be https://host[:port] without credentials");
      while (s.url.back() == '/') s.url.pop_back();
      PARLEY_ASSIGN_OR_RETURN(s.username, r.String("username"));
      PARLEY_ASSIGN_OR_RETURN(std::string password_file, r.String("password_file"));
      s.password_file = password_file;
      if (Status st = CheckPrivateFile(s.password_file); !st.ok())
        return ConfigError(label + ".password_file: " + st.error().detail + " (a password file must be mode 0600)");
      PARLEY_ASSIGN_OR_RETURN(std::string device_ca, r.String("ca_file"));
      s.ca_file = device_ca;
      c.sources.push_back(std::move(s));
    }
  }
  return c;
}

std::string RenderAgentConfig(std::string_view server_url) {
  std::ostringstream out;
  out << "# parley-agent configuration (reference: docs/agent.md).\n"
         "# Relative paths are resolved against this file's directory.\n";
  std::string_view section;
  for (const auto& k : kKeys) {
    if (k.section == "sources") continue;
    if (k.section != section) {
      out << "\n[" << k.section << "]\n";
      section = k.section;
    }
    out << "# " << k.description << "\n" << k.name << " = ";
    if (k.section == "server" && k.name == "url") {
      out << TomlQuote(server_url);
    } else if (k.kind == Kind::kInt) {
      out << k.default_value;
    } else {
      out << TomlQuote(k.default_value);
    }
    out << "\n";
  }
  out << "\n# One [[sources]] table per device. The password file must be mode 0600.\n"
         "# [[sources]]\n"
         "# name = \"dma-main\"\n"
         "# type = \"dma\"\n"
         "# url = \"https://dma.example.net:8443\"\n"
         "# username = \"parley\"\n"
         "# password_file = \"dma.password\"\n"
         "# ca_file = \"dma-ca.crt\"\n";
  return out.str();
}

}  // namespace parley::agent
