// The authorization matrix (issue 5, "What it must show"): generated from the
// OpenAPI document the portal serves, every portal route x method is called
// as {anonymous, viewer A, analyst A, tenant admin A, tenant admin B,
// platform admin}; each caller must get exactly what the route's
// x-parley-role / x-parley-tenant-data allow, and no answer to tenant B or to
// the platform admin may carry tenant A's identifiers or personal values.
// A route added without a role, or one this file cannot call, fails here.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <set>

#include "crypto/crypto.h"
#include "mail/mail.h"
#include "crypto/totp.h"
#include "portal/accounts.h"
#include "portal/registration.h"
#include "portal/portal.h"
#include "saml/saml.h"
#include "support/fake_clock.h"
#include "support/portal_harness.h"

namespace parley::portal {
namespace {

namespace json = boost::json;
using parley::testing::FakeClock;

constexpr const char* kPassword = "correct horse battery";

enum class Caller { kAnonymous, kViewerA, kAnalystA, kAdminA, kAdminB, kPlatformAdmin };
constexpr Caller kCallers[] = {Caller::kAnonymous, Caller::kViewerA, Caller::kAnalystA,
                               Caller::kAdminA,    Caller::kAdminB,  Caller::kPlatformAdmin};

const char* CallerName(Caller c) {
  switch (c) {
    case Caller::kAnonymous: return "anonymous";
    case Caller::kViewerA: return "viewer A";
    case Caller::kAnalystA: return "analyst A";
    case Caller::kAdminA: return "tenant admin A";
    case Caller::kAdminB: return "tenant admin B";
    case Caller::kPlatformAdmin: return "platform admin";
  }
  return "?";
}

// What the documented role and tenant-data flag allow `caller`: 0 = a 2xx
// answer, else the exact status.
int Expected(Caller caller, std::string_view role, std::string_view tenant_data) {
  if (role == "public") return 0;
  if (caller == Caller::kAnonymous) return 401;
  if (caller == Caller::kPlatformAdmin) {
    if (role == "platform_admin") return 0;
    return role == "signed-in" && tenant_data == "none" ? 0 : 403;
  }
  if (role == "signed-in") return 0;
  if (role == "analyst") return caller == Caller::kViewerA ? 403 : 0;
  if (role == "tenant_admin") return caller == Caller::kAdminA || caller == Caller::kAdminB ? 0 : 403;
  return 403;  // platform_admin
}

class AuthzMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int64_t now = clock_.NowUnixSeconds();
    a_ = *CreateTenant(*store_, *keys_, "Tenant A", {"a.example"}, {.time_zone = "Europe/London", .subscription_end = "2030-12-31"}, now);
    b_ = *CreateTenant(*store_, *keys_, "Tenant B", {"b.example"}, now);
    auto platform = EnsurePlatformTenant(*store_, *keys_, now);
    ASSERT_TRUE(platform.ok()) << platform.error().detail;
    platform_ = *platform;
    auto add = [&](const store::Tenant& t, const std::string& email, store::Role role) {
      auto u = CreateUser(*store_, *keys_, t.id, email, kPassword, role, now);
      EXPECT_TRUE(u.ok()) << email << ": " << (u.ok() ? "" : u.error().detail);
      return u.ok() ? u->id : std::string();
    };
    viewer_a_ = add(a_, "viewer@a.example", store::Role::kViewer);
    analyst_a_ = add(a_, "analyst@a.example", store::Role::kAnalyst);
    admin_a_ = add(a_, "admin@a.example", store::Role::kTenantAdmin);
    admin_b_ = add(b_, "admin@b.example", store::Role::kTenantAdmin);
    viewer_b_ = add(b_, "viewer@b.example", store::Role::kViewer);
    platform_admin_ = add(platform_, "ops@parley.example", store::Role::kPlatformAdmin);
    SeedTenantA();
    mailer_ = std::make_unique<mail::Mailer>(mail::MakeOutboxTransport(dir_ / "outbox").value(), clock_,
                                             mail::MailerOptions{.from = "noreply@parley.test"});
    // A SAML SP, and SSO set up for tenant A, so the /saml routes answer for real.
    // RSA-3072 generation is slow: one pair per role for the whole binary.
    static const saml::KeyPair kSpKeys = *saml::GenerateSpKeyPair("matrix sp", 30);
    static const saml::KeyPair kIdpKeys = *saml::GenerateSpKeyPair("matrix idp", 30);
    const saml::KeyPair* sp_keys = &kSpKeys;
    auto sp = saml::ServiceProvider::Create({.entity_id = "https://parley.test/saml/metadata",
                                             .acs_url = "https://parley.test/saml/acs",
                                             .key_pem = sp_keys->key_pem,
                                             .cert_pem = sp_keys->cert_pem});
    ASSERT_TRUE(sp.ok()) << sp.error().detail;
    const saml::KeyPair* idp_keys = &kIdpKeys;
    std::string cert = idp_keys->cert_pem.substr(28, idp_keys->cert_pem.find("-----END") - 28);
    store::TenantSso sso;
    sso.tenant_id = a_.id;
    sso.enabled = true;
    sso.idp_entity_id = "https://idp.a.example/adfs";
    sso.idp_metadata_xml =
        R"(<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.a.example/adfs">)"
        R"(<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">)"
        R"(<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>)"
        "<ds:X509Certificate>" + cert + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        R"(<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" )"
        R"(Location="https://idp.a.example/adfs/ls/"/></md:IDPSSODescriptor></md:EntityDescriptor>)";
    sso.group_attribute = "groups";
    ASSERT_TRUE(store_->PutTenantSso(sso).ok());
    portal_ = std::make_unique<Portal>(*store_, *keys_, clock_,
                                       PortalOptions{.public_url = "https://parley.test",
                                                     .web_root = dir_ / "web",
                                                     .session_idle_seconds = 600,
                                                     .session_absolute_seconds = 3600,
                                                     .login_max_failures = 3,
                                                     .mailer = mailer_.get(),
                                                     .accounts = {.requests_per_email_per_hour = 1000,
                                                                  .requests_per_address_per_hour = 1000},
                                                     .saml = std::move(*sp)});
  }
  void TearDown() override {
    portal_.reset();
    mailer_.reset();
  }

  // Tenant A's agent (with a heartbeat), calls and a device, personal data sealed as ingest seals it.
  void SeedTenantA() {
    store::Agent agent;
    agent.id = crypto::RandomUuid();
    agent.tenant_id = a_.id;
    agent.name = "collector-a";
    agent.cert_fingerprint = crypto::RandomUuid();
    ASSERT_TRUE(store_->CreateAgent(agent).ok());
    agent_a_ = agent.id;
    ASSERT_TRUE(store_->RecordHeartbeat(a_.id, agent.id,
                                        R"({"agent_version":"1.0.0","uptime_s":5,"sources":[{"name":"dma","type":"dma","status":"ok"}]})",
                                        clock_.NowUnixSeconds())
                    .ok());
    auto key = keys_->DataKeys(a_.id)->current;
    store::BatchCommit batch;
    batch.tenant_id = a_.id;
    batch.agent_id = agent.id;
    batch.batch_id = crypto::RandomUuid();
    for (int i = 0; i < 2; ++i) {
      wire::CallRecord c;
      c.source = "dma";
      c.id = "call-" + std::to_string(i);
      c.orig.name = "Secret Caller " + std::to_string(i);
      c.orig.number = "+4420794600" + std::to_string(i);
      store::StoredCall s;
      s.source = c.source, s.call_id = c.id, s.start_at = 1000 + i, s.end_at = 2000 + i, s.duration_s = 60;
      s.status = "completed";
      crypto::Sealer sealer(key);
      s.pii_sealed = privacy::SealCallPii(sealer, a_.id, c);
      batch.calls.push_back(s);
    }
    wire::DeviceRecord dev;
    dev.source = "rprm";
    dev.id = "dev-1";
    dev.name = "Secret Room";
    dev.serial = "SERIAL-SECRET";
    store::StoredDevice d;
    d.source = "rprm", d.device_id = "dev-1", d.observed_at = 7000, d.model = "Group 700";
    crypto::Sealer sealer(key);
    d.pii_sealed = privacy::SealDevicePii(sealer, a_.id, dev);
    batch.devices.push_back(d);
    ASSERT_TRUE(store_->CommitBatch(batch).ok());
  }

  http::Response Call(const std::string& method, const std::string& target, const std::string& body = "",
                      std::map<std::string, std::string> headers = {}) {
    return parley::testing::PortalRequest(*portal_, method, target, body, std::move(headers));
  }

  static std::string Email(Caller c) {
    switch (c) {
      case Caller::kAnonymous:
      case Caller::kViewerA: return "viewer@a.example";
      case Caller::kAnalystA: return "analyst@a.example";
      case Caller::kAdminA: return "admin@a.example";
      case Caller::kAdminB: return "admin@b.example";
      case Caller::kPlatformAdmin: return "ops@parley.example";
    }
    return "";
  }

  static std::string LoginBody(const std::string& email) {
    return json::serialize(json::object{{"email", email}, {"password", kPassword}});
  }

  using Signed = parley::testing::SignedIn;
  Signed Login(const std::string& email) {
    auto res = Call("POST", "/api/v1/auth/login", LoginBody(email));
    EXPECT_EQ(res.status, 200) << email << ": " << res.body;
    return res.status == 200 ? parley::testing::FromSignIn(res) : Signed{};
  }
  std::map<std::string, std::string> Headers(const Signed& s, const std::string& method) {
    std::map<std::string, std::string> h{{"cookie", s.cookie}};
    if (method != "GET") h["x-csrf-token"] = s.csrf;
    return h;
  }

  // Starts two-factor set-up for the session; returns the raw secret.
  std::string TotpSetup(const Signed& s) {
    auto res = Call("POST", "/api/v1/account/totp/setup", json::serialize(json::object{{"password", kPassword}}),
                    Headers(s, "POST"));
    EXPECT_EQ(res.status, 200) << res.body;
    if (res.status != 200) return "";
    return crypto::Base32Decode(json::parse(res.body).at("secret").as_string()).value_or("");
  }
  void ClearTotp(Caller c) {
    std::pair<std::string, std::string> who;
    switch (c) {
      case Caller::kAnonymous: return;
      case Caller::kViewerA: who = {a_.id, viewer_a_}; break;
      case Caller::kAnalystA: who = {a_.id, analyst_a_}; break;
      case Caller::kAdminA: who = {a_.id, admin_a_}; break;
      case Caller::kAdminB: who = {b_.id, admin_b_}; break;
      case Caller::kPlatformAdmin: who = {platform_.id, platform_admin_}; break;
    }
    ASSERT_TRUE(store_->DeleteUserTotp(who.first, who.second).ok());
  }

  // Tenant A's identifiers and personal values that tenant B must never see.
  std::vector<std::string> SecretsForTenantB() const {
    return {a_.id,       viewer_a_,       analyst_a_,    admin_a_,      agent_a_,     "@a.example", "Tenant A",
            "Secret",    "+4420794600",   "SERIAL-SECRET", "collector-a"};
  }
  // The platform admin manages tenants (sees their id, name and domains on
  // the /api/v1/admin routes) but never their users or personal data.
  std::vector<std::string> SecretsForPlatformAdmin(bool admin_route) const {
    std::vector<std::string> s{viewer_a_,          analyst_a_,          admin_a_,          "viewer@a.example",
                               "analyst@a.example", "admin@a.example",  "Secret",          "+4420794600",
                               "SERIAL-SECRET",     viewer_b_,          admin_b_,          "admin@b.example"};
    if (!admin_route) {
      s.push_back(a_.id);
      s.push_back(agent_a_);
    }
    return s;
  }

  parley::testing::PortalWorld world_{"authz"};
  const std::filesystem::path& dir_ = world_.dir;
  FakeClock& clock_ = world_.clock;
  std::unique_ptr<store::Store>& store_ = world_.store;
  std::unique_ptr<privacy::KeyRing>& keys_ = world_.keys;
  store::Tenant a_, b_, platform_;
  std::string viewer_a_, analyst_a_, admin_a_, admin_b_, viewer_b_, platform_admin_, agent_a_;
  std::unique_ptr<mail::Mailer> mailer_;
  std::unique_ptr<Portal> portal_;
};

