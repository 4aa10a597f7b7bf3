// The ingest service end to end in one process: a batch with every record
// type of the normalized model goes through IngestService::Handle (as an
// enrolled agent's client certificate presents it) and comes back out of the
// portal API; personal fields are sealed in the store on the way. Every test
// runs against both store backends (SQLite file, throw-away PostgreSQL).
#include "ingest/ingest.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <sstream>
#include <thread>

#include "crypto/crypto.h"
#include "crypto/pki.h"
#include "portal/accounts.h"
#include "portal/portal.h"
#include "privacy/search_terms.h"
#include "support/fake_clock.h"
#include "support/fault_injecting_store.h"
#include "support/postgres_fixture.h"
#include "wire/wire.h"

namespace parley::ingest {
namespace {

namespace json = boost::json;
using parley::testing::FakeClock;

constexpr const char* kPassword = "correct horse battery";

// Every record type, as an agent would send them (wire-v1.md examples).
constexpr std::string_view kBody =
    R"({"type":"conference","source":"dma-main","id":"conf-9","start":"2026-12-04T16:00:00Z","end":"2026-12-04T17:00:00Z","name":"Alice Weekly Sync","room":"7001","mcu":"RMX-1","participant_count":2,"max_resources_used":2,"scheduled_start":"2026-12-04T15:55:00Z","scheduled_end":"2026-12-04T17:00:00Z"})"
    "\n"
    R"({"type":"participant","source":"dma-main","id":"p-1","conference_id":"conf-9","call_id":"c-1","start":"2026-12-04T16:00:00Z","end":"2026-12-04T16:30:00Z","duration_s":1800,"protocol":"SIP","role":"chair","party":{"name":"Alice Liddell","number":"1001","uri":"sip:alice@a.example","ip":"10.0.0.1","model":"Group 500","version":"6.4.2","site":"Paris"},"quality":[{"party":"participant","direction":"rx","media":"video","codec":"H.264","bitrate_kbps":1920,"packet_loss_pct_avg":0.3,"packet_loss_pct_max":2.1,"jitter_ms_avg":6,"jitter_ms_max":31,"latency_ms_avg":42,"latency_ms_max":90,"mos":4.1}]})"
    "\n"
    R"({"type":"participant","source":"dma-main","id":"p-2","conference_id":"conf-9","start":"2026-12-04T16:05:00Z","end":"2026-12-04T16:30:00Z","duration_s":1500,"party":{"name":"Bob Builder"}})"
    "\n"
    R"({"type":"call","source":"dma-main","id":"c-1","start":"2026-12-04T16:00:00Z","end":"2026-12-04T16:30:00Z","duration_s":1800,"status":"completed","protocol":"SIP","call_type":"VMR","conference_id":"conf-9","orig":{"name":"Alice Liddell","number":"1001"},"dest":{"number":"7001"},"quality":[{"party":"orig","direction":"tx","media":"audio","codec":"OPUS","jitter_ms_avg":2.5}]})"
    "\n"
    R"({"type":"device","source":"rprm","id":"dev-1","observed_at":"2026-12-04T16:00:00Z","name":"Alice Office","device_type":"endpoint","model":"Group 500","version":"6.4.2","site":"Paris","serial":"8G1234XYZ","ip":"10.0.0.5","mac":"00:e0:db:01:02:03","owner":"alice.liddell","status":"online","registration":"ACTIVE","timezone":"Europe/Paris"})"
    "\n"
    R"({"type":"cursor","source":"dma-main","value":"2026-12-04T17:00:00Z#conf-9"})"
    "\n";

enum class Backend { kSqlite, kPostgres };

class IngestTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    crypto::UseMinimalPasswordHashCostForTests();
    char tmpl[] = "/tmp/parley-ingest-XXXXXX";
    dir_ = mkdtemp(tmpl);
    db_path_ = (dir_ / "p.db").string();
    if (GetParam() == Backend::kPostgres) pg_db_ = testing::PostgresServer::Get().CreateDatabase();
    OpenTheStore();
    master_.emplace(crypto::MasterKey::FromBytesForTest(crypto::RandomKey()));
    keys_ = std::make_unique<privacy::KeyRing>(*store_, *master_);
    tenant_ = *portal::CreateTenant(*store_, *keys_, "Tenant A", {"a.example"}, clock_.NowUnixSeconds());
    other_ = *portal::CreateTenant(*store_, *keys_, "Tenant B", {"b.example"}, clock_.NowUnixSeconds());
    ASSERT_TRUE(portal::CreateUser(*store_, *keys_, tenant_.id, "admin@a.example", kPassword,
                                   store::Role::kTenantAdmin, 0)
                    .ok());
    ASSERT_TRUE(
        portal::CreateUser(*store_, *keys_, tenant_.id, "viewer@a.example", kPassword, store::Role::kViewer, 0).ok());
    ASSERT_TRUE(portal::CreateUser(*store_, *keys_, other_.id, "admin@b.example", kPassword,
                                   store::Role::kTenantAdmin, 0)
                    .ok());

