#include "devsim/dma_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <atomic>
#include <regex>
#include <set>
#include <thread>

#include "common/time_format.h"
#include "crypto/crypto.h"
#include "support/fake_clock.h"

namespace parley::devsim {
namespace {

namespace json = boost::json;
using parley::testing::FakeClock;

const int64_t kOrigin = *ParseRfc3339("2026-12-04T16:00:00Z");  // a Friday

struct Fixture {
  explicit Fixture(uint64_t seed = 42, int days = 2, bool live = false, std::optional<int64_t> calls = std::nullopt,
                   ApiOptions options = {}, bool prerender_history = false)
      : clock(kOrigin) {
    WorkloadOptions o;
    o.seed = seed;
    o.origin_unix = kOrigin;
    o.history_days = days;
    o.live = live;
    o.total_calls = calls;
    workload = std::move(Workload::Create(o)).value();
    handler = MakeDmaHandler(*workload, clock, {"admin", "s3cret"}, std::move(options), prerender_history);
  }
  FakeClock clock;
  std::unique_ptr<Workload> workload;
  http::Handler handler;
};

http::Request Get(const std::string& path, std::map<std::string, std::string> query = {},
                  std::string user_password = "admin:s3cret") {
  http::Request r;
  r.method = "GET";
  r.path = path;
  r.target = path;
  r.query = std::move(query);
  if (!user_password.empty()) r.headers["authorization"] = "Basic " + crypto::Base64Encode(user_password);
  r.headers["accept"] = "application/vnd.plcm.plcm-call-list+json";
  return r;
}

json::object Body(const http::Response& r) { return json::parse(r.body).as_object(); }

const json::array& CallsOf(const json::object& body) {
  return body.at("plcm-call-list").as_object().at("plcm-call").as_array();
}

// Walks /api/rest/calls with `limit` until an empty page (the only one whose
// `next` is null); returns the calls.
json::array WalkAll(const http::Handler& handler, int limit, int* pages = nullptr) {
  json::array all;
  std::optional<std::string> after;
  for (int i = 0; i < 100000; ++i) {
    std::map<std::string, std::string> q{{"limit", std::to_string(limit)}};
    if (after) q["after"] = *after;
    http::Response r = handler(Get("/api/rest/calls", q));
    EXPECT_EQ(r.status, 200) << r.body;
    json::object body = Body(r);
    const json::array& calls = CallsOf(body);
    EXPECT_LE(calls.size(), static_cast<size_t>(limit));
    for (const auto& c : calls) all.push_back(c);
    if (pages) ++*pages;
    EXPECT_EQ(body.at("next").is_null(), calls.empty());
    if (calls.empty()) break;
    EXPECT_EQ(std::string(body.at("next").as_string()),
              std::to_string(*ParseRfc3339(calls.back().at("endTime").as_string())) + "." +
                  std::string(calls.back().at("callIdentifier").as_string()));
    after = std::string(body.at("next").as_string());
  }
  return all;
}

TEST(DmaApiTest, SameSeedGivesByteIdenticalPages) {
  Fixture a(42), b(42), c(43);
  for (const char* limit : {"1", "7", "100", "1000"}) {
    auto ra = a.handler(Get("/api/rest/calls", {{"limit", limit}}));
    auto rb = b.handler(Get("/api/rest/calls", {{"limit", limit}}));
    auto rc = c.handler(Get("/api/rest/calls", {{"limit", limit}}));
    EXPECT_EQ(ra.status, 200);
    EXPECT_EQ(ra.body, rb.body);
    EXPECT_NE(ra.body, rc.body);
  }
}

// --prerender-history serves the same bytes and headers: every page of the
// walk, an empty page, and in live mode the calls that end after start (not
// rendered before) beside those that were.
TEST(DmaApiTest, PrerenderedHistoryServesTheSameBytes) {
  for (const bool live : {false, true}) {
    Fixture built(42, 2, live, 1500), prerendered(42, 2, live, 1500, {}, /*prerender_history=*/true);
    if (live) {
      built.clock.Advance(std::chrono::hours(2));
      prerendered.clock.Advance(std::chrono::hours(2));
    }
    std::optional<std::string> after;
    int pages = 0;
    for (;; ++pages) {
      std::map<std::string, std::string> q{{"limit", pages % 2 ? "7" : "300"}};
      if (after) q["after"] = *after;
      http::Response a = built.handler(Get("/api/rest/calls", q));
      http::Response b = prerendered.handler(Get("/api/rest/calls", q));
      ASSERT_EQ(a.status, 200);
      EXPECT_EQ(a.body, b.body);
      EXPECT_EQ(a.headers, b.headers);
      json::object body = Body(b);
      if (CallsOf(body).empty()) break;
      after = std::string(body.at("next").as_string());
    }
    EXPECT_GT(pages, 2);
  }
}

TEST(DmaApiTest, ResponseHasTheAgreedShape) {
  Fixture f;
  http::Response r = f.handler(Get("/api/rest/calls", {{"limit", "50"}}));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "application/vnd.plcm.plcm-call-list+json");
  json::object body = Body(r);
  EXPECT_EQ(body.size(), 2u);
  ASSERT_TRUE(body.at("next").is_string());
  const json::array& calls = CallsOf(body);
  ASSERT_EQ(calls.size(), 50u);
  const std::regex time_re(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2})");
  const std::regex uuid_re(R"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})");
  const std::vector<std::string> keys = {"callIdentifier", "callType", "callSignaling", "originator",
                                         "originatorRegisteredName", "destination", "dialString", "startTime",
                                         "endTime", "callDuration", "callStatus", "confUuid", "bitRate",
                                         "failureSignalingCode", "originatorDetails", "destinationDetails"};
  for (const auto& v : calls) {
    const json::object& c = v.as_object();
    std::vector<std::string> got;
    for (const auto& kv : c) got.emplace_back(kv.key());
    EXPECT_EQ(got, keys);
    EXPECT_TRUE(std::regex_match(std::string(c.at("callIdentifier").as_string()), uuid_re));
    std::string type(c.at("callType").as_string());
    EXPECT_TRUE(type == "PT-PT" || type == "VMR");
    if (type == "VMR") {
      EXPECT_TRUE(std::regex_match(std::string(c.at("confUuid").as_string()), uuid_re));
    } else {
      EXPECT_TRUE(c.at("confUuid").is_null());
    }
    std::string sig(c.at("callSignaling").as_string());
    EXPECT_TRUE(sig == "SIP" || sig == "H323");
    EXPECT_EQ(c.at("callStatus").as_string(), "ENDED");
    EXPECT_TRUE(c.at("bitRate").is_int64());
    for (const char* leg : {"originatorDetails", "destinationDetails"}) {
      const json::object& d = c.at(leg).as_object();
      for (const char* k : {"deviceName", "deviceModel", "deviceVersion", "ipAddress", "site"})
        EXPECT_TRUE(d.at(k).is_string()) << k;
      EXPECT_EQ(d.at("aliases").as_array().size(), 2u);
    }
    EXPECT_EQ(c.at("originatorRegisteredName"), c.at("originatorDetails").as_object().at("deviceName"));
    if (sig == "SIP") {
      EXPECT_EQ(c.at("originator").as_string().subview().substr(0, 4), "sip:");
    }
    // Times: the DMA's local format, parseable, in order.
    std::string start(c.at("startTime").as_string()), end(c.at("endTime").as_string());
    EXPECT_TRUE(std::regex_match(start, time_re)) << start;
    EXPECT_TRUE(std::regex_match(end, time_re)) << end;
    auto s = ParseRfc3339(start), e = ParseRfc3339(end);
    ASSERT_TRUE(s && e);
    EXPECT_LE(*s, *e);
    EXPECT_LE(*e, kOrigin);
    // Failed calls carry a cause and no connected time; others the reverse.
    std::string failure(c.at("failureSignalingCode").as_string());
    std::string duration(c.at("callDuration").as_string());
    if (failure.empty()) {
      int h = std::stoi(duration.substr(0, 2)), m = std::stoi(duration.substr(3, 2)), sec = std::stoi(duration.substr(6));
      EXPECT_EQ(h * 3600 + m * 60 + sec, *e - *s);
    } else {
      EXPECT_EQ(duration, "00:00:00");
      EXPECT_NE(std::find(FailureCodes().begin(), FailureCodes().end(), failure), FailureCodes().end());
    }
  }
}

