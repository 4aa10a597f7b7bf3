// The DMA resources beyond the call history: active calls, conferences and
// their usage, devices, the CDR export; ETag/304 and Accept/406 on each.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <regex>
#include <set>
#include <thread>

#include "api_test_support.h"
#include "devsim/cdr_export.h"

namespace parley::devsim {
namespace {

using namespace testsupport;

const char* const kLists[][3] = {
    // path, list, item
    {"/api/rest/active-calls", "plcm-active-call-list", "plcm-active-call"},
    {"/api/rest/conferences", "plcm-conference-list", "plcm-conference"},
    {"/api/rest/devices", "plcm-device-list", "plcm-device"},
};

json::array ActiveCalls(Stack& s, std::map<std::string, std::string> q = {}) {
  http::Response r = s.dma(Get("/api/rest/active-calls", std::move(q), std::string(kActiveCallListMediaType)));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), kActiveCallListMediaType);
  return Items(Body(r), "plcm-active-call-list", "plcm-active-call");
}

json::array Conferences(Stack& s) {
  http::Response r = s.dma(Get("/api/rest/conferences"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), kConferenceListMediaType);
  return Items(Body(r), "plcm-conference-list", "plcm-conference");
}

std::set<std::string> EndedIds(Stack& s) {
  std::set<std::string> ids;
  json::array calls = Walk(
      s.dma, [](auto q) { return Get("/api/rest/calls", q); }, "plcm-call-list", "plcm-call", 1000,
      [](const json::object& c) {
        return std::to_string(*ParseRfc3339(c.at("endTime").as_string())) + "." +
               std::string(c.at("callIdentifier").as_string());
      });
  for (const auto& c : calls) ids.insert(std::string(c.at("callIdentifier").as_string()));
  return ids;
}

TEST(DmaResourcesTest, ActiveCallsOnlyWhileLive) {
  Stack idle(42, 2, /*live=*/false);
  for (int64_t t : {kOrigin - 3 * 3600, kOrigin, kOrigin + 1800, kOrigin + 86400}) {
    idle.clock.Set(t);
    EXPECT_TRUE(ActiveCalls(idle).empty());
    EXPECT_TRUE(Conferences(idle).empty());
  }
  Stack live(42, 2, /*live=*/true);
  live.clock.Set(kOrigin + 1800);  // Friday 16:30 UTC: London, Munich and Boston at work
  json::array active = ActiveCalls(live);
  ASSERT_FALSE(active.empty());
  std::set<std::string> ended = EndedIds(live);
  std::vector<std::string> ids;
  for (const auto& v : active) {
    const json::object& c = v.as_object();
    ids.emplace_back(c.at("callIdentifier").as_string());
    EXPECT_LE(*ParseRfc3339(c.at("startTime").as_string()), kOrigin + 1800);
    EXPECT_EQ(ended.count(ids.back()), 0u) << "an active call is not in the history yet";
  }
  // Calls in progress at origin are live calls too (they started before).
  live.clock.Set(kOrigin);
  bool started_before_origin = false;
  for (const auto& v : ActiveCalls(live))
    started_before_origin |= *ParseRfc3339(v.at("startTime").as_string()) < kOrigin;
  EXPECT_TRUE(started_before_origin);
  // Four hours later they have all ended and appear in the history.
  live.clock.Set(kOrigin + 1800 + 4 * 3600);
  ended = EndedIds(live);
  for (const std::string& id : ids) EXPECT_EQ(ended.count(id), 1u) << id;
}

