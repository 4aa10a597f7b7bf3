// DmaCollector: a Poly RealPresence DMA's REST API (HTTP Basic; docs/agent.md
// "The dma source"). It reads several sub-resources of the one device, chosen
// by the source's `collect` list:
//   history      GET /api/rest/calls (paged call history)      -> CallRecord
//   cdr_export   GET /api/rest/cdr-export?ended-after=&ended-before= (ZIP of two CSVs)
//                                                               -> CallRecord, ConferenceRecord
//   devices      GET /api/rest/devices (full list, ETag)        -> DeviceRecord (changes only)
//   conferences  GET /api/rest/conferences (live snapshot)      -> health; MCU names for CDR conferences
//   active_calls GET /api/rest/active-calls (live snapshot)     -> health only (no records)
// history and cdr_export are exclusive (both carry the calls).
//
// Cursor: a JSON object of sub-cursors (sub_cursor.h), {"history": <after
// token>} and/or {"cdr": "<end ms>|<call|conf|>|<id>"}; a legacy plain
// cursor is the history token. Snapshots keep no cursor: their records are
// upserts, and after a restart they are simply read again.
//
// Rounds, failures and health: SubResourceCollector (snapshots once per
// round; devices at most every inventory_interval_seconds).
//
// The parsing functions live in dma_json.h and dma_cdr.h. DmaCollector
// follows the Collector threading contract.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/collector.h"
#include "agent/device_http.h"
#include "agent/dma_cdr.h"
#include "agent/dma_json.h"
#include "agent/sub_cursor.h"
#include "agent/sub_resource_collector.h"
#include "common/clock.h"

namespace parley::agent {

inline constexpr std::string_view kDmaCdrExportPath = "/api/rest/cdr-export";
// The most calls the history asks for in one page: the DMA API's page limit
// as devsim emulates it (the real DMA's is not documented). A batch of more
// records (agent.max_batch_records) is filled from consecutive pages.
inline constexpr size_t kDmaHistoryPageLimit = 1000;
inline constexpr int64_t kDmaCdrWindowSeconds = 86400;  // one export covers at most a day
// The first export asks for an hour; later windows adapt to hold about one
// batch (see CdrExport), so the agent never holds a day of CDRs in memory.
inline constexpr int64_t kDmaCdrInitialWindowSeconds = 3600;
inline constexpr int64_t kDmaCdrMinWindowSeconds = 300;  // ... and is halved down to 5 minutes when refused as too large
inline constexpr int64_t kDmaCdrSettleSeconds = 60;     // CDRs of calls ended in the last minute may not be written yet

struct DmaSettings {
  std::vector<std::string> collect;  // sub-resource names, validated by the config
  int64_t inventory_interval_seconds = 300;
  int64_t initial_history_days = 30;
};

// The "cdr" sub-cursor: the sort key of the last CDR shipped, or the end of
// a finished window (kind and id empty).
struct DmaCdrKey {
  int64_t end_ms = 0;
  std::string kind;  // "call", "conf" or "" (a window boundary)
  std::string id;
  auto operator<=>(const DmaCdrKey&) const = default;
};
std::string EncodeDmaCdrKey(const DmaCdrKey& key);
std::optional<DmaCdrKey> DecodeDmaCdrKey(std::string_view text);

class DmaCollector final : public SubResourceCollector {
 public:
  static Result<std::unique_ptr<DmaCollector>> Create(const SourceConfig& source, const std::atomic<bool>* abort);
  // For tests: any transport and clock (the clock outlives the collector).
  DmaCollector(std::string name, std::string url, DmaSettings settings, std::unique_ptr<DeviceTransport> transport,
               const Clock& clock);

  std::string_view type() const override { return "dma"; }

 protected:
  Result<SubResult> RunSub(const std::string& sub, SubCursors& cursors, size_t max_records) override;
  void OnCursorReset() override;

 private:
  Result<SubResult> History(SubCursors& cursors, size_t max_records);
  // One page of at most `limit` calls after the token `after`, checked
  // against the paging rules (docs/agent.md).
  Result<DmaPage> HistoryPage(const std::string& after, size_t limit);
  Result<SubResult> CdrExport(SubCursors& cursors, size_t max_records);
  Result<SubResult> Devices(size_t max_records);
  Result<SubResult> ActiveCalls();
  Result<SubResult> Conferences();
  Result<HttpResponse> Get(const std::string& path_and_query, std::string_view accept,
                           const std::string& if_none_match = "");
  void LogSkips(std::string_view what, const std::vector<DmaSkip>& skips);

  const std::string url_;
  const DmaSettings settings_;
  std::unique_ptr<DeviceTransport> transport_;
  const Clock& clock_;

  // Collecting-thread state (FetchAfter is never concurrent).
  InventoryTracker inventory_;
  int64_t devices_next_due_ = 0;         // Unix s
  std::string devices_etag_;             // of the last complete read
  std::optional<std::vector<wire::DeviceRecord>> devices_pending_;  // changed devices not yet shipped
  std::map<std::string, std::string, std::less<>> live_mcu_;        // conference id -> MCU name (bounded)
  int64_t cdr_window_s_ = kDmaCdrInitialWindowSeconds;
};

}  // namespace parley::agent
