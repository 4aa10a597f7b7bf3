// Helpers shared by the devsim API tests: a workload with both emulated APIs
// on a fake clock, request builders and a paged-list walker that checks the
// `next` rule on every page.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/time_format.h"
#include "crypto/crypto.h"
#include "devsim/dma_api.h"
#include "devsim/rprm_api.h"
#include "support/fake_clock.h"

namespace parley::devsim::testsupport {

namespace json = boost::json;

inline const int64_t kOrigin = *ParseRfc3339("2026-12-04T16:00:00Z");  // a Friday

struct Stack {
  explicit Stack(uint64_t seed = 42, int days = 2, bool live = false, ApiOptions dma_options = {},
                 ApiOptions rprm_options = {})
      : clock(kOrigin) {
    WorkloadOptions o;
    o.seed = seed;
    o.origin_unix = kOrigin;
    o.history_days = days;
    o.live = live;
    workload = std::move(Workload::Create(o)).value();
    dma = MakeDmaHandler(*workload, clock, {"admin", "s3cret"}, std::move(dma_options));
    rprm = MakeRprmHandler(*workload, clock, {"rprm-admin", "rprm-pw"}, std::move(rprm_options));
  }
  parley::testing::FakeClock clock;
  std::unique_ptr<Workload> workload;
  http::Handler dma;
  http::Handler rprm;
};

inline http::Request Get(const std::string& path, std::map<std::string, std::string> query = {},
                         const std::string& accept = "", const std::string& user_password = "admin:s3cret") {
  http::Request r;
  r.method = "GET";
  r.path = path;
  r.target = path;
  r.query = std::move(query);
  if (!user_password.empty()) r.headers["authorization"] = "Basic " + crypto::Base64Encode(user_password);
  if (!accept.empty()) r.headers["accept"] = accept;
  return r;
}

inline http::Request RprmGet(const std::string& path, std::map<std::string, std::string> query = {},
                             const std::string& accept = "") {
  return Get(path, std::move(query), accept, "rprm-admin:rprm-pw");
}

inline json::object Body(const http::Response& r) { return json::parse(r.body).as_object(); }

inline const json::array& Items(const json::object& body, const char* list, const char* item) {
  return body.at(list).as_object().at(item).as_array();
}

// Walks a paged list with `limit` until an empty page (the only one whose
// `next` is null), checking on every page that `next` is the token of its
// last item. Returns all items in order.
inline json::array Walk(const http::Handler& handler,
                        const std::function<http::Request(std::map<std::string, std::string>)>& make, const char* list,
                        const char* item, int limit, const std::function<std::string(const json::object&)>& token_of,
                        int* pages = nullptr) {
  json::array all;
  std::optional<std::string> after;
  for (int i = 0; i < 100000; ++i) {
    std::map<std::string, std::string> q{{"limit", std::to_string(limit)}};
    if (after) q["after"] = *after;
    http::Response r = handler(make(q));
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) break;
    json::object body = Body(r);
    const json::array& items = Items(body, list, item);
    EXPECT_LE(items.size(), static_cast<size_t>(limit));
    if (pages) ++*pages;
    EXPECT_EQ(body.at("next").is_null(), items.empty());
    if (items.empty()) break;
    EXPECT_EQ(std::string(body.at("next").as_string()), token_of(items.back().as_object()));
    for (const auto& v : items) all.push_back(v);
    after = std::string(body.at("next").as_string());
  }
  return all;
}

}  // namespace parley::devsim::testsupport