TEST(DmaResourcesTest, ActiveCallsHaveTheDocumentedShapeAndFilters) {
  Stack s(42, 1, true);
  s.clock.Set(kOrigin + 1800);
  json::array active = ActiveCalls(s);
  ASSERT_FALSE(active.empty());
  const std::vector<std::string> keys = {
      "callIdentifier", "signalingType", "requestedBitrate", "currentBitrate", "originalDialString",
      "resolvedDialString", "sourceCallLeg", "destinationCallLeg", "passback", "passthru", "clusters", "callType",
      "originator", "mediaEncryptionAlgorithm", "sharedLicense", "entityTag", "startTime", "confUuid"};
  const std::vector<std::string> leg_keys = {
      "deviceIdentifier", "sipContactIdentifier", "ipAddress", "deviceName", "deviceModel", "deviceVersion",
      "aliases", "registrationStatus", "site", "territory", "authenticationName", "authenticationStatus"};
  std::set<std::string> sites;
  for (const auto& v : active) {
    const json::object& c = v.as_object();
    std::vector<std::string> got;
    for (const auto& kv : c) got.emplace_back(kv.key());
    EXPECT_EQ(got, keys);
    EXPECT_LE(c.at("currentBitrate").as_int64(), c.at("requestedBitrate").as_int64());
    for (const char* leg : {"sourceCallLeg", "destinationCallLeg"}) {
      const json::object& l = c.at(leg).as_object();
      got.clear();
      for (const auto& kv : l) got.emplace_back(kv.key());
      EXPECT_EQ(got, leg_keys);
      std::string status(l.at("registrationStatus").as_string());
      EXPECT_TRUE(status == "ACTIVE" || status == "MCU") << status;
      for (const char* k : {"deviceName", "deviceModel", "deviceVersion", "site"})
        EXPECT_FALSE(l.at(k).as_string().empty()) << k;
      sites.insert(std::string(l.at("site").as_string()));
    }
    EXPECT_EQ(c.at("confUuid").is_null(), c.at("destinationCallLeg").at("registrationStatus") != "MCU");
  }
  // Filters: site (either leg), protocol; sort keys.
  const std::string site = *sites.begin();
  for (const auto& v : ActiveCalls(s, {{"site", site}}))
    EXPECT_TRUE(v.at("sourceCallLeg").at("site") == site.c_str() ||
                v.at("destinationCallLeg").at("site") == site.c_str());
  for (const auto& v : ActiveCalls(s, {{"protocol", "SIP"}})) EXPECT_EQ(v.at("signalingType"), "SIP");
  json::array by_orig = ActiveCalls(s, {{"sort-key", "originator"}});
  EXPECT_EQ(by_orig.size(), active.size());
  for (size_t i = 1; i < by_orig.size(); ++i)
    EXPECT_LE(by_orig[i - 1].at("originator").as_string(), by_orig[i].at("originator").as_string());
  EXPECT_EQ(s.dma(Get("/api/rest/active-calls", {{"protocol", "ISDN"}})).status, 400);
  EXPECT_EQ(s.dma(Get("/api/rest/active-calls", {{"sort-key", "colour"}})).status, 400);
}

TEST(DmaResourcesTest, ConferencesAreTheActiveMeetingsWithTheirCalls) {
  Stack s(42, 1, true);
  s.clock.Set(kOrigin + 1800);
  json::array active = ActiveCalls(s);
  std::map<std::string, std::string> conf_of;  // active VMR call -> confUuid
  for (const auto& v : active)
    if (!v.at("confUuid").is_null())
      conf_of[std::string(v.at("callIdentifier").as_string())] = std::string(v.at("confUuid").as_string());
  json::array conferences = Conferences(s);
  size_t listed_calls = 0;
  std::set<std::string> ids;
  for (const auto& v : conferences) {
    const json::object& c = v.as_object();
    const std::string id(c.at("conferenceIdentifier").as_string());
    ids.insert(id);
    EXPECT_FALSE(c.at("ownerLastName").as_string().empty());
    EXPECT_EQ(c.at("dialInNumber"), c.at("conferenceRoomIdentifier"));
    EXPECT_EQ(c.at("mcuName"), s.workload->org().mcu.name.c_str());
    const json::array& calls = c.at("callIdentifiers").as_array();
    EXPECT_EQ(c.at("participantCount").as_int64(), static_cast<int64_t>(calls.size()));
    EXPECT_GE(calls.size(), 1u);
    for (const auto& call : calls) EXPECT_EQ(conf_of[std::string(call.as_string())], id);
    listed_calls += calls.size();
  }
  EXPECT_EQ(listed_calls, conf_of.size());  // every active VMR call is in its conference
  EXPECT_EQ(ids.size(), conferences.size());
  EXPECT_FALSE(conferences.empty());
}

