// DmaCollector: call detail records from a Poly RealPresence DMA's REST API
// (GET /api/rest/calls, media type application/vnd.plcm.plcm-call-list+json,
// HTTP Basic). docs/agent.md "The dma source" describes the cursor rule.
//
// Cursor = the DMA's `after` token. A page's `next` is the token after its
// last call; the device sends `next: null` only for an empty page. A page
// with calls but no `next` is refused (the agent could not resume after it).
//
// The parsing functions are pure and exposed for tests. DmaCollector follows
// the Collector threading contract.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/collector.h"
#include "agent/http_client.h"

namespace parley::agent {

inline constexpr std::string_view kDmaCallListMediaType = "application/vnd.plcm.plcm-call-list+json";

struct DmaSkip {
  std::string call_id;  // may be empty when the record had none
  std::string reason;
};

struct DmaPage {
  std::vector<wire::CallRecord> records;
  std::vector<DmaSkip> skipped;
  std::optional<std::string> next;
  size_t items = 0;  // calls in the page, mapped or not
};

// "HH:MM:SS" (hours may exceed 24) -> seconds; nullopt if malformed.
std::optional<int64_t> ParseDmaDuration(std::string_view text);

// Parses one plcm-call-list page and maps each call to a CallRecord for
// `source`. Fails only when the page itself is malformed; a call that cannot
// be mapped is listed in `skipped` with its callIdentifier and the reason.
Result<DmaPage> ParseDmaCallList(std::string_view json, const std::string& source);

class DmaCollector final : public Collector {
 public:
  static Result<std::unique_ptr<DmaCollector>> Create(const SourceConfig& source, const std::atomic<bool>* abort);

  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "dma"; }
  Result<CollectedPage> FetchAfter(const std::string& cursor, size_t max_records) override;
  SourceHealth health() const override;

 private:
  DmaCollector(std::string name, std::string url, std::unique_ptr<HttpClient> http)
      : name_(std::move(name)), url_(std::move(url)), http_(std::move(http)) {}
  void SetHealth(SourceStatus status, std::optional<std::string> last_error);

  const std::string name_;
  const std::string url_;
  std::unique_ptr<HttpClient> http_;
  mutable std::mutex mu_;
  SourceHealth health_;  // guarded by mu_
};

}  // namespace parley::agent
