#include "server/server.h"

#include <sys/stat.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <thread>

#include "common/clock.h"
#include "common/files.h"
#include "common/log.h"
#include "common/server_config.h"
#include "common/time_format.h"
#include "crypto/crypto.h"
#include "crypto/pki.h"
#include "crypto/tls_policy.h"
#include "http/http.h"
#include "ingest/ingest.h"
#include "mail/mail.h"
#include "portal/accounts.h"
#include "portal/portal.h"
#include "privacy/audit.h"
#include "privacy/key_rotation.h"
#include "privacy/pii.h"
#include "privacy/retention.h"
#include "portal/sso_settings.h"
#include "saml/saml.h"
#include "store/store.h"

#ifndef PARLEY_SOURCE_DIR
#define PARLEY_SOURCE_DIR "."
#endif

namespace parley::server {

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;
constexpr int kCertDays = 825;
constexpr int kCaDays = 3650;

int ConfigFailure(const std::string& detail) {
  std::cerr << "parley: bad configuration: " << detail << "\n";
  return kExitConfig;
}

int Failure(const std::string& detail) {
  std::cerr << "parley: " << detail << "\n";
  return kExitFailure;
}

// Everything `serve` and the admin commands share: config, master key, store.
struct Loaded {
  ServerConfig config;
  std::optional<crypto::MasterKey> master;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<privacy::KeyRing> keys;
};

// Returns 0 or an exit code.
int Load(const std::filesystem::path& config_file, Loaded& out) {
  auto config = ServerConfig::Load(config_file);
  if (!config.ok()) return ConfigFailure(config.error().detail);
  out.config = std::move(*config);
  auto master = crypto::MasterKey::Load(out.config.master_key_file);
  if (!master.ok()) return ConfigFailure("keys.master_key_file: " + master.error().detail);
  out.master.emplace(std::move(*master));
  auto store = store::OpenStore(out.config.store_url, store::StoreOpenOptions{out.config.store_migrate_url});
  if (!store.ok()) {
    // Backends name the key themselves (store.url or store.migrate_url).
    const std::string& detail = store.error().detail;
    return ConfigFailure(detail.starts_with("store.") ? detail : "store.url: " + detail);
  }
  out.store = std::move(*store);
  out.keys = std::make_unique<privacy::KeyRing>(
      *out.store, *out.master,
      privacy::KeyRingOptions{.cache_seconds = out.config.data_key_cache_seconds,
                              .master_key_file = out.config.master_key_file});
  // The blind-index key is stored wrapped (migration 0010); the first start
  // after that migration stores it. Failing here names the store, not a
  // sign-in later.
  if (auto st = out.keys->LoadIndexKey(); !st.ok()) return ConfigFailure("keys.master_key_file: " + st.error().detail);
  return 0;
}

Status WritePair(const std::filesystem::path& dir, const std::string& stem, const crypto::KeyAndCert& kc) {
  PARLEY_TRY(WriteFileAtomic(dir / (stem + ".key"), kc.key_pem, 0600));
  PARLEY_TRY(WriteFileAtomic(dir / (stem + ".crt"), kc.cert_pem, 0644));
  return Ok();
}

// The mailer `serve` uses: SMTP when mail.smtp_url is set, else the outbox.
// Errors name the config key.
Result<std::unique_ptr<mail::Mailer>> MakeMailer(const ServerConfig& c, const Clock& clock) {
  if (auto probe = mail::Compose({"probe@example.com", "probe", "probe"}, c.mail_from, 0); !probe.ok())
    return ConfigError("mail.from: " + probe.error().detail);
  Result<std::unique_ptr<mail::Transport>> transport = Internal("unset");
  if (c.mail_smtp_url.empty()) {
    transport = mail::MakeOutboxTransport(c.mail_outbox_dir);
  } else {
    mail::SmtpOptions o{.url = c.mail_smtp_url, .username = c.mail_username, .password = {}, .ca_file = c.mail_ca_file,
                        .timeout_seconds = c.mail_timeout_seconds};
    if (!c.mail_password_file.empty()) {
      // Refused when group or others can read it, as every secret file is.
      if (auto st = CheckPrivateFile(c.mail_password_file); !st.ok())
        return ConfigError("mail.password_file: " + st.error().detail);
      auto password = ReadFile(c.mail_password_file);
      if (!password.ok()) return ConfigError("mail.password_file: " + password.error().detail);
      o.password = *password;
      while (!o.password.empty() && (o.password.back() == '\n' || o.password.back() == '\r')) o.password.pop_back();
    }
    if (!c.mail_ca_file.empty() && !std::filesystem::exists(c.mail_ca_file))
      return ConfigError("mail.ca_file: " + c.mail_ca_file.string() + " does not exist");
    transport = mail::MakeSmtpTransport(std::move(o));
  }
  if (!transport.ok()) return transport.error();
  return std::make_unique<mail::Mailer>(std::move(*transport), clock, mail::MailerOptions{.from = c.mail_from});
}

Result<store::Tenant> FindTenant(store::Store& store, const std::string& name_or_id) {
  auto byid = store.GetTenant(name_or_id);
  if (byid.ok()) return byid;
  auto byname = store.FindTenantByName(name_or_id);
  if (byname.ok()) return byname;
  return NotFound("no tenant named or with id \"" + name_or_id + "\" (see `parley tenant list`)");
}

// store.retention_months in `parley serve`: a thread that applies retention
// at start and then once a day, until it is destroyed. Logs counts only.
class RetentionJob {
 public:
  RetentionJob(store::Store& store, const Clock& clock, int64_t months)
      : store_(store), clock_(clock), months_(months), thread_([this](std::stop_token stop) { Loop(stop); }) {}

