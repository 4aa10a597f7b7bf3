// CucmCollector: Cisco Unified CM CDR and CMR flat files from a directory
// (`dir`), as CUCM's billing-server push or a copy of its CDR repository
// leaves them (shared/domain.md §4.1; docs/agent.md "The cucm source").
//
// Files are named tag_cluster_node_yyyymmddhhmm_seq (tag cdr|cmr, the time
// UTC). Line 1 names the columns, line 2 types them (INTEGER, VARCHAR(n),
// UNIQUEIDENTIFIER, ...), data follows; columns are found by NAME, so files
// of other releases (more or fewer columns) parse alike. CSV is parsed with
// libcsv. Each CDR row of type 1 becomes one wire::CallRecord; the CMRs (one
// per phone or gateway in the call) of the same global call id
// (globalCallID_callManagerId + globalCallID_callId) become its quality
// samples, joined on the leg call identifier.
//
// The agent only READS the directory: it never copies, moves, renames,
// deletes or keeps a file; the customer's rotation owns them. A file is read
// once its mtime is settle_seconds old (it may still be being written before).
//
// Cursor (JSON, <= 1024 bytes): for every cluster/node the newest CDR file
// fully processed, plus, when a page ended inside a file, that file and the
// count of its data rows already consumed:
//   {"v":1,"hw":{"StandAloneCluster_01":"202612040900_12"},"s":"202611040900","f":"cdr_...","r":500}
// ("s": files older than this, initial_history_days before the first fetch,
// are never read).
// A node's files are processed in (datetime, seq) order; a CDR file whose
// name sorts at or before its node's high-water mark counts as processed.
//
// The parsing functions are pure and exposed for tests and the fuzzer.
// CucmCollector follows the Collector threading contract.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/collector.h"
#include "agent/source_health.h"
#include "common/clock.h"