    auto ca = crypto::MakeCa("Parley test agent CA", 30);
    ASSERT_TRUE(ca.ok());
    ingest_ = std::make_unique<IngestService>(*store_, *keys_, *ca, clock_, IngestLimits{});
    // Enrolled the way /ingest/v1/enroll does it, minus the token: a
    // certificate signed for the agent and its fingerprint on the agent row.
    agent_cert_ = EnrollAgent(*ca, tenant_.id, "agent-a");
    portal_ = std::make_unique<portal::Portal>(*store_, *keys_, clock_, PortalOptions());
  }
  void TearDown() override {
    portal_.reset();
    ingest_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void OpenTheStore() {
    if (GetParam() == Backend::kSqlite) {
      store_ = std::move(store::OpenStore("sqlite:" + db_path_)).value();
      return;
    }
    testing::PostgresServer& pg = testing::PostgresServer::Get();
    auto opened = store::OpenStore(pg.AppUrl(pg_db_), store::StoreOpenOptions{pg.OwnerUrl(pg_db_)});
    ASSERT_TRUE(opened.ok()) << opened.error().detail;
    store_ = std::move(opened).value();
  }

  // Everything the database holds, as bytes: the SQLite file (WAL included),
  // or every PostgreSQL table's rows as text (read as the superuser).
  std::string DatabaseBytes() {
    std::string bytes;
    if (GetParam() == Backend::kSqlite) {
      for (const char* suffix : {"", "-wal"}) {
        std::ifstream f(db_path_ + suffix, std::ios::binary);
        bytes.append(std::istreambuf_iterator<char>(f), {});
      }
      return bytes;
    }
    const std::string url = testing::PostgresServer::Get().SuperUrl(pg_db_);
    const std::string tables = testing::PostgresServer::Query(
        url, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')"
             " AND NOT relispartition");
    std::istringstream names(tables);
    for (std::string table; std::getline(names, table);) {
      bytes += testing::PostgresServer::Query(url, "SELECT COALESCE(string_agg(t::text, E'\\n'), '') FROM " + table + " t");
    }
    return bytes;
  }

  static portal::PortalOptions PortalOptions() {
    portal::PortalOptions o;
    o.public_url = "https://parley.test";
    return o;
  }

  std::string EnrollAgent(const crypto::KeyAndCert& ca, const std::string& tenant_id, const std::string& name) {
    std::string key = crypto::GenerateEcPrivateKeyPem();
    auto csr = crypto::MakeCsr(key, name);
    EXPECT_TRUE(csr.ok());
    store::Agent agent;
    agent.id = crypto::RandomUuid();
    agent.tenant_id = tenant_id;
    agent.name = name;
    agent.created_at = clock_.NowUnixSeconds();
    auto cert = crypto::SignClientCsr(ca, *csr, agent.id, 30);
    EXPECT_TRUE(cert.ok());
    agent.cert_fingerprint = *crypto::CertFingerprint(*cert);
    EXPECT_TRUE(store_->CreateAgent(agent).ok());
    return *cert;
  }

  http::Response PostBatch(std::string_view body, const std::string& batch_id, const std::string& cert) {
    http::Request r;
    r.method = "POST";
    r.target = r.path = "/ingest/v1/batches";
    r.headers["content-type"] = "application/x-ndjson";
    r.headers["idempotency-key"] = batch_id;
    r.headers["content-digest"] = wire::ContentDigest(body);
    r.body = std::string(body);
    r.remote_address = "192.0.2.10";
    r.client_cert_pem = cert;
    return ingest_->Handle(r);
  }

  http::Response Heartbeat(const std::string& body) {
    http::Request r;
    r.method = "POST";
    r.target = r.path = "/ingest/v1/heartbeat";
    r.headers["content-type"] = "application/json";
    r.body = body;
    r.client_cert_pem = agent_cert_;
    return ingest_->Handle(r);
  }

  // GET on the portal as `email`; returns the parsed body.
  json::value Get(const std::string& email, const std::string& target) {
    auto res = GetResponse(email, target);
    EXPECT_EQ(res.status, 200) << res.body;
    last_body_ = res.body;
    return json::parse(res.body);
  }
  http::Response GetResponse(const std::string& email, const std::string& target) {
    http::Request login;
    login.method = "POST";
    login.target = login.path = "/api/v1/auth/login";
    login.headers["content-type"] = "application/json";
    login.body = json::serialize(json::object{{"email", email}, {"password", kPassword}});
    auto signed_in = portal_->Handle(login);
    EXPECT_EQ(signed_in.status, 200) << signed_in.body;
    std::string cookie = signed_in.Header("Set-Cookie");
    http::Request r;
    r.method = "GET";
    r.target = target;
    EXPECT_TRUE(http::ParseTarget(target, r.path, r.query).ok());
    r.headers["cookie"] = cookie.substr(0, cookie.find(';'));
    return portal_->Handle(r);
  }

  std::filesystem::path dir_;
  std::string db_path_;
  std::string pg_db_;
  FakeClock clock_{1'796'400'000};
  std::unique_ptr<store::Store> store_;
  std::optional<crypto::MasterKey> master_;
  std::unique_ptr<privacy::KeyRing> keys_;
  store::Tenant tenant_, other_;
  std::unique_ptr<IngestService> ingest_;
  std::string agent_cert_;
  std::unique_ptr<portal::Portal> portal_;
  std::string last_body_;
};

constexpr const char* kBatchId = "123e4567-e89b-12d3-a456-426614174000";

// Every record type posted once comes back through the API, linked, with quality and personal data.
TEST_P(IngestTest, EveryRecordTypeRoundTripsThroughTheApi) {
  auto res = PostBatch(kBody, kBatchId, agent_cert_);
  ASSERT_EQ(res.status, 200) << res.body;
  auto ack = json::parse(res.body);
  EXPECT_EQ(ack.at("accepted").as_int64(), 5);
  EXPECT_EQ(ack.at("already_present").as_int64(), 0);
  EXPECT_EQ(ack.at("cursors").at("dma-main").as_string(), "2026-12-04T17:00:00Z#conf-9");

  // Conference -> participants -> their call: the meeting can be rebuilt.
  auto confs = Get("admin@a.example", "/api/v1/conferences");
  const auto& c = confs.at("conferences").as_array().at(0);
  EXPECT_EQ(c.at("id").as_string(), "conf-9");
  EXPECT_EQ(c.at("name").as_string(), "Alice Weekly Sync");
  EXPECT_EQ(c.at("mcu").as_string(), "RMX-1");
  EXPECT_EQ(c.at("participant_count").as_int64(), 2);
  EXPECT_EQ(c.at("scheduled_start").as_string(), "2026-12-04T15:55:00Z");
  const auto& legs = c.at("participants").as_array();
  ASSERT_EQ(legs.size(), 2u);
  EXPECT_EQ(legs[0].at("role").as_string(), "chair");
  EXPECT_EQ(legs[0].at("call_id").as_string(), "c-1");
  EXPECT_EQ(legs[0].at("party").at("uri").as_string(), "sip:alice@a.example");
  EXPECT_EQ(legs[0].at("party").at("site").as_string(), "Paris");
  const auto& q = legs[0].at("quality").as_array().at(0);
  EXPECT_EQ(q.at("codec").as_string(), "H.264");
  EXPECT_EQ(q.at("bitrate_kbps").as_int64(), 1920);
  EXPECT_EQ(q.at("packet_loss_pct_max").as_double(), 2.1);
  EXPECT_EQ(q.at("jitter_ms_avg").as_double(), 6);
  EXPECT_EQ(q.at("latency_ms_max").as_double(), 90);
  EXPECT_EQ(q.at("mos").as_double(), 4.1);
  EXPECT_EQ(legs[1].at("party").at("name").as_string(), "Bob Builder");

  auto calls = Get("admin@a.example", "/api/v1/calls");
  const auto& call = calls.at("calls").as_array().at(0);
  EXPECT_EQ(call.at("id").as_string(), "c-1");
  EXPECT_EQ(call.at("conference_id").as_string(), "conf-9");
  const auto& cq = call.at("quality").as_array();
  ASSERT_EQ(cq.size(), 1u);
  EXPECT_EQ(cq[0].at("jitter_ms_avg").as_double(), 2.5);
  EXPECT_FALSE(cq[0].as_object().contains("packet_loss_pct_avg")) << "unmeasured is absent";

  auto devices = Get("admin@a.example", "/api/v1/devices");
  const auto& d = devices.at("devices").as_array().at(0);
  EXPECT_EQ(d.at("id").as_string(), "dev-1");
  EXPECT_EQ(d.at("type").as_string(), "endpoint");
  EXPECT_EQ(d.at("registration").as_string(), "ACTIVE");
  EXPECT_EQ(d.at("timezone").as_string(), "Europe/Paris");
  EXPECT_EQ(d.at("name").as_string(), "Alice Office");
  EXPECT_EQ(d.at("serial").as_string(), "8G1234XYZ");
  EXPECT_EQ(d.at("mac").as_string(), "00:e0:db:01:02:03");
  EXPECT_EQ(d.at("owner").as_string(), "alice.liddell");
}

// Personal fields never reach the database file in clear, and viewers never see them.
TEST_P(IngestTest, PersonalDataSealedAtRestAndHiddenFromViewers) {
  ASSERT_EQ(PostBatch(kBody, kBatchId, agent_cert_).status, 200);
  store_.reset();  // flush and close, then read the raw bytes
  const std::string bytes = DatabaseBytes();
  ASSERT_FALSE(bytes.empty());
  const char* secrets[] = {"Alice", "Bob Builder", "sip:alice", "10.0.0.1", "10.0.0.5", "8G1234XYZ",
                           "00:e0:db", "alice.liddell"};
  for (const char* secret : secrets) EXPECT_EQ(bytes.find(secret), std::string::npos) << secret;
  EXPECT_NE(bytes.find("Group 500"), std::string::npos) << "analytics fields stay in clear";

  OpenTheStore();
  keys_ = std::make_unique<privacy::KeyRing>(*store_, *master_);
  portal_ = std::make_unique<portal::Portal>(*store_, *keys_, clock_, PortalOptions());
  for (const char* path : {"/api/v1/conferences", "/api/v1/devices", "/api/v1/calls"}) {
    Get("viewer@a.example", path);
    for (const char* secret : secrets) EXPECT_EQ(last_body_.find(secret), std::string::npos) << path << " " << secret;
  }
  // Quality is not personal: viewers see it.
  auto confs = Get("viewer@a.example", "/api/v1/conferences");
  EXPECT_EQ(confs.at("conferences").as_array()[0].at("participants").as_array()[0].at("quality").as_array().size(), 1u);
}

// A retried batch is acknowledged as a duplicate; the same records in a new batch are already present.
TEST_P(IngestTest, RetriesStoreEverythingOnce) {
  ASSERT_EQ(PostBatch(kBody, kBatchId, agent_cert_).status, 200);
  auto again = json::parse(PostBatch(kBody, kBatchId, agent_cert_).body);
  EXPECT_TRUE(again.at("duplicate").as_bool());
  auto overlap = json::parse(PostBatch(kBody, "123e4567-e89b-12d3-a456-426614174001", agent_cert_).body);
  EXPECT_FALSE(overlap.at("duplicate").as_bool());
  EXPECT_EQ(overlap.at("accepted").as_int64(), 0);
  EXPECT_EQ(overlap.at("already_present").as_int64(), 5);
  auto confs = Get("admin@a.example", "/api/v1/conferences");
  EXPECT_EQ(confs.at("conferences").as_array().size(), 1u);
  EXPECT_EQ(confs.at("conferences").as_array()[0].at("participants").as_array()[0].at("quality").as_array().size(), 1u);
}

// Batches of one source sent at once, each naming the cursor it follows
// ("after"): one that reaches the store before its predecessor is stored
// waits for the agent's other batch here and is then stored after it; alone
// (its predecessor not here, or lost), it is answered 409 "aborted" with
// nothing stored, and is stored once its predecessor is.
TEST_P(IngestTest, ABatchThatOvertakesItsPredecessorWaitsForIt) {
  // The store behind a FaultInjectingStore (to hold a commit back), and an
  // agent enrolled under the rebuilt service's CA.
  auto* faulty = new testing::FaultInjectingStore(std::move(store_));
  store_.reset(faulty);
  auto ca = crypto::MakeCa("Parley test agent CA", 30);
  ASSERT_TRUE(ca.ok());
  ingest_ = std::make_unique<IngestService>(*store_, *keys_, *ca, clock_, IngestLimits{});
  const std::string agent = EnrollAgent(*ca, tenant_.id, "agent-b");
  auto body = [](const std::string& call, const std::string& value, const std::string& after) {
    return R"({"type":"call","source":"dma-main","id":")" + call +
           R"(","start":"2026-12-04T16:00:00Z","end":"2026-12-04T16:30:00Z","duration_s":1800,"status":"completed","protocol":"SIP","call_type":"PT-PT","orig":{"number":"1001"},"dest":{"number":"7001"}})"
           "\n" +
           wire::SerializeCursor({"dma-main", value, after}) + "\n";
  };
  const std::string first = body("c-1", "k1", ""), second = body("c-2", "k2", "k1"), third = body("c-3", "k3", "k2");
  const std::string id1 = "00000000-0000-4000-8000-000000000001", id2 = "00000000-0000-4000-8000-000000000002",
                    id3 = "00000000-0000-4000-8000-000000000003";

  auto alone = PostBatch(second, id2, agent);
  EXPECT_EQ(alone.status, 409) << alone.body;
  EXPECT_EQ(json::parse(alone.body).at("error").as_string(), "aborted");
  EXPECT_EQ(*store_->CountCalls(tenant_.id, std::nullopt), 0);

  // The first batch is held at the store's door; the second reaches the
  // store, is refused there, and must wait rather than answer 409.
  std::promise<void> first_at_store, second_at_store, release_first;
  std::shared_future<void> release = release_first.get_future().share();
  faulty->BeforeNext("CommitBatch", [&] {
    first_at_store.set_value();
    release.wait();
  });
  http::Response r1, r2;
  std::thread t1([&] { r1 = PostBatch(first, id1, agent); });
  ASSERT_EQ(first_at_store.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready) << r1.body;
  faulty->BeforeNext("CommitBatch", [&] { second_at_store.set_value(); });
  std::thread t2([&] { r2 = PostBatch(second, id2, agent); });
  ASSERT_EQ(second_at_store.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready) << r2.body;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  release_first.set_value();
  t1.join();
  t2.join();
  EXPECT_EQ(r1.status, 200) << r1.body;
  EXPECT_EQ(r2.status, 200) << r2.body;
  EXPECT_EQ(json::parse(r2.body).at("cursors").at("dma-main").as_string(), "k2");

  auto next = PostBatch(third, id3, agent);
  EXPECT_EQ(next.status, 200) << next.body;
  EXPECT_EQ(*store_->CountCalls(tenant_.id, std::nullopt), 3);
  // Resent after its successor was stored, a batch is still just a duplicate.
  auto resent = PostBatch(first, id1, agent);
  EXPECT_EQ(resent.status, 200) << resent.body;
  EXPECT_TRUE(json::parse(resent.body).at("duplicate").as_bool());
}

