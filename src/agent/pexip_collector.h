// PexipCollector: conferences and participants (with media_streams) from a
// Pexip Infinity Management Node's history API (shared/domain.md §4.3;
// docs/agent.md "The pexip source"):
//   GET {url}/api/admin/history/v1/conference/?limit=N&order_by=end_time
//       &end_time__gte=T&end_time__lt=U      (and .../participant/)
// with HTTP Basic. Answers are Tastypie lists {"meta":{...,"next":...},
// "objects":[...]}; `meta.next` (a path on the same host) is followed when a
// whole page was already seen. Conferences become wire::ConferenceRecord,
// participants wire::ParticipantRecord with one QualitySample per stream
// type and direction.
//
// Cursor, per resource: the end_time (microseconds, as Pexip writes it) of
// the newest record sent, plus short hashes of the ids of the records that
// end exactly then — the next query asks end_time__gte that time and drops
// those ids, so records sharing an end time are neither lost nor repeated:
//   {"v":1,"c":{"t":"2026-12-04T09:00:00.123456","h":"1a2b3c4d"},"p":{"t":"...","h":"..."}}
// U = now - settle_seconds: records younger than that may still be arriving
// from conference nodes, so the window ends there. A new source starts
// initial_history_days back.
//
// Parsing and cursor functions are pure and exposed for tests. The collector
// follows the Collector threading contract.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/collector.h"
#include "agent/http_client.h"
#include "agent/source_health.h"
#include "common/clock.h"

namespace parley::agent {

// "2015-04-02T09:55:33.141261" (UTC; Pexip writes no zone; "Z" or "+00:00"
// accepted, fraction optional) -> microseconds since the epoch.
std::optional<int64_t> ParsePexipTime(std::string_view text);
// Microseconds since the epoch -> "YYYY-MM-DDTHH:MM:SS.ffffff".
std::string FormatPexipTime(int64_t micros);

struct PexipItem {
  std::string id;
  std::optional<int64_t> end_us;           // nullopt: end_time missing or malformed
  std::optional<wire::Record> record;      // nullopt: could not be mapped
  std::string skip_reason;                 // why, when !record (names fields, never values)
};

struct PexipList {
  std::vector<PexipItem> items;
  std::optional<std::string> next;         // meta.next, when not null
};

// Parse one page of .../conference/ or .../participant/. Fails only when the
// page itself is malformed (not JSON, no "objects" array).
Result<PexipList> ParsePexipConferences(std::string_view json, const std::string& source);
Result<PexipList> ParsePexipParticipants(std::string_view json, const std::string& source);

struct PexipStreamCursor {
  std::optional<int64_t> end_us;      // newest end_time sent; nullopt: from the start
  std::vector<std::string> seen;      // 8-hex-digit SHA-256 prefixes of ids ending exactly at end_us
};
struct PexipCursor {
  PexipStreamCursor conferences;
  PexipStreamCursor participants;
};
Result<PexipCursor> DecodePexipCursor(std::string_view text);    // "" -> from the start
Result<std::string> EncodePexipCursor(const PexipCursor& cursor);
std::string PexipIdHash(std::string_view id);

class PexipCollector final : public Collector {
 public:
  using Transport = std::function<Result<HttpResponse>(const HttpRequest&)>;

  // REQUIRES: source.type == "pexip". Reads the password file and sets up
  // TLS as every HTTPS device source does (device_http.h).
  static Result<std::unique_ptr<PexipCollector>> Create(const SourceConfig& source, const std::atomic<bool>* abort,
                                                        const Clock& clock);
  // Any transport (tests: a fake Management Node).
  static std::unique_ptr<PexipCollector> CreateWithTransport(const SourceConfig& source, Transport transport,
                                                             const Clock& clock);

  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "pexip"; }
  Result<CollectedPage> FetchAfter(const std::string& cursor, size_t max_records) override;
  SourceHealth health() const override { return health_.Get(); }
  // One conference-list request with limit=1: "N conference(s) in history".
  Result<std::string> Probe(const std::string& cursor) override;

 private:
  PexipCollector(const SourceConfig& source, Transport transport, const Clock& clock);

  struct StreamPage;
  Result<StreamPage> FetchStream(bool conferences, const PexipStreamCursor& cursor, size_t limit);
  Result<std::string> Get(const std::string& path_and_query);

  const std::string name_;
  const std::string url_;     // https://host[:port], no trailing slash
  const std::string origin_;  // https://host[:port]
  const int64_t settle_seconds_;
  const int64_t initial_history_days_;
  std::unique_ptr<HttpClient> http_;  // when built by Create
  Transport transport_;
  const Clock& clock_;
  HealthTracker health_;
};

}  // namespace parley::agent
