#include "agent/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include "common/files.h"

namespace parley::agent {

namespace {

enum class Kind { kString, kPath, kInt, kBool, kStringList };

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
    {"agent", "max_batch_records", Kind::kInt, "500", "Most records per batch; paged device APIs are read 1000 items a page to fill it."},
    {"agent", "max_batches_in_memory", Kind::kInt, "4", "Most built batches held in memory at once."},
    {"agent", "uploads_in_flight", Kind::kInt, "2", "Batches uploaded at once (1..4); above 1 needs a server that knows a cursor's \"after\"."},
    {"agent", "heartbeat_interval_seconds", Kind::kInt, "30", "Seconds between heartbeats."},
    {"agent", "backoff_cap_seconds", Kind::kInt, "60", "Longest wait between retries after network errors."},
    {"agent", "log_level", Kind::kString, "info", "trace, debug, info, warn or error."},
    {"sources", "name", Kind::kString, "", "Unique source name ([A-Za-z0-9._-])."},
    {"sources", "type", Kind::kString, "", "Collector type: dma, rprm, cucm, pexip."},
    {"sources", "url", Kind::kString, "", "Device base URL, https://host:port."},
    {"sources", "username", Kind::kString, "", "Device API user (read-only role suffices)."},
    {"sources", "password_file", Kind::kPath, "", "File holding the device password (mode 0600)."},
    {"sources", "ca_file", Kind::kPath, "", "CA (or self-signed certificate) of the device (PEM)."},
    {"sources", "pin_sha256", Kind::kString, "", "SHA-256 fingerprint of the device's certificate (hex)."},
    {"sources", "insecure_skip_verify", Kind::kBool, "false", "Do not verify the device's certificate (unsafe)."},
    {"sources", "collect", Kind::kStringList, "", "dma, rprm: sub-resources to collect."},
    {"sources", "inventory_interval_seconds", Kind::kInt, "300", "dma, rprm: seconds between inventory reads."},
    {"sources", "initial_history_days", Kind::kInt, "30", "dma, rprm, cucm, pexip: days of history a new source starts with."},
    {"sources", "db_path", Kind::kPath, "", "kamailio: Kamailio's SQLite database (opened read-only)."},
    {"sources", "db_url", Kind::kString, "", "kamailio: postgresql://user@host[:port]/db (no password in it)."},
    {"sources", "calls_from", Kind::kString, "acc_cdrs", "kamailio: acc_cdrs (dialog CDRs) or acc (INVITE/BYE pairs)."},
    {"sources", "db_timezone", Kind::kString, "UTC", "kamailio + db_url: time zone of Kamailio's timestamps."},
    {"sources", "dir", Kind::kPath, "", "cucm: directory holding the CDR/CMR flat files (read only)."},
    {"sources", "settle_seconds", Kind::kInt, "120", "cucm, pexip: leave files/records younger than this for later."},
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

  bool Has(std::string_view name) const { return table_ && table_->get(name); }

  Result<bool> Bool(std::string_view name) const {
    const Key* key = FindKey(section_, name);
    const toml::node* node = table_ ? table_->get(name) : nullptr;
    if (!node) return key->default_value == "true";
    auto v = node->value<bool>();
    if (!node->is_boolean() || !v) return ConfigError(Full(name) + ": expected true or false");
    return *v;
  }

