// The emulated RPRM: device inventory, endpoint usage CDRs with media
// quality, conference usage with scheduled vs actual times; each a paged
// list whose walk yields every item exactly once.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "api_test_support.h"

namespace parley::devsim {
namespace {

using namespace testsupport;

std::string DeviceToken(const json::object& d) { return std::string(d.at("deviceId").as_string()); }
std::string CdrToken(const json::object& c) {
  return std::to_string(*ParseRfc3339(c.at("endDateTime").as_string())) + "." + std::string(c.at("cdrId").as_string());
}
std::string ConfToken(const json::object& c) {
  const json::value& stop = c.at("actualStop").is_null() ? c.at("scheduledStop") : c.at("actualStop");
  return std::to_string(*ParseRfc3339(stop.as_string())) + "." + std::string(c.at("conferenceId").as_string());
}

json::array WalkInventory(Stack& s, int limit, int* pages = nullptr) {
  return Walk(
      s.rprm, [](auto q) { return RprmGet("/api/rest/device-inventory", q); }, "plcm-device-inventory-list",
      "plcm-device-inventory", limit, DeviceToken, pages);
}
json::array WalkCdrs(Stack& s, int limit, int* pages = nullptr) {
  return Walk(
      s.rprm, [](auto q) { return RprmGet("/api/rest/endpoint-usage-cdrs", q); }, "plcm-endpoint-usage-cdr-list",
      "plcm-endpoint-usage-cdr", limit, CdrToken, pages);
}
json::array WalkConferences(Stack& s, int limit, int* pages = nullptr) {
  return Walk(
      s.rprm, [](auto q) { return RprmGet("/api/rest/conference-usage-cdrs", q); },
      "plcm-conference-usage-cdr-list", "plcm-conference-usage-cdr", limit, ConfToken, pages);
}

// Paging by 7 and by 1000 give the same items, each once, and the walk ends
// on an empty page.
TEST(RprmApiTest, EveryListPagesExactlyOnce) {
  Stack s(42, 3);
  using WalkFn = json::array (*)(Stack&, int, int*);
  const std::vector<std::pair<WalkFn, const char*>> walks = {
      {WalkInventory, "deviceId"}, {WalkCdrs, "cdrId"}, {WalkConferences, "conferenceId"}};
  for (const auto& [walk, id_key] : walks) {
    int pages = 0;
    json::array small = walk(s, 7, &pages);
    json::array big = walk(s, 1000, nullptr);
    ASSERT_FALSE(small.empty()) << id_key;
    EXPECT_EQ(json::serialize(small), json::serialize(big)) << id_key;
    EXPECT_EQ(pages, static_cast<int>((small.size() + 6) / 7 + 1)) << id_key;
    std::set<std::string> ids;
    for (const auto& v : small) ids.insert(std::string(v.at(id_key).as_string()));
    EXPECT_EQ(ids.size(), small.size()) << id_key;
  }
}

TEST(RprmApiTest, LiveCdrsResumeFromTheLastTokenExactlyOnce) {
  Stack s(42, 1, true);
  std::set<std::string> seen;
  std::optional<std::string> after;
  size_t total = 0;
  for (int step = 0; step < 12; ++step) {
    s.clock.Set(kOrigin + step * 1200);
    for (;;) {
      std::map<std::string, std::string> q{{"limit", "50"}};
      if (after) q["after"] = *after;
      json::object body = Body(s.rprm(RprmGet("/api/rest/endpoint-usage-cdrs", q)));
      const json::array& items = Items(body, "plcm-endpoint-usage-cdr-list", "plcm-endpoint-usage-cdr");
      if (items.empty()) {
        EXPECT_TRUE(body.at("next").is_null());
        break;
      }
      for (const auto& v : items) {
        EXPECT_TRUE(seen.insert(std::string(v.at("cdrId").as_string())).second) << "a CDR came twice";
        EXPECT_LE(*ParseRfc3339(v.at("endDateTime").as_string()), kOrigin + step * 1200);
        ++total;
      }
      after = std::string(body.at("next").as_string());
    }
  }
  // Whoever walks once at the end sees the same set.
  Stack fresh(42, 1, true);
  fresh.clock.Set(kOrigin + 11 * 1200);
  json::array all = WalkCdrs(fresh, 1000);
  EXPECT_EQ(all.size(), total);
  EXPECT_GT(total, 0u);
}

TEST(RprmApiTest, InventoryHasTheUiFieldsAndOurAssumedOnes) {
  Stack s(42, 1);
  json::array devices = WalkInventory(s, 1000);
  const Organisation& org = s.workload->org();
  size_t deployed = 2;  // the DMA and the MCU
  for (const Device& d : org.endpoints) deployed += d.DeployedAt(kOrigin);
  ASSERT_EQ(devices.size(), deployed);
  const std::regex mac(R"([0-9a-f]{2}(:[0-9a-f]{2}){5})");
  std::set<std::string> zones, statuses, serials;
  for (const auto& v : devices) {
    const json::object& d = v.as_object();
    for (const char* k : {"deviceId", "name", "deviceType", "model", "systemManufacturer", "softwareVersion",
                          "serialNumber", "ipAddress", "macAddress", "site", "timeZone", "status"})
      ASSERT_TRUE(d.at(k).is_string()) << k;
    EXPECT_TRUE(d.at("owner").is_null() || d.at("owner").is_string());
    EXPECT_TRUE(std::regex_match(std::string(d.at("macAddress").as_string()), mac));
    zones.insert(std::string(d.at("timeZone").as_string()));
    statuses.insert(std::string(d.at("status").as_string()));
    serials.insert(std::string(d.at("serialNumber").as_string()));
  }
  EXPECT_EQ(serials.size(), devices.size());
  EXPECT_EQ(zones.size(), org.sites.size());
  EXPECT_TRUE(zones.count("Europe/London"));
  EXPECT_TRUE(statuses.count("ONLINE"));
}

TEST(RprmApiTest, EndpointCdrsCarryMediaQualityPerEndpoint) {
  Stack s(7, 7);
  json::array cdrs = WalkCdrs(s, 1000);
  ASSERT_GT(cdrs.size(), 100u);
  std::map<std::string, std::vector<json::object>> by_call;
  int failed = 0;
  const char* quality[] = {"avgPercentPacketLossTx", "avgPercentPacketLossRx", "maxPercentPacketLossTx",
                           "maxPercentPacketLossRx", "avgLatencyTx", "avgLatencyRx", "maxLatencyTx", "maxLatencyRx",
                           "avgJitterTx", "avgJitterRx", "maxJitterTx", "maxJitterRx", "avgPacketsLostTx",
                           "avgPacketsLostRx"};
  for (const auto& v : cdrs) {
    const json::object& c = v.as_object();
    by_call[std::string(c.at("callId").as_string())].push_back(c);
    EXPECT_EQ(c.at("systemManufacturer"), "Poly");  // RPRM manages Poly endpoints
    const bool ok = c.at("q850Cause").as_int64() == 16;
    if (!ok) {
      ++failed;
      for (const char* k : quality) EXPECT_TRUE(c.at(k).is_null()) << k;
      EXPECT_EQ(c.at("callDuration"), "00:00:00");
      continue;
    }
    EXPECT_EQ(c.at("disconnectInfo"), "Normal call clearing");
    // Percentages are decimals; the rest whole numbers.
    EXPECT_TRUE(c.at("avgPercentPacketLossTx").is_double());
    EXPECT_LE(c.at("avgPercentPacketLossTx").as_double(), c.at("maxPercentPacketLossTx").as_double());
    EXPECT_LE(c.at("avgLatencyRx").as_int64(), c.at("maxLatencyRx").as_int64());
    EXPECT_LE(c.at("avgJitterTx").as_int64(), c.at("maxJitterTx").as_int64());
    EXPECT_GE(c.at("avgLatencyTx").as_int64(), 2);
    std::string direction(c.at("callDirection").as_string());
    EXPECT_TRUE(direction == "Outgoing" || direction == "Incoming");
    // The local date and time agree with the zoned timestamp.
    std::string start(c.at("startDateTime").as_string());
    EXPECT_EQ(c.at("startDate"), start.substr(0, 10).c_str());
    EXPECT_EQ(c.at("startTime"), start.substr(11, 8).c_str());
  }
  EXPECT_GT(failed, 0);
  // A point-to-point call between two Poly endpoints has two CDRs, and what
  // one sent is what the other received.
  int pairs = 0;
  for (const auto& [id, list] : by_call) {
    if (list.size() != 2 || list[0].at("q850Cause").as_int64() != 16) continue;
    const json::object& a = list[0].at("callDirection") == "Outgoing" ? list[0] : list[1];
    const json::object& b = &a == &list[0] ? list[1] : list[0];
    EXPECT_EQ(a.at("avgPercentPacketLossTx"), b.at("avgPercentPacketLossRx"));
    EXPECT_EQ(a.at("avgJitterRx"), b.at("avgJitterTx"));
    EXPECT_EQ(a.at("remoteSystemName"), b.at("name"));
    ++pairs;
  }
  EXPECT_GT(pairs, 0);
  // Decimal numbers are written plainly, never in exponent form.
  http::Response raw = s.rprm(RprmGet("/api/rest/endpoint-usage-cdrs", {{"limit", "200"}}));
  EXPECT_EQ(raw.body.find("E-"), std::string::npos);
  EXPECT_NE(raw.body.find("\"avgPercentPacketLossTx\":0."), std::string::npos);
}

TEST(RprmApiTest, ConferenceUsageComparesScheduledAndActual) {
  Stack s(42, 14);
  json::array conferences = WalkConferences(s, 1000);
  ASSERT_GT(conferences.size(), 10u);
  int no_shows = 0;
  for (const auto& v : conferences) {
    const json::object& c = v.as_object();
    const int64_t sched_start = *ParseRfc3339(c.at("scheduledStart").as_string());
    const int64_t sched_stop = *ParseRfc3339(c.at("scheduledStop").as_string());
    EXPECT_EQ(sched_start % 900, 0);
    EXPECT_EQ(c.at("scheduledDuration").as_int64(), (sched_stop - sched_start) / 60);
    int attended = 0;
    for (const auto& p : c.at("participants").as_array()) {
      attended += p.at("attended").as_bool();
      EXPECT_EQ(p.at("joinTime").is_null(), !p.at("attended").as_bool());
    }
    EXPECT_EQ(c.at("totalActualParticipants").as_int64(), attended);
    EXPECT_EQ(c.at("totalScheduledParticipants").as_int64(),
              static_cast<int64_t>(c.at("participants").as_array().size()));
    if (c.at("actualStart").is_null()) {
      ++no_shows;
      EXPECT_EQ(attended, 0);
      continue;
    }
    const int64_t actual_start = *ParseRfc3339(c.at("actualStart").as_string());
    EXPECT_LE(std::abs(actual_start - sched_start), 15 * 60);
    EXPECT_GT(*ParseRfc3339(c.at("actualStop").as_string()), actual_start);
  }
  EXPECT_GT(no_shows, 0);
}

TEST(RprmApiTest, NeedsItsOwnCredentials) {
  Stack s(42, 1);
  http::Response r = s.rprm(Get("/api/rest/device-inventory"));  // the DMA's credentials
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("WWW-Authenticate"), "Basic realm=\"RPRM\"");
  EXPECT_EQ(s.rprm(RprmGet("/api/rest/calls")).status, 404);  // the DMA's resource is not here
  EXPECT_EQ(s.rprm(RprmGet("/api/rest/device-inventory", {{"after", "abc"}})).status, 400);
  EXPECT_EQ(s.rprm(RprmGet("/api/rest/endpoint-usage-cdrs", {{"after", "12.nope"}})).status, 400);
  EXPECT_EQ(s.rprm(RprmGet("/api/rest/conference-usage-cdrs", {{"limit", "0"}})).status, 400);
  EXPECT_EQ(s.rprm(RprmGet("/api/rest/device-inventory", {}, "application/xml")).status, 406);
}

}  // namespace
}  // namespace parley::devsim
