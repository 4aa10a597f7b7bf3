// Agent <-> server wire protocol v1 (docs/formats/wire-v1.md).
//
// A batch is NDJSON: one JSON object per line, each a record with a "type".
// v1 types: "call" (a call detail record) and "cursor" (the source's new
// high-water mark, stored in the same transaction as the batch's records).
// Validation is strict: unknown types, unknown fields, wrong JSON types and
// missing required fields are refused with the 1-based line number, and v1
// refuses the whole batch when any line is bad (nothing half-stored).
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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
};

struct CursorUpdate {
  std::string source;
  std::string value;  // opaque to the server
};

struct Batch {
  std::vector<CallRecord> calls;
  std::vector<CursorUpdate> cursors;
};

struct LineError {
  int64_t line;
  std::string reason;
};

struct BatchLimits {
  int64_t max_records = 5000;
};

// Parses and validates an NDJSON body. On failure returns every bad line (up
// to 20) so one round trip shows the agent all its mistakes.
struct ParseOutcome {
  std::optional<Batch> batch;
  std::vector<LineError> errors;  // non-empty iff !batch
  std::string summary;            // first error as one sentence, for `detail`
};
ParseOutcome ParseBatch(std::string_view ndjson, const BatchLimits& limits);

// Serializes records as NDJSON (the agent's side). ParseBatch(SerializeBatch(b))
// round-trips.
std::string SerializeCall(const CallRecord& call);
std::string SerializeCursor(const CursorUpdate& cursor);

// RFC 9530 Content-Digest with sha-256: "sha-256=:<base64>:".
std::string ContentDigest(std::string_view body);
// Checks a received header value against the body. Accepts a dictionary with
// several algorithms as long as sha-256 is present and matches.
Status VerifyContentDigest(std::string_view header_value, std::string_view body);

// True if s is a UUID (8-4-4-4-12 hex), the form Idempotency-Key must take.
bool IsUuid(std::string_view s);

}  // namespace parley::wire