// A bad record refuses the whole batch with its line; nothing of the good lines is stored.
TEST_P(IngestTest, BadQualityRefusesWholeBatch) {
  std::string body(kBody);
  body.replace(body.find("\"mos\":4.1"), 9, "\"mos\":0.5");
  auto res = PostBatch(body, kBatchId, agent_cert_);
  ASSERT_EQ(res.status, 400) << res.body;
  auto err = json::parse(res.body);
  EXPECT_EQ(err.at("detail").as_string(), "line 2: field \"quality[0].mos\" must be 1..5");
  EXPECT_TRUE(Get("admin@a.example", "/api/v1/conferences").at("conferences").as_array().empty());
  EXPECT_TRUE(Get("admin@a.example", "/api/v1/devices").at("devices").as_array().empty());
}

// Records with implausible times are refused on their own: the rest of the
// batch is stored, the refused ones are counted once per new batch in the
// tenant's quarantine (reason, count, first and last seen), never twice
// for a resent batch.
TEST_P(IngestTest, ImplausibleTimesAreQuarantinedWithoutLosingTheBatch) {
  const std::string before_2000 =
      R"({"type":"call","source":"dma-main","id":"old-1","start":"1999-12-31T23:00:00Z","end":"1999-12-31T23:10:00Z","duration_s":600,"status":"completed","protocol":"SIP","call_type":"P2P","orig":{},"dest":{}})"
      "\n";
  // The fake clock is 2026-12-04T16:00:00Z; 31 hours later is too far ahead.
  const std::string future =
      R"({"type":"device","source":"rprm","id":"dev-f","observed_at":"2026-12-05T23:00:00Z","model":"Group 500"})"
      "\n";
  std::string body = std::string(kBody) + before_2000 + future;
  auto res = PostBatch(body, kBatchId, agent_cert_);
  ASSERT_EQ(res.status, 200) << res.body;
  auto first = json::parse(res.body);
  EXPECT_EQ(first.at("accepted").as_int64(), 5);
  EXPECT_EQ(first.at("quarantined").as_int64(), 2);
  const auto& refused = first.at("refused").as_array();
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_EQ(refused[0].at("line").as_int64(), 7);
  EXPECT_EQ(refused[0].at("reason").as_string(), "start is before the earliest accepted time");
  EXPECT_EQ(refused[1].at("line").as_int64(), 8);
  EXPECT_EQ(refused[1].at("type").as_string(), "device");
  EXPECT_EQ(refused[1].at("reason").as_string(), "observed_at is too far in the future");
  // The good records and the cursor are stored.
  EXPECT_EQ(Get("admin@a.example", "/api/v1/calls").at("calls").as_array().size(), 1u);
  EXPECT_EQ(Get("admin@a.example", "/api/v1/devices").at("devices").as_array().size(), 1u);

  // Resent: a duplicate, counted once.
  EXPECT_TRUE(json::parse(PostBatch(body, kBatchId, agent_cert_).body).at("duplicate").as_bool());
  clock_.Advance(std::chrono::seconds(60));
  ASSERT_EQ(PostBatch(before_2000, "123e4567-e89b-12d3-a456-426614174009", agent_cert_).status, 200);

  auto q = Get("admin@a.example", "/api/v1/quarantine").at("quarantine").as_array();
  ASSERT_EQ(q.size(), 2u);
  // Most recently seen first.
  EXPECT_EQ(q[0].at("record_type").as_string(), "call");
  EXPECT_EQ(q[0].at("source").as_string(), "dma-main");
  EXPECT_EQ(q[0].at("count").as_int64(), 2);
  EXPECT_EQ(q[0].at("agent_name").as_string(), "agent-a");
  EXPECT_EQ(q[0].at("first_seen").as_string(), "2026-12-04T16:00:00Z");
  EXPECT_EQ(q[0].at("last_seen").as_string(), "2026-12-04T16:01:00Z");
  EXPECT_EQ(q[1].at("record_type").as_string(), "device");
  EXPECT_EQ(q[1].at("count").as_int64(), 1);
  // Tenant B sees none of it.
  EXPECT_TRUE(Get("admin@b.example", "/api/v1/quarantine").at("quarantine").as_array().empty());
}