  // An array of non-empty strings; empty when absent.
  Result<std::vector<std::string>> StringList(std::string_view name) const {
    const toml::node* node = table_ ? table_->get(name) : nullptr;
    std::vector<std::string> out;
    if (!node) return out;
    const toml::array* array = node->as_array();
    if (!array) return ConfigError(Full(name) + ": expected an array of strings");
    for (const toml::node& item : *array) {
      auto v = item.value<std::string>();
      if (!item.is_string() || !v || v->empty()) return ConfigError(Full(name) + ": expected an array of strings");
      out.push_back(*v);
    }
    return out;
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

// TLS to an HTTPS device: ca_file and/or pin_sha256, or (explicitly)
// insecure_skip_verify = true; exactly one of these ways.
Status ReadDeviceTls(const TableReader& r, const std::string& label, SourceConfig& s) {
  if (r.Has("ca_file")) {
    PARLEY_ASSIGN_OR_RETURN(std::string ca, r.String("ca_file"));
    s.ca_file = ca;
  }
  if (r.Has("pin_sha256")) {
    PARLEY_ASSIGN_OR_RETURN(std::string pin, r.String("pin_sha256"));
    std::string hex;
    for (char ch : pin) {
      if (ch == ':') continue;
      char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (!((lower >= '0' && lower <= '9') || (lower >= 'a' && lower <= 'f')))
        return ConfigError(label + ".pin_sha256: must be 64 hex digits (colons allowed)");
      hex += lower;
    }
    if (hex.size() != 64) return ConfigError(label + ".pin_sha256: must be 64 hex digits (colons allowed)");
    s.pin_sha256 = hex;
  }
  PARLEY_ASSIGN_OR_RETURN(s.insecure_skip_verify, r.Bool("insecure_skip_verify"));
  if (s.insecure_skip_verify && (!s.ca_file.empty() || !s.pin_sha256.empty()))
    return ConfigError(label + ".insecure_skip_verify: contradicts ca_file / pin_sha256 (remove one)");
  if (!s.insecure_skip_verify && s.ca_file.empty() && s.pin_sha256.empty())
    return ConfigError(label + ".ca_file: required (or pin_sha256, or insecure_skip_verify = true)");
  return Ok();
}

// `collect`: names from the type's list (docs/agent.md); the default when absent.
Status ReadCollect(const TableReader& r, const std::string& label, SourceConfig& s) {
  PARLEY_ASSIGN_OR_RETURN(s.collect, r.StringList("collect"));
  PARLEY_ASSIGN_OR_RETURN(s.inventory_interval_seconds, r.Int("inventory_interval_seconds"));
  PARLEY_ASSIGN_OR_RETURN(s.initial_history_days, r.Int("initial_history_days"));
  if (s.initial_history_days > 3660) return ConfigError(label + ".initial_history_days: at most 3660");
  std::vector<std::string_view> allowed;
  std::vector<std::string> defaults;
  if (s.type == "dma") {
    allowed = {"history", "cdr_export", "active_calls", "conferences", "devices"};
    defaults = {"history", "active_calls", "conferences", "devices"};
  } else if (s.type == "rprm") {
    allowed = {"devices", "endpoint_cdrs", "conference_cdrs"};
    defaults = {"devices", "endpoint_cdrs", "conference_cdrs"};
  } else {
    if (r.Has("collect")) return ConfigError(label + ".collect: only for dma and rprm sources");
    return Ok();
  }
  if (!r.Has("collect")) {
    s.collect = defaults;
    return Ok();
  }
  if (s.collect.empty()) return ConfigError(label + ".collect: must name at least one sub-resource");
  std::set<std::string> seen;
  for (const std::string& c : s.collect) {
    if (std::find(allowed.begin(), allowed.end(), c) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return ConfigError(label + ".collect: unknown \"" + c + "\" for type " + s.type + " (one of " + list + ")");
    }
    if (!seen.insert(c).second) return ConfigError(label + ".collect: \"" + c + "\" is listed twice");
  }
  if (seen.count("history") && seen.count("cdr_export"))
    return ConfigError(label + ".collect: history and cdr_export both collect the calls; choose one");
  return Ok();
}

// kamailio: db_path xor db_url; password_file only with db_url; no HTTPS keys.
Status ReadKamailioSource(const TableReader& r, const std::string& label, SourceConfig& s) {
  static constexpr std::string_view kKamailioKeys[] = {"name",          "type",        "db_path",   "db_url",
                                                       "password_file", "db_timezone", "calls_from"};
  for (const Key& k : kKeys) {
    if (k.section != "sources" || !r.Has(k.name)) continue;
    if (std::find(std::begin(kKamailioKeys), std::end(kKamailioKeys), k.name) == std::end(kKamailioKeys))
      return ConfigError(r.Full(k.name) + ": not used by kamailio sources");
  }
  if (r.Has("db_path") == r.Has("db_url"))
    return ConfigError(label + ".db_path: set exactly one of db_path (SQLite) and db_url (PostgreSQL)");
  if (r.Has("db_path")) {
    PARLEY_ASSIGN_OR_RETURN(std::string path, r.String("db_path"));
    s.db_path = path;
    if (r.Has("password_file")) return ConfigError(label + ".password_file: only used with db_url");
    if (r.Has("db_timezone")) return ConfigError(label + ".db_timezone: only used with db_url");
  } else {
    PARLEY_ASSIGN_OR_RETURN(s.db_url, r.String("db_url"));
    std::string_view url = s.db_url;
    size_t scheme_end = url.find("://");
    std::string_view scheme = url.substr(0, scheme_end);
    if (scheme_end == std::string_view::npos || (scheme != "postgresql" && scheme != "postgres"))
      return ConfigError(label + ".db_url: must be postgresql://user@host[:port]/dbname");
    std::string_view rest = url.substr(scheme_end + 3);
    std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
    size_t at = authority.rfind('@');
    std::string_view userinfo = at == std::string_view::npos ? std::string_view() : authority.substr(0, at);
    if (userinfo.find(':') != std::string_view::npos || rest.find("password=") != std::string_view::npos)
      return ConfigError(label + ".db_url: must not contain a password (use password_file)");
    if (r.Has("password_file")) {
      PARLEY_ASSIGN_OR_RETURN(std::string password_file, r.String("password_file"));
      s.password_file = password_file;
      if (Status st = CheckPrivateFile(s.password_file); !st.ok())
        return ConfigError(label + ".password_file: " + st.error().detail + " (a password file must be mode 0600)");
    }
  }
  if (r.Has("db_url")) {
    PARLEY_ASSIGN_OR_RETURN(s.db_timezone, r.String("db_timezone"));
    for (char ch : s.db_timezone) {
      bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '/' ||
                ch == '_' || ch == '-' || ch == '+';
      if (!ok) return ConfigError(label + ".db_timezone: must be a time zone name such as UTC or Europe/Berlin");
    }
  }
  PARLEY_ASSIGN_OR_RETURN(s.calls_from, r.String("calls_from"));
  if (s.calls_from != "acc_cdrs" && s.calls_from != "acc")
    return ConfigError(label + ".calls_from: must be acc_cdrs or acc");
  return Ok();
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
  PARLEY_ASSIGN_OR_RETURN(c.uploads_in_flight, agent.Int("uploads_in_flight"));
  PARLEY_ASSIGN_OR_RETURN(c.heartbeat_interval_seconds, agent.Int("heartbeat_interval_seconds"));
  PARLEY_ASSIGN_OR_RETURN(c.backoff_cap_seconds, agent.Int("backoff_cap_seconds"));
  PARLEY_ASSIGN_OR_RETURN(c.log_level, agent.String("log_level"));
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error"};
  if (std::find(std::begin(kLevels), std::end(kLevels), c.log_level) == std::end(kLevels))
    return ConfigError("agent.log_level: must be one of trace, debug, info, warn, error");
  if (c.max_batch_records > 20000)
    return ConfigError("agent.max_batch_records: at most 20000 (the server's default limit)");
  if (c.uploads_in_flight > 4) return ConfigError("agent.uploads_in_flight: at most 4");

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
      if (s.type == "kamailio") {
        PARLEY_TRY(ReadKamailioSource(r, label, s));
        c.sources.push_back(std::move(s));
        continue;
      }
      if (s.type != "dma" && s.type != "rprm" && s.type != "cucm" && s.type != "pexip")
        return ConfigError(label + ".type: unknown collector type (supported: dma, rprm, kamailio, cucm, pexip)");
      if (s.type == "cucm" || s.type == "pexip") {
        PARLEY_ASSIGN_OR_RETURN(s.settle_seconds, r.Int("settle_seconds"));
      } else if (r.Has("settle_seconds")) {
        return ConfigError(label + ".settle_seconds: only for cucm and pexip sources");
      }
      if (s.type == "cucm") {
        // A directory of flat files: none of the HTTPS device keys apply.
        for (std::string_view k : {"url", "username", "password_file", "ca_file", "pin_sha256", "insecure_skip_verify"})
          if (r.Has(k)) return ConfigError(r.Full(k) + ": not used by cucm sources (they read `dir`)");
        PARLEY_ASSIGN_OR_RETURN(std::string dir_path, r.String("dir"));
        s.dir = dir_path;
        PARLEY_TRY(ReadCollect(r, label, s));
        c.sources.push_back(std::move(s));
        continue;
      }
      if (r.Has("dir")) return ConfigError(label + ".dir: only for cucm sources");
      PARLEY_ASSIGN_OR_RETURN(s.url, r.String("url"));
      if (!IsCredentialFreeHttpsUrl(s.url))
        return ConfigError(label + ".url: must be https://host[:port] without credentials");
      while (s.url.back() == '/') s.url.pop_back();
      PARLEY_ASSIGN_OR_RETURN(s.username, r.String("username"));
      PARLEY_ASSIGN_OR_RETURN(std::string password_file, r.String("password_file"));
      s.password_file = password_file;
      if (Status st = CheckPrivateFile(s.password_file); !st.ok())
        return ConfigError(label + ".password_file: " + st.error().detail + " (a password file must be mode 0600)");
      PARLEY_TRY(ReadDeviceTls(r, label, s));
      PARLEY_TRY(ReadCollect(r, label, s));
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
