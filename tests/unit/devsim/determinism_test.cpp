// Same seed -> byte-identical answers from every API, the CDR export's ZIP
// and its CSVs included; another seed -> different answers.
#include <gtest/gtest.h>

#include "api_test_support.h"
#include "devsim/cdr_export.h"

namespace parley::devsim {
namespace {

using namespace testsupport;

// Every answer the two emulated devices give at the stack's current time,
// concatenated (lists walked in full).
std::string Everything(Stack& s) {
  std::string out;
  auto dma = [&](const std::string& path, std::map<std::string, std::string> q = {}) {
    http::Response r = s.dma(Get(path, std::move(q)));
    EXPECT_EQ(r.status, 200) << path;
    out += path + " " + r.Header("ETag") + "\n" + r.body + "\n";
    return r;
  };
  for (const char* path : {"/api/rest/active-calls", "/api/rest/conferences", "/api/rest/conferences/usage",
                           "/api/rest/devices", "/api/rest/calls/count"})
    dma(path);
  json::array calls = Walk(
      s.dma, [](auto q) { return Get("/api/rest/calls", q); }, "plcm-call-list", "plcm-call", 97,
      [](const json::object& c) {
        return std::to_string(*ParseRfc3339(c.at("endTime").as_string())) + "." +
               std::string(c.at("callIdentifier").as_string());
      });
  out += json::serialize(calls) + "\n";
  http::Response zip = dma("/api/rest/cdr-export", {{"ended-after", "2026-12-01T00:00:00Z"}});
  auto entries = UnzipAll(zip.body);
  EXPECT_TRUE(entries.ok());
  if (entries.ok())
    for (const auto& [name, content] : *entries) out += name + "\n" + content;
  for (const char* path : {"/api/rest/device-inventory", "/api/rest/endpoint-usage-cdrs",
                           "/api/rest/conference-usage-cdrs"}) {
    std::optional<std::string> after;
    for (;;) {
      std::map<std::string, std::string> q{{"limit", "50"}};
      if (after) q["after"] = *after;
      http::Response r = s.rprm(RprmGet(path, q));
      EXPECT_EQ(r.status, 200) << path;
      out += std::string(path) + " " + r.Header("ETag") + "\n" + r.body + "\n";
      json::object body = Body(r);
      if (body.at("next").is_null()) break;
      after = std::string(body.at("next").as_string());
    }
  }
  return out;
}

TEST(DeterminismTest, SameSeedSameBytesEverywhere) {
  Stack a(42, 3, true), b(42, 3, true), c(43, 3, true);
  // b is asked only at the end: lazily generated live data must not depend
  // on when or how often the API was asked.
  for (int64_t t : {kOrigin, kOrigin + 1800, kOrigin + 3 * 3600 + 17}) {
    a.clock.Set(t);
    c.clock.Set(t);
    std::string from_a = Everything(a);
    EXPECT_NE(from_a, Everything(c));
    if (t == kOrigin + 3 * 3600 + 17) {
      b.clock.Set(t);
      EXPECT_EQ(from_a, Everything(b));
    }
  }
}

TEST(DeterminismTest, CdrZipBytesRepeat) {
  Stack a(7, 2), b(7, 2);
  http::Response za = a.dma(Get("/api/rest/cdr-export"));
  http::Response zb = b.dma(Get("/api/rest/cdr-export"));
  ASSERT_EQ(za.status, 200);
  EXPECT_EQ(za.body, zb.body);
  EXPECT_EQ(za.Header("ETag"), zb.Header("ETag"));
}

}  // namespace
}  // namespace parley::devsim