TEST(DmaApiTest, FailedCallsAppearWithSipCauses) {
  Fixture f(42, 14);
  json::array all = WalkAll(f.handler, 1000);
  int failed = 0;
  for (const auto& v : all) {
    const json::object& c = v.as_object();
    if (!c.at("failureSignalingCode").as_string().empty()) {
      ++failed;
      EXPECT_EQ(c.at("callDuration").as_string(), "00:00:00");
    }
  }
  EXPECT_GT(failed, 0);
}

TEST(DmaApiTest, PagingWalksEveryCallOnceAndMatchesOneBigPage) {
  Fixture f(42, 2);
  int pages = 0;
  json::array walked = WalkAll(f.handler, 7, &pages);
  http::Response big = f.handler(Get("/api/rest/calls", {{"limit", "1000"}}));
  json::object big_body = Body(big);
  ASSERT_LT(CallsOf(big_body).size(), 1000u);
  ASSERT_TRUE(big_body.at("next").is_string());  // even on the last page
  EXPECT_EQ(json::serialize(walked), json::serialize(CallsOf(big_body)));
  EXPECT_EQ(walked.size(), f.workload->HistoryCalls().size());
  EXPECT_EQ(pages, static_cast<int>((walked.size() + 6) / 7 + 1));  // the walk ends on an empty page
  std::set<std::string> ids;
  for (const auto& c : walked) ids.insert(std::string(c.at("callIdentifier").as_string()));
  EXPECT_EQ(ids.size(), walked.size());
  http::Response count = f.handler(Get("/api/rest/calls/count"));
  EXPECT_EQ(count.status, 200);
  EXPECT_EQ(Body(count).at("count").as_int64(), static_cast<int64_t>(walked.size()));
}

