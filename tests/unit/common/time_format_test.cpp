#include "common/time_format.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <vector>

namespace parley {
namespace {

// UTC, offsets and fractions all map to the same instant.
TEST(TimeFormat, ParsesOffsetsAndFractions) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseRfc3339("2026-12-04T10:00:00Z"), ParseRfc3339("2026-12-04T11:00:00.123+01:00"));
  EXPECT_EQ(ParseRfc3339("2026-12-04T10:00:00Z"), ParseRfc3339("2026-12-04T05:00:00-05:00"));
}

// Anything that is not RFC 3339 is refused, including impossible dates.
TEST(TimeFormat, RefusesMalformedTimes) {
  for (const char* bad : {"", "2026-12-04", "2026-12-04T10:00:00", "2026-02-31T00:00:00Z", "2026-13-01T00:00:00Z",
                          "2026-12-04T10:00:00+1:00", "2026-12-04T10:00:00Zjunk", "yesterday"})
    EXPECT_FALSE(ParseRfc3339(bad).has_value()) << bad;
}

// Formatting and parsing round-trip.
TEST(TimeFormat, FormatRoundTrips) {
  for (int64_t t : {int64_t{0}, int64_t{951782400}, int64_t{1796231580}}) EXPECT_EQ(ParseRfc3339(FormatUtc(t)), t);
  EXPECT_EQ(FormatUtc(1796231580), "2026-12-02T17:13:00Z");
}

// What FormatUtc wrote with gmtime_r before it used <chrono>'s calendar.
std::string GmtimeFormat(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// The calendar arithmetic agrees with the C library's everywhere: every
// day's edges around the epoch and the leap days, and spread over years 0
// to 9999 (and just outside, where the C library still does it).
TEST(TimeFormat, SameAsTheCLibrary) {
  std::vector<int64_t> times = {-62167219200, -62167219201, 253402300799, 253402300800, -1, 0, 59, 60, 86399, 86400,
                                951782400 - 1, 951782400, 951868800, 4107542400};
  for (int64_t day = -800; day < 800; ++day) times.push_back(day * 86400 + (day % 7) * 3599);
  for (int64_t t = -62167219200; t < 253402300800; t += 987654321) times.push_back(t);
  for (int64_t t : times) {
    EXPECT_EQ(FormatUtc(t), GmtimeFormat(t)) << t;
    if (t >= 0 && t < 253402300800) {
      EXPECT_EQ(ParseRfc3339(FormatUtc(t)), t) << t;
    }
  }
}

// Leap days only in leap years; a leap second is the next minute's first.
TEST(TimeFormat, LeapDaysAndSeconds) {
  EXPECT_EQ(ParseRfc3339("2000-02-29T00:00:00Z"), 951782400);
  EXPECT_FALSE(ParseRfc3339("2100-02-29T00:00:00Z").has_value());
  EXPECT_FALSE(ParseRfc3339("2026-04-31T00:00:00Z").has_value());
  EXPECT_EQ(ParseRfc3339("2016-12-31T23:59:60Z"), ParseRfc3339("2017-01-01T00:00:00Z"));
}

}  // namespace
}  // namespace parley
