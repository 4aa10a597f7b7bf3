#include "common/time_format.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace parley