 private:
  static constexpr std::chrono::hours kPeriod{24};

  void Loop(std::stop_token stop) {
    privacy::AuditLog audit(store_, clock_);
    std::mutex mu;
    std::condition_variable_any wake;
    while (!stop.stop_requested()) {
      const int64_t cutoff = privacy::RetentionCutoff(clock_.NowUnixSeconds(), months_);
      auto r = privacy::ApplyRetention(store_, audit, cutoff, /*dry_run=*/false, "system:retention");
      if (!r.ok()) {
        log::error("parley: retention (store.retention_months = {}) failed, retried in a day: {}", months_,
                   r.error().detail);
      } else {
        log::info("parley: retention: records before {} deleted: {} calls, {} conferences, {} participants, "
                  "{} quality samples, {} search terms, {} partitions",
                  FormatUtc(r->boundary), r->calls, r->conferences, r->participants, r->quality_samples,
                  r->search_terms, r->partitions);
      }
      std::unique_lock lock(mu);
      wake.wait_for(lock, stop, kPeriod, [] { return false; });
    }
  }

  store::Store& store_;
  const Clock& clock_;
  const int64_t months_;
  std::jthread thread_;  // last: started once the members it uses exist
};

void PrintRetention(const store::RetentionResult& r, bool dry_run, bool postgres) {
  std::cout << (dry_run ? "retention (dry run, nothing deleted): would delete" : "retention: deleted")
            << " the records that started before " << FormatUtc(r.boundary) << ", all tenants:\n";
  std::cout << "  calls            " << r.calls << "\n"
            << "  conferences      " << r.conferences << "\n"
            << "  participants     " << r.participants << "\n"
            << "  quality_samples  " << r.quality_samples << "\n"
            << "  search_terms     " << r.search_terms << "\n";
  if (postgres) std::cout << "  partitions       " << r.partitions << "\n";
}

}  // namespace

int RunInit(const InitOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return Failure("cannot create " + options.dir.string() + ": " + ec.message());
  ::chmod(options.dir.c_str(), 0700);
  fs::path dir = fs::absolute(options.dir);
  if (fs::exists(dir / "parley.toml"))
    return Failure(dir.string() + " is already initialized (parley.toml exists); nothing changed");

  auto master = crypto::MasterKey::Generate(dir / "master.key");
  if (!master.ok()) return Failure(master.error().detail);
  auto portal = crypto::MakeSelfSignedServerCert("localhost", {"localhost", "127.0.0.1", "::1"}, kCertDays);
  auto ca = crypto::MakeCa("Parley agent CA", kCaDays);
  if (!portal.ok() || !ca.ok()) return Failure("cannot create certificates");
  auto ingest = crypto::IssueServerCert(*ca, "parley-ingest", {"localhost", "127.0.0.1", "::1"}, kCertDays);
  if (!ingest.ok()) return Failure("cannot create the ingest certificate: " + ingest.error().detail);
  for (auto st : {WritePair(dir, "portal", *portal), WritePair(dir, "agent-ca", *ca), WritePair(dir, "ingest", *ingest)})
    if (!st.ok()) return Failure(st.error().detail);
  // SAML SP signing key (RSA: Lasso signs with RSA only); IdPs trust the
  // certificate from our metadata, so self-signed is the norm.
  auto saml_sp = saml::GenerateSpKeyPair("Parley SAML SP", kCaDays);
  if (!saml_sp.ok()) return Failure("cannot create the SAML SP key: " + saml_sp.error().detail);
  if (auto st = WritePair(dir, "saml-sp", crypto::KeyAndCert{saml_sp->key_pem, saml_sp->cert_pem}); !st.ok())
    return Failure(st.error().detail);

  fs::path web_root = options.web_root.empty() ? fs::path(PARLEY_SOURCE_DIR) / "web" / "dist" : options.web_root;
  std::vector<std::pair<std::string_view, std::string>> overrides = {
      {"portal.web_root", "\"" + fs::absolute(web_root).lexically_normal().string() + "\""}};
  if (auto st = WriteFileAtomic(dir / "parley.toml", RenderServerConfig(overrides), 0600); !st.ok())
    return Failure(st.error().detail);
  std::cout << "Initialized " << dir.string()
            << ": parley.toml, master.key, portal, ingest, agent CA and SAML SP certificates.\n";

  if (options.demo) {
    Loaded loaded;
    if (int rc = Load(dir / "parley.toml", loaded)) return rc;
    SystemClock& clock = SystemClock::Instance();
    auto tenant = portal::CreateTenant(*loaded.store, *loaded.keys, "Demo Organisation", {"demo.example"},
                                       clock.NowUnixSeconds());
    if (!tenant.ok()) return Failure("cannot create the demo tenant: " + tenant.error().detail);
    const char* env = std::getenv("PARLEY_DEMO_PASSWORD");
    bool generated = !env || !*env;
    std::string password = generated ? crypto::RandomToken().substr(0, 20) : std::string(env);
    auto user = portal::CreateUser(*loaded.store, *loaded.keys, tenant->id, "admin@demo.example", password,
                                   store::Role::kTenantAdmin, clock.NowUnixSeconds());
    if (!user.ok()) return Failure("cannot create the demo admin: " + user.error().detail);
    std::cout << "Demo tenant \"Demo Organisation\" (domain demo.example) created.\n"
              << "Demo login: admin@demo.example\n";
    if (generated)
      std::cout << "Demo password (shown once, not stored): " << password << "\n";
    else
      std::cout << "Demo password: the value of PARLEY_DEMO_PASSWORD\n";
  }
  return 0;
}

