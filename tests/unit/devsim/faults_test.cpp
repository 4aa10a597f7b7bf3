// Fault flags: per request (header or query parameter) and standing rules
// (every N-th request), on both emulated APIs.
#include <gtest/gtest.h>

#include <mutex>

#include "api_test_support.h"
#include "devsim/cdr_export.h"

namespace parley::devsim {
namespace {

using namespace testsupport;

// Records the delays `slow` asked for instead of sleeping.
struct SleepLog {
  std::mutex mu;
  std::vector<std::chrono::milliseconds> delays;
  ApiOptions Options(std::vector<FaultRule> rules = {}) {
    ApiOptions o;
    o.faults = std::move(rules);
    o.retry_after_s = 7;
    o.sleep = [this](std::chrono::milliseconds d) {
      std::lock_guard<std::mutex> lock(mu);
      delays.push_back(d);
    };
    return o;
  }
};

http::Request WithFault(http::Request r, const std::string& fault) {
  r.headers["x-devsim-fault"] = fault;
  return r;
}

TEST(FaultsTest, ParseFaultRule) {
  auto r = ParseFaultRule("429/5");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fault, Fault::kTooManyRequests);
  EXPECT_EQ(r->every, 5u);
  r = ParseFaultRule("slow");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->fault, Fault::kSlow);
  EXPECT_EQ(r->every, 1u);
  for (const char* bad : {"", "418", "429/0", "500/abc", "500/", "slow/-1", "SLOW"})
    EXPECT_FALSE(ParseFaultRule(bad).ok()) << bad;
  for (Fault f : {Fault::kUnauthorized, Fault::kTooManyRequests, Fault::kServerError, Fault::kSlow,
                  Fault::kMalformed, Fault::kRepeat})
    EXPECT_EQ(ParseFault(FaultName(f)), f);
}

