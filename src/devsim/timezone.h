// Time zones of the emulated sites: an IANA name, a standard offset and one
// of the daylight-saving rules in force today, evaluated in integer code.
//
// Why not the system's tz database (/usr/share/zoneinfo)? The emulator's
// output must be byte-identical on every machine for a given seed; tzdata
// versions differ between machines and over time. The rules below are those
// of the zones' current law (EU since 1996, US/Canada since 2007, New South
// Wales since 2008) applied to every year; a unit test checks them against
// the machine's tzdata for the years around now.
#pragma once

#include <cstdint>
#include <string_view>

namespace parley::devsim {

enum class DstRule : uint8_t {
  kNone,
  kEu,  // +1 h from the last Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC
  kUs,  // +1 h from the second Sunday of March 02:00 local to the first Sunday of November 02:00 local
  kAu,  // +1 h from the first Sunday of October 02:00 local to the first Sunday of April 03:00 local
};

struct TimeZone {
  std::string_view iana;        // "Europe/London"
  int std_offset_minutes = 0;   // standard (winter) offset from UTC
  DstRule dst = DstRule::kNone;
};

// The zone's offset from UTC, in minutes, at a Unix time.
int UtcOffsetMinutes(const TimeZone& zone, int64_t unix_seconds);

// Calendar helpers (proleptic Gregorian, H. Hinnant's algorithms).
int64_t DaysFromCivil(int year, unsigned month, unsigned day);
void CivilFromDays(int64_t days, int& year, unsigned& month, unsigned& day);
// 0 = Sunday ... 6 = Saturday, for days since 1970-01-01.
int Weekday(int64_t days);
int64_t FloorDiv(int64_t a, int64_t b);

}  // namespace parley::devsim
