#include "portal/portal.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "crypto/crypto.h"
#include "portal/accounts.h"
#include "privacy/search_terms.h"
#include "support/fake_clock.h"
#include "support/portal_harness.h"

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
    std::filesystem::create_directories(dir_ / "web" / "assets");
    std::ofstream(dir_ / "web" / "index.html") << "<!doctype html><title>Parley</title>";
    std::ofstream(dir_ / "web" / "assets" / "app-1234.js") << "console.log(1)";
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

  void AddCalls(const std::string& tenant_id, int n, const std::string& number = "", const std::string& prefix = "call-") {
    world_.AddCalls(tenant_id, n, number, prefix);
  }
  http::Response Call(const std::string& method, const std::string& target, const std::string& body = "",
                      std::map<std::string, std::string> headers = {}) {
    return parley::testing::PortalRequest(*portal_, method, target, body, std::move(headers));
  }

  using Signed = parley::testing::SignedIn;
  Signed Login(const std::string& email) {
    Signed s = parley::testing::SignIn(*portal_, email, kPassword);
    EXPECT_FALSE(s.cookie.empty()) << email;
    return s;
  }

  parley::testing::PortalWorld world_{"portal"};
  const std::filesystem::path& dir_ = world_.dir;
  FakeClock& clock_ = world_.clock;
  std::unique_ptr<store::Store>& store_ = world_.store;
  std::unique_ptr<privacy::KeyRing>& keys_ = world_.keys;
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