// Each agent has a token bucket of batches: over the burst, 429 with the
// seconds to wait; the bucket refills at the configured rate.
TEST_P(IngestTest, AgentsAreRateLimitedWithRetryAfter) {
  auto ca = crypto::MakeCa("Parley test agent CA 2", 30);
  ASSERT_TRUE(ca.ok());
  IngestLimits limits;
  limits.agent_batches_per_second = 1;
  limits.agent_burst_batches = 2;
  ingest_ = std::make_unique<IngestService>(*store_, *keys_, *ca, clock_, limits);
  std::string cert = EnrollAgent(*ca, tenant_.id, "agent-r");
  std::string other = EnrollAgent(*ca, tenant_.id, "agent-s");
  const char* ids[] = {"123e4567-e89b-12d3-a456-426614174100", "123e4567-e89b-12d3-a456-426614174101",
                       "123e4567-e89b-12d3-a456-426614174102", "123e4567-e89b-12d3-a456-426614174103"};
  EXPECT_EQ(PostBatch(kBody, ids[0], cert).status, 200);
  EXPECT_EQ(PostBatch(kBody, ids[1], cert).status, 200);
  auto limited = PostBatch(kBody, ids[2], cert);
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.Header("Retry-After"), "1");
  EXPECT_EQ(json::parse(limited.body).at("error").as_string(), "rate_limited");
  // Another agent has its own bucket.
  EXPECT_EQ(PostBatch(kBody, ids[3], other).status, 200);
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(PostBatch(kBody, ids[2], cert).status, 200);
}