TEST(FaultsTest, UnauthorizedEvenWithGoodCredentials) {
  SleepLog log;
  Stack s(42, 1, false, log.Options(), log.Options());
  http::Response r = s.dma(WithFault(Get("/api/rest/calls"), "401"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("WWW-Authenticate"), "Basic realm=\"DMA\"");
  r = s.rprm(WithFault(RprmGet("/api/rest/device-inventory"), "401"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("WWW-Authenticate"), "Basic realm=\"RPRM\"");
}

TEST(FaultsTest, TooManyRequestsWithRetryAfter) {
  SleepLog log;
  Stack s(42, 1, false, log.Options());
  http::Response r = s.dma(WithFault(Get("/api/rest/active-calls"), "429"));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("Retry-After"), "7");
  EXPECT_EQ(Body(r).at("error"), "rate_limited");
  // The query parameter works as well as the header.
  r = s.dma(Get("/api/rest/calls", {{"devsim-fault", "429"}}));
  EXPECT_EQ(r.status, 429);
}

TEST(FaultsTest, ServerError) {
  SleepLog log;
  Stack s(42, 1, false, log.Options(), log.Options());
  http::Response r = s.dma(WithFault(Get("/api/rest/devices"), "500"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(Body(r).at("error"), "internal");
  EXPECT_EQ(s.rprm(RprmGet("/api/rest/endpoint-usage-cdrs", {{"devsim-fault", "500"}})).status, 500);
}

TEST(FaultsTest, SlowWaitsTheDelayThenAnswers) {
  SleepLog log;
  Stack s(42, 1, false, log.Options());
  http::Response r = s.dma(WithFault(Get("/api/rest/calls"), "slow"));
  EXPECT_EQ(r.status, 200);
  r = s.dma(WithFault(Get("/api/rest/calls", {{"devsim-delay-ms", "250"}}), "slow"));
  EXPECT_EQ(r.status, 200);
  http::Request h = WithFault(Get("/api/rest/devices"), "slow");
  h.headers["x-devsim-delay-ms"] = "1500";
  EXPECT_EQ(s.dma(h).status, 200);
  // Slow combines with an error: the error comes late.
  EXPECT_EQ(s.dma(WithFault(Get("/api/rest/calls"), "slow, 500")).status, 500);
  EXPECT_EQ(s.dma(Get("/api/rest/calls")).status, 200);  // no fault, no wait
  ASSERT_EQ(log.delays.size(), 4u);
  EXPECT_EQ(log.delays[0], std::chrono::milliseconds(3000));
  EXPECT_EQ(log.delays[1], std::chrono::milliseconds(250));
  EXPECT_EQ(log.delays[2], std::chrono::milliseconds(1500));
  EXPECT_EQ(log.delays[3], std::chrono::milliseconds(3000));
}

TEST(FaultsTest, MalformedBodiesAreCutShort) {
  SleepLog log;
  Stack s(42, 1, false, log.Options(), log.Options());
  for (const char* path : {"/api/rest/calls", "/api/rest/devices", "/api/rest/conferences/usage"}) {
    http::Response good = s.dma(Get(path));
    http::Response bad = s.dma(WithFault(Get(path), "malformed"));
    EXPECT_EQ(bad.status, 200) << path;
    EXPECT_EQ(bad.Header("Content-Type"), good.Header("Content-Type"));
    EXPECT_EQ(bad.body, good.body.substr(0, good.body.size() / 2));
    EXPECT_TRUE(bad.Header("ETag").empty());
    boost::system::error_code ec;
    (void)json::parse(bad.body, ec);
    EXPECT_TRUE(ec) << path << ": still valid JSON";
  }
  http::Response zip = s.dma(WithFault(Get("/api/rest/cdr-export"), "malformed"));
  EXPECT_EQ(zip.status, 200);
  EXPECT_FALSE(UnzipAll(zip.body).ok());
  http::Response rprm = s.rprm(WithFault(RprmGet("/api/rest/device-inventory"), "malformed"));
  boost::system::error_code ec;
  (void)json::parse(rprm.body, ec);
  EXPECT_TRUE(ec);
}

TEST(FaultsTest, RepeatServesTheFirstPageAgain) {
  SleepLog log;
  Stack s(42, 2, false, log.Options(), log.Options());
  struct List {
    http::Handler* handler;
    std::function<http::Request(std::map<std::string, std::string>)> get;
    const char* list;
    const char* item;
  };
  const std::vector<List> lists = {
      {&s.dma, [](auto q) { return Get("/api/rest/calls", q); }, "plcm-call-list", "plcm-call"},
      {&s.rprm, [](auto q) { return RprmGet("/api/rest/device-inventory", q); }, "plcm-device-inventory-list",
       "plcm-device-inventory"},
      {&s.rprm, [](auto q) { return RprmGet("/api/rest/endpoint-usage-cdrs", q); }, "plcm-endpoint-usage-cdr-list",
       "plcm-endpoint-usage-cdr"},
      {&s.rprm, [](auto q) { return RprmGet("/api/rest/conference-usage-cdrs", q); },
       "plcm-conference-usage-cdr-list", "plcm-conference-usage-cdr"}};
  for (const List& l : lists) {
    json::object first = Body((*l.handler)(l.get({{"limit", "3"}})));
    const std::string next(first.at("next").as_string());
    json::object second = Body((*l.handler)(l.get({{"limit", "3"}, {"after", next}})));
    json::object repeated = Body((*l.handler)(WithFault(l.get({{"limit", "3"}, {"after", next}}), "repeat")));
    EXPECT_NE(json::serialize(second), json::serialize(first)) << l.list;
    EXPECT_EQ(json::serialize(repeated), json::serialize(first)) << l.list;
    EXPECT_EQ(repeated.at("next").as_string(), next.c_str());  // no progress: the cursor does not advance
  }
}

TEST(FaultsTest, StandingRulesHitEveryNthRequest) {
  SleepLog log;
  Stack s(42, 1, false, log.Options({{Fault::kServerError, 3}, {Fault::kSlow, 2}}));
  std::vector<int> statuses;
  for (int i = 0; i < 7; ++i) statuses.push_back(s.dma(Get("/api/rest/calls")).status);
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 500, 200, 200, 500, 200}));
  EXPECT_EQ(log.delays.size(), 3u);  // requests 2, 4 and 6
  // Requests refused before the faults (bad credentials, unknown path) are not counted.
  EXPECT_EQ(s.dma(Get("/api/rest/calls", {}, "", "admin:wrong")).status, 401);
  EXPECT_EQ(s.dma(Get("/api/rest/nope")).status, 404);
  EXPECT_EQ(s.dma(Get("/api/rest/calls")).status, 200);  // the 8th
  EXPECT_EQ(s.dma(Get("/api/rest/calls")).status, 500);  // the 9th
}

TEST(FaultsTest, BadFaultParametersAre400) {
  SleepLog log;
  Stack s(42, 1, false, log.Options());
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"devsim-fault", "teapot"}, {"devsim-delay-ms", "-1"}, {"devsim-delay-ms", "120001"},
           {"devsim-delay-ms", "soon"}}) {
    http::Response r = s.dma(Get("/api/rest/calls", {{k, v}}));
    EXPECT_EQ(r.status, 400) << k << "=" << v;
    EXPECT_EQ(Body(r).at("error"), "invalid_argument");
  }
  EXPECT_TRUE(log.delays.empty());
}

}  // namespace
}  // namespace parley::devsim