TEST(DmaResourcesTest, UsageCountsPortsInUseAgainstTheLicence) {
  Stack s(42, 1, true);
  for (int64_t t : {kOrigin - 600, kOrigin + 1800, kOrigin + 5 * 3600}) {
    s.clock.Set(t);
    json::array active = ActiveCalls(s);
    int ports = 0;
    for (const auto& v : active)
      if (!v.at("confUuid").is_null()) ports += v.at("requestedBitrate").as_int64() >= 1920 ? 2 : 1;
    http::Response r = s.dma(Get("/api/rest/conferences/usage", {}, std::string(kConferenceUsageMediaType)));
    ASSERT_EQ(r.status, 200);
    json::object u = Body(r).at("plcm-conference-usage").as_object();
    EXPECT_EQ(u.at("activeCalls").as_int64(), static_cast<int64_t>(active.size()));
    EXPECT_EQ(u.at("activeConferences").as_int64(), static_cast<int64_t>(Conferences(s).size()));
    EXPECT_EQ(u.at("licensedCalls").as_int64(), s.workload->org().licensed_calls);
    EXPECT_LE(u.at("activeCalls").as_int64(), u.at("licensedCalls").as_int64());
    const json::object& mcu = u.at("mcuUsage").as_array().at(0).as_object();
    EXPECT_EQ(mcu.at("videoPortsInUse").as_int64(), ports);
    EXPECT_EQ(mcu.at("videoPortsLicensed").as_int64(), s.workload->org().licensed_video_ports);
    EXPECT_LE(ports, mcu.at("videoPortsLicensed").as_int64());
    EXPECT_EQ(mcu.at("portUnit"), "HD720p30");
    EXPECT_EQ(u.at("timestamp"), FormatZoned(t, s.workload->ClusterZone()).c_str());
  }
}

TEST(DmaResourcesTest, DevicesAreTheRegisteredOnes) {
  Stack s(42, 2);
  http::Response r = s.dma(Get("/api/rest/devices", {}, std::string(kDeviceListMediaType)));
  ASSERT_EQ(r.status, 200);
  json::array devices = Items(Body(r), "plcm-device-list", "plcm-device");
  size_t deployed = 0, offline = 0;
  for (const Device& d : s.workload->org().endpoints) {
    deployed += d.DeployedAt(kOrigin);
    offline += d.DeployedAt(kOrigin) && !d.ActiveAt(kOrigin);
  }
  ASSERT_EQ(devices.size(), deployed + 1);  // and the MCU
  size_t inactive = 0;
  int last_id = 0;
  for (const auto& v : devices) {
    const json::object& d = v.as_object();
    int id = std::stoi(std::string(d.at("deviceIdentifier").as_string()));
    EXPECT_GT(id, last_id);
    last_id = id;
    for (const char* k : {"deviceName", "deviceModel", "deviceVersion"}) EXPECT_FALSE(d.at(k).as_string().empty());
    std::string status(d.at("plcmDeviceStatus").at("registrationStatus").as_string());
    EXPECT_TRUE(status == "ACTIVE" || status == "INACTIVE");
    inactive += status == "INACTIVE";
    EXPECT_TRUE(d.at("deviceOwner").is_null() == d.at("ownerDomain").is_null());
  }
  EXPECT_EQ(inactive, offline);
  // Fewer devices were registered half a year ago.
  s.clock.Set(kOrigin - 180 * 86400);
  r = s.dma(Get("/api/rest/devices"));
  EXPECT_LT(Items(Body(r), "plcm-device-list", "plcm-device").size(), devices.size());
}