// ?party= lists one party's calls, paged and counted, audited by kind only;
// viewers may not search, and what is no party is a 400.
TEST_F(PortalTest, CallsOfOneParty) {
  AddCalls(a_.id, 3, "+44 20 7946 0999", "x-");
  AddCalls(b_.id, 1, "+44 20 7946 0999", "b-");
  auto s = Login("admin@a.example");
  auto first = Call("GET", "/api/v1/calls?limit=2&party=0044%20(20)%207946%200999", "", {{"cookie", s.cookie}});
  ASSERT_EQ(first.status, 200) << first.body;
  auto body = json::parse(first.body);
  EXPECT_EQ(body.at("total").as_int64(), 3);
  EXPECT_EQ(body.at("party_kind").as_string(), "phone");
  ASSERT_EQ(body.at("calls").as_array().size(), 2u);
  EXPECT_EQ(body.at("calls").as_array()[0].at("id").as_string(), "x-2");
  EXPECT_EQ(body.at("calls").as_array()[1].at("id").as_string(), "x-1");
  const std::string next(body.at("next_cursor").as_string());
  auto second = json::parse(
      Call("GET", "/api/v1/calls?limit=2&party=%2B442079460999&cursor=" + next, "", {{"cookie", s.cookie}}).body);
  ASSERT_EQ(second.at("calls").as_array().size(), 1u);
  EXPECT_EQ(second.at("calls").as_array()[0].at("id").as_string(), "x-0");
  EXPECT_EQ(second.at("calls").as_array()[0].at("orig").at("number").as_string(), "+44 20 7946 0999");
  EXPECT_TRUE(second.at("next_cursor").is_null());
  // A form-encoded query: '+' is a space, so a phone number's own '+' is %2B.
  auto form = json::parse(Call("GET", "/api/v1/calls?party=%2B44+20+7946+0999", "", {{"cookie", s.cookie}}).body);
  EXPECT_EQ(form.at("total").as_int64(), 3);
  auto one = json::parse(Call("GET", "/api/v1/calls?party=%2B44207946001", "", {{"cookie", s.cookie}}).body);
  EXPECT_EQ(one.at("total").as_int64(), 1);
  EXPECT_EQ(one.at("calls").as_array()[0].at("id").as_string(), "call-1");
  auto none = json::parse(Call("GET", "/api/v1/calls?party=10.9.9.9", "", {{"cookie", s.cookie}}).body);
  EXPECT_EQ(none.at("total").as_int64(), 0);
  EXPECT_EQ(none.at("party_kind").as_string(), "ip");

  // Audited, even when nothing is found: the kind, never the value.
  auto audit = store_->ListAudit(a_.id, /*newest_first=*/true, 0, 10);
  ASSERT_TRUE(audit.ok());
  ASSERT_FALSE(audit->empty());
  EXPECT_EQ((*audit)[0].action, "cdr.view");
  EXPECT_NE((*audit)[0].details_json.find(R"("search":"ip")"), std::string::npos) << (*audit)[0].details_json;
  // The number in the forms it was searched with (a bare "7946" also turns
  // up, by chance, in the hex session hash every entry names).
  for (const auto& e : *audit) {
    for (const char* value : {"+44", "7946 0", "2079460", "10.9.9.9"}) {
      EXPECT_EQ(e.details_json.find(value), std::string::npos) << value << " in " << e.details_json;
    }
  }

  auto b = Login("admin@b.example");
  auto theirs = json::parse(Call("GET", "/api/v1/calls?party=%2B442079460999", "", {{"cookie", b.cookie}}).body);
  EXPECT_EQ(theirs.at("total").as_int64(), 1);
  EXPECT_EQ(theirs.at("calls").as_array()[0].at("id").as_string(), "b-0");

  auto viewer = Login("viewer@a.example");
  EXPECT_EQ(Call("GET", "/api/v1/calls?party=%2B442079460999", "", {{"cookie", viewer.cookie}}).status, 403);
  EXPECT_EQ(Call("GET", "/api/v1/calls", "", {{"cookie", viewer.cookie}}).status, 200);
  for (const char* bad : {"Alice", "12", "sip:", "x%40", "sip:alice%40"}) {
    SCOPED_TRACE(bad);
    auto refused = Call("GET", std::string("/api/v1/calls?party=") + bad, "", {{"cookie", s.cookie}});
    EXPECT_EQ(refused.status, 400);
    EXPECT_EQ(json::parse(refused.body).at("error").as_string(), "invalid_argument");
  }
  EXPECT_EQ(Call("GET", "/api/v1/calls?party=" + std::string(600, '1'), "", {{"cookie", s.cookie}}).status, 400);
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
  EXPECT_EQ(paths.at("/api/v1/calls").at("get").at("x-parley-role").as_string(), "signed-in");
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

// ---- Conferences, devices, quality, agents ----

// Commits, for `tenant_id`, a conference with two participants (one with
// quality), a call with quality and a device, all with personal data sealed
// the way ingest seals it.
void AddModel(store::Store& store, privacy::KeyRing& keys, const std::string& tenant_id, const std::string& agent_id) {
  auto key = keys.DataKeys(tenant_id)->current;
  store::BatchCommit batch;
  batch.tenant_id = tenant_id;
  batch.agent_id = agent_id;
  batch.batch_id = crypto::RandomUuid();

  wire::ConferenceRecord conf;
  conf.source = "dma";
  conf.id = "conf-1";
  conf.name = "Secret Meeting";
  store::StoredConference sc;
  sc.source = "dma";
  sc.conference_id = "conf-1";
  sc.start_at = 5000;
  sc.end_at = 8600;
  sc.room = "7001";
  sc.participant_count = 2;
  sc.max_resources_used = 2;
  crypto::Sealer sealer(key);
  sc.pii_sealed = privacy::SealConferencePii(sealer, tenant_id, conf);
  batch.conferences.push_back(sc);

  for (int i = 0; i < 2; ++i) {
    wire::ParticipantRecord p;
    p.source = "dma";
    p.id = "leg-" + std::to_string(i);
    p.party.name = "Secret Participant " + std::to_string(i);
    p.party.uri = "sip:secret" + std::to_string(i) + "@a.example";
    store::StoredParticipant sp;
    sp.source = "dma";
    sp.participant_id = p.id;
    sp.conference_id = "conf-1";
    sp.call_id = "call-" + std::to_string(i);
    sp.start_at = 5000 + i;
    sp.end_at = 8000;
    sp.duration_s = 2999;
    sp.model = "Group 500";
    sp.pii_sealed = privacy::SealParticipantPii(sealer, tenant_id, p);
    if (i == 0) {
      store::QualitySample q;
      q.party = "participant";
      q.direction = "rx";
      q.media = "video";
      q.packet_loss_pct_avg = 1.5;
      sp.quality.push_back(q);
    }
    batch.participants.push_back(sp);
  }

  wire::CallRecord call;
  call.source = "rprm";
  call.id = "q-call";
  call.orig.name = "Secret Caller Q";
  store::StoredCall c;
  c.source = "rprm";
  c.call_id = "q-call";
  c.start_at = 9000;
  c.end_at = 9060;
  c.duration_s = 60;
  c.status = "completed";
  c.pii_sealed = privacy::SealCallPii(sealer, tenant_id, call);
  store::QualitySample q;
  q.party = "orig";
  q.direction = "tx";
  q.media = "audio";
  q.mos = 4.1;
  c.quality.push_back(q);
  batch.calls.push_back(c);

  wire::DeviceRecord dev;
  dev.source = "rprm";
  dev.id = "dev-1";
  dev.name = "Secret Room";
  dev.serial = "SERIAL-SECRET";
  dev.mac = "00:e0:db:aa:bb:cc";
  store::StoredDevice d;
  d.source = "rprm";
  d.device_id = "dev-1";
  d.observed_at = 7000;
  d.device_type = "endpoint";
  d.model = "Group 700";
  d.version = "6.4.2";
  d.site = "Paris";
  d.status = "online";
  d.pii_sealed = privacy::SealDevicePii(sealer, tenant_id, dev);
  batch.devices.push_back(d);
  auto r = store.CommitBatch(batch);
  ASSERT_TRUE(r.ok()) << r.error().detail;
}

std::string AgentOf(store::Store& store, const std::string& tenant_id) {
  auto agents = store.ListAgents(tenant_id);
  EXPECT_TRUE(agents.ok() && !agents->empty());
  return agents.ok() && !agents->empty() ? (*agents)[0].id : std::string();
}

// Conferences list newest first with their participants, the participants' quality and personal data for admins.
TEST_F(PortalTest, ConferencesWithParticipantsAndQuality) {
  AddModel(*store_, *keys_, a_.id, AgentOf(*store_, a_.id));
  auto s = Login("admin@a.example");
  auto res = Call("GET", "/api/v1/conferences", "", {{"cookie", s.cookie}});
  ASSERT_EQ(res.status, 200) << res.body;
  auto body = json::parse(res.body);
  const auto& confs = body.at("conferences").as_array();
  ASSERT_EQ(confs.size(), 1u);
  const auto& c = confs[0].as_object();
  EXPECT_EQ(c.at("id").as_string(), "conf-1");
  EXPECT_EQ(c.at("name").as_string(), "Secret Meeting");
  EXPECT_EQ(c.at("room").as_string(), "7001");
  EXPECT_EQ(c.at("max_resources_used").as_int64(), 2);
  EXPECT_TRUE(c.at("scheduled_start").is_null());
  EXPECT_EQ(c.at("participants_stored").as_int64(), 2);
  const auto& legs = c.at("participants").as_array();
  ASSERT_EQ(legs.size(), 2u);
  EXPECT_EQ(legs[0].at("id").as_string(), "leg-0");
  EXPECT_EQ(legs[0].at("call_id").as_string(), "call-0");
  EXPECT_EQ(legs[0].at("party").at("name").as_string(), "Secret Participant 0");
  EXPECT_EQ(legs[0].at("party").at("model").as_string(), "Group 500");
  const auto& q = legs[0].at("quality").as_array();
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].at("media").as_string(), "video");
  EXPECT_EQ(q[0].at("packet_loss_pct_avg").as_double(), 1.5);
  EXPECT_FALSE(q[0].as_object().contains("mos")) << "unmeasured is absent, never 0";
  EXPECT_TRUE(legs[1].at("quality").as_array().empty());
  EXPECT_TRUE(body.at("next_cursor").is_null());
}