// Another tenant's agent posting the same ids stores its own rows; neither tenant sees the other's.
TEST_P(IngestTest, TenantsStayApart) {
  auto ca = crypto::MakeCa("another CA", 30);
  ASSERT_TRUE(ca.ok());
  ingest_ = std::make_unique<IngestService>(*store_, *keys_, *ca, clock_, IngestLimits{});
  std::string other_cert = EnrollAgent(*ca, other_.id, "agent-b");
  ASSERT_EQ(PostBatch(kBody, kBatchId, agent_cert_).status, 200);
  std::string body(kBody);
  body.replace(body.find("Alice Weekly Sync"), 17, "Tenant B Meeting!");
  auto res = PostBatch(body, kBatchId, other_cert);  // same batch id, other tenant: not a duplicate
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json::parse(res.body).at("accepted").as_int64(), 5);
  Get("admin@b.example", "/api/v1/conferences");
  EXPECT_NE(last_body_.find("Tenant B Meeting!"), std::string::npos);
  EXPECT_EQ(last_body_.find("Alice Weekly Sync"), std::string::npos);
  Get("admin@a.example", "/api/v1/conferences");
  EXPECT_EQ(last_body_.find("Tenant B Meeting!"), std::string::npos);
}

// The ids of the calls /api/v1/calls?party=<party> lists for `email`, and its total.
std::pair<std::vector<std::string>, int64_t> PartyCalls(json::value body) {
  std::vector<std::string> ids;
  for (const auto& c : body.at("calls").as_array()) ids.emplace_back(c.at("id").as_string());
  return {ids, body.at("total").as_int64()};
}