TEST(DmaApiTest, ExactCallCountIsServed) {
  Fixture f(42, 2, false, 250);
  EXPECT_EQ(WalkAll(f.handler, 100).size(), 250u);
}

TEST(DmaApiTest, OnlyEndedCallsAreListedAndLiveModeRevealsNewOnes) {
  Fixture f(42, 1, /*live=*/true);
  f.clock.Set(kOrigin - 6 * 3600);
  json::array early = WalkAll(f.handler, 1000);
  for (const auto& c : early) EXPECT_LE(*ParseRfc3339(c.at("endTime").as_string()), kOrigin - 6 * 3600);
  f.clock.Set(kOrigin);
  json::array at_origin = WalkAll(f.handler, 1000);
  EXPECT_GT(at_origin.size(), early.size());
  // The agent's view: resume from the last call it saw.
  const json::object& last = at_origin.back().as_object();
  CallKey key{*ParseRfc3339(last.at("endTime").as_string()), 0, 0};
  auto id = ParseUuid(last.at("callIdentifier").as_string());
  ASSERT_TRUE(id);
  key.id_hi = id->first;
  key.id_lo = id->second;
  const std::string token = EncodePageToken(key);
  auto page = Body(f.handler(Get("/api/rest/calls", {{"after", token}})));
  EXPECT_TRUE(CallsOf(page).empty());
  EXPECT_TRUE(page.at("next").is_null());
  f.clock.Advance(std::chrono::hours(2));  // Friday 18:00 UTC: Boston is busy
  page = Body(f.handler(Get("/api/rest/calls", {{"after", token}, {"limit", "1000"}})));
  ASSERT_FALSE(CallsOf(page).empty());
  for (const auto& c : CallsOf(page)) {
    int64_t end = *ParseRfc3339(c.at("endTime").as_string());
    EXPECT_GT(end, kOrigin);
    EXPECT_LE(end, kOrigin + 2 * 3600);
  }
}