int RunServe(const ServeOptions& options) {
  Loaded loaded;
  if (int rc = Load(options.config_file, loaded)) return rc;
  const ServerConfig& c = loaded.config;
  log::Init("parley", c.log_level);

  auto ca_key = ReadFile(c.agent_ca_key);
  if (!ca_key.ok()) return ConfigFailure("tls.agent_ca_key: " + ca_key.error().detail);
  if (auto st = CheckPrivateFile(c.agent_ca_key); !st.ok()) return ConfigFailure("tls.agent_ca_key: " + st.error().detail);
  auto ca_cert = ReadFile(c.agent_ca_cert);
  if (!ca_cert.ok()) return ConfigFailure("tls.agent_ca_cert: " + ca_cert.error().detail);

  auto portal_tls = crypto::MakeTlsContext(
      {crypto::TlsRole::kServer, c.portal_cert, c.portal_key, "", crypto::PeerVerification::kNone});
  if (!portal_tls.ok()) return ConfigFailure("tls.portal_cert/tls.portal_key: " + portal_tls.error().detail);
  // Optional at the TLS layer so an agent without a certificate can enroll;
  // a certificate that is presented must chain to the agent CA or the
  // handshake fails. Every other ingest route requires one (IngestService).
  auto ingest_tls = crypto::MakeTlsContext({crypto::TlsRole::kServer, c.ingest_cert, c.ingest_key, c.agent_ca_cert,
                                            crypto::PeerVerification::kOptional});
  if (!ingest_tls.ok()) return ConfigFailure("tls.ingest_cert/tls.ingest_key/tls.agent_ca_cert: " + ingest_tls.error().detail);

  // SAML service provider (docs/sso.md): its key signs AuthnRequests.
  auto sp_key = ReadFile(c.saml_sp_key);
  if (!sp_key.ok()) return ConfigFailure("saml.sp_key: " + sp_key.error().detail);
  if (auto st = CheckPrivateFile(c.saml_sp_key); !st.ok()) return ConfigFailure("saml.sp_key: " + st.error().detail);
  auto sp_cert = ReadFile(c.saml_sp_cert);
  if (!sp_cert.ok()) return ConfigFailure("saml.sp_cert: " + sp_cert.error().detail);
  auto sp = saml::ServiceProvider::Create({.entity_id = c.saml_entity_id,
                                           .acs_url = c.saml_acs_url,
                                           .key_pem = *sp_key,
                                           .cert_pem = *sp_cert,
                                           .clock_skew_seconds = c.saml_clock_skew_seconds});
  if (!sp.ok()) return ConfigFailure("saml.sp_key/saml.sp_cert: " + sp.error().detail);
  std::shared_ptr<const saml::ServiceProvider> saml_sp = std::move(*sp);

  SystemClock& clock = SystemClock::Instance();
  auto mailer = MakeMailer(c, clock);
  if (!mailer.ok()) return ConfigFailure(mailer.error().detail);
  log::info("parley: mail goes to {}", (*mailer)->transport().Describe());
  ingest::IngestService ingest(*loaded.store, *loaded.keys, crypto::KeyAndCert{*ca_key, *ca_cert}, clock,
                               {.max_records_per_batch = c.max_records_per_batch,
                                .future_tolerance_seconds = c.future_tolerance_seconds,
                                .agent_batches_per_second = c.agent_batches_per_second,
                                .agent_burst_batches = c.agent_burst_batches});
  portal::Portal portal(*loaded.store, *loaded.keys, clock,
                        {.public_url = c.public_url,
                         .web_root = c.web_root,
                         .session_idle_seconds = c.session_idle_seconds,
                         .session_absolute_seconds = c.session_absolute_seconds,
                         .login_max_failures = c.login_max_failures,
                         .mailer = mailer->get(),
                         .accounts = {.public_url = c.public_url,
                                      .link_ttl_seconds = c.link_ttl_seconds,
                                      .requests_per_email_per_hour = c.requests_per_email_per_hour,
                                      .requests_per_address_per_hour = c.requests_per_address_per_hour},
                         .saml = saml_sp,
                         .saml_request_seconds = c.saml_request_seconds});

  auto server = http::Server::Create(c.threads);
  auto [portal_host, portal_port] = *ParseListen(c.portal_listen, "server.portal_listen");
  auto [ingest_host, ingest_port] = *ParseListen(c.ingest_listen, "server.ingest_listen");
  http::ListenerOptions po;
  po.name = "portal";
  po.host = portal_host;
  po.port = portal_port;
  po.tls = std::move(*portal_tls);
  po.body_limit = 1 << 20;
  auto pport = server->AddListener(std::move(po), [&portal](const http::Request& r) { return portal.Handle(r); });
  if (!pport.ok()) return ConfigFailure("server.portal_listen: " + pport.error().detail);
  http::ListenerOptions io;
  io.name = "ingest";
  io.host = ingest_host;
  io.port = ingest_port;
  io.tls = std::move(*ingest_tls);
  io.body_limit = c.max_body_bytes;
  auto iport = server->AddListener(std::move(io), [&ingest](const http::Request& r) { return ingest.Handle(r); });
  if (!iport.ok()) return ConfigFailure("server.ingest_listen: " + iport.error().detail);

  server->Start();
  std::optional<RetentionJob> retention;
  if (c.retention_months > 0) retention.emplace(*loaded.store, clock, c.retention_months);
  log::info("parley: portal on https://{}:{}  ingest on https://{}:{}", portal_host, *pport, ingest_host, *iport);
  if (!options.ports_file.empty()) {
    boost::json::object ports{{"portal", *pport}, {"ingest", *iport}};
    if (auto st = WriteFileAtomic(options.ports_file, boost::json::serialize(ports)); !st.ok())
      log::error("parley: {}", st.error().detail);
  }
  int sig = http::Server::WaitForStopSignal();
  log::info("parley: signal {} received; draining", sig);
  ingest.StopAccepting();
  server->Drain(std::chrono::seconds(10));
  retention.reset();  // waits for a run under way
  log::info("parley: stopped");
  return 0;
}

