// libFuzzer target for the DMA CDR export: the calls and conferences CSV
// parsers (libcsv + the by-name mapping), the summary file and the ZIP
// unpacker, all fed bytes a device (or anyone on its path) controls. None may
// crash, hang or leak, and whatever maps must be a record the agent could
// ship: ids present, end >= start, 0 <= duration <= end - start + 1.
// Seed with tests/unit/agent/fixtures/dma/*.csv, *.txt, *.zip.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/dma_cdr.h"

namespace {

void CheckCall(const parley::wire::CallRecord& c) {
  if (c.id.empty() || c.end < c.start || c.duration_s < 0 || c.duration_s > c.end - c.start + 1 ||
      c.bitrate_kbps < 0)
    __builtin_trap();
}

void CheckConference(const parley::wire::ConferenceRecord& c) {
  if (c.id.empty() || c.end < c.start || c.participant_count < 0 || (c.max_resources_used && *c.max_resources_used < 0))
    __builtin_trap();
}

void CheckFile(const parley::Result<parley::agent::DmaCdrFile>& f) {
  if (!f.ok()) return;
  if (f->entries.size() + f->skipped.size() != f->rows) __builtin_trap();
  for (const auto& e : f->entries) {
    if (const auto* c = std::get_if<parley::wire::CallRecord>(&e.record)) CheckCall(*c);
    if (const auto* c = std::get_if<parley::wire::ConferenceRecord>(&e.record)) CheckConference(*c);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckFile(parley::agent::ParseDmaCdrCalls(input, "dma-fuzz"));
  CheckFile(parley::agent::ParseDmaCdrConferences(input, "dma-fuzz"));
  // The same bytes after a header the mapping recognises, so rows reach it.
  std::string with_header =
      "version,type,callType,callUuid,startTime,endTime,callDuration,bitRate,failureSignalingCode,signalingType,"
      "confUuid,confUUID,partCount,maxResourcesUsed,origModel,destModel\n";
  with_header.append(input);
  CheckFile(parley::agent::ParseDmaCdrCalls(with_header, "dma-fuzz"));
  CheckFile(parley::agent::ParseDmaCdrConferences(with_header, "dma-fuzz"));
  (void)parley::agent::ParseDmaCdrSummary(input);
  (void)parley::agent::ParseDmaTimeMs(input);
  (void)parley::agent::ParseDmaMaxResources(input);
  auto exported = parley::agent::ParseDmaCdrExport(input, "dma-fuzz");
  if (exported.ok()) {
    for (const auto& e : exported->entries) {
      if (const auto* c = std::get_if<parley::wire::CallRecord>(&e.record)) CheckCall(*c);
    }
  }
  return 0;
}
