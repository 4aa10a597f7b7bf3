// libFuzzer target for the CUCM flat-file parser: a CDR or CMR file is bytes
// whoever can write to the watched directory controls, so no input may crash,
// hang or leak, and whatever maps must be a record the server accepts.
// Run: ./cucm_csv_fuzz -max_total_time=60 corpus/ tests/unit/agent/fixtures/cucm
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/cucm_collector.h"
#include "wire/wire.h"

namespace {

void CheckServerAccepts(const parley::wire::CallRecord& call) {
  parley::wire::BatchLimits one;
  one.max_records = 1;
  std::string line = parley::wire::SerializeCall(call);
  parley::wire::ParseOutcome outcome = parley::wire::ParseBatch(line, one);
  if (!outcome.batch) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  using namespace parley::agent;

  auto cdr = ParseCucmCdrFile(input, "cucm-fuzz");
  auto cmr = ParseCucmCmrFile(input);
  if (cdr.ok() && cmr.ok()) {
    // The same bytes as both kinds: join whatever CMRs parsed onto the calls.
    AttachCucmCmrs(cdr->calls, cmr->cmrs);
  }
  if (cdr.ok()) {
    for (const auto& call : cdr->calls) CheckServerAccepts(call);
    if (static_cast<int64_t>(cdr->skipped.size()) > cdr->rows) __builtin_trap();
  }

  // The small codecs on the raw bytes (and on the first line).
  (void)DecodeCucmIpv4(input);
  (void)ParseVarVqMetrics(input);
  (void)ParseCucmFileName(input);
  (void)DescribeCucmCause(static_cast<int64_t>(size) * 31 - 1000);
  auto cursor = DecodeCucmCursor(input);
  if (cursor.ok()) {
    auto again = EncodeCucmCursor(*cursor);
    if (again.ok() && !DecodeCucmCursor(*again).ok()) __builtin_trap();
  }
  return 0;
}