int RunEnrollToken(const std::filesystem::path& config_file, const std::string& tenant_name) {
  Loaded loaded;
  if (int rc = Load(config_file, loaded)) return rc;
  auto tenant = FindTenant(*loaded.store, tenant_name);
  if (!tenant.ok()) return Failure(tenant.error().detail);
  SystemClock& clock = SystemClock::Instance();
  auto token = ingest::CreateEnrollToken(*loaded.store, tenant->id, clock.NowUnixSeconds(),
                                         loaded.config.enroll_token_seconds);
  if (!token.ok()) return Failure(token.error().detail);
  std::cout << *token << "\n";
  std::cerr << "One-time enrollment token for tenant \"" << tenant->name << "\", valid "
            << loaded.config.enroll_token_seconds / 3600 << " h. Give it to `parley-agent enroll` via "
            << "PARLEY_ENROLL_TOKEN or --token-file.\n";
  return 0;
}

int RunTenantList(const std::filesystem::path& config_file) {
  Loaded loaded;
  if (int rc = Load(config_file, loaded)) return rc;
  auto tenants = loaded.store->ListTenants();
  if (!tenants.ok()) return Failure(tenants.error().detail);
  for (const auto& t : *tenants) {
    std::cout << t.id << "  " << t.name << "  ";
    for (size_t i = 0; i < t.domains.size(); ++i) std::cout << (i ? "," : "") << t.domains[i];
    if (t.platform) {
      std::cout << "  (platform tenant)";
    } else {
      std::cout << "  " << t.time_zone << "  subscription "
                << (t.subscription_end.empty() ? std::string("open-ended") : "until " + t.subscription_end);
    }
    std::cout << "\n";
  }
  return 0;
}