TEST(DmaResourcesTest, ListsCarryAnEtagAndAnswer304) {
  Stack s(42, 1, true);
  s.clock.Set(kOrigin + 1800);
  std::vector<std::pair<http::Handler*, std::string>> lists = {
      {&s.dma, "/api/rest/calls"},        {&s.dma, "/api/rest/active-calls"}, {&s.dma, "/api/rest/conferences"},
      {&s.dma, "/api/rest/conferences/usage"}, {&s.dma, "/api/rest/devices"}, {&s.dma, "/api/rest/cdr-export"},
      {&s.rprm, "/api/rest/device-inventory"}, {&s.rprm, "/api/rest/endpoint-usage-cdrs"},
      {&s.rprm, "/api/rest/conference-usage-cdrs"}};
  for (auto& [handler, path] : lists) {
    const bool rprm = handler == &s.rprm;
    auto get = [&](const std::string& inm) {
      http::Request r = rprm ? RprmGet(path) : Get(path);
      if (!inm.empty()) r.headers["if-none-match"] = inm;
      return (*handler)(r);
    };
    http::Response first = get("");
    ASSERT_EQ(first.status, 200) << path;
    const std::string etag = first.Header("ETag");
    ASSERT_TRUE(std::regex_match(etag, std::regex(R"("[0-9a-f]{32}")"))) << path << " " << etag;
    EXPECT_EQ(get("").Header("ETag"), etag) << path;  // stable while nothing changes
    for (const std::string& inm : {etag, "W/" + etag, std::string("\"other\", ") + etag, std::string("*")}) {
      http::Response again = get(inm);
      EXPECT_EQ(again.status, 304) << path << " " << inm;
      EXPECT_TRUE(again.body.empty());
      EXPECT_EQ(again.Header("ETag"), etag);
    }
    EXPECT_EQ(get("\"0123\"").status, 200) << path;
  }
  // A list that changed gets a new tag: the stored one no longer matches.
  http::Response before = s.dma(Get("/api/rest/active-calls"));
  s.clock.Advance(std::chrono::hours(1));
  http::Request r = Get("/api/rest/active-calls");
  r.headers["if-none-match"] = before.Header("ETag");
  http::Response after = s.dma(r);
  EXPECT_EQ(after.status, 200);
  EXPECT_NE(after.Header("ETag"), before.Header("ETag"));
}

TEST(DmaResourcesTest, AcceptNegotiatesTheVendorMediaTypes) {
  Stack s(42, 1, true);
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"/api/rest/calls", "application/vnd.plcm.plcm-call-list+json"},
      {"/api/rest/active-calls", "application/vnd.plcm.plcm-active-call-list+json"},
      {"/api/rest/conferences", "application/vnd.plcm.plcm-conference-list+json"},
      {"/api/rest/conferences/usage", "application/vnd.plcm.plcm-conference-usage+json"},
      {"/api/rest/devices", "application/vnd.plcm.plcm-device-list+json"}};
  for (const auto& [path, type] : routes) {
    std::string versioned = type.substr(0, type.size() - 5) + "-v3+json";
    for (const std::string& accept : {type, versioned, std::string("application/json"), std::string("*/*"),
                                      "application/xml;q=0.5, " + type, std::string("")}) {
      http::Response r = s.dma(Get(path, {}, accept));
      EXPECT_EQ(r.status, 200) << path << " Accept: " << accept;
      if (r.status == 200) {
        EXPECT_EQ(r.Header("Content-Type"), type);
      }
    }
    for (const std::string& accept :
         {std::string("application/xml"), type.substr(0, type.size() - 5) + "+xml",
          std::string("application/vnd.plcm.plcm-something-else+json"), type + ";q=0",
          type.substr(0, type.size() - 5) + "-vX+json"}) {
      http::Response r = s.dma(Get(path, {}, accept));
      EXPECT_EQ(r.status, 406) << path << " Accept: " << accept;
      EXPECT_EQ(Body(r).at("error"), "not_acceptable");
    }
  }
  // The export is a ZIP: JSON cannot be offered.
  EXPECT_EQ(s.dma(Get("/api/rest/cdr-export", {}, "application/zip")).status, 200);
  EXPECT_EQ(s.dma(Get("/api/rest/cdr-export", {}, "application/octet-stream")).status, 200);
  EXPECT_EQ(s.dma(Get("/api/rest/cdr-export", {}, "application/json")).status, 406);
}