// Calls carry their quality samples.
TEST_F(PortalTest, CallsIncludeQuality) {
  AddModel(*store_, *keys_, a_.id, AgentOf(*store_, a_.id));
  auto s = Login("admin@a.example");
  auto body = json::parse(Call("GET", "/api/v1/calls", "", {{"cookie", s.cookie}}).body);
  const auto& calls = body.at("calls").as_array();
  ASSERT_EQ(calls[0].at("id").as_string(), "q-call");
  const auto& q = calls[0].at("quality").as_array();
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].at("party").as_string(), "orig");
  EXPECT_EQ(q[0].at("mos").as_double(), 4.1);
  EXPECT_TRUE(calls[1].at("quality").as_array().empty());
}

// The device inventory, with personal fields for admins only.
TEST_F(PortalTest, DevicesInventory) {
  AddModel(*store_, *keys_, a_.id, AgentOf(*store_, a_.id));
  auto s = Login("admin@a.example");
  auto res = Call("GET", "/api/v1/devices", "", {{"cookie", s.cookie}});
  ASSERT_EQ(res.status, 200) << res.body;
  auto body = json::parse(res.body);
  const auto& devices = body.at("devices").as_array();
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].at("model").as_string(), "Group 700");
  EXPECT_EQ(devices[0].at("type").as_string(), "endpoint");
  EXPECT_EQ(devices[0].at("status").as_string(), "online");
  EXPECT_EQ(devices[0].at("name").as_string(), "Secret Room");
  EXPECT_EQ(devices[0].at("serial").as_string(), "SERIAL-SECRET");
  EXPECT_EQ(devices[0].at("observed_at").as_string(), "1970-01-01T01:56:40Z");
  EXPECT_EQ(Call("GET", "/api/v1/devices?cursor=zz", "", {{"cookie", s.cookie}}).status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/devices?limit=501", "", {{"cookie", s.cookie}}).status, 400);
}

