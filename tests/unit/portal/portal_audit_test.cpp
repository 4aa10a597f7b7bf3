// The portal's audit trail: sign-ins (success and failure), sign-outs and
// personal-data pages are recorded by id only; tenant admins view and export
// their own tenant's log; nobody else does.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>

#include "crypto/crypto.h"
#include "portal/accounts.h"
#include "portal/portal.h"
#include "privacy/audit.h"
#include "support/fake_clock.h"
#include "support/portal_harness.h"

namespace parley::portal {
namespace {

namespace json = boost::json;
using parley::testing::FakeClock;

constexpr const char* kPassword = "correct horse battery";

class PortalAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = *CreateTenant(*store_, *keys_, "Tenant A", {"a.example"}, clock_.NowUnixSeconds());
    b_ = *CreateTenant(*store_, *keys_, "Tenant B", {"b.example"}, clock_.NowUnixSeconds());
    admin_ = *CreateUser(*store_, *keys_, a_.id, "admin@a.example", kPassword, store::Role::kTenantAdmin, 0);
    ASSERT_TRUE(CreateUser(*store_, *keys_, a_.id, "analyst@a.example", kPassword, store::Role::kAnalyst, 0).ok());
    ASSERT_TRUE(CreateUser(*store_, *keys_, a_.id, "viewer@a.example", kPassword, store::Role::kViewer, 0).ok());
    ASSERT_TRUE(CreateUser(*store_, *keys_, b_.id, "admin@b.example", kPassword, store::Role::kTenantAdmin, 0).ok());
    AddCalls(a_.id, 3);
    portal_ = std::make_unique<Portal>(*store_, *keys_, clock_,
                                       PortalOptions{.public_url = "https://parley.test",
                                                     .web_root = dir_ / "web",
                                                     .session_idle_seconds = 600,
                                                     .session_absolute_seconds = 3600,
                                                     .login_max_failures = 3});
  }

  void AddCalls(const std::string& tenant_id, int n) { world_.AddCalls(tenant_id, n); }

  http::Response Call(const std::string& method, const std::string& target, const std::string& body = "",
                      std::map<std::string, std::string> headers = {}) {
    return parley::testing::PortalRequest(*portal_, method, target, body, std::move(headers));
  }
  using Signed = parley::testing::SignedIn;
  Signed Login(const std::string& email, const std::string& password = kPassword) {
    return parley::testing::SignIn(*portal_, email, password);
  }
  std::vector<store::AuditEntry> Chain(const std::string& chain) {
    auto entries = store_->ListAudit(chain, false, 0, 1000);
    EXPECT_TRUE(entries.ok());
    return entries.ok() ? *entries : std::vector<store::AuditEntry>{};
  }
  std::string Everything() {
    std::string out;
    auto chains = store_->ListAuditChains();
    EXPECT_TRUE(chains.ok());
    for (const std::string& chain : *chains)
      for (const auto& e : Chain(chain))
        out += e.actor + "|" + e.action + "|" + e.target + "|" + e.outcome + "|" + e.details_json + "\n";
    return out;
  }

  parley::testing::PortalWorld world_{"portal-audit"};
  const std::filesystem::path& dir_ = world_.dir;
  FakeClock& clock_ = world_.clock;
  std::unique_ptr<store::Store>& store_ = world_.store;
  std::unique_ptr<privacy::KeyRing>& keys_ = world_.keys;
  store::Tenant a_, b_;
  store::User admin_;
  std::unique_ptr<Portal> portal_;
};

TEST_F(PortalAuditTest, SignInsSignOutsAndPersonalPagesAreRecordedByIdOnly) {
  EXPECT_TRUE(Login("admin@a.example", "wrong password here").cookie.empty());
  EXPECT_TRUE(Login("stranger@nowhere.example", "wrong password here").cookie.empty());
  auto s = Login("admin@a.example");
  ASSERT_FALSE(s.cookie.empty());
  ASSERT_EQ(Call("GET", "/api/v1/calls?limit=2", "", {{"cookie", s.cookie}}).status, 200);
  ASSERT_EQ(Call("POST", "/api/v1/auth/logout", "", {{"cookie", s.cookie}, {"x-csrf-token", s.csrf}}).status, 204);

  auto a = Chain(a_.id);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].action, "auth.login");
  EXPECT_EQ(a[0].outcome, "failure");
  EXPECT_EQ(a[0].target, "user:" + admin_.id);
  EXPECT_EQ(a[1].action, "auth.login");
  EXPECT_EQ(a[1].outcome, "success");
  EXPECT_EQ(a[1].actor, "user:" + admin_.id);
  EXPECT_EQ(a[1].target.rfind("session:", 0), 0u);
  EXPECT_EQ(a[2].action, "cdr.view");
  EXPECT_EQ(a[2].target, "calls");
  EXPECT_NE(a[2].details_json.find("\"records\":2"), std::string::npos) << a[2].details_json;
  EXPECT_EQ(a[3].action, "auth.logout");
  auto platform = Chain(std::string(store::kPlatformAuditChain));
  ASSERT_EQ(platform.size(), 1u);
  EXPECT_EQ(platform[0].target, "email_index:" + keys_->EmailIndex("stranger@nowhere.example").substr(0, 16));

  const std::string all = Everything();
  for (const char* personal : {"admin@a.example", "stranger@nowhere.example", "nowhere.example", "Secret Caller",
                               "+4420794600", "192.0.2.1"})
    EXPECT_EQ(all.find(personal), std::string::npos) << personal << " in\n" << all;

  privacy::AuditLog audit(*store_, clock_);
  for (const std::string& chain : {a_.id, std::string(store::kPlatformAuditChain)}) {
    auto r = audit.Verify(chain);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->ok) << r->problem;
  }
}

