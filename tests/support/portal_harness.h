// What the portal unit tests share: a throw-away SQLite store with a master
// key and key ring in a temporary directory, requests through
// Portal::Handle as the HTTP server would hand them over, sign-in, and calls
// stored the way ingest stores them (personal fields sealed, search terms).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "crypto/crypto.h"
#include "http/http.h"
#include "portal/portal.h"
#include "privacy/pii.h"
#include "privacy/search_terms.h"
#include "store/store.h"
#include "support/fake_clock.h"

namespace parley::testing {

// The store, keys and clock of one test; the directory goes with it.
// Declare it before anything (a Portal) that holds references into it.
class PortalWorld {
 public:
  explicit PortalWorld(const std::string& name) {
    crypto::UseMinimalPasswordHashCostForTests();
    std::string tmpl = "/tmp/parley-" + name + "-XXXXXX";
    dir = mkdtemp(tmpl.data());
    store = std::move(store::OpenStore("sqlite:" + (dir / "p.db").string())).value();
    master.emplace(crypto::MasterKey::FromBytesForTest(crypto::RandomKey()));
    keys = std::make_unique<privacy::KeyRing>(*store, *master);
  }
  ~PortalWorld() {
    keys.reset();
    store.reset();
    std::filesystem::remove_all(dir);
  }
  PortalWorld(const PortalWorld&) = delete;
  PortalWorld& operator=(const PortalWorld&) = delete;

  // `n` calls of a new agent of the tenant, ids prefix0..; the caller's
  // number is `number` or a distinct one per call.
  void AddCalls(const std::string& tenant_id, int n, const std::string& number = "",
                const std::string& prefix = "call-") {
    store::Agent agent;
    agent.id = crypto::RandomUuid();
    agent.tenant_id = tenant_id;
    agent.cert_fingerprint = crypto::RandomUuid();
    ASSERT_TRUE(store->CreateAgent(agent).ok());
    auto key = keys->DataKeys(tenant_id)->current;
    store::BatchCommit batch;
    batch.tenant_id = tenant_id;
    batch.agent_id = agent.id;
    batch.batch_id = crypto::RandomUuid();
    for (int i = 0; i < n; ++i) {
      wire::CallRecord c;
      c.source = "dma";
      c.id = prefix + std::to_string(i);
      c.orig.name = "Secret Caller " + std::to_string(i);
      c.orig.number = number.empty() ? "+4420794600" + std::to_string(i) : number;
      store::StoredCall s;
      s.tenant_id = tenant_id, s.source = c.source, s.call_id = c.id, s.agent_id = agent.id;
      s.start_at = 1000 + i, s.end_at = 2000 + i, s.duration_s = 60, s.status = "completed";
      crypto::Sealer sealer(key);
      s.pii_sealed = privacy::SealCallPii(sealer, tenant_id, c);
      privacy::AddSearchTerms(keys->SearchKey(tenant_id), privacy::PartySearchValues(c.orig), s.search_terms);
      batch.calls.push_back(s);
    }
    ASSERT_TRUE(store->CommitBatch(batch).ok());
  }

  std::filesystem::path dir;
  FakeClock clock{1'800'000'000};  // 2027-01-15
  std::unique_ptr<store::Store> store;
  std::optional<crypto::MasterKey> master;
  std::unique_ptr<privacy::KeyRing> keys;
};

// A request as the HTTP server hands it to the portal.
inline http::Response PortalRequest(portal::Portal& portal, const std::string& method, const std::string& target,
                                    const std::string& body = "", std::map<std::string, std::string> headers = {},
                                    const std::string& address = "192.0.2.1") {
  http::Request r;
  r.method = method;
  r.target = target;
  EXPECT_TRUE(http::ParseTarget(target, r.path, r.query).ok());
  r.body = body;
  r.remote_address = address;
  if (!body.empty()) headers.emplace("content-type", "application/json");
  r.headers = std::move(headers);
  return portal.Handle(r);
}

struct SignedIn {
  std::string cookie;  // "name=value"
  std::string csrf;
};

// The session of a successful sign-in answer.
inline SignedIn FromSignIn(const http::Response& res) {
  std::string set = res.Header("Set-Cookie");
  return {set.substr(0, set.find(';')),
          std::string(boost::json::parse(res.body).at("csrf_token").as_string())};
}

// POST /api/v1/auth/login; an empty session unless the answer is 200.
inline SignedIn SignIn(portal::Portal& portal, const std::string& email, const std::string& password) {
  auto res = PortalRequest(portal, "POST", "/api/v1/auth/login",
                           boost::json::serialize(boost::json::object{{"email", email}, {"password", password}}));
  return res.status == 200 ? FromSignIn(res) : SignedIn{};
}

}  // namespace parley::testing