int RunTenantCreate(const TenantCreateOptions& options) {
  Loaded loaded;
  if (int rc = Load(options.config_file, loaded)) return rc;
  portal::TenantSettings settings;
  settings.time_zone = options.time_zone;
  settings.subscription_end = options.subscription_end;
  auto tenant = portal::CreateTenant(*loaded.store, *loaded.keys, options.name, options.domains, settings,
                                     SystemClock::Instance().NowUnixSeconds());
  if (!tenant.ok()) return Failure("cannot create the tenant: " + tenant.error().detail);
  std::cout << tenant->id << "\n";
  std::cerr << "Tenant \"" << tenant->name << "\" created.\n";
  return 0;
}

int RunTenantSsoSet(const TenantSsoSetOptions& options) {
  Loaded loaded;
  if (int rc = Load(options.config_file, loaded)) return rc;
  auto tenant = FindTenant(*loaded.store, options.tenant);
  if (!tenant.ok()) return Failure(tenant.error().detail);
  if (tenant->platform) return Failure("the platform tenant has no single sign-on");
  portal::SsoChange change;
  if (!options.idp_metadata_file.empty()) {
    auto xml = ReadFile(options.idp_metadata_file);
    if (!xml.ok()) return Failure("--idp-metadata: " + xml.error().detail);
    change.idp_metadata_xml = std::move(*xml);
  }
  if (options.group_attribute) change.group_attribute = *options.group_attribute;
  if (options.role_map) {
    auto map = portal::ParseRoleMapList(*options.role_map);
    if (!map.ok()) return Failure(map.error().detail);
    change.role_map = std::move(*map);
  }
  if (options.default_role) change.default_role = *options.default_role;
  if (options.idp_initiated) change.allow_idp_initiated = *options.idp_initiated;
  if (options.enabled) change.enabled = *options.enabled;
  std::optional<store::TenantSso> current;
  if (auto got = loaded.store->GetTenantSso(tenant->id); got.ok()) {
    current = std::move(*got);
  } else if (got.error().code != Code::kNotFound) {
    return Failure(got.error().detail);
  }
  // Setting the metadata from the command line enables SSO unless told otherwise.
  if (!change.enabled && change.idp_metadata_xml && !current) change.enabled = true;
  int64_t now = SystemClock::Instance().NowUnixSeconds();
  auto next = portal::ApplySsoChange(current, tenant->id, change, now);
  if (!next.ok()) return Failure("SSO settings not changed: " + next.error().detail);
  privacy::AuditLog audit(*loaded.store, SystemClock::Instance());
  auto logged = audit.Append(tenant->id, "cli", privacy::audit_action::kSsoConfig, "tenant_sso",
                             privacy::audit_outcome::kSuccess,
                             boost::json::object{{"enabled", next->enabled},
                                                 {"idp_entity_id", next->idp_entity_id},
                                                 {"metadata_changed", change.idp_metadata_xml.has_value()},
                                                 {"group_attribute", next->group_attribute},
                                                 {"default_role", next->default_role.empty() ? "none" : next->default_role},
                                                 {"allow_idp_initiated", next->allow_idp_initiated}});
  if (!logged.ok()) return Failure("SSO settings not changed: the audit log cannot be written");
  if (auto st = loaded.store->PutTenantSso(*next); !st.ok()) return Failure(st.error().detail);
  std::cout << boost::json::serialize(portal::SsoJson(*next)) << "\n";
  std::cerr << "SSO settings of tenant \"" << tenant->name << "\" saved"
            << (next->enabled ? " (enabled)" : " (disabled)") << ". Users sign in at "
            << loaded.config.public_url << "/saml/login?tenant=" << tenant->domains.front() << "\n";
  return 0;
}

int RunUserCreate(const UserCreateOptions& options) {
  auto role = store::ParseRole(options.role);
  if (!role) return Failure("--role must be one of platform_admin, tenant_admin, analyst, viewer");
  Loaded loaded;
  if (int rc = Load(options.config_file, loaded)) return rc;
  int64_t now = SystemClock::Instance().NowUnixSeconds();
  Result<store::Tenant> tenant = NotFound("");
  if (*role == store::Role::kPlatformAdmin) {
    if (options.tenant != portal::kPlatformTenantName)
      return Failure("platform admins belong to the platform tenant: use --tenant platform");
    tenant = portal::EnsurePlatformTenant(*loaded.store, *loaded.keys, now);
  } else {
    tenant = FindTenant(*loaded.store, options.tenant);
  }
  if (!tenant.ok()) return Failure(tenant.error().detail);
  const char* env = std::getenv("PARLEY_USER_PASSWORD");
  bool generated = !env || !*env;
  std::string password = generated ? crypto::RandomToken().substr(0, 20) : std::string(env);
  auto user = portal::CreateUser(*loaded.store, *loaded.keys, tenant->id, options.email, password, *role, now);
  if (!user.ok()) return Failure("cannot create the user: " + user.error().detail);
  std::cout << user->id << "\n";
  std::cerr << "User created in tenant \"" << tenant->name << "\" with role " << store::RoleName(*role) << ".\n";
  if (generated)
    std::cerr << "Password (shown once, not stored): " << password << "\n";
  else
    std::cerr << "Password: the value of PARLEY_USER_PASSWORD\n";
  return 0;
}