TEST(DmaResourcesTest, CdrExportServesTheZipOfTheWindow) {
  Stack s(42, 3);
  http::Response r = s.dma(Get("/api/rest/cdr-export"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), "application/zip");
  EXPECT_EQ(r.Header("Content-Disposition"), "attachment; filename=\"cdrExport.zip\"");
  auto entries = UnzipAll(r.body);
  ASSERT_TRUE(entries.ok()) << entries.error().detail;
  ASSERT_EQ(entries->size(), 3u);
  const std::string& calls_csv = (*entries)[0].second;
  // Everything ended so far: as many rows as /calls/count.
  http::Response count = s.dma(Get("/api/rest/calls/count"));
  size_t rows = static_cast<size_t>(std::count(calls_csv.begin(), calls_csv.end(), '\n')) - 1;
  EXPECT_EQ(static_cast<int64_t>(rows), Body(count).at("count").as_int64());
  EXPECT_NE((*entries)[2].second.find("Calls: " + std::to_string(rows) + "\r\n"), std::string::npos);
  // A window: exactly the calls of /calls that ended in it.
  const std::string from = "2026-12-03T00:00:00Z", to = "2026-12-04T00:00:00+00:00";
  r = s.dma(Get("/api/rest/cdr-export", {{"ended-after", from}, {"ended-before", to}}));
  ASSERT_EQ(r.status, 200);
  entries = UnzipAll(r.body);
  ASSERT_TRUE(entries.ok());
  size_t in_window = 0;
  for (const Call& c : s.workload->HistoryCalls())
    in_window += c.key.end_unix >= *ParseRfc3339(from) && c.key.end_unix < *ParseRfc3339(to);
  const std::string& window_csv = (*entries)[0].second;
  EXPECT_EQ(static_cast<size_t>(std::count(window_csv.begin(), window_csv.end(), '\n')) - 1, in_window);
  EXPECT_GT(in_window, 0u);
  EXPECT_NE((*entries)[2].second.find("ending before: 2026-12-04T00:00:00.000+00:00"), std::string::npos);
  // Bad windows.
  for (const auto& q : std::vector<std::map<std::string, std::string>>{
           {{"ended-after", "yesterday"}},
           {{"ended-before", "2026-13-01T00:00:00Z"}},
           {{"ended-after", "2026-12-04T00:00:00Z"}, {"ended-before", "2026-12-03T00:00:00Z"}}}) {
    http::Response bad = s.dma(Get("/api/rest/cdr-export", q));
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(Body(bad).at("error"), "invalid_argument");
  }
}

TEST(DmaResourcesTest, OnlyOneCdrExportRunsAtATime) {
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  ApiOptions options;
  options.sleep = [&](std::chrono::milliseconds) {
    entered.set_value();
    released.wait();
  };
  Stack s(42, 1, false, options);
  http::Response slow_result;
  std::thread slow([&] {
    http::Request r = Get("/api/rest/cdr-export");
    r.headers["x-devsim-fault"] = "slow";
    slow_result = s.dma(r);
  });
  entered.get_future().wait();  // the first export is running (and slow)
  http::Response busy = s.dma(Get("/api/rest/cdr-export"));
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.Header("Retry-After"), "5");
  EXPECT_EQ(Body(busy).at("error"), "unavailable");
  // Other resources are not held up.
  EXPECT_EQ(s.dma(Get("/api/rest/devices")).status, 200);
  release.set_value();
  slow.join();
  EXPECT_EQ(slow_result.status, 200);
  EXPECT_EQ(s.dma(Get("/api/rest/cdr-export")).status, 200);
}

}  // namespace
}  // namespace parley::devsim