TEST_F(AuthzMatrixTest, EveryRouteGivesEachRoleExactlyWhatItAllows) {
  auto doc = Call("GET", "/api/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  const json::object paths = json::parse(doc.body).at("paths").as_object();
  const std::set<std::string> kRoles = {"public", "signed-in", "analyst", "tenant_admin", "platform_admin"};
  const std::set<std::string> kOperations = {"get", "put", "post", "delete", "patch", "head", "options"};
  int operations = 0, calls = 0, created = 0;
  for (const auto& [path_key, item] : paths) {
    const std::string path(path_key);
    for (const auto& [method_key, op_value] : item.as_object()) {
      ASSERT_TRUE(kOperations.count(std::string(method_key))) << path << ": unexpected key " << method_key;
      const json::object& op = op_value.as_object();
      // Every operation, on either listener, declares its role.
      ASSERT_TRUE(op.contains("x-parley-role") && op.at("x-parley-role").is_string())
          << method_key << " " << path << " has no x-parley-role";
      if (path.rfind("/ingest/", 0) == 0) continue;  // the ingest listener (mutual TLS): tests/unit/ingest
      const std::string role(op.at("x-parley-role").as_string());
      ASSERT_TRUE(kRoles.count(role)) << method_key << " " << path << ": unknown role " << role;
      ASSERT_TRUE(op.contains("x-parley-tenant-data")) << method_key << " " << path;
      const std::string data(op.at("x-parley-tenant-data").as_string());
      ASSERT_TRUE(data == "none" || data == "tenant" || data == "personal") << path;
      EXPECT_EQ(op.at("x-parley-personal-data").as_bool(), data == "personal") << path;
      // Tenant data is never public, and never the platform admin's.
      EXPECT_FALSE(data != "none" && (role == "public" || role == "platform_admin")) << method_key << " " << path;
      if (role == "public") {
        EXPECT_TRUE(op.at("security").as_array().empty()) << path;
      }
      ++operations;
      std::string method(method_key);
      for (auto& ch : method) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));

      for (Caller caller : kCallers) {
        const bool tenant_b = caller == Caller::kAdminB;
        // Path parameters: real ids of the caller's own tenant (a user that
        // exists and whose change is harmless); tenant A's for callers without one.
        std::string target = path;
        for (size_t at; (at = target.find('{')) != std::string::npos;) {
          std::string name = target.substr(at + 1, target.find('}', at) - at - 1);
          ASSERT_EQ(name, "id") << path << ": add a value for path parameter {" << name << "} here";
          // Tenant routes take tenant A's id (only the platform admin gets
          // past the role check there); user routes a user id.
          const bool tenant_route = path.rfind("/api/v1/admin/tenants/", 0) == 0;
          target.replace(at, name.size() + 2, tenant_route ? a_.id : tenant_b ? viewer_b_ : viewer_a_);
        }
        std::string body;
        const std::string key = method + " " + path;
        if (key == "POST /api/v1/auth/login") {
          body = LoginBody(Email(caller));
        } else if (key == "PATCH /api/v1/users/{id}/role") {
          body = R"({"role":"viewer"})";  // the target is a viewer: no change
        } else if (key == "POST /api/v1/admin/tenants") {
          std::string n = std::to_string(++created);
          body = json::serialize(json::object{{"name", "Matrix " + n},
                                              {"domains", json::array{"matrix" + n + ".example"}},
                                              {"time_zone", "Europe/Paris"},
                                              {"subscription_end", "2028-06-30"}});
        } else if (key == "POST /api/v1/register" || key == "POST /api/v1/password-reset") {
          // Public, no enumeration: 202 for any address, the caller's own tenant's here.
          body = json::serialize(json::object{{"email", std::string(tenant_b ? "newcomer@b.example" : "newcomer@a.example")}});
        } else if (key == "POST /api/v1/register/complete") {
          // A fresh link in the caller's tenant (B's for B, so B sees only B).
          const store::Tenant& t = tenant_b ? b_ : a_;
          std::string email = "matrix" + std::to_string(++created) + "@" + t.domains[0];
          auto token = IssueRegistrationToken(*store_, *keys_, t.id, email, clock_.NowUnixSeconds(), 3600);
          ASSERT_TRUE(token.ok());
          body = json::serialize(json::object{{"token", *token}, {"password", kPassword}});
        } else if (key == "POST /api/v1/password-reset/complete") {
          // Resets the caller's tenant's viewer to the same password: harmless to the other calls.
          auto viewer = store_->GetUser(tenant_b ? b_.id : a_.id, tenant_b ? viewer_b_ : viewer_a_);
          ASSERT_TRUE(viewer.ok());
          auto token = IssueResetToken(*store_, *keys_, *viewer, tenant_b ? "viewer@b.example" : "viewer@a.example",
                                       clock_.NowUnixSeconds(), 3600);
          ASSERT_TRUE(token.ok());
          body = json::serialize(json::object{{"token", *token}, {"password", kPassword}});
        } else if (key == "PUT /api/v1/tenant/sso") {
          body = R"({"group_attribute":"groups","default_role":"viewer"})";
        } else if (key == "GET /saml/login") {
          target += "?tenant=a.example";
        } else if (method != "GET") {
          body = "{}";
        }
        std::map<std::string, std::string> headers;
        Signed session;
        if (caller != Caller::kAnonymous) {
          session = Login(Email(caller));
          headers = Headers(session, method);
        }
        // Two-factor routes: the state each needs, reached through the API
        // itself (set-up before confirm, an active factor before disable).
        const bool totp_route = path.rfind("/api/v1/account/totp/", 0) == 0;
        if (key == "POST /api/v1/account/totp/setup") {
          body = json::serialize(json::object{{"password", kPassword}});
        } else if (totp_route && caller != Caller::kAnonymous) {
          std::string secret = TotpSetup(session);
          std::string code = crypto::TotpCode(secret, crypto::TotpStep(clock_.NowUnixSeconds()));
          if (key == "POST /api/v1/account/totp/disable") {
            auto on = Call("POST", "/api/v1/account/totp/confirm", json::serialize(json::object{{"code", code}}),
                           Headers(session, "POST"));
            EXPECT_EQ(on.status, 200) << on.body;
            clock_.Advance(std::chrono::seconds(crypto::kTotpStepSeconds));  // a code works once: the next one
            code = crypto::TotpCode(secret, crypto::TotpStep(clock_.NowUnixSeconds()));
            body = json::serialize(json::object{{"password", kPassword}, {"code", code}});
          } else {
            body = json::serialize(json::object{{"code", code}});
          }
        } else if (key == "PATCH /api/v1/admin/tenants/{id}") {
          body = R"({"time_zone":"Europe/London"})";  // tenant A's own: no change
        }
        auto res = Call(method, target, body, headers);
        // A factor left on would make the next sign-in of this caller ask for a code.
        if (totp_route && caller != Caller::kAnonymous) ClearTotp(caller);
        ++calls;
        int want = Expected(caller, role, data);
        // Public SAML routes that answer a redirect, or refuse the matrix's
        // JSON body (the ACS takes a signed SAML form): the same status for
        // every caller, whatever session it has.
        if (key == "GET /saml/login") want = 303;
        if (key == "POST /saml/acs") want = 400;
        std::string where = method + " " + path + " as " + CallerName(caller) + ": " + res.body;
        if (want == 303 || want == 400) {
          EXPECT_EQ(res.status, want) << where;
        } else if (want == 0) {
          EXPECT_TRUE(res.status >= 200 && res.status < 300) << where << " (status " << res.status << ")";
        } else {
          EXPECT_EQ(res.status, want) << where;
          if (want == 403) {
            EXPECT_NE(res.body.find("permission_denied"), std::string::npos) << where;
          }
        }
        std::vector<std::string> secrets;
        if (tenant_b) secrets = SecretsForTenantB();
        if (caller == Caller::kPlatformAdmin) secrets = SecretsForPlatformAdmin(path.rfind("/api/v1/admin/", 0) == 0);
        for (const auto& secret : secrets) {
          EXPECT_EQ(res.body.find(secret), std::string::npos) << where << " leaks \"" << secret << "\"";
          for (const auto& [name, value] : res.headers)
            EXPECT_EQ(value.find(secret), std::string::npos) << where << " leaks in header " << name;
        }
      }
    }
  }
  // The document lists the whole portal, not a remnant of it.
  EXPECT_GE(operations, 15);
  EXPECT_EQ(calls, operations * 6);
}