int RunAuditVerify(const std::filesystem::path& config_file, const std::string& tenant_name) {
  constexpr int kExitTampered = 1;
  constexpr int kExitUnreadable = 3;
  Loaded loaded;
  if (int rc = Load(config_file, loaded)) return rc;
  std::vector<std::pair<std::string, std::string>> chains;  // (chain id, label)
  if (!tenant_name.empty()) {
    if (tenant_name == store::kPlatformAuditChain) {
      chains.emplace_back(tenant_name, "platform");
    } else {
      auto tenant = FindTenant(*loaded.store, tenant_name);
      if (!tenant.ok()) return Failure(tenant.error().detail);
      chains.emplace_back(tenant->id, tenant->name);
    }
  } else {
    // Every tenant (an empty chain is fine), the platform chain, and any
    // chain left in the log whose tenant row is gone.
    auto tenants = loaded.store->ListTenants();
    if (!tenants.ok()) return Failure(tenants.error().detail);
    std::set<std::string> seen;
    for (const auto& t : *tenants) {
      chains.emplace_back(t.id, t.name);
      seen.insert(t.id);
    }
    chains.emplace_back(std::string(store::kPlatformAuditChain), "platform");
    seen.insert(std::string(store::kPlatformAuditChain));
    auto logged = loaded.store->ListAuditChains();
    if (!logged.ok()) {
      std::cerr << "parley: cannot read the audit log: " << logged.error().detail << "\n";
      return kExitUnreadable;
    }
    for (const auto& id : *logged)
      if (seen.insert(id).second) chains.emplace_back(id, "no such tenant");
  }
  SystemClock& clock = SystemClock::Instance();
  privacy::AuditLog audit(*loaded.store, clock);
  int tampered = 0;
  for (const auto& [id, label] : chains) {
    auto report = audit.Verify(id);
    if (!report.ok()) {
      std::cerr << "parley: cannot read audit chain " << id << ": " << report.error().detail << "\n";
      return kExitUnreadable;
    }
    if (report->ok) {
      std::cout << "audit chain " << id << " (" << label << "): OK, " << report->entries << " entries\n";
    } else {
      ++tampered;
      std::cout << "audit chain " << id << " (" << label << "): TAMPERED at seq " << report->bad_seq << ": "
                << report->problem << "\n";
    }
  }
  if (tampered > 0) {
    std::cout << "audit verify: TAMPERED (" << tampered << " of " << chains.size() << " chains)\n";
    return kExitTampered;
  }
  std::cout << "audit verify: OK (" << chains.size() << " chains)\n";
  return 0;
}

int RunKeysStatus(const std::filesystem::path& config_file) {
  Loaded loaded;
  if (int rc = Load(config_file, loaded)) return rc;
  const crypto::MasterKey& master = *loaded.master;
  const std::vector<std::string> ids = master.KeyIds();
  std::cout << "master key: " << ids.front() << " (active)";
  for (size_t i = 1; i < ids.size(); ++i) std::cout << ", " << ids[i] << " (previous)";
  std::cout << (ids.size() > 1 ? "\n  a master-key rotation was interrupted: run `parley keys rotate` to finish it\n"
                               : "\n");
  auto tenants = loaded.store->ListTenants();
  if (!tenants.ok()) return Failure(tenants.error().detail);
  int unreadable = 0;
  for (const auto& t : *tenants) {
    auto which = master.WrappingKeyIndex(t.wrapped_data_key, t.id);
    std::cout << "tenant \"" << t.name << "\" (" << t.id << "): data key wrapped by ";
    if (which.ok()) {
      std::cout << ids[*which];
    } else {
      std::cout << "NONE of the keys in the file";
      ++unreadable;
    }
    if (!t.retiring_data_key.empty())
      std::cout << "; data-key rotation under way since " << FormatUtc(t.rotation_started_at)
                << " (run `parley keys rotate --tenant " << t.id << " --data-key` to finish it)";
    std::cout << "\n";
  }
  return unreadable == 0 ? 0 : kExitFailure;
}

