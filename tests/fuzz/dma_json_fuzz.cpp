// libFuzzer target for the JSON mappings of the dma and rprm collectors:
// call history pages, device lists, active calls, live conferences, RPRM
// devices, endpoint usage CDRs (with media quality) and conference usage
// CDRs, plus the sub-cursor codec (the server's cursor comes back to the
// agent). Mapped records must satisfy what the wire validator checks on
// numbers and times. Seed with tests/unit/agent/fixtures/{dma,rprm}/*.json.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/dma_json.h"
#include "agent/rprm_json.h"
#include "agent/sub_cursor.h"

namespace {

void CheckQuality(const std::vector<parley::wire::QualitySample>& quality) {
  for (const auto& q : quality) {
    for (const auto& pct : {q.packet_loss_pct_avg, q.packet_loss_pct_max})
      if (pct && !(*pct >= 0 && *pct <= 100)) __builtin_trap();
    for (const auto& ms : {q.jitter_ms_avg, q.jitter_ms_max, q.latency_ms_avg, q.latency_ms_max})
      if (ms && !(*ms >= 0)) __builtin_trap();
    if (q.media != "audio" && q.media != "video") __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  using namespace parley::agent;
  if (auto p = ParseDmaCallList(input, "fuzz"); p.ok()) {
    if (p->records.size() + p->skipped.size() != p->items) __builtin_trap();
    for (const auto& c : p->records)
      if (c.id.empty() || c.end < c.start || c.duration_s < 0) __builtin_trap();
  }
  if (auto p = ParseDmaDeviceList(input, "fuzz", 1); p.ok()) {
    for (const auto& d : p->devices)
      if (d.id.empty() || (d.status != "online" && d.status != "offline" && d.status != "unknown")) __builtin_trap();
  }
  (void)ParseDmaActiveCalls(input);
  (void)ParseDmaConferences(input);
  if (auto p = ParseRprmDevices(input, "fuzz", 1); p.ok()) {
    for (const auto& d : p->records)
      if (d.id.empty() || (d.status != "online" && d.status != "offline" && d.status != "unknown")) __builtin_trap();
  }
  if (auto p = ParseRprmEndpointCdrs(input, "fuzz"); p.ok()) {
    for (const auto& r : p->records) {
      if (r.id.empty() || r.conference_id.empty() || r.end < r.start || r.duration_s < 0 ||
          r.duration_s > r.end - r.start + 1)
        __builtin_trap();
      CheckQuality(r.quality);
    }
  }
  if (auto p = ParseRprmConferenceCdrs(input, "fuzz"); p.ok()) {
    for (const auto& c : p->records) {
      if (c.id.empty() || c.end < c.start || c.participant_count < 0) __builtin_trap();
      if (c.scheduled_start.has_value() != c.scheduled_end.has_value()) __builtin_trap();
      if (c.scheduled_start && *c.scheduled_end < *c.scheduled_start) __builtin_trap();
    }
  }
  // The sub-cursor codec must round-trip whatever it accepts.
  if (auto c = DecodeSubCursors(input, "history"); c.ok()) {
    if (auto e = EncodeSubCursors(*c); e.ok()) {
      auto again = DecodeSubCursors(*e, "history");
      if (!again.ok() || *again != *c) __builtin_trap();
    }
  }
  return 0;
}