namespace parley::agent {

// ------------------------------------------------------------ file names

struct CucmFileName {
  std::string tag;       // "cdr" or "cmr"
  std::string cluster;   // may contain '_'
  std::string node;      // e.g. "01"
  std::string datetime;  // yyyymmddhhmm, UTC
  uint64_t seq = 0;
  std::string NodeKey() const { return cluster + "_" + node; }
  std::string Position() const { return datetime + "_" + std::to_string(seq); }
};

// nullopt unless `name` is tag_cluster_node_yyyymmddhhmm_seq.
std::optional<CucmFileName> ParseCucmFileName(std::string_view name);

// "202612040900" -> Unix seconds; nullopt if not a valid UTC yyyymmddhhmm.
std::optional<int64_t> ParseCucmFileTime(std::string_view datetime);

// ------------------------------------------------------------ field codecs

// CUCM's IPv4 encoding: a signed 32-bit integer whose bytes are the address
// in reverse order (-1139627840 -> 0xBC12A8C0 -> 192.168.18.188). "0" and ""
// mean no address (returns ""); nullopt when `text` is not such an integer.
std::optional<std::string> DecodeCucmIpv4(std::string_view text);

// varVQMetrics: "MLQK=4.5000;MLQKav=4.4623;...;maxJitter=12;VoRxCodec=G711U".
// Unknown keys are ignored, malformed pairs skipped.
struct CucmVqMetrics {
  std::optional<double> mos;             // MLQK (current)
  std::optional<double> mos_avg;         // MLQKav
  std::optional<double> mos_min;         // MLQKmn
  std::optional<double> max_jitter_ms;   // maxJitter
  std::optional<double> one_way_delay_ms;  // VoOneWayDelayMs
  std::optional<double> ccr;             // cumulative concealment ratio
  std::optional<double> packets_lost;    // VoPktLost
  std::string codec;                     // VoRxCodec
};
CucmVqMetrics ParseVarVqMetrics(std::string_view text);

// Q.850 cause value (and Cisco's own codes) -> "17:User busy" etc.; failed
// tells whether it ends a call abnormally. 0 is "no cause".
struct CucmCause {
  bool abnormal = false;
  std::string text;  // "" for 0
};
CucmCause DescribeCucmCause(int64_t value);

// ------------------------------------------------------------ whole files

struct CucmRowSkip {
  int64_t row = 0;      // 1-based data row (line number - 2)
  std::string id;       // the CDR id when known, else ""
  std::string reason;   // names columns, never values
};

// One CMR row reduced to what the join needs: the global call id, the leg it
// measured and its samples (party left empty: the join sets orig or dest).
struct CucmCmr {
  std::string call_manager_id;
  std::string call_id;
  std::string leg;  // callIdentifier
  std::vector<wire::QualitySample> samples;
};

struct CucmCdrFile {
  std::vector<wire::CallRecord> calls;
  std::vector<CucmRowSkip> skipped;
  int64_t rows = 0;  // data rows read (mapped, skipped or ignored start records)
};

struct CucmCmrFile {
  std::vector<CucmCmr> cmrs;
  std::vector<CucmRowSkip> skipped;
  int64_t rows = 0;
};

// Parse a whole file held in memory (tests, fuzzer; the collector streams).
// Fails (kInvalidArgument) only when the file as a whole is unusable: no
// header or type line, a type line that does not match the header, a
// required column missing or typed wrongly, or broken CSV. A row that cannot
// be mapped, or an unterminated (truncated) last row, is listed in skipped.
Result<CucmCdrFile> ParseCucmCdrFile(std::string_view text, const std::string& source);
Result<CucmCmrFile> ParseCucmCmrFile(std::string_view text);

// Adds each CMR's samples to the calls of its global call id whose orig or
// dest leg is the CMR's leg (party "orig" / "dest"). One sample per
// (party, direction, media): a second CMR for the same leg is ignored.
void AttachCucmCmrs(std::vector<wire::CallRecord>& calls, const std::vector<CucmCmr>& cmrs);

// ------------------------------------------------------------ cursor

struct CucmCursor {
  std::map<std::string, std::string> high_water;  // NodeKey -> Position of the last fully processed CDR file
  std::string since;                              // yyyymmddhhmm: older files are never read (set on the first fetch)
  std::string file;                               // a CDR file processed in part, or ""
  int64_t rows = 0;                               // its data rows already consumed
};
Result<CucmCursor> DecodeCucmCursor(std::string_view text);  // "" -> empty cursor
Result<std::string> EncodeCucmCursor(const CucmCursor& cursor);  // fails past 1024 bytes

// ------------------------------------------------------------ collector

class CucmCollector final : public Collector {
 public:
  // REQUIRES: source.type == "cucm". The directory need not exist yet
  // (FetchAfter then fails and health() says so). `clock` outlives the
  // collector (settle times, health hold).
  static Result<std::unique_ptr<CucmCollector>> Create(const SourceConfig& source, const Clock& clock);

  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "cucm"; }
  Result<CollectedPage> FetchAfter(const std::string& cursor, size_t max_records) override;
  SourceHealth health() const override { return health_.Get(); }
  // Lists the directory and reads the header of the oldest unprocessed CDR
  // file: "N CDR file(s) not yet read (M waiting to settle), K CMR file(s)".
  Result<std::string> Probe(const std::string& cursor) override;

 private:
  CucmCollector(const SourceConfig& source, const Clock& clock);

  struct Pending;  // a CDR file after the cursor (cucm_collector.cpp)
  // A new source (empty cursor) starts initial_history_days back.
  void StartIfNew(CucmCursor& cursor) const;
  Result<std::vector<Pending>> ListPending(const CucmCursor& cursor, size_t* waiting, size_t* cmr_files,
                                           std::vector<CucmFileName>* cmrs);

  const std::string name_;
  const std::filesystem::path dir_;
  const int64_t settle_seconds_;
  const int64_t initial_history_days_;
  const Clock& clock_;
  HealthTracker health_;
};

}  // namespace parley::agent
