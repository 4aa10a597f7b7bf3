#include "devsim/timezone.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <string>

#include "common/time_format.h"
#include "devsim/workload.h"

namespace parley::devsim {
namespace {

int64_t T(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

TEST(TimeZoneTest, CalendarHelpers) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2026, 12, 4), T("2026-12-04T00:00:00Z") / 86400);
  int y;
  unsigned m, d;
  CivilFromDays(DaysFromCivil(2024, 2, 29), y, m, d);
  EXPECT_EQ(y, 2024);
  EXPECT_EQ(m, 2u);
  EXPECT_EQ(d, 29u);
  EXPECT_EQ(Weekday(0), 4);                             // Thursday
  EXPECT_EQ(Weekday(DaysFromCivil(2026, 12, 4)), 5);    // Friday
  EXPECT_EQ(FloorDiv(-1, 60), -1);
  EXPECT_EQ(FloorDiv(59, 60), 0);
}

TEST(TimeZoneTest, KnownTransitions2026) {
  const TimeZone london{"Europe/London", 0, DstRule::kEu};
  const TimeZone berlin{"Europe/Berlin", 60, DstRule::kEu};
  const TimeZone new_york{"America/New_York", -300, DstRule::kUs};
  const TimeZone los_angeles{"America/Los_Angeles", -480, DstRule::kUs};
  const TimeZone sydney{"Australia/Sydney", 600, DstRule::kAu};
  const TimeZone tokyo{"Asia/Tokyo", 540, DstRule::kNone};
  // EU: 29 March and 25 October 2026, 01:00 UTC.
  EXPECT_EQ(UtcOffsetMinutes(london, T("2026-03-29T00:59:59Z")), 0);
  EXPECT_EQ(UtcOffsetMinutes(london, T("2026-03-29T01:00:00Z")), 60);
  EXPECT_EQ(UtcOffsetMinutes(london, T("2026-10-25T00:59:59Z")), 60);
  EXPECT_EQ(UtcOffsetMinutes(london, T("2026-10-25T01:00:00Z")), 0);
  EXPECT_EQ(UtcOffsetMinutes(berlin, T("2026-07-01T12:00:00Z")), 120);
  EXPECT_EQ(UtcOffsetMinutes(berlin, T("2026-12-04T12:00:00Z")), 60);
  // US: 8 March 02:00 EST (07:00 UTC) and 1 November 02:00 EDT (06:00 UTC).
  EXPECT_EQ(UtcOffsetMinutes(new_york, T("2026-03-08T06:59:59Z")), -300);
  EXPECT_EQ(UtcOffsetMinutes(new_york, T("2026-03-08T07:00:00Z")), -240);
  EXPECT_EQ(UtcOffsetMinutes(new_york, T("2026-11-01T05:59:59Z")), -240);
  EXPECT_EQ(UtcOffsetMinutes(new_york, T("2026-11-01T06:00:00Z")), -300);
  EXPECT_EQ(UtcOffsetMinutes(los_angeles, T("2026-03-08T10:00:00Z")), -420);
  // New South Wales: ends 5 April 03:00 AEDT (16:00 UTC on the 4th), starts
  // 4 October 02:00 AEST (16:00 UTC on the 3rd).
  EXPECT_EQ(UtcOffsetMinutes(sydney, T("2026-04-04T15:59:59Z")), 660);
  EXPECT_EQ(UtcOffsetMinutes(sydney, T("2026-04-04T16:00:00Z")), 600);
  EXPECT_EQ(UtcOffsetMinutes(sydney, T("2026-10-03T15:59:59Z")), 600);
  EXPECT_EQ(UtcOffsetMinutes(sydney, T("2026-10-03T16:00:00Z")), 660);
  EXPECT_EQ(UtcOffsetMinutes(sydney, T("2026-12-31T23:00:00Z")), 660);
  EXPECT_EQ(UtcOffsetMinutes(tokyo, T("2026-07-01T00:00:00Z")), 540);
  // The formatted time carries the offset in force at that instant.
  EXPECT_EQ(FormatZoned(T("2026-03-29T00:30:00Z"), london), "2026-03-29T00:30:00.000+00:00");
  EXPECT_EQ(FormatZoned(T("2026-03-29T01:30:00Z"), london), "2026-03-29T02:30:00.000+01:00");
}

// Every zone the site catalogue uses agrees with this machine's tz database
// for every hour of 2024-2028 (skipped for zones the machine lacks).
TEST(TimeZoneTest, AgreesWithSystemTzdata) {
  std::map<std::string, TimeZone> zones;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    WorkloadOptions o;
    o.seed = seed;
    o.origin_unix = T("2026-12-04T16:00:00Z");
    o.history_days = 0;
    auto w = std::move(Workload::Create(o)).value();
    for (const Site& s : w->org().sites) zones[std::string(s.tz.iana)] = s.tz;
  }
  EXPECT_EQ(zones.size(), 8u);  // every catalogue site was drawn by some seed
  const char* old_tz = std::getenv("TZ");
  const std::string saved = old_tz ? old_tz : "";
  int checked = 0;
  for (const auto& [name, zone] : zones) {
    if (!std::filesystem::exists("/usr/share/zoneinfo/" + name)) continue;
    ::setenv("TZ", name.c_str(), 1);
    ::tzset();
    for (int64_t t = T("2024-01-01T00:00:00Z"); t < T("2029-01-01T00:00:00Z"); t += 3600) {
      time_t tt = static_cast<time_t>(t);
      struct tm tm {};
      ::localtime_r(&tt, &tm);
      ASSERT_EQ(UtcOffsetMinutes(zone, t) * 60, tm.tm_gmtoff) << name << " at " << FormatUtc(t);
    }
    ++checked;
  }
  if (old_tz) ::setenv("TZ", saved.c_str(), 1);
  else ::unsetenv("TZ");
  ::tzset();
  // scripts/install-deps installs tzdata, so the comparison must have run.
  ASSERT_GT(checked, 0) << "no tz database on this machine (run scripts/install-deps)";
}

}  // namespace
}  // namespace parley::devsim