int RunKeysRotate(const KeysRotateOptions& options) {
  Loaded loaded;
  if (int rc = Load(options.config_file, loaded)) return rc;
  const Clock& clock = SystemClock::Instance();
  privacy::AuditLog audit(*loaded.store, clock);
  if (!options.data_key) {
    if (!options.tenant.empty()) return Failure("--tenant goes with --data-key (a master key is for all tenants)");
    auto report = privacy::RotateMasterKey(*loaded.store, *loaded.keys, loaded.config.master_key_file, clock);
    if (!report.ok())
      return Failure("master-key rotation stopped: " + report.error().detail +
                     "\nNothing is lost: the key file keeps every key until the end. Run `parley keys rotate` again.");
    (void)audit.Append(std::string(store::kPlatformAuditChain), "cli", privacy::audit_action::kKeyRotation,
                       "master_key", privacy::audit_outcome::kSuccess,
                       boost::json::object{{"active_key", report->active_key_id},
                                           {"tenants_rewrapped", report->tenants_rewrapped}});
    std::cout << (report->finished_interrupted ? "finished the interrupted rotation: " : "new master key ")
              << report->active_key_id << " is active; re-wrapped " << report->tenants_rewrapped << " tenant key(s) ("
              << report->tenants_already_current << " were current) and " << report->platform_keys_rewrapped
              << " platform key(s); removed from the key file:";
    for (const auto& id : report->dropped_key_ids) std::cout << " " << id;
    std::cout << "\n";
    return 0;
  }
  if (options.tenant.empty()) return Failure("--data-key needs --tenant (name or id)");
  auto tenant = FindTenant(*loaded.store, options.tenant);
  if (!tenant.ok()) return Failure(tenant.error().detail);
  privacy::DataKeyRotationOptions o;
  o.grace_seconds =
      options.grace_seconds >= 0 ? options.grace_seconds : 2 * loaded.config.data_key_cache_seconds + 5;
  o.batch_rows = options.batch_rows;
  o.sleep = [](int64_t seconds) {
    std::cerr << "waiting " << seconds << " s for every server to seal with the new key "
              << "(keys.data_key_cache_seconds)\n";
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
  };
  std::string last_field;
  o.progress = [&](store::SealedField field, int64_t resealed) {
    std::string name(privacy::SealedFieldName(field));
    if (name != last_field) std::cerr << "re-encrypting " << name << " values\n";
    last_field = name;
    (void)resealed;
  };
  auto report = privacy::RotateDataKey(*loaded.store, *loaded.keys, tenant->id, clock, o);
  if (!report.ok())
    return Failure("data-key rotation of tenant \"" + tenant->name + "\" stopped: " + report.error().detail +
                   "\nIt resumes where it stopped: run the same command again.");
  (void)audit.Append(tenant->id, "cli", privacy::audit_action::kKeyRotation, "data_key",
                     privacy::audit_outcome::kSuccess,
                     boost::json::object{{"resumed", report->resumed},
                                         {"resealed", report->values_resealed},
                                         {"unreadable", report->values_unreadable}});
  std::cout << "tenant \"" << tenant->name << "\": new data key in use; " << report->values_resealed
            << " value(s) re-encrypted, " << report->values_already_current << " already under the new key"
            << (report->resumed ? " (resumed an interrupted rotation)" : "") << "\n";
  if (report->values_unreadable > 0) {
    std::cout << "warning: " << report->values_unreadable
              << " value(s) opened with neither key and were left as they were\n";
    return kExitFailure;
  }
  return 0;
}

namespace {

constexpr int kExitRollupsUnreadable = 3;

// What `parley rollups verify` and `rebuild` work on: the store, the tenants
// (one named, or all) and the newest retention boundary (0: none). An exit
// code when they cannot be had.
struct RollupTargets {
  Loaded loaded;
  std::vector<store::Tenant> tenants;
  int64_t retained_from = 0;
};

int LoadRollupTargets(const std::filesystem::path& config_file, const std::string& tenant_name, RollupTargets& out) {
  if (int rc = Load(config_file, out.loaded)) return rc;
  if (!tenant_name.empty()) {
    auto tenant = FindTenant(*out.loaded.store, tenant_name);
    if (!tenant.ok()) {
      std::cerr << "parley: " << tenant.error().detail << "\n";
      return kExitConfig;
    }
    out.tenants.push_back(std::move(*tenant));
  } else {
    auto all = out.loaded.store->ListTenants();
    if (!all.ok()) {
      std::cerr << "parley: cannot list tenants: " << all.error().detail << "\n";
      return kExitRollupsUnreadable;
    }
    out.tenants = std::move(*all);
  }
  // Rollups outlive the records retention deleted: only what has records
  // left is compared or rebuilt.
  auto retained_from = privacy::RecordedRetentionBoundary(*out.loaded.store);
  if (!retained_from.ok()) {
    std::cerr << "parley: cannot read the platform audit chain: " << retained_from.error().detail << "\n";
    return kExitRollupsUnreadable;
  }
  out.retained_from = *retained_from;
  return 0;
}

}  // namespace