// A 403 names the role the route requires.
TEST_F(AuthzMatrixTest, RefusalNamesTheRequiredRole) {
  auto s = Login("viewer@a.example");
  auto res = Call("GET", "/api/v1/users", "", Headers(s, "GET"));
  ASSERT_EQ(res.status, 403);
  auto body = json::parse(res.body);
  EXPECT_EQ(body.at("error").as_string(), "permission_denied");
  EXPECT_EQ(body.at("required_role").as_string(), "tenant_admin");
  EXPECT_NE(body.at("detail").as_string().find("tenant_admin"), std::string::npos);
  auto p = Login("ops@parley.example");
  auto calls = Call("GET", "/api/v1/calls", "", Headers(p, "GET"));
  EXPECT_EQ(calls.status, 403);
  EXPECT_NE(calls.body.find("platform admin has no access to tenant data"), std::string::npos);
}

// The tenant admin lists the own tenant's users with e-mails; B's admin cannot touch A's users.
TEST_F(AuthzMatrixTest, TenantAdminManagesOwnUsersOnly) {
  auto a = Login("admin@a.example");
  auto list = Call("GET", "/api/v1/users", "", Headers(a, "GET"));
  ASSERT_EQ(list.status, 200) << list.body;
  auto users = json::parse(list.body).at("users").as_array();
  ASSERT_EQ(users.size(), 3u);
  std::set<std::string> emails;
  for (const auto& u : users) emails.insert(std::string(u.at("email").as_string()));
  EXPECT_EQ(emails, (std::set<std::string>{"viewer@a.example", "analyst@a.example", "admin@a.example"}));

  auto b = Login("admin@b.example");
  auto cross = Call("PATCH", "/api/v1/users/" + viewer_a_ + "/role", R"({"role":"tenant_admin"})", Headers(b, "PATCH"));
  EXPECT_EQ(cross.status, 404) << cross.body;
  EXPECT_EQ(cross.body.find(viewer_a_), std::string::npos);
  EXPECT_EQ(store_->GetUser(a_.id, viewer_a_)->role, store::Role::kViewer);
}

