#include "common/clock.h"

namespace parley {
SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}
}  // namespace parley