TEST_F(PortalAuditTest, ViewerPagesWithoutPersonalDataAreNotCdrViews) {
  auto s = Login("viewer@a.example");
  ASSERT_EQ(Call("GET", "/api/v1/calls", "", {{"cookie", s.cookie}}).status, 200);
  for (const auto& e : Chain(a_.id)) EXPECT_NE(e.action, "cdr.view");
}

TEST_F(PortalAuditTest, TenantAdminViewsAndExportsOnlyTheirTenantsLog) {
  auto s = Login("admin@a.example");
  auto sb = Login("admin@b.example");
  ASSERT_EQ(Call("GET", "/api/v1/calls", "", {{"cookie", s.cookie}}).status, 200);
  auto page = Call("GET", "/api/v1/audit?limit=1", "", {{"cookie", s.cookie}});
  ASSERT_EQ(page.status, 200) << page.body;
  auto body = json::parse(page.body);
  ASSERT_EQ(body.at("entries").as_array().size(), 1u);
  EXPECT_EQ(body.at("entries").as_array()[0].at("seq").as_int64(), 2);  // newest first: login, cdr.view
  EXPECT_EQ(body.at("head").at("seq").as_int64(), 2);
  ASSERT_TRUE(body.at("next_cursor").is_string());
  auto next = Call("GET", "/api/v1/audit?limit=5&cursor=" + std::string(body.at("next_cursor").as_string()), "",
                   {{"cookie", s.cookie}});
  ASSERT_EQ(next.status, 200);
  auto next_body = json::parse(next.body);
  ASSERT_EQ(next_body.at("entries").as_array().size(), 1u);
  EXPECT_EQ(next_body.at("entries").as_array()[0].at("seq").as_int64(), 1);
  EXPECT_TRUE(next_body.at("next_cursor").is_null());
  EXPECT_EQ(Call("GET", "/api/v1/audit?cursor=zz", "", {{"cookie", s.cookie}}).status, 400);

  auto exported = Call("GET", "/api/v1/audit/export", "", {{"cookie", s.cookie}});
  ASSERT_EQ(exported.status, 200);
  EXPECT_NE(exported.Header("Content-Disposition").find("attachment"), std::string::npos);
  EXPECT_NE(exported.Header("Content-Type").find("ndjson"), std::string::npos);
  EXPECT_EQ(std::count(exported.body.begin(), exported.body.end(), '\n'), 3);  // login, view, the export itself
  EXPECT_NE(exported.body.find("\"action\":\"audit.export\""), std::string::npos);
  EXPECT_EQ(exported.body.find(b_.id), std::string::npos);

  // Tenant B's admin sees only B's chain (its own sign-in).
  auto other = Call("GET", "/api/v1/audit", "", {{"cookie", sb.cookie}});
  ASSERT_EQ(other.status, 200);
  EXPECT_EQ(json::parse(other.body).at("entries").as_array().size(), 1u);
  EXPECT_EQ(other.body.find(a_.id), std::string::npos);
  EXPECT_EQ(other.body.find(admin_.id), std::string::npos);

  // Analysts and viewers are refused, as is anonymous access.
  for (const char* who : {"analyst@a.example", "viewer@a.example"}) {
    auto w = Login(who);
    EXPECT_EQ(Call("GET", "/api/v1/audit", "", {{"cookie", w.cookie}}).status, 403) << who;
    EXPECT_EQ(Call("GET", "/api/v1/audit/export", "", {{"cookie", w.cookie}}).status, 403) << who;
  }
  EXPECT_EQ(Call("GET", "/api/v1/audit").status, 401);
}

TEST_F(PortalAuditTest, RoleChangesAreRecorded) {
  auto viewer = store_->FindUserByEmailIndex(keys_->EmailIndex("viewer@a.example"));
  ASSERT_TRUE(viewer.ok());
  auto s = Login("admin@a.example");
  auto res = Call("PATCH", "/api/v1/users/" + viewer->id + "/role", R"({"role":"analyst"})",
                  {{"cookie", s.cookie}, {"x-csrf-token", s.csrf}});
  ASSERT_EQ(res.status, 200) << res.body;
  auto a = Chain(a_.id);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a.back().action, "role.change");
  EXPECT_EQ(a.back().actor, "user:" + admin_.id);
  EXPECT_EQ(a.back().target, "user:" + viewer->id);
  // The viewer had no open session, so none was ended.
  EXPECT_EQ(a.back().details_json, R"({"from":"viewer","sessions_ended":0,"to":"analyst"})");
}

}  // namespace
}  // namespace parley::portal