// Role changes: never to platform_admin, never the last admin demoting themself; a change applies to open sessions.
TEST_F(AuthzMatrixTest, RoleChangesFollowTheRules) {
  auto a = Login("admin@a.example");
  auto h = Headers(a, "PATCH");
  EXPECT_EQ(Call("PATCH", "/api/v1/users/" + viewer_a_ + "/role", R"({"role":"platform_admin"})", h).status, 403);
  EXPECT_EQ(Call("PATCH", "/api/v1/users/" + viewer_a_ + "/role", R"({"role":"root"})", h).status, 400);
  auto self = Call("PATCH", "/api/v1/users/" + admin_a_ + "/role", R"({"role":"viewer"})", h);
  EXPECT_EQ(self.status, 409) << self.body;
  EXPECT_EQ(store_->GetUser(a_.id, admin_a_)->role, store::Role::kTenantAdmin);

  auto viewer = Login("viewer@a.example");
  auto before = Call("GET", "/api/v1/calls", "", Headers(viewer, "GET"));
  EXPECT_EQ(before.body.find("Secret Caller"), std::string::npos);
  auto promote = Call("PATCH", "/api/v1/users/" + viewer_a_ + "/role", R"({"role":"analyst"})", h);
  ASSERT_EQ(promote.status, 200) << promote.body;
  EXPECT_EQ(Call("GET", "/api/v1/calls", "", Headers(viewer, "GET")).status, 401)
      << "a role change ends the user's sessions";
  auto after = Call("GET", "/api/v1/calls", "", Headers(Login("viewer@a.example"), "GET"));
  EXPECT_NE(after.body.find("Secret Caller"), std::string::npos) << "signed in again with the new role";

  // With a second admin, the first may step down.
  ASSERT_EQ(Call("PATCH", "/api/v1/users/" + analyst_a_ + "/role", R"({"role":"tenant_admin"})", h).status, 200);
  auto down = Call("PATCH", "/api/v1/users/" + admin_a_ + "/role", R"({"role":"analyst"})", h);
  ASSERT_EQ(down.status, 200) << down.body;
  EXPECT_EQ(Call("GET", "/api/v1/users", "", Headers(a, "GET")).status, 401) << "the old session id is ended";
  std::string fresh = down.Header("Set-Cookie");
  EXPECT_EQ(Call("GET", "/api/v1/users", "", {{"cookie", fresh.substr(0, fresh.find(';'))}}).status, 403)
      << "demoted at once, on a fresh session";
}

