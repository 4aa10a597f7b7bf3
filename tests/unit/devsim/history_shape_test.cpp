// The promised shape of a long generated history (issue 3): a daily peak in
// business hours, a weekend dip, quiet holidays, calls per day that grow
// over months while peak MCU use approaches the licence, media quality that
// differs by site and network, a spread of software versions, and scheduled
// meetings whose actual times stay near the booked ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/time_format.h"
#include "devsim/workload.h"

namespace parley::devsim {
namespace {

const int64_t kOrigin = *ParseRfc3339("2026-12-04T16:00:00Z");  // a Friday
constexpr int64_t kDay = 86400;

// One year of history, built once for all tests here.
Workload& Year() {
  static Workload* w = [] {
    WorkloadOptions o;
    o.seed = 2024;
    o.origin_unix = kOrigin;
    o.history_days = 365;
    return std::move(Workload::Create(o)).value().release();
  }();
  return *w;
}

const Site& OrigSite(const Workload& w, const Call& c) {
  return w.SiteOf(w.org().endpoints[static_cast<size_t>(c.originator)]);
}

int64_t LocalDay(const Site& site, int64_t t) { return FloorDiv(t + site.OffsetAt(t) * 60, kDay); }

int LocalHour(const Site& site, int64_t t) {
  int64_t local = t + site.OffsetAt(t) * 60;
  return static_cast<int>((local - FloorDiv(local, kDay) * kDay) / 3600);
}

// Peak concurrent use (MCU ports, or calls) of each day in [from, to).
std::vector<int> DailyPeaks(const std::vector<Call>& calls, int64_t from, int64_t to, bool ports) {
  std::map<int64_t, std::vector<std::pair<int64_t, int>>> edges;  // by UTC day of start
  for (const Call& c : calls) {
    if (c.start_unix < from || c.start_unix >= to || c.failed()) continue;
    int cost = ports ? PortCost(c) : 1;
    if (cost == 0) continue;
    auto& e = edges[c.start_unix / kDay];
    e.emplace_back(c.start_unix, cost);
    e.emplace_back(c.key.end_unix, -cost);
  }
  std::vector<int> peaks;
  for (int64_t day = from / kDay; day < to / kDay; ++day) {
    auto& e = edges[day];
    std::sort(e.begin(), e.end());
    int now = 0, peak = 0;
    for (const auto& [t, d] : e) peak = std::max(peak, now += d);
    peaks.push_back(peak);
  }
  return peaks;
}

double MeanWeekdayPeak(const std::vector<Call>& calls, int64_t from, int64_t to) {
  std::vector<int> peaks = DailyPeaks(calls, from, to, true);
  double sum = 0, n = 0;
  for (size_t i = 0; i < peaks.size(); ++i) {
    int wd = Weekday(from / kDay + static_cast<int64_t>(i));
    if (wd == 0 || wd == 6) continue;
    sum += peaks[i];
    ++n;
  }
  return sum / n;
}

TEST(HistoryShapeTest, DailyPeakIsInBusinessHours) {
  const Workload& w = Year();
  std::array<int64_t, 24> by_hour{};
  for (const Call& c : w.HistoryCalls()) ++by_hour[static_cast<size_t>(LocalHour(OrigSite(w, c), c.start_unix))];
  auto peak = std::max_element(by_hour.begin(), by_hour.end()) - by_hour.begin();
  EXPECT_GE(peak, 9);
  EXPECT_LE(peak, 16);
  int64_t business = 0, night = 0;
  for (int h = 9; h < 17; ++h) business += by_hour[static_cast<size_t>(h)];
  for (int h = 0; h < 6; ++h) night += by_hour[static_cast<size_t>(h)];
  EXPECT_GT(business, 15 * night);
  // The lunch dip: 12:00 is quieter than 10:00 and 14:00.
  EXPECT_LT(by_hour[12], by_hour[10]);
  EXPECT_LT(by_hour[12], by_hour[14]);
}

TEST(HistoryShapeTest, WeekendsDip) {
  const Workload& w = Year();
  std::array<int64_t, 7> by_weekday{};
  for (const Call& c : w.HistoryCalls())
    ++by_weekday[static_cast<size_t>(Weekday(LocalDay(OrigSite(w, c), c.start_unix)))];
  const double weekend = (by_weekday[0] + by_weekday[6]) / 2.0;
  const double weekday = (by_weekday[1] + by_weekday[2] + by_weekday[3] + by_weekday[4] + by_weekday[5]) / 5.0;
  EXPECT_LT(weekend, 0.25 * weekday);
  EXPECT_GT(weekend, 0.0);
}

TEST(HistoryShapeTest, HolidaysAreQuiet) {
  const Workload& w = Year();
  // Per site: calls per local day, split into holidays that fall on a
  // weekday and ordinary weekdays.
  std::map<std::pair<int, int64_t>, int> per_day;
  for (const Call& c : w.HistoryCalls()) {
    const Device& d = w.org().endpoints[static_cast<size_t>(c.originator)];
    ++per_day[{d.site, LocalDay(w.SiteOf(d), c.start_unix)}];
  }
  double holiday_calls = 0, holiday_days = 0, normal_calls = 0, normal_days = 0;
  const int64_t first = kOrigin / kDay - 300, last = kOrigin / kDay - 1;  // all sites open by then
  for (int s = 0; s < static_cast<int>(w.org().sites.size()); ++s) {
    std::set<int64_t> holidays;
    for (int year : {2025, 2026})
      for (int64_t d : w.Holidays(s, year)) holidays.insert(d);
    for (int64_t day = first; day <= last; ++day) {
      int wd = Weekday(day);
      if (wd == 0 || wd == 6) continue;
      int calls = per_day.count({s, day}) ? per_day[{s, day}] : 0;
      if (holidays.count(day)) {
        holiday_calls += calls;
        ++holiday_days;
      } else if (w.DayFactor(s, day) == 1000) {
        normal_calls += calls;
        ++normal_days;
      }
    }
  }
  ASSERT_GT(holiday_days, 10);
  EXPECT_LT(holiday_calls / holiday_days, 0.25 * (normal_calls / normal_days));
  // Christmas Day is a holiday everywhere.
  for (int s = 0; s < static_cast<int>(w.org().sites.size()); ++s) {
    auto h = w.Holidays(s, 2025);
    EXPECT_TRUE(std::binary_search(h.begin(), h.end(), DaysFromCivil(2025, 12, 25)));
    EXPECT_TRUE(std::binary_search(h.begin(), h.end(), DaysFromCivil(2025, 1, 1)));
  }
}

TEST(HistoryShapeTest, CallsPerDayGrowAndPeakUseApproachesTheLicence) {
  const Workload& w = Year();
  const auto calls = w.HistoryCalls();
  auto weekday_rate = [&](int64_t from, int64_t to) {
    double n = 0, days = 0;
    for (int64_t d = from / kDay; d < to / kDay; ++d)
      if (Weekday(d) != 0 && Weekday(d) != 6) ++days;
    for (const Call& c : calls)
      if (c.start_unix >= from && c.start_unix < to && Weekday(c.start_unix / kDay) != 0 &&
          Weekday(c.start_unix / kDay) != 6)
        ++n;
    return n / days;
  };
  const int64_t year_ago = kOrigin - 365 * kDay;
  const double early = weekday_rate(year_ago, year_ago + 56 * kDay);
  const double late = weekday_rate(kOrigin - 56 * kDay, kOrigin);
  EXPECT_GT(late, 1.3 * early) << early << " -> " << late;
  // The busy hour's MCU use (mean of weekday peaks per month) rises
  // towards the licence; refusals (503) keep use within it.
  const int licence = w.org().licensed_video_ports;
  const double first_month = MeanWeekdayPeak(calls, year_ago, year_ago + 30 * kDay);
  const double last_month = MeanWeekdayPeak(calls, kOrigin - 30 * kDay, kOrigin);
  EXPECT_GT(last_month, 1.2 * first_month) << first_month << " -> " << last_month;
  EXPECT_GT(last_month, 0.5 * licence) << last_month << " of " << licence;
  EXPECT_LT(last_month, 0.9 * licence) << last_month << " of " << licence;
  for (int peak : DailyPeaks(calls, year_ago, kOrigin, true)) EXPECT_LE(peak, licence);
  for (int peak : DailyPeaks(calls, year_ago, kOrigin, false)) EXPECT_LE(peak, w.org().licensed_calls);
  const auto busiest = DailyPeaks(calls, kOrigin - 30 * kDay, kOrigin, true);
  EXPECT_GE(*std::max_element(busiest.begin(), busiest.end()), licence * 80 / 100);
}

TEST(HistoryShapeTest, OrganisationGrowsAndOnlyActiveDevicesCall) {
  const Workload& w = Year();
  const Organisation& org = w.org();
  int deployed_year_ago = 0, offline = 0;
  for (const Device& d : org.endpoints) {
    deployed_year_ago += d.DeployedAt(kOrigin - 365 * kDay);
    offline += !d.ActiveAt(kOrigin);
  }
  EXPECT_LT(deployed_year_ago, static_cast<int>(org.endpoints.size()) * 80 / 100);
  EXPECT_GT(deployed_year_ago, static_cast<int>(org.endpoints.size()) * 35 / 100);
  // One office opened during the year.
  int new_sites = 0;
  for (const Site& s : org.sites) {
    if (s.opened_unix == std::numeric_limits<int64_t>::min()) continue;
    ++new_sites;
    EXPECT_GE(s.opened_unix, kOrigin - 300 * kDay);
    EXPECT_LE(s.opened_unix, kOrigin - 150 * kDay);
  }
  EXPECT_EQ(new_sites, 1);
  // deviceIdentifier ascends with deployment.
  std::vector<const Device*> by_id;
  for (const Device& d : org.endpoints) by_id.push_back(&d);
  std::sort(by_id.begin(), by_id.end(), [](const Device* a, const Device* b) { return a->id < b->id; });
  for (size_t i = 1; i < by_id.size(); ++i) EXPECT_LE(by_id[i - 1]->deployed_unix, by_id[i]->deployed_unix);
  for (const Call& c : w.HistoryCalls()) {
    EXPECT_TRUE(org.endpoints[static_cast<size_t>(c.originator)].ActiveAt(c.start_unix));
    if (c.type == CallType::kPointToPoint) {
      EXPECT_TRUE(org.endpoints[static_cast<size_t>(c.destination)].ActiveAt(c.start_unix));
    }
  }
  (void)offline;
}

TEST(HistoryShapeTest, MediaQualityVariesBySiteAndNetwork) {
  const Workload& w = Year();
  const Organisation& org = w.org();
  int poor = -1;
  for (size_t s = 0; s < org.sites.size(); ++s)
    if (org.sites[s].poor_network) poor = static_cast<int>(s);
  ASSERT_GT(poor, 0);  // never the HQ
  // Average loss of what on-site (not remote) endpoints send, per site.
  std::map<int, std::pair<double, int>> by_site;
  double remote_loss = 0, lan_loss = 0;
  int remote_n = 0, lan_n = 0;
  for (const Call& c : w.HistoryCalls()) {
    if (c.failed() || c.type != CallType::kVmr) continue;  // to the MCU at the HQ: one path per site
    const Device& d = org.endpoints[static_cast<size_t>(c.originator)];
    const PathQuality q = w.Quality(c, true, true);
    if (d.remote) {
      remote_loss += q.loss_bp;
      ++remote_n;
    } else {
      by_site[d.site].first += q.loss_bp;
      ++by_site[d.site].second;
      if (!org.sites[static_cast<size_t>(d.site)].poor_network) {
        lan_loss += q.loss_bp;
        ++lan_n;
      }
    }
    EXPECT_LE(q.loss_bp, q.max_loss_bp);
    EXPECT_LE(q.jitter_ms, q.max_jitter_ms);
    EXPECT_LE(q.latency_ms, q.max_latency_ms);
    EXPECT_GE(q.latency_ms, 2);
  }
  auto mean = [&](int s) { return by_site[s].first / std::max(1, by_site[s].second); };
  EXPECT_GT(mean(poor), 3 * mean(0));
  ASSERT_GT(remote_n, 0);
  EXPECT_GT(remote_loss / remote_n, 2 * lan_loss / lan_n);
  // Both ends of a point-to-point call see the same path: A's transmit is
  // B's receive.
  int checked = 0;
  for (const Call& c : w.HistoryCalls()) {
    if (c.type != CallType::kPointToPoint || c.failed()) continue;
    EXPECT_EQ(w.Quality(c, true, true), w.Quality(c, false, false));
    EXPECT_EQ(w.Quality(c, true, false), w.Quality(c, false, true));
    if (++checked == 200) break;
  }
  // Far sites are further away: London <-> Sydney/Tokyo/Singapore latency
  // exceeds London <-> London.
  EXPECT_GT(checked, 0);
}

TEST(HistoryShapeTest, SoftwareVersionsAreSpread) {
  std::map<std::string, std::map<std::string, int>> versions;  // device type -> version -> count
  std::set<std::string> models, vendors;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    WorkloadOptions o;
    o.seed = seed;
    o.origin_unix = kOrigin;
    o.history_days = 0;
    auto w = std::move(Workload::Create(o)).value();
    for (const Device& d : w->org().endpoints) {
      ++versions[d.device_type][d.version];
      models.insert(d.model);
      vendors.insert(d.vendor);
    }
  }
  EXPECT_GE(models.size(), 6u);
  EXPECT_EQ(vendors, (std::set<std::string>{"Cisco", "Poly"}));
  for (const auto& [type, counts] : versions) {
    int total = 0, top = 0;
    for (const auto& [v, n] : counts) {
      total += n;
      top = std::max(top, n);
    }
    if (total < 20) continue;
    EXPECT_GE(counts.size(), 3u) << type;
    EXPECT_LT(top, total * 70 / 100) << type;
  }
}

TEST(HistoryShapeTest, ScheduledMeetingsStayNearTheirBooking) {
  const Workload& w = Year();
  std::map<std::pair<uint64_t, uint64_t>, std::vector<Call>> calls_by_conf;
  for (const Call& c : w.HistoryCalls())
    if (c.type == CallType::kVmr) calls_by_conf[{c.conf_hi, c.conf_lo}].push_back(c);
  int scheduled = 0, no_show = 0, ad_hoc = 0, early = 0, late = 0;
  for (const Meeting& m : w.HistoryMeetings()) {
    const auto& calls = calls_by_conf[{m.key.id_hi, m.key.id_lo}];
    int connected = 0;
    for (int8_t i = 0; i < m.n_participants; ++i) connected += m.participants[static_cast<size_t>(i)].connected;
    EXPECT_LE(m.part_count, connected);
    EXPECT_GE(m.max_video_ports, m.part_count);
    EXPECT_LE(m.max_video_ports, 2 * m.part_count);
    if (!m.scheduled) {
      ++ad_hoc;
      EXPECT_TRUE(m.connected());
      continue;
    }
    ++scheduled;
    EXPECT_EQ(m.sched_start % 900, 0);
    const int64_t length = m.sched_end - m.sched_start;
    EXPECT_TRUE(length == 1800 || length == 3600 || length == 5400 || length == 7200) << length;
    if (!m.connected()) {
      ++no_show;
      EXPECT_EQ(m.key.end_unix, m.sched_end);
      continue;
    }
    EXPECT_EQ(m.key.end_unix, m.last_leave);
    EXPECT_GE(m.first_join, m.sched_start - 600);
    EXPECT_LE(m.first_join, m.sched_start + 900);
    early += m.last_leave < m.sched_end;
    late += m.last_leave > m.sched_end;
    // The meeting's statistics are those of its calls.
    int64_t first = 0, last = 0;
    for (const Call& c : calls) {
      if (c.failed()) continue;
      if (first == 0 || c.start_unix < first) first = c.start_unix;
      last = std::max(last, c.key.end_unix);
    }
    EXPECT_EQ(first, m.first_join);
    EXPECT_EQ(last, m.last_leave);
  }
  EXPECT_GT(scheduled, 50);
  EXPECT_GT(ad_hoc, scheduled);
  EXPECT_GT(no_show, 0);
  EXPECT_LT(no_show, scheduled / 5);
  EXPECT_GT(early, 0);
  EXPECT_GT(late, 0);
}

}  // namespace
}  // namespace parley::devsim
