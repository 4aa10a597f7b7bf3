// RprmCollector: a Poly RealPresence Resource Manager (docs/agent.md "The
// rprm source"), HTTP Basic over HTTPS. Sub-resources, chosen by `collect`:
//   conference_cdrs  conference usage CDRs, scheduled vs actual -> ConferenceRecord (feed)
//   endpoint_cdrs    endpoint usage CDRs with media quality      -> ParticipantRecord + quality (feed)
//   devices          device inventory                           -> DeviceRecord, changes only (snapshot)
// Every resource pages like parley-devsim's DMA history: ?limit=N&after=T,
// answered with {"<list>":{"<item>":[...]},"next":T|null}; `next` is null
// only on an empty page (rprm_json.h names paths and wrappers).
//
// Cursor: {"conference_cdrs": <after token>, "endpoint_cdrs": <after token>};
// the inventory is read again from the start every
// inventory_interval_seconds and after a restart.
//
// Rounds, failures and health: SubResourceCollector. Threading: the
// Collector contract.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "agent/device_http.h"
#include "agent/rprm_json.h"
#include "agent/sub_resource_collector.h"
#include "common/clock.h"

namespace parley::agent {

// The most items one page asks for: the page limit of devsim's RPRM API (the
// real RPRM's is not documented). A batch of more records
// (agent.max_batch_records) is filled from consecutive pages.
inline constexpr size_t kRprmPageLimit = 1000;

struct RprmSettings {
  std::vector<std::string> collect;
  int64_t inventory_interval_seconds = 300;
};

class RprmCollector final : public SubResourceCollector {
 public:
  static Result<std::unique_ptr<RprmCollector>> Create(const SourceConfig& source, const std::atomic<bool>* abort);
  RprmCollector(std::string name, std::string url, RprmSettings settings, std::unique_ptr<DeviceTransport> transport,
                const Clock& clock);

  std::string_view type() const override { return "rprm"; }

 protected:
  Result<SubResult> RunSub(const std::string& sub, SubCursors& cursors, size_t max_records) override;
  void OnCursorReset() override;

 private:
  // GET a page of at most `limit` items of `resource` after `after`; checks the status.
  Result<std::string> GetPage(const RprmResource& resource, const std::string& after, size_t limit);
  template <typename Page>
  Result<SubResult> Feed(const std::string& key, const RprmResource& resource, SubCursors& cursors,
                         size_t max_records, Page (*parse)(std::string_view, const std::string&));
  Result<SubResult> Devices(size_t max_records);

  const std::string url_;
  const RprmSettings settings_;
  std::unique_ptr<DeviceTransport> transport_;
  const Clock& clock_;

  InventoryTracker inventory_;
  int64_t devices_next_due_ = 0;
  std::optional<std::string> devices_after_;  // set while a read of the inventory is under way
  int64_t devices_observed_at_ = 0;
};

}  // namespace parley::agent