// The platform admin creates tenants and sees every tenant's agents' health, without personal data.
TEST_F(AuthzMatrixTest, PlatformAdminRunsTheService) {
  auto p = Login("ops@parley.example");
  auto h = Headers(p, "POST");
  auto created = Call("POST", "/api/v1/admin/tenants",
                      R"({"name":"Acme","domains":["acme.example"],"time_zone":"America/New_York","subscription_end":"2028-01-31"})",
                      h);
  ASSERT_EQ(created.status, 201) << created.body;
  auto t = json::parse(created.body).at("tenant");
  EXPECT_EQ(t.at("time_zone").as_string(), "America/New_York");
  EXPECT_EQ(t.at("subscription_end").as_string(), "2028-01-31");
  auto stored = store_->FindTenantByName("Acme");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->subscription_end, "2028-01-31");
  EXPECT_EQ(Call("POST", "/api/v1/admin/tenants", R"({"name":"Acme","domains":["x.example"]})", h).status, 409);
  EXPECT_EQ(Call("POST", "/api/v1/admin/tenants", R"({"name":"Z","domains":["z.example"],"time_zone":"../etc"})", h).status,
            400);
  EXPECT_EQ(
      Call("POST", "/api/v1/admin/tenants", R"({"name":"Z","domains":["z.example"],"subscription_end":"2027-02-30"})", h)
          .status,
      400);
  EXPECT_EQ(Call("POST", "/api/v1/admin/tenants", R"({"name":"platform","domains":["z.example"]})", h).status, 400);

  auto agents = Call("GET", "/api/v1/admin/agents", "", Headers(p, "GET"));
  ASSERT_EQ(agents.status, 200) << agents.body;
  auto list = json::parse(agents.body).at("agents").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("tenant").at("name").as_string(), "Tenant A");
  EXPECT_EQ(list[0].at("state").as_string(), "online");
  EXPECT_EQ(list[0].at("sources").as_array()[0].at("status").as_string(), "ok");

  auto tenants = json::parse(Call("GET", "/api/v1/admin/tenants", "", Headers(p, "GET")).body).at("tenants").as_array();
  EXPECT_EQ(tenants.size(), 4u);  // A, B, Acme and the platform tenant
}