// A viewer sees conferences, devices and quality but no personal field of any of them.
TEST_F(PortalTest, ViewerSeesNoPersonalDataInModel) {
  AddModel(*store_, *keys_, a_.id, AgentOf(*store_, a_.id));
  auto s = Login("viewer@a.example");
  for (const char* path : {"/api/v1/conferences", "/api/v1/devices", "/api/v1/calls"}) {
    auto res = Call("GET", path, "", {{"cookie", s.cookie}});
    ASSERT_EQ(res.status, 200) << path;
    for (const char* secret : {"Secret", "SERIAL", "00:e0:db", "sip:secret"})
      EXPECT_EQ(res.body.find(secret), std::string::npos) << path << " leaks " << secret;
  }
  auto confs = json::parse(Call("GET", "/api/v1/conferences", "", {{"cookie", s.cookie}}).body);
  EXPECT_EQ(confs.at("conferences").as_array()[0].at("participants").as_array()[0].at("quality").as_array().size(), 1u);
}

// Tenant B sees none of A's conferences, devices or agents.
TEST_F(PortalTest, TenantsNeverSeeEachOthersModel) {
  AddModel(*store_, *keys_, a_.id, AgentOf(*store_, a_.id));
  auto s = Login("admin@b.example");
  for (const char* path : {"/api/v1/conferences", "/api/v1/devices", "/api/v1/agents"}) {
    auto res = Call("GET", path, "", {{"cookie", s.cookie}});
    ASSERT_EQ(res.status, 200) << path;
    EXPECT_EQ(res.body.find("Secret"), std::string::npos) << path;
    EXPECT_EQ(res.body.find("conf-1"), std::string::npos) << path;
    EXPECT_EQ(res.body.find("dev-1"), std::string::npos) << path;
  }
  EXPECT_TRUE(json::parse(Call("GET", "/api/v1/agents", "", {{"cookie", s.cookie}}).body).at("agents").as_array().empty());
}

// Conference pages follow next_cursor without overlap.
TEST_F(PortalTest, ConferencePagination) {
  std::string agent = AgentOf(*store_, a_.id);
  store::BatchCommit batch;
  batch.tenant_id = a_.id;
  batch.agent_id = agent;
  batch.batch_id = crypto::RandomUuid();
  auto key = keys_->DataKeys(a_.id)->current;
  for (int i = 0; i < 3; ++i) {
    wire::ConferenceRecord w;
    w.source = "dma";
    w.id = "k" + std::to_string(i);
    store::StoredConference c;
    c.source = "dma";
    c.conference_id = w.id;
    c.start_at = 100 + i;
    c.end_at = 200;
    crypto::Sealer sealer(key);
    c.pii_sealed = privacy::SealConferencePii(sealer, a_.id, w);
    batch.conferences.push_back(c);
  }
  ASSERT_TRUE(store_->CommitBatch(batch).ok());
  auto s = Login("admin@a.example");
  auto first = json::parse(Call("GET", "/api/v1/conferences?limit=2", "", {{"cookie", s.cookie}}).body);
  ASSERT_EQ(first.at("conferences").as_array().size(), 2u);
  EXPECT_EQ(first.at("conferences").as_array()[0].at("id").as_string(), "k2");
  std::string next(first.at("next_cursor").as_string());
  auto second = json::parse(Call("GET", "/api/v1/conferences?limit=2&cursor=" + next, "", {{"cookie", s.cookie}}).body);
  ASSERT_EQ(second.at("conferences").as_array().size(), 1u);
  EXPECT_EQ(second.at("conferences").as_array()[0].at("id").as_string(), "k0");
  EXPECT_TRUE(second.at("next_cursor").is_null());
  EXPECT_EQ(Call("GET", "/api/v1/conferences?limit=101", "", {{"cookie", s.cookie}}).status, 400);
  // A cursor of the device shape is not a conference cursor.
  std::string device_cursor = crypto::ToHex(R"(["a","b"])");
  EXPECT_EQ(Call("GET", "/api/v1/conferences?cursor=" + device_cursor, "", {{"cookie", s.cookie}}).status, 400);
}