constexpr std::string_view kPartyCalls =
    R"({"type":"call","source":"gw","id":"c-1","start":"2026-12-04T16:00:00Z","end":"2026-12-04T16:30:00Z","duration_s":1800,"status":"completed","protocol":"SIP","call_type":"PT-PT","orig":{"name":"Alice Liddell","number":"+44 20 7946 0000","ip":"10.1.2.3"},"dest":{"uri":"sips:Bob@Example.COM:5061;transport=tls"}})"
    "\n"
    R"({"type":"call","source":"gw","id":"c-2","start":"2026-12-04T16:10:00Z","end":"2026-12-04T16:20:00Z","duration_s":600,"status":"completed","protocol":"H.323","call_type":"PT-PT","orig":{"number":"1001"},"dest":{"number":"carol@example.com","ip":"2001:db8::7"}})"
    "\n";

// Calls are found by a party's number, SIP URI, e-mail or IP in any equal
// spelling; a record seen before adds no terms; another tenant's equal
// number is not found; the database holds only the terms' HMACs.
TEST_P(IngestTest, PartySearchFindsCallsByEqualSpellingsPerTenant) {
  auto ca = crypto::MakeCa("another CA", 30);
  ASSERT_TRUE(ca.ok());
  ingest_ = std::make_unique<IngestService>(*store_, *keys_, *ca, clock_, IngestLimits{});
  const std::string other_cert = EnrollAgent(*ca, other_.id, "agent-b");
  auto res = PostBatch(kPartyCalls, kBatchId, agent_cert_);
  ASSERT_EQ(res.status, 200) << res.body;
  std::string theirs(kPartyCalls.substr(0, kPartyCalls.find('\n') + 1));
  theirs.replace(theirs.find("\"c-1\""), 5, "\"b-1\"");
  ASSERT_EQ(PostBatch(theirs, kBatchId, other_cert).status, 200);

  using Ids = std::vector<std::string>;
  const std::string calls = "/api/v1/calls?party=";
  for (const char* party : {"%2B44%2020%207946%200000", "%2B44%20(0)20-7946-0000", "0044.20.7946.0000",
                            "tel:%2B442079460000", "10.001.2.3", "::ffff:10.1.2.3", "sip:Bob@example.com",
                            "SIPS:Bob@EXAMPLE.com", "bob@example.com"}) {
    SCOPED_TRACE(party);
    auto found = Get("admin@a.example", calls + party);
    EXPECT_EQ(PartyCalls(found), (std::pair<Ids, int64_t>{{"c-1"}, 1}));
  }
  EXPECT_EQ(Get("admin@a.example", calls + "sip:bob@example.com").at("total").as_int64(), 0);  // user part case
  EXPECT_EQ(PartyCalls(Get("admin@a.example", calls + "Carol@Example.com")), (std::pair<Ids, int64_t>{{"c-2"}, 1}));
  EXPECT_EQ(PartyCalls(Get("admin@a.example", calls + "sip:carol@example.com")), (std::pair<Ids, int64_t>{{"c-2"}, 1}));
  EXPECT_EQ(PartyCalls(Get("admin@a.example", calls + "2001:DB8:0:0::7")), (std::pair<Ids, int64_t>{{"c-2"}, 1}));
  auto phone = Get("admin@a.example", calls + "%2B442079460000");
  EXPECT_EQ(phone.at("party_kind").as_string(), "phone");
  EXPECT_EQ(phone.at("calls").as_array().at(0).at("orig").at("name").as_string(), "Alice Liddell");
  EXPECT_EQ(Get("admin@a.example", "/api/v1/calls").at("total").as_int64(), 2);  // no filter: every call
  // Tenant B's call with the same number is B's alone.
  EXPECT_EQ(PartyCalls(Get("admin@b.example", calls + "%2B442079460000")), (std::pair<Ids, int64_t>{{"b-1"}, 1}));

  // c-1 again with another number, in a new batch: already present, no new term.
  std::string again(kPartyCalls.substr(0, kPartyCalls.find('\n') + 1));
  again.replace(again.find("+44 20 7946 0000"), 16, "+1 212 555 0100 ");
  res = PostBatch(again, "123e4567-e89b-12d3-a456-426614174001", agent_cert_);
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(json::parse(res.body).at("already_present").as_int64(), 1);
  EXPECT_EQ(Get("admin@a.example", calls + "%2B12125550100").at("total").as_int64(), 0);
  EXPECT_EQ(PostBatch(kPartyCalls, kBatchId, agent_cert_).status, 200);  // the duplicate batch
  EXPECT_EQ(Get("admin@a.example", calls + "%2B442079460000").at("total").as_int64(), 1);

  // Viewers may not search by personal data; what is no party is a 400.
  auto viewer = GetResponse("viewer@a.example", calls + "%2B442079460000");
  EXPECT_EQ(viewer.status, 403) << viewer.body;
  for (const char* bad : {"hello", "12", "sip:@x", "a%40"}) {
    SCOPED_TRACE(bad);
    auto refused = GetResponse("admin@a.example", calls + bad);
    EXPECT_EQ(refused.status, 400) << refused.body;
    auto body = json::parse(refused.body);
    EXPECT_EQ(body.at("error").as_string(), "invalid_argument");
    EXPECT_NE(body.at("detail").as_string().find("party"), std::string::npos);
  }

  // At rest: the terms' HMACs, never the values.
  const std::string term = privacy::SearchTerm(keys_->SearchKey(tenant_.id), {privacy::SearchKind::kPhone, "+442079460000"});
  // PostgreSQL keeps it as the 64-bit number its hex spells (migration 0015).
  const std::string stored =
      GetParam() == Backend::kSqlite ? term : std::to_string(static_cast<int64_t>(std::stoull(term, nullptr, 16)));
  store_.reset();
  const std::string bytes = DatabaseBytes();
  EXPECT_NE(bytes.find(stored), std::string::npos) << stored;
  for (const char* clear : {"442079460000", "Bob@example.com", "bob@example.com", "carol@", "10.1.2.3", "2001:db8::7"})
    EXPECT_EQ(bytes.find(clear), std::string::npos) << clear;
  OpenTheStore();
  keys_ = std::make_unique<privacy::KeyRing>(*store_, *master_);
  ingest_ = std::make_unique<IngestService>(*store_, *keys_, *ca, clock_, IngestLimits{});
  portal_ = std::make_unique<portal::Portal>(*store_, *keys_, clock_, PortalOptions());
  EXPECT_EQ(Get("admin@a.example", calls + "%2B442079460000").at("total").as_int64(), 1);  // terms survive a reopen
}