// After the subscription's last day, the tenant's users get 403 "subscription ended" on data routes.
TEST_F(AuthzMatrixTest, SubscriptionEndBlocksTenantData) {
  auto ended = CreateTenant(*store_, *keys_, "Lapsed", {"lapsed.example"}, {.time_zone = "UTC", .subscription_end = "2027-01-15"},
                            clock_.NowUnixSeconds());
  ASSERT_TRUE(ended.ok()) << ended.error().detail;
  ASSERT_TRUE(CreateUser(*store_, *keys_, ended->id, "admin@lapsed.example", kPassword, store::Role::kTenantAdmin, 0).ok());
  auto s = Login("admin@lapsed.example");
  EXPECT_EQ(Call("GET", "/api/v1/calls", "", Headers(s, "GET")).status, 200) << "the last day is included";
  clock_.Advance(std::chrono::hours(24));
  s = Login("admin@lapsed.example");  // signing in still works; the data routes do not
  for (const char* path : {"/api/v1/calls", "/api/v1/agents", "/api/v1/users", "/api/v1/devices"}) {
    auto res = Call("GET", path, "", Headers(s, "GET"));
    EXPECT_EQ(res.status, 403) << path;
    EXPECT_NE(res.body.find("subscription ended"), std::string::npos) << path << res.body;
  }
  EXPECT_EQ(Call("GET", "/api/v1/session", "", Headers(s, "GET")).status, 200) << "still signed in";
}

// Platform admins live in the platform tenant only, and it holds nobody else.
TEST_F(AuthzMatrixTest, PlatformTenantHoldsPlatformAdminsOnly) {
  int64_t now = clock_.NowUnixSeconds();
  EXPECT_FALSE(CreateUser(*store_, *keys_, a_.id, "boss@a.example", kPassword, store::Role::kPlatformAdmin, now).ok());
  EXPECT_FALSE(CreateUser(*store_, *keys_, platform_.id, "v@parley.example", kPassword, store::Role::kViewer, now).ok());
  auto again = EnsurePlatformTenant(*store_, *keys_, now);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, platform_.id);
  EXPECT_FALSE(CreateTenant(*store_, *keys_, "platform", {"p.example"}, now).ok());
}

}  // namespace
}  // namespace parley::portal
