#include "devsim/workload.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/time_format.h"

namespace parley::devsim {
namespace {

// Friday 2026-12-04 16:00 UTC.
const int64_t kOrigin = *ParseRfc3339("2026-12-04T16:00:00Z");

std::unique_ptr<Workload> Make(uint64_t seed, int days, std::optional<int64_t> calls = std::nullopt,
                               bool live = false) {
  WorkloadOptions o;
  o.seed = seed;
  o.origin_unix = kOrigin;
  o.history_days = days;
  o.total_calls = calls;
  o.live = live;
  auto w = Workload::Create(o);
  EXPECT_TRUE(w.ok()) << (w.ok() ? "" : w.error().detail);
  return std::move(w).value();
}

std::string AllLines(const Workload& w) {
  std::string out;
  for (const Call& c : w.HistoryCalls()) out += ExpectedLine(w, c) + "\n";
  return out;
}

TEST(WorkloadTest, SameSeedGivesSameCallsDifferentSeedDiffers) {
  auto a = Make(42, 3), b = Make(42, 3), c = Make(43, 3);
  ASSERT_FALSE(a->HistoryCalls().empty());
  EXPECT_EQ(a->HistoryCalls(), b->HistoryCalls());
  EXPECT_EQ(AllLines(*a), AllLines(*b));
  EXPECT_NE(AllLines(*a), AllLines(*c));
}

TEST(WorkloadTest, OrganisationIsPlausibleAndUnique) {
  for (uint64_t seed : {1ULL, 2ULL, 42ULL, 1234567ULL}) {
    auto w = Make(seed, 0);
    const Organisation& org = w->org();
    EXPECT_GE(org.sites.size(), 4u);
    EXPECT_LE(org.sites.size(), 6u);
    EXPECT_EQ(org.sites[0].name, "London HQ");
    EXPECT_GE(org.endpoints.size(), 40u);
    EXPECT_LE(org.endpoints.size(), 80u);
    std::set<std::string> names, numbers, uris, ips;
    int rooms = 0;
    for (const Device& d : org.endpoints) {
      names.insert(d.name);
      numbers.insert(d.number);
      uris.insert(d.sip_uri);
      ips.insert(d.ip);
      rooms += d.room;
      EXPECT_EQ(d.number.front(), '+');
      EXPECT_EQ(d.sip_uri.rfind("sip:", 0), 0u);
      EXPECT_NE(d.sip_uri.find("@" + org.domain), std::string::npos);
      EXPECT_EQ(d.ip.rfind("10.", 0), 0u);
      EXPECT_FALSE(d.model.empty());
      EXPECT_FALSE(d.version.empty());
    }
    EXPECT_EQ(names.size(), org.endpoints.size());
    EXPECT_EQ(numbers.size(), org.endpoints.size());
    EXPECT_EQ(uris.size(), org.endpoints.size());
    EXPECT_EQ(ips.size(), org.endpoints.size());
    EXPECT_GT(rooms, 0);
    EXPECT_LT(rooms, static_cast<int>(org.endpoints.size()) / 2);
  }
}

TEST(WorkloadTest, ExactCountAllEndedBeforeOriginUniqueIds) {
  for (int64_t n : {0, 1, 7, 500, 3000}) {
    auto w = Make(42, 2, n);
    auto calls = w->HistoryCalls();
    ASSERT_EQ(static_cast<int64_t>(calls.size()), n);
    std::set<std::pair<uint64_t, uint64_t>> ids;
    for (const Call& c : calls) {
      EXPECT_LE(c.key.end_unix, kOrigin);
      EXPECT_LE(c.start_unix, c.key.end_unix);
      EXPECT_GE(c.start_unix, kOrigin - 2 * 86400 - 60);
      ids.insert({c.key.id_hi, c.key.id_lo});
    }
    EXPECT_EQ(ids.size(), calls.size());
    EXPECT_TRUE(std::is_sorted(calls.begin(), calls.end(), [](const Call& a, const Call& b) { return a.key < b.key; }));
  }
}

TEST(WorkloadTest, DiurnalAndWeeklyShape) {
  auto w = Make(7, 14);
  auto calls = w->HistoryCalls();
  ASSERT_GT(calls.size(), 500u);
  int business = 0, night = 0, weekday_calls = 0, weekend_calls = 0;
  for (const Call& c : calls) {
    const Site& site = w->org().sites[static_cast<size_t>(w->org().endpoints[static_cast<size_t>(c.originator)].site)];
    int64_t local = c.start_unix + site.OffsetAt(c.start_unix) * 60;
    int hour = static_cast<int>(local % 86400 / 3600);
    int weekday = static_cast<int>((local / 86400 + 4) % 7);  // 0 = Sunday
    if (hour >= 9 && hour < 17) ++business;
    if (hour < 6) ++night;
    if (weekday == 0 || weekday == 6) ++weekend_calls;
    else ++weekday_calls;
  }
  EXPECT_GT(business, 10 * night);
  // 14 days = 10 weekdays + 4 weekend days: compare per-day rates.
  double weekday_rate = weekday_calls / 10.0, weekend_rate = weekend_calls / 4.0;
  EXPECT_LT(weekend_rate, 0.3 * weekday_rate);
  EXPECT_GT(weekend_rate, 0.0);
}

TEST(WorkloadTest, FailuresDurationsSignalingAndMeetings) {
  auto w = Make(11, 14);
  auto calls = w->HistoryCalls();
  int failed = 0, sip = 0, vmr = 0;
  std::vector<int64_t> durations;
  std::map<std::pair<uint64_t, uint64_t>, std::set<int>> meeting_vmrs;
  for (const Call& c : calls) {
    if (c.failed()) {
      ++failed;
      EXPECT_EQ(c.duration_s, 0);
      EXPECT_LE(c.key.end_unix - c.start_unix, 60);
    } else {
      EXPECT_EQ(c.key.end_unix - c.start_unix, c.duration_s);
      EXPECT_GE(c.duration_s, 30);
      EXPECT_LE(c.duration_s, 3 * 3600);
      durations.push_back(c.duration_s);
    }
    EXPECT_GE(c.bit_rate_kbps, 384);
    EXPECT_LE(c.bit_rate_kbps, 4096);
    sip += c.signaling == Signaling::kSip;
    if (c.type == CallType::kVmr) {
      ++vmr;
      meeting_vmrs[{c.conf_hi, c.conf_lo}].insert(c.destination);
    } else {
      EXPECT_EQ(c.conf_hi | c.conf_lo, 0u);
      EXPECT_NE(c.originator, c.destination);
    }
  }
  const double n = static_cast<double>(calls.size());
  EXPECT_NEAR(failed / n, 0.06, 0.03);
  EXPECT_NEAR(sip / n, 0.80, 0.06);
  EXPECT_GT(vmr, 0);
  // One meeting = one VMR, and meetings have several participants.
  for (const auto& [conf, vmrs] : meeting_vmrs) EXPECT_EQ(vmrs.size(), 1u);
  EXPECT_LT(meeting_vmrs.size(), static_cast<size_t>(vmr));
  std::sort(durations.begin(), durations.end());
  int64_t median = durations[durations.size() / 2];
  EXPECT_GT(median, 15 * 60);
  EXPECT_LT(median, 40 * 60);
}

TEST(WorkloadTest, TimeStringsParseAndCarryTheSiteOffset) {
  EXPECT_EQ(FormatDmaTime(*ParseRfc3339("2026-12-04T08:00:00Z"), 60), "2026-12-04T09:00:00.000+01:00");
  EXPECT_EQ(FormatDmaTime(*ParseRfc3339("2026-12-04T03:30:00Z"), -300), "2026-12-03T22:30:00.000-05:00");
  EXPECT_EQ(FormatDmaTime(*ParseRfc3339("2024-02-29T23:59:59Z"), 600), "2024-03-01T09:59:59.000+10:00");
  EXPECT_EQ(FormatDuration(0), "00:00:00");
  EXPECT_EQ(FormatDuration(3 * 3600 + 61), "03:01:01");
  auto w = Make(5, 2);
  for (const Call& c : w->HistoryCalls()) {
    const Site& site = w->org().sites[static_cast<size_t>(w->org().endpoints[static_cast<size_t>(c.originator)].site)];
    std::string start = FormatZoned(c.start_unix, site.tz);
    ASSERT_EQ(start.size(), 29u) << start;
    EXPECT_EQ(ParseRfc3339(start), c.start_unix) << start;
    EXPECT_EQ(ParseRfc3339(FormatZoned(c.key.end_unix, site.tz)), c.key.end_unix);
  }
}

TEST(WorkloadTest, UuidRoundTripAndOrderMatchesStrings) {
  EXPECT_EQ(FormatUuid(0x0123456789abcdefULL, 0xfedcba9876543210ULL), "01234567-89ab-cdef-fedc-ba9876543210");
  auto parsed = ParseUuid("01234567-89ab-cdef-fedc-ba9876543210");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->first, 0x0123456789abcdefULL);
  EXPECT_EQ(parsed->second, 0xfedcba9876543210ULL);
  EXPECT_FALSE(ParseUuid("01234567-89AB-cdef-fedc-ba9876543210"));
  EXPECT_FALSE(ParseUuid("0123456789ab-cdef-fedc-ba9876543210-"));
  EXPECT_FALSE(ParseUuid(""));
  auto w = Make(3, 2);
  auto calls = w->HistoryCalls();
  for (size_t i = 1; i < calls.size(); ++i) {
    if (calls[i - 1].key.end_unix != calls[i].key.end_unix) continue;
    EXPECT_LT(FormatUuid(calls[i - 1].key.id_hi, calls[i - 1].key.id_lo),
              FormatUuid(calls[i].key.id_hi, calls[i].key.id_lo));
  }
}

TEST(WorkloadTest, ListEndedOnlyShowsEndedCalls) {
  auto w = Make(42, 2);
  bool more = true;
  auto before = w->ListEnded(kOrigin - 86400, std::nullopt, 100000, &more);
  EXPECT_FALSE(more);
  for (const Call& c : before) EXPECT_LE(c.key.end_unix, kOrigin - 86400);
  EXPECT_LT(before.size(), w->HistoryCalls().size());
  EXPECT_EQ(w->CountEnded(kOrigin), w->HistoryCalls().size());
  // Not live: time passing reveals nothing new.
  EXPECT_EQ(w->CountEnded(kOrigin + 7 * 86400), w->HistoryCalls().size());
}

TEST(WorkloadTest, LiveModeRevealsNewCallsDeterministically) {
  auto stepped = Make(42, 1, std::nullopt, true);
  auto jumped = Make(42, 1, std::nullopt, true);
  size_t at_origin = stepped->CountEnded(kOrigin);
  EXPECT_EQ(at_origin, stepped->HistoryCalls().size());
  // Friday 16:00 UTC: business hours in London, Munich, Boston, ...
  size_t last = at_origin;
  for (int minutes = 10; minutes <= 240; minutes += 10) {
    size_t now = stepped->CountEnded(kOrigin + minutes * 60);
    EXPECT_GE(now, last);
    last = now;
  }
  EXPECT_GT(last, at_origin);
  const int64_t later = kOrigin + 240 * 60;
  bool more = false;
  auto a = stepped->ListEnded(later, std::nullopt, 1000000, &more);
  auto b = jumped->ListEnded(later, std::nullopt, 1000000, &more);
  EXPECT_EQ(a, b);
  for (const Call& c : a) EXPECT_LE(c.key.end_unix, later);
}

TEST(WorkloadTest, LiveModeMemoryIsBounded) {
  WorkloadOptions o;
  o.seed = 9;
  o.origin_unix = kOrigin;
  o.history_days = 1;
  o.live = true;
  o.retention_days = 3;
  auto w = std::move(Workload::Create(o)).value();
  size_t after_one_year = w->CountEnded(kOrigin + 365 * 86400);
  // At most ~4 days of calls retained (3-day retention; history_days + 1 floor).
  EXPECT_LT(after_one_year, 4 * 400u);
  bool more = false;
  auto page = w->ListEnded(kOrigin + 365 * 86400, std::nullopt, 1, &more);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_GE(page[0].key.end_unix, kOrigin + 365 * 86400 - 3 * 86400);
}

TEST(WorkloadTest, RejectsBadOptions) {
  WorkloadOptions o;
  o.history_days = -1;
  EXPECT_FALSE(Workload::Create(o).ok());
  o.history_days = 2;
  o.total_calls = -5;
  EXPECT_FALSE(Workload::Create(o).ok());
}

}  // namespace
}  // namespace parley::devsim

