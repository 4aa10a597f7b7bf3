// Collector: one source of call records (a DMA today; RPRM, Kamailio, CUCM
// CDR files and Pexip later). The agent's loop only sees this interface;
// MakeCollector picks the implementation from SourceConfig::type.
//
// Cursor contract: a cursor is an opaque string owned by the collector type.
// "" means "from the beginning". FetchAfter(c) returns records strictly after
// c, in the source's order, and the cursor that resumes after the last of
// them; feeding that cursor back never skips nor (for a well-behaved device)
// repeats a record. The server stores the cursor with the records, so it is
// the truth after a restart.
//
// Threading: FetchAfter is called from one thread at a time; health() may be
// called concurrently from any thread. Collectors hold collected data only in
// the page they return: nothing is written to disk.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config.h"
#include "common/result.h"
#include "wire/wire.h"

namespace parley::agent {

enum class SourceStatus { kOk, kDegraded, kFailing };
std::string_view SourceStatusName(SourceStatus status);  // "ok", "degraded", "failing"

// What the heartbeat reports. last_error is a status code or a short
// description, never personal data.
struct SourceHealth {
  SourceStatus status = SourceStatus::kOk;
  std::optional<std::string> last_error;
};

struct CollectedPage {
  std::vector<wire::Record> records;      // source field set; at most max_records
  std::string next_cursor;                // resume point after this page
  bool more = false;                      // true: fetch again now; false: caught up, wait a poll interval
  size_t skipped = 0;                     // records the source sent that could not be mapped
};

class Collector {
 public:
  virtual ~Collector() = default;
  virtual const std::string& name() const = 0;
  virtual std::string_view type() const = 0;
  // REQUIRES: max_records > 0. An error means nothing was collected (the
  // cursor does not move); health() reflects it.
  virtual Result<CollectedPage> FetchAfter(const std::string& cursor, size_t max_records) = 0;
  virtual SourceHealth health() const = 0;
  // `parley-agent check`: tries the source once without moving its cursor
  // and says in a few words what it found ("1 new record after the server's
  // cursor", "3 CDR files not yet read"); never personal data. An error is
  // what check shows as FAIL. The default fetches one record after `cursor`.
  virtual Result<std::string> Probe(const std::string& cursor);
};

// Builds the collector for `source` (reads its password file). `abort`, if
// given, outlives the collector and cancels a transfer in progress.
Result<std::unique_ptr<Collector>> MakeCollector(const SourceConfig& source, const std::atomic<bool>* abort);

}  // namespace parley::agent
