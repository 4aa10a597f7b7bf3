// libFuzzer target for the ingest parsers: the request body and the
// Content-Digest header are the first bytes an agent (or anyone holding a
// client certificate) controls, so neither may crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "wire/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // A small record limit makes the "too many records" path reachable.
  parley::wire::BatchLimits limits;
  limits.max_records = 8;
  parley::wire::ParseOutcome outcome = parley::wire::ParseBatch(input, limits);
  // Invariant from wire.h: errors are non-empty exactly when there is no batch.
  if (outcome.batch.has_value() == !outcome.errors.empty()) __builtin_trap();
  if (outcome.errors.size() > 20) __builtin_trap();
  // Whatever parsed must serialize back to lines the parser accepts, and the
  // agent's check (CheckRecord) must accept it too, with the same line.
  if (outcome.batch) {
    auto check = [&limits](const parley::wire::Record& record) {
      const std::string line = parley::wire::SerializeRecord(record);
      if (!parley::wire::ParseBatch(line, limits).batch) __builtin_trap();
      const parley::wire::RecordCheck agent = parley::wire::CheckRecord(record);
      if (!agent.reason.empty() || agent.line != line) __builtin_trap();
    };
    for (const auto& r : outcome.batch->calls) check(r);
    for (const auto& r : outcome.batch->conferences) check(r);
    for (const auto& r : outcome.batch->participants) check(r);
    for (const auto& r : outcome.batch->devices) check(r);
    for (const auto& c : outcome.batch->cursors) {
      parley::wire::ParseOutcome again = parley::wire::ParseBatch(parley::wire::SerializeCursor(c), limits);
      if (!again.batch || again.batch->cursors.size() != 1 || again.batch->cursors[0].value != c.value ||
          again.batch->cursors[0].after != c.after)
        __builtin_trap();
    }
  }

  // The same bytes as a header value, and split header/body at the first newline.
  (void)parley::wire::VerifyContentDigest(input, input);
  size_t nl = input.find('\n');
  if (nl != std::string_view::npos) {
    (void)parley::wire::VerifyContentDigest(input.substr(0, nl), input.substr(nl + 1));
  }
  (void)parley::wire::IsUuid(input);
  return 0;
}