namespace parley::devsim {
namespace {

// Licences are enforced in live mode too, and the refusals (like everything
// else) do not depend on how time was stepped through.
TEST(WorkloadTest, LiveAdmissionIsDeterministicAndKeepsWithinTheLicences) {
  auto stepped = Make(42, 14, std::nullopt, true);
  auto jumped = Make(42, 14, std::nullopt, true);
  const int64_t monday_evening = kOrigin + 3 * 86400 + 6 * 3600;  // Monday 22:00 UTC
  for (int64_t t = kOrigin; t <= monday_evening; t += 7 * 60 + 13) {
    auto active = stepped->ActiveCalls(t);
    EXPECT_LE(static_cast<int>(active.size()), stepped->org().licensed_calls);
    int ports = 0;
    for (const Call& c : active) ports += PortCost(c);
    EXPECT_LE(ports, stepped->org().licensed_video_ports);
  }
  bool more = false;
  auto a = stepped->ListEnded(monday_evening, std::nullopt, 10000000, &more);
  auto b = jumped->ListEnded(monday_evening, std::nullopt, 10000000, &more);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(a == b);
  EXPECT_TRUE(stepped->ActiveMeetings(monday_evening) == jumped->ActiveMeetings(monday_evening));
  EXPECT_TRUE(stepped->ListScheduledMeetings(monday_evening, std::nullopt, 100000) ==
              jumped->ListScheduledMeetings(monday_evening, std::nullopt, 100000));
}

// With an exact count, meetings follow the calls that were kept.
TEST(WorkloadTest, ExactCountKeepsMeetingsConsistentWithCalls) {
  auto w = Make(42, 5, 2000);
  std::set<std::tuple<uint64_t, uint64_t, int>> calls;  // conf, originator
  for (const Call& c : w->HistoryCalls())
    if (c.type == CallType::kVmr) calls.insert({c.conf_hi, c.conf_lo, c.originator});
  ASSERT_FALSE(w->HistoryMeetings().empty());
  for (const Meeting& m : w->HistoryMeetings()) {
    EXPECT_LE(m.key.end_unix, kOrigin);
    for (int8_t i = 0; i < m.n_participants; ++i) {
      const Participant& p = m.participants[static_cast<size_t>(i)];
      if (p.called) {
        EXPECT_TRUE(calls.count({m.key.id_hi, m.key.id_lo, p.endpoint}));
      }
    }
  }
}

TEST(WorkloadTest, NotLiveMeansNothingIsActive) {
  auto w = Make(42, 2);
  for (int64_t t : {kOrigin - 3600, kOrigin, kOrigin + 3600}) {
    EXPECT_TRUE(w->ActiveCalls(t).empty());
    EXPECT_TRUE(w->ActiveMeetings(t).empty());
  }
}

}  // namespace
}  // namespace parley::devsim
