// Workload: the deterministic organisation and call history that
// parley-devsim serves. Everything derives from one 64-bit seed through our
// own integer PRNG (splitmix64), never through <random> distributions or
// libm, so one seed yields byte-identical calls on every platform and
// library version.
//
// The model (docs/devsim.md "Workload model"):
//   - an organisation of 4-6 sites (name, fixed UTC offset, number range,
//     10.x subnet) and 40-80 endpoints (personal devices named after people,
//     meeting rooms), a DMA-hosted MCU and a set of VMRs;
//   - "events" start in per-(minute, site) slots with a probability that
//     follows local business hours (peaks ~10:00 and ~14:00) and the week
//     (weekend ~10% of a weekday); an event is a point-to-point call or a VMR
//     meeting whose participant calls share a confUuid;
//   - history = calls from slots before `origin_unix` that ended at or before
//     it; live mode adds calls from slots at or after origin, generated
//     lazily as the caller's "now" advances.
//
// Calls are ordered by CallKey (end time, then call id). A call is visible to
// ListEnded/CountEnded only once end <= now.
//
// Thread-safety: all const and non-const member functions may be called
// concurrently (one internal mutex guards the lazily grown call list).
// Memory: live mode keeps at most `retention_days` of ended calls.
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace parley::devsim {

struct WorkloadOptions {
  uint64_t seed = 42;
  int64_t origin_unix = 0;               // the emulated "now" at start
  int history_days = 2;                  // 0..400
  std::optional<int64_t> total_calls;    // exact history size (0..1,000,000)
  bool live = false;                     // keep generating after origin
  int retention_days = 90;               // live mode: drop calls older than this
};

struct Site {
  std::string name;            // "London HQ"
  int utc_offset_minutes = 0;  // fixed offset (the model has no DST)
  std::string number_prefix;   // E.164 prefix, "+442079460"
  int subnet = 0;              // second octet of 10.<subnet>.x.y
};

struct Device {
  std::string name;     // "Alice Smith" or "Munich - Isar"
  std::string model;    // "RealPresence Group 500"
  std::string version;  // "6.2.2"
  std::string number;   // E.164 alias "+442079460123"
  std::string sip_uri;  // "sip:alice.smith@example.org"
  std::string ip;       // "10.10.1.23"
  int site = 0;         // index into Organisation::sites
  bool room = false;
};

struct Organisation {
  std::string domain;
  std::vector<Site> sites;        // sites[0] is the HQ
  std::vector<Device> endpoints;
  Device mcu;                     // destination leg of VMR calls
  std::vector<std::string> vmrs;  // VMR numbers ("1001")
};

// Ordering key of a call: end time, then call id (the id's two halves compare
// exactly as its lowercase hex string does).
struct CallKey {
  int64_t end_unix = 0;
  uint64_t id_hi = 0;
  uint64_t id_lo = 0;
  auto operator<=>(const CallKey&) const = default;
};

enum class CallType : uint8_t { kPointToPoint, kVmr };
enum class Signaling : uint8_t { kSip, kH323 };

struct Call {
  CallKey key;                 // key.end_unix is the end time
  int64_t start_unix = 0;
  int64_t duration_s = 0;      // connected time; 0 for failed calls
  CallType type = CallType::kPointToPoint;
  Signaling signaling = Signaling::kSip;
  int32_t originator = 0;      // endpoint index
  int32_t destination = 0;     // endpoint index (PT-PT) or VMR index (VMR)
  int32_t bit_rate_kbps = 0;
  int8_t failure = -1;         // index into FailureCodes(), -1 = success
  uint64_t conf_hi = 0, conf_lo = 0;  // VMR meeting id; 0/0 for PT-PT

  bool failed() const { return failure >= 0; }
  bool operator==(const Call&) const = default;
};

// "486:BUSY HERE", ... (SIP cause strings as in DMA's failureSignalingCode).
const std::vector<std::string>& FailureCodes();

// 8-4-4-4-12 lowercase hex of a 128-bit id, and back (nullopt if malformed).
std::string FormatUuid(uint64_t hi, uint64_t lo);
std::optional<std::pair<uint64_t, uint64_t>> ParseUuid(std::string_view text);

// "YYYY-MM-DDTHH:MM:SS.000+HH:MM": the DMA's local-time-with-offset format.
std::string FormatDmaTime(int64_t unix_seconds, int utc_offset_minutes);
// "HH:MM:SS" (hours may exceed 23 for very long durations).
std::string FormatDuration(int64_t seconds);

// The leg of a call as the DMA reports it (originatorDetails or
// destinationDetails); for a VMR destination this is the MCU, addressed by
// the VMR number.
struct Leg {
  const Device* device = nullptr;  // points into the Organisation
  std::string number;              // E.164 or VMR number
  std::string uri;                 // SIP URI
  const Site* site = nullptr;
};

class Workload;

// One NDJSON line (no newline) describing a call for --print-expected:
// {"id","orig_name","orig_number","orig_uri","orig_ip","dest_name",
//  "dest_number","dest_uri","dest_ip","status","duration_s","start","end"}.
// Values as the agent maps them onto the wire (docs/formats/wire-v1.md):
// status "completed"/"failed", start/end in UTC ("...Z"), *_uri = the API's
// originator/destination (SIP URI, or the E.164 number for H.323 calls).
std::string ExpectedLine(const Workload& workload, const Call& call);

class Workload {
 public:
  // Validates options and builds the organisation and the history.
  static Result<std::unique_ptr<Workload>> Create(const WorkloadOptions& options);

  const WorkloadOptions& options() const { return options_; }
  const Organisation& org() const { return org_; }

  // Up to `limit` calls with end <= now_unix and key > *after (all, if no
  // `after`), ascending by key. *more is set to whether further ended calls
  // exist beyond the returned page. In live mode this first generates any
  // slots up to now_unix.
  std::vector<Call> ListEnded(int64_t now_unix, const std::optional<CallKey>& after, size_t limit, bool* more);
  // Number of calls with end <= now_unix still retained.
  size_t CountEnded(int64_t now_unix);
  // The history: every call that ended at or before origin, ascending.
  std::vector<Call> HistoryCalls() const { return history_; }

  Leg Originator(const Call& call) const;
  Leg Destination(const Call& call) const;

 private:
  Workload(const WorkloadOptions& options, Organisation org);
  // Appends the calls of events starting in minutes [from_min, to_min).
  void GenerateMinutes(uint64_t layer, int64_t from_min, int64_t to_min, std::vector<Call>& out) const;
  void GenerateEvent(uint64_t event_hash, int site, int64_t start_unix, std::vector<Call>& out) const;
  void BuildHistory();
  void AdvanceLocked(int64_t now_unix);

  WorkloadOptions options_;
  Organisation org_;
  std::vector<int> site_endpoint_counts_;
  std::vector<Call> history_;  // immutable after Create

  mutable std::mutex mu_;
  std::vector<Call> calls_;       // GUARDED_BY(mu_): sorted by key
  int64_t generated_until_min_ = 0;  // GUARDED_BY(mu_): live slots done below this minute
};

}  // namespace parley::devsim