// A heartbeat's source health shows on /api/v1/agents, apart from any call quality.
TEST_P(IngestTest, HeartbeatShowsAsAgentAndSourceHealth) {
  auto hb = Heartbeat(
      R"({"agent_version":"0.3.0","uptime_s":12,"sources":[{"name":"dma-main","type":"dma","status":"degraded","last_error":"HTTP 503","secret":"x"}]})");
  ASSERT_EQ(hb.status, 200) << hb.body;
  auto agents = Get("viewer@a.example", "/api/v1/agents");
  const auto& a = agents.at("agents").as_array().at(0);
  EXPECT_EQ(a.at("name").as_string(), "agent-a");
  EXPECT_EQ(a.at("state").as_string(), "online");
  EXPECT_EQ(a.at("agent_version").as_string(), "0.3.0");
  const auto& src = a.at("sources").as_array().at(0);
  EXPECT_EQ(src.at("name").as_string(), "dma-main");
  EXPECT_EQ(src.at("status").as_string(), "degraded");
  EXPECT_EQ(src.at("last_error").as_string(), "HTTP 503");
  EXPECT_FALSE(src.as_object().contains("secret"));
  clock_.Advance(std::chrono::seconds(91));
  EXPECT_EQ(Get("viewer@a.example", "/api/v1/agents").at("agents").as_array().at(0).at("state").as_string(),
            "offline");
}

INSTANTIATE_TEST_SUITE_P(Backends, IngestTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
                         });

}  // namespace
}  // namespace parley::ingest
