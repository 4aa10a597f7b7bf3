#include "devsim/timezone.h"

namespace parley::devsim {

namespace {

// Days since the epoch of the n-th (1-based) Sunday of a month, or of the
// last one with n = 0.
int64_t NthSunday(int year, unsigned month, int n) {
  if (n == 0) {
    unsigned next_month = month == 12 ? 1 : month + 1;
    int next_year = month == 12 ? year + 1 : year;
    int64_t last = DaysFromCivil(next_year, next_month, 1) - 1;
    return last - Weekday(last);
  }
  int64_t first = DaysFromCivil(year, month, 1);
  int64_t first_sunday = first + (7 - Weekday(first)) % 7;
  return first_sunday + 7 * (n - 1);
}

}  // namespace

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t DaysFromCivil(int year, unsigned month, unsigned day) {
  const int64_t y = static_cast<int64_t>(year) - (month <= 2);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2));
}

int Weekday(int64_t days) { return static_cast<int>(((days + 4) % 7 + 7) % 7); }  // 1970-01-01 was a Thursday

int UtcOffsetMinutes(const TimeZone& zone, int64_t t) {
  const int std_s = zone.std_offset_minutes * 60;
  if (zone.dst == DstRule::kNone) return zone.std_offset_minutes;
  int year;
  unsigned month, day;
  CivilFromDays(FloorDiv(t, 86400), year, month, day);
  // No transition lies near New Year, so the UTC year is the local year.
  bool dst = false;
  switch (zone.dst) {
    case DstRule::kEu: {
      int64_t start = NthSunday(year, 3, 0) * 86400 + 3600;
      int64_t end = NthSunday(year, 10, 0) * 86400 + 3600;
      dst = t >= start && t < end;
      break;
    }
    case DstRule::kUs: {
      int64_t start = NthSunday(year, 3, 2) * 86400 + 7200 - std_s;
      int64_t end = NthSunday(year, 11, 1) * 86400 + 7200 - (std_s + 3600);
      dst = t >= start && t < end;
      break;
    }
    case DstRule::kAu: {
      // Southern hemisphere: daylight time spans New Year.
      int64_t end = NthSunday(year, 4, 1) * 86400 + 10800 - (std_s + 3600);
      int64_t start = NthSunday(year, 10, 1) * 86400 + 7200 - std_s;
      dst = t < end || t >= start;
      break;
    }
    case DstRule::kNone:
      break;
  }
  return zone.std_offset_minutes + (dst ? 60 : 0);
}

}  // namespace parley::devsim