int RunRollupsVerify(const std::filesystem::path& config_file, const std::string& tenant_name) {
  constexpr int kExitMismatch = 1;
  RollupTargets targets;
  if (int rc = LoadRollupTargets(config_file, tenant_name, targets)) return rc;
  const std::vector<store::Tenant>& tenants = targets.tenants;
  const int64_t now = SystemClock::Instance().NowUnixSeconds();
  if (targets.retained_from > 0)
    std::cout << "retention deleted the records before " << FormatUtc(targets.retained_from)
              << ": rollups are compared from a day later\n";
  int bad = 0;
  for (const store::Tenant& t : tenants) {
    auto report = store::VerifyRollups(*targets.loaded.store, t.id, now, 10, targets.retained_from);
    if (!report.ok()) {
      std::cerr << "parley: cannot read the calls or rollups of tenant " << t.id << ": " << report.error().detail
                << "\n";
      return kExitRollupsUnreadable;
    }
    std::cout << "rollups of " << t.id << " (" << t.name << "): ";
    if (report->ok()) {
      std::cout << "OK, " << report->calls << " calls, " << report->participants << " participants, "
                << report->rows_compared << " rollup rows and " << report->peak_hours_compared
                << " peak hours compared\n";
      continue;
    }
    ++bad;
    std::cout << report->mismatches << " MISMATCHES in " << report->rows_compared << " rollup rows and "
              << report->peak_hours_compared << " peak hours (" << report->calls << " calls, " << report->participants
              << " participants); first ones:\n";
    for (const std::string& e : report->examples) std::cout << "  " << e << "\n";
  }
  if (bad > 0) {
    std::cout << "rollups verify: MISMATCH (" << bad << " of " << tenants.size() << " tenants)\n";
    return kExitMismatch;
  }
  std::cout << "rollups verify: OK (" << tenants.size() << " tenants)\n";
  return 0;
}

int RunRollupsRebuild(const std::filesystem::path& config_file, const std::string& tenant_name) {
  RollupTargets targets;
  if (int rc = LoadRollupTargets(config_file, tenant_name, targets)) return rc;
  if (targets.retained_from > 0)
    std::cout << "retention deleted the records before " << FormatUtc(targets.retained_from)
              << ": rollups are rebuilt from a day later, the earlier ones kept\n";
  for (const store::Tenant& t : targets.tenants) {
    auto report = store::RebuildRollups(*targets.loaded.store, t.id, targets.retained_from);
    if (!report.ok()) {
      std::cerr << "parley: cannot rebuild the rollups of tenant " << t.id << ": " << report.error().detail
                << " (nothing changed for it)\n";
      return kExitRollupsUnreadable;
    }
    std::cout << "rollups of " << t.id << " (" << t.name << "): rebuilt from " << report->calls << " calls and "
              << report->participants << " participants"
              << (report->from == INT64_MIN ? std::string() : ", buckets from " + FormatUtc(report->from)) << "\n";
  }
  std::cout << "rollups rebuild: done (" << targets.tenants.size() << " tenants)\n";
  return 0;
}

int RunRetentionApply(const RetentionApplyOptions& options) {
  if (options.months && !options.before.empty()) return ConfigFailure("--months and --before exclude each other");
  if (options.months && *options.months < 1) return ConfigFailure("--months: at least 1");
  std::optional<int64_t> before;
  if (!options.before.empty()) {
    before = privacy::ParseMonth(options.before);
    if (!before) return ConfigFailure("--before: expected YYYY-MM, got \"" + options.before + "\"");
  }
  Loaded loaded;
  if (int rc = Load(options.config_file, loaded)) return rc;
  const int64_t months = options.months.value_or(loaded.config.retention_months);
  if (!before && months < 1)
    return ConfigFailure("store.retention_months is 0 (keep forever): pass --months N or --before YYYY-MM");
  const Clock& clock = SystemClock::Instance();
  const int64_t cutoff = before ? *before : privacy::RetentionCutoff(clock.NowUnixSeconds(), months);
  privacy::AuditLog audit(*loaded.store, clock);
  auto r = privacy::ApplyRetention(*loaded.store, audit, cutoff, options.dry_run, "cli");
  if (!r.ok())
    return Failure("retention stopped: " + r.error().detail + "\nWhat was deleted stays deleted; run it again.");
  PrintRetention(*r, options.dry_run, !loaded.config.store_url.starts_with("sqlite:"));
  return 0;
}

}  // namespace parley::server
