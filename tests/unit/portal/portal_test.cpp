#include "portal/portal.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "crypto/crypto.h"
#include "portal/accounts.h"
#include "support/fake_clock.h"

namespace parley::portal {
namespace {

namespace json = boost::json;
using parley::testing::FakeClock;

constexpr const char* kPassword = "correct horse battery";

// A portal over a real SQLite store in a temporary directory, with two
// tenants (A and B), an admin in each and a viewer in A, and calls in A.
class PortalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::UseMinimalPasswordHashCostForTests();
    char tmpl[] = "/tmp/parley-portal-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::filesystem::create_directories(dir_ / "web" / "assets");
    std::ofstream(dir_ / "web" / "index.html") << "<!doctype html><title>Parley</title>";
    std::ofstream(dir_ / "web" / "assets" / "app-1234.js") << "console.log(1)";
    store_ = std::move(store::OpenStore("sqlite:" + (dir_ / "p.db").string())).value();
    master_.emplace(crypto::MasterKey::FromBytesForTest(crypto::RandomKey()));
    keys_ = std::make_unique<privacy::KeyRing>(*store_, *master_);
    a_ = *CreateTenant(*store_, *keys_, "Tenant A", {"a.example"}, clock_.NowUnixSeconds());
    b_ = *CreateTenant(*store_, *keys_, "Tenant B", {"b.example"}, clock_.NowUnixSeconds());
    ASSERT_TRUE(CreateUser(*store_, *keys_, a_.id, "admin@a.example", kPassword, store::Role::kTenantAdmin, 0).ok());
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
  void TearDown() override {
    portal_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void AddCalls(const std::string& tenant_id, int n) {
    store::Agent agent;
    agent.id = crypto::RandomUuid();
    agent.tenant_id = tenant_id;
    agent.cert_fingerprint = crypto::RandomUuid();
    ASSERT_TRUE(store_->CreateAgent(agent).ok());
    auto key = *keys_->DataKey(tenant_id);
    store::BatchCommit batch;
    batch.tenant_id = tenant_id;
    batch.agent_id = agent.id;
    batch.batch_id = crypto::RandomUuid();
    for (int i = 0; i < n; ++i) {
      wire::CallRecord c;
      c.source = "dma";
      c.id = "call-" + std::to_string(i);
      c.orig.name = "Secret Caller " + std::to_string(i);
      c.orig.number = "+4420794600" + std::to_string(i);
      store::StoredCall s;
      s.tenant_id = tenant_id, s.source = c.source, s.call_id = c.id, s.agent_id = agent.id;
      s.start_at = 1000 + i, s.end_at = 2000 + i, s.duration_s = 60, s.status = "completed";
      s.pii_sealed = privacy::SealCallPii(key, tenant_id, c);
      batch.calls.push_back(s);
    }
    ASSERT_TRUE(store_->CommitBatch(batch).ok());
  }

  http::Response Call(const std::string& method, const std::string& target, const std::string& body = "",
                      std::map<std::string, std::string> headers = {}) {
    http::Request r;
    r.method = method;
    r.target = target;
    EXPECT_TRUE(http::ParseTarget(target, r.path, r.query).ok());
    r.body = body;
    r.remote_address = "192.0.2.1";
    if (!body.empty()) headers.emplace("content-type", "application/json");
    r.headers = std::move(headers);
    return portal_->Handle(r);
  }

  struct Signed {
    std::string cookie;
    std::string csrf;
  };
  Signed Login(const std::string& email) {
    auto res = Call("POST", "/api/v1/auth/login", json::serialize(json::object{{"email", email}, {"password", kPassword}}));
    EXPECT_EQ(res.status, 200) << res.body;
    std::string set = res.Header("Set-Cookie");
    return {set.substr(0, set.find(';')), std::string(json::parse(res.body).at("csrf_token").as_string())};
  }

  std::filesystem::path dir_;
  FakeClock clock_{1'800'000'000};
  std::unique_ptr<store::Store> store_;
  std::optional<crypto::MasterKey> master_;
  std::unique_ptr<privacy::KeyRing> keys_;
  store::Tenant a_, b_;
  std::unique_ptr<Portal> portal_;
};

// Sign-in sets a hardened cookie; the session then reads calls with personal data.
TEST_F(PortalTest, LoginThenListCallsWithPersonalData) {
  auto s = Login("Admin@A.example ");
  auto res = Call("GET", "/api/v1/calls", "", {{"cookie", s.cookie}});
  ASSERT_EQ(res.status, 200) << res.body;
  auto body = json::parse(res.body);
  EXPECT_EQ(body.at("total").as_int64(), 3);
  EXPECT_EQ(body.at("calls").as_array()[0].at("id").as_string(), "call-2");  // newest first
  EXPECT_EQ(body.at("calls").as_array()[0].at("orig").at("name").as_string(), "Secret Caller 2");
}

// Tenant B's admin sees none of tenant A's calls.
TEST_F(PortalTest, TenantsNeverSeeEachOthersCalls) {
  auto s = Login("admin@b.example");
  auto res = Call("GET", "/api/v1/calls", "", {{"cookie", s.cookie}});
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(json::parse(res.body).at("total").as_int64(), 0);
  EXPECT_EQ(res.body.find("Secret Caller"), std::string::npos);
  EXPECT_EQ(res.body.find(a_.id), std::string::npos);
}

// A viewer gets reports only: no personal fields.
TEST_F(PortalTest, ViewerSeesNoPersonalData) {
  auto s = Login("viewer@a.example");
  auto res = Call("GET", "/api/v1/calls", "", {{"cookie", s.cookie}});
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(res.body.find("Secret Caller"), std::string::npos);
  EXPECT_EQ(res.body.find("+4420794600"), std::string::npos);
}

// Pages follow next_cursor without overlap; a forged cursor is a 400.
TEST_F(PortalTest, KeysetPagination) {
  auto s = Login("admin@a.example");
  auto first = json::parse(Call("GET", "/api/v1/calls?limit=2", "", {{"cookie", s.cookie}}).body);
  ASSERT_EQ(first.at("calls").as_array().size(), 2u);
  std::string next(first.at("next_cursor").as_string());
  auto second = json::parse(Call("GET", "/api/v1/calls?limit=2&cursor=" + next, "", {{"cookie", s.cookie}}).body);
  ASSERT_EQ(second.at("calls").as_array().size(), 1u);
  EXPECT_EQ(second.at("calls").as_array()[0].at("id").as_string(), "call-0");
  EXPECT_TRUE(second.at("next_cursor").is_null());
  EXPECT_EQ(Call("GET", "/api/v1/calls?cursor=zz", "", {{"cookie", s.cookie}}).status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/calls?limit=0", "", {{"cookie", s.cookie}}).status, 400);
}

// Wrong passwords are 401 with the same answer for unknown accounts; then 429 with Retry-After.
TEST_F(PortalTest, FailedSignInsAreThrottled) {
  auto bad = [&](const std::string& email) {
    return Call("POST", "/api/v1/auth/login", json::serialize(json::object{{"email", email}, {"password", "wrong password!"}}));
  };
  auto unknown = bad("nobody@a.example");
  auto known = bad("admin@a.example");
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(unknown.body, known.body);
  bad("admin@a.example");
  auto limited = bad("admin@a.example");
  EXPECT_EQ(limited.status, 429);
  EXPECT_FALSE(limited.Header("Retry-After").empty());
}

// Sign-in needs a JSON body and refuses a foreign Origin.
TEST_F(PortalTest, LoginRefusesFormsAndForeignOrigins) {
  auto form = Call("POST", "/api/v1/auth/login", "", {{"content-type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(form.status, 415);
  auto foreign = Call("POST", "/api/v1/auth/login",
                      json::serialize(json::object{{"email", "admin@a.example"}, {"password", kPassword}}),
                      {{"origin", "https://evil.example"}});
  EXPECT_EQ(foreign.status, 403);
}

// Logout needs the CSRF token; afterwards the cookie is dead.
TEST_F(PortalTest, LogoutNeedsCsrfToken) {
  auto s = Login("admin@a.example");
  EXPECT_EQ(Call("POST", "/api/v1/auth/logout", "{}", {{"cookie", s.cookie}}).status, 403);
  EXPECT_EQ(Call("POST", "/api/v1/auth/logout", "{}", {{"cookie", s.cookie}, {"x-csrf-token", "forged"}}).status, 403);
  EXPECT_EQ(Call("POST", "/api/v1/auth/logout", "{}", {{"cookie", s.cookie}, {"x-csrf-token", s.csrf}}).status, 204);
  EXPECT_EQ(Call("GET", "/api/v1/session", "", {{"cookie", s.cookie}}).status, 401);
}

// Sessions end after the idle timeout and after the absolute timeout.
TEST_F(PortalTest, SessionsExpire) {
  auto s = Login("admin@a.example");
  clock_.Advance(std::chrono::seconds(599));
  EXPECT_EQ(Call("GET", "/api/v1/session", "", {{"cookie", s.cookie}}).status, 200);
  clock_.Advance(std::chrono::seconds(601));
  EXPECT_EQ(Call("GET", "/api/v1/session", "", {{"cookie", s.cookie}}).status, 401);
  auto t = Login("admin@a.example");
  for (int i = 0; i < 7; ++i) {  // active every 9 minutes, but past the 1 h absolute limit
    clock_.Advance(std::chrono::seconds(540));
    (void)Call("GET", "/api/v1/session", "", {{"cookie", t.cookie}});
  }
  EXPECT_EQ(Call("GET", "/api/v1/session", "", {{"cookie", t.cookie}}).status, 401);
}

// Only sign-in, health and OpenAPI answer without a session; every answer carries the security headers.
TEST_F(PortalTest, AnonymousAccessAndSecurityHeaders) {
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/calls").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/session").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/nope").status, 404);
  auto doc = Call("GET", "/api/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  auto paths = json::parse(doc.body).at("paths").as_object();
  for (const char* p : {"/api/v1/auth/login", "/api/v1/auth/logout", "/api/v1/session", "/api/v1/calls", "/healthz",
                        "/ingest/v1/enroll", "/ingest/v1/batches", "/ingest/v1/cursors", "/ingest/v1/heartbeat"})
    EXPECT_TRUE(paths.contains(p)) << p;
  EXPECT_EQ(paths.at("/api/v1/calls").at("get").at("x-parley-access").as_string(), "session");
  EXPECT_EQ(doc.Header("Content-Security-Policy"), std::string(kContentSecurityPolicy));
  EXPECT_EQ(doc.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(doc.Header("Strict-Transport-Security").find("max-age"), std::string::npos);
}

// The SPA: assets by path, client routes fall back to index.html, missing assets are 404.
TEST_F(PortalTest, ServesTheFrontEnd) {
  auto index = Call("GET", "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_NE(index.body.find("<title>Parley"), std::string::npos);
  EXPECT_EQ(Call("GET", "/calls/some-client-route").body, index.body);
  auto js = Call("GET", "/assets/app-1234.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_NE(js.Header("Cache-Control").find("immutable"), std::string::npos);
  EXPECT_EQ(Call("GET", "/assets/missing.js").status, 404);
  EXPECT_EQ(Call("GET", "/../../etc/passwd").body, index.body);  // never the file system
}

}  // namespace
}  // namespace parley::portal