// Agents: online while heartbeats arrive within 3 x 30 s, then offline; per-source health as reported.
TEST_F(PortalTest, AgentsOnlineOfflineAndSourceHealth) {
  std::string agent = AgentOf(*store_, a_.id);
  auto s = Login("admin@a.example");
  auto before = json::parse(Call("GET", "/api/v1/agents", "", {{"cookie", s.cookie}}).body);
  ASSERT_EQ(before.at("agents").as_array().size(), 1u);
  EXPECT_EQ(before.at("agents").as_array()[0].at("state").as_string(), "offline") << "never heard from";
  EXPECT_TRUE(before.at("agents").as_array()[0].at("last_heartbeat").is_null());

  ASSERT_TRUE(store_
                  ->RecordHeartbeat(a_.id, agent,
                                    R"({"agent_version":"1.2.3","uptime_s":77,"sources":[)"
                                    R"({"name":"dma-main","type":"dma","status":"ok","last_error":null},)"
                                    R"({"name":"rprm","type":"rprm","status":"failing","last_error":"HTTP 401"},)"
                                    R"({"name":"odd","type":"x","status":"weird"}]})",
                                    clock_.NowUnixSeconds())
                  .ok());
  clock_.Advance(std::chrono::seconds(90));
  auto body = json::parse(Call("GET", "/api/v1/agents", "", {{"cookie", s.cookie}}).body);
  const auto& a = body.at("agents").as_array()[0];
  EXPECT_EQ(a.at("state").as_string(), "online");
  EXPECT_EQ(a.at("agent_version").as_string(), "1.2.3");
  EXPECT_EQ(a.at("uptime_s").as_int64(), 77);
  const auto& sources = a.at("sources").as_array();
  ASSERT_EQ(sources.size(), 3u);
  EXPECT_EQ(sources[0].at("status").as_string(), "ok");
  EXPECT_TRUE(sources[0].at("last_error").is_null());
  EXPECT_EQ(sources[1].at("status").as_string(), "failing");
  EXPECT_EQ(sources[1].at("last_error").as_string(), "HTTP 401");
  EXPECT_EQ(sources[2].at("status").as_string(), "unknown");

  clock_.Advance(std::chrono::seconds(1));
  auto later = json::parse(Call("GET", "/api/v1/agents", "", {{"cookie", s.cookie}}).body);
  EXPECT_EQ(later.at("agents").as_array()[0].at("state").as_string(), "offline");
  // The last reported health stays visible while offline.
  EXPECT_EQ(later.at("agents").as_array()[0].at("sources").as_array().size(), 3u);
}

// The new routes need a session and are in the OpenAPI document.
TEST_F(PortalTest, ModelRoutesNeedSessionAndAreDocumented) {
  auto paths = json::parse(Call("GET", "/api/v1/openapi.json").body).at("paths").as_object();
  for (const char* p : {"/api/v1/conferences", "/api/v1/devices", "/api/v1/agents"}) {
    EXPECT_EQ(Call("GET", p).status, 401) << p;
    ASSERT_TRUE(paths.contains(p)) << p;
    EXPECT_EQ(paths.at(p).at("get").at("x-parley-role").as_string(), "signed-in");
  }
}

}  // namespace
}  // namespace parley::portal
