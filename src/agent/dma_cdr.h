// The Poly RealPresence DMA CDR export (domain.md 3.2): a ZIP holding two
// CSV files, one of call CDRs and one of conference CDRs, and a text file
// with the counts and the clusters included/excluded. docs/agent.md "The dma
// source" documents what we read and how it maps to wire records.
//
// CSV is read with libcsv in strict mode (RFC 4180 quoting: a field is
// quoted when it starts or ends with a space or tab or contains a comma or a
// quote; quotes are doubled). Line 1 names the columns; columns are found by
// name (case-insensitive), never by position, and unknown columns are
// ignored. An ITP room's row holds one value in its first three fields and a
// quoted comma-separated list (one value per codec) in the others: we keep
// the first value of each list.
//
// Pure functions, no I/O (the ZIP is read from memory, never from disk);
// thread-safe. Untrusted input: every error is a value, nothing asserts.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "wire/wire.h"

namespace parley::agent {

// Limits that keep a hostile export from exhausting memory.
inline constexpr size_t kMaxCsvFieldsPerRow = 1024;
inline constexpr size_t kMaxZipEntries = 16;
inline constexpr uint64_t kMaxZipEntryBytes = 256u << 20;  // uncompressed, per file

// Streams `text` through libcsv (strict), calling on_row for every row, the
// header included. An error from on_row stops the parse and is returned.
// Fails on malformed quoting, an unterminated quoted field, or a row with
// more than kMaxCsvFieldsPerRow fields. A UTF-8 BOM is skipped.
Status ReadCsv(std::string_view text, const std::function<Status(std::vector<std::string>& row)>& on_row);

// "2026-12-04T09:00:00.123+01:00" (also "Z", "+0100", a space for 'T', 0-9
// fraction digits) -> Unix milliseconds (UTC). nullopt otherwise.
std::optional<int64_t> ParseDmaTimeMs(std::string_view text);

// "video: 12 voice: 3" -> {12, 3}; either may be missing; nullopt if neither
// is readable.
struct DmaResources {
  std::optional<int64_t> video;
  std::optional<int64_t> voice;
};
std::optional<DmaResources> ParseDmaMaxResources(std::string_view text);

// One mapped CDR: the record and its sort key (end time in milliseconds;
// the id is in the record).
struct DmaCdrEntry {
  int64_t end_ms = 0;
  wire::Record record;  // CallRecord (calls file) or ConferenceRecord (conferences file)
};

struct DmaCdrSkip {
  std::string id;  // may be empty
  std::string reason;
};

struct DmaCdrFile {
  std::vector<DmaCdrEntry> entries;
  std::vector<DmaCdrSkip> skipped;
  size_t rows = 0;  // data rows, mapped or not
};

// Parse one CSV of the export. Fail only when the file as a whole is
// unusable (bad CSV, no header, required columns missing); a row that cannot
// be mapped is listed in `skipped` with its id and a PII-free reason.
Result<DmaCdrFile> ParseDmaCdrCalls(std::string_view csv, const std::string& source);
Result<DmaCdrFile> ParseDmaCdrConferences(std::string_view csv, const std::string& source);

// The export's text file. Lines "name: value" (or "name=value"); we read the
// call and conference counts and the excluded clusters. Missing lines stay
// empty: the format of this file is not documented (our assumption).
struct DmaCdrSummary {
  std::optional<int64_t> calls;
  std::optional<int64_t> conferences;
  std::vector<std::string> excluded_clusters;
};
DmaCdrSummary ParseDmaCdrSummary(std::string_view text);

// Where a streamed export's rows go, each as soon as it is parsed.
struct DmaCdrHandlers {
  std::function<void(DmaCdrEntry&&)> on_entry;
  std::function<void(DmaCdrSkip&&)> on_skip;
};

struct DmaCdrExportInfo {
  DmaCdrSummary summary;
  size_t call_rows = 0;        // data rows of the calls CSV, mapped or not
  size_t conference_rows = 0;  // likewise for the conferences CSV
};

// Reads an export ZIP, parsing each CSV while it inflates (64 KiB at a time),
// so memory is the ZIP body plus whatever the handlers keep, whatever the
// export holds. The files are told apart by their CSV header (a `callUuid`
// column: calls; a `confUUID` column without `callUuid`: conferences), the
// summary by its .txt name; other files are ignored. A missing CSV is an
// error; so are encrypted entries, more than kMaxZipEntries entries, an
// entry larger than kMaxZipEntryBytes uncompressed (checked while
// inflating, not trusted from the directory), and counts in the summary
// that disagree with the rows found (a truncated or inconsistent export).
// On an error the handlers may already have received entries: the caller
// discards them.
Result<DmaCdrExportInfo> StreamDmaCdrExport(std::string_view zip_bytes, const std::string& source,
                                            const DmaCdrHandlers& out);

// The same, collected: entries of both files (unsorted), skips, summary.
// For tests and tools; the collector streams.
struct DmaCdrExport {
  std::vector<DmaCdrEntry> entries;
  std::vector<DmaCdrSkip> skipped;
  DmaCdrSummary summary;
};
Result<DmaCdrExport> ParseDmaCdrExport(std::string_view zip_bytes, const std::string& source);

}  // namespace parley::agent
