// Agent <-> server wire protocol v1 (docs/formats/wire-v1.md).
//
// A batch is NDJSON: one JSON object per line, each a record with a "type".
// v1 types: "call" (a call detail record), "conference" (a meeting on an
// MCU or VMR), "participant" (one leg of a conference), "device" (inventory
// state of one endpoint or infrastructure box) and "cursor" (the source's new
// high-water mark, stored in the same transaction as the batch's records).
// The normalized model these form is documented in docs/formats/model.md.
// Validation is strict: unknown types, unknown fields, wrong JSON types and
// missing required fields are refused with the 1-based line number, and v1
// refuses the whole batch when any line is bad (nothing half-stored): such a
// batch means the agent and server disagree about the protocol. A
// well-formed record whose times are implausible (BatchLimits) is different:
// it is refused on its own, with its line and reason, and the rest of the
// batch goes on (the server quarantines it, docs/formats/wire-v1.md).
//
// Pure functions; thread-safe.
#pragma once

#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

namespace parley::wire {

inline constexpr std::string_view kIngestPrefix = "/ingest/v1";
inline constexpr std::string_view kNdjsonMediaType = "application/x-ndjson";

// One end of a call. name/number/uri/ip are personal data: the server encrypts
// them at ingest; model/version/site are analytics fields kept in clear.
struct Party {
  std::string name;
  std::string number;
  std::string uri;
  std::string ip;
  std::string model;
  std::string version;
  std::string site;
};

// Media quality of one stream as a device measured it. A measurement that
// the source does not provide is absent (nullopt), never 0: a collector that
// cannot see quality must not make calls look perfect.
struct QualitySample {
  std::string party;      // "orig" | "dest" on a call; "participant" on a participant
  std::string direction;  // "rx" (received by that party) | "tx" (sent by it)
  std::string media;      // "audio" | "video" | "content"
  std::string codec;      // optional, e.g. "H.264", "OPUS"
  std::optional<int64_t> bitrate_kbps;
  std::optional<double> packet_loss_pct_avg, packet_loss_pct_max;  // 0..100
  std::optional<double> jitter_ms_avg, jitter_ms_max;              // >= 0
  std::optional<double> latency_ms_avg, latency_ms_max;            // >= 0 (one-way or RTT/2, see model.md)
  std::optional<double> mos;                                       // 1..5
};

enum class CallStatus { kCompleted, kFailed };
std::string_view CallStatusName(CallStatus s);

struct CallRecord {
  std::string source;          // the agent's source name, e.g. "dma-main"
  std::string id;              // unique within the source (DMA callIdentifier)
  int64_t start = 0;           // Unix seconds, UTC
  int64_t end = 0;             // Unix seconds, UTC; >= start
  int64_t duration_s = 0;      // connected time; may be < end - start
  CallStatus status = CallStatus::kCompleted;
  std::string protocol;        // "SIP", "H.323", ...
  std::string call_type;       // "PT-PT", "VMR", ...
  std::string cause;           // failure cause, e.g. "486:BUSY HERE"; empty when completed
  int64_t bitrate_kbps = 0;
  std::string conference_id;   // links calls of one conference; may be empty
  Party orig;
  Party dest;
  std::vector<QualitySample> quality;  // party "orig" | "dest"; may be empty
};

// A conference (meeting) on an MCU, VMR or bridge. Its participants link to
// it by conference_id; calls link to it by CallRecord::conference_id.
struct ConferenceRecord {
  std::string source;
  std::string id;                      // unique within the source (DMA confUuid, Pexip conference id)
  int64_t start = 0;
  int64_t end = 0;                     // >= start
  std::string name;                    // personal data (often a person's meeting name): sealed
  std::string room;                    // VMR / dial-in number, clear
  std::string mcu;                     // MCU or bridge name, clear
  int64_t participant_count = 0;       // DMA partCount
  std::optional<int64_t> max_resources_used;  // DMA maxResourcesUsed (capacity)
  std::optional<int64_t> scheduled_start;     // RPRM scheduled vs actual
  std::optional<int64_t> scheduled_end;
};

// One participant (leg) of a conference, with its own media quality.
struct ParticipantRecord {
  std::string source;
  std::string id;                      // unique within the source
  std::string conference_id;           // required: the conference it belongs to
  std::string call_id;                 // optional: the call that carried it
  int64_t start = 0;
  int64_t end = 0;
  int64_t duration_s = 0;
  std::string protocol;
  std::string role;                    // "chair" | "guest" | "participant" | ""
  std::string disconnect_reason;       // optional
  Party party;
  std::vector<QualitySample> quality;  // party "participant"
};

// Inventory state of one device. Upserted by (source, id): the newest
// observed_at wins.
struct DeviceRecord {
  std::string source;
  std::string id;                      // unique within the source
  int64_t observed_at = 0;             // when the collector saw this state
  std::string name;                    // personal (often a person's name): sealed
  std::string type;                    // "endpoint" | "mcu" | "gateway" | "phone" | ...
  std::string model, version, site;    // clear
  std::string serial, ip, mac, owner;  // personal: sealed
  std::string status;                  // "online" | "offline" | "unknown"
  std::string registration;            // e.g. DMA registrationStatus "ACTIVE"; optional
  std::string timezone;                // IANA name; optional
};

// Any record a collector can produce (everything but a cursor).
using Record = std::variant<CallRecord, ConferenceRecord, ParticipantRecord, DeviceRecord>;
const std::string& RecordId(const Record& record);

struct CursorUpdate {
  std::string source;
  std::string value;  // opaque to the server
  // The cursor this batch was collected after ("after" on the wire; empty =
  // the source's beginning). When present, the server stores the batch only
  // if the source's stored cursor equals it, so an agent may have several
  // batches of one source in flight without a later one overtaking an
  // earlier one that then fails (docs/formats/wire-v1.md, "cursor" record).
  std::optional<std::string> after = std::nullopt;
};

struct Batch {
  std::vector<CallRecord> calls;
  std::vector<ConferenceRecord> conferences;
  std::vector<ParticipantRecord> participants;
  std::vector<DeviceRecord> devices;
  std::vector<CursorUpdate> cursors;
};

struct LineError {
  int64_t line;
  std::string reason;
};

struct BatchLimits {
  int64_t max_records = 5000;
  // A record with a time (start, end, observed_at, scheduled times) outside
  // [earliest_time, latest_time] (Unix seconds) is refused on its own.
  int64_t earliest_time = INT64_MIN;
  int64_t latest_time = INT64_MAX;
};

// A well-formed record refused on its own. The reason names the field and
// the rule, never a value, so equal problems group together.
struct RefusedRecord {
  int64_t line;
  std::string type;    // "call", "conference", ...
  std::string source;
  std::string reason;  // e.g. "start is before the earliest accepted time"
};

// Parses and validates an NDJSON body. On failure returns every bad line (up
// to 20) so one round trip shows the agent all its mistakes.
struct ParseOutcome {
  std::optional<Batch> batch;
  std::vector<LineError> errors;       // non-empty iff !batch
  std::string summary;                 // first error as one sentence, for `detail`
  std::vector<RefusedRecord> refused;  // with a batch: records left out of it
};
ParseOutcome ParseBatch(std::string_view ndjson, const BatchLimits& limits);

// Serializes records as NDJSON (the agent's side). ParseBatch(SerializeBatch(b))
// round-trips.
std::string SerializeCall(const CallRecord& call);
std::string SerializeConference(const ConferenceRecord& conference);
std::string SerializeParticipant(const ParticipantRecord& participant);
std::string SerializeDevice(const DeviceRecord& device);
std::string SerializeRecord(const Record& record);
std::string SerializeCursor(const CursorUpdate& cursor);

// A record's line (SerializeRecord) and why ParseBatch would refuse that
// line as a batch of one ("" if it would accept it), for the agent, which
// leaves out what the server would refuse. Checked on the object the line is
// written from, with the parser's own field readers, instead of parsing the
// line back (a third of the agent's CPU per record was that parse); a record
// whose object would not parse back identically (a NaN, say) takes the exact
// path. Times are not checked against limits (BatchLimits' defaults).
struct RecordCheck {
  std::string line;
  std::string reason;
};
RecordCheck CheckRecord(const Record& record);

// RFC 9530 Content-Digest with sha-256: "sha-256=:<base64>:".
std::string ContentDigest(std::string_view body);
// Checks a received header value against the body. Accepts a dictionary with
// several algorithms as long as sha-256 is present and matches.
Status VerifyContentDigest(std::string_view header_value, std::string_view body);

// True if s is a UUID (8-4-4-4-12 hex), the form Idempotency-Key must take.
bool IsUuid(std::string_view s);

}  // namespace parley::wire