TEST(DmaApiTest, MissingOrWrongCredentialsGet401WithChallenge) {
  Fixture f;
  for (const std::string& creds : {std::string(), std::string("admin:wrong"), std::string("admin"),
                                   std::string("other:s3cret"), std::string("admin:s3cret2")}) {
    http::Response r = f.handler(Get("/api/rest/calls", {}, creds));
    EXPECT_EQ(r.status, 401) << creds;
    EXPECT_EQ(r.Header("WWW-Authenticate"), "Basic realm=\"DMA\"");
    EXPECT_EQ(Body(r).at("error").as_string(), "unauthenticated");
  }
  http::Request bad = Get("/api/rest/calls");
  bad.headers["authorization"] = "Basic !!!not-base64";
  EXPECT_EQ(f.handler(bad).status, 401);
  bad.headers["authorization"] = "Bearer " + crypto::Base64Encode("admin:s3cret");
  EXPECT_EQ(f.handler(bad).status, 401);
  // Unknown paths also need credentials first (nothing is revealed).
  EXPECT_EQ(f.handler(Get("/api/rest/nope", {}, "")).status, 401);
}

TEST(DmaApiTest, MalformedParametersGet400Json) {
  Fixture f;
  for (const std::string& after : {std::string("garbage"), std::string(""), std::string("123"),
                                   std::string("abc.01234567-89ab-cdef-fedc-ba9876543210"),
                                   std::string("-5.01234567-89ab-cdef-fedc-ba9876543210"),
                                   std::string("5.01234567-89AB-cdef-fedc-ba9876543210"),
                                   std::string("5.not-a-uuid")}) {
    http::Response r = f.handler(Get("/api/rest/calls", {{"after", after}}));
    EXPECT_EQ(r.status, 400) << after;
    json::object body = Body(r);
    EXPECT_EQ(body.at("error").as_string(), "invalid_argument");
    EXPECT_TRUE(body.at("detail").is_string());
  }
  for (const char* limit : {"0", "1001", "-1", "ten", "", "5x"}) {
    http::Response r = f.handler(Get("/api/rest/calls", {{"limit", limit}}));
    EXPECT_EQ(r.status, 400) << limit;
    EXPECT_EQ(Body(r).at("error").as_string(), "invalid_argument");
  }
}

TEST(DmaApiTest, AcceptNegotiation) {
  Fixture f;
  for (const char* accept : {"", "application/json", "*/*", "application/vnd.plcm.plcm-call-list+json",
                             "application/vnd.plcm.plcm-call-list-v2+json; q=0.9", "text/html, application/*"}) {
    http::Request r = Get("/api/rest/calls");
    r.headers["accept"] = accept;
    EXPECT_EQ(f.handler(r).status, 200) << accept;
  }
  http::Request r = Get("/api/rest/calls");
  r.headers.erase("accept");
  EXPECT_EQ(f.handler(r).status, 200);
  for (const char* accept : {"application/xml", "application/vnd.plcm.plcm-call-list+xml", "text/html"}) {
    r.headers["accept"] = accept;
    EXPECT_EQ(f.handler(r).status, 406) << accept;
  }
}

TEST(DmaApiTest, UnknownPathIs404AndOtherMethods405) {
  Fixture f;
  http::Response r = f.handler(Get("/api/rest/conference-templates"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Body(r).at("error").as_string(), "not_found");
  http::Request post = Get("/api/rest/calls");
  post.method = "POST";
  r = f.handler(post);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("Allow"), "GET");
}

TEST(DmaApiTest, ConcurrentRequestsWhileLiveTimeAdvances) {
  Fixture f(42, 1, /*live=*/true);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        http::Response r = f.handler(Get("/api/rest/calls", {{"limit", "50"}}));
        if (r.status != 200 || CallsOf(Body(r)).empty()) ++bad;
      }
    });
  for (int i = 0; i < 50; ++i) f.clock.Advance(std::chrono::minutes(7));
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(DmaApiTest, PageTokenRoundTrip) {
  CallKey key{1796231778, 0x633a6ef0d9024cf5ULL, 0x80149b1862b812a2ULL};
  std::string token = EncodePageToken(key);
  EXPECT_EQ(token, "1796231778.633a6ef0-d902-4cf5-8014-9b1862b812a2");
  auto back = DecodePageToken(token);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, key);
  EXPECT_FALSE(DecodePageToken("1796231778633a6ef0-d902-4cf5-8014-9b1862b812a2"));
  EXPECT_FALSE(DecodePageToken("99999999999999999999.633a6ef0-d902-4cf5-8014-9b1862b812a2"));
}

}  // namespace
}  // namespace parley::devsim
